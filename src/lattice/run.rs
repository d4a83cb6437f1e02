//! The driver loop (`Lattice::run`, `run_with`: outputs, their bookkeeping and the
//! results they assemble into) and `nncosmo-gpu lattice`: configure, set up, evolve,
//! write.

use std::time::Instant;

use super::energy::energy_residuals;
use super::results::{
    BackgroundRow, Divergence, FieldRow, LatticeResults, Observables, SpectrumRow, Timings,
};
use super::scheme::Integrator;
use super::theory::theory_power;
use super::{Lattice, LatticeError, checkpoint, output};
use crate::checkpoint::Checkpoint;
use crate::cli::lattice::LatticeArgs;
use crate::gpu::GpuContext;
use crate::report::RunStatus;
use crate::theory::desitter::background;

/// What `Lattice::run_with` has accumulated: the outputs so far and their timings.
#[derive(Clone, Debug, Default)]
pub struct RunProgress {
    /// Per output: (step, t, per-field observables, per-field flux integral).
    pub obs: Vec<(usize, f64, Vec<Observables>, Vec<f64>)>,
    /// Per spectrum output: (step, t, per-field binned P(k)).
    pub spectra: Vec<(usize, f64, Vec<Vec<f64>>)>,
    pub evolve_s: f64,
    pub spectra_s: f64,
}

impl Lattice {
    /// The whole run: outputs at step 0, every `output_every` steps and at the end.
    pub fn run(&mut self, progress: bool) -> Result<LatticeResults, LatticeError> {
        self.run_with(progress, RunProgress::default(), &mut |_, _| Ok(false))
    }

