//! `nncosmo-gpu lattice` refuses bad input with one line and exit status 1.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
        .arg("lattice")
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    // Some Vulkan loaders print their own "error: XDG_RUNTIME_DIR ..." lines; skip them.
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("error:") && !l.contains("XDG_RUNTIME_DIR"))
        .collect();
    (out.status.code().unwrap_or(-1), lines.join("\n"))
}

fn refused(args: &[&str], needle: &str) {
    let (code, err) = run(args);
    assert_eq!(code, 1, "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn bad_input_gets_one_line_and_exit_1() {
    let dir = std::env::temp_dir().join(format!("nncosmo-lattice-cli-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    refused(&["--grid", "3", "--out", out], "--grid");
    refused(&["--dx", "0", "--out", out], "--dx");
    refused(&["--dt", "-0.1", "--out", out], "--dt");
    refused(&["--dt", "0.6", "--out", out], "Courant");
    refused(&["--hubble", "-0.5", "--out", out], "--allow-tachyonic");
    refused(&["--mass", "-1", "--out", out], "--allow-tachyonic");
    refused(
        &["--grid", "4096", "--out", out],
        "the largest grid this adapter can hold",
    );
    refused(
        &[
            "--grid",
            "8",
            "--spectrum",
            "power-law",
            "--tilt",
            "2000",
            "--out",
            out,
        ],
        "NaN",
    );
    // A finished run, then the same --out again without --force.
    let (code, err) = run(&[
        "--grid",
        "8",
        "--steps",
        "4",
        "--output-every",
        "2",
        "--out",
        out,
    ]);
    assert_eq!(code, 0, "{err}");
    let bg = std::fs::read_to_string(dir.join("lattice/background.csv")).unwrap();
    assert!(bg.starts_with(
        "step,t,a,phi_mean,dphi_mean,phi_var,rho_kin,rho_grad,rho_pot,energy_residual\n"
    ));
    assert_eq!(bg.lines().count(), 4);
    let sp = std::fs::read_to_string(dir.join("lattice/spectrum.csv")).unwrap();
    assert!(sp.starts_with("step,t,k,power,modes,theory_power\n"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    for key in ["config", "adapter", "timings", "lattice", "version"] {
        assert!(report.get(key).is_some(), "{key}");
    }
    assert!(report["timings"]["site_updates_per_s"].as_f64().unwrap() > 0.0);
    refused(&["--grid", "8", "--out", out], "--force");
    let (code, _) = run(&["--grid", "8", "--steps", "2", "--out", out, "--force"]);
    assert_eq!(code, 0);
    std::fs::remove_dir_all(dir).unwrap();
}
