//! The ensemble's training state for checkpoints: every member's parameters and
//! heavy-ball velocities, member-major (E × P each), independent of the chunking
//! and of how the device stores W (rows on the host, see `layout::Blocked`).

use std::borrow::Cow;

use super::{Ensemble, NnError};
use crate::gpu::read_buffers;
use crate::nn::layout::Blocked;

impl Ensemble {
    /// (parameters, velocities), E·P floats each, member-major. One read-back per chunk.
    pub fn save_state(&self) -> Result<(Vec<f32>, Vec<f32>), NnError> {
        let p = self.params_per_member;
        let total = self.spec.ensemble * p;
        let (mut params, mut vel) = (Vec::with_capacity(total), Vec::with_capacity(total));
        for c in &self.chunks {
            let n = c.members * p;
            let mut got: Vec<Vec<f32>> =
                read_buffers(&self.ctx, &[(&c.params, 0, n), (&c.vel, 0, n)])?;
            vel.extend(got.pop().unwrap_or_default());
            params.extend(got.pop().unwrap_or_default());
        }
        self.to_rows(&mut params);
        self.to_rows(&mut vel);
        Ok((params, vel))
    }

    /// Replaces every member's parameters and velocities (as `save_state` returns
    /// them); used in place of `initialize` when a run resumes.
    pub fn load_state(&self, params: &[f32], vel: &[f32]) -> Result<(), NnError> {
        let p = self.params_per_member;
        let total = self.spec.ensemble * p;
        if params.len() != total || vel.len() != total {
            return Err(NnError::Invalid(format!(
                "the checkpoint holds {} parameters and {} velocities, this ensemble has E·P = {total}",
                params.len(),
                vel.len()
            )));
        }
        let (params, vel) = (self.stored(params), self.stored(vel));
        for c in &self.chunks {
            let r = c.base * p..(c.base + c.members) * p;
            self.ctx
                .queue
                .write_buffer(&c.params, 0, bytemuck::cast_slice(&params[r.clone()]));
            self.ctx
                .queue
                .write_buffer(&c.vel, 0, bytemuck::cast_slice(&vel[r]));
        }
        self.ctx.wait()?;
        Ok(())
    }

    /// Members' vectors as stored on the device → row-major W (the host's layout).
    pub(super) fn to_rows(&self, members: &mut [f32]) {
        if self.blocked {
            Blocked::to_rows(&self.spec.shape, members, self.params_per_member);
        }
    }

    /// Members' row-major vectors as the device stores them: the slice itself, or a
    /// permuted copy when W is blocked.
    fn stored<'a>(&self, rows: &'a [f32]) -> Cow<'a, [f32]> {
        if !self.blocked {
            return Cow::Borrowed(rows);
        }
        let mut v = rows.to_vec();
        Blocked::from_rows(&self.spec.shape, &mut v, self.params_per_member);
        Cow::Owned(v)
    }
}
