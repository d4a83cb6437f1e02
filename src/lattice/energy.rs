//! Energy bookkeeping and the reductions: recording units with the fold of their
//! energy sums, the flux integral ∫3H·a³p dt unit by unit, the energy residual of
//! the continuity equation, and the per-field observables of one reduction.

use super::kernels::{ReduceParams, SLOTS, StepParams};
use super::results::Observables;
use super::scheme::Unit;
use super::{Lattice, LatticeError};
use crate::gpu::{kernel::grid, read_buffer};

/// The energy residual of d(a³ρ)/dt + 3H·a³p = 0 (the fixed-background continuity
/// equation times a³): (a³ρ − a³ρ(0) + ∫3H·a³p dt) / a³ρ, with the flux integral
/// accumulated unit by unit along the integrator's sub-flows (see `unit_flux`), so it
/// measures the integrator's error whatever the output cadence. Rows are
/// (t, observables, flux integral up to t).
pub fn energy_residuals(h: f64, rows: &[(f64, Observables, f64)]) -> Vec<f64> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    let a3 = |t: f64| (3.0 * h * t).exp();
    let rho0 = a3(first.0) * first.1.rho();
    rows.iter()
        .map(|(t, o, flux)| {
            let a3rho = a3(*t) * o.rho();
            (a3rho - rho0 + (flux - first.2)) / a3rho
        })
        .collect()
}

/// The kinetic energy sum's scale w ≈ a^(−3/2) at time t (see lattice_energy.wgsl),
/// as the f32 the kernel multiplies by, so that the host divides out exactly w⁴.
pub fn energy_scale(h: f64, t: f64) -> f32 {
    (-1.5 * h * t).exp() as f32
}

/// ∫3H·a³p dt over one unit, from its energy sums [Σπ², Σdx²|∇φ|², ΣV] over
/// `sites` sites: with π = a³φ̇, a³p = ½π²/a³ − a|∇φ|²/6 − a³V, and each term is
/// integrated exactly along the sub-flow that holds it constant: π over the drift
/// (c_drift = ∫a⁻³dt), φ over the kick (c_lap = ∫a dt, c_pot = ∫a³dt).
pub fn unit_flux(h: f64, dx: f64, sites: f64, u: &Unit, sums: [f64; 3]) -> f64 {
    3.0 * h * (0.5 * sums[0] * u.c_drift - sums[1] * u.c_lap / (6.0 * dx * dx) - sums[2] * u.c_pot)
        / sites
}

/// Units whose energy sums are read back together (at most one host wait each).
const ENERGY_SLOTS: usize = 4096;

/// Energy-sum slots for F fields: ENERGY_SLOTS units per read-back, fewer when F is
/// so large that one batch would pass 4 MiB.
pub(super) fn energy_slots(fields: usize) -> usize {
    (ENERGY_SLOTS * 64 / fields).clamp(1, ENERGY_SLOTS)
}

