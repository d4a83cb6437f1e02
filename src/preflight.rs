//! Pre-flight estimates of a run's host memory, device memory and analytic (host
//! CPU) cost, from its configuration alone and before anything is allocated.
//!
//! Every size is computed in checked `u128`/`f64` arithmetic, so an absurd flag
//! cannot wrap a check into passing. A run over a budget is refused with one line
//! that names the flag most responsible and the largest value of it that fits with
//! the other flags as given (found by bisection on the same estimate).
//!
//! The estimates are upper bounds of the big terms (matrices, per-record rows,
//! buffers), not exact accounting; the budgets leave room for the rest.

mod lattice;

use crate::config::ConfigError;
use crate::config::nn::{NnConfig, default_member_traces};

pub use lattice::{LatticeSizes, check_lattice, check_lattice_run};

/// Analytic work the host may do before the first GPU step: about ten minutes of
/// one core at a few GFLOP/s (kernel recursion, eigenbasis, theory lines).
pub const ANALYTIC_FLOP_BUDGET: f64 = 2e12;
/// Fixed host overhead of the process (driver, pipelines, plots), in bytes.
const HOST_OVERHEAD: u128 = 256 << 20;

/// What a run may use.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Host memory, bytes.
    pub host: u128,
    /// Host floating-point operations of the analytic side.
    pub flops: f64,
}

impl Budget {
    /// Three quarters of the machine's physical memory (of 32 GiB when unknown).
    pub fn of_machine() -> Self {
        let total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u128>().ok())
            })
            .map(|kib| kib * 1024)
            .unwrap_or(32 << 30);
        Budget {
            host: total / 4 * 3,
            flops: ANALYTIC_FLOP_BUDGET,
        }
    }

    /// Whether `est` fits the host budgets and, when known, the device's memory.
    fn admits(&self, est: &Estimate, device: Option<u128>) -> bool {
        est.host <= self.host && est.flops <= self.flops && device.is_none_or(|d| est.device <= d)
    }

    fn host_shortfall(&self, est: &Estimate) -> String {
        format!(
            "needs about {} of host memory (the budget is {}: three quarters of this machine's memory)",
            gib(est.host),
            gib(self.host)
        )
    }
}

fn device_shortfall(est: &Estimate, device: Option<u128>) -> String {
    format!(
        "needs about {} of device memory (the adapter has {})",
        gib(est.device),
        gib(device.unwrap_or(0))
    )
}

/// An estimate: bytes on the host and on the device, analytic flops.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Estimate {
    pub host: u128,
    pub device: u128,
    pub flops: f64,
}

/// Saturating u128 arithmetic over usize inputs: a product that passes u128 is
/// "more than any machine", which refuses just as well.
fn mul(xs: &[u128]) -> u128 {
    xs.iter().fold(1u128, |a, &b| a.saturating_mul(b))
}

fn u(x: usize) -> u128 {
    x as u128
}

fn gib(b: u128) -> String {
    let g = b as f64 / (1u128 << 30) as f64;
    if g < 1e5 {
        format!("{g:.1} GiB")
    } else {
        format!("{g:.1e} GiB")
    }
}

/// The sizes of an `nn` run that its cost depends on.
#[derive(Clone, Copy, Debug)]
pub struct NnSizes {
    pub width: usize,
    pub depth: usize,
    pub ensemble: usize,
    pub points: usize,
    pub input_dim: usize,
    pub steps: usize,
    pub record_every: usize,
    /// `--member-traces` as given (None: the default budget).
    pub member_traces: Option<usize>,
}

impl NnSizes {
    pub fn of(cfg: &NnConfig, points: usize, input_dim: usize) -> Self {
        NnSizes {
            width: cfg.width,
            depth: cfg.depth,
            ensemble: cfg.ensemble,
            points,
            input_dim,
            steps: cfg.steps,
            record_every: cfg.record_every,
            member_traces: cfg.member_traces_flag,
        }
    }

    fn get(&self, flag: &str) -> usize {
        match flag {
            "width" => self.width,
            "depth" => self.depth,
            "ensemble" => self.ensemble,
            "points" => self.points,
            "input-dim" => self.input_dim,
            "steps" => self.steps,
            _ => self.member_traces.unwrap_or(0),
        }
    }

    fn with(&self, flag: &str, v: usize) -> Self {
        let mut s = *self;
        match flag {
            "width" => s.width = v,
            "depth" => s.depth = v,
            "ensemble" => s.ensemble = v,
            "points" => s.points = v,
            "input-dim" => s.input_dim = v,
            "steps" => s.steps = v,
            _ => s.member_traces = Some(v),
        }
        s
    }

    /// Recorded steps: every `record_every`-th and the last.
    fn records(&self) -> u128 {
        u(self.steps / self.record_every) + 2
    }

    /// Floats of one member's parameters (as `NetShape::param_count`, unpadded).
    fn params(&self) -> u128 {
        let (w, d, i) = (u(self.width), u(self.depth), u(self.input_dim));
        mul(&[i + 1, w])
            .saturating_add(mul(&[d.saturating_sub(1), w + 1, w]))
            .saturating_add(w + 1)
    }

