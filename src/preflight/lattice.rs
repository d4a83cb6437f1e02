//! The pre-flight checks of a lattice run: its host, FFT and device estimates, and
//! the refusal naming the flag (grid, fields or steps) that most needs lowering.

use super::{
    Budget, Estimate, HOST_OVERHEAD, device_memory, device_shortfall, largest_fitting, mul, u,
};
use crate::config::ConfigError;
use crate::config::lattice::LatticeConfig;

/// The sizes of a lattice run.
#[derive(Clone, Copy, Debug)]
pub struct LatticeSizes {
    pub grid: usize,
    pub fields: usize,
    pub steps: usize,
    pub output_every: usize,
}

impl LatticeSizes {
    pub fn of(cfg: &LatticeConfig) -> Self {
        LatticeSizes {
            grid: cfg.grid,
            fields: cfg.fields,
            steps: cfg.steps,
            output_every: cfg.output_every,
        }
    }

    pub fn estimate(&self) -> Estimate {
        let n = u(self.grid);
        let sites = mul(&[n, n, n]);
        let f = u(self.fields);
        let outputs = u(self.steps / self.output_every) + 2;
        // Device: φ (two buffers) and π, f32, per field, plus per-column energy parts.
        let device = mul(&[f, sites, 12]).saturating_add(mul(&[f, n, n, 16]));
        // Host: the initial field and a spectrum's read-back and FFT (complex f64),
        // per field, and per output its rows (spectrum bins ~ √3·N/2 per field).
        let host = HOST_OVERHEAD
            .saturating_add(mul(&[f, sites, 4 + 32]))
            .saturating_add(mul(&[sites, 32]))
            .saturating_add(mul(&[outputs, f, n + 8, 64]));
        // Host FFTs of the initial conditions and of every spectrum: ~5 sites·log₂ sites each.
        let log = (sites as f64).log2().max(1.0);
        let flops = 5.0 * sites as f64 * log * f as f64 * 2.0;
        Estimate {
            host,
            device,
            flops,
        }
    }
}

/// Checks a lattice run before anything is allocated; `device` is the adapter's
/// memory when known.
pub fn check_lattice(
    sizes: &LatticeSizes,
    budget: &Budget,
    device: Option<u128>,
) -> Result<(), ConfigError> {
    let fits = |s: &LatticeSizes| budget.admits(&s.estimate(), device);
    if fits(sizes) {
        return Ok(());
    }
    let est = sizes.estimate();
    let what = if est.host > budget.host {
        budget.host_shortfall(&est)
    } else if est.flops > budget.flops {
        format!("needs about {:.1e} flops of host FFTs", est.flops)
    } else {
        device_shortfall(&est, device)
    };
    let grid_fits = largest_fitting(sizes.grid, |g| fits(&LatticeSizes { grid: g, ..*sizes }));
    let fields_fits = largest_fitting(sizes.fields, |f| {
        fits(&LatticeSizes {
            fields: f,
            ..*sizes
        })
    });
    let steps_fits = largest_fitting(sizes.steps, |s| fits(&LatticeSizes { steps: s, ..*sizes }));
    Err(
        match (sizes.fields > 1, fields_fits, grid_fits, steps_fits) {
            (true, Some(f), _, _) if sizes.fields as f64 > sizes.grid as f64 => {
                ConfigError::invalid(
                    "fields",
                    format!(
                        "{} {what}; the largest --fields that fits at --grid {} is {f}",
                        sizes.fields, sizes.grid
                    ),
                )
            }
            (_, _, Some(g), _) if g >= 4 => ConfigError::invalid(
                "grid",
                format!(
                    "{} {what}; the largest --grid that fits with the other flags as given is {g}",
                    sizes.grid
                ),
            ),
            (_, _, _, Some(s)) => ConfigError::invalid(
                "steps",
                format!(
                    "{} {what}; the largest --steps that fits with the other flags as given is {s}",
                    sizes.steps
                ),
            ),
            _ => ConfigError::invalid("grid", format!("{} {what}", sizes.grid)),
        },
    )
}

/// A lattice run against the adapter's binding limit (F·N³ f32 in one buffer: the
/// engine's own message, naming the largest grid and field count), then against the
/// host, FFT and device budgets: after the adapter is opened, before any buffer.
pub fn check_lattice_run(
    cfg: &LatticeConfig,
    ctx: &crate::gpu::GpuContext,
) -> Result<(), crate::lattice::LatticeError> {
    let n = cfg.grid as u64;
    let bytes = (cfg.fields as u64)
        .saturating_mul(n.saturating_pow(3))
        .saturating_mul(4);
    let limit = ctx.max_binding();
    if bytes > limit {
        return Err(crate::lattice::engine::too_large(
            cfg.grid, cfg.fields, limit,
        ));
    }
    let budget = Budget::of_machine();
    check_lattice(&LatticeSizes::of(cfg), &budget, device_memory(ctx, &budget))?;
    Ok(())
}
