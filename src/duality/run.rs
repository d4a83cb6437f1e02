//! The `run` pipeline: train (or take a merged network), fit, run the duals, compare
//! and write every file; the duals are in `duals`, the command and its terminal
//! summary in `cli`.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::DualityError;
use super::class_stats::{LatticeSamples, NnSeries};
use super::compare::{Comparison, NetworkFits, network_fits};
use super::dictionary::Dictionary;
use super::disorder::FiniteWidthMetrics;
use super::duals::{evolve_duals, start_free_dual};
use super::members::{MemberFits, member_fits};
use super::plan::DualPlan;
use super::plots;
use crate::config::run::RunConfig;
use crate::gpu::GpuContext;
use crate::lattice::{LatticeResults, output as lat_out};
use crate::nn::checkpoint::CheckpointPlan;
use crate::nn::output::{write_all, write_tables};
use crate::nn::results::NnResults;
use crate::nn::run::{Prepared, RunError};
use crate::report::{RunDir, RunStatus, write_atomic, write_json};

// The duals and the command live in their own modules; their old paths still work.
pub use super::cli::{merge_cli, prepare, run_cli, summary_lines};
pub use super::duals::{Duals, duals_of, lattice_samples};

/// What a finished run hands back (tests and sweeps read it).
pub struct RunOutcome {
    pub nn: NnResults,
    pub dictionary: Dictionary,
    pub fits: NetworkFits,
    /// Every traced member's own fit, summarised per class.
    pub member_fits: Vec<MemberFits>,
    pub plan: DualPlan,
    pub lattice: LatticeResults,
    pub samples: LatticeSamples,
    pub comparison: Comparison,
    pub finite_width: Option<FiniteWidthMetrics>,
    pub phases: Phases,
    pub report: serde_json::Value,
}

/// Wall time of each phase of a run, in seconds.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Phases {
    pub setup_s: f64,
    pub train_s: f64,
    pub fit_s: f64,
    pub lattice_setup_s: f64,
    pub lattice_s: f64,
    pub compare_s: f64,
    pub disorder_s: f64,
    pub write_s: f64,
    pub total_s: f64,
}

/// Trains the network and returns it with its series and fits. With a run
/// directory, the nn outputs are published now and then while training (status
/// `interrupted`), and a diverged run keeps its good steps there (status
/// `diverged`) and is an error.
pub fn train_and_fit(
    cfg: &crate::config::nn::NnConfig,
    out: &Path,
    prep: Prepared,
    ctx: &GpuContext,
    dir: Option<&mut RunDir>,
) -> Result<(NnResults, NnSeries, NetworkFits), DualityError> {
    train_and_fit_with(cfg, out, prep, ctx, dir, None, &[])
}

/// The tables and report.json of a run stopped by a signal in `phase` (`training`,
/// or `duals` when the signal came during training's last batch): the network's
/// summary so far.
fn write_interrupted_report(
    rc_nn: &crate::config::nn::NnConfig,
    res: &NnResults,
    out: &Path,
    phase: &str,
) -> Result<(), DualityError> {
    write_tables(res, out)?;
    let report = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "status": RunStatus::Interrupted,
        "last_step": res.last_step(),
        "phase": phase,
        "config": rc_nn,
        "adapter": res.adapter,
        "timings": { "nn": res.timings },
        "nn": res.summary(),
    });
    write_json(&out.join("report.json"), &report)?;
    Ok(())
}

/// `train_and_fit` with checkpoints (see `train_with`), or over several devices
/// (`devices`, when more than one); a run stopped by a signal publishes its tables
/// with an `interrupted` report.json, and is an error.
pub fn train_and_fit_with(
    cfg: &crate::config::nn::NnConfig,
    out: &Path,
    prep: Prepared,
    ctx: &GpuContext,
    mut dir: Option<&mut RunDir>,
    ckpt: Option<&CheckpointPlan>,
    devices: &[GpuContext],
) -> Result<(NnResults, NnSeries, NetworkFits), DualityError> {
    let ctxs = if devices.len() > 1 {
        devices
    } else {
        std::slice::from_ref(ctx)
    };
    let res = crate::nn::cli::train_on(cfg, prep, ctxs, ckpt, dir.as_deref_mut())?;
    fitted(cfg, out, res, dir, ckpt)
}

