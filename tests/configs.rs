//! Every preset in configs/ loads and validates with the subcommand it is written
//! for, including everything a run checks before training (the dual lattice's plan).

use std::path::PathBuf;

use nncosmo_gpu::cli::lattice::LatticeArgs;
use nncosmo_gpu::cli::nn::NnArgs;
use nncosmo_gpu::cli::run::RunArgs;
use nncosmo_gpu::cli::sweep::SweepArgs;

#[test]
fn every_preset_is_valid() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let table: toml::Table = text.parse().unwrap();
        let name = path.display().to_string();
        if table.contains_key("sweep") {
            let args = SweepArgs {
                run: RunArgs {
                    nn: NnArgs {
                        config: Some(path.clone()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                ..Default::default()
            };
            let sc = args.resolve().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!sc.points().is_empty(), "{name}");
        } else if table.contains_key("nn") {
            let args = RunArgs {
                nn: NnArgs {
                    config: Some(path.clone()),
                    ..Default::default()
                },
                ..Default::default()
            };
            let (rc, prep, plan) =
                nncosmo_gpu::duality::run::prepare(&args).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(plan.fields.len(), prep.modes.mode_of_basis.len(), "{name}");
            assert_eq!(rc.nn.record_every, 1, "{name}");
        } else {
            LatticeArgs {
                config: Some(path.clone()),
                ..Default::default()
            }
            .resolve()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    assert!(seen >= 7, "only {seen} presets found");
}
