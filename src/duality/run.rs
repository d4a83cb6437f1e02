//! `nncosmo-gpu run`: the whole pipeline, its files and its terminal summary.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::DualityError;
use super::compare::{Comparison, NetworkFits, NnSeries, compare, network_fits};
use super::dictionary::Dictionary;
use super::plan::{LatticePlan, nn_dual_power, plan};
use super::plots;
use crate::config::run::{RunArgs, RunConfig};
use crate::gpu::{BackendChoice, GpuContext};
use crate::lattice::{Lattice, LatticeResults, output as lat_out};
use crate::nn::run::{NnResults, Prepared, RunError, train, write_tables};
use crate::report::{prepare_out_dir, write_atomic, write_json};

/// What a finished run hands back (tests and sweeps read it).
pub struct RunOutcome {
    pub nn: NnResults,
    pub dictionary: Dictionary,
    pub fits: NetworkFits,
    pub plan: LatticePlan,
    pub lattice: LatticeResults,
    pub comparison: Comparison,
    pub report: serde_json::Value,
}

#[derive(Default, serde::Serialize)]
struct Phases {
    setup_s: f64,
    train_s: f64,
    fit_s: f64,
    lattice_setup_s: f64,
    lattice_s: f64,
    compare_s: f64,
    write_s: f64,
    total_s: f64,
}

/// Trains the network and returns it with its series and fits; a diverged run
/// keeps its nn tables on disk (when `out` is given) and is an error.
pub fn train_and_fit(
    cfg: &crate::config::nn::NnConfig,
    prep: Prepared,
    ctx: &GpuContext,
    out: Option<&Path>,
) -> Result<(NnResults, NnSeries, NetworkFits), DualityError> {
    let mut last = Instant::now();
    let res = train(cfg, prep, ctx, &mut |r| {
        if let Some(o) = out
            && last.elapsed().as_secs_f64() > 10.0
        {
            write_tables(r, o)?;
            last = Instant::now();
        }
        Ok(())
    })?;
    if let Some((step, value)) = res.diverged {
        if let Some(o) = out {
            write_tables(&res, o)?;
        }
        return Err(RunError::Diverged {
            step,
            value,
            last_good: res.records.last().map(|r| r.step).unwrap_or(0),
            out: out.map(|o| o.display().to_string()).unwrap_or_default(),
        }
        .into());
    }
    let series = NnSeries::new(&res);
    let fits = network_fits(&series, cfg.lr, cfg.momentum);
    Ok((res, series, fits))
}