impl Lattice {
    /// Records up to `energy_slots` units in submissions of up to SLOTS dispatches,
    /// each followed by the fold of its energy sums into energy slot i; no host wait.
    fn record_units(&mut self, units: &[Unit]) {
        debug_assert!(units.len() <= self.energy_slots);
        let inv_dx2 = 1.0 / (self.cfg.dx * self.cfg.dx);
        let pot = self.pot();
        let fold_wgs = [1, 1, self.fields as u32];
        let mut bytes = vec![0u8; self.stride as usize * SLOTS];
        for (c, chunk) in units.chunks(SLOTS).enumerate() {
            for (i, u) in chunk.iter().enumerate() {
                let p = StepParams {
                    n: self.n as u32,
                    slot: (c * SLOTS + i) as u32,
                    parts: self.kd_parts,
                    nfields: self.fields as u32,
                    coef: [
                        (u.c_lap * inv_dx2) as f32,
                        u.c_pot as f32,
                        u.c_drift as f32,
                        energy_scale(self.cfg.hubble, u.t),
                    ],
                    pot,
                };
                let o = i * self.stride as usize;
                bytes[o..o + std::mem::size_of::<StepParams>()]
                    .copy_from_slice(bytemuck::bytes_of(&p));
            }
            // Ordered after the previous submission and before the next one.
            self.ctx.queue.write_buffer(
                &self.step_uniform,
                0,
                &bytes[..chunk.len() * self.stride as usize],
            );
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                for i in 0..chunk.len() {
                    // The coupled force of this unit's φ, for all fields at once.
                    if let Some(c) = &self.coupled {
                        c.kernel.dispatch(&mut pass, &c.groups[self.cur], c.wgs);
                    }
                    self.kd
                        .dispatch(&mut pass, &self.step_groups[i][self.cur], self.kd_wgs);
                    self.fold
                        .dispatch(&mut pass, &self.fold_groups[i], fold_wgs);
                    self.cur = 1 - self.cur;
                }
            }
            self.ctx.queue.submit([enc.finish()]);
        }
    }

    /// Applies `units` and returns each one's energy sums [Σπ², Σdx²|∇φ|², ΣV] per
    /// field (see lattice_energy.wgsl), unit-major: entry u·F + b is unit u's sums
    /// over field b. Read back once per batch of units.
    pub fn apply_units(&mut self, units: &[Unit]) -> Result<Vec<[f64; 3]>, LatticeError> {
        let nf = self.fields;
        let mut out = Vec::with_capacity(units.len() * nf);
        for batch in units.chunks(self.energy_slots) {
            self.record_units(batch);
            let sums: Vec<[f32; 4]> = read_buffer(&self.ctx, &self.energy, 0, batch.len() * nf)?;
            for (s, u) in sums.chunks_exact(nf).zip(batch) {
                let w = energy_scale(self.cfg.hubble, u.t) as f64;
                out.extend(
                    s.iter()
                        .map(|s| [s[0] as f64 / w.powi(4), s[1] as f64, s[2] as f64]),
                );
            }
        }
        Ok(out)
    }

    /// Advances `steps` steps; φ and π are synchronised at the end, and each field's
    /// energy flux integral is brought up to date.
    pub fn advance(&mut self, steps: usize) -> Result<(), LatticeError> {
        let units = self.stepper.units(self.t, steps);
        let sums = self.apply_units(&units)?;
        let sites = self.sites() as f64;
        for (u, s) in units.iter().zip(sums.chunks_exact(self.fields)) {
            for (flux, s) in self.flux.iter_mut().zip(s) {
                *flux += unit_flux(self.cfg.hubble, self.cfg.dx, sites, u, *s);
            }
        }
        self.step += steps;
        self.t = self.step as f64 * self.cfg.dt;
        Ok(())
    }

    /// The reduction of every field (one dispatch) with the shifts in the `fields`
    /// buffer: its raw partial sums per field, summed in f64.
    fn reduce_all(&mut self) -> Result<Vec<[f64; 6]>, LatticeError> {
        let inv_a3 = (-3.0 * self.cfg.hubble * self.t).exp();
        let p = ReduceParams {
            n: self.n as u32,
            _pad: [0; 3],
            a: [
                inv_a3 as f32,
                0.0,
                (1.0 / (self.cfg.dx * self.cfg.dx)) as f32,
                0.0,
            ],
            pot: self.pot(),
        };
        self.ctx
            .queue
            .write_buffer(&self.reduce_uniform, 0, bytemuck::bytes_of(&p));
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            let mut wgs = grid(
                self.reduce_wgs,
                self.ctx.limits.max_compute_workgroups_per_dimension,
            );
            wgs[2] = self.fields as u32;
            if let Some(c) = &self.coupled {
                c.kernel.dispatch(&mut pass, &c.groups[self.cur], c.wgs);
            }
            self.reduce
                .dispatch(&mut pass, &self.reduce_groups[self.cur], wgs);
        }
        self.ctx.queue.submit([enc.finish()]);
        let per_field = self.reduce_wgs as usize * 8;
        let parts: Vec<f32> = read_buffer(&self.ctx, &self.partials, 0, self.fields * per_field)?;
        Ok(parts
            .chunks_exact(per_field)
            .map(|field| {
                let mut s = [0.0f64; 6];
                for w in field.chunks_exact(8) {
                    for q in 0..6 {
                        s[q] += w[q] as f64;
                    }
                }
                s
            })
            .collect())
    }

    /// The raw sums of the reduction kernel per field, summed in f64, with field b's
    /// φ shifted by shifts[b] (the engine's own shifts are kept).
    pub fn reduce_sums(&mut self, shifts: &[f64]) -> Result<Vec<[f64; 6]>, LatticeError> {
        if shifts.len() != self.fields {
            return Err(LatticeError::Count {
                what: "shifts".into(),
                got: shifts.len(),
                fields: self.fields,
            });
        }
        self.write_field_params(shifts);
        let s = self.reduce_all();
        self.write_field_params(&self.shifts);
        s
    }

    /// Every field's observables at the current (synchronised) time, from one
    /// reduction dispatch for all fields.
    pub fn field_observables(&mut self) -> Result<Vec<Observables>, LatticeError> {
        let sums = self.reduce_all()?;
        let v = self.sites() as f64;
        let a2 = (2.0 * self.cfg.hubble * self.t).exp();
        let mut out = Vec::with_capacity(self.fields);
        for (b, (s, shift)) in sums.iter().zip(&self.shifts).enumerate() {
            let mean = s[0] / v;
            let o = Observables {
                phi_mean: shift + mean,
                dphi_mean: s[2] / v,
                phi_var: (s[1] / v - mean * mean).max(0.0),
                rho_kin: 0.5 * s[3] / v,
                rho_grad: 0.5 * s[4] / (v * a2),
                rho_pot: s[5] / v,
            };
            if !(o.phi_mean.is_finite() && o.rho().is_finite()) {
                let which = if self.fields == 1 {
                    "the field".to_string()
                } else {
                    format!("field {b} (m² = {})", self.m2s[b])
                };
                return Err(LatticeError::NonFinite(format!(
                    "{which} became NaN or infinite by step {} (t = {:.4}); lower --dt, --amplitude or --lambda",
                    self.step, self.t
                )));
            }
            out.push(o);
        }
        // Keep the next Var φ and energy sums well conditioned in f32.
        self.shifts = out.iter().map(|o| o.phi_mean).collect();
        self.write_field_params(&self.shifts);
        Ok(out)
    }

    /// Observables at the current (synchronised) time: the field's for F = 1; for
    /// F > 1 all fields together (`Observables::total`: energies summed, φ columns
    /// NaN; see `field_observables` for each field).
    pub fn observables(&mut self) -> Result<Observables, LatticeError> {
        Ok(Observables::total(&self.field_observables()?))
    }
}
