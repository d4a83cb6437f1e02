//! `nncosmo-gpu nn` end to end: outputs, and one clear line for every bad input.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nncosmo-nncli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

const SMALL: &[&str] = &[
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

/// The SMALL run followed by `extra` flags.
fn small<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    [SMALL, extra].concat()
}

/// Runs and returns (success, the `error:` line if any).
fn run(args: &[&str]) -> (bool, String) {
    let out = bin().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let err: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: ") && !l.contains("XDG_RUNTIME_DIR"))
        .collect();
    assert!(!stderr.contains("panicked"), "panic for {args:?}: {stderr}");
    assert!(
        err.len() <= 1,
        "more than one error line for {args:?}: {stderr}"
    );
    (
        out.status.success(),
        err.first().map(|s| s.to_string()).unwrap_or_default(),
    )
}

fn refused(args: &[&str], want: &str) {
    let (ok, err) = run(args);
    assert!(!ok, "{args:?} should fail");
    assert!(err.contains(want), "{args:?}: expected `{want}` in `{err}`");
}

#[test]
fn writes_every_output_with_the_contract_headers() {
    let out = tmp("ok");
    let o = out.to_str().unwrap();
    let mut args = small(&["--out", o, "--ntk-every", "10"]);
    let (ok, err) = run(&args);
    assert!(ok, "{err}");
    let header = |f: &str| {
        std::fs::read_to_string(out.join(f))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(header("nn/dataset.csv"), "point,x0,x1,y");
    assert_eq!(header("nn/background.csv"), "step,tau,point,mean,var");
    assert_eq!(
        header("nn/modes.csv"),
        "step,tau,mode,kappa,mean_residual,power,theory_mean_residual,theory_power"
    );
    assert_eq!(header("nn/loss.csv"), "step,tau,loss_mean,loss_std");
    assert_eq!(
        header("nn/ntk.csv"),
        "step,trace,drift,drift_member_mean,drift_member_sd,offdiag_rel_sd"
    );
    let ntk = std::fs::read_to_string(out.join("nn/ntk.csv")).unwrap();
    assert_eq!(ntk.lines().count(), 1 + 3, "NTK at steps 0, 10, 20");
    // A small run holds every member's NTK: the member columns are numbers, and the
    // members' drift is zero at s = 0 and positive later.
    for (k, line) in ntk.lines().skip(1).enumerate() {
        let v: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
        assert!(v.iter().all(|x| x.is_finite()), "ntk.csv row {line}");
        assert_eq!(v[3] == 0.0, k == 0, "drift_member_mean in {line}");
    }
    let bg = std::fs::read_to_string(out.join("nn/background.csv")).unwrap();
    assert_eq!(bg.lines().count(), 1 + 5 * 8, "steps 0,5,..,20 × 8 points");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    for key in ["config", "adapter", "timings", "nn", "version"] {
        assert!(report.get(key).is_some(), "report.json lacks {key}");
    }
    for key in common::REPORT_CONFIG_KEYS {
        assert!(report["config"].get(key).is_some(), "config lacks {key}");
    }
    for key in [
        "ntk_drift_member_mean",
        "ntk_drift_member_sd",
        "ntk_offdiag_rel_sd0",
        "ntk_diag_rel_sd0",
    ] {
        assert!(report["nn"][key].as_f64().is_some(), "nn.{key} missing");
    }
    // By default every member of a small run is traced.
    assert_eq!(report["config"]["member_traces"], 8);
    for key in ["name", "backend", "driver"] {
        assert!(report["adapter"].get(key).is_some(), "adapter lacks {key}");
    }
    // Phases are timed separately and none is negative (the NTK runs inside the loop).
    for key in ["init_s", "train_s", "ntk_s", "steps_per_s", "gflop_per_s"] {
        let v = report["timings"][key].as_f64().unwrap_or(-1.0);
        assert!(v >= 0.0, "timings.{key} = {v}");
    }
    // A second run into the same directory is refused unless --force.
    refused(&args, "--force");
    args.push("--force");
    assert!(run(&args).0);
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn bad_numbers_name_their_flag() {
    for (flag, value, want) in [
        ("--width", "-5", "--width must be a positive integer"),
        ("--width", "0", "--width must be a positive integer"),
        ("--width", "30", "--width must be a multiple of 4"),
        ("--depth", "0", "--depth"),
        ("--ensemble", "-1", "--ensemble"),
        ("--points", "0", "--points"),
        ("--steps", "0", "--steps"),
        ("--ntk-every", "0", "--ntk-every must be a positive integer"),
        ("--lr", "0", "--lr must be"),
        ("--lr", "-0.1", "--lr must be"),
        ("--momentum", "1", "--momentum must lie in [0, 1)"),
        ("--momentum", "-0.2", "--momentum must lie in [0, 1)"),
        (
            "--activation",
            "sigmoid",
            "--activation unknown value `sigmoid`",
        ),
        ("--parametrization", "mup", "--parametrization"),
        (
            "--member-traces",
            "-1",
            "--member-traces must be a non-negative integer",
        ),
    ] {
        let args = small(&[flag, value, "--out", "/nonexistent/never-written"]);
        refused(&args, want);
    }
}

#[test]
fn more_member_traces_than_members_are_refused() {
    let args = small(&[
        "--member-traces",
        "9",
        "--out",
        "/nonexistent/never-written",
    ]);
    refused(
        &args,
        "--member-traces must not exceed --ensemble 8 (got 9)",
    );
    // The config key is checked the same way, against the ensemble size it resolves to.
    let dir = tmp("traces");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("traces.toml");
    std::fs::write(&cfg, "[nn]\nensemble = 4\nmember_traces = 5\n").unwrap();
    refused(
        &[
            "nn",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "/nonexistent/never-written",
        ],
        "--member-traces must not exceed --ensemble 4 (got 5)",
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_ensemble_too_large_for_the_device_is_refused_with_the_largest_that_fits() {
    // 10⁶ members of a depth-3, width-1024 network need ~16 TiB: far past any adapter
    // this runs on (lavapipe's budget is the host's memory), refused before allocating.
    let args = small(&[
        "--depth",
        "3",
        "--width",
        "1024",
        "--ensemble",
        "1000000",
        "--out",
        "/nonexistent/never-written",
    ]);
    let (ok, err) = run(&args);
    assert!(!ok, "{args:?} should fail");
    let fits: usize = err
        .split_once("largest")
        .and_then(|(_, tail)| tail.rsplit(" is ").next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no largest ensemble in `{err}`"));
    assert!(err.contains("--ensemble 1000000"), "{err}");
    assert!(fits > 0 && fits < 1_000_000, "{err}");
}

#[test]
fn unstable_lr_is_refused_with_the_largest_stable_one() {
    let args = small(&["--lr", "100", "--out", "/nonexistent/never-written"]);
    refused(&args, "the largest stable --lr is");
}

#[test]
fn divergence_stops_and_says_at_which_step() {
    let out = tmp("div");
    let args = small(&[
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
        out.to_str().unwrap(),
    ]);
    refused(&args, "training diverged at step");
    // What was recorded before the divergence is on disk and complete.
    let loss = std::fs::read_to_string(out.join("nn/loss.csv")).unwrap();
    assert!(loss.lines().count() > 1);
    assert!(loss.lines().skip(1).all(|l| {
        l.split(',')
            .all(|c| c.parse::<f64>().map(f64::is_finite).unwrap_or(false))
    }));
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn config_files_and_csv_data_are_checked() {
    let dir = tmp("cfg");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "widht = 64\n").unwrap();
    refused(
        &["nn", "--config", cfg.to_str().unwrap()],
        "unknown key `widht`",
    );
    std::fs::write(&cfg, "[nn]\nactivation = \"softplus\"\n").unwrap();
    refused(
        &["nn", "--config", cfg.to_str().unwrap()],
        "--activation unknown value",
    );
    for (body, want) in [
        ("x0,x1,y\n1,2,3\n4,5\n", "line 3: expected 3 columns"),
        ("x0,x1,y\n1,2,oops\n", "`oops` is not a number"),
        ("x0,x1,y\n1,NaN,3\n", "not finite"),
    ] {
        let data = dir.join("data.csv");
        std::fs::write(&data, body).unwrap();
        let o = dir.join("o");
        let args = small(&[
            "--data",
            data.to_str().unwrap(),
            "--out",
            o.to_str().unwrap(),
        ]);
        refused(&args, want);
    }
    // A well-formed CSV with d = 3 trains on the wide packing of the fused kernels.
    let data = dir.join("good.csv");
    let rows: String = (0..10)
        .map(|i| {
            format!(
                "{},{},{},{}\n",
                (i as f64).sin(),
                (i as f64).cos(),
                0.1 * i as f64,
                0.3
            )
        })
        .collect();
    std::fs::write(&data, format!("x0,x1,x2,y\n{rows}")).unwrap();
    let o = dir.join("ok");
    let args = small(&[
        "--data",
        data.to_str().unwrap(),
        "--out",
        o.to_str().unwrap(),
    ]);
    let (ok, err) = run(&args);
    assert!(ok, "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The flag's entry in `help`: its line and the lines of its text up to the next
/// flag, on one line.
fn help_line(help: &str, flag: &str) -> String {
    let is_flag = |l: &str| l.trim_start().starts_with('-');
    let mut lines = help
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(flag));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("{flag} missing from:\n{help}"));
    let rest: Vec<&str> = lines.take_while(|l| !is_flag(l)).collect();
    std::iter::once(first)
        .chain(rest)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_string()
}

#[test]
fn help_shows_each_subcommands_own_defaults() {
    let help = |cmd: &str| {
        let o = bin().args([cmd, "-h"]).output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    let nn = help("nn");
    assert!(
        help_line(&nn, "--width").contains("[default: 1024]"),
        "{nn}"
    );
    assert!(help_line(&nn, "--lr").contains("[default: 0.5]"), "{nn}");
    assert!(
        help_line(&nn, "--out").contains("[default: out/nn]"),
        "{nn}"
    );
    // `run` trains with its own step and writes elsewhere; the dual's knobs too.
    let run = help("run");
    assert!(help_line(&run, "--lr").contains("[default: 0.01]"), "{run}");
    assert!(
        help_line(&run, "--steps").contains("[default: 400]"),
        "{run}"
    );
    assert!(
        help_line(&run, "--out").contains("[default: out/run]"),
        "{run}"
    );
    assert!(
        help_line(&run, "--dual").contains("[default: multi-field]"),
        "{run}"
    );
    let sweep = help("sweep");
    assert!(
        help_line(&sweep, "--out").contains("[default: out/sweep]"),
        "{sweep}"
    );
    let lattice = help("lattice");
    assert!(
        help_line(&lattice, "--grid").contains("[default: 64]"),
        "{lattice}"
    );
}

#[test]
fn a_count_is_refused_alike_as_flag_and_as_config_key() {
    let dir = tmp("alike");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("w.toml");
    std::fs::write(&cfg, "width = -8\n").unwrap();
    let (ok, from_flag) = run(&small(&["--width", "-8", "--out", "/nonexistent/x"]));
    assert!(!ok);
    assert_eq!(
        from_flag,
        "error: --width must be a positive integer (got -8)"
    );
    let (ok, from_file) = run(&["nn", "--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        from_file.ends_with("line 1: --width must be a positive integer (got -8)"),
        "{from_file}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bench_profile_lists_the_dispatches_of_a_step() {
    // Depth 2 at a width that is a multiple of 8: the hidden-to-hidden layer runs the
    // dense kernels (the packed ones on CPU adapters with 64-bit integers, as
    // lavapipe), and the printed shares are of one whole step.
    let out = bin()
        .args([
            "bench",
            "nn",
            "--ensemble",
            "4",
            "--width",
            "64",
            "--depth",
            "2",
            "--points",
            "8",
            "--steps",
            "1",
            "--profile",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let rows: Vec<(f64, String)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 5 && f[1] == "ms" && f[3] == "%")
                .then(|| (f[2].parse().unwrap(), f[4].into()))
        })
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let packed = if text.contains("on llvmpipe") {
        ["nn/dense_forward_x8", "nn/dense_backward_x8"]
    } else {
        ["nn/dense_forward", "nn/dense_backward"]
    };
    assert!(packed.iter().all(|k| names.contains(k)), "{text}");
    let total: f64 = rows.iter().map(|r| r.0).sum();
    assert!(
        (total - 100.0).abs() < 0.5,
        "shares add up to {total} %: {text}"
    );
}
