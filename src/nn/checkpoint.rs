//! Checkpoints of a training run: the ensemble's parameters and velocities, and
//! everything the run loop has accumulated (records with their traces, NTK
//! measurements, the step-0 NTKs the drifts are measured against), so a resumed run
//! continues bit for bit.

use std::path::PathBuf;

use super::engine::{Ensemble, Record};
use super::run::{NtkSample, RunError};
use crate::checkpoint::{Checkpoint, CheckpointWriter, Manifest};

/// Where a run writes its checkpoints, and what it continues from.
pub struct CheckpointPlan {
    /// The checkpoint directory (OUT/checkpoint).
    pub dir: PathBuf,
    /// `nn` or `run`: resuming checks it.
    pub command: &'static str,
    /// The configuration the manifest records and a resumed run is checked against.
    pub config: serde_json::Value,
    /// Steps between checkpoints (None: only on a signal, or at the end).
    pub every: Option<usize>,
    /// Also checkpoint the last step when checkpoints were asked for or a signal is
    /// pending there (so a later phase of `run` can resume from it).
    pub at_end: bool,
    /// The checkpoint a resumed run starts from (already checked).
    pub resume: Option<Checkpoint>,
}

/// What `train` restores from a checkpoint besides the engine state.
pub struct Restored {
    pub step: usize,
    pub records: Vec<Record>,
    pub ntk: Vec<NtkSample>,
    pub ntk0: Vec<f64>,
    pub ntk_members0: Option<Vec<f32>>,
}

/// Columns of `ntk.npy`, in order.
const NTK_COLUMNS: usize = 7;

/// Writes the state after `step` steps (records are those of steps < `step`; NTK
/// measurements up to and including `step`).
#[allow(clippy::too_many_arguments)]
pub fn save(
    plan: &CheckpointPlan,
    ens: &Ensemble,
    seed: u64,
    step: usize,
    records: &[Record],
    ntk: &[NtkSample],
    ntk0: &[f64],
    ntk_members0: Option<&[f32]>,
) -> Result<(), RunError> {
    let (params, vel) = ens.save_state()?;
    let e = ens.chunk_sizes().iter().sum::<usize>() as u64;
    let p = ens.params_per_member() as u64;
    let n = ntk0.len().isqrt();
    let r = records.len() as u64;
    let k = ens.member_traces();
    let mut w = CheckpointWriter::new(&plan.dir)?;
    w.array("params", &[e, p], &params)?;
    w.array("velocities", &[e, p], &vel)?;
    drop((params, vel));
    let steps: Vec<u64> = records.iter().map(|r| r.step as u64).collect();
    w.array("record_step", &[r], &steps)?;
    type Field = fn(&Record) -> &[f32];
    let cols: [(&str, Field); 4] = [
        ("record_mean", |r| &r.mean),
        ("record_var", |r| &r.var),
        ("record_proj_mean", |r| &r.proj_mean),
        ("record_proj_power", |r| &r.proj_power),
    ];
    for (name, f) in cols {
        let v: Vec<f32> = records.iter().flat_map(|r| f(r).iter().copied()).collect();
        w.array(name, &[r, n as u64], &v)?;
    }
    let loss: Vec<f32> = records
        .iter()
        .flat_map(|r| [r.loss_mean, r.loss_std])
        .collect();
    w.array("record_loss", &[r, 2], &loss)?;
    let traces: Vec<f32> = records
        .iter()
        .flat_map(|r| r.traces.iter().copied())
        .collect();
    w.array("record_traces", &[r, k as u64, n as u64], &traces)?;
    let m: Vec<f64> = ntk
        .iter()
        .flat_map(|s| {
            [
                s.step as f64,
                s.trace,
                s.drift,
                s.drift_member_mean,
                s.drift_member_sd,
                s.offdiag_rel_sd,
                s.diag_rel_sd,
            ]
        })
        .collect();
    w.array("ntk", &[ntk.len() as u64, NTK_COLUMNS as u64], &m)?;
    w.array("ntk0_mean", &[n as u64, n as u64], ntk0)?;
    if let Some(m0) = ntk_members0 {
        w.array("ntk0_members", &[e, n as u64, n as u64], m0)?;
    }
    w.commit(Manifest::new(
        plan.command,
        plan.config.clone(),
        step as u64,
        seed,
    ))?;
    Ok(())
}

/// Loads a checkpoint into `ens` and returns the run loop's state. `n` is the number
/// of training points, `k` the traced members.
pub fn restore(c: &Checkpoint, ens: &Ensemble, n: usize) -> Result<Restored, RunError> {
    let e = ens.chunk_sizes().iter().sum::<usize>();
    let ep = e * ens.params_per_member();
    let params = c.vec::<f32>("params", ep)?;
    let vel = c.vec::<f32>("velocities", ep)?;
    ens.load_state(&params, &vel)?;
    drop((params, vel));
    let steps: Vec<u64> = c.array("record_step")?.1;
    let r = steps.len();
    let k = ens.member_traces();
    let mean = c.vec::<f32>("record_mean", r * n)?;
    let var = c.vec::<f32>("record_var", r * n)?;
    let pm = c.vec::<f32>("record_proj_mean", r * n)?;
    let pp = c.vec::<f32>("record_proj_power", r * n)?;
    let loss = c.vec::<f32>("record_loss", r * 2)?;
    let traces = c.vec::<f32>("record_traces", r * k * n)?;
    let records = (0..r)
        .map(|i| Record {
            step: steps[i] as usize,
            mean: mean[i * n..(i + 1) * n].to_vec(),
            var: var[i * n..(i + 1) * n].to_vec(),
            proj_mean: pm[i * n..(i + 1) * n].to_vec(),
            proj_power: pp[i * n..(i + 1) * n].to_vec(),
            loss_mean: loss[2 * i],
            loss_std: loss[2 * i + 1],
            traces: traces[i * k * n..(i + 1) * k * n].to_vec(),
        })
        .collect();
    let (shape, m) = c.array::<f64>("ntk")?;
    if shape.len() != 2 || shape[1] != NTK_COLUMNS as u64 {
        return Err(crate::checkpoint::CheckpointError::Read {
            path: c.dir.display().to_string(),
            message: format!("ntk has shape {shape:?}, expected (M, {NTK_COLUMNS})"),
        }
        .into());
    }
    let ntk = m
        .chunks_exact(NTK_COLUMNS)
        .map(|v| NtkSample {
            step: v[0] as usize,
            trace: v[1],
            drift: v[2],
            drift_member_mean: v[3],
            drift_member_sd: v[4],
            offdiag_rel_sd: v[5],
            diag_rel_sd: v[6],
        })
        .collect();
    let ntk0 = c.vec::<f64>("ntk0_mean", n * n)?;
    let ntk_members0 = if c.manifest.arrays.contains_key("ntk0_members") {
        Some(c.vec::<f32>("ntk0_members", e * n * n)?)
    } else {
        None
    };
    Ok(Restored {
        step: c.manifest.step as usize,
        records,
        ntk,
        ntk0,
        ntk_members0,
    })
}
