use std::process::ExitCode;

use nncosmo_gpu::cli::{BenchArgs, BenchTarget, Cli, Command};
use nncosmo_gpu::gpu::GpuContext;
use nncosmo_gpu::gpu::{BackendChoice, list_adapters};

fn main() -> ExitCode {
    nncosmo_gpu::gpu::headless::quiet_window_system();
    let cli = match nncosmo_gpu::cli::parse(std::env::args_os()) {
        Ok(c) => c,
        // Every usage error is one line; --help and --version are clap's own.
        Err(e) => match nncosmo_gpu::cli::error_line(&e) {
            Some((line, status)) => {
                eprintln!("{line}");
                return ExitCode::from(status);
            }
            None => e.exit(),
        },
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(nncosmo_gpu::signals::exit_status().unwrap_or(1))
        }
    }
}

/// The error and its causes on one line, each said once: library errors already
/// quote their source (`cannot write X: <OS error>`), so a cause whose text is
/// already in the line is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(command) = cli.command else {
        return Ok(nncosmo_gpu::duality::cli::run_cli(&cli.run)?);
    };
    match command {
        Command::Run(args) => Ok(nncosmo_gpu::duality::cli::run_cli(&args)?),
        Command::Sweep(args) => Ok(nncosmo_gpu::duality::sweep::run_cli(&args)?),
        Command::Dictionary(a) => {
            let req = a.resolve()?;
            println!(
                "{}",
                nncosmo_gpu::duality::dictionary::dictionary_output(&req, a.json)?
            );
            Ok(())
        }
        Command::Info(a) => info(a.json, &a.backend),
        Command::Nn(args) => Ok(nncosmo_gpu::nn::cli::run_cli(&args)?),
        Command::Lattice(args) => Ok(nncosmo_gpu::lattice::run::run_cli(&args)?),
        Command::Bench(b) => bench(b),
        Command::Merge(args) => Ok(nncosmo_gpu::nn::merge::run_cli(&args)?),
    }
}

fn info(json: bool, backends: &[nncosmo_gpu::cli::Backend]) -> anyhow::Result<()> {
    let names: Vec<&str> = backends.iter().map(|b| b.name()).collect();
    let choice = BackendChoice {
        backend: (!names.is_empty()).then(|| names.join(",")),
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

/// Timed steps a benchmark may ask for.
const MAX_BENCH_STEPS: usize = 100_000;

/// `bench nn`'s sizes, checked before the GPU is touched: the same rules and
/// budgets as `nn`.
fn check_bench_nn(a: &nncosmo_gpu::cli::BenchNnArgs) -> anyhow::Result<()> {
    use nncosmo_gpu::config::ConfigError;
    use nncosmo_gpu::preflight::{Budget, NnSizes, check_nn};
    let positive = |flag: &str, v: usize| {
        if v == 0 {
            Err(ConfigError::invalid(
                flag,
                "must be a positive integer (got 0)",
            ))
        } else {
            Ok(v)
        }
    };
    let points = positive("points", a.points)?;
    if points < 2 {
        anyhow::bail!(ConfigError::invalid(
            "points",
            "must be at least 2 (got 1): the statistics need two training points"
        ));
    }
    let depth = positive("depth", a.depth)?;
    if let Some(s) = a.steps {
        positive("steps", s)?;
        if s > MAX_BENCH_STEPS {
            anyhow::bail!(ConfigError::invalid(
                "steps",
                format!(
                    "{s} is more than a benchmark needs: the largest --steps is {MAX_BENCH_STEPS}"
                )
            ));
        }
    }
    if let Some(e) = a.ensemble {
        positive("ensemble", e)?;
    }
    if let Some(w) = a.width {
        positive("width", w)?;
        if w % 4 != 0 {
            anyhow::bail!(ConfigError::invalid(
                "width",
                format!("must be a multiple of 4 (got {w}): the kernels read rows as vec4")
            ));
        }
    }
    let (e, w) = (a.ensemble.unwrap_or(1024), a.width.unwrap_or(4096));
    let sizes = NnSizes {
        width: w,
        depth,
        ensemble: e,
        points,
        input_dim: 2,
        // Bench records nothing: one record slot's worth of steps.
        steps: 1,
        record_every: 1,
        member_traces: Some(0),
    };
    // The adapter is not open yet: its memory is taken as the host's (exact for
    // CPU adapters, whose buffers live in host memory).
    let budget = Budget::of_machine();
    check_nn(&sizes, &budget, Some(budget.host))?;
    Ok(())
}

fn bench(b: BenchArgs) -> anyhow::Result<()> {
    if let BenchTarget::Nn(a) = &b.target {
        check_bench_nn(a)?;
    }
    let choice = BackendChoice::from(&b.device);
    let ctx = GpuContext::new(&choice)?;
    match b.target {
        BenchTarget::Nn(a) => {
            use nncosmo_gpu::nn::bench::{DEFAULT_CASES, run_cases, run_deep_cases};
            match (a.ensemble, a.width) {
                (Some(e), Some(w)) => {
                    let case = [(e, w)];
                    run_cases(&ctx, &case, a.depth, a.points, a.steps, a.profile, b.json)?;
                }
                (None, None) => {
                    let cases = DEFAULT_CASES;
                    run_cases(&ctx, &cases, a.depth, a.points, a.steps, a.profile, b.json)?;
                    run_deep_cases(&ctx, a.steps, a.profile, b.json)?;
                }
                _ => anyhow::bail!("bench nn: give both --ensemble and --width, or neither"),
            }
        }
        BenchTarget::Lattice => {
            drop(ctx);
            nncosmo_gpu::lattice::bench::run_cli(&choice)?;
        }
    }
    Ok(())
}
