//! Finite-width laws across a width sweep (DESIGN §4.4): the member-to-member NTK
//! spread and the per-member NTK drift (expected ∝ n^{-1/2}), the ensemble mean's
//! deviation from infinite-width theory (expected ∝ n^{-1}), and the network's
//! departure from the free and the disorder duals, with fitted exponents.

use serde::Serialize;

use super::compare::Comparison;
use super::disorder::FiniteWidthMetrics;
use super::members::MemberFits;
use crate::nn::results::NnResults;
use crate::report::CsvTable;
use crate::report::csv::sci;
use crate::report::plots::{Plot, Series, Style};
use crate::theory::propagator::mode_propagator;

/// One row of `sweep/finite_width.csv`.
#[derive(Clone, Debug, Serialize)]
pub struct WidthRow {
    pub width: usize,
    pub repeat: usize,
    /// Member-to-member relative spread of the diagonal of Θ̂_e(0) in the mode basis.
    pub ntk_spread: f64,
    /// Mean over members of ‖Θ_e(s) − Θ_e(0)‖/‖Θ_e(0)‖ at the last measurement.
    pub ntk_drift: f64,
    /// max over steps and classes of |c̄_nn(s) − p_s(κ_j)·c̄_nn(0)| / max |c̄_theory|:
    /// the network's mean against the infinite-width recurrence started from the
    /// network's own initial mean, so the initial sampling noise (which the recurrence
    /// carries linearly) cancels and what remains is finite width.
    pub mean_dev_rel: f64,
    /// Network vs free dual: max z of the powers.
    pub free_power_z: f64,
    /// Network vs disorder dual: max |ΔP|/se of the powers.
    pub disorder_power_z: f64,
    /// Per class: sd over members of the per-member fitted m², over κ (report.json
    /// only): how the members' masses spread with width.
    pub member_m2_rel_sd: Vec<Option<f64>>,
}

pub fn row_of(
    width: usize,
    repeat: usize,
    res: &NnResults,
    cmp: &Comparison,
    finite: Option<&FiniteWidthMetrics>,
    members: &[MemberFits],
) -> WidthRow {
    let scale = cmp
        .rows
        .iter()
        .flat_map(|r| r.theory.iter().map(|c| c.mean.value.abs()))
        .fold(0.0, f64::max);
    let (eta, beta) = (res.config.lr, res.config.momentum);
    let last = cmp.rows.last().map(|r| r.step).unwrap_or(0);
    let props: Vec<Vec<f64>> = res
        .modes
        .kappa
        .iter()
        .map(|&k| mode_propagator(eta, beta, k, last))
        .collect();
    let start: Vec<f64> = cmp
        .rows
        .first()
        .map(|r| r.nn.iter().map(|c| c.mean.value).collect())
        .unwrap_or_default();
    let dev = cmp
        .rows
        .iter()
        .flat_map(|r| {
            r.nn.iter()
                .enumerate()
                .map(|(j, a)| (a.mean.value - props[j][r.step] * start[j]).abs())
        })
        .fold(0.0, f64::max);
    WidthRow {
        width,
        repeat,
        ntk_spread: res.ntk.first().map(|n| n.diag_rel_sd).unwrap_or(f64::NAN),
        ntk_drift: res
            .ntk
            .last()
            .map(|n| n.drift_member_mean)
            .unwrap_or(f64::NAN),
        mean_dev_rel: dev / scale.max(f64::MIN_POSITIVE),
        free_power_z: cmp.metrics.nn_vs_lattice.power_max_z,
        disorder_power_z: finite
            .map(|f| {
                f.classes
                    .iter()
                    .map(|c| c.nn_vs_disorder_power_max_dev_se)
                    .fold(0.0, f64::max)
            })
            .unwrap_or(f64::NAN),
        member_m2_rel_sd: members.iter().map(|m| m.m2_rel_sd).collect(),
    }
}

/// A row of `sweep/finite_width.csv`: a `WidthRow` without the per-member list.
#[derive(Default, Serialize)]
pub struct WidthCsv {
    width: usize,
    repeat: usize,
    #[serde(serialize_with = "sci")]
    ntk_spread: f64,
    #[serde(serialize_with = "sci")]
    ntk_drift: f64,
    #[serde(serialize_with = "sci")]
    mean_dev_rel: f64,
    #[serde(serialize_with = "sci")]
    free_power_z: f64,
    #[serde(serialize_with = "sci")]
    disorder_power_z: f64,
}

