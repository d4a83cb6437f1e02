//! Runs the binary in a subprocess under a wall-clock limit and a peak-RSS limit,
//! polling /proc/PID/status (VmHWM), and reports how it ended.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a guarded run ended.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code; None when a signal ended it (or the guard killed it).
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stderr: String,
    pub stdout: String,
    /// Peak resident set (VmHWM), bytes, as last seen.
    pub peak_rss: u64,
    pub timed_out: bool,
    /// Killed for passing the RSS limit.
    pub over_rss: bool,
    pub seconds: f64,
}

impl Outcome {
    /// One line saying what went wrong, or None for an orderly exit with code 0, 1 or 2,
    /// no panic, no timeout and peak RSS within the limit.
    pub fn fault(&self) -> Option<String> {
        if self.timed_out {
            return Some(format!("timed out after {:.1} s", self.seconds));
        }
        if self.over_rss {
            return Some(format!(
                "peak RSS {} MiB passed the limit",
                self.peak_rss >> 20
            ));
        }
        if let Some(s) = self.signal {
            return Some(format!("killed by signal {s}"));
        }
        if self.stderr.contains("panicked at") || self.stderr.contains("RUST_BACKTRACE") {
            return Some("panicked".into());
        }
        if self.stderr.contains("memory allocation of") {
            return Some("allocation failure".into());
        }
        match self.code {
            Some(0..=2) => None,
            other => Some(format!("exit code {other:?}")),
        }
    }

    /// The `error:` line, if any.
    pub fn error_line(&self) -> Option<&str> {
        self.stderr
            .lines()
            .find(|l| l.starts_with("error:") && !l.contains("XDG_RUNTIME_DIR"))
    }
}

fn vm_hwm(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs the binary with `args` in `dir`, killing it past `timeout` or `max_rss` bytes.
pub fn run_guarded(args: &[String], dir: &Path, timeout: Duration, max_rss: u64) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    let pid = child.id();
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut err_pipe = child.stderr.take().unwrap();
    let mut out_pipe = child.stdout.take().unwrap();
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let t0 = Instant::now();
    let (mut peak, mut timed_out, mut over_rss) = (0u64, false, false);
    let status = loop {
        if let Some(h) = vm_hwm(pid) {
            peak = peak.max(h);
        }
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if peak > max_rss {
            over_rss = true;
        } else if t0.elapsed() > timeout {
            timed_out = true;
        }
        if over_rss || timed_out {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Outcome {
        code: status.code(),
        signal: if over_rss || timed_out {
            None
        } else {
            status.signal()
        },
        stderr: err_t.join().unwrap_or_default(),
        stdout: out_t.join().unwrap_or_default(),
        peak_rss: peak,
        timed_out,
        over_rss,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("nncosmo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
