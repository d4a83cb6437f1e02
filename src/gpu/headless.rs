//! Headless start without window-system chatter.
//!
//! Mesa's implicit `VK_LAYER_MESA_device_select` layer connects to a Wayland display
//! while enumerating physical devices, to find the GPU driving the screen. With no
//! display (batch jobs, CI) libwayland then prints `error: XDG_RUNTIME_DIR is
//! invalid…` twice, although nothing failed. Adapter choice here never depends on the
//! display, so when there is no display we ask the Vulkan loader not to load that
//! layer (its documented `NODEVICE_SELECT` switch) instead of filtering stderr.

/// The environment variables that name a window-system display.
const DISPLAY_VARS: [&str; 2] = ["WAYLAND_DISPLAY", "DISPLAY"];

/// True when no window-system display is named in the environment.
pub fn no_display() -> bool {
    DISPLAY_VARS
        .iter()
        .all(|v| std::env::var_os(v).is_none_or(|s| s.is_empty()))
}

/// Skip the display-probing device-select layer on headless machines.
///
/// Call first thing in `main`, before any thread is spawned: changing the
/// environment is only sound while the process is single-threaded. A user's own
/// `NODEVICE_SELECT` setting is left alone.
pub fn quiet_window_system() {
    if no_display() && std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: called at the top of main, before any other thread exists.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}
