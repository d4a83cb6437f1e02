//! `nncosmo-gpu sweep`: the network side and its EFT fits over a grid of
//! hyperparameters, one row per grid point per mode in `sweep/eft.csv`.

use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use super::DualityError;
use super::dictionary::Dictionary;
use super::duals::duals_of;
use super::fit::ModeFit;
use super::run::train_and_fit;
use super::sweep_summary::sweep_plots;
use super::width_laws::{self, WidthRow};
use crate::cli::sweep::SweepArgs;
use crate::config::run::sweep_defaults;
use crate::config::sweep::SweepConfig;
use crate::gpu::GpuContext;
use crate::report::csv::sci;
use crate::report::html::Page;
use crate::report::{CsvTable, RunDir, RunStatus, write_atomic, write_json};

// The summary lives in its own module; its old paths still work.
pub use super::sweep_summary::{LambdaEta, M2Dev, SweepMetrics, sweep_metrics};

/// One row of `sweep/eft.csv`.
#[derive(Clone, Debug, Serialize)]
pub struct EftRow {
    pub point: usize,
    pub repeat: usize,
    pub lr: f64,
    pub momentum: f64,
    pub width: usize,
    pub depth: usize,
    pub ensemble: usize,
    pub mode: Option<usize>,
    pub kappa_theory: f64,
    pub h_eff: f64,
    pub h_eff_err: f64,
    pub m2_eff: f64,
    pub m2_eff_err: f64,
    pub lambda_eff: f64,
    pub lambda_eta: f64,
    pub h_theory: f64,
    pub h_discrete: f64,
    pub m2_discrete: f64,
    pub continuum_ok: bool,
    pub status: String,
}

/// One grid point's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct PointResult {
    pub point: usize,
    pub repeat: usize,
    pub values: serde_json::Value,
    pub status: String,
    pub ntk_final_drift: Option<f64>,
    pub seconds: f64,
}

fn clean(s: &str) -> String {
    s.replace([',', '\n'], ";")
}

/// A row of `sweep/eft.csv`: an `EftRow` with the header's names (`H_eff`, ...)
/// and the status on one cell.
#[derive(Default, Serialize)]
struct EftCsv {
    point: usize,
    repeat: usize,
    #[serde(serialize_with = "sci")]
    lr: f64,
    #[serde(serialize_with = "sci")]
    momentum: f64,
    width: usize,
    depth: usize,
    ensemble: usize,
    mode: Option<usize>,
    #[serde(serialize_with = "sci")]
    kappa_theory: f64,
    #[serde(rename = "H_eff", serialize_with = "sci")]
    h_eff: f64,
    #[serde(rename = "H_eff_err", serialize_with = "sci")]
    h_eff_err: f64,
    #[serde(serialize_with = "sci")]
    m2_eff: f64,
    #[serde(serialize_with = "sci")]
    m2_eff_err: f64,
    #[serde(rename = "Lambda_eff", serialize_with = "sci")]
    lambda_eff: f64,
    #[serde(rename = "Lambda_eta", serialize_with = "sci")]
    lambda_eta: f64,
    #[serde(rename = "H_theory", serialize_with = "sci")]
    h_theory: f64,
    #[serde(rename = "H_discrete", serialize_with = "sci")]
    h_discrete: f64,
    #[serde(serialize_with = "sci")]
    m2_discrete: f64,
    status: String,
}

fn table(rows: &[EftRow]) -> CsvTable<EftCsv> {
    rows.iter()
        .map(|r| EftCsv {
            point: r.point,
            repeat: r.repeat,
            lr: r.lr,
            momentum: r.momentum,
            width: r.width,
            depth: r.depth,
            ensemble: r.ensemble,
            mode: r.mode,
            kappa_theory: r.kappa_theory,
            h_eff: r.h_eff,
            h_eff_err: r.h_eff_err,
            m2_eff: r.m2_eff,
            m2_eff_err: r.m2_eff_err,
            lambda_eff: r.lambda_eff,
            lambda_eta: r.lambda_eta,
            h_theory: r.h_theory,
            h_discrete: r.h_discrete,
            m2_discrete: r.m2_discrete,
            status: clean(&r.status),
        })
        .collect()
}

