//! `nncosmo-gpu sweep`: the network side and its EFT fits over a grid of
//! hyperparameters, one row per grid point per mode in `sweep/eft.csv`.

use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use super::DualityError;
use super::dictionary::Dictionary;
use super::fit::ModeFit;
use super::run::{duals_of, train_and_fit};
use super::width_laws::{self, WidthRow};
use crate::config::sweep::{SweepArgs, SweepConfig};
use crate::gpu::{BackendChoice, GpuContext};
use crate::report::html::Page;
use crate::report::plots::{Plot, Series, Style};
use crate::report::{CsvTable, RunDir, RunStatus, write_atomic, write_json};
use crate::row;

pub const EFT_HEADER: &[&str] = &[
    "point",
    "repeat",
    "lr",
    "momentum",
    "width",
    "depth",
    "ensemble",
    "mode",
    "kappa_theory",
    "H_eff",
    "H_eff_err",
    "m2_eff",
    "m2_eff_err",
    "Lambda_eff",
    "Lambda_eta",
    "H_theory",
    "H_discrete",
    "m2_discrete",
    "status",
];

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

fn table(rows: &[EftRow]) -> CsvTable {
    let mut t = CsvTable::new(EFT_HEADER);
    for r in rows {
        let mode = r.mode.map(|m| m.to_string()).unwrap_or_default();
        let status = clean(&r.status);
        t.push(row![
            r.point,
            r.repeat,
            r.lr,
            r.momentum,
            r.width,
            r.depth,
            r.ensemble,
            mode.as_str(),
            r.kappa_theory,
            r.h_eff,
            r.h_eff_err,
            r.m2_eff,
            r.m2_eff_err,
            r.lambda_eff,
            r.lambda_eta,
            r.h_theory,
            r.h_discrete,
            r.m2_discrete,
            status.as_str()
        ]);
    }
    t
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
                .resolve_with(&extra)
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
                    match train_and_fit(c, prep, ctx, None) {
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

/// Λ_eff·η at one momentum across the swept learning rates.
#[derive(Clone, Debug, Serialize)]
pub struct LambdaEta {
    pub momentum: f64,
    pub mean: f64,
    /// (1 − β)²/3.
    pub theory: f64,
    pub max_rel_spread: f64,
    pub rows: usize,
}

/// m²_eff against κ at one width.
#[derive(Clone, Debug, Serialize)]
pub struct M2Dev {
    pub width: usize,
    /// Mean over the modes fitted from the ensemble mean of |m²_eff/κ − 1|.
    pub signal_modes_mean_rel_dev: f64,
    pub mode0_rel_dev: f64,
}

/// Summary numbers of a sweep.
#[derive(Clone, Debug, Serialize)]
pub struct SweepMetrics {
    pub points: usize,
    pub failed_points: usize,
    #[serde(rename = "H_eff_max_rel_dev_continuum")]
    pub h_eff_max_rel_dev_continuum: f64,
    #[serde(rename = "H_eff_rows_compared")]
    pub h_eff_rows_compared: usize,
    #[serde(rename = "H_eff_max_rel_dev_fluctuation_fits")]
    pub h_eff_max_rel_dev_fluctuation_fits: f64,
    #[serde(rename = "Lambda_eta")]
    pub lambda_eta: Vec<LambdaEta>,
    pub m2_dev_by_width: Vec<M2Dev>,
}

/// Summary numbers of a sweep: how constant Λ·η is across learning rates, how close
/// H_eff is to the continuum line, and how m²_eff approaches κ with width.
pub fn sweep_metrics(rows: &[EftRow], points: &[PointResult]) -> SweepMetrics {
    let ok: Vec<&EftRow> = rows
        .iter()
        .filter(|r| r.status.starts_with("ok") && r.mode.is_some())
        .collect();
    // Rows in the continuum regime whose H is determined to 2 % (light modes with
    // κ ≈ 0 barely move and leave β undetermined), fitted on the ensemble mean: the
    // modes the target drives. Pooled-fluctuation fits carry the finite-width source
    // δΘ·(μ − y) and are summarised separately.
    let determined = |r: &&&EftRow| r.continuum_ok && r.h_eff_err <= 0.02 * r.h_theory;
    let cont: Vec<&&EftRow> = ok
        .iter()
        .filter(determined)
        .filter(|r| r.status == "ok (mean fit)")
        .collect();
    let fluct_dev = ok
        .iter()
        .filter(determined)
        .filter(|r| r.status != "ok (mean fit)")
        .map(|r| (r.h_eff / r.h_theory - 1.0).abs())
        .fold(0.0, f64::max);
    let h_dev = cont
        .iter()
        .map(|r| (r.h_eff / r.h_theory - 1.0).abs())
        .fold(0.0, f64::max);
    // Λ·η per momentum: spread relative to the mean, over the continuum-regime rows.
    let mut momenta: Vec<f64> = cont.iter().map(|r| r.momentum).collect();
    momenta.sort_by(f64::total_cmp);
    momenta.dedup();
    let lambda_eta: Vec<LambdaEta> = momenta
        .iter()
        .map(|&b| {
            let v: Vec<f64> = cont
                .iter()
                .filter(|r| r.momentum == b)
                .map(|r| r.lambda_eta)
                .collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let spread = v.iter().map(|x| (x / mean - 1.0).abs()).fold(0.0, f64::max);
            LambdaEta {
                momentum: b,
                mean,
                theory: (1.0 - b) * (1.0 - b) / 3.0,
                max_rel_spread: spread,
                rows: v.len(),
            }
        })
        .collect();
    // m² deviation per width (mean over modes of |m²_eff/κ − 1|).
    let mut widths: Vec<usize> = ok.iter().map(|r| r.width).collect();
    widths.sort_unstable();
    widths.dedup();
    let m2_dev: Vec<M2Dev> = widths
        .iter()
        .map(|&w| {
            // The modes the target drives, whose rows come from the ensemble-mean fit:
            // fluctuation fits carry a finite-width source bias and noise-only modes
            // are unresolved, so neither measures the approach to κ.
            let v: Vec<f64> = ok
                .iter()
                .filter(|r| r.width == w && r.status.starts_with("ok (mean fit"))
                .map(|r| (r.m2_eff / r.kappa_theory - 1.0).abs())
                .collect();
            let mode0: Vec<f64> = ok
                .iter()
                .filter(|r| r.width == w && r.mode == Some(0))
                .map(|r| (r.m2_eff / r.kappa_theory - 1.0).abs())
                .collect();
            M2Dev {
                width: w,
                signal_modes_mean_rel_dev: v.iter().sum::<f64>() / v.len().max(1) as f64,
                mode0_rel_dev: mode0.iter().sum::<f64>() / mode0.len().max(1) as f64,
            }
        })
        .collect();
    SweepMetrics {
        points: points.len(),
        failed_points: points.iter().filter(|p| p.status != "ok").count(),
        h_eff_max_rel_dev_continuum: h_dev,
        h_eff_rows_compared: cont.len(),
        h_eff_max_rel_dev_fluctuation_fits: fluct_dev,
        lambda_eta,
        m2_dev_by_width: m2_dev,
    }
}

fn sweep_plots(rows: &[EftRow], points: &[PointResult]) -> Vec<(String, String, String)> {
    let ok: Vec<&EftRow> = rows
        .iter()
        .filter(|r| r.status.starts_with("ok") && r.mode.is_some())
        .collect();
    let mut momenta: Vec<f64> = ok.iter().map(|r| r.momentum).collect();
    momenta.sort_by(f64::total_cmp);
    momenta.dedup();
    let mut lrs: Vec<f64> = ok.iter().map(|r| r.lr).collect();
    lrs.sort_by(f64::total_cmp);
    lrs.dedup();
    let mut figs = Vec::new();
    let mut ph = Plot::new("H_eff against the learning rate", "lr η", "H_eff")
        .log_x()
        .log_y();
    let mut pl = Plot::new(
        "Λ_eff·η against the learning rate (flat in the continuum regime)",
        "lr η",
        "Λ_eff·η",
    )
    .log_x();
    for (c, &b) in momenta.iter().enumerate() {
        let sel: Vec<&&EftRow> = ok.iter().filter(|r| r.momentum == b).collect();
        ph.add(Series::new(
            format!("β={b} fits"),
            sel.iter().map(|r| (r.lr, r.h_eff)).collect(),
            Style::Points,
            c,
        ));
        if let (Some(lo), Some(hi)) = (lrs.first(), lrs.last()) {
            let line: Vec<(f64, f64)> = (0..=40)
                .map(|i| {
                    let eta = lo * (hi / lo).powf(i as f64 / 40.0);
                    (eta, (1.0 - b) / (3.0 * eta.sqrt()))
                })
                .collect();
            ph.add(Series::new(
                format!("β={b}: (1−β)/(3√η)"),
                line,
                Style::Dashed,
                c,
            ));
            pl.add(Series::new(
                format!("β={b}: (1−β)²/3"),
                vec![
                    (*lo, (1.0 - b).powi(2) / 3.0),
                    (*hi, (1.0 - b).powi(2) / 3.0),
                ],
                Style::Dashed,
                c,
            ));
        }
        pl.add(Series::new(
            format!("β={b} fits"),
            sel.iter().map(|r| (r.lr, r.lambda_eta)).collect(),
            Style::Points,
            c,
        ));
    }
    figs.push((
        "sweep_H_vs_lr.svg".to_string(),
        ph.to_svg(),
        "Fitted H_eff against η with the continuum line (1−β)/(3√η). Agreement looks like each colour's points on its dashed line."
            .to_string(),
    ));
    figs.push((
        "sweep_Lambda_eta_vs_lr.svg".to_string(),
        pl.to_svg(),
        "Λ_eff·η against η: the cosmological constant is inverse in the learning rate. Agreement looks like points on the flat dashed line (1−β)²/3; a tilt at large η is the discrete regime.".to_string(),
    ));
    let mut modes: Vec<usize> = ok.iter().filter_map(|r| r.mode).collect();
    modes.sort_unstable();
    modes.dedup();
    let mut pm = Plot::new(
        "m²_eff against width, with the infinite-width κ",
        "width",
        "m²_eff",
    )
    .log_x();
    let mut pd = Plot::new(
        "|m²_eff/κ − 1| against 1/width",
        "1/width",
        "relative deviation",
    )
    .log_x()
    .log_y();
    let mut widths: Vec<usize> = ok.iter().map(|r| r.width).collect();
    widths.sort_unstable();
    widths.dedup();
    for &j in modes.iter().take(10) {
        let sel: Vec<&&EftRow> = ok.iter().filter(|r| r.mode == Some(j)).collect();
        pm.add(Series::new(
            format!("j={j}"),
            sel.iter().map(|r| (r.width as f64, r.m2_eff)).collect(),
            Style::Points,
            j,
        ));
        if let (Some(k), Some(lo), Some(hi)) = (
            sel.first().map(|r| r.kappa_theory),
            widths.first(),
            widths.last(),
        ) {
            pm.add(Series::new(
                format!("κ_{j}"),
                vec![(*lo as f64, k), (*hi as f64, k)],
                Style::Dashed,
                j,
            ));
        }
        let mut dev: Vec<(f64, f64)> = widths
            .iter()
            .filter_map(|&w| {
                let v: Vec<f64> = sel
                    .iter()
                    .filter(|r| r.width == w)
                    .map(|r| (r.m2_eff / r.kappa_theory - 1.0).abs())
                    .collect();
                (!v.is_empty()).then(|| (1.0 / w as f64, v.iter().sum::<f64>() / v.len() as f64))
            })
            .collect();
        dev.sort_by(|a, b| a.0.total_cmp(&b.0));
        pd.add(Series::new(format!("j={j}"), dev, Style::LinePoints, j));
    }
    figs.push((
        "sweep_m2_vs_width.svg".to_string(),
        pm.to_svg(),
        "Fitted m²_eff per mode against width; dashed: the infinite-width κ_j. Agreement looks like the points closing in on their dashed line as width grows.".to_string(),
    ));
    figs.push(("sweep_m2_dev_vs_inv_width.svg".to_string(), pd.to_svg(), "Deviation of m²_eff from κ against 1/width (mean over repeats and the other varied parameters). A finite-width effect looks like a straight line of slope 1 (deviation ∝ 1/n) on these log–log axes.".to_string()));
    let mut pn = Plot::new("Relative NTK drift against width", "width", "final drift")
        .log_x()
        .log_y();
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| {
            let w = p
                .values
                .get("width")
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse::<f64>().ok());
            let w = w.or_else(|| {
                rows.iter()
                    .find(|r| r.point == p.point && r.repeat == p.repeat)
                    .map(|r| r.width as f64)
            })?;
            Some((w, p.ntk_final_drift?))
        })
        .collect();
    pn.add(Series::new("drift", pts, Style::Points, 0));
    figs.push((
        "sweep_ntk_drift_vs_width.svg".to_string(),
        pn.to_svg(),
        "‖Θ_end − Θ₀‖/‖Θ₀‖ of the ensemble-mean NTK against width. The lazy limit looks like the drift falling steadily as width grows.".to_string(),
    ));
    figs
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
    let out = sc.base.nn.out.clone();
    let mut dir = RunDir::create(&out, sc.base.nn.force)?;
    dir.set_report("sweep/report.json");
    let ctx = GpuContext::new(&BackendChoice {
        backend: sc.base.nn.backend.clone(),
        adapter: sc.base.nn.adapter.clone(),
    })?;
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
