//! The duality run end to end on a tiny ensemble: every CSV header is DESIGN §5's,
//! report.json holds the listed keys, the page is self-contained, the lattice is
//! set up from the dictionary (one field per mode row, discrete matching), and the
//! comparison's metrics are reported.

mod common;

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
}

fn errors(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.starts_with("error:") && !l.contains("XDG_RUNTIME_DIR"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn header(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .next()
        .unwrap()
        .to_string()
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("nncosmo-duality-{name}-{}", std::process::id()))
}

#[test]
fn tiny_run_writes_the_contract() {
    let out = tmp("run");
    let o = bin()
        .args(common::TINY_RUN)
        .args(["--force", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", errors(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("dictionary") && stdout.contains("index.html"),
        "{stdout}"
    );

    let headers = [
        ("nn/dataset.csv", "point,x0,x1,y"),
        ("nn/background.csv", "step,tau,point,mean,var"),
        (
            "nn/modes.csv",
            "step,tau,mode,kappa,mean_residual,power,theory_mean_residual,theory_power",
        ),
        ("nn/loss.csv", "step,tau,loss_mean,loss_std"),
        (
            "nn/ntk.csv",
            "step,trace,drift,drift_member_mean,drift_member_sd,offdiag_rel_sd",
        ),
        (
            "lattice/background.csv",
            "step,t,a,phi_mean,dphi_mean,phi_var,rho_kin,rho_grad,rho_pot,energy_residual",
        ),
        (
            "lattice/fields.csv",
            "step,t,field,m2,phi_mean,dphi_mean,phi_var,rho_kin,rho_grad,rho_pot,energy_residual",
        ),
        (
            "lattice/spectrum.csv",
            "step,t,field,k,power,modes,theory_power",
        ),
        ("compare/background.csv", "tau,efolds,nn,lattice,theory"),
        (
            "compare/finite_width.csv",
            "step,tau,mode,nn_power,free_power,disorder_power,ntk_drift_member_mean",
        ),
        (
            "compare/modes.csv",
            "step,tau,efolds,mode,kappa,m2,nn_mean,lattice_mean,theory_mean,nn_power,nn_power_se,lattice_power,lattice_power_se,theory_power",
        ),
    ];
    for (f, h) in headers {
        assert_eq!(header(&out.join(f)), h, "{f}");
    }

    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    for k in [
        "config",
        "dictionary",
        "fits",
        "metrics",
        "adapter",
        "timings",
        "version",
    ] {
        assert!(!r[k].is_null(), "report.json lacks {k}");
    }
    assert_eq!(r["status"], "complete");
    assert_eq!(r["last_step"], 150);
    let c = &r["config"];
    for k in common::REPORT_CONFIG_KEYS {
        assert!(!c[k].is_null(), "config lacks {k}");
    }
    for k in ["grid", "dx", "dt", "H", "m2"] {
        assert!(!c["lattice"][k].is_null(), "config.lattice lacks {k}");
    }
    for k in ["H", "Lambda", "gamma", "efolds_per_step", "H_d", "m2_d"] {
        assert!(!r["dictionary"][k].is_null(), "dictionary lacks {k}");
    }
    for k in ["name", "backend", "driver"] {
        assert!(!r["adapter"][k].is_null(), "adapter lacks {k}");
    }
    assert!(r["timings"]["gflop_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["timings"]["site_updates_per_s"].as_f64().unwrap() > 0.0);

    // The lattice runs the discrete dictionary: H_d = −ln β/(3√η), one field per
    // mode row (8 on 8 points) with the discrete m² of its class.
    let (eta, beta) = (0.05f64, 0.97f64);
    let h_d = -beta.ln() / (3.0 * eta.sqrt());
    assert!((c["lattice"]["H"].as_f64().unwrap() - h_d).abs() < 1e-12);
    assert_eq!(c["lattice"]["fields"].as_u64(), Some(8));
    assert_eq!(c["lattice"]["matching"].as_str(), Some("discrete"));
    let m2_d0 = r["dictionary"]["m2_d"].as_f64().unwrap();
    assert!((c["lattice"]["m2s"][0].as_f64().unwrap() - m2_d0).abs() < 1e-12);
    // dt divides the network step and the lattice covers the same τ range.
    let dt = c["lattice"]["dt"].as_f64().unwrap();
    let sub = c["lattice"]["substeps"].as_u64().unwrap() as f64;
    assert!((dt * sub - eta.sqrt()).abs() < 1e-12);
    assert!((c["lattice"]["steps"].as_f64().unwrap() * dt - 150.0 * eta.sqrt()).abs() < 1e-9);
    // The separate-universe spacing: k_max/(a(0)H) = ε = 0.05 by default.
    assert!((c["lattice"]["gradient"].as_f64().unwrap() - 0.05).abs() < 1e-12);

    // The comparison's blocks, each with its maxima located; the lattice follows
    // the recursion (its own test is in duality_dual.rs).
    let m = &r["metrics"];
    for block in ["nn_vs_lattice", "nn_vs_theory", "lattice_vs_theory"] {
        for k in [
            "mean_max_z",
            "power_max_z",
            "mean_mode",
            "mean_step",
            "power_mode",
            "power_step",
        ] {
            assert!(m[block][k].is_number(), "metrics.{block}.{k}: {m}");
        }
    }
    assert_eq!(m["dual"], "multi-field");
    assert_eq!(m["matching"], "discrete");
    assert!(
        m["lattice_vs_theory"]["mean_max_z"].as_f64().unwrap() < 5.0,
        "{m}"
    );
    assert_eq!(m["classes"].as_array().unwrap().len(), 5);
    let bg = std::fs::read_to_string(out.join("compare/background.csv")).unwrap();
    let first: Vec<f64> = bg
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(first[0], 0.0);
    // B_NN(0) = u₀ᵀ(μ₀ − y) ≈ −√N·y₀ = −√8·0.5 up to the ensemble's sampling noise
    // (NNGP std ≈ 1 per point over 32 members: |noise| ≲ 4/√32 in this projection).
    assert!((first[2] + 8f64.sqrt() * 0.5).abs() < 0.7, "{first:?}");
    // The network's mean-mode fit recovers β and κ₀ (the recurrence is exact in the
    // lazy limit; at width 128 finite-width corrections of a few per cent remain, so
    // allow 10 % of 1 − β and 5 % of κ₀ — a wrong dictionary or time step is off by
    // far more).
    let kappa0 = r["nn"]["kappa"][0].as_f64().unwrap();
    let f0 = &r["fits"]["network"]["mean"][0];
    let fb = f0["fit"]["beta"].as_f64().unwrap();
    assert!((fb - beta).abs() < 0.1 * (1.0 - beta), "β fit {fb}");
    let m2 = f0["continuum"]["m2"].as_f64().unwrap();
    assert!(
        (m2 / kappa0 - 1.0).abs() < 0.05,
        "m² fit {m2} vs κ₀ {kappa0}"
    );

    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("EFT table") && html.contains("Dictionary"));
    for banned in ["http://", "https://", "src=", "href="] {
        assert!(!html.contains(banned), "index.html references {banned}");
    }
    assert!(html.contains("Network against its dual lattice"));
    for f in [
        "z_means.svg",
        "z_powers.svg",
        "class0_mean.svg",
        "class0_power.svg",
        "class4_power.svg",
        "ntk_drift.svg",
        "loss.svg",
    ] {
        assert!(
            std::fs::read_to_string(out.join(f))
                .unwrap()
                .contains("<svg"),
            "{f}"
        );
    }
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn bad_input_gets_one_line() {
    let out = tmp("bad");
    let o = out.to_str().unwrap();
    for (args, needle) in [
        (vec!["run", "--width", "0", "--out", o], "--width"),
        (
            vec!["run", "--record-every", "5", "--out", o],
            "--record-every",
        ),
        (vec!["run", "--stencil", "3", "--out", o], "--stencil"),
        (vec!["run", "--lr", "100", "--out", o], "unstable"),
        (vec!["run", "--steps", "100000", "--out", o], "e-folds"),
        (vec!["run", "--grid", "3", "--out", o], "--grid"),
        (vec!["run", "--grid", "2000", "--out", o], "--grid"),
        (vec!["--momentum", "1.5", "--out", o], "--momentum"),
        (vec!["run", "--matching", "exact", "--out", o], "--matching"),
        (vec!["run", "--dual", "single-field", "--out", o], "--dual"),
        (
            vec!["run", "--dual-gradient", "0", "--out", o],
            "--dual-gradient",
        ),
        (
            vec!["run", "--dual-gradient", "nan", "--out", o],
            "--dual-gradient",
        ),
        (
            vec!["run", "--ensemble", "8", "--member-traces", "9", "--out", o],
            "--member-traces",
        ),
        (vec!["run", "--momentum", "0", "--out", o], "--matching"),
        (
            vec!["run", "--steps", "100", "--ntk-every", "30", "--out", o],
            "--ntk-every",
        ),
        (
            vec![
                "run",
                "--dual",
                "disorder",
                "--member-traces",
                "0",
                "--out",
                o,
            ],
            "--dual",
        ),
        (
            vec!["run", "--lr", "100", "--allow-unstable", "--out", o],
            "--matching",
        ),
        (vec!["sweep", "--vary", "colour=1,2", "--out", o], "--vary"),
        (vec!["sweep", "--vary", "lr=1e-3,,2", "--out", o], "--vary"),
        (vec!["sweep", "--vary", "lr", "--out", o], "--vary"),
    ] {
        let r = bin().args(&args).output().unwrap();
        let err = errors(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!String::from_utf8_lossy(&r.stderr).contains("panicked"));
    }
    let cfg = out.with_extension("toml");
    std::fs::write(&cfg, "[nn]\nwidth = 64\n[lattise]\ngrid = 8\n").unwrap();
    let r = bin().args(["run", "--config"]).arg(&cfg).output().unwrap();
    let err = errors(&r.stderr);
    assert_eq!(r.status.code(), Some(1));
    assert!(err.contains("lattise"), "{err}");
    std::fs::remove_file(cfg).ok();
}