/// The fits of a trained (or merged) network. An interrupted run publishes its
/// tables with an `interrupted` report.json, and a diverged one its good steps; both
/// are errors.
pub fn fitted(
    cfg: &crate::config::nn::NnConfig,
    out: &Path,
    res: NnResults,
    mut dir: Option<&mut RunDir>,
    ckpt: Option<&CheckpointPlan>,
) -> Result<(NnResults, NnSeries, NetworkFits), DualityError> {
    if let Some((step, signal)) = res.interrupted {
        if let Some(d) = dir.as_deref_mut() {
            d.publish(RunStatus::Interrupted, res.last_step(), |o| {
                write_interrupted_report(cfg, &res, o, "training")
            })?;
        }
        return Err(crate::nn::cli::interrupted(step, signal, out, ckpt).into());
    }
    if let Some((step, value)) = res.diverged {
        let mut written = String::new();
        if let Some(d) = dir {
            d.publish(RunStatus::Diverged, res.last_step(), |p| write_all(&res, p))?;
            written = out.display().to_string();
        }
        return Err(RunError::Diverged {
            step,
            value,
            last_good: res.last_step(),
            out: written,
        }
        .into());
    }
    let series = NnSeries::new(&res);
    let fits = network_fits(&res, &series);
    Ok((res, series, fits))
}

/// Where the pipeline's network comes from.
pub enum NnSource<'a> {
    /// Trained here, with checkpoints, on one device or split over several.
    Train {
        ckpt: Option<&'a CheckpointPlan>,
        devices: &'a [GpuContext],
    },
    /// Merged from shards.
    Given(Box<NnResults>),
}

/// The pipeline on a given device; writes everything under `cfg.nn.out`, replacing
/// whatever run it held.
pub fn run_pipeline(
    rc: &RunConfig,
    prep: Prepared,
    plan: DualPlan,
    ctx: &GpuContext,
    progress: bool,
) -> Result<RunOutcome, DualityError> {
    let mut dir = RunDir::create(&rc.target.output.out, true)?;
    let source = NnSource::Train {
        ckpt: None,
        devices: &[],
    };
    run_pipeline_in(rc, prep, plan, ctx, progress, &mut dir, source)
}

