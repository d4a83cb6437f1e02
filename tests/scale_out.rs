//! Sharded ensembles merged, and several devices in one process, against the
//! unsharded run: equal to f64 summation-order tolerance (see
//! `RecordSums::order_tolerance`), and every bad merge refused by name.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::sums::{assert_same_background, assert_same_sums};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
}

/// Runs the binary; panics with its stderr unless it succeeds.
fn ok(args: &[&str]) {
    let o = bin().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs the binary expecting a refusal; returns its one error line.
fn refused(args: &[&str]) -> String {
    let o = bin().args(args).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{args:?} should be refused");
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{args:?}: {err}");
    lines[0].to_string()
}

const NN: &[&str] = &[
    "nn",
    "--width",
    "64",
    "--ensemble",
    "30",
    "--points",
    "8",
    "--steps",
    "40",
    "--record-every",
    "5",
    "--ntk-every",
    "20",
    "--lr",
    "0.3",
];

fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra).copied().collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn two_and_three_shards_and_two_devices_equal_the_unsharded_nn_run() {
    let d = common::guard::scratch("shards-nn");
    let p = |name: &str| -> PathBuf { d.join(name) };
    // --shard 0/1 is the unsharded run, writing its statistics.
    ok(&with(NN, &["--shard", "0/1", "--out", s(&p("whole"))]));
    for n in [2usize, 3] {
        let mut dirs = Vec::new();
        // Shards given out of order: merge sorts them by member.
        for i in (0..n).rev() {
            let dir = p(&format!("s{n}-{i}"));
            let sh = format!("{i}/{n}");
            ok(&with(NN, &["--shard", &sh, "--out", s(&dir)]));
            dirs.push(dir);
        }
        let merged = p(&format!("merged{n}"));
        let mut args = vec!["merge", "--out", s(&merged)];
        args.extend(dirs.iter().map(|d| s(d)));
        ok(&args);
        let worst = assert_same_sums(&p("whole"), &merged, &format!("{n} shards"));
        assert_same_background(&p("whole"), &merged, &format!("{n} shards"));
        eprintln!("{n} shards: largest |Δ| is {worst:.3} of the bound");
        for f in ["dataset.csv", "loss.csv", "modes.csv", "ntk.csv"] {
            let (a, b) = (
                std::fs::read_to_string(p("whole").join("nn").join(f)).unwrap(),
                std::fs::read_to_string(merged.join("nn").join(f)).unwrap(),
            );
            let (ha, hb) = (a.lines().next(), b.lines().next());
            assert_eq!(ha, hb, "{f}: columns");
            assert_eq!(a.lines().count(), b.lines().count(), "{f}: rows");
            // Smooth functions of the sums (ratios of norms, one-pass moments) with
            // condition ≲ width = 64: within 10⁻⁹ relative, ~10⁴ × the propagated bound.
            for (la, lb) in a.lines().zip(b.lines()).skip(1) {
                for (x, y) in la.split(',').zip(lb.split(',')) {
                    let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
                    assert!(
                        (x - y).abs() <= 1e-9 * x.abs().max(1e-300) || (x.is_nan() && y.is_nan()),
                        "{f}: {la} vs {lb}"
                    );
                }
            }
        }
    }
    // A shard of another seed trains other members: the merge check is not vacuous.
    ok(&with(
        NN,
        &["--shard", "0/1", "--seed", "9", "--out", s(&p("seed9"))],
    ));
    let r = std::panic::catch_unwind(|| assert_same_sums(&p("whole"), &p("seed9"), "seed 9"));
    assert!(r.is_err(), "another seed's statistics passed as equal");

    // Two devices of one adapter in one process: the same statistics.
    ok(&with(
        NN,
        &["--devices", "2", "--shard", "0/1", "--out", s(&p("dev2"))],
    ));
    assert_same_sums(&p("whole"), &p("dev2"), "--devices 2");
    assert_same_background(&p("whole"), &p("dev2"), "--devices 2");
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("dev2").join("report.json")).unwrap())
            .unwrap();
    assert_eq!(rep["config"]["devices"], "2");
}

