//! `nncosmo-gpu run`: the whole pipeline, its files and its terminal summary.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::DualityError;
use super::compare::{
    Comparison, LatticeSamples, MaxZ, NetworkFits, NnSeries, compare, lattice_stats, network_fits,
};
use super::dictionary::Dictionary;
use super::disorder::{self, FiniteWidthMetrics};
use super::initial;
use super::members::{MemberFits, member_fits};
use super::plan::{DualPlan, plan};
use super::plots;
use crate::config::run::{Dual, RunArgs, RunConfig};
use crate::gpu::{BackendChoice, GpuContext};
use crate::lattice::{Lattice, LatticeError, LatticeResults, output as lat_out};
use crate::nn::checkpoint::CheckpointPlan;
use crate::nn::output::{write_all, write_tables};
use crate::nn::results::NnResults;
use crate::nn::run::{Prepared, RunError, train_with};
use crate::report::{RunDir, RunStatus, write_atomic, write_json};

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
    prep: Prepared,
    ctx: &GpuContext,
    dir: Option<&mut RunDir>,
) -> Result<(NnResults, NnSeries, NetworkFits), DualityError> {
    train_and_fit_with(cfg, prep, ctx, dir, None, &[])
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
    prep: Prepared,
    ctx: &GpuContext,
    mut dir: Option<&mut RunDir>,
    ckpt: Option<&CheckpointPlan>,
    devices: &[GpuContext],
) -> Result<(NnResults, NnSeries, NetworkFits), DualityError> {
    let res = if devices.len() > 1 {
        crate::nn::run::train_devices(cfg, prep, devices)?
    } else {
        train_with(cfg, prep, ctx, ckpt, &mut |r| {
            if let Some(d) = dir.as_deref_mut()
                && d.due()
            {
                d.publish(RunStatus::Interrupted, r.last_step(), |p| write_all(r, p))?;
            }
            Ok(())
        })?
    };
    fitted(cfg, res, dir, ckpt)
}

