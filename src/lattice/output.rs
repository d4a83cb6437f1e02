//! Writers for `<out>/lattice/*.csv` and the `lattice` parts of `report.json`
//! (DESIGN §5); every file is written atomically. A single field writes exactly the
//! single-field files; F > 1 fields add `lattice/fields.csv` and a `field` column in
//! `lattice/spectrum.csv`, and `background.csv` then holds the totals over fields.

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::results::{LatticeResults, SpectrumRow, Timings};
use crate::config::lattice::LatticeConfig;
use crate::gpu::AdapterSummary;
use crate::report::csv::sci;
use crate::report::{CsvTable, ReportError, write_json};

/// A row of `lattice/background.csv`.
#[derive(Default, Serialize)]
pub struct BackgroundCsv {
    step: usize,
    #[serde(serialize_with = "sci")]
    t: f64,
    #[serde(serialize_with = "sci")]
    a: f64,
    #[serde(serialize_with = "sci")]
    phi_mean: f64,
    #[serde(serialize_with = "sci")]
    dphi_mean: f64,
    #[serde(serialize_with = "sci")]
    phi_var: f64,
    #[serde(serialize_with = "sci")]
    rho_kin: f64,
    #[serde(serialize_with = "sci")]
    rho_grad: f64,
    #[serde(serialize_with = "sci")]
    rho_pot: f64,
    #[serde(serialize_with = "sci")]
    energy_residual: f64,
}

/// A row of `lattice/fields.csv` (F > 1 only): one field at one output.
#[derive(Default, Serialize)]
pub struct FieldsCsv {
    step: usize,
    #[serde(serialize_with = "sci")]
    t: f64,
    field: usize,
    #[serde(serialize_with = "sci")]
    m2: f64,
    #[serde(serialize_with = "sci")]
    phi_mean: f64,
    #[serde(serialize_with = "sci")]
    dphi_mean: f64,
    #[serde(serialize_with = "sci")]
    phi_var: f64,
    #[serde(serialize_with = "sci")]
    rho_kin: f64,
    #[serde(serialize_with = "sci")]
    rho_grad: f64,
    #[serde(serialize_with = "sci")]
    rho_pot: f64,
    #[serde(serialize_with = "sci")]
    energy_residual: f64,
}

/// A row of `lattice/spectrum.csv` for a single field (F > 1: `SpectrumRow`).
#[derive(Default, Serialize)]
pub struct SpectrumCsv {
    step: usize,
    #[serde(serialize_with = "sci")]
    t: f64,
    #[serde(serialize_with = "sci")]
    k: f64,
    #[serde(serialize_with = "sci")]
    power: f64,
    modes: u64,
    #[serde(serialize_with = "sci")]
    theory_power: f64,
}

/// `lattice/background.csv`: the field for F = 1; for F > 1 the totals over fields,
/// with the φ columns NaN.
pub fn background_table(res: &LatticeResults) -> CsvTable<BackgroundCsv> {
    res.background
        .iter()
        .map(|r| BackgroundCsv {
            step: r.step,
            t: r.t,
            a: r.a,
            phi_mean: r.obs.phi_mean,
            dphi_mean: r.obs.dphi_mean,
            phi_var: r.obs.phi_var,
            rho_kin: r.obs.rho_kin,
            rho_grad: r.obs.rho_grad,
            rho_pot: r.obs.rho_pot,
            energy_residual: r.energy_residual,
        })
        .collect()
}

/// `lattice/fields.csv`: every field at every output, with its own energy residual.
pub fn fields_table(res: &LatticeResults) -> CsvTable<FieldsCsv> {
    res.field_rows
        .iter()
        .map(|r| FieldsCsv {
            step: r.step,
            t: r.t,
            field: r.field,
            m2: r.m2,
            phi_mean: r.obs.phi_mean,
            dphi_mean: r.obs.dphi_mean,
            phi_var: r.obs.phi_var,
            rho_kin: r.obs.rho_kin,
            rho_grad: r.obs.rho_grad,
            rho_pot: r.obs.rho_pot,
            energy_residual: r.energy_residual,
        })
        .collect()
}

/// `lattice/spectrum.csv`, with a `field` column when there are several fields.
pub fn write_spectrum(res: &LatticeResults, path: &Path) -> Result<(), ReportError> {
    if res.fields > 1 {
        return res
            .spectrum
            .iter()
            .copied()
            .collect::<CsvTable<SpectrumRow>>()
            .write(path);
    }
    let t: CsvTable<SpectrumCsv> = res
        .spectrum
        .iter()
        .map(|r| SpectrumCsv {
            step: r.step,
            t: r.t,
            k: r.k,
            power: r.power,
            modes: r.modes,
            theory_power: r.theory_power,
        })
        .collect();
    t.write(path)
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
    write_spectrum(res, &out.join("lattice/spectrum.csv"))?;
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