/// What a sweep produces: the EFT rows, the points, and with a width axis the
/// finite-width rows.
pub type SweepResults = (Vec<EftRow>, Vec<PointResult>, Vec<WidthRow>);

/// Runs the sweep on a device; publishes `sweep/eft.csv` (and with a width axis
/// `sweep/finite_width.csv`) into `dir` after every point, as a generation whose
/// `last_step` is the number of finished (point, repeat) runs.
pub fn run_sweep(
    sc: &SweepConfig,
    ctx: &GpuContext,
    progress: bool,
    dir: &mut RunDir,
) -> Result<SweepResults, DualityError> {
    let mut rows: Vec<EftRow> = Vec::new();
    let mut points = Vec::new();
    let mut width_rows: Vec<WidthRow> = Vec::new();
    let width_axis = sc.axes.iter().any(|a| a.key == "width");
    let grid = sc.points();
    let args = &sc.base_args;
    for (pi, extra) in grid.iter().enumerate() {
        for rep in 0..sc.repeats {
            let t0 = Instant::now();
            let mut extra = extra.clone();
            if rep > 0 {
                let seed = extra
                    .iter()
                    .find(|(k, _)| k == "seed")
                    .and_then(|(_, v)| v.as_integer())
                    .map(|s| s as u64)
                    .unwrap_or(sc.base.nn.seed);
                extra.retain(|(k, _)| k != "seed");
                extra.push((
                    "seed".into(),
                    toml::Value::Integer((seed + rep as u64) as i64),
                ));
            }
            let values = json!(
                extra
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v.to_string())))
                    .collect::<serde_json::Map<_, _>>()
            );
            let label = extra
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let status;
            let mut drift = None;
            let resolved = args
                .resolve_with_defaults(&extra, &sweep_defaults())
                .map_err(DualityError::from)
                .and_then(|rc| {
                    let prep = crate::nn::run::prepare(&rc.nn)?;
                    Ok((rc, prep))
                });
            match resolved {
                Err(e) => {
                    status = format!("refused: {e}");
                    rows.push(failed_row(pi, rep, sc, &status));
                }
                Ok((rc, prep)) => {
                    let c = &rc.nn;
                    match train_and_fit(c, &sc.base.target.output.out, prep, ctx, None) {
                        Err(e) => {
                            status = format!("failed: {e}");
                            let mut r = failed_row(pi, rep, sc, &status);
                            (r.lr, r.momentum, r.width, r.depth, r.ensemble) =
                                (c.lr, c.momentum, c.width, c.depth, c.ensemble);
                            rows.push(r);
                        }
                        Ok((res, _, fits)) => {
                            status = "ok".into();
                            drift = res.ntk.last().map(|n| n.drift);
                            if width_axis {
                                // The duals of this point: its departure from the free
                                // and the disorder dual as a function of width.
                                let plan = super::plan::plan(&rc, &res.modes)?;
                                let (cmp, finite) = duals_of(&rc, &plan, &res, ctx)?;
                                width_rows.push(width_laws::row_of(
                                    c.width,
                                    rep,
                                    &res,
                                    &cmp,
                                    finite.as_ref(),
                                    &super::members::member_fits(&res, false),
                                ));
                            }
                            let dict = Dictionary::new(c.lr, c.momentum, &res.modes.kappa);
                            for (j, fl) in fits.fluctuations.iter().enumerate() {
                                let md = &dict.modes[j];
                                let f = pick_fit(&fits.mean[j], fl);
                                let p = f.continuum;
                                let nan = f64::NAN;
                                rows.push(EftRow {
                                    point: pi,
                                    repeat: rep,
                                    lr: c.lr,
                                    momentum: c.momentum,
                                    width: c.width,
                                    depth: c.depth,
                                    ensemble: c.ensemble,
                                    mode: Some(j),
                                    kappa_theory: md.kappa,
                                    h_eff: p.map(|p| p.hubble).unwrap_or(nan),
                                    h_eff_err: p.map(|p| p.hubble_err).unwrap_or(nan),
                                    m2_eff: p.map(|p| p.m2).unwrap_or(nan),
                                    m2_eff_err: p.map(|p| p.m2_err).unwrap_or(nan),
                                    lambda_eff: p.map(|p| p.lambda).unwrap_or(nan),
                                    lambda_eta: p.map(|p| p.lambda * c.lr).unwrap_or(nan),
                                    h_theory: dict.hubble,
                                    h_discrete: dict.hubble_d.unwrap_or(f64::INFINITY),
                                    m2_discrete: md
                                        .discrete
                                        .hubble_m2()
                                        .map(|x| x.1)
                                        .unwrap_or(nan),
                                    continuum_ok: md.continuum_ok,
                                    status: if f.status == "ok" {
                                        if std::ptr::eq(f, &fits.mean[j]) {
                                            "ok (mean fit)".into()
                                        } else {
                                            "ok (fluctuation fit)".into()
                                        }
                                    } else {
                                        f.status.clone()
                                    },
                                });
                            }
                        }
                    }
                }
            }
            if progress {
                eprintln!(
                    "sweep point {}/{} repeat {}: {label}: {} ({:.1} s)",
                    pi + 1,
                    grid.len(),
                    rep,
                    status,
                    t0.elapsed().as_secs_f64()
                );
            }
            points.push(PointResult {
                point: pi,
                repeat: rep,
                values,
                status,
                ntk_final_drift: drift,
                seconds: t0.elapsed().as_secs_f64(),
            });
            dir.publish(RunStatus::Interrupted, points.len(), |d| {
                write_rows(&d.join("sweep"), &rows, &width_rows)
            })?;
        }
    }
    Ok((rows, points, width_rows))
}

