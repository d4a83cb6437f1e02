//! Combining the statistics of disjoint member ranges (shards on disk, or devices in
//! memory) into the whole ensemble's, and the `merge` subcommand.

use std::path::PathBuf;
use std::time::Instant;

use thiserror::Error;

use super::results::{NnResults, NnTimings, NtkSample};
use super::run::Prepared;
use super::shard::{ShardFile, ensemble_config};
use super::stats::Record;
use crate::checkpoint::{CheckpointError, config_sides};
use crate::report::RunStatus;

#[derive(Debug, Error)]
pub enum MergeError {
    #[error("merge: {0}")]
    Invalid(String),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Run(#[from] super::run::RunError),
    #[error(transparent)]
    Duality(#[from] Box<crate::duality::DualityError>),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
}

/// The results of contiguous, disjoint member ranges combined into those of their
/// union: sums added in member order, traces and step-0 NTKs concatenated. Records
/// and NTK measurements are kept up to the shortest part's (a part that diverged
/// stops the whole at its step, as it would have stopped one run).
pub fn combine(mut parts: Vec<NnResults>) -> Result<NnResults, MergeError> {
    parts.sort_by_key(|p| p.members.start);
    for w in parts.windows(2) {
        if w[0].members.end != w[1].members.start {
            return Err(MergeError::Invalid(format!(
                "members {:?} and {:?} are not adjacent",
                w[0].members, w[1].members
            )));
        }
    }
    let mut it = parts.into_iter();
    let Some(mut all) = it.next() else {
        return Err(MergeError::Invalid("nothing to merge".into()));
    };
    let y = all.data.y.clone();
    let mut ntk_sums: Vec<_> = all.ntk.iter().map(|s| s.sums.clone()).collect();
    let mut sums: Vec<_> = all.records.iter().map(|r| r.sums.clone()).collect();
    let mut traces: Vec<Vec<f32>> = all.records.iter().map(|r| r.traces.clone()).collect();
    let mut parts_timings = vec![all.timings.clone()];
    for p in it {
        if p.records.len() < sums.len() {
            sums.truncate(p.records.len());
            traces.truncate(p.records.len());
        }
        for (k, r) in p.records.iter().take(sums.len()).enumerate() {
            if r.step != all.records[k].step {
                return Err(MergeError::Invalid(format!(
                    "record {k} is step {} in members {:?} but step {} in {:?}",
                    all.records[k].step, all.members, r.step, p.members
                )));
            }
            sums[k].add(&r.sums);
            traces[k].extend_from_slice(&r.traces);
        }
        ntk_sums.truncate(p.ntk.len());
        for (a, b) in ntk_sums.iter_mut().zip(&p.ntk) {
            if a.step != b.step {
                return Err(MergeError::Invalid(format!(
                    "NTK measurement at step {} in one part is at step {} in members {:?}",
                    a.step, b.step, p.members
                )));
            }
            a.add(&b.sums);
        }
        all.ntk_members0 = match (all.ntk_members0.take(), p.ntk_members0) {
            (Some(mut a), Some(b)) => {
                a.extend(b);
                Some(a)
            }
            _ => None,
        };
        all.chunks.extend(&p.chunks);
        all.fused &= p.fused;
        all.diverged = match (all.diverged, p.diverged) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        all.interrupted = all.interrupted.or(p.interrupted);
        all.members.end = p.members.end;
        all.devices += p.devices;
        parts_timings.push(p.timings);
    }
    all.records = all
        .records
        .iter()
        .zip(sums)
        .zip(traces)
        .map(|((r, s), t)| Record::new(r.step, s, &y, t))
        .collect();
    all.ntk = NtkSample::series(ntk_sums);
    all.timings = parallel_timings(&parts_timings);
    if all.members == (0..all.config.ensemble) {
        all.config.shard = None;
    }
    Ok(all)
}

/// Timings of parts that ran side by side: each phase as long as its slowest part;
/// throughput of the whole ensemble over that wall.
fn parallel_timings(parts: &[NnTimings]) -> NnTimings {
    let max = |f: fn(&NnTimings) -> f64| parts.iter().map(f).fold(0.0, f64::max);
    let flops_per_step: f64 = parts.iter().map(|t| t.flops_per_step).sum();
    let steps = parts
        .iter()
        .map(|t| t.steps_per_s * t.train_s)
        .fold(f64::INFINITY, f64::min);
    let train_s = max(|t| t.train_s);
    let steps_per_s = if train_s > 0.0 { steps / train_s } else { 0.0 };
    NnTimings {
        setup_s: max(|t| t.setup_s),
        init_s: max(|t| t.init_s),
        train_s,
        ntk_s: max(|t| t.ntk_s),
        write_s: max(|t| t.write_s),
        checkpoint_s: max(|t| t.checkpoint_s),
        checkpoints: parts.iter().map(|t| t.checkpoints).max().unwrap_or(0),
        steps_per_s,
        flops_per_step,
        gflop_per_s: steps_per_s * flops_per_step / 1e9,
    }
}

/// The shards, opened and checked: one program version, one command, one ensemble
/// configuration (seed included), every member exactly once, every shard finished.
/// Returned in member order, with the reference manifest's resolved arguments.
pub fn check_shards(dirs: &[PathBuf]) -> Result<Vec<ShardFile>, MergeError> {
    let bad = |m: String| MergeError::Invalid(m);
    let mut files = dirs
        .iter()
        .map(|d| {
            ShardFile::open(d).map_err(|e| match e {
                CheckpointError::Read { .. } if !d.join(super::shard::SHARD_DIR).exists() => bad(format!(
                    "{} holds no shard statistics: a run with --shard I/N writes them to OUT/{}",
                    d.display(),
                    super::shard::SHARD_DIR
                )),
                e => e.into(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let first = &files[0];
    let (m0, d0) = (&first.ckpt.manifest, first.given.display().to_string());
    for f in &files {
        let m = &f.ckpt.manifest;
        let d = f.given.display();
        if m.format != crate::checkpoint::FORMAT
            || m.program != env!("CARGO_PKG_NAME")
            || m.version != env!("CARGO_PKG_VERSION")
        {
            return Err(bad(format!(
                "shard {d} was written by {} version {} (format {}), this is {} version {} (format {}); re-run it with this version",
                m.program,
                m.version,
                m.format,
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
                crate::checkpoint::FORMAT
            )));
        }
        if m.command != m0.command {
            return Err(bad(format!(
                "shard {d} is from `{}` but {d0} is from `{}`",
                m.command, m0.command
            )));
        }
        if let Some((a, b)) =
            config_sides(&ensemble_config(&m0.config), &ensemble_config(&m.config))
        {
            return Err(bad(format!(
                "shards {d0} and {d} are different runs: {d0} has {a}, {d} has {b}"
            )));
        }
        if f.status == RunStatus::Interrupted {
            return Err(bad(format!(
                "shard {d} stopped at step {} (interrupted); finish it with --resume {d} before merging",
                m.step
            )));
        }
    }
    let ensemble = m0
        .config
        .pointer("/ensemble")
        .or_else(|| m0.config.pointer("/nn/ensemble"))
        .and_then(|v| v.as_u64())
        .ok_or_else(|| {
            bad(format!(
                "shard {d0}: the configuration has no ensemble size"
            ))
        })? as usize;
    files.sort_by_key(|f| (f.members.start, f.members.end));
    let mut next = 0;
    let mut prev: Option<&ShardFile> = None;
    for f in &files {
        if f.members.start > next {
            return Err(bad(missing(next..f.members.start, ensemble, &files)));
        }
        if f.members.start < next {
            let p = prev
                .map(|p| p.given.display().to_string())
                .unwrap_or_default();
            return Err(bad(format!(
                "shards {p} and {} overlap: both hold members [{}, {}); every member must be merged once",
                f.given.display(),
                f.members.start,
                next.min(f.members.end)
            )));
        }
        next = f.members.end;
        prev = Some(f);
    }
    if next < ensemble {
        return Err(bad(missing(next..ensemble, ensemble, &files)));
    }
    Ok(files)
}

/// Names members no shard holds, and the shard I/N they belong to when the given
/// shards share one N.
fn missing(r: std::ops::Range<usize>, ensemble: usize, files: &[ShardFile]) -> String {
    let counts: Vec<usize> = files
        .iter()
        .filter_map(|f| f.ckpt.scalar::<serde_json::Value>("args").ok())
        .filter_map(|a| {
            let s = a
                .get("shard")
                .or_else(|| a.pointer("/nn/shard"))?
                .as_str()?
                .to_string();
            s.split_once('/')?.1.parse().ok()
        })
        .collect();
    let which = match counts.first() {
        Some(&n) if counts.iter().all(|&c| c == n) => {
            let ids: Vec<String> = (0..n)
                .filter(|&i| {
                    let s = crate::config::scale::split(ensemble, n, i);
                    s.start < r.end && r.start < s.end
                })
                .map(|i| format!("{i}/{n}"))
                .collect();
            format!(" (shard {} missing)", ids.join(", "))
        }
        _ => String::new(),
    };
    format!(
        "members [{}, {}) of {ensemble} are in no shard given{which}; every member must be merged once",
        r.start, r.end
    )
}

/// The parts of checked shards as results, on the data and analytic set-up `prep`
/// of their (common) configuration `cfg`.
pub fn load_parts(
    files: &[ShardFile],
    cfg: &crate::config::nn::NnConfig,
    prep: &Prepared,
) -> Result<Vec<NnResults>, MergeError> {
    let record_steps: Vec<usize> = (0..=cfg.steps)
        .filter(|s| s.is_multiple_of(cfg.record_every) || *s == cfg.steps)
        .collect();
    let theory = crate::theory::propagator::theory_lines(
        &prep.modes,
        &prep.nngp,
        &prep.data.y,
        cfg.lr,
        cfg.momentum,
        &record_steps,
    );
    files
        .iter()
        .map(|f| {
            let stats = f.stats(&prep.data.y)?;
            let c = &f.ckpt;
            Ok(NnResults {
                config: cfg.clone(),
                data: prep.data.clone(),
                modes: prep.modes.clone(),
                nngp: prep.nngp.iter().cloned().collect(),
                records: stats.records,
                theory: theory.clone(),
                ntk: stats.ntk,
                ntk_members0: stats.ntk_members0,
                timings: f.timings()?,
                adapter: f.adapter()?,
                chunks: c.scalar("chunks")?,
                fused: c.scalar("fused")?,
                params_per_member: c.scalar("params_per_member")?,
                diverged: c.scalar("diverged")?,
                interrupted: None,
                members: f.members.clone(),
                devices: c.scalar("devices")?,
            })
        })
        .collect()
}

/// `nncosmo-gpu merge --out DIR SHARD_DIR...`.
pub fn run_cli(args: &crate::cli::MergeArgs) -> Result<(), MergeError> {
    let t = Instant::now();
    let files = check_shards(&args.shards)?;
    let command = files[0].ckpt.manifest.command.clone();
    let mut raw: serde_json::Value = files[0].ckpt.scalar("args")?;
    // The merged run is the unsharded one (a run's network flags are its `nn` table).
    let nn_raw = if command == "run" {
        raw.get_mut("nn")
    } else {
        Some(&mut raw)
    };
    if let Some(o) = nn_raw.and_then(|v| v.as_object_mut()) {
        for k in ["shard", "devices", "checkpoint_every", "resume"] {
            o.remove(k);
        }
    }
    let parse = |m: serde_json::Error| {
        MergeError::Invalid(format!(
            "shard {}: its recorded arguments do not parse ({m})",
            files[0].given.display()
        ))
    };
    // ... written to merge's --out, on merge's adapter.
    let nn_args = |v: serde_json::Value| -> Result<crate::cli::nn::NnArgs, MergeError> {
        let mut a: crate::cli::nn::NnArgs = serde_json::from_value(v).map_err(parse)?;
        a.output = args.output.clone();
        a.device = args.device.clone();
        Ok(a)
    };
    match command.as_str() {
        "nn" => {
            let a = nn_args(raw)?;
            let (cfg, target) = a.resolve_target()?;
            let prep = super::run::prepare(&cfg)?;
            let out = &target.output;
            let mut dir = crate::report::RunDir::create(&out.out, out.force)?;
            let parts = load_parts(&files, &cfg, &prep)?;
            let load_s = t.elapsed().as_secs_f64();
            let res = combine(parts)?;
            let status = if res.diverged.is_some() {
                RunStatus::Diverged
            } else {
                RunStatus::Complete
            };
            let config = serde_json::to_value(&cfg).unwrap_or_default();
            let args_v = serde_json::to_value(&a).unwrap_or_default();
            dir.publish(status, res.last_step(), |d| -> Result<(), MergeError> {
                super::output::write_all(&res, d)?;
                super::shard::write(
                    &res,
                    &d.join(super::shard::SHARD_DIR),
                    "nn",
                    &config,
                    args_v,
                    status,
                )?;
                Ok(())
            })?;
            println!(
                "merge: {} shards, {} members × {} records into {} in {:.2} s (reading {:.2} s)",
                files.len(),
                cfg.ensemble,
                res.records.len(),
                out.out.display(),
                t.elapsed().as_secs_f64(),
                load_s
            );
            Ok(())
        }
        "run" => {
            let part = |k: &str| raw.get(k).cloned().unwrap_or_default();
            let a = crate::cli::run::RunArgs {
                nn: nn_args(part("nn"))?,
                lattice: serde_json::from_value(part("lattice")).map_err(parse)?,
            };
            crate::duality::cli::merge_cli(&a, &files, t).map_err(|e| Box::new(e).into())
        }
        other => Err(MergeError::Invalid(format!(
            "shard {} is from `{other}`, which has no shards",
            files[0].given.display()
        ))),
    }
}
