//! The files of an `nn` run: its tables under nn/ and report.json.

use std::path::Path;

use serde::Serialize;

use super::results::{NnResults, NnSummary, NnTimings};
use crate::config::nn::NnConfig;
use crate::gpu::AdapterSummary;
use crate::report::{self, CsvTable, ReportError, RunStatus, write_json};
use crate::row;

/// Writes nn/*.csv (atomically, each file complete).
pub fn write_tables(res: &NnResults, out: &Path) -> Result<(), ReportError> {
    let dir = out.join("nn");
    let d = res.data.input_dim();
    let mut h = vec!["point".to_string()];
    h.extend((0..d).map(|j| format!("x{j}")));
    h.push("y".into());
    let mut ds = CsvTable::new(&h.iter().map(String::as_str).collect::<Vec<_>>());
    for (i, (x, y)) in res.data.x.iter().zip(&res.data.y).enumerate() {
        let mut cells = vec![report::csv::Cell::from(i)];
        cells.extend(x.iter().map(|&v| report::csv::Cell::from(v)));
        cells.push((*y).into());
        ds.push(&cells);
    }
    ds.write(&dir.join("dataset.csv"))?;

    let sqrt_eta = res.config.lr.sqrt();
    let mut bg = CsvTable::new(&["step", "tau", "point", "mean", "var"]);
    let mut md = CsvTable::new(&[
        "step",
        "tau",
        "mode",
        "kappa",
        "mean_residual",
        "power",
        "theory_mean_residual",
        "theory_power",
    ]);
    let mut ls = CsvTable::new(&["step", "tau", "loss_mean", "loss_std"]);
    for r in &res.records {
        let tau = sqrt_eta * r.step as f64;
        for i in 0..r.mean.len() {
            bg.push(row![r.step, tau, i, r.mean[i], r.var[i]]);
        }
        let th = res.theory.at(r.step);
        for (j, (m, p)) in res.mode_values(r).into_iter().enumerate() {
            let (tm, tp) = th
                .map(|t| (t.mode_mean_residual[j], t.mode_power[j]))
                .unwrap_or((f64::NAN, f64::NAN));
            md.push(row![r.step, tau, j, res.modes.kappa[j], m, p, tm, tp]);
        }
        ls.push(row![r.step, tau, r.loss_mean, r.loss_std]);
    }
    bg.write(&dir.join("background.csv"))?;
    md.write(&dir.join("modes.csv"))?;
    ls.write(&dir.join("loss.csv"))?;
    let mut nt = CsvTable::new(&[
        "step",
        "trace",
        "drift",
        "drift_member_mean",
        "drift_member_sd",
        "offdiag_rel_sd",
    ]);
    for s in &res.ntk {
        nt.push(row![
            s.step,
            s.trace,
            s.drift,
            s.drift_member_mean,
            s.drift_member_sd,
            s.offdiag_rel_sd
        ]);
    }
    nt.write(&dir.join("ntk.csv"))
}

#[derive(Serialize)]
struct NnReport<'a> {
    version: &'static str,
    /// Set for an interrupted run (SIGINT/SIGTERM), with the last step it reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<RunStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_step: Option<usize>,
    config: &'a NnConfig,
    adapter: &'a AdapterSummary,
    timings: &'a NnTimings,
    nn: NnSummary,
}

/// All nn outputs plus report.json.
pub fn write_all(res: &NnResults, out: &Path) -> Result<(), ReportError> {
    write_tables(res, out)?;
    write_report(res, out)
}

/// report.json of an `nn` run.
pub(super) fn write_report(res: &NnResults, out: &Path) -> Result<(), ReportError> {
    write_json(
        &out.join("report.json"),
        &NnReport {
            version: env!("CARGO_PKG_VERSION"),
            status: res.interrupted.map(|_| RunStatus::Interrupted),
            last_step: res.interrupted.map(|i| i.0),
            config: &res.config,
            adapter: &res.adapter,
            timings: &res.timings,
            nn: res.summary(),
        },
    )
}
