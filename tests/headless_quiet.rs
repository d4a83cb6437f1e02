//! A successful headless run prints nothing on stderr that looks like a failure: the
//! window-system layer that used to print `error: XDG_RUNTIME_DIR …` is not loaded
//! when there is no display.

use std::process::Command;

/// The binary with every display variable removed, as on a batch node.
fn headless() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"));
    for v in [
        "XDG_RUNTIME_DIR",
        "WAYLAND_DISPLAY",
        "DISPLAY",
        "NODEVICE_SELECT",
    ] {
        c.env_remove(v);
    }
    c
}

fn assert_quiet(args: &[&str]) {
    let out = headless().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    let bad: Vec<&str> = stderr
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("error"))
        .collect();
    assert!(bad.is_empty(), "{args:?} printed {bad:?}");
}

#[test]
fn info_is_quiet_without_a_display() {
    assert_quiet(&["info"]);
}

#[test]
fn small_nn_run_is_quiet_without_a_display() {
    let out = std::env::temp_dir().join(format!("nncosmo-quiet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = out.to_str().unwrap();
    assert_quiet(&[
        "nn",
        "--ensemble",
        "8",
        "--width",
        "32",
        "--points",
        "8",
        "--steps",
        "10",
        "--record-every",
        "5",
        "--out",
        o,
    ]);
    let _ = std::fs::remove_dir_all(&out);
}
