//! Whole-run integrity of the output directory, end to end in subprocesses (each
//! with a time limit): `--force` replaces the old run whole, a second writer is
//! refused, a SIGKILL at any moment leaves one consistent generation, a diverging
//! run keeps its good steps, and an unwritable `--out` is refused before computing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nncosmo-integrity-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Waits for `child` at most `limit`, killing it (and failing) past that.
fn wait_for(mut child: Child, limit: Duration, what: &str) -> (ExitStatus, String) {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (status, String::from_utf8_lossy(&out.stderr).into_owned());
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} ran past {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs to completion within `secs`: (exit code, the `error:` lines).
fn run(args: &[&str], secs: u64) -> (i32, Vec<String>) {
    let child = bin()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, stderr) = wait_for(child, Duration::from_secs(secs), &format!("{args:?}"));
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    let errors = stderr
        .lines()
        .filter(|l| l.starts_with("error:") && !l.contains("XDG_RUNTIME_DIR"))
        .map(str::to_string)
        .collect();
    (status.code().unwrap_or(-1), errors)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Entries beside `out` that belong to it: `OUT.tmp-PID` generations and the like.
fn siblings(out: &Path) -> Vec<String> {
    let tag = format!("{}.", out.file_name().unwrap().to_string_lossy());
    names(out.parent().unwrap())
        .into_iter()
        .filter(|n| n.starts_with(&tag))
        .collect()
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// The step column (first) of every data row of a CSV file.
fn steps(path: &Path) -> Vec<usize> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

fn all_finite(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .all(|l| {
            l.split(',')
                .all(|c| c.parse::<f64>().is_ok_and(f64::is_finite))
        })
}

const NN_SMALL: &[&str] = &[
    "nn",
    "--ensemble",
    "8",
    "--width",
    "32",
    "--points",
    "8",
    "--steps",
    "20",
    "--record-every",
    "5",
];

fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    [base, extra].concat()
}

#[test]
fn force_replaces_the_old_run_whole_and_keeps_foreign_files() {
    let out = tmp("force");
    let o = out.to_str().unwrap();
    // An earlier `run` leaves all of these; a user file sits beside them.
    for f in [
        "index.html",
        "report.json",
        "old_plot.svg",
        "compare/modes.csv",
        "lattice/background.csv",
        "nn/loss.csv",
        "nn/stale_extra.csv",
        "sweep/eft.csv",
    ] {
        let p = out.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "old").unwrap();
    }
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let (code, err) = run(&with(NN_SMALL, &["--out", o]), 60);
    assert_eq!(code, 1);
    assert!(err[0].contains("--force"), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("report.json")).unwrap(),
        "old",
        "a refused run touches nothing"
    );
    let (code, err) = run(&with(NN_SMALL, &["--out", o, "--force"]), 60);
    assert_eq!(code, 0, "{err:?}");
    assert_eq!(names(&out), ["nn", "notes.txt", "report.json"]);
    assert_eq!(
        names(&out.join("nn")),
        [
            "background.csv",
            "dataset.csv",
            "loss.csv",
            "modes.csv",
            "ntk.csv"
        ]
    );
    assert_eq!(report(&out)["status"], "complete");
    assert_eq!(report(&out)["last_step"], 20);
    assert!(siblings(&out).is_empty(), "{:?}", siblings(&out));
    // A lattice run over it leaves no nn/ behind.
    let (code, err) = run(
        &[
            "lattice", "--grid", "8", "--steps", "2", "--out", o, "--force",
        ],
        60,
    );
    assert_eq!(code, 0, "{err:?}");
    assert_eq!(names(&out), ["lattice", "notes.txt", "report.json"]);
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn a_failing_run_leaves_no_trace_and_the_old_run_stays_until_replaced() {
    let out = tmp("fails");
    let o = out.to_str().unwrap();
    // Refused by the adapter after the directory was opened.
    let too_big = ["lattice", "--grid", "4096", "--steps", "2", "--out", o];
    let (code, err) = run(&too_big, 60);
    assert_eq!(code, 1, "{err:?}");
    assert!(!out.exists(), "the directory it created is removed");
    assert!(siblings(&out).is_empty(), "{:?}", siblings(&out));
    // Over an earlier run with --force: the old run is untouched until the new one
    // writes, so a failing one keeps it.
    let (code, err) = run(&with(NN_SMALL, &["--out", o]), 60);
    assert_eq!(code, 0, "{err:?}");
    let before = std::fs::read_to_string(out.join("nn/loss.csv")).unwrap();
    let (code, _) = run(&[&too_big[..], &["--force"]].concat(), 60);
    assert_eq!(code, 1);
    assert_eq!(names(&out), ["nn", "report.json"]);
    assert_eq!(
        std::fs::read_to_string(out.join("nn/loss.csv")).unwrap(),
        before
    );
    assert_eq!(report(&out)["status"], "complete");
    assert!(siblings(&out).is_empty(), "{:?}", siblings(&out));
    std::fs::remove_dir_all(out).unwrap();
}