/// The pipeline on a given device; writes everything under `cfg.nn.out`.
pub fn run_pipeline(
    rc: &RunConfig,
    prep: Prepared,
    ctx: &GpuContext,
    progress: bool,
) -> Result<RunOutcome, DualityError> {
    let t_all = Instant::now();
    let out = rc.nn.out.clone();
    let mut ph = Phases::default();
    let t = Instant::now();
    let (res, series, fits) = train_and_fit(&rc.nn, prep, ctx, Some(&out))?;
    ph.train_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let dict = Dictionary::new(rc.nn.lr, rc.nn.momentum, &res.modes.kappa);
    ph.fit_s = t.elapsed().as_secs_f64();
    if progress {
        for f in &dict.flags {
            eprintln!("warning: {f}");
        }
    }

    let t = Instant::now();
    let kappa0 = res.modes.kappa[0];
    let b0 = series.mean[0][0];
    let lp = plan(rc, dict.hubble, kappa0, b0, res.modes.kappa.len() - 1)?;
    let mut lat = Lattice::new(ctx, &lp.config)?;
    let p0: Vec<f64> = series.power.iter().map(|p| p[0]).collect();
    lat.set_initial_spectrum(&nn_dual_power(&p0, lp.dk))?;
    ph.lattice_setup_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut lres = lat.run(progress)?;
    lres.timings.setup_s = ph.lattice_setup_s;
    ph.lattice_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let cmp = compare(&res, &series, &fits, &dict, &lp, &lres);
    ph.compare_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    write_tables(&res, &out)?;
    lat_out::background_table(&lres).write(&out.join("lattice/background.csv"))?;
    lat_out::spectrum_table(&lres).write(&out.join("lattice/spectrum.csv"))?;
    cmp.background.write(&out.join("compare/background.csv"))?;
    cmp.modes.write(&out.join("compare/modes.csv"))?;
    let figures = plots::run_plots(&res, &series, &dict, &lp, &lres, &cmp);
    for (name, svg, _) in &figures {
        write_atomic(&out.join(name), svg.as_bytes())?;
    }
    ph.write_s = t.elapsed().as_secs_f64();
    ph.total_s = t_all.elapsed().as_secs_f64();

    let mut lattice_cfg = serde_json::to_value(&lp.config).unwrap_or_default();
    if let (Some(o), Ok(serde_json::Value::Object(p))) =
        (lattice_cfg.as_object_mut(), serde_json::to_value(&lp))
    {
        o.extend(p);
    }
    let mut config = serde_json::to_value(&rc.nn).unwrap_or_default();
    if let Some(o) = config.as_object_mut() {
        o.insert("lattice".into(), lattice_cfg);
    }
    let report = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "config": config,
        "dictionary": dict,
        "fits": {
            "network": fits,
            "lattice": cmp.lattice_fits,
        },
        "metrics": cmp.metrics,
        "adapter": res.adapter,
        "timings": {
            "phases": ph,
            "nn": res.timings,
            "lattice": lres.timings,
            "gflop_per_s": res.timings.gflop_per_s,
            "site_updates_per_s": lres.timings.site_updates_per_s,
        },
        "nn": res.summary(),
        "lattice": lat_out::lattice_section(&lp.config, &lres),
    });
    write_json(&out.join("report.json"), &report)?;
    let html = super::plots::index_html(&report, &dict, &fits, &cmp, &figures);
    write_atomic(&out.join("index.html"), html.as_bytes())?;
    Ok(RunOutcome {
        nn: res,
        dictionary: dict,
        fits,
        plan: lp,
        lattice: lres,
        comparison: cmp,
        report,
    })
}

/// Validates everything that can be checked without the GPU; the network's
/// analytic set-up is kept for training.
pub fn prepare(args: &RunArgs) -> Result<(RunConfig, Prepared), DualityError> {
    let rc = args.resolve()?;
    let prep = crate::nn::run::prepare(&rc.nn)?;
    let kappa = &prep.modes.kappa;
    // The lattice plan depends on the network only through κ₀ and B_NN(0) (which
    // does not affect any check), so it is validated before any training.
    let dict = Dictionary::new(rc.nn.lr, rc.nn.momentum, kappa);
    plan(&rc, dict.hubble, kappa[0], 0.0, kappa.len() - 1)?;
    Ok((rc, prep))
}

/// `nncosmo-gpu run` (and `nncosmo-gpu` with no subcommand).
pub fn run_cli(args: &RunArgs) -> Result<(), DualityError> {
    let (rc, prep) = prepare(args)?;
    prepare_out_dir(&rc.nn.out, rc.nn.force)?;
    let ctx = GpuContext::new(&BackendChoice {
        backend: rc.nn.backend.clone(),
        adapter: rc.nn.adapter.clone(),
    })?;
    let o = run_pipeline(&rc, prep, &ctx, true)?;
    for line in summary_lines(&rc, &o) {
        println!("{line}");
    }
    Ok(())
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map(|x| format!("{x:.prec$}"))
        .unwrap_or_else(|| "—".into())
}

