//! The figures and the report page of a run.

use super::class_stats::{Estimate, z_score};
use super::compare::{Comparison, MaxZ, NetworkFits, Z_FLAG};
use super::dictionary::Dictionary;
use super::disorder::FiniteWidthMetrics;
use super::fit::ModeFit;
use super::members::MemberFits;
use super::plan::DualPlan;
use crate::nn::results::NnResults;
use crate::report::html::Page;
use crate::report::plots::{Plot, Series, Style};

/// (file name, SVG, caption).
pub type Figure = (String, String, String);

fn fig(name: &str, p: &Plot, caption: &str) -> Figure {
    (name.to_string(), p.to_svg(), caption.to_string())
}

/// Per recorded step of one class: (τ, estimate) of one side.
fn side(cmp: &Comparison, j: usize, which: usize, power: bool) -> Vec<(f64, Estimate)> {
    cmp.rows
        .iter()
        .map(|r| {
            let c = match which {
                0 => &r.nn,
                1 => &r.lattice,
                _ => &r.theory,
            }[j];
            (r.tau, if power { c.power } else { c.mean })
        })
        .collect()
}

/// One class's mean or power on both sides with ±2 se bands, and the theory.
fn class_plot(cmp: &Comparison, j: usize, kappa: f64, power: bool) -> Plot {
    let what = if power {
        "power ⟨δc²⟩"
    } else {
        "mean residual c̄"
    };
    let nn = side(cmp, j, 0, power);
    let lat = side(cmp, j, 1, power);
    let th = side(cmp, j, 2, power);
    let span = |v: &[(f64, Estimate)]| {
        let (lo, hi) = v.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), (_, e)| {
            (lo.min(e.value.abs()), hi.max(e.value.abs()))
        });
        hi / lo.max(1e-300)
    };
    let mut p = Plot::new(
        &format!("Class {j} (κ = {kappa:.4}): {what}"),
        "τ = √η·s = t",
        what,
    );
    if power && span(&th) > 100.0 {
        p = p.log_y();
    }
    for (name, v, color, style) in [
        ("network", &nn, 0, Style::Solid),
        ("lattice", &lat, 1, Style::Dashed),
    ] {
        let edge = |k: f64| v.iter().map(|(t, e)| (*t, e.value + k * e.se)).collect();
        p.add(Series::band(
            format!("{name} ±2 se"),
            edge(2.0),
            edge(-2.0),
            color,
        ));
        p.add(Series::new(name, edge(0.0), style, color));
    }
    p.add(Series::new(
        "infinite-width theory",
        th.iter().map(|(t, e)| (*t, e.value)).collect(),
        Style::Dotted,
        2,
    ));
    p
}