/// The pipeline on a given device, publishing its outputs into `dir`, with
/// checkpoints of the training phase. A signal during training stops it after the
/// batch in flight; one that arrives by the end of training stops the run before
/// the duals (the last step's checkpoint lets a resumed run redo them, which are
/// deterministic). The duals themselves run to the end once started.
pub fn run_pipeline_in(
    rc: &RunConfig,
    prep: Prepared,
    plan: DualPlan,
    ctx: &GpuContext,
    progress: bool,
    dir: &mut RunDir,
    source: NnSource,
) -> Result<RunOutcome, DualityError> {
    let t_all = Instant::now();
    let mut ph = Phases::default();
    // The lattice is allocated first so that a grid too large for the adapter is
    // refused before any training.
    let t = Instant::now();
    let lat = start_free_dual(ctx, &plan, &prep.modes, &prep.nngp, &prep.data.y)?;
    ph.lattice_setup_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (res, _, fits, ckpt) = match source {
        NnSource::Train { ckpt, devices } => {
            let out = &rc.target.output.out;
            let (r, s, f) =
                train_and_fit_with(&rc.nn, out, prep, ctx, Some(&mut *dir), ckpt, devices)?;
            (r, s, f, ckpt)
        }
        NnSource::Given(res) => {
            let (r, s, f) = fitted(&rc.nn, &rc.target.output.out, *res, Some(&mut *dir), None)?;
            (r, s, f, None)
        }
    };
    ph.train_s = t.elapsed().as_secs_f64();
    // Stop before the duals only when the last step's checkpoint is there to resume
    // from (a signal after training's final check lets the run complete).
    let at_end = |p: &CheckpointPlan| {
        crate::checkpoint::Checkpoint::open(&p.dir)
            .is_ok_and(|c| c.manifest.step == rc.nn.steps as u64)
    };
    if let (Some(signal), Some(p)) = (crate::signals::pending(), ckpt.filter(|p| at_end(p))) {
        dir.publish(RunStatus::Interrupted, res.last_step(), |o| {
            write_interrupted_report(&rc.nn, &res, o, "duals")
        })?;
        return Err(crate::nn::cli::interrupted(
            res.last_step(),
            signal,
            &rc.target.output.out,
            Some(p),
        )
        .into());
    }
    // The trained network is kept whatever happens to the duals.
    dir.publish(RunStatus::Interrupted, res.last_step(), |p| {
        write_all(&res, p)
    })?;

    let t = Instant::now();
    let dict = Dictionary::new(rc.nn.lr, rc.nn.momentum, &res.modes.kappa);
    let member_fits = member_fits(&res, rc.lattice.eft_cubic);
    ph.fit_s = t.elapsed().as_secs_f64();
    if progress {
        for f in &dict.flags {
            eprintln!("warning: {f}");
        }
    }

    let Duals {
        lattice: mut lres,
        samples,
        comparison: cmp,
        finite,
        timings,
    } = evolve_duals(rc, &plan, &res, lat, ctx, progress)?;
    lres.timings.setup_s = ph.lattice_setup_s;
    (ph.lattice_s, ph.compare_s, ph.disorder_s) = timings;

    let mut report = serde_json::Value::Null;
    dir.publish(RunStatus::Complete, res.last_step(), |out: &Path| {
        let t = Instant::now();
        write_tables(&res, out)?;
        lat_out::background_table(&lres).write(&out.join("lattice/background.csv"))?;
        lat_out::write_spectrum(&lres, &out.join("lattice/spectrum.csv"))?;
        lat_out::fields_table(&lres).write(&out.join("lattice/fields.csv"))?;
        cmp.background.write(&out.join("compare/background.csv"))?;
        cmp.modes.write(&out.join("compare/modes.csv"))?;
        if let Some((table, _)) = &finite {
            table.write(&out.join("compare/finite_width.csv"))?;
        }
        let figures = plots::run_plots(&res, &plan, &cmp);
        for (name, svg, _) in &figures {
            write_atomic(&out.join(name), svg.as_bytes())?;
        }
        ph.write_s = t.elapsed().as_secs_f64();
        ph.total_s = t_all.elapsed().as_secs_f64();

        let mut lattice_cfg = serde_json::to_value(&plan.config).unwrap_or_default();
        if let (Some(o), Ok(serde_json::Value::Object(p))) =
            (lattice_cfg.as_object_mut(), serde_json::to_value(&plan))
        {
            o.extend(p);
        }
        let mut config = serde_json::to_value(&rc.nn).unwrap_or_default();
        if let Some(o) = config.as_object_mut() {
            o.insert("lattice".into(), lattice_cfg);
        }
        // The comparison's blocks at the top level of `metrics`, the finite-width
        // decomposition beside them.
        let mut metrics = serde_json::to_value(&cmp.metrics).unwrap_or_default();
        if let Some(o) = metrics.as_object_mut() {
            o.insert(
                "finite_width".into(),
                serde_json::to_value(finite.as_ref().map(|f| &f.1)).unwrap_or_default(),
            );
        }
        let mut rep = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "config": config,
            "dictionary": dict,
            "fits": {
                "network": fits,
                "network_members": member_fits,
                "lattice": cmp.lattice_fits,
            },
            "metrics": metrics,
            "adapter": res.adapter,
            "timings": {
                "phases": &ph,
                "nn": res.timings,
                "lattice": lres.timings,
                "gflop_per_s": res.timings.gflop_per_s,
                "site_updates_per_s": lres.timings.site_updates_per_s,
            },
            "nn": res.summary(),
            "lattice": lat_out::lattice_section(&plan.config, &lres),
        });
        // The same stamp the run directory gives report.json, for the page and callers.
        if let Some(o) = rep.as_object_mut() {
            o.insert("status".into(), json!(RunStatus::Complete));
            o.insert("last_step".into(), json!(res.last_step()));
        }
        write_json(&out.join("report.json"), &rep)?;
        let html = plots::index_html(
            &rep,
            &dict,
            &fits,
            &member_fits,
            &plan,
            &cmp,
            finite.as_ref().map(|f| &f.1),
            &figures,
        );
        write_atomic(&out.join("index.html"), html.as_bytes())?;
        report = rep;
        Ok::<(), DualityError>(())
    })?;
    Ok(RunOutcome {
        nn: res,
        dictionary: dict,
        fits,
        member_fits,
        plan,
        lattice: lres,
        samples,
        comparison: cmp,
        finite_width: finite.map(|f| f.1),
        phases: ph,
        report,
    })
}
