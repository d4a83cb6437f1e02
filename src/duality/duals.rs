//! The duals of a trained network: the free dual's lattice evolved and compared
//! with it, and the disorder dual built from every member's initial NTK.

use std::time::Instant;

use super::DualityError;
use super::class_stats::{LatticeSamples, lattice_stats};
use super::compare::{Comparison, compare};
use super::disorder::{self, FiniteWidthCsv, FiniteWidthMetrics};
use super::initial;
use super::plan::DualPlan;
use crate::config::run::{Dual, RunConfig};
use crate::gpu::GpuContext;
use crate::lattice::{Lattice, LatticeError, LatticeResults};
use crate::nn::results::NnResults;
use crate::report::CsvTable;

/// `compare/finite_width.csv` of the disorder dual.
type FiniteWidthTable = CsvTable<FiniteWidthCsv>;

/// The free dual's lattice, with the patches' initial draws uploaded.
pub(super) fn start_free_dual(
    ctx: &GpuContext,
    plan: &DualPlan,
    modes: &crate::theory::modes::Modes,
    nngp: &nalgebra::DMatrix<f64>,
    y: &[f64],
) -> Result<Lattice, DualityError> {
    let mut lat = Lattice::new(ctx, &plan.config)?;
    let init = initial::draw(plan, modes, nngp, y, plan.config.grid.pow(3));
    lat.set_initial_fields(&init.phi, &init.dphi)?;
    Ok(lat)
}

/// A dual lattice must reach the network's last step to be compared with it:
/// its overflow is an error (as `plan` refuses an a³ overflow up front).
fn finished(lres: LatticeResults) -> Result<LatticeResults, DualityError> {
    match lres.diverged {
        Some(d) => Err(LatticeError::NonFinite(d.reason).into()),
        None => Ok(lres),
    }
}

/// What the duals of a trained run produce.
pub struct Duals {
    pub lattice: LatticeResults,
    pub samples: LatticeSamples,
    pub comparison: Comparison,
    pub finite: Option<(FiniteWidthTable, FiniteWidthMetrics)>,
    /// Seconds evolving the free dual, comparing, and running the disorder dual.
    pub timings: (f64, f64, f64),
}

/// Evolves the free dual `lat`, compares it with the network, and runs the
/// disorder dual where possible: a disorder dual that cannot run is an error only
/// when `--dual disorder` asked for it, otherwise a finding.
pub(super) fn evolve_duals(
    rc: &RunConfig,
    plan: &DualPlan,
    res: &NnResults,
    mut lat: Lattice,
    ctx: &GpuContext,
    progress: bool,
) -> Result<Duals, DualityError> {
    let t = Instant::now();
    let lres = finished(lat.run(progress)?)?;
    let lattice_s = t.elapsed().as_secs_f64();
    let samples = lattice_samples(&lres, plan.substeps, plan.config.grid.pow(3));
    let t = Instant::now();
    let mut cmp = compare(res, plan, &samples);
    let compare_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let finite = match disorder_run(rc, plan, res, &cmp, ctx, progress) {
        Ok(f) => f,
        Err(e) if rc.lattice.dual == Dual::Disorder => return Err(e),
        Err(e) => {
            cmp.metrics.findings.push(format!("no disorder dual: {e}"));
            None
        }
    };
    Ok(Duals {
        lattice: lres,
        samples,
        comparison: cmp,
        finite,
        timings: (lattice_s, compare_s, t.elapsed().as_secs_f64()),
    })
}

/// The free and disorder duals of a trained run, without files or progress bars:
/// what a sweep point needs.
pub fn duals_of(
    rc: &RunConfig,
    plan: &DualPlan,
    res: &NnResults,
    ctx: &GpuContext,
) -> Result<(Comparison, Option<FiniteWidthMetrics>), DualityError> {
    let n = res.data.points();
    let nngp = nalgebra::DMatrix::from_column_slice(n, n, &res.nngp);
    let lat = start_free_dual(ctx, plan, &res.modes, &nngp, &res.data.y)?;
    let d = evolve_duals(rc, plan, res, lat, ctx, false)?;
    Ok((d.comparison, d.finite.map(|f| f.1)))
}

/// Runs the disorder dual when every member's initial NTK and traces are at hand
/// (None when the run kept no member NTKs and the dual was not required).
fn disorder_run(
    rc: &RunConfig,
    plan: &DualPlan,
    res: &NnResults,
    cmp: &Comparison,
    ctx: &GpuContext,
    progress: bool,
) -> Result<Option<(FiniteWidthTable, FiniteWidthMetrics)>, DualityError> {
    let Some(m0) = res.ntk_members0.as_ref() else {
        return if rc.lattice.dual == Dual::Disorder {
            Err(DualityError::Plan(
                "the disorder dual needs every member's NTK, which this run could not keep in one binding (lower --ensemble or --points)".into(),
            ))
        } else {
            Ok(None)
        };
    };
    if res.config.member_traces == 0 {
        return Ok(None);
    }
    let ds = disorder::setup(plan, res, m0)?;
    let mut cfg = plan.config.clone();
    cfg.spectrum_every = Some(cfg.steps);
    let mut lat = Lattice::new(ctx, &cfg)?;
    lat.set_mass_matrices(&ds.matrices, &ds.patch_of_site)?;
    lat.set_initial_fields(&ds.phi, &ds.dphi)?;
    let lres = finished(lat.run(progress)?)?;
    let sites = cfg.grid.pow(3);
    let mut s = lattice_samples(&lres, plan.substeps, sites);
    // Copies of a member are one sample: the statistics are over the members.
    s.sites = ds.members;
    let stats = lattice_stats(&s, res);
    Ok(Some(disorder::decompose(
        res, &cmp.rows, &stats, &s, ds.members,
    )))
}

/// The lattice's per-field observables at each network step (every `substeps`
/// lattice steps).
pub fn lattice_samples(lres: &LatticeResults, substeps: usize, sites: usize) -> LatticeSamples {
    let mut s = LatticeSamples {
        sites,
        ..Default::default()
    };
    for r in &lres.field_rows {
        if !r.step.is_multiple_of(substeps) {
            continue;
        }
        if s.steps.last() != Some(&(r.step / substeps)) {
            s.steps.push(r.step / substeps);
            s.t.push(r.t);
            s.mean.push(Vec::new());
            s.var.push(Vec::new());
        }
        s.mean.last_mut().unwrap().push(r.obs.phi_mean);
        s.var.last_mut().unwrap().push(r.obs.phi_var);
    }
    s
}