pub fn table(rows: &[WidthRow]) -> CsvTable<WidthCsv> {
    rows.iter()
        .map(|r| WidthCsv {
            width: r.width,
            repeat: r.repeat,
            ntk_spread: r.ntk_spread,
            ntk_drift: r.ntk_drift,
            mean_dev_rel: r.mean_dev_rel,
            free_power_z: r.free_power_z,
            disorder_power_z: r.disorder_power_z,
        })
        .collect()
}

/// A power law y ∝ n^p fitted by least squares on (ln n, ln y).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PowerLaw {
    pub exponent: f64,
    pub exponent_err: f64,
    /// ln y at ln n = 0.
    pub intercept: f64,
    pub expected: f64,
    pub rows: usize,
}

/// The fitted laws (None where fewer than 3 distinct widths have positive values).
#[derive(Clone, Debug, Serialize)]
pub struct WidthLaws {
    pub ntk_spread: Option<PowerLaw>,
    pub ntk_drift: Option<PowerLaw>,
    pub mean_dev_rel: Option<PowerLaw>,
}

/// OLS slope of ln y on ln n with its standard error √(σ̂²/Sxx).
pub fn power_law(points: &[(f64, f64)], expected: f64) -> Option<PowerLaw> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(n, y)| *n > 0.0 && *y > 0.0 && y.is_finite())
        .map(|(n, y)| (n.ln(), y.ln()))
        .collect();
    let mut widths: Vec<f64> = pts.iter().map(|p| p.0).collect();
    widths.sort_by(f64::total_cmp);
    widths.dedup();
    if widths.len() < 3 {
        return None;
    }
    let k = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / k;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / k;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let rss: f64 = pts
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    Some(PowerLaw {
        exponent: slope,
        exponent_err: (rss / (k - 2.0) / sxx).sqrt(),
        intercept,
        expected,
        rows: pts.len(),
    })
}

pub fn laws(rows: &[WidthRow]) -> WidthLaws {
    let pick = |f: &dyn Fn(&WidthRow) -> f64| -> Vec<(f64, f64)> {
        rows.iter().map(|r| (r.width as f64, f(r))).collect()
    };
    WidthLaws {
        ntk_spread: power_law(&pick(&|r| r.ntk_spread), -0.5),
        ntk_drift: power_law(&pick(&|r| r.ntk_drift), -0.5),
        mean_dev_rel: power_law(&pick(&|r| r.mean_dev_rel), -1.0),
    }
}

/// The three quantities against width on log–log axes with their fitted lines.
pub fn plot(rows: &[WidthRow], laws: &WidthLaws) -> Plot {
    let mut p = Plot::new(
        "Finite-width laws: NTK spread, NTK drift per member, mean deviation",
        "width n",
        "value",
    )
    .log_x()
    .log_y();
    let (lo, hi) = rows.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), r| {
        (lo.min(r.width as f64), hi.max(r.width as f64))
    });
    let series = [
        ("NTK spread (expect n^-1/2)", laws.ntk_spread),
        ("NTK drift per member (expect n^-1/2)", laws.ntk_drift),
        ("mean deviation (expect n^-1)", laws.mean_dev_rel),
    ];
    let value = |r: &WidthRow, which: usize| match which {
        0 => r.ntk_spread,
        1 => r.ntk_drift,
        _ => r.mean_dev_rel,
    };
    for (c, (name, law)) in series.into_iter().enumerate() {
        p.add(Series::new(
            name,
            rows.iter().map(|r| (r.width as f64, value(r, c))).collect(),
            Style::Points,
            c,
        ));
        if let Some(l) = law {
            p.add(Series::new(
                format!("fit: n^{:.2}±{:.2}", l.exponent, l.exponent_err),
                [lo, hi]
                    .iter()
                    .map(|n| (*n, (l.intercept + l.exponent * n.ln()).exp()))
                    .collect(),
                Style::Dashed,
                c,
            ));
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_law_recovers_its_exponent_and_needs_three_widths() {
        let pts: Vec<(f64, f64)> = [256.0, 1024.0, 4096.0]
            .iter()
            .flat_map(|n: &f64| {
                [
                    (*n, 3.0 * n.powf(-0.5) * 1.01),
                    (*n, 3.0 * n.powf(-0.5) / 1.01),
                ]
            })
            .collect();
        let l = power_law(&pts, -0.5).unwrap();
        assert!((l.exponent + 0.5).abs() < 1e-12, "{l:?}");
        assert!(l.exponent_err < 0.01);
        assert!(power_law(&pts[..4], -0.5).is_none());
    }
}
