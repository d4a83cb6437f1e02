//! Checkpoints of a training run and the statistics files of shards.
//!
//! Both keep the run loop's accumulated statistics as exact f64 sums over members
//! (records, NTK measurements) with the traced members' amplitudes and the step-0
//! member NTKs; a checkpoint adds the ensemble's parameters and velocities, so a
//! resumed run continues bit for bit.

use std::path::PathBuf;

use super::engine::{Ensemble, Record};
use super::results::NtkSample;
use super::run::RunError;
use super::stats::{MemberNtkSums, NtkSums, RecordSums};
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointWriter, Manifest};

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

/// The statistics a run has accumulated over its members.
pub struct Accumulated {
    pub records: Vec<Record>,
    pub ntk: Vec<NtkSample>,
    /// Θ_e(0) of every member, E×N×N, when measured.
    pub ntk_members0: Option<Vec<f32>>,
}

/// What `train` restores from a checkpoint besides the engine state.
pub struct Restored {
    pub step: usize,
    pub stats: Accumulated,
}

/// Adds the statistics arrays: `traced` members' amplitudes per record, `members`
/// members' step-0 NTKs, N points.
pub fn write_stats(
    w: &mut CheckpointWriter,
    records: &[Record],
    ntk: &[NtkSample],
    ntk_members0: Option<&[f32]>,
    traced: usize,
    n: usize,
) -> Result<(), CheckpointError> {
    let r = records.len() as u64;
    let n64 = n as u64;
    let col = |f: &dyn Fn(&Record) -> u64| -> Vec<u64> { records.iter().map(f).collect() };
    w.array("record_step", &[r], &col(&|x| x.step as u64))?;
    w.array("record_members", &[r], &col(&|x| x.sums.members))?;
    let sums: Vec<f64> = records.iter().flat_map(|x| x.sums.flat()).collect();
    w.array("record_sums", &[r, 4 * n64 + 2], &sums)?;
    let traces: Vec<f32> = records
        .iter()
        .flat_map(|x| x.traces.iter().copied())
        .collect();
    w.array("record_traces", &[r, traced as u64, n64], &traces)?;
    let m = ntk.len() as u64;
    let nc = |f: &dyn Fn(&NtkSums) -> u64| -> Vec<u64> { ntk.iter().map(|x| f(&x.sums)).collect() };
    w.array("ntk_step", &[m], &nc(&|x| x.step as u64))?;
    w.array("ntk_members", &[m], &nc(&|x| x.members))?;
    w.array(
        "ntk_has_member_sums",
        &[m],
        &nc(&|x| x.member.is_some() as u64),
    )?;
    let theta: Vec<f64> = ntk.iter().flat_map(|x| x.sums.theta.clone()).collect();
    w.array("ntk_theta_sum", &[m, n64, n64], &theta)?;
    let width = 2 + 2 * n * n;
    let member: Vec<f64> = ntk
        .iter()
        .flat_map(|x| match &x.sums.member {
            Some(s) => {
                let mut v = vec![s.drift1, s.drift2];
                v.extend(&s.rot1);
                v.extend(&s.rot2);
                v
            }
            None => vec![0.0; width],
        })
        .collect();
    w.array("ntk_member_sums", &[m, width as u64], &member)?;
    if let Some(m0) = ntk_members0 {
        let e = (m0.len() / (n * n).max(1)) as u64;
        w.array("ntk0_members", &[e, n64, n64], m0)?;
    }
    Ok(())
}

/// Reads what `write_stats` wrote (`traced` members' amplitudes, `members` members'
/// step-0 NTKs, targets `y`).
pub fn read_stats(
    c: &Checkpoint,
    y: &[f64],
    traced: usize,
    members: usize,
) -> Result<Accumulated, CheckpointError> {
    let n = y.len();
    let steps: Vec<u64> = c.array("record_step")?.1;
    let r = steps.len();
    let counts = c.vec::<u64>("record_members", r)?;
    let sums = c.vec::<f64>("record_sums", r * (4 * n + 2))?;
    let traces = c.vec::<f32>("record_traces", r * traced * n)?;
    let w = 4 * n + 2;
    let kn = traced * n;
    let records = (0..r)
        .map(|i| {
            let s = RecordSums::from_flat(counts[i], &sums[i * w..(i + 1) * w]);
            Record::new(
                steps[i] as usize,
                s,
                y,
                traces[i * kn..(i + 1) * kn].to_vec(),
            )
        })
        .collect();
    let nsteps: Vec<u64> = c.array("ntk_step")?.1;
    let m = nsteps.len();
    let nmem = c.vec::<u64>("ntk_members", m)?;
    let has = c.vec::<u64>("ntk_has_member_sums", m)?;
    let theta = c.vec::<f64>("ntk_theta_sum", m * n * n)?;
    let width = 2 + 2 * n * n;
    let ms = c.vec::<f64>("ntk_member_sums", m * width)?;
    let sums: Vec<NtkSums> = (0..m)
        .map(|i| {
            let row = &ms[i * width..(i + 1) * width];
            NtkSums {
                step: nsteps[i] as usize,
                members: nmem[i],
                theta: theta[i * n * n..(i + 1) * n * n].to_vec(),
                member: (has[i] != 0).then(|| MemberNtkSums {
                    drift1: row[0],
                    drift2: row[1],
                    rot1: row[2..2 + n * n].to_vec(),
                    rot2: row[2 + n * n..].to_vec(),
                }),
            }
        })
        .collect();
    let ntk = NtkSample::series(sums);
    let ntk_members0 = if c.manifest.arrays.contains_key("ntk0_members") {
        Some(c.vec::<f32>("ntk0_members", members * n * n)?)
    } else {
        None
    };
    Ok(Accumulated {
        records,
        ntk,
        ntk_members0,
    })
}

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
    ntk_members0: Option<&[f32]>,
    n: usize,
) -> Result<(), RunError> {
    let (params, vel) = ens.save_state()?;
    let e = ens.chunk_sizes().iter().sum::<usize>() as u64;
    let p = ens.params_per_member() as u64;
    let mut w = CheckpointWriter::new(&plan.dir)?;
    w.array("params", &[e, p], &params)?;
    w.array("velocities", &[e, p], &vel)?;
    drop((params, vel));
    write_stats(&mut w, records, ntk, ntk_members0, ens.member_traces(), n)?;
    w.commit(Manifest::new(
        plan.command,
        plan.config.clone(),
        step as u64,
        seed,
    ))?;
    Ok(())
}

/// Loads a checkpoint into `ens` and returns the run loop's state.
pub fn restore(c: &Checkpoint, ens: &Ensemble, y: &[f64]) -> Result<Restored, RunError> {
    let e = ens.chunk_sizes().iter().sum::<usize>();
    let ep = e * ens.params_per_member();
    let params = c.vec::<f32>("params", ep)?;
    let vel = c.vec::<f32>("velocities", ep)?;
    ens.load_state(&params, &vel)?;
    drop((params, vel));
    Ok(Restored {
        step: c.manifest.step as usize,
        stats: read_stats(c, y, ens.member_traces(), e)?,
    })
}
