//! Tests of the lattice flags, their validation and the masses of the configuration.

use super::*;

/// Defaults, over 40 steps: the large dt of the Courant cases stays within the
/// e-fold cap.
fn args() -> LatticeArgs {
    LatticeArgs {
        steps: Some(40),
        ..LatticeArgs::default()
    }
}

fn err(a: LatticeArgs) -> String {
    a.resolve().unwrap_err().to_string()
}

#[test]
fn defaults_are_valid() {
    let c = args().resolve().unwrap();
    assert_eq!(c.grid, 64);
    assert_eq!(c.m2(), 1.0);
}

#[test]
fn bad_values_name_their_flag() {
    assert!(
        err(LatticeArgs {
            grid: Some(3),
            ..args()
        })
        .starts_with("--grid ")
    );
    assert!(
        err(LatticeArgs {
            dx: Some(0.0),
            ..args()
        })
        .starts_with("--dx ")
    );
    assert!(
        err(LatticeArgs {
            dt: Some(-0.1),
            ..args()
        })
        .starts_with("--dt ")
    );
    let e = err(LatticeArgs {
        dt: Some(0.6),
        ..args()
    });
    assert!(e.starts_with("--dt ") && e.contains("Courant"), "{e}");
    // 4th-order stencil has a larger top eigenvalue (16/dx² against 12/dx²).
    assert!(
        LatticeArgs {
            dt: Some(0.52),
            ..args()
        }
        .resolve()
        .is_ok()
    );
    assert!(
        LatticeArgs {
            dt: Some(0.52),
            stencil: Some(4),
            ..args()
        }
        .resolve()
        .is_err()
    );
    assert!(
        err(LatticeArgs {
            hubble: Some(-1.0),
            ..args()
        })
        .starts_with("--hubble ")
    );
    assert!(
        err(LatticeArgs {
            mass: vec![-1.0],
            ..args()
        })
        .starts_with("--mass ")
    );
    let ok = LatticeArgs {
        mass: vec![-1.0],
        allow_tachyonic: true,
        ..args()
    };
    assert_eq!(ok.resolve().unwrap().m2(), -1.0);
    assert!(
        err(LatticeArgs {
            stencil: Some(3),
            ..args()
        })
        .starts_with("--stencil ")
    );
    // A named choice from a file is refused as the flag's parser refuses it.
    let e = crate::config::strict::check_text(
        "c.toml",
        "velocity = \"fast\"",
        crate::config::strict::FileKind::Lattice,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 1: --velocity unknown value `fast`"), "{e}");
    let e = err(LatticeArgs {
        spectrum: Some(SpectrumKind::White),
        amplitude: Some(-1.0),
        ..args()
    });
    assert!(e.starts_with("--amplitude "), "{e}");
}

#[test]
fn fields_and_their_masses() {
    // F = 1 keeps the single-field configuration: no m2s, nothing new serialised.
    let one = args().resolve().unwrap();
    assert_eq!((one.fields, one.m2s.len()), (1, 0));
    let json = serde_json::to_value(&one).unwrap();
    assert!(json.get("fields").is_none() && json.get("m2s").is_none());
    let three = LatticeArgs {
        fields: Some(3),
        mass: vec![0.5, 1.0, -2.0],
        allow_tachyonic: true,
        ..args()
    }
    .resolve()
    .unwrap();
    assert_eq!(three.m2s, vec![0.25, 1.0, -4.0]);
    assert_eq!((three.m2(), three.mass()), (0.25, 0.5));
    assert_eq!(three.field_masses(), vec![0.5, 1.0, -2.0]);
    three.check_fields().unwrap();
    // One mass applies to every field.
    let same = LatticeArgs {
        fields: Some(2),
        mass: vec![3.0],
        ..args()
    }
    .resolve()
    .unwrap();
    assert_eq!(same.field_m2s(), vec![9.0, 9.0]);
    // The Courant limit takes the largest m²: fine for m = 1, refused for m = 20.
    let courant = |mass: Vec<f64>| {
        LatticeArgs {
            fields: Some(2),
            mass,
            dt: Some(0.4),
            ..args()
        }
        .resolve()
    };
    assert!(courant(vec![1.0, 1.0]).is_ok());
    assert!(
        courant(vec![1.0, 20.0])
            .unwrap_err()
            .to_string()
            .contains("Courant")
    );
    for (fields, mass, flag) in [
        (Some(0), vec![], "--fields "),
        (Some(3), vec![1.0, 2.0], "--mass "),
        (Some(2), vec![1.0, f64::NAN], "--mass "),
        (Some(2), vec![1.0, -1.0], "--mass "),
    ] {
        let e = err(LatticeArgs {
            fields,
            mass,
            ..args()
        });
        assert!(e.starts_with(flag), "{e}");
    }
    // set_masses and set_m2s keep field 0's mass and m² and the per-field list in
    // step; m2s that disagree with m2 (which only this module could set) are
    // refused.
    let mut c = LatticeConfig::defaults();
    c.set_m2s(&[0.64]);
    assert_eq!((c.fields, c.field_m2s()), (1, vec![0.64]));
    c.set_masses(&[-0.5]);
    assert_eq!(
        (c.m2(), c.mass(), c.field_masses()),
        (-0.25, -0.5, vec![-0.5])
    );
    c.set_masses(&[0.5, 2.0]);
    assert_eq!((c.fields, c.field_m2s()), (2, vec![0.25, 4.0]));
    c.set_m2s(&[0.3, 1.0, 2.5]);
    assert_eq!((c.fields, c.m2()), (3, 0.3));
    c.check_fields().unwrap();
    c.m2 = 0.64;
    assert!(
        c.check_fields()
            .unwrap_err()
            .to_string()
            .starts_with("--mass ")
    );
}

#[test]
fn mass_in_a_config_file_is_one_number_or_a_list() {
    let parse = |text: &str| -> LatticeArgs {
        merge_args(
            &args(),
            Some((std::path::Path::new("x.toml"), text.parse().unwrap())),
            &lattice_defaults(),
        )
        .unwrap()
    };
    assert_eq!(parse("mass = 1.5").mass, vec![1.5]);
    assert_eq!(parse("mass = 2").mass, vec![2.0]);
    assert_eq!(
        parse("fields = 3\nmass = [0.5, 1.0, 2]").mass,
        vec![0.5, 1.0, 2.0]
    );
    // Flags override the file.
    let flags = LatticeArgs {
        mass: vec![0.1, 0.2],
        ..args()
    };
    let m = merge_args(
        &flags,
        Some((
            std::path::Path::new("x.toml"),
            "mass = 3.0".parse().unwrap(),
        )),
        &lattice_defaults(),
    )
    .unwrap();
    assert_eq!(m.mass, vec![0.1, 0.2]);
    // Neither: the default's one mass.
    assert_eq!(parse("").mass, vec![1.0]);
}
