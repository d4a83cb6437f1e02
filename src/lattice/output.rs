//! Writers for `<out>/lattice/*.csv` and the `lattice` parts of `report.json`
//! (DESIGN §5); every file is written atomically. A single field writes exactly the
//! single-field files; F > 1 fields add `lattice/fields.csv` and a `field` column in
//! `lattice/spectrum.csv`, and `background.csv` then holds the totals over fields.

use std::path::Path;

use serde_json::json;

use super::results::{LatticeResults, Timings};
use crate::config::lattice::LatticeConfig;
use crate::gpu::AdapterSummary;
use crate::report::{CsvTable, ReportError, write_json};
use crate::row;

pub const BACKGROUND_HEADER: &[&str] = &[
    "step",
    "t",
    "a",
    "phi_mean",
    "dphi_mean",
    "phi_var",
    "rho_kin",
    "rho_grad",
    "rho_pot",
    "energy_residual",
];
pub const SPECTRUM_HEADER: &[&str] = &["step", "t", "k", "power", "modes", "theory_power"];
/// `lattice/spectrum.csv` with F > 1 fields.
pub const FIELDS_SPECTRUM_HEADER: &[&str] =
    &["step", "t", "field", "k", "power", "modes", "theory_power"];
/// `lattice/fields.csv` (F > 1 only): every field at every output.
pub const FIELDS_HEADER: &[&str] = &[
    "step",
    "t",
    "field",
    "m2",
    "phi_mean",
    "dphi_mean",
    "phi_var",
    "rho_kin",
    "rho_grad",
    "rho_pot",
    "energy_residual",
];

/// `lattice/background.csv`: the field for F = 1; for F > 1 the totals over fields,
/// with the φ columns NaN.
pub fn background_table(res: &LatticeResults) -> CsvTable {
    let mut t = CsvTable::new(BACKGROUND_HEADER);
    for r in &res.background {
        let o = r.obs;
        t.push(row![
            r.step,
            r.t,
            r.a,
            o.phi_mean,
            o.dphi_mean,
            o.phi_var,
            o.rho_kin,
            o.rho_grad,
            o.rho_pot,
            r.energy_residual
        ]);
    }
    t
}

/// `lattice/fields.csv`: every field at every output, with its own energy residual.
pub fn fields_table(res: &LatticeResults) -> CsvTable {
    let mut t = CsvTable::new(FIELDS_HEADER);
    for r in &res.field_rows {
        let o = r.obs;
        t.push(row![
            r.step,
            r.t,
            r.field,
            r.m2,
            o.phi_mean,
            o.dphi_mean,
            o.phi_var,
            o.rho_kin,
            o.rho_grad,
            o.rho_pot,
            r.energy_residual
        ]);
    }
    t
}

pub fn spectrum_table(res: &LatticeResults) -> CsvTable {
    if res.fields > 1 {
        let mut t = CsvTable::new(FIELDS_SPECTRUM_HEADER);
        for r in &res.spectrum {
            t.push(row![
                r.step,
                r.t,
                r.field,
                r.k,
                r.power,
                r.modes,
                r.theory_power
            ]);
        }
        return t;
    }
    let mut t = CsvTable::new(SPECTRUM_HEADER);
    for r in &res.spectrum {
        t.push(row![r.step, r.t, r.k, r.power, r.modes, r.theory_power]);
    }
    t
}

/// The `lattice` section of report.json: summary metrics and the closed-form background.
pub fn lattice_section(cfg: &LatticeConfig, res: &LatticeResults) -> serde_json::Value {
    let max_resid = res
        .background
        .iter()
        .map(|r| r.energy_residual.abs())
        .fold(0.0, f64::max);
    let amp = (cfg.phi_init - cfg.phi_min).abs().max(1e-300);
    let max_dev = (!res.background_theory.is_empty()).then(|| {
        res.background
            .iter()
            .zip(&res.background_theory)
            .map(|(r, (p, _))| (r.obs.phi_mean - p).abs())
            .fold(0.0, f64::max)
    });
    let last = res.background.last();
    let mut section = json!({
        "grid": cfg.grid,
        "sites": (cfg.grid as u64).pow(3),
        "steps": cfg.steps,
        "efolds": cfg.hubble * cfg.dt * cfg.steps as f64,
        "final_t": last.map(|r| r.t),
        "final_a": last.map(|r| r.a),
        "max_abs_energy_residual": max_resid,
        "background_theory": res.background.iter().zip(&res.background_theory).map(|(r, (p, v))| json!({
            "step": r.step, "t": r.t, "phi_mean": p, "dphi_mean": v
        })).collect::<Vec<_>>(),
        "background_max_abs_deviation": max_dev,
        "background_max_rel_deviation": max_dev.map(|d| d / amp),
        "spectrum_bins": res.spectrum.iter().filter(|r| r.step == 0 && r.field == 0).count(),
    });
    // F = 1 keeps the single-field section as it was.
    if res.fields > 1
        && let Some(o) = section.as_object_mut()
    {
        let masses = cfg.field_masses();
        let per_field: Vec<serde_json::Value> = (0..res.fields)
            .map(|b| {
                let rows = res.field_rows.iter().filter(|r| r.field == b);
                let resid = rows
                    .clone()
                    .map(|r| r.energy_residual.abs())
                    .fold(0.0, f64::max);
                let dev = res.field_theory.get(b).map(|th| {
                    rows.zip(th)
                        .map(|(r, (p, _))| (r.obs.phi_mean - p).abs())
                        .fold(0.0, f64::max)
                });
                json!({
                    "field": b,
                    "mass": masses.get(b),
                    "m2": cfg.field_m2s().get(b),
                    "max_abs_energy_residual": resid,
                    "background_max_abs_deviation": dev,
                    "background_max_rel_deviation": dev.map(|d| d / amp),
                })
            })
            .collect();
        o.insert("fields".into(), json!(res.fields));
        o.insert("masses".into(), json!(masses));
        o.insert("m2s".into(), json!(cfg.field_m2s()));
        o.insert("per_field".into(), json!(per_field));
    }
    section
}

/// Writes lattice/background.csv, lattice/spectrum.csv, for F > 1
/// lattice/fields.csv, and report.json.
pub fn write_all(
    out: &Path,
    cfg: &LatticeConfig,
    adapter: &AdapterSummary,
    res: &LatticeResults,
    timings: &Timings,
) -> Result<(), ReportError> {
    background_table(res).write(&out.join("lattice/background.csv"))?;
    spectrum_table(res).write(&out.join("lattice/spectrum.csv"))?;
    if res.fields > 1 {
        fields_table(res).write(&out.join("lattice/fields.csv"))?;
    }
    let report = json!({
        "config": { "lattice": cfg },
        "adapter": adapter,
        "timings": timings,
        "lattice": lattice_section(cfg, res),
        "version": env!("CARGO_PKG_VERSION"),
    });
    write_json(&out.join("report.json"), &report)
}