    pub fn estimate(&self) -> Estimate {
        let n = u(self.points);
        let e = u(self.ensemble);
        let r = self.records();
        let k = self.member_traces.map(u).unwrap_or_else(|| {
            u(default_member_traces(
                self.ensemble,
                self.points,
                r.min(usize::MAX as u128) as usize,
            ))
        });
        let p = self.params();
        // Host: the analytic N×N matrices (kernels, NNGP, basis, temporaries), the
        // data, the member NTKs (three E·N² copies at most, capped like the engine's
        // binding), and per record its f64 sums and statistics, member traces, theory line and
        // CSV rows (N + modes + 1 rows of ~8 cells).
        let matrices = mul(&[n, n, 8, 12]);
        let ntk_members = mul(&[e, n, n, 4]).min(2 << 30).saturating_mul(3);
        let per_record = mul(&[16, 4 * n + 2])
            .saturating_add(mul(&[4, k, n]))
            .saturating_add(mul(&[8, 4 * n + 1]))
            .saturating_add(mul(&[2 * n + 1, 256]))
            .saturating_add(256);
        let host = HOST_OVERHEAD
            .saturating_add(matrices)
            .saturating_add(mul(&[n, u(self.input_dim) + 1, 8]))
            .saturating_add(ntk_members)
            .saturating_add(mul(&[r, per_record]));
        // Device: parameters and velocities, forward activations of every member
        // (the upper bound: chunking and the fused kernels hold fewer), outputs and
        // deltas, the NTK slots and the per-member record ring with its staging copy.
        let device = mul(&[e, p, 8])
            .saturating_add(mul(&[e, n, u(self.width), u(self.depth), 8]))
            .saturating_add(mul(&[e, n, 16]))
            .saturating_add(mul(&[e, n, n, 4]).min(2 << 30))
            .saturating_add(
                mul(&[256, e, 2 * n + 1, 4])
                    .min(128 << 20)
                    .saturating_mul(2),
            );
        // Analytic: the layer recursion (~200 flops per pair per layer), the
        // eigenbasis (~10 N³), and per record the theory line (2 N³ + 4 N²), plus
        // the propagator recurrence between records.
        let nf = n as f64;
        let flops = 200.0 * nf * nf * (self.depth as f64 + 1.0)
            + 10.0 * nf * nf * nf
            + r as f64 * (2.0 * nf * nf * nf + 4.0 * nf * nf)
            + 4.0 * nf * (self.steps as f64).min(r as f64 * 4096.0);
        Estimate {
            host,
            device,
            flops,
        }
    }
}

/// Flags of `nn` whose size drives the cost, with their defaults (the flag most
/// above its default is named when a budget is exceeded).
const NN_FLAGS: &[(&str, usize)] = &[
    ("points", 16),
    ("steps", 1000),
    ("depth", 1),
    ("width", 1024),
    ("ensemble", 64),
    ("input-dim", 2),
    ("member-traces", 64),
];

/// Checks an `nn` run (also every run of `run` and every sweep point) against the
/// host memory and analytic budgets, and when `device` is given, the device memory.
pub fn check_nn(sizes: &NnSizes, budget: &Budget, device: Option<u128>) -> Result<(), ConfigError> {
    let fits = |s: &NnSizes| budget.admits(&s.estimate(), device);
    if fits(sizes) {
        return Ok(());
    }
    let est = sizes.estimate();
    let what = if est.flops > budget.flops {
        format!(
            "needs about {:.1e} flops of analytic work on the host (the budget is {:.0e})",
            est.flops, budget.flops
        )
    } else if est.host > budget.host {
        budget.host_shortfall(&est)
    } else {
        device_shortfall(&est, device)
    };
    // The flag furthest above its default, among those that change the outcome.
    let mut best: Option<(&str, f64, usize)> = None;
    for &(flag, default) in NN_FLAGS {
        if flag == "member-traces" && sizes.member_traces.is_none() {
            continue;
        }
        let v = sizes.get(flag);
        if v <= 1 {
            continue;
        }
        let max = largest_fitting(v, |x| fits(&sizes.with(flag, x)));
        let Some(max) = max else { continue };
        let ratio = v as f64 / default.max(1) as f64;
        if best.is_none_or(|b| ratio > b.1) {
            best = Some((flag, ratio, max));
        }
    }
    Err(match best {
        Some((flag, _, max)) => ConfigError::invalid(
            flag,
            format!(
                "{} {what}; the largest --{flag} that fits with the other flags as given is {max}",
                sizes.get(flag)
            ),
        ),
        None => ConfigError::invalid(
            "ensemble",
            format!(
                "{}: this run {what}, and no single flag brings it within reach",
                sizes.ensemble
            ),
        ),
    })
}

