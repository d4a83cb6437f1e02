use std::process::ExitCode;

use clap::Parser;
use nncosmo_gpu::cli::{BenchArgs, BenchTarget, Cli, Command};
use nncosmo_gpu::gpu::GpuContext;
use nncosmo_gpu::gpu::{BackendChoice, list_adapters};

fn main() -> ExitCode {
    nncosmo_gpu::gpu::headless::quiet_window_system();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, causes joined; no backtrace.
            eprintln!("error: {e:#}");
            ExitCode::from(nncosmo_gpu::signals::exit_status().unwrap_or(1))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(command) = cli.command else {
        return Ok(nncosmo_gpu::duality::run::run_cli(&cli.run)?);
    };
    match command {
        Command::Run(args) => Ok(nncosmo_gpu::duality::run::run_cli(&args)?),
        Command::Sweep(args) => Ok(nncosmo_gpu::duality::sweep::run_cli(&args)?),
        Command::Dictionary(a) => {
            let req = a.resolve()?;
            println!(
                "{}",
                nncosmo_gpu::duality::dictionary::dictionary_output(&req, a.json)?
            );
            Ok(())
        }
        Command::Info(a) => info(a.json, a.backend),
        Command::Nn(args) => Ok(nncosmo_gpu::nn::run::run_cli(&args)?),
        Command::Lattice(args) => Ok(nncosmo_gpu::lattice::run::run_cli(&args)?),
        Command::Bench(b) => bench(b),
    }
}

fn info(json: bool, backend: Option<String>) -> anyhow::Result<()> {
    let choice = BackendChoice {
        backend,
        adapter: None,
    };
    let adapters = list_adapters(&choice)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&adapters)?);
        return Ok(());
    }
    if adapters.is_empty() {
        anyhow::bail!(nncosmo_gpu::gpu::GpuError::NoAdapter {
            backends: "all".into()
        });
    }
    for a in &adapters {
        println!("{} ({}, {})", a.name, a.backend, a.device_type);
        let rows: [(&str, String); 12] = [
            ("driver", format!("{} {}", a.driver, a.driver_info)),
            (
                "max_storage_buffer_binding_size",
                mib(a.max_storage_buffer_binding_size),
            ),
            ("max_buffer_size", mib(a.max_buffer_size)),
            (
                "max_compute_workgroup_storage_size",
                format!("{} B", a.max_compute_workgroup_storage_size),
            ),
            (
                "max_compute_invocations_per_workgroup",
                a.max_compute_invocations_per_workgroup.to_string(),
            ),
            (
                "max_compute_workgroup_size_x",
                a.max_compute_workgroup_size_x.to_string(),
            ),
            (
                "max_compute_workgroups_per_dimension",
                a.max_compute_workgroups_per_dimension.to_string(),
            ),
            (
                "max_storage_buffers_per_shader_stage",
                a.max_storage_buffers_per_shader_stage.to_string(),
            ),
            (
                "subgroup_size",
                format!("{}..{}", a.min_subgroup_size, a.max_subgroup_size),
            ),
            ("features", a.features.join(" ")),
            ("backend", a.backend.clone()),
            ("type", a.device_type.clone()),
        ];
        for (k, v) in rows {
            println!("  {k:<40} {v}");
        }
    }
    Ok(())
}

fn mib(b: u64) -> String {
    format!("{b} B ({:.0} MiB)", b as f64 / 1048576.0)
}

fn bench(b: BenchArgs) -> anyhow::Result<()> {
    let ctx = GpuContext::new(&BackendChoice {
        backend: b.backend.clone(),
        adapter: b.adapter.clone(),
    })?;
    match b.target {
        BenchTarget::Nn(a) => {
            use nncosmo_gpu::nn::bench::{DEFAULT_CASES, run_cases, run_deep_cases};
            match (a.ensemble, a.width) {
                (Some(e), Some(w)) => {
                    run_cases(&ctx, &[(e, w)], a.depth, a.points, a.steps, b.json)?;
                }
                (None, None) => {
                    run_cases(&ctx, &DEFAULT_CASES, a.depth, a.points, a.steps, b.json)?;
                    run_deep_cases(&ctx, a.steps, b.json)?;
                }
                _ => anyhow::bail!("bench nn: give both --ensemble and --width, or neither"),
            }
        }
        BenchTarget::Lattice => {
            drop(ctx);
            nncosmo_gpu::lattice::bench::run_cli(b.backend, b.adapter)?;
        }
    }
    Ok(())
}
