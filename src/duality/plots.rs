//! The figures and the report page of a run.

use super::compare::{Comparison, ModeRow, NetworkFits, NnSeries};
use super::dictionary::Dictionary;
use super::fit::ModeFit;
use super::plan::LatticePlan;
use crate::lattice::LatticeResults;
use crate::nn::run::NnResults;
use crate::report::html::Page;
use crate::report::plots::{Plot, Series, Style};

/// (file name, SVG, caption).
pub type Figure = (String, String, String);

fn fig(name: &str, p: &Plot, caption: &str) -> Figure {
    (name.to_string(), p.to_svg(), caption.to_string())
}

/// A handful of evenly spaced indices out of `n`.
fn picks(n: usize, k: usize) -> Vec<usize> {
    if n == 0 {
        return vec![];
    }
    let k = k.min(n).max(1);
    let mut v: Vec<usize> = (0..k).map(|i| (i * (n - 1)) / (k - 1).max(1)).collect();
    v.dedup();
    v
}

pub fn run_plots(
    nn: &NnResults,
    series: &NnSeries,
    dict: &Dictionary,
    plan: &LatticePlan,
    lat: &LatticeResults,
    cmp: &Comparison,
) -> Vec<Figure> {
    let mut out = Vec::new();
    let rows = &cmp.background_rows;
    for (xi, xname, file) in [
        (0, "τ = √η·s = t", "background_tau.svg"),
        (1, "e-folds N = H·t", "background_efolds.svg"),
    ] {
        let mut p = Plot::new(
            "Background: B_NN(τ) = u₀ᵀ(μ − y) and B_L(t) = ⟨φ⟩ − φ₀",
            xname,
            "background",
        );
        p.add(Series::new(
            "network",
            rows.iter().map(|r| (r[xi], r[2])).collect(),
            Style::Solid,
            0,
        ));
        p.add(Series::new(
            "lattice",
            rows.iter().map(|r| (r[xi], r[3])).collect(),
            Style::Dashed,
            1,
        ));
        p.add(Series::new(
            "continuum theory",
            rows.iter().map(|r| (r[xi], r[4])).collect(),
            Style::Dotted,
            2,
        ));
        out.push(fig(file, &p, "Network background against the lattice with the dictionary's H and m² = κ₀, and the closed-form de Sitter background."));
    }
    let nm = nn.modes.kappa.len();
    let mut p = Plot::new(
        "Mode growth P(τ)/P(0): network (solid), lattice (dashed), superhorizon dual (dotted)",
        "e-folds N = H·t",
        "growth",
    )
    .log_y();
    for j in 0..nm {
        let pts = |f: &dyn Fn(&ModeRow) -> f64| -> Vec<(f64, f64)> {
            cmp.mode_rows
                .iter()
                .filter(|r| r.2 == j)
                .map(|r| (r.1, f(r)))
                .collect()
        };
        p.add(Series::new(
            format!("j={j} network"),
            pts(&|r| r.3),
            Style::Solid,
            j,
        ));
        p.add(Series::new(
            format!("j={j} lattice"),
            pts(&|r| r.4),
            Style::Dashed,
            j,
        ));
        p.add(Series::new(
            format!("j={j} superhorizon"),
            pts(&|r| r.5),
            Style::Dotted,
            j,
        ));
    }
    out.push(fig("modes_growth.svg", &p, "Per-mode growth. The lattice shell j has mass κ₀ and a redshifting k/a; the network mode keeps κ_j; the superhorizon dual uses m² = κ_j with no gradient term."));

    let sqrt_eta = nn.config.lr.sqrt();
    let mut p = Plot::new(
        "Network fluctuation power P(j) over training",
        "mode j",
        "P(j)",
    )
    .log_y();
    for (c, i) in picks(series.steps.len(), 6).into_iter().enumerate() {
        let pts = (0..nm).map(|j| (j as f64, series.power[j][i])).collect();
        p.add(Series::new(
            format!("τ = {:.3}", series.steps[i] as f64 * sqrt_eta),
            pts,
            Style::LinePoints,
            c,
        ));
    }
    out.push(fig(
        "nn_power.svg",
        &p,
        "Per-mode power of the ensemble fluctuations δf = f − μ at a few times.",
    ));

    let mut steps: Vec<(usize, f64)> = Vec::new();
    for r in &lat.spectrum {
        if steps.last().map(|s| s.0) != Some(r.step) {
            steps.push((r.step, r.t));
        }
    }
    let mut p = Plot::new("Lattice P(k) over time", "k_eff", "P(k)")
        .log_x()
        .log_y();
    for (c, i) in picks(steps.len(), 6).into_iter().enumerate() {
        let (s, t) = steps[i];
        let pts = lat
            .spectrum
            .iter()
            .filter(|r| r.step == s && r.power > 0.0)
            .map(|r| (r.k, r.power))
            .collect();
        p.add(Series::new(
            format!("N = {:.2}", plan.config.hubble * t),
            pts,
            Style::LinePoints,
            c,
        ));
    }
    out.push(fig("lattice_spectrum.svg", &p, "Binned lattice spectrum; bins above the ring's highest mode start empty (nn-dual initial spectrum)."));

    let mut p = Plot::new("Relative NTK drift ‖Θ_s − Θ₀‖/‖Θ₀‖", "step", "drift");
    p.add(Series::new(
        "drift",
        nn.ntk.iter().map(|n| (n.step as f64, n.drift)).collect(),
        Style::LinePoints,
        0,
    ));
    out.push(fig(
        "ntk_drift.svg",
        &p,
        "How far the run is from the lazy (infinite-width) limit.",
    ));

    let mut p = Plot::new("Training loss", "step", "loss").log_y();
    p.add(Series::new(
        "mean",
        nn.records
            .iter()
            .map(|r| (r.step as f64, r.loss_mean as f64))
            .collect(),
        Style::Solid,
        0,
    ));
    p.add(Series::new(
        "std",
        nn.records
            .iter()
            .map(|r| (r.step as f64, r.loss_std as f64))
            .collect(),
        Style::Dashed,
        1,
    ));
    out.push(fig("loss.svg", &p, "Ensemble mean and spread of the loss."));
    let _ = dict;
    out
}

