//! Checkpoints, resume and signals, end to end through the binary.
//!
//! What "the same outputs" means here: the CSV files a run writes (nn/*.csv,
//! lattice/background.csv and spectrum.csv) are compared byte for byte between an
//! uninterrupted run and a run that was killed (SIGKILL) after a checkpoint and
//! resumed from it. Both engines are deterministic (no atomics, fixed reduction
//! order), so any state the checkpoint fails to carry shows up as a changed digit.
//! report.json is not compared: it holds wall-clock timings.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"));
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nncosmo-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Waits for `child` at most `limit`; kills it and fails past that.
fn wait(mut child: Child, limit: Duration) -> (i32, String) {
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("no exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs to the end (at most two minutes) and returns (exit code, stderr).
fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (i32, String) {
    wait(bin().args(args).spawn().unwrap(), Duration::from_secs(120))
}

/// The step of the checkpoint in `dir`, once one is there (polls for a minute).
fn checkpoint_step(dir: &Path) -> u64 {
    let m = dir.join("checkpoint/manifest.json");
    let t = Instant::now();
    while !m.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no checkpoint in {dir:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(m).unwrap()).unwrap();
    v["step"].as_u64().unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

fn same_files(a: &Path, b: &Path, files: &[&str]) {
    for f in files {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(!x.is_empty());
        assert!(x == y, "{f} differs between {a:?} and {b:?}");
    }
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

fn error_lines(err: &str) -> Vec<&str> {
    err.lines()
        .filter(|l| l.starts_with("error:") && !l.contains("XDG_RUNTIME_DIR"))
        .collect()
}

const NN: &[&str] = &[
    "nn",
    "--width",
    "16",
    "--ensemble",
    "4",
    "--points",
    "8",
    "--steps",
    "3000",
    "--record-every",
    "20",
    "--ntk-every",
    "1000",
];

#[test]
fn nn_killed_after_a_checkpoint_resumes_to_the_same_files() {
    let root = tmp("nn");
    let (full, killed) = (root.join("full"), root.join("killed"));
    let with =
        |extra: &[&str]| -> Vec<String> { NN.iter().chain(extra).map(|s| s.to_string()).collect() };
    let (code, err) = run(&with(&["--out", full.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");

    let mut child = bin()
        .args(with(&[
            "--checkpoint-every",
            "700",
            "--out",
            killed.to_str().unwrap(),
        ]))
        .spawn()
        .unwrap();
    let step = checkpoint_step(&killed);
    child.kill().unwrap(); // SIGKILL: nothing is flushed on the way out
    let _ = wait(child, Duration::from_secs(30));
    let step = checkpoint_step(&killed).max(step);
    assert!(
        step > 0 && step < 3000 && step.is_multiple_of(700),
        "{step}"
    );

    // Another --lr is refused, naming the flag and both values.
    let (code, err) = run(&with(&[
        "--lr",
        "0.25",
        "--resume",
        killed.to_str().unwrap(),
        "--out",
        killed.to_str().unwrap(),
    ]));
    let lines = error_lines(&err);
    assert_eq!((code, lines.len()), (1, 1), "{err}");
    assert!(
        lines[0].ends_with("checkpoint was written with --lr 0.5, this run has --lr 0.25"),
        "{err}"
    );
    // So is a run with another width.
    let (code, err) = run(&with(&[
        "--resume",
        killed.to_str().unwrap(),
        "--out",
        killed.to_str().unwrap(),
        "--width",
        "32",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("--width 16, this run has --width 32"), "{err}");

    let (code, err) = run(&with(&[
        "--resume",
        killed.to_str().unwrap(),
        "--out",
        killed.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    same_files(
        &full,
        &killed,
        &[
            "nn/background.csv",
            "nn/modes.csv",
            "nn/loss.csv",
            "nn/ntk.csv",
            "nn/dataset.csv",
        ],
    );
    assert_eq!(report(&killed)["nn"]["steps_done"], 3000);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn sigint_leaves_a_resumable_interrupted_run_and_sigterm_exits_143() {
    let root = tmp("sig");
    let out = root.join("run");
    let long: Vec<&str> = [
        &NN[..7],
        &[
            "--steps",
            "2000000",
            "--record-every",
            "1000",
            "--checkpoint-every",
            "2000",
            "--out",
            out.to_str().unwrap(),
        ],
    ]
    .concat();
    let child = bin().args(&long).spawn().unwrap();
    let first = checkpoint_step(&out);
    signal(&child, "-INT");
    let (code, err) = wait(child, Duration::from_secs(60));
    assert_eq!(code, 130, "{err}");
    let rep = report(&out);
    assert_eq!(rep["status"], "interrupted");
    // last_step is the last recorded step, where every table ends; the checkpoint
    // holds the state after it, before the next record.
    let last = rep["last_step"].as_u64().unwrap();
    let ckpt = checkpoint_step(&out);
    assert!(ckpt >= first && ckpt < 2_000_000, "{ckpt}");
    assert!(
        ckpt > last && ckpt <= last + 1000,
        "checkpoint {ckpt}, last_step {last}"
    );
    let loss = std::fs::read_to_string(out.join("nn/loss.csv")).unwrap();
    assert_eq!(loss.lines().count() as u64 - 1, last / 1000 + 1);
    // One error line, ending in the command that resumes the run.
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    let (_, cmd) = lines[0]
        .split_once("resume with: ")
        .expect("a resume command");
    assert!(cmd.ends_with(&format!("--resume {}", out.join("checkpoint").display())));

    // The printed command continues the run; SIGTERM stops it again, further on.
    let child = Command::new("sh")
        .args(["-c", &format!("exec {cmd}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while checkpoint_step(&out) == ckpt {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the resumed run made no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, "-TERM");
    let (code, err) = wait(child, Duration::from_secs(60));
    assert_eq!(code, 143, "{err}");
    let rep = report(&out);
    assert_eq!(rep["status"], "interrupted");
    assert!(rep["last_step"].as_u64().unwrap() > last);
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    std::fs::remove_dir_all(root).unwrap();
}

const LATTICE: &[&str] = &[
    "lattice",
    "--grid",
    "16",
    "--steps",
    "400",
    "--output-every",
    "20",
    "--dt",
    "0.05",
    "--mass",
    "0.5",
];

#[test]
fn lattice_killed_after_a_checkpoint_resumes_to_the_same_files_and_snapshots_read_in_numpy() {
    let root = tmp("lattice");
    let (full, killed) = (root.join("full"), root.join("killed"));
    let with = |extra: &[&str]| -> Vec<String> {
        LATTICE.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let (code, err) = run(&with(&[
        "--snapshot-every",
        "100",
        "--out",
        full.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");

    let mut child = bin()
        .args(with(&[
            "--checkpoint-every",
            "100",
            "--out",
            killed.to_str().unwrap(),
        ]))
        .spawn()
        .unwrap();
    let step = checkpoint_step(&killed);
    child.kill().unwrap();
    let _ = wait(child, Duration::from_secs(30));
    let step = checkpoint_step(&killed).max(step);
    assert!(step > 0 && step < 400 && step.is_multiple_of(100), "{step}");
    let (code, err) = run(&with(&[
        "--dt",
        "0.04",
        "--resume",
        killed.to_str().unwrap(),
        "--out",
        killed.to_str().unwrap(),
    ]));
    assert_eq!(code, 1);
    assert!(
        err.contains("checkpoint was written with --dt 0.05, this run has --dt 0.04"),
        "{err}"
    );
    let (code, err) = run(&with(&[
        "--resume",
        killed.to_str().unwrap(),
        "--out",
        killed.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    same_files(
        &full,
        &killed,
        &["lattice/background.csv", "lattice/spectrum.csv"],
    );

    numpy_reads_the_snapshot(&full, 100);
    std::fs::remove_dir_all(root).unwrap();
}

/// numpy loads phi.npy and dphi.npy of the snapshot at `step`: shape (N, N, N),
/// float32, CRC-32 as in the manifest, and means equal to background.csv's φ̄ and
/// φ̄̇ at that step (the engine sums f32 partials in f64 around a shift, numpy sums
/// in f64 directly: they agree to f32 rounding of the field's scale).
fn numpy_reads_the_snapshot(run: &Path, step: usize) {
    // The distribution's python3-numpy lives beside /usr/bin/python3, which another
    // python3 earlier on PATH may hide.
    let python = ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import numpy"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let Some(python) = python else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have python3 and numpy (python3-numpy)"
        );
        eprintln!("skipped the numpy check: python3 with numpy is not installed");
        return;
    };
    let script = r#"
import csv, json, sys, zlib
import numpy as np
run, step = sys.argv[1], int(sys.argv[2])
snap = f"{run}/snapshots/step-{step:06d}"
man = json.load(open(f"{snap}/manifest.json"))
assert man["step"] == step, man["step"]
row = next(r for r in csv.DictReader(open(f"{run}/lattice/background.csv")) if int(r["step"]) == step)
for name, col in (("phi", "phi_mean"), ("dphi", "dphi_mean")):
    raw = open(f"{snap}/{name}.npy", "rb").read()
    assert f"{zlib.crc32(raw):08x}" == man["arrays"][name]["crc32"], name
    a = np.load(f"{snap}/{name}.npy")
    assert a.shape == (16, 16, 16) and a.dtype == np.float32, (a.shape, a.dtype)
    mean, want = a.astype(np.float64).mean(), float(row[col])
    scale = np.abs(a.astype(np.float64)).max()
    assert abs(mean - want) <= 1e-6 * scale, (name, mean, want, scale)
print("ok")
"#;
    let out = Command::new(python)
        .args(["-c", script, run.to_str().unwrap(), &step.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every CSV file under `dir`, relative to it.
fn csv_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["nn", "lattice", "compare"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".csv") {
                out.push(format!("{sub}/{name}"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn run_interrupted_in_training_resumes_to_the_same_files() {
    let root = tmp("run");
    let (full, cut) = (root.join("full"), root.join("cut"));
    let args = |out: &Path, extra: &[&str]| -> Vec<String> {
        [
            "run",
            "--width",
            "16",
            "--ensemble",
            "8",
            "--points",
            "8",
            "--steps",
            "150",
            "--lr",
            "0.05",
            "--momentum",
            "0.97",
            "--ntk-every",
            "50",
            "--grid",
            "4",
            "--lattice-outputs",
            "2",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
    };
    let (code, err) = run(&args(&full, &[]));
    assert_eq!(code, 0, "{err}");
    let child = bin()
        .args(args(&cut, &["--checkpoint-every", "10"]))
        .spawn()
        .unwrap();
    checkpoint_step(&cut);
    signal(&child, "-INT");
    let (code, err) = wait(child, Duration::from_secs(60));
    assert_eq!(code, 130, "{err}");
    // Training is usually still running when the signal lands; if it has just
    // finished, the run stops before the duals with the last step's checkpoint.
    let rep = report(&cut);
    assert_eq!(rep["status"], "interrupted");
    let last = rep["last_step"].as_u64().unwrap();
    match rep["phase"].as_str() {
        Some("training") => assert!(last < 150, "{last}"),
        Some("duals") => assert_eq!(last, 150),
        other => panic!("phase {other:?}"),
    }
    let lines = error_lines(&err);
    let (_, cmd) = lines[0]
        .split_once("resume with: ")
        .expect("a resume command");
    let (code, err) = wait(
        Command::new("sh")
            .args(["-c", &format!("exec {cmd}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        Duration::from_secs(120),
    );
    assert_eq!(code, 0, "{err}");
    let files = csv_files(&full);
    assert!(files.len() >= 8, "{files:?}");
    assert_eq!(files, csv_files(&cut));
    same_files(
        &full,
        &cut,
        &files.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    std::fs::remove_dir_all(root).unwrap();
}