/// The terminal summary: dictionary, key metrics, where the files are.
pub fn summary_lines(rc: &RunConfig, o: &RunOutcome) -> Vec<String> {
    let d = &o.dictionary;
    let m = &o.comparison.metrics;
    let t = &o.report["timings"]["phases"];
    let mut v = vec![
        format!(
            "duality run: {} members × width {} × depth {} on {} ({}); {} steps = {:.2} e-folds; lattice {}³",
            rc.nn.ensemble,
            rc.nn.width,
            rc.nn.depth,
            o.nn.adapter.name,
            o.nn.adapter.backend,
            rc.nn.steps,
            o.plan.efolds,
            o.plan.config.grid
        ),
        format!(
            "  dictionary   H = {:.5} (H_d = {}), Λ = {:.5}, γ = {:.5}, e-folds/step = {:.5}, m² = κ₀ = {:.5} (m_d² = {})",
            d.hubble,
            fmt_opt(d.hubble_d, 5),
            d.lambda,
            d.gamma,
            d.efolds_per_step,
            o.nn.modes.kappa[0],
            fmt_opt(d.m2_d, 5)
        ),
    ];
    v.push(format!(
        "  {:>4} {:>10} {:>10} {:>16} {:>16} {:>10} {:>10} {:>8}",
        "mode",
        "κ",
        "m_d²",
        "m² fit (mean)",
        "m² fit (fluct)",
        "lattice m²",
        "nn vs SH",
        "N_e(k/a)"
    ));
    for (j, mm) in o.comparison.mode_metrics.iter().enumerate() {
        let fm = |f: &super::fit::ModeFit| match f.continuum {
            Some(c) => format!("{:.4}±{:.1e}", c.m2, c.m2_err),
            None => "failed".into(),
        };
        let lat_m2 = if j == 0 {
            o.comparison.lattice_fits.background.discrete.as_ref()
        } else {
            o.comparison
                .lattice_fits
                .modes
                .get(j - 1)
                .and_then(|f| f.discrete.as_ref())
        }
        .and_then(|d| d.hubble_m2())
        .map(|x| x.1);
        v.push(format!(
            "  {:>4} {:>10.5} {:>10} {:>16} {:>16} {:>10} {:>10.2e} {:>8.2}",
            j,
            mm.kappa,
            fmt_opt(d.modes[j].discrete.hubble_m2().map(|x| x.1), 5),
            fm(&o.fits.mean[j]),
            fm(&o.fits.fluctuations[j]),
            fmt_opt(lat_m2, 4),
            mm.nn_vs_superhorizon,
            mm.gradient_irrelevant_efold
        ));
    }
    v.push(format!(
        "  background   max |B_NN − B_L|/|B_NN(0)| = {:.3}% (network vs continuum theory {:.3}%, lattice vs theory {:.3}%)",
        100.0 * o.comparison.background_max_rel_dev,
        100.0 * m["background_nn_vs_theory"].as_f64().unwrap_or(f64::NAN),
        100.0 * m["background_lattice_vs_theory"].as_f64().unwrap_or(f64::NAN),
    ));
    let all_max = o
        .comparison
        .mode_metrics
        .iter()
        .map(|mm| mm.nn_vs_superhorizon)
        .fold(0.0, f64::max);
    if m["superhorizon_fitted_modes"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
    {
        v.push(format!(
            "  modes        superhorizon dual vs network growth: max {:.3}% over fitted modes {}",
            100.0 * m["superhorizon_vs_nn_max"].as_f64().unwrap_or(f64::NAN),
            m["superhorizon_fitted_modes"]
        ));
    } else {
        v.push(format!(
            "  modes        no mode is in the continuum regime, where the superhorizon dual applies (max deviation over all modes {:.3}%)",
            100.0 * all_max
        ));
    }
    if let Some(why) = m["explanation"].as_array() {
        for w in why {
            v.push(format!("  why          {}", w.as_str().unwrap_or("")));
        }
    }
    for f in &d.flags {
        v.push(format!("  warning      {f}"));
    }
    v.push(format!(
        "  timings      train {:.1} s ({:.2} GFLOP/s), lattice {:.1} s ({:.2e} site-updates/s), total {:.1} s",
        t["train_s"].as_f64().unwrap_or(0.0),
        o.nn.timings.gflop_per_s,
        t["lattice_s"].as_f64().unwrap_or(0.0),
        o.lattice.timings.site_updates_per_s,
        t["total_s"].as_f64().unwrap_or(0.0)
    ));
    v.push(format!(
        "  files        {0}/index.html, {0}/report.json, {0}/compare/, {0}/nn/, {0}/lattice/",
        rc.nn.out.display()
    ));
    v
}