pub fn run_plots(nn: &NnResults, plan: &DualPlan, cmp: &Comparison) -> Vec<Figure> {
    let mut out = Vec::new();
    for (power, file, what) in [
        (false, "z_means.svg", "means"),
        (true, "z_powers.svg", "powers"),
    ] {
        let mut p = Plot::new(
            &format!("Network against its dual lattice: z of the {what} per class"),
            "τ = √η·s = t",
            "z = |nn − lattice| / √(se²_nn + se²_lattice)",
        );
        for j in 0..nn.modes.n_modes() {
            let a = side(cmp, j, 0, power);
            let b = side(cmp, j, 1, power);
            p.add(Series::new(
                format!("class {j}"),
                a.iter()
                    .zip(&b)
                    .map(|((t, x), (_, y))| (*t, z_score(*x, *y)))
                    .collect(),
                Style::Solid,
                j,
            ));
        }
        let taus: Vec<f64> = cmp.rows.iter().map(|r| r.tau).collect();
        if let (Some(&t0), Some(&t1)) = (taus.first(), taus.last()) {
            p.add(Series::new(
                format!("|z| = {Z_FLAG} (flag)"),
                vec![(t0, Z_FLAG), (t1, Z_FLAG)],
                Style::Dotted,
                6,
            ));
        }
        out.push(fig(
            file,
            &p,
            &format!(
                "The headline comparison, step by step: agreement is z of order 1 (|z| ≤ {Z_FLAG} everywhere); a class that climbs above {Z_FLAG} leaves its infinite-width dual. Near the nodes of an oscillating class both powers vanish at infinite width, so a finite-width floor there shows as a spike."
            ),
        ));
    }
    let agree = "Agreement looks like the network's line inside the lattice's band and both on the dotted theory; a network line outside both bands is a finite-width effect.";
    for j in 0..nn.modes.n_modes() {
        let k = nn.modes.kappa[j];
        out.push(fig(
            &format!("class{j}_mean.svg"),
            &class_plot(cmp, j, k, false),
            &format!(
                "Class {j}: mean residual on its first row, network (E = {}) against the dual lattice's field mean over {} patches (m² = {:.4}). {agree}",
                nn.config.ensemble,
                plan.config.grid.pow(3),
                plan.fields[nn.modes.primary[j]].m2
            ),
        ));
        out.push(fig(
            &format!("class{j}_power.svg"),
            &class_plot(cmp, j, k, true),
            &format!(
                "Class {j}: fluctuation power (unbiased, averaged over the class's rows): ensemble variance of the networks against the spatial variance of the dual fields. {agree}"
            ),
        ));
    }

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
        "How far the run is from the lazy (infinite-width) limit: infinite-width theory holds where the drift stays far below 1 (it falls as 1/width).",
    ));

    let mut p = Plot::new("Training loss", "step", "loss").log_y();
    p.add(Series::new(
        "mean",
        nn.records
            .iter()
            .map(|r| (r.step as f64, r.loss_mean))
            .collect(),
        Style::Solid,
        0,
    ));
    p.add(Series::new(
        "std",
        nn.records
            .iter()
            .map(|r| (r.step as f64, r.loss_std))
            .collect(),
        Style::Dashed,
        1,
    ));
    out.push(fig("loss.svg", &p, "Ensemble mean and spread of the loss. Healthy training looks like both falling steadily; a flat or rising mean marks a step too large for the chosen momentum."));
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

