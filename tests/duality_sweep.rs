//! `nncosmo-gpu sweep` on a tiny grid: the exact DESIGN §5 header, one row per grid
//! point per mode, the mean fits' H_eff and m² against the optimizer's β and κ, and
//! a refused point that does not stop the sweep.

use std::process::Command;

#[test]
fn tiny_sweep_continues_past_a_refused_point() {
    let out = std::env::temp_dir().join(format!("nncosmo-duality-sweep-{}", std::process::id()));
    let o = Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
        .args([
            "sweep",
            "--vary",
            "lr=0.02,0.05,100",
            "--vary",
            "momentum=0.95,0.97",
            "--width",
            "512",
            "--ensemble",
            "64",
            "--points",
            "8",
            "--steps",
            "120",
            "--force",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let csv = std::fs::read_to_string(out.join("sweep/eft.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "point,repeat,lr,momentum,width,depth,ensemble,mode,kappa_theory,H_eff,H_eff_err,m2_eff,m2_eff_err,Lambda_eff,Lambda_eta,H_theory,H_discrete,m2_discrete,status"
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert!(rows.iter().all(|r| r.len() == 19));
    // 4 good points × 5 ring modes (N = 8: j = 0..4), 2 refused points × 1 row.
    assert_eq!(rows.len(), 4 * 5 + 2, "{csv}");
    let refused: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[18].starts_with("refused"))
        .collect();
    assert_eq!(refused.len(), 2);
    assert!(
        refused.iter().all(|r| r[18].contains("unstable")),
        "{refused:?}"
    );
    // Points are numbered in grid order: lr is the outer axis.
    assert!(refused.iter().all(|r| r[0] == "4" || r[0] == "5"));
    let num = |s: &str| s.parse::<f64>().unwrap();
    // Modes 0 and 1 (driven by the target) use the mean fit.
    assert!(
        rows.iter()
            .filter(|r| r[7] == "0" || r[7] == "1")
            .all(|r| r[18] == "ok (mean fit)"),
        "{csv}"
    );
    // The modes the target drives are fitted on the ensemble mean; its fitted
    // friction must be the optimizer's β (H_eff = (1 − β_eff)/(3√η) against the
    // continuum H) and its mass κ. Beyond the fit's own 3 standard errors the
    // ensemble mean carries finite-width effects: every member's NTK is off by
    // O(1/√n) (measured relative spread ≈ 2.2/√n at E = 16, width 512), which the
    // mean of E members averages to 3·3/√(nE) at three standard deviations, and the
    // O(1/n) bias of the mean dynamics, measured ≤ 4/n at widths 128–512 and bounded
    // by 8/n. A wrong time step, β or fit is off by far more (H scales as 1/√η; the
    // two momenta differ by 67 % in 1 − β).
    let (width, members) = (512.0f64, 64.0f64);
    let finite = 9.0 / (width * members).sqrt() + 8.0 / width;
    let mut checked = 0;
    for r in rows.iter().filter(|r| r[18] == "ok (mean fit)") {
        let (h, err, h_theory) = (num(&r[9]), num(&r[10]), num(&r[15]));
        let dev = (h / h_theory - 1.0).abs();
        assert!(
            dev < 3.0 * err / h_theory + finite,
            "mode {} at lr {} β {}: H_eff {h} ± {err} against {h_theory}",
            r[7],
            r[2],
            r[3]
        );
        // m² of the mean fit against κ: the same finite-width allowance.
        let (m2, m2_err, kappa) = (num(&r[11]), num(&r[12]), num(&r[8]));
        assert!(
            (m2 / kappa - 1.0).abs() < 3.0 * m2_err / kappa + finite,
            "mode {}: m² {m2} ± {m2_err} against κ {kappa}",
            r[7]
        );
        checked += 1;
    }
    assert_eq!(checked, 8, "{csv}");
    for f in [
        "sweep_H_vs_lr.svg",
        "sweep_Lambda_eta_vs_lr.svg",
        "sweep_m2_vs_width.svg",
        "sweep_ntk_drift_vs_width.svg",
        "report.json",
        "index.html",
    ] {
        assert!(out.join("sweep").join(f).exists(), "{f}");
    }
    std::fs::remove_dir_all(&out).ok();
}

/// The spread law on a CI-size width sweep: the members' initial NTKs scatter by
/// O(n^{-1/2}) (central limit over n neurons), so the fitted exponent of the
/// member-to-member spread lies within ±0.15 of −1/2. With E = 32 members each
/// spread is estimated to ~1/√(2(E − 1)) ≈ 13 %, i.e. ±0.13 in ln over a ln-width
/// span of 2.8, an exponent error of ≈ 0.05: 0.15 is three of those.
#[test]
fn width_sweep_measures_the_spread_law() {
    let out = std::env::temp_dir().join(format!("nncosmo-width-sweep-{}", std::process::id()));
    let o = Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
        .args([
            "sweep",
            "--vary",
            "width=256,1024,4096",
            "--ensemble",
            "32",
            "--points",
            "8",
            "--steps",
            "20",
            "--lr",
            "0.1",
            "--momentum",
            "0.9",
            "--grid",
            "16",
            "--seed",
            "3",
            "--force",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.join("sweep/finite_width.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "width,repeat,ntk_spread,ntk_drift,mean_dev_rel,free_power_z,disorder_power_z"
    );
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep/report.json")).unwrap())
            .unwrap();
    // Complete, after every one of the three (point, repeat) runs.
    assert_eq!(r["status"], "complete");
    assert_eq!(r["last_step"], 3);
    let spread = &r["finite_width_laws"]["ntk_spread"];
    let p = spread["exponent"].as_f64().unwrap();
    assert!((p + 0.5).abs() <= 0.15, "spread exponent {p}: {spread}");
    assert!(out.join("sweep/sweep_finite_width_laws.svg").exists());
    std::fs::remove_dir_all(&out).ok();

    // Two widths cannot give an exponent.
    let o = Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
        .args(["sweep", "--vary", "width=256,1024", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("--vary") && err.contains("3 distinct widths"),
        "{err}"
    );
}
