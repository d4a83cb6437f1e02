//! The lattice's evolving state for checkpoints: φ and π (the momenta a³φ̇, as the
//! kernels hold them, so nothing is rounded on the way), the step, each field's
//! energy-flux integral and reduction shift, and the initial data's class sums that
//! the linear-theory spectra use.

use super::{Lattice, LatticeError};
use crate::gpu::read_buffer;
use crate::lattice::theory::ClassSums;

/// Everything `Lattice` carries from one step to the next (its config aside).
#[derive(Clone, Debug)]
pub struct LatticeState {
    /// φ of every field, field-major (F·N³).
    pub phi: Vec<f32>,
    /// π = a³φ̇ of every field, field-major (F·N³).
    pub pi: Vec<f32>,
    pub step: usize,
    /// ∫3H·a³p dt per field.
    pub flux: Vec<f64>,
    /// Per field: the shift of the reductions (the mean at the last output).
    pub shifts: Vec<f64>,
    /// Per field: the initial data's class sums (None: no linear-theory line).
    pub sums: Option<Vec<ClassSums>>,
}

impl Lattice {
    /// A copy of the state at the current (synchronised) step.
    pub fn save_state(&self) -> Result<LatticeState, LatticeError> {
        let len = self.fields * self.sites();
        Ok(LatticeState {
            phi: read_buffer(&self.ctx, &self.phi[self.cur], 0, len)?,
            pi: read_buffer(&self.ctx, &self.pi, 0, len)?,
            step: self.step,
            flux: self.flux.clone(),
            shifts: self.shifts.clone(),
            sums: self.sums.clone(),
        })
    }

    /// Puts the engine in `st` (from `save_state` of an engine with the same config).
    pub fn load_state(&mut self, st: LatticeState) -> Result<(), LatticeError> {
        self.check_len("φ", st.phi.len())?;
        self.check_len("π", st.pi.len())?;
        for (what, got) in [
            ("flux integrals", st.flux.len()),
            ("shifts", st.shifts.len()),
        ] {
            if got != self.fields {
                return Err(LatticeError::Count {
                    what: what.into(),
                    got,
                    fields: self.fields,
                });
            }
        }
        self.ctx
            .queue
            .write_buffer(&self.phi[self.cur], 0, bytemuck::cast_slice(&st.phi));
        self.ctx
            .queue
            .write_buffer(&self.pi, 0, bytemuck::cast_slice(&st.pi));
        self.step = st.step;
        self.t = st.step as f64 * self.cfg.dt;
        self.flux = st.flux;
        self.shifts = st.shifts;
        self.write_field_params(&self.shifts);
        self.sums = st.sums;
        self.ctx.wait()?;
        Ok(())
    }
}