#[allow(clippy::too_many_arguments)]
pub fn index_html(
    report: &serde_json::Value,
    dict: &Dictionary,
    fits: &NetworkFits,
    members: &[MemberFits],
    plan: &DualPlan,
    cmp: &Comparison,
    finite: Option<&FiniteWidthMetrics>,
    figures: &[Figure],
) -> String {
    let mut pg = Page::new("nncosmo-gpu duality run");
    let cfg = &report["config"];
    let m = &cmp.metrics;
    pg.paragraph(&format!(
        "{} members × width {} × depth {}, activation {}, η = {}, β = {}, {} steps on {} points. Dual: {} fields (one per mode row) × {}³ Hubble patches (one per network), {:?} matching, H = {}, k_max/(a(0)H) = {:.3}. Version {}.",
        cfg["ensemble"], cfg["width"], cfg["depth"], cfg["activation"], cfg["lr"], cfg["momentum"],
        cfg["steps"], cfg["points"], plan.fields.len(), plan.config.grid, plan.matching,
        num(plan.hubble), plan.gradient, report["version"]
    ));
    pg.heading("Network against its dual lattice");
    let zrow = |name: &str, z: &MaxZ| {
        vec![
            name.to_string(),
            format!(
                "{:.2} (class {}, step {})",
                z.mean_max_z, z.mean_mode, z.mean_step
            ),
            format!(
                "{:.2} (class {}, step {})",
                z.power_max_z, z.power_mode, z.power_step
            ),
        ]
    };
    pg.table(
        &["comparison", "means: max z", "powers: max z"],
        &[
            zrow("network vs lattice", &m.nn_vs_lattice),
            zrow("network vs theory", &m.nn_vs_theory),
            zrow("lattice vs theory", &m.lattice_vs_theory),
        ],
    );
    pg.paragraph(&format!(
        "z = |a − b|/√(se_a² + se_b²) over {}; |z| > {} marks a real departure.",
        m.window, m.z_flag
    ));
    pg.list(&m.findings, !m.finite_width_classes.is_empty());
    let rows: Vec<Vec<String>> = m
        .classes
        .iter()
        .map(|c| {
            vec![
                c.mode.to_string(),
                num(c.kappa),
                num(c.m2),
                format!("{:.2}", c.nn_vs_lattice.max()),
                format!("{:.2}", c.nn_vs_theory.max()),
                format!("{:.2}", c.lattice_vs_theory.max()),
                format!("{:.1e}", c.lattice_dt_error),
                format!("{:.1e}", c.continuum_limit_error),
                if c.finite_width {
                    "finite width".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    pg.table(
        &[
            "class",
            "κ",
            "lattice m²",
            "z nn–lattice",
            "z nn–theory",
            "z lattice–theory",
            "lattice dt error",
            "continuum-limit error",
            "",
        ],
        &rows,
    );
    if let Some(fw) = finite {
        pg.heading("Finite width: the disorder dual");
        pg.paragraph(&format!(
            "Each patch of a second lattice plays one of {} members with that member's frozen initial NTK as its fields' coupled mass matrix and its own initial amplitudes. Where the network leaves the free dual (left), the disorder dual should follow it (middle: |P_nn − P_disorder| in units of the network's standard error; both hold the same members); what it cannot follow is NTK drift during training (final per-member drift {:.2e} ± {:.1e}).",
            fw.members,
            fw.ntk_drift_member_mean.unwrap_or(f64::NAN),
            fw.ntk_drift_member_sd.unwrap_or(f64::NAN)
        ));
        let rows: Vec<Vec<String>> = fw
            .classes
            .iter()
            .map(|c| {
                vec![
                    c.mode.to_string(),
                    format!("{:.2}", c.nn_vs_free_power_max_z),
                    format!("{:.2}", c.nn_vs_disorder_power_max_dev_se),
                    format!("{:.1}%", 100.0 * c.disorder_explained_fraction),
                ]
            })
            .collect();
        pg.table(
            &[
                "class",
                "network vs free dual: max z",
                "network vs disorder dual: max |ΔP|/se",
                "departure explained by NTK disorder",
            ],
            &rows,
        );
    }
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
    pg.heading("EFT table");
    let mut rows = Vec::new();
    for (j, md) in dict.modes.iter().enumerate() {
        let (m_mean, h_mean) = fit_cell(fits.mean.get(j));
        let (m_fl, h_fl) = fit_cell(fits.fluctuations.get(j));
        let (lm_mean, lh_mean) = fit_cell(cmp.lattice_fits.mean.get(j));
        let (lm_fl, _) = fit_cell(cmp.lattice_fits.fluctuations.get(j));
        let per_member = members
            .get(j)
            .and_then(|m| m.m2.map(|s| format!("{} ± {:.1e} (sd)", num(s.mean), s.sd)))
            .unwrap_or_else(|| "—".into());
        rows.push(vec![
            j.to_string(),
            num(md.kappa),
            md.discrete
                .hubble_m2()
                .map(|x| num(x.1))
                .unwrap_or_else(|| "—".into()),
            m_mean,
            m_fl,
            h_mean,
            h_fl,
            per_member,
            lm_mean,
            lm_fl,
            lh_mean,
        ]);
    }
    pg.table(
        &[
            "class",
            "κ (theory) = m² continuum",
            "m_d² discrete",
            "m² fit (nn mean)",
            "m² fit (nn members, pooled)",
            "H fit (nn mean)",
            "H fit (nn members)",
            "m² per member (mean ± sd)",
            "m² fit (lattice mean)",
            "m² fit (lattice power)",
            "H fit (lattice mean)",
        ],
        &rows,
    );
    pg.paragraph("Fits are read through the continuum dictionary (H = (1 − β_eff)/(3√η), m² = (ηκ)_eff/η); the discrete readings are in report.json.");
    pg.heading("Plots");
    for (_, svg, cap) in figures {
        pg.figure(svg, cap);
    }
    pg.heading("Resolved configuration");
    pg.preformatted(&serde_json::to_string_pretty(&report["config"]).unwrap_or_default());
    pg.render()
}
