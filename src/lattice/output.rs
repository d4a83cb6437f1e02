//! Writers for `<out>/lattice/*.csv` and the `lattice` parts of `report.json`
//! (DESIGN §5); every file is written atomically.

use std::path::Path;

use serde_json::json;

use super::engine::{LatticeResults, Timings};
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

pub fn spectrum_table(res: &LatticeResults) -> CsvTable {
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
    json!({
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
        "spectrum_bins": res.spectrum.iter().filter(|r| r.step == 0).count(),
    })
}

/// Writes lattice/background.csv, lattice/spectrum.csv and report.json.
pub fn write_all(
    out: &Path,
    cfg: &LatticeConfig,
    adapter: &AdapterSummary,
    res: &LatticeResults,
    timings: &Timings,
) -> Result<(), ReportError> {
    background_table(res).write(&out.join("lattice/background.csv"))?;
    spectrum_table(res).write(&out.join("lattice/spectrum.csv"))?;
    let report = json!({
        "config": { "lattice": cfg },
        "adapter": adapter,
        "timings": timings,
        "lattice": lattice_section(cfg, res),
        "version": env!("CARGO_PKG_VERSION"),
    });
    write_json(&out.join("report.json"), &report)
}