    /// `run` from `start` (the outputs of a resumed run; empty for a fresh one, which
    /// records step 0 first), calling `after_output` after every output with the
    /// outputs so far. It returns true to stop the run there; the results then hold
    /// the outputs up to that step.
    pub fn run_with(
        &mut self,
        progress: bool,
        start: RunProgress,
        after_output: &mut dyn FnMut(&mut Self, &RunProgress) -> Result<bool, LatticeError>,
    ) -> Result<LatticeResults, LatticeError> {
        let cfg = self.cfg.clone();
        let nf = self.fields;
        let step0 = self.step;
        let bar = progress.then(|| crate::report::progress::step_bar(cfg.steps as u64, "lattice"));
        let mut res = LatticeResults {
            fields: nf,
            ..Default::default()
        };
        let mut p = start;
        let record = |lat: &mut Self, p: &mut RunProgress| -> Result<(), LatticeError> {
            let t0 = Instant::now();
            let o = lat.field_observables()?;
            p.evolve_s += t0.elapsed().as_secs_f64();
            p.obs.push((lat.step, lat.t, o, lat.flux.clone()));
            let every = lat.cfg.spectrum_every.unwrap_or(1).max(1);
            if lat.step.is_multiple_of(every) || lat.step == lat.cfg.steps {
                let t1 = Instant::now();
                p.spectra.push((lat.step, lat.t, lat.power()?));
                p.spectra_s += t1.elapsed().as_secs_f64();
            }
            Ok(())
        };
        let mut stop = false;
        if p.obs.is_empty() {
            record(self, &mut p)?;
            stop = after_output(self, &p)?;
        }
        while self.step < cfg.steps && !stop {
            let k = cfg.output_every.min(cfg.steps - self.step);
            let t0 = Instant::now();
            self.advance(k)?;
            p.evolve_s += t0.elapsed().as_secs_f64();
            // An overflow ends the run but keeps every output before it.
            match record(self, &mut p) {
                Err(LatticeError::NonFinite(reason)) => {
                    res.diverged = Some(Divergence {
                        step: self.step,
                        reason,
                    });
                    break;
                }
                r => r?,
            }
            if let Some(b) = &bar {
                b.set_position(self.step as u64);
                b.set_message(format!("{:.2} e-folds", cfg.hubble * self.t));
            }
            stop = after_output(self, &p)?;
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let RunProgress {
            obs,
            spectra,
            evolve_s: evolve,
            spectra_s: spec,
        } = p;
        let t_theory = Instant::now();
        // The total's budget is Σ_b a³ρ_b against Σ_b of the flux integrals; for
        // F = 1 it is the field's own.
        let total: Vec<(f64, Observables, f64)> = obs
            .iter()
            .map(|(_, t, o, f)| (*t, Observables::total(o), f.iter().sum()))
            .collect();
        let resid = energy_residuals(cfg.hubble, &total);
        for ((step, t, _, _), ((_, o, _), r)) in obs.iter().zip(total.iter().zip(&resid)) {
            res.background.push(BackgroundRow {
                step: *step,
                t: *t,
                a: (cfg.hubble * t).exp(),
                obs: *o,
                energy_residual: *r,
            });
        }
        let field_resid: Vec<Vec<f64>> = (0..nf)
            .map(|b| {
                let rows: Vec<(f64, Observables, f64)> =
                    obs.iter().map(|(_, t, o, f)| (*t, o[b], f[b])).collect();
                energy_residuals(cfg.hubble, &rows)
            })
            .collect();
        for (i, (step, t, o, _)) in obs.iter().enumerate() {
            for b in 0..nf {
                res.field_rows.push(FieldRow {
                    step: *step,
                    t: *t,
                    field: b,
                    m2: self.m2s[b],
                    obs: o[b],
                    energy_residual: field_resid[b][i],
                });
            }
        }
        // The closed forms and linear theory are those of uncoupled fields.
        let coupled = self.coupled.is_some();
        if cfg.lambda == 0.0 && !coupled {
            res.field_theory = self
                .m2s
                .iter()
                .map(|&m2| {
                    obs.iter()
                        .map(|(_, t, _, _)| {
                            let (x, v) = background(
                                cfg.hubble,
                                m2,
                                cfg.phi_init - cfg.phi_min,
                                cfg.dphi_init,
                                *t,
                            );
                            (x + cfg.phi_min, v)
                        })
                        .collect()
                })
                .collect();
            if nf == 1 {
                res.background_theory = res.field_theory[0].clone();
            }
        }
        let times: Vec<f64> = spectra.iter().map(|s| s.1).collect();
        let theory: Vec<Vec<Vec<f64>>> = (0..nf)
            .map(|b| match &self.sums {
                Some(s) if cfg.hubble >= 0.0 && !coupled => {
                    theory_power(&self.table, &s[b], self.m2s[b], cfg.hubble, &times)
                }
                _ => vec![vec![f64::NAN; self.table.bin_k.len()]; times.len()],
            })
            .collect();
        for (i, (step, t, p)) in spectra.iter().enumerate() {
            for (b, p) in p.iter().enumerate() {
                for k in 0..p.len() {
                    res.spectrum.push(SpectrumRow {
                        step: *step,
                        t: *t,
                        field: b,
                        k: self.table.bin_k[k],
                        power: p[k],
                        modes: self.table.bin_count[k],
                        theory_power: theory[b][i][k],
                    });
                }
            }
        }
        let sites = (nf * self.sites()) as f64 * (self.step - step0) as f64;
        let forces = match cfg.integrator {
            Integrator::Leapfrog => 1.0,
            Integrator::Yoshida4 => 3.0,
        };
        res.timings = Timings {
            kernel: format!("{:?}", self.kernel),
            evolve_s: evolve,
            spectra_s: spec,
            theory_s: t_theory.elapsed().as_secs_f64(),
            site_updates_per_s: sites / evolve,
            force_evaluations_per_s: forces * sites / evolve,
            ..Default::default()
        };
        Ok(res)
    }
}

pub fn run_cli(args: &LatticeArgs) -> Result<(), LatticeError> {
    crate::signals::install();
    let (cfg, target) = args.resolve_target()?;
    let out = &target.output.out;
    let config = serde_json::to_value(&cfg).unwrap_or_default();
    let resume = match &cfg.resume {
        Some(dir) => {
            let c = Checkpoint::open(dir)?;
            c.check("lattice", &config)?;
            Some(c)
        }
        None => None,
    };
    let t0 = Instant::now();
    let ctx = GpuContext::new(&target.device)?;
    // Sizes against the adapter and the budgets before the output directory or any
    // buffer.
    crate::preflight::check_lattice_run(&cfg, &ctx)?;
    // Refuse an existing, busy or unwritable --out before spending any time (a
    // resumed run continues in its own directory).
    let mut dir = crate::checkpoint::open_run_dir(out, target.output.force, resume.as_ref())?;
    let mut lat = Lattice::new(&ctx, &cfg)?;
    let setup = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let start = match &resume {
        Some(c) => checkpoint::restore(c, &mut lat)?,
        None => {
            lat.set_initial_from_config()?;
            RunProgress::default()
        }
    };
    let ic = t1.elapsed().as_secs_f64();
    let ckpt_dir = out.join("checkpoint");
    let mut last_ckpt = lat.step;
    let mut interrupted = None;
    // Snapshots and checkpoints are taken at output steps.
    let mut res = lat.run_with(true, start, &mut |lat, p| {
        if cfg
            .snapshot_every
            .is_some_and(|e| lat.step.is_multiple_of(e))
        {
            checkpoint::snapshot(out, &config, lat)?;
        }
        if lat.step >= cfg.steps {
            return Ok(false);
        }
        if let Some(sig) = crate::signals::pending() {
            checkpoint::save(&ckpt_dir, &config, lat, p)?;
            interrupted = Some((lat.step, sig));
            return Ok(true);
        }
        if cfg
            .checkpoint_every
            .is_some_and(|e| lat.step >= last_ckpt + e)
        {
            checkpoint::save(&ckpt_dir, &config, lat, p)?;
            last_ckpt = lat.step;
        }
        Ok(false)
    })?;
    res.timings.setup_s = setup;
    res.timings.initial_conditions_s = ic;
    let last = res.background.last().expect("step 0 is always recorded");
    let status = match (&interrupted, &res.diverged) {
        (Some(_), _) => RunStatus::Interrupted,
        (None, Some(_)) => RunStatus::Diverged,
        (None, None) => RunStatus::Complete,
    };
    dir.publish(status, last.step, |d| {
        output::write_all(d, &cfg, &ctx.adapter, &res, &res.timings)
    })?;
    drop(dir);
    if let Some((step, signal)) = interrupted {
        return Err(crate::signals::Interrupted::new(signal, step, out, &ckpt_dir).into());
    }
    if let Some(d) = &res.diverged {
        return Err(LatticeError::Diverged {
            reason: d.reason.clone(),
            last_good: last.step,
            out: out.display().to_string(),
        });
    }
    let fields = if cfg.fields > 1 {
        format!(" × {} fields", cfg.fields)
    } else {
        String::new()
    };
    println!(
        "lattice {}³{fields}, {} steps to t = {:.3} ({:.2} e-folds): {:.3e} site-updates/s; max |energy residual| {:.2e}; wrote {}",
        cfg.grid,
        cfg.steps,
        last.t,
        cfg.hubble * last.t,
        res.timings.site_updates_per_s,
        res.background
            .iter()
            .map(|r| r.energy_residual.abs())
            .fold(0.0, f64::max),
        out.display()
    );
    Ok(())
}