/// `eft.csv`, and `finite_width.csv` once it has rows, into `sweep`.
fn write_rows(
    sweep: &std::path::Path,
    rows: &[EftRow],
    width_rows: &[WidthRow],
) -> Result<(), DualityError> {
    table(rows).write(&sweep.join("eft.csv"))?;
    if !width_rows.is_empty() {
        width_laws::table(width_rows).write(&sweep.join("finite_width.csv"))?;
    }
    Ok(())
}

/// The more precise of a mode's two fits (smaller standard error of m²): the mean
/// for modes the target drives (its fit has only O(1/width) corrections), the pooled
/// fluctuations for modes whose mean is ensemble noise.
/// The mean's fit where the mean carries the mode (its m² resolved to 10 %: the
/// modes the target drives), else the members' pooled fluctuations. The pooled fit
/// has the smaller standard error, but at finite width the members' fluctuations
/// are sourced by the driven modes (DESIGN §4.4), which biases it.
fn pick_fit<'a>(mean: &'a ModeFit, fluct: &'a ModeFit) -> &'a ModeFit {
    match (mean.continuum, fluct.continuum) {
        (Some(m), _) if m.m2_err <= 0.1 * m.m2.abs() => mean,
        (Some(_), None) => mean,
        _ => fluct,
    }
}

fn failed_row(point: usize, repeat: usize, sc: &SweepConfig, status: &str) -> EftRow {
    let nan = f64::NAN;
    let b = &sc.base.nn;
    EftRow {
        point,
        repeat,
        lr: b.lr,
        momentum: b.momentum,
        width: b.width,
        depth: b.depth,
        ensemble: b.ensemble,
        mode: None,
        kappa_theory: nan,
        h_eff: nan,
        h_eff_err: nan,
        m2_eff: nan,
        m2_eff_err: nan,
        lambda_eff: nan,
        lambda_eta: nan,
        h_theory: nan,
        h_discrete: nan,
        m2_discrete: nan,
        continuum_ok: false,
        status: status.to_string(),
    }
}