#[test]
fn bad_shards_and_merges_are_refused_by_name() {
    let d = common::guard::scratch("shards-bad");
    let p = |name: &str| -> PathBuf { d.join(name) };
    for (i, dir) in ["a0", "a1", "a2"].iter().enumerate() {
        let sh = format!("{i}/3");
        ok(&with(NN, &["--shard", &sh, "--out", s(&p(dir))]));
    }
    ok(&with(
        NN,
        &["--shard", "1/3", "--seed", "4", "--out", s(&p("seed4"))],
    ));
    ok(&with(
        NN,
        &["--shard", "1/3", "--lr", "0.2", "--out", s(&p("lr"))],
    ));
    ok(&with(NN, &["--shard", "0/2", "--out", s(&p("half"))]));
    let m = |dirs: &[&str]| {
        let mut a = vec!["merge".to_string(), "--out".into(), s(&p("m")).into()];
        a.extend(dirs.iter().map(|x| s(&p(x)).to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        refused(&a)
    };
    let e = m(&["a0", "a2"]);
    assert!(
        e.contains("members [10, 20) of 30 are in no shard") && e.contains("shard 1/3 missing"),
        "{e}"
    );
    let e = m(&["a0", "a1", "a1", "a2"]);
    assert!(e.contains("overlap") && e.contains("[10, 20)"), "{e}");
    let e = m(&["half", "a1", "a2"]);
    assert!(e.contains("overlap"), "{e}");
    let e = m(&["a0", "seed4", "a2"]);
    assert!(
        e.contains("different runs") && e.contains("--seed 0") && e.contains("--seed 4"),
        "{e}"
    );
    let e = m(&["a0", "lr", "a2"]);
    assert!(e.contains("--lr 0.3") && e.contains("--lr 0.2"), "{e}");
    let e = m(&["a0", "nothing"]);
    assert!(e.contains("nothing"), "{e}");
    // A shard from another version is refused by its manifest.
    let man = p("a1").join("shard/manifest.json");
    let text = std::fs::read_to_string(&man).unwrap();
    let v = format!("\"version\": \"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(text.contains(&v), "manifest layout");
    std::fs::write(&man, text.replace(&v, "\"version\": \"0.0.1\"")).unwrap();
    let e = m(&["a0", "a1", "a2"]);
    assert!(e.contains("version 0.0.1"), "{e}");
    std::fs::write(&man, &text).unwrap();
    // An interrupted shard is refused until it is resumed to the end.
    let st = "\"status\": \"complete\"";
    assert!(text.contains(st), "manifest layout");
    std::fs::write(&man, text.replace(st, "\"status\": \"interrupted\"")).unwrap();
    let e = m(&["a0", "a1", "a2"]);
    assert!(e.contains("interrupted") && e.contains("--resume"), "{e}");
    assert!(!p("m").exists(), "a refused merge wrote its output");

    for (flag, value) in [
        ("--shard", "3/3"),
        ("--shard", "1/31"),
        ("--shard", "one"),
        ("--devices", "0"),
        ("--devices", "31"),
        ("--devices", "9"),
    ] {
        let e = refused(&with(NN, &[flag, value, "--out", s(&p("x"))]));
        assert!(e.contains(flag), "{flag} {value}: {e}");
    }
    let e = refused(&with(
        NN,
        &[
            "--devices",
            "2",
            "--checkpoint-every",
            "10",
            "--out",
            s(&p("x")),
        ],
    ));
    assert!(e.contains("--devices") && e.contains("--shard"), "{e}");
}

#[test]
fn two_and_three_shards_of_a_run_merged_continue_with_the_duals() {
    let d = common::guard::scratch("shards-run");
    let p = |name: &str| -> PathBuf { d.join(name) };
    ok(&with(common::TINY_RUN, &["--out", s(&p("whole"))]));
    // The unsharded network's statistics (a run with --shard 0/1 stops after training).
    ok(&with(
        common::TINY_RUN,
        &["--shard", "0/1", "--out", s(&p("whole-stats"))],
    ));
    let rep = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
    };
    for n in [2usize, 3] {
        let mut args = vec![
            "merge".to_string(),
            "--out".into(),
            s(&p(&format!("m{n}"))).into(),
        ];
        for i in 0..n {
            let dir = p(&format!("r{n}-{i}"));
            let sh = format!("{i}/{n}");
            ok(&with(common::TINY_RUN, &["--shard", &sh, "--out", s(&dir)]));
            assert!(!dir.join("lattice").exists(), "a shard ran the duals");
            args.push(s(&dir).into());
        }
        args[3..].reverse();
        ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let merged = p(&format!("m{n}"));
        for f in [
            "report.json",
            "index.html",
            "nn/background.csv",
            "lattice/background.csv",
            "compare/modes.csv",
        ] {
            assert!(merged.join(f).is_file(), "{n} shards: {f}");
        }
        assert_same_sums(&p("whole-stats"), &merged, &format!("run, {n} shards"));
        assert_same_background(&p("whole-stats"), &merged, &format!("run, {n} shards"));
        let (a, b) = (rep(&p("whole")), rep(&merged));
        assert_eq!(b["status"], "complete");
        assert_eq!(
            a["config"]["nn"], b["config"]["nn"],
            "merged config is the unsharded one"
        );
        // The network side agrees to f64 order (above); the duals are f32 lattices fed
        // from fits of those series, so their metrics agree to f32 rounding carried
        // through ~10³ lattice steps: 10⁻⁴ relative is ~100× that.
        let close = |x: &serde_json::Value, y: &serde_json::Value, path: &str| {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-4 * x.abs().max(1.0),
                "{n} shards: {path}: {x} vs {y}"
            );
        };
        for key in ["final_loss_mean", "mean_vs_theory", "power_vs_theory"] {
            close(&a["nn"][key], &b["nn"][key], key);
        }
        close(
            &a["metrics"]["ntk_final_drift"],
            &b["metrics"]["ntk_final_drift"],
            "ntk_final_drift",
        );
        for key in ["nn_vs_lattice", "nn_vs_theory", "lattice_vs_theory"] {
            for z in ["mean_max_z", "power_max_z"] {
                let path = format!("metrics.{key}.{z}");
                close(&a["metrics"][key][z], &b["metrics"][key][z], &path);
            }
        }
    }
}
