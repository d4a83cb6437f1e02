//! `nncosmo-gpu run` and the `run` half of `merge`: validation before the GPU, a
//! shard's training, the whole pipeline, and the terminal summary.

use std::time::Instant;

use serde_json::json;

use super::DualityError;
use super::compare::MaxZ;
use super::plan::{DualPlan, plan};
use super::run::{NnSource, RunOutcome, run_pipeline_in};
use crate::cli::run::RunArgs;
use crate::config::run::RunConfig;
use crate::gpu::GpuContext;
use crate::nn::run::Prepared;
use crate::report::{RunDir, RunStatus};

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
    let out = &rc.target.output.out;
    let ckpt = crate::nn::cli::checkpoint_plan(&rc.nn, out, "run", config.clone(), true)?;
    let merged = args.merged()?;
    let merged = json!({"nn": merged.nn, "lattice": merged.lattice});
    // Refuse an existing, busy or unwritable --out before the GPU (a resumed run
    // continues in its own directory).
    let force = rc.target.output.force;
    let mut dir = crate::checkpoint::open_run_dir(out, force, ckpt.resume.as_ref())?;
    let ctxs = crate::nn::cli::open_devices(&rc.nn, &rc.target.device)?;
    if rc.nn.shard.is_some() {
        let publish = crate::nn::cli::Publish {
            command: "run",
            out,
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
            rc.target
                .output
                .out
                .join(crate::nn::shard::SHARD_DIR)
                .display()
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
    let mut dir = RunDir::create(&rc.target.output.out, rc.target.output.force)?;
    let ctx = GpuContext::new(&rc.target.device)?;
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
    // The merged statistics beside the outputs, as a shard covering every member.
    let config = serde_json::to_value(&rc).unwrap_or_default();
    let merged = json!({"nn": args.nn, "lattice": args.lattice});
    dir.publish(RunStatus::Complete, o.nn.last_step(), |d| {
        let sd = d.join(crate::nn::shard::SHARD_DIR);
        crate::nn::shard::write(&o.nn, &sd, "run", &config, merged, RunStatus::Complete)
            .map_err(|e| DualityError::Nn(e.into()))
    })?;
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
    // Several devices or merged shards: the slowest part's training wall, and the
    // whole ensemble's throughput over it.
    let (train_s, parts) = match o.nn.devices {
        1 => (t.train_s, String::new()),
        k => (o.nn.timings.train_s, format!(" over {k} devices or shards")),
    };
    v.push(format!(
        "  timings      train {:.1} s ({:.2} GFLOP/s{parts}), lattice {:.1} s ({:.2e} site-updates/s), total {:.1} s",
        train_s,
        o.nn.timings.gflop_per_s,
        t.lattice_s,
        o.lattice.timings.site_updates_per_s,
        t.total_s
    ));
    v.push(format!(
        "  files        {0}/index.html, {0}/report.json, {0}/compare/, {0}/nn/, {0}/lattice/",
        rc.target.output.out.display()
    ));
    v
}