/// `nncosmo-gpu sweep`.
pub fn run_cli(args: &SweepArgs) -> Result<(), DualityError> {
    let sc = args.resolve()?;
    if sc.base.nn.shard.is_some() || !sc.base.nn.devices.is_one() {
        let flag = if sc.base.nn.shard.is_some() {
            "shard"
        } else {
            "devices"
        };
        return Err(crate::config::ConfigError::invalid(
            flag,
            "is not supported by sweep (only by nn and run)",
        )
        .into());
    }
    let out = sc.base.target.output.out.clone();
    let mut dir = RunDir::create(&out, sc.base.target.output.force)?;
    dir.set_report("sweep/report.json");
    let ctx = GpuContext::new(&sc.base.target.device)?;
    let t0 = Instant::now();
    let (rows, points, width_rows) = run_sweep(&sc, &ctx, true, &mut dir)?;
    let metrics = sweep_metrics(&rows, &points);
    let mut figs = sweep_plots(&rows, &points);
    let laws = (!width_rows.is_empty()).then(|| width_laws::laws(&width_rows));
    if let Some(l) = &laws {
        figs.push((
            "sweep_finite_width_laws.svg".to_string(),
            width_laws::plot(&width_rows, l).to_svg(),
            "Member-to-member NTK spread, per-member NTK drift and the ensemble mean's deviation from infinite-width theory against width, with fitted power laws. Agreement with the expected laws looks like slopes −1/2, −1/2 and −1.".to_string(),
        ));
    }
    dir.publish(RunStatus::Complete, points.len(), |d| {
        write_rows(&d.join("sweep"), &rows, &width_rows)?;
        for (name, svg, _) in &figs {
            write_atomic(&d.join("sweep").join(name), svg.as_bytes())?;
        }
        let report = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "config": sc.base.nn,
            "axes": sc.axes.iter().map(|a| json!({"key": a.key, "values": a.values.iter().map(|v| v.to_string()).collect::<Vec<_>>()})).collect::<Vec<_>>(),
            "repeats": sc.repeats,
            "points": points,
            "metrics": &metrics,
            "finite_width_laws": &laws,
            "finite_width_rows": &width_rows,
            "adapter": ctx.adapter,
            "timings": {"total_s": t0.elapsed().as_secs_f64()},
        });
        write_json(&d.join("sweep/report.json"), &report)?;
        let mut pg = Page::new("nncosmo-gpu sweep");
        pg.heading("Metrics");
        pg.preformatted(&serde_json::to_string_pretty(&metrics).unwrap_or_default());
        pg.heading("Plots");
        for (_, svg, cap) in &figs {
            pg.figure(svg, cap);
        }
        write_atomic(&d.join("sweep/index.html"), pg.render().as_bytes())?;
        Ok::<(), DualityError>(())
    })?;
    drop(dir);
    println!(
        "sweep: {} points × {} repeats in {:.1} s ({} failed); H_eff (mean fits) within {:.2}% of (1−β)/(3√η) in the continuum regime; pooled-fluctuation fits within {:.2}%",
        sc.points().len(),
        sc.repeats,
        t0.elapsed().as_secs_f64(),
        metrics.failed_points,
        100.0 * metrics.h_eff_max_rel_dev_continuum,
        100.0 * metrics.h_eff_max_rel_dev_fluctuation_fits
    );
    for l in &metrics.lambda_eta {
        println!(
            "  β = {}: Λ_eff·η = {:.6} (theory {:.6}), max spread {:.2}% over {} rows",
            l.momentum,
            l.mean,
            l.theory,
            100.0 * l.max_rel_spread,
            l.rows
        );
    }
    for w in &metrics.m2_dev_by_width {
        println!(
            "  width {}: mean |m²_eff/κ − 1| over the modes fitted from the ensemble mean = {:.3e} (mode 0: {:.3e})",
            w.width, w.signal_modes_mean_rel_dev, w.mode0_rel_dev
        );
    }
    if let Some(l) = &laws {
        for (name, law) in [
            ("NTK spread", l.ntk_spread),
            ("NTK drift per member", l.ntk_drift),
            ("mean deviation", l.mean_dev_rel),
        ] {
            match law {
                Some(p) => println!(
                    "  {name} ∝ n^({:.3} ± {:.3}) (expected {}) over {} rows",
                    p.exponent, p.exponent_err, p.expected, p.rows
                ),
                None => println!("  {name}: no law (fewer than 3 widths with positive values)"),
            }
        }
    }
    println!(
        "  files: {0}/sweep/eft.csv, {0}/sweep/report.json, {0}/sweep/index.html{1}",
        out.display(),
        if laws.is_some() {
            ", sweep/finite_width.csv"
        } else {
            ""
        }
    );
    Ok(())
}
