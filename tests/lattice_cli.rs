//! `nncosmo-gpu lattice` refuses bad input with one line and exit status 1, and
//! writes the single- and multi-field files.

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
    assert!(
        !dir.join("lattice/fields.csv").exists(),
        "F = 1 has no fields.csv"
    );
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

#[test]
fn bad_field_counts_and_masses_get_one_line_naming_the_flag() {
    let dir =
        std::env::temp_dir().join(format!("nncosmo-lattice-fields-bad-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    refused(&["--fields", "0", "--out", out], "--fields");
    refused(&["--fields", "-2", "--out", out], "--fields");
    refused(
        &["--fields", "3", "--mass", "1", "--mass", "2", "--out", out],
        "--mass was given 2 times but --fields is 3",
    );
    refused(
        &[
            "--fields", "2", "--mass", "1", "--mass", "NaN", "--out", out,
        ],
        "--mass",
    );
    refused(
        &["--fields", "2", "--mass", "1", "--mass", "-1", "--out", out],
        "--allow-tachyonic",
    );
    // The Courant limit takes the heaviest field.
    refused(
        &[
            "--fields", "2", "--mass", "1", "--mass", "20", "--dt", "0.4", "--out", out,
        ],
        "Courant",
    );
    // 1000 fields of 256³ f32 need 64 GiB, more than any adapter binds at once: the
    // error names the largest --fields at this --grid and the largest --grid.
    refused(
        &["--fields", "1000", "--grid", "256", "--out", out],
        "fit; with --fields 1000 the largest grid is --grid ",
    );
    // More fields than workgroups along z.
    refused(
        &["--fields", "100000", "--grid", "4", "--out", out],
        "--fields is 100000",
    );
    // The binding checks run after the output directory is prepared.
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn three_fields_write_per_field_files() {
    let dir = std::env::temp_dir().join(format!("nncosmo-lattice-fields-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let (code, err) = run(&[
        "--grid",
        "8",
        "--fields",
        "3",
        "--mass",
        "0.5",
        "--mass",
        "1",
        "--mass",
        "2",
        "--steps",
        "4",
        "--output-every",
        "2",
        "--out",
        out,
    ]);
    assert_eq!(code, 0, "{err}");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    // background.csv: the same header; totals, with the φ columns NaN.
    let bg = read("lattice/background.csv");
    assert!(bg.starts_with(
        "step,t,a,phi_mean,dphi_mean,phi_var,rho_kin,rho_grad,rho_pot,energy_residual\n"
    ));
    assert_eq!(bg.lines().count(), 4);
    for line in bg.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(&cells[3..6], &["NaN", "NaN", "NaN"], "{line}");
        assert!(
            cells[6..]
                .iter()
                .all(|c| c.parse::<f64>().unwrap().is_finite())
        );
    }
    let fields = read("lattice/fields.csv");
    let mut lines = fields.lines();
    assert_eq!(
        lines.next().unwrap(),
        "step,t,field,m2,phi_mean,dphi_mean,phi_var,rho_kin,rho_grad,rho_pot,energy_residual"
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 3 * 3);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[2] as usize, i % 3);
        assert_eq!(r[3], [0.25, 1.0, 4.0][i % 3]);
        assert!(r.iter().all(|v| v.is_finite()));
    }
    let sp = read("lattice/spectrum.csv");
    assert!(sp.starts_with("step,t,field,k,power,modes,theory_power\n"));
    let per_field = |b: &str| {
        sp.lines()
            .skip(1)
            .filter(|l| l.split(',').nth(2) == Some(b))
            .count()
    };
    assert!(
        per_field("0") > 0 && per_field("0") == per_field("1") && per_field("1") == per_field("2")
    );
    let report: serde_json::Value = serde_json::from_str(&read("report.json")).unwrap();
    let lattice = &report["lattice"];
    assert_eq!(lattice["fields"], 3);
    assert_eq!(lattice["masses"], serde_json::json!([0.5, 1.0, 2.0]));
    assert_eq!(lattice["m2s"], serde_json::json!([0.25, 1.0, 4.0]));
    assert_eq!(lattice["per_field"].as_array().unwrap().len(), 3);
    assert_eq!(report["config"]["lattice"]["fields"], 3);
    std::fs::remove_dir_all(&dir).unwrap();

    // The same run from a config file: `mass` as a list; one mass applies to all.
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("fields.toml");
    std::fs::write(
        &toml,
        "[lattice]\nfields = 3\nmass = [0.5, 1.0, 2.0]\ngrid = 8\nsteps = 2\n",
    )
    .unwrap();
    let sub = dir.join("run");
    let (code, err) = run(&[
        "--config",
        toml.to_str().unwrap(),
        "--out",
        sub.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sub.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["lattice"]["m2s"],
        serde_json::json!([0.25, 1.0, 4.0])
    );
    let one = dir.join("one");
    let (code, err) = run(&[
        "--grid",
        "8",
        "--fields",
        "2",
        "--mass",
        "1.5",
        "--steps",
        "2",
        "--out",
        one.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(one.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["lattice"]["m2s"], serde_json::json!([2.25, 2.25]));
    std::fs::remove_dir_all(&dir).unwrap();
}