/// A long nn run into `out` (killed by the caller): `steps` steps recorded every
/// `every`, its outputs rewritten every `rewrite_s` seconds.
fn long_nn(out: &str, rewrite_s: &str, points: &str, steps: &str, every: &str) -> Child {
    bin()
        .args([
            "nn",
            "--ensemble",
            "8",
            "--width",
            "32",
            "--points",
            points,
            "--steps",
            steps,
            "--record-every",
            every,
            "--ntk-every",
            "1000",
            "--out",
            out,
            "--force",
        ])
        .env("NNCOSMO_REWRITE_S", rewrite_s)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool, what: &str) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_writer_is_refused_and_a_dead_writers_lock_is_taken_over() {
    let out = tmp("lock");
    let o = out.to_str().unwrap();
    let mut first = long_nn(o, "1000", "8", "1000000", "1000");
    wait_until(
        Duration::from_secs(60),
        || out.join(".lock").exists(),
        "the first run's lock",
    );
    for extra in [&[][..], &["--force"][..]] {
        let t0 = Instant::now();
        let (code, err) = run(&with(&with(NN_SMALL, &["--out", o]), extra), 60);
        assert_eq!(code, 1, "{err:?}");
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(
            err[0].contains(&format!("in use by process {}", first.id())),
            "{err:?}"
        );
        assert!(t0.elapsed() < Duration::from_secs(20), "refused only late");
    }
    let (code, err) = run(
        &[
            "lattice", "--grid", "8", "--steps", "2", "--out", o, "--force",
        ],
        60,
    );
    assert_eq!(code, 1);
    assert!(err[0].contains("in use by process"), "{err:?}");
    assert!(first.try_wait().unwrap().is_none(), "the first run goes on");
    // A killed writer leaves its lock file; its lock died with it.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(out.join(".lock").exists());
    let (code, err) = run(&with(NN_SMALL, &["--out", o, "--force"]), 60);
    assert_eq!(code, 0, "{err:?}");
    assert_eq!(names(&out), ["nn", "report.json"]);
    assert_eq!(report(&out)["status"], "complete");
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn sigkill_during_periodic_rewrites_leaves_one_consistent_generation() {
    let out = tmp("kill");
    let o = out.to_str().unwrap();
    // Rewrites after every read-back. All but the last kill wait for a rewrite to
    // be under way (a new generation beside the directory, or a temporary file of
    // an atomic write inside it) and land in its middle.
    let writing = |out: &Path| {
        !siblings(out).is_empty()
            || std::fs::read_dir(out.join("nn")).is_ok_and(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            })
    };
    for (i, delay_ms) in [300u64, 800, 1300, 1000].into_iter().enumerate() {
        let started = std::time::SystemTime::now();
        let mut child = long_nn(o, "0", "64", "5000", "1");
        wait_until(
            Duration::from_secs(60),
            || {
                std::fs::metadata(out.join("report.json"))
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= started)
            },
            "this run's first generation",
        );
        std::thread::sleep(Duration::from_millis(delay_ms));
        if i < 3 {
            let t0 = Instant::now();
            while !writing(&out) {
                assert!(t0.elapsed() < Duration::from_secs(30), "no rewrite seen");
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let r = report(&out);
        assert_eq!(r["status"], "interrupted", "kill {i}");
        let last = r["last_step"].as_u64().unwrap() as usize;
        assert_eq!(r["nn"]["steps_done"].as_u64().unwrap() as usize, last);
        // Every record 0..=last, in every table, and nothing after it.
        let every: Vec<usize> = (0..=last).collect();
        assert_eq!(steps(&out.join("nn/loss.csv")), every, "kill {i}");
        let per = |f: &str, k: usize| {
            let s = steps(&out.join(f));
            assert_eq!(s.len(), (last + 1) * k, "{f} at kill {i}");
            assert!(
                s.chunks(k)
                    .enumerate()
                    .all(|(j, c)| c.iter().all(|&x| x == j))
            );
        };
        per("nn/background.csv", 64);
        per("nn/modes.csv", 33);
        let ntk = steps(&out.join("nn/ntk.csv"));
        // The NTK of step 1000 is measured before that step's record: a generation
        // cut between them must not list it yet.
        assert!(
            *ntk.last().unwrap() <= last && last - ntk.last().unwrap() < 1000,
            "kill {i}: NTK rows at {ntk:?}, last record at {last}"
        );
        let entries = names(&out);
        assert!(
            entries
                .iter()
                .all(|n| [".lock", "nn", "report.json"].contains(&n.as_str())),
            "stray entries after kill {i}: {entries:?}"
        );
        assert!(
            names(&out.join("nn")).iter().all(|n| !n.contains("tmp")),
            "{:?}",
            names(&out.join("nn"))
        );
        eprintln!("kill {i} after {delay_ms} ms: consistent at step {last}");
    }
    // The next run cleans what the killed ones left beside the directory.
    let (code, err) = run(&with(NN_SMALL, &["--out", o, "--force"]), 60);
    assert_eq!(code, 0, "{err:?}");
    assert!(siblings(&out).is_empty(), "{:?}", siblings(&out));
    assert_eq!(names(&out), ["nn", "report.json"]);
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn a_diverging_lattice_keeps_its_good_steps() {
    let out = tmp("latdiv");
    let o = out.to_str().unwrap();
    // A tachyonic field in flat space grows as e^{10 t} until f32 overflows, a
    // physical instability that no up-front check can refuse.
    let (code, err) = run(
        &[
            "lattice",
            "--grid",
            "8",
            "--hubble",
            "0",
            "--mass",
            "-10",
            "--allow-tachyonic",
            "--spectrum",
            "white",
            "--velocity",
            "rest",
            "--amplitude",
            "1e-6",
            "--steps",
            "2000",
            "--output-every",
            "20",
            "--out",
            o,
        ],
        60,
    );
    assert_eq!(code, 1);
    assert_eq!(err.len(), 1, "{err:?}");
    let r = report(&out);
    assert_eq!(r["status"], "diverged");
    let last = r["last_step"].as_u64().unwrap() as usize;
    assert!(last > 0 && last < 2000, "{last}");
    // The error names the step where the overflow was seen: the next output.
    assert!(
        err[0].contains(&format!("by step {}", last + 20))
            && err[0].contains(&format!("up to step {last}")),
        "{err:?}"
    );
    let bg = out.join("lattice/background.csv");
    assert_eq!(steps(&bg), (0..=last).step_by(20).collect::<Vec<_>>());
    assert!(all_finite(&bg));
    assert_eq!(
        *steps(&out.join("lattice/spectrum.csv")).last().unwrap(),
        last
    );
    let text = std::fs::read_to_string(&bg).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    // The growth it kept is the tachyon's: φ̄ − φ₀ ∝ e^{|m| t} with |m| = 10, up to
    // the integrator's O((m·dt)²) = 1 % error at dt = 0.05.
    let (a, b) = (&rows[rows.len() - 2], &rows[rows.len() - 1]);
    let rate = (b[3] / a[3]).ln() / (b[1] - a[1]);
    assert!((rate - 10.0).abs() < 0.2, "growth rate {rate}");
    assert_eq!(names(&out), ["lattice", "report.json"]);
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn a_diverging_network_keeps_its_good_steps() {
    let out = tmp("nndiv");
    let o = out.to_str().unwrap();
    let args = with(
        NN_SMALL,
        &[
            "--lr",
            "400",
            "--momentum",
            "0",
            "--allow-unstable",
            "--record-every",
            "1",
            "--steps",
            "400",
            "--out",
            o,
        ],
    );
    let (code, err) = run(&args, 60);
    assert_eq!(code, 1);
    assert_eq!(err.len(), 1, "{err:?}");
    let r = report(&out);
    assert_eq!(r["status"], "diverged");
    let last = r["last_step"].as_u64().unwrap() as usize;
    assert!(
        err[0].contains(&format!("diverged at step {}", last + 1))
            && err[0].contains(&format!("up to step {last}")),
        "{err:?}"
    );
    let loss = out.join("nn/loss.csv");
    assert_eq!(steps(&loss), (0..=last).collect::<Vec<_>>());
    assert!(all_finite(&loss));
    assert_eq!(*steps(&out.join("nn/background.csv")).last().unwrap(), last);
    assert_eq!(*steps(&out.join("nn/modes.csv")).last().unwrap(), last);
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn an_unwritable_out_is_refused_before_computing() {
    // Minutes of work if it started: the refusal must come at once.
    let long = ["--steps", "1000000", "--record-every", "10000"];
    let mut cases: Vec<PathBuf> = Vec::new();
    if Path::new("/proc/self/fdinfo").is_dir() {
        // Not writable even for root.
        cases.push("/proc/self/fdinfo".into());
    }
    let ro = tmp("readonly");
    std::fs::create_dir_all(&ro).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    if std::fs::write(ro.join("probe"), "").is_ok() {
        eprintln!("skipping the read-only directory case: this user writes anywhere (root)");
    } else {
        cases.push(ro.clone());
    }
    assert!(!cases.is_empty(), "no unwritable directory to try");
    for dir in &cases {
        let d = dir.to_str().unwrap();
        let t0 = Instant::now();
        let nn = [&NN_SMALL[..7], &long[..], &["--out", d, "--force"][..]].concat();
        for args in [
            nn,
            vec![
                "lattice",
                "--grid",
                "32",
                "--hubble",
                "0",
                "--steps",
                "100000",
                "--output-every",
                "10000",
                "--out",
                d,
            ],
        ] {
            let (code, err) = run(&args, 30);
            assert_eq!(code, 1, "{args:?}");
            assert_eq!(err.len(), 1, "{err:?}");
            assert!(err[0].contains("is not writable"), "{err:?}");
        }
        assert!(t0.elapsed() < Duration::from_secs(20));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let _ = std::fs::remove_dir_all(ro);
}
