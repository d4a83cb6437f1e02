//! What a sweep's report.json and page summarise: how constant Λ_eff·η is across
//! learning rates, how close H_eff is to the continuum line, how m²_eff approaches
//! κ with width, and the figures of those.

use serde::Serialize;

use super::sweep::{EftRow, PointResult};
use crate::report::plots::{Plot, Series, Style};

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

pub fn sweep_plots(rows: &[EftRow], points: &[PointResult]) -> Vec<(String, String, String)> {
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
