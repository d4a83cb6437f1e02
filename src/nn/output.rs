//! The files of an `nn` run: its tables under nn/ and report.json.

use std::path::Path;

use serde::Serialize;

use super::results::{NnResults, NnSummary, NnTimings};
use crate::config::nn::NnConfig;
use crate::gpu::AdapterSummary;
use crate::report::csv::sci;
use crate::report::{CsvTable, ReportError, RunStatus, write_atomic, write_json};

/// A row of `nn/background.csv`: one training point's ensemble mean and variance.
#[derive(Default, Serialize)]
struct BackgroundCsv {
    step: usize,
    #[serde(serialize_with = "sci")]
    tau: f64,
    point: usize,
    #[serde(serialize_with = "sci")]
    mean: f64,
    #[serde(serialize_with = "sci")]
    var: f64,
}

/// A row of `nn/modes.csv`: one mode class against the infinite-width theory.
#[derive(Default, Serialize)]
struct ModesCsv {
    step: usize,
    #[serde(serialize_with = "sci")]
    tau: f64,
    mode: usize,
    #[serde(serialize_with = "sci")]
    kappa: f64,
    #[serde(serialize_with = "sci")]
    mean_residual: f64,
    #[serde(serialize_with = "sci")]
    power: f64,
    #[serde(serialize_with = "sci")]
    theory_mean_residual: f64,
    #[serde(serialize_with = "sci")]
    theory_power: f64,
}

/// A row of `nn/loss.csv`.
#[derive(Default, Serialize)]
struct LossCsv {
    step: usize,
    #[serde(serialize_with = "sci")]
    tau: f64,
    #[serde(serialize_with = "sci")]
    loss_mean: f64,
    #[serde(serialize_with = "sci")]
    loss_std: f64,
}

/// A row of `nn/ntk.csv`.
#[derive(Default, Serialize)]
struct NtkCsv {
    step: usize,
    #[serde(serialize_with = "sci")]
    trace: f64,
    #[serde(serialize_with = "sci")]
    drift: f64,
    #[serde(serialize_with = "sci")]
    drift_member_mean: f64,
    #[serde(serialize_with = "sci")]
    drift_member_sd: f64,
    #[serde(serialize_with = "sci")]
    offdiag_rel_sd: f64,
}

/// `nn/dataset.csv`: its columns x0..x{d-1} depend on the data, so it is written
/// record by record rather than from a row struct.
fn dataset_csv(res: &NnResults) -> Result<Vec<u8>, ReportError> {
    let bad = |e: csv::Error| ReportError::Serialise {
        what: "nn/dataset.csv".into(),
        message: e.to_string(),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let d = res.data.input_dim();
    let header = std::iter::once("point".to_string())
        .chain((0..d).map(|j| format!("x{j}")))
        .chain(std::iter::once("y".to_string()));
    w.write_record(header).map_err(bad)?;
    for (i, (x, y)) in res.data.x.iter().zip(&res.data.y).enumerate() {
        let reals = x.iter().chain(std::iter::once(y)).map(|v| format!("{v:e}"));
        w.write_record(std::iter::once(i.to_string()).chain(reals))
            .map_err(bad)?;
    }
    w.into_inner().map_err(|e| bad(e.into_error().into()))
}

/// Writes nn/*.csv (atomically, each file complete).
pub fn write_tables(res: &NnResults, out: &Path) -> Result<(), ReportError> {
    let dir = out.join("nn");
    write_atomic(&dir.join("dataset.csv"), &dataset_csv(res)?)?;

    let sqrt_eta = res.config.lr.sqrt();
    let mut bg = CsvTable::new();
    let mut md = CsvTable::new();
    let mut ls = CsvTable::new();
    for r in &res.records {
        let (step, tau) = (r.step, sqrt_eta * r.step as f64);
        for (point, (&mean, &var)) in r.mean.iter().zip(&r.var).enumerate() {
            bg.push(BackgroundCsv {
                step,
                tau,
                point,
                mean,
                var,
            });
        }
        let th = res.theory.at(r.step);
        for (mode, (mean_residual, power)) in res.mode_values(r).into_iter().enumerate() {
            let (theory_mean_residual, theory_power) = th
                .map(|t| (t.mode_mean_residual[mode], t.mode_power[mode]))
                .unwrap_or((f64::NAN, f64::NAN));
            md.push(ModesCsv {
                step,
                tau,
                mode,
                kappa: res.modes.kappa[mode],
                mean_residual,
                power,
                theory_mean_residual,
                theory_power,
            });
        }
        ls.push(LossCsv {
            step,
            tau,
            loss_mean: r.loss_mean,
            loss_std: r.loss_std,
        });
    }
    bg.write(&dir.join("background.csv"))?;
    md.write(&dir.join("modes.csv"))?;
    ls.write(&dir.join("loss.csv"))?;
    let nt: CsvTable<NtkCsv> = res
        .recorded_ntk()
        .iter()
        .map(|s| NtkCsv {
            step: s.step,
            trace: s.trace,
            drift: s.drift,
            drift_member_mean: s.drift_member_mean,
            drift_member_sd: s.drift_member_sd,
            offdiag_rel_sd: s.offdiag_rel_sd,
        })
        .collect();
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