/// The largest x in [1, v) with `fits(x)`, when `fits(1)` holds (bisection: every
/// estimate grows with each of its sizes).
fn largest_fitting(v: usize, fits: impl Fn(usize) -> bool) -> Option<usize> {
    if !fits(1) {
        return None;
    }
    let (mut lo, mut hi) = (1usize, v);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) { lo = mid } else { hi = mid }
    }
    Some(lo)
}

/// The data set's own checks (a mode basis needs two points) and the host budget of
/// an `nn` run once its data set is known: before the analytic kernels are built.
pub fn check_nn_data(cfg: &NnConfig, points: usize, input_dim: usize) -> Result<(), ConfigError> {
    if points < 2 {
        return Err(ConfigError::invalid(
            "points",
            format!(
                "must be at least 2 (got {}): the ensemble statistics and the mode basis need two training points",
                points
            ),
        ));
    }
    let sizes = NnSizes::of(cfg, points, input_dim);
    check_nn(&sizes, &Budget::of_machine(), None)
}

/// As [`check_nn_data`], with the adapter's memory: before any buffer is allocated.
pub fn check_nn_device(
    cfg: &NnConfig,
    data: &crate::nn::data::Dataset,
    ctx: &crate::gpu::GpuContext,
) -> Result<(), ConfigError> {
    let budget = Budget::of_machine();
    let sizes = NnSizes::of(cfg, data.points(), data.input_dim());
    check_nn(&sizes, &budget, device_memory(ctx, &budget))
}

/// The device memory of an adapter when it can be known: a CPU adapter (lavapipe,
/// WARP) allocates from the host, so its budget is the host's; wgpu reports no heap
/// sizes for GPUs, whose per-buffer limits the engines check themselves.
pub fn device_memory(ctx: &crate::gpu::GpuContext, budget: &Budget) -> Option<u128> {
    ctx.is_cpu().then_some(budget.host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nn() -> NnSizes {
        NnSizes {
            width: 64,
            depth: 1,
            ensemble: 8,
            points: 16,
            input_dim: 2,
            steps: 1000,
            record_every: 10,
            member_traces: None,
        }
    }

    const BUDGET: Budget = Budget {
        host: 16 << 30,
        flops: ANALYTIC_FLOP_BUDGET,
    };

    #[test]
    fn small_runs_pass_and_absurd_ones_name_their_flag() {
        check_nn(&nn(), &BUDGET, Some(16 << 30)).unwrap();
        for (sizes, flag) in [
            (nn().with("points", 100_000), "--points "),
            (nn().with("steps", 1_000_000_000), "--steps "),
            (nn().with("depth", 1_000_000_000), "--depth "),
            (nn().with("width", 1 << 40), "--width "),
            (nn().with("ensemble", usize::MAX), "--ensemble "),
        ] {
            let e = check_nn(&sizes, &BUDGET, Some(16 << 30))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(flag), "{e}");
            assert!(e.contains("largest"), "{e}");
            // The value named fits, and one more does not.
            let name = flag.trim_start_matches("--").trim();
            let max: usize = e.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(
                check_nn(&sizes.with(name, max), &BUDGET, Some(16 << 30)).is_ok(),
                "{e}"
            );
            assert!(
                check_nn(&sizes.with(name, max + 1), &BUDGET, Some(16 << 30)).is_err(),
                "{e}"
            );
        }
    }

    #[test]
    fn nn_estimate_counts_the_big_terms() {
        // 10⁵ points: the N×N matrices alone are 12 × 8 × 10¹⁰ bytes.
        let est = nn().with("points", 100_000).estimate();
        assert!(est.host >= 12 * 8 * 100_000u128 * 100_000);
        // 10⁹ steps at --record-every 10: 10⁸ records of ≥ 16 N bytes each.
        let est = nn().with("steps", 1_000_000_000).estimate();
        assert!(est.host >= 100_000_000u128 * 16 * 16);
        // Parameters: E · P · 8 bytes (params and velocities), P = 4n + 1 at d = 2, L = 1.
        let est = nn().estimate();
        assert!(est.device >= 8 * (4 * 64 + 1) * 8);
    }

    #[test]
    fn lattice_sizes_do_not_wrap() {
        let s = LatticeSizes {
            grid: 2_097_152,
            fields: 1,
            steps: 5,
            output_every: 20,
        };
        // (2²¹)³·4 wraps u64 (2⁶⁵); the u128 estimate does not.
        assert!(s.estimate().device >= 12u128 << 63);
        let e = check_lattice(&s, &BUDGET, None).unwrap_err().to_string();
        assert!(e.starts_with("--grid 2097152 needs"), "{e}");
        let max: usize = e.rsplit(' ').next().unwrap().parse().unwrap();
        let fits = |g| check_lattice(&LatticeSizes { grid: g, ..s }, &BUDGET, None).is_ok();
        assert!(fits(max) && !fits(max + 1), "{e}");
        let many = LatticeSizes {
            grid: 16,
            fields: 1 << 40,
            ..s
        };
        let e = check_lattice(&many, &BUDGET, None).unwrap_err().to_string();
        assert!(e.starts_with("--fields "), "{e}");
    }
}