/// The fits of a trained (or merged) network. An interrupted run publishes its
/// tables with an `interrupted` report.json, and a diverged one its good steps; both
/// are errors.
pub fn fitted(
    cfg: &crate::config::nn::NnConfig,
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
        return Err(match ckpt {
            Some(p) => crate::nn::cli::interrupted(step, signal, &cfg.out, p),
            None => crate::signals::Interrupted::without_checkpoint(signal, step, &cfg.out).into(),
        }
        .into());
    }
    if let Some((step, value)) = res.diverged {
        let mut out = String::new();
        if let Some(d) = dir {
            d.publish(RunStatus::Diverged, res.last_step(), |p| write_all(&res, p))?;
            out = cfg.out.display().to_string();
        }
        return Err(RunError::Diverged {
            step,
            value,
            last_good: res.last_step(),
            out,
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
    let mut dir = RunDir::create(&rc.nn.out, true)?;
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
            let (r, s, f) = train_and_fit_with(&rc.nn, prep, ctx, Some(&mut *dir), ckpt, devices)?;
            (r, s, f, ckpt)
        }
        NnSource::Given(res) => {
            let (r, s, f) = fitted(&rc.nn, *res, Some(&mut *dir), None)?;
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
        return Err(crate::nn::cli::interrupted(res.last_step(), signal, &rc.nn.out, p).into());
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
        lat_out::spectrum_table(&lres).write(&out.join("lattice/spectrum.csv"))?;
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

/// The free dual's lattice, with the patches' initial draws uploaded.
fn start_free_dual(
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
    pub finite: Option<(crate::report::CsvTable, FiniteWidthMetrics)>,
    /// Seconds evolving the free dual, comparing, and running the disorder dual.
    pub timings: (f64, f64, f64),
}

/// Evolves the free dual `lat`, compares it with the network, and runs the
/// disorder dual where possible: a disorder dual that cannot run is an error only
/// when `--dual disorder` asked for it, otherwise a finding.
fn evolve_duals(
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
) -> Result<Option<(crate::report::CsvTable, FiniteWidthMetrics)>, DualityError> {
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

/// Validates everything that can be checked without the GPU; the network's
/// analytic set-up and the dual lattice's plan are kept for the run.
pub fn prepare(args: &RunArgs) -> Result<(RunConfig, Prepared, DualPlan), DualityError> {
    let rc = args.resolve()?;
    let prep = crate::nn::run::prepare(&rc.nn)?;
    let plan = plan(&rc, &prep.modes)?;
    Ok((rc, prep, plan))
}

/// `nncosmo-gpu run` (and `nncosmo-gpu` with no subcommand). A shard trains its
/// members and writes their statistics; `merge` runs the rest.
pub fn run_cli(args: &RunArgs) -> Result<(), DualityError> {
    crate::signals::install();
    let (rc, prep, plan) = prepare(args)?;
    let config = serde_json::to_value(&rc).unwrap_or_default();
    let ckpt = crate::nn::cli::checkpoint_plan(&rc.nn, "run", config.clone(), true)?;
    let merged = args.merged()?;
    let merged = json!({"nn": merged.nn, "lattice": merged.lattice});
    // Refuse an existing, busy or unwritable --out before the GPU (a resumed run
    // continues in its own directory).
    let mut dir = crate::checkpoint::open_run_dir(&rc.nn.out, rc.nn.force, ckpt.resume.as_ref())?;
    let ctxs = crate::nn::cli::open_devices(&rc.nn)?;
    if rc.nn.shard.is_some() {
        let publish = crate::nn::cli::Publish {
            command: "run",
            config,
            args: merged,
            dir: &mut dir,
        };
        let res = crate::nn::cli::train_and_publish(&rc.nn, prep, &ctxs, &ckpt, publish)?;
        drop(dir);
        println!(
            "run: {} trained {} steps in {:.2} s ({:.2} GFLOP/s); statistics in {}; combine every shard with `nncosmo-gpu merge --out DIR SHARD_DIR...`, which runs the duals",
            crate::nn::cli::members_phrase(&res),
            res.last_step(),
            res.timings.train_s,
            res.timings.gflop_per_s,
            rc.nn.out.join(crate::nn::shard::SHARD_DIR).display()
        );
        return Ok(());
    }
    let source = NnSource::Train {
        ckpt: (ctxs.len() == 1).then_some(&ckpt),
        devices: &ctxs,
    };
    let o = run_pipeline_in(&rc, prep, plan, &ctxs[0], true, &mut dir, source)?;
    drop(dir);
    for line in summary_lines(&rc, &o) {
        println!("{line}");
    }
    Ok(())
}

/// The `run` half of `merge`: the shards' combined network, then the fits, the
/// duals and the comparison, as an unsharded run would.
pub fn merge_cli(
    args: &RunArgs,
    files: &[crate::nn::shard::ShardFile],
    t: Instant,
) -> Result<(), DualityError> {
    crate::signals::install();
    let (rc, prep, plan) = prepare(args)?;
    let mut dir = RunDir::create(&rc.nn.out, rc.nn.force)?;
    let ctx = GpuContext::new(&BackendChoice {
        backend: rc.nn.backend.clone(),
        adapter: rc.nn.adapter.clone(),
    })?;
    let as_err = |e: crate::nn::merge::MergeError| DualityError::Plan(e.to_string());
    let parts = crate::nn::merge::load_parts(files, &rc.nn, &prep).map_err(as_err)?;
    let res = crate::nn::merge::combine(parts).map_err(as_err)?;
    let merge_s = t.elapsed().as_secs_f64();
    let o = run_pipeline_in(
        &rc,
        prep,
        plan,
        &ctx,
        true,
        &mut dir,
        NnSource::Given(Box::new(res)),
    )?;
    drop(dir);
    println!(
        "merge: {} shards of {} members combined in {merge_s:.2} s",
        files.len(),
        rc.nn.ensemble
    );
    for line in summary_lines(&rc, &o) {
        println!("{line}");
    }
    Ok(())
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map(|x| format!("{x:.prec$}"))
        .unwrap_or_else(|| "—".into())
}

/// The terminal summary: the network against its dual first, then the dictionary,
/// the per-class table, findings and where the files are.
pub fn summary_lines(rc: &RunConfig, o: &RunOutcome) -> Vec<String> {
    let d = &o.dictionary;
    let m = &o.comparison.metrics;
    let t = &o.phases;
    let zline = |name: &str, z: &MaxZ| {
        format!(
            "  {name:<18} means max z = {:.2} (class {}, step {}), powers max z = {:.2} (class {}, step {})",
            z.mean_max_z, z.mean_mode, z.mean_step, z.power_max_z, z.power_mode, z.power_step
        )
    };
    let mut v = vec![
        format!(
            "duality run: {} members × width {} × depth {} on {} ({}); {} steps = {:.2} e-folds; dual: {} fields × {}³ patches, {:?} matching",
            rc.nn.ensemble,
            rc.nn.width,
            rc.nn.depth,
            o.nn.adapter.name,
            o.nn.adapter.backend,
            rc.nn.steps,
            o.plan.efolds,
            o.plan.fields.len(),
            o.plan.config.grid,
            o.plan.matching
        ),
        zline("network vs lattice", &m.nn_vs_lattice),
        zline("network vs theory", &m.nn_vs_theory),
        zline("lattice vs theory", &m.lattice_vs_theory),
        format!(
            "  dictionary   H = {:.5} (H_d = {}), Λ = {:.5}, γ = {:.5}, e-folds/step = {:.5}; lattice H = {:.5}, k_max/(aH) = {:.3}",
            d.hubble,
            fmt_opt(d.hubble_d, 5),
            d.lambda,
            d.gamma,
            d.efolds_per_step,
            o.plan.hubble,
            o.plan.gradient
        ),
        format!(
            "  {:>5} {:>10} {:>10} {:>9} {:>9} {:>9} {:>16} {:>16}",
            "class",
            "κ",
            "lattice m²",
            "z nn–lat",
            "z nn–th",
            "z lat–th",
            "m² fit (mean)",
            "m² fit (fluct)"
        ),
    ];
    let fm = |f: Option<&super::fit::ModeFit>| match f.and_then(|f| f.continuum) {
        Some(c) => format!("{:.4}±{:.1e}", c.m2, c.m2_err),
        None => "—".into(),
    };
    for c in &m.classes {
        let members = o
            .member_fits
            .get(c.mode)
            .and_then(|m| m.m2)
            .map(|s| format!("{:.4} ({:.1e})", s.mean, s.sd))
            .unwrap_or_else(|| "—".into());
        v.push(format!(
            "  {:>5} {:>10.5} {:>10.5} {:>9.2} {:>9.2} {:>9.2} {:>16} {:>16} {:>18}{}",
            c.mode,
            c.kappa,
            c.m2,
            c.nn_vs_lattice.max(),
            c.nn_vs_theory.max(),
            c.lattice_vs_theory.max(),
            fm(o.fits.mean.get(c.mode)),
            fm(o.fits.fluctuations.get(c.mode)),
            members,
            if c.finite_width { "  finite width" } else { "" }
        ));
    }
    if let Some(fw) = &o.finite_width {
        v.push(format!(
            "  finite width disorder dual ({} members' frozen NTKs): per class, network vs free dual max z → network vs disorder dual max |ΔP|/se, and the part of the departure disorder explains; member NTK drift {:.2e} ± {:.1e}",
            fw.members,
            fw.ntk_drift_member_mean.unwrap_or(f64::NAN),
            fw.ntk_drift_member_sd.unwrap_or(f64::NAN)
        ));
        for c in &fw.classes {
            v.push(format!(
                "  {:>5} {:>9.2} → {:>6.2}   explained {:>6.1}%",
                c.mode,
                c.nn_vs_free_power_max_z,
                c.nn_vs_disorder_power_max_dev_se,
                100.0 * c.disorder_explained_fraction
            ));
        }
    }
    for f in &m.findings {
        v.push(format!("  finding      {f}"));
    }
    for f in &d.flags {
        v.push(format!("  warning      {f}"));
    }
    v.push(format!(
        "  timings      train {:.1} s ({:.2} GFLOP/s), lattice {:.1} s ({:.2e} site-updates/s), total {:.1} s",
        t.train_s,
        o.nn.timings.gflop_per_s,
        t.lattice_s,
        o.lattice.timings.site_updates_per_s,
        t.total_s
    ));
    v.push(format!(
        "  files        {0}/index.html, {0}/report.json, {0}/compare/, {0}/nn/, {0}/lattice/",
        rc.nn.out.display()
    ));
    v
}