fn num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e-3 && v.abs() < 1e4 {
        format!("{v:.5}")
    } else {
        format!("{v:.4e}")
    }
}

fn fit_cell(f: Option<&ModeFit>) -> (String, String) {
    match f.and_then(|f| f.continuum.map(|c| (c, f))) {
        Some((c, _)) => (
            format!("{} ± {:.1e}", num(c.m2), c.m2_err),
            format!("{} ± {:.1e}", num(c.hubble), c.hubble_err),
        ),
        None => ("—".into(), "—".into()),
    }
}

pub fn index_html(
    report: &serde_json::Value,
    dict: &Dictionary,
    fits: &NetworkFits,
    cmp: &Comparison,
    figures: &[Figure],
) -> String {
    let mut pg = Page::new("nncosmo-gpu duality run");
    let cfg = &report["config"];
    pg.paragraph(&format!(
        "{} members × width {} × depth {}, activation {}, η = {}, β = {}, {} steps on the ring of {} points; lattice {}³. Version {}.",
        cfg["ensemble"], cfg["width"], cfg["depth"], cfg["activation"], cfg["lr"], cfg["momentum"],
        cfg["steps"], cfg["points"], cfg["lattice"]["grid"], report["version"]
    ));
    pg.heading("Dictionary");
    let mut rows = vec![
        vec!["H = (1−β)/(3√η)".into(), num(dict.hubble)],
        vec!["Λ = 3H²".into(), num(dict.lambda)],
        vec!["Λ·η = (1−β)²/3".into(), num(dict.lambda_eta)],
        vec!["γ = 3H".into(), num(dict.gamma)],
        vec!["e-folds per step".into(), num(dict.efolds_per_step)],
    ];
    rows.push(vec![
        "H_d = −ln β/(3√η)".into(),
        dict.hubble_d
            .map(num)
            .unwrap_or_else(|| "∞ (first order)".into()),
    ]);
    rows.push(vec![
        "m_d² (mode 0)".into(),
        dict.m2_d.map(num).unwrap_or_else(|| "—".into()),
    ]);
    pg.table(&["quantity", "value"], &rows);
    pg.list(&dict.flags, true);
    pg.heading("Key metrics");
    let m = &report["metrics"];
    let pct = |k: &str| {
        m[k].as_f64()
            .map(|v| format!("{:.3}%", 100.0 * v))
            .unwrap_or_else(|| "—".into())
    };
    pg.table(
        &["metric", "value"],
        &[
            vec![
                "max |B_NN − B_L| / |B_NN(0)|".into(),
                pct("background_max_rel_dev"),
            ],
            vec![
                "max |B_NN − theory| / |B_NN(0)|".into(),
                pct("background_nn_vs_theory"),
            ],
            vec![
                "max |B_L − theory| / |B_NN(0)|".into(),
                pct("background_lattice_vs_theory"),
            ],
            vec![
                "superhorizon dual vs network growth (fitted modes)".into(),
                pct("superhorizon_vs_nn_max"),
            ],
            vec!["H_d/H − 1".into(), pct("hubble_discrete_rel_diff")],
            vec!["max |m_d²/κ − 1|".into(), pct("m2_discrete_max_rel_diff")],
            vec!["final NTK drift".into(), pct("ntk_final_drift")],
        ],
    );
    if let Some(why) = m["explanation"].as_array() {
        let items: Vec<String> = why
            .iter()
            .filter_map(|w| w.as_str().map(String::from))
            .collect();
        pg.list(&items, true);
    }
    pg.heading("EFT table");
    let mut rows = Vec::new();
    for (j, mm) in cmp.mode_metrics.iter().enumerate() {
        let (m_mean, h_mean) = fit_cell(fits.mean.get(j));
        let (m_fl, h_fl) = fit_cell(fits.fluctuations.get(j));
        let lat_fit = if j == 0 {
            Some(&cmp.lattice_fits.background)
        } else {
            cmp.lattice_fits.modes.get(j - 1)
        };
        let lat = lat_fit
            .and_then(|f| f.discrete.as_ref())
            .and_then(|d| d.hubble_m2())
            .map(|(h, m2)| (num(m2), num(h)))
            .unwrap_or(("—".into(), "—".into()));
        rows.push(vec![
            j.to_string(),
            num(mm.kappa),
            dict.modes[j]
                .discrete
                .hubble_m2()
                .map(|x| num(x.1))
                .unwrap_or_else(|| "—".into()),
            m_mean,
            m_fl,
            h_mean,
            h_fl,
            lat.0,
            lat.1,
            num(mm.nn_vs_superhorizon),
            num(mm.gradient_irrelevant_efold),
        ]);
    }
    pg.table(
        &[
            "mode",
            "κ (theory) = m² continuum",
            "m_d² discrete",
            "m² fit (mean)",
            "m² fit (fluct.)",
            "H fit (mean)",
            "H fit (fluct.)",
            "lattice m² fit",
            "lattice H fit",
            "|growth nn − superhorizon|",
            "N_e where k/a stops mattering",
        ],
        &rows,
    );
    pg.heading("Plots");
    for (_, svg, cap) in figures {
        pg.figure(svg, cap);
    }
    pg.heading("Resolved configuration");
    pg.preformatted(&serde_json::to_string_pretty(&report["config"]).unwrap_or_default());
    pg.render()
}
