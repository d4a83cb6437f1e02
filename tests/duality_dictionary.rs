//! `nncosmo-gpu dictionary`: the two directions are inverses, Λ·η = (1 − β)²/3, JSON
//! output parses, and bad or unstable requests are refused with one line.

use std::process::Command;

use nncosmo_gpu::config::run::DictionaryRequest;
use nncosmo_gpu::duality::dictionary::{Dictionary, dictionary_output, inverse};

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
        .arg("dictionary")
        .args(args)
        .output()
        .unwrap();
    let err: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("error:") && !l.contains("XDG_RUNTIME_DIR"))
        .map(String::from)
        .collect();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        err.join("\n"),
    )
}

/// A deterministic low-discrepancy walk over (log η, β, κ).
fn samples(n: usize) -> Vec<(f64, f64, f64)> {
    (0..n)
        .map(|i| {
            let u = (i as f64 * 0.618_033_988_75).fract();
            let v = (i as f64 * 0.754_877_666_2).fract();
            let w = (i as f64 * 0.569_840_290_9).fract();
            (10f64.powf(-5.0 + 4.0 * u), 0.999 * v, 4.0 * w)
        })
        .collect()
}

#[test]
fn directions_are_inverse_and_lambda_eta_holds() {
    let mut checked = 0;
    for (eta, beta, kappa) in samples(400) {
        let d = Dictionary::new(eta, beta, &[kappa]);
        // Λ·η = (1 − β)²/3 exactly (up to rounding).
        let want = (1.0 - beta).powi(2) / 3.0;
        assert!(
            (d.lambda * eta - want).abs() <= 1e-13 * want.max(1e-300),
            "{eta} {beta}"
        );
        assert!((d.gamma - 3.0 * d.hubble).abs() <= 1e-13 * d.gamma);
        // Back: H and m = √κ with the same η give β and κ again.
        match inverse(d.hubble, kappa.sqrt(), Some(eta)) {
            Ok(inv) => {
                assert!(
                    (inv.network.beta - beta).abs() < 1e-12,
                    "{eta} {beta} {kappa}"
                );
                assert!((inv.network.kappa - kappa).abs() < 1e-12 * kappa.max(1.0));
                assert_eq!(inv.network.eta, eta);
                checked += 1;
            }
            // Only an unstable step may be refused, and only when it is unstable.
            Err(e) => assert!(eta * kappa >= 2.0 * (1.0 + beta), "{e}"),
        }
        // And the other way round: from (H, m), forward again.
        let h = d.hubble;
        let f = Dictionary::new(eta, 1.0 - 3.0 * h * eta.sqrt(), &[kappa]);
        assert!((f.hubble - h).abs() < 1e-12 * h);
    }
    assert!(checked > 300, "{checked}");
}

#[test]
fn cli_json_round_trip() {
    let (code, out, err) = cli(&[
        "--lr",
        "0.01",
        "--momentum",
        "0.9",
        "--kappa",
        "0.2,3",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let h = v["H"].as_f64().unwrap();
    assert!((h - 0.1 / 0.3).abs() < 1e-12);
    assert!((v["lambda_eta"].as_f64().unwrap() - 0.01 / 3.0).abs() < 1e-15);
    assert_eq!(v["modes"][0]["regime"], "light");
    assert_eq!(v["modes"][1]["regime"], "heavy");
    assert!(v["H_d"].as_f64().unwrap() > h);
    // Inverse with the same η gives β = 0.9 back.
    let hs = h.to_string();
    let (code, out, err) = cli(&["--hubble", &hs, "--mass", "0.5", "--lr", "0.01", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!((v["network"]["beta"].as_f64().unwrap() - 0.9).abs() < 1e-12);
    assert!((v["network"]["kappa"].as_f64().unwrap() - 0.25).abs() < 1e-12);
    // Text output names the regime and the discrete values.
    let (code, out, _) = cli(&["--lr", "1", "--momentum", "0.5", "--kappa", "2.95"]);
    assert_eq!(code, 0);
    assert!(out.contains("no continuum dual"), "{out}");
    assert!(out.contains("H_d"), "{out}");
}

#[test]
fn bad_requests_are_refused_with_one_line() {
    for (args, needle) in [
        (
            vec!["--lr", "0.1", "--momentum", "0.5", "--kappa", "40"],
            "unstable",
        ),
        (
            vec!["--hubble", "1", "--mass", "0.1", "--lr", "1"],
            "momentum",
        ),
        (vec!["--hubble", "0.01", "--mass", "100"], "unstable"),
        (vec!["--hubble", "1"], "--mass"),
        (vec!["--lr", "-1"], "--lr"),
        (vec!["--lr", "0.1", "--momentum", "1.2"], "--momentum"),
        (vec![], "--lr"),
    ] {
        let (code, _, err) = cli(&args);
        assert_eq!(code, 1, "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // The library refuses the same way.
    let r = dictionary_output(
        &DictionaryRequest::Inverse {
            hubble: 0.01,
            mass: 100.0,
            lr: None,
        },
        false,
    );
    assert!(r.unwrap_err().to_string().contains("unstable"));
}
