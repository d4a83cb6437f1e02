//! Coupled fields (the disorder dual, DESIGN §4.4): after `set_mass_matrices`, the
//! potential at site x is V = ½ φ(x)ᵀ M_{p(x)} φ(x) with one of P symmetric F×F
//! matrices per site. Each unit then runs coupled_force.wgsl (all fields, one
//! dispatch: (Mφ)_b at every site into the `force` buffer) and the kick–drift kernel
//! built with COUPLED, which kicks with that force in place of V'(φ_b) and sums
//! ½φ_b·(Mφ)_b as field b's potential energy; the reduction does the same. Without
//! mass matrices the kernels are built with COUPLED = false and `force` is a
//! 16-byte placeholder, so uncoupled runs execute the code they always did.

use super::kernels::{kd_kernel, reduce_kernel, step_groups};
use super::scheme::stability_bound;
use super::{CouplingError, Lattice, LatticeError};
use crate::config::ConfigError;
use crate::gpu::{Binding, GpuError, Kernel, kernel::grid};

/// The coupled model's mass matrices on the device and the kernel that applies them.
pub(super) struct Coupled {
    pub(super) kernel: Kernel,
    /// One per φ ping-pong buffer.
    pub(super) groups: [wgpu::BindGroup; 2],
    pub(super) wgs: [u32; 3],
    matrices: usize,
    eig_max: f64,
}

/// Most coupled fields: coupled_force.wgsl holds a site's fields in 16 vec4s.
pub const MAX_COUPLED_FIELDS: usize = 64;

impl Lattice {
    /// Couples the fields (the disorder dual, DESIGN §4.4): from now on the site x
    /// feels V(x) = ½ Σ_{b,c} φ_b(x)·M[b,c]·φ_c(x) with M the matrix
    /// `patch_of_site[x]` of the P = matrices.len() / F² matrices in `matrices`
    /// (row-major F×F each; site x = x + N(y + Nz)), instead of the per-field
    /// ½m_b²φ_b² (the config's m² are then ignored by the force and the energy; the
    /// spectra get no linear-theory line and the background no closed form). The
    /// matrices must be symmetric to f32 rounding (they are uploaded as ½(M + Mᵀ))
    /// and finite; λ and φ₀ must be 0, F ≤ 64, the padded matrices must fit one
    /// binding, and dt must pass the Courant limit with the largest eigenvalue of
    /// all matrices in place of m². Called again, it replaces the matrices.
    ///
    /// Energy: field b's potential sum becomes ½φ_b·(Mφ)_b, so the fields' terms add
    /// up to the total V and the total budget closes to the integrator's order; the
    /// per-field budgets (`FieldRow::energy_residual`) do not close when fields
    /// couple, since energy flows between them, and are reported as they come.
    pub fn set_mass_matrices(
        &mut self,
        matrices: &[f32],
        patch_of_site: &[u32],
    ) -> Result<(), LatticeError> {
        let nf = self.fields;
        let sites = self.sites();
        if nf > MAX_COUPLED_FIELDS {
            return Err(CouplingError::TooManyFields {
                fields: nf,
                max: MAX_COUPLED_FIELDS,
            }
            .into());
        }
        if self.cfg.lambda != 0.0 || self.cfg.phi_min != 0.0 {
            return Err(CouplingError::Potential {
                lambda: self.cfg.lambda,
                phi0: self.cfg.phi_min,
            }
            .into());
        }
        let ff = nf * nf;
        if matrices.is_empty() || !matrices.len().is_multiple_of(ff) {
            return Err(CouplingError::MatrixLength {
                got: matrices.len(),
                fields: nf,
            }
            .into());
        }
        let count = matrices.len() / ff;
        if patch_of_site.len() != sites {
            return Err(CouplingError::PatchLength {
                got: patch_of_site.len(),
                sites,
            }
            .into());
        }
        if let Some(site) = patch_of_site.iter().position(|&p| p as usize >= count) {
            return Err(CouplingError::PatchIndex {
                site,
                index: patch_of_site[site],
                matrices: count,
            }
            .into());
        }
        // Rows padded to Q vec4s, so that the kernel reads whole vec4s.
        let q = nf.div_ceil(4);
        let bytes = (count * nf * q * 16) as u64;
        let limit = self.ctx.max_binding();
        if bytes > limit {
            return Err(GpuError::TooLarge {
                what: format!(
                    "{count} mass matrices of {nf}×{nf} (rows padded to {} floats)",
                    4 * q
                ),
                bytes,
                limit,
                hint: format!(
                    "at most {} such matrices fit; let patches share matrices",
                    limit / (nf * q * 16) as u64
                ),
            }
            .into());
        }
        let mut padded = vec![0.0f32; count * nf * 4 * q];
        let mut eig_max = (f64::NEG_INFINITY, 0);
        for (k, m) in matrices.chunks_exact(ff).enumerate() {
            let scale = m.iter().fold(0.0f32, |a, x| a.max(x.abs()));
            for b in 0..nf {
                for c in 0..nf {
                    let (x, y) = (m[b * nf + c], m[c * nf + b]);
                    if !x.is_finite() {
                        return Err(CouplingError::NonFinite {
                            matrix: k,
                            row: b,
                            col: c,
                            value: x,
                        }
                        .into());
                    }
                    // A few ulps of the largest entry: what an f32 computation of a
                    // symmetric matrix leaves.
                    if (x - y).abs() > 16.0 * f32::EPSILON * scale {
                        return Err(CouplingError::NotSymmetric {
                            matrix: k,
                            row: b,
                            col: c,
                            a: x,
                            b: y,
                        }
                        .into());
                    }
                    // x + y = y + x exactly, so the uploaded matrix is symmetric.
                    padded[(k * nf + b) * 4 * q + c] = 0.5 * (x + y);
                }
            }
            let sym =
                nalgebra::DMatrix::from_fn(nf, nf, |b, c| padded[(k * nf + b) * 4 * q + c] as f64);
            let top = sym.symmetric_eigenvalues().max();
            if top > eig_max.0 {
                eig_max = (top, k);
            }
        }
        self.check_coupled_courant(eig_max.0, eig_max.1)?;
        let ctx = &self.ctx;
        let mats = crate::gpu::upload_buffer(ctx, "lattice mass matrices", &padded);
        let patch = crate::gpu::upload_buffer(ctx, "lattice patches", patch_of_site);
        let force = crate::gpu::storage_buffer(ctx, "lattice force", (nf * sites * 4) as u64);
        const FORCE_WG: u32 = 64;
        let kernel = Kernel::new(
            ctx,
            "lattice/coupled_force",
            &[
                Binding::Read,
                Binding::Read,
                Binding::Read,
                Binding::ReadWrite,
            ],
            &[
                ("WG", FORCE_WG as f64),
                ("SITES", sites as f64),
                ("F", nf as f64),
                ("Q", q as f64),
            ],
        )?;
        let groups = [0, 1].map(|p| kernel.bind(ctx, &[&self.phi[p], &mats, &patch, &force]));
        let wgs = grid(
            (sites as u32).div_ceil(FORCE_WG),
            ctx.limits.max_compute_workgroups_per_dimension,
        );
        self.kd = kd_kernel(ctx, &self.cfg, self.kernel, true)?;
        self.reduce = reduce_kernel(ctx, &self.cfg, true)?;
        self.step_groups = step_groups(
            ctx,
            &self.kd,
            &self.step_uniform,
            self.stride,
            [&self.phi[0], &self.phi[1]],
            [&self.pi, &self.energy_parts, &self.field_params, &force],
        );
        self.reduce_groups = [0, 1].map(|p| {
            self.reduce.bind(
                ctx,
                &[
                    &self.reduce_uniform,
                    &self.phi[p],
                    &self.pi,
                    &self.partials,
                    &self.field_params,
                    &force,
                ],
            )
        });
        // The bind groups keep the matrix, patch and force buffers alive.
        self.coupled = Some(Coupled {
            kernel,
            groups,
            wgs,
            matrices: count,
            eig_max: eig_max.0,
        });
        Ok(())
    }

    /// The Courant check of the coupled model: the largest eigenvalue of all mass
    /// matrices (that of matrix `which`) in place of the largest m².
    fn check_coupled_courant(&self, eig_max: f64, which: usize) -> Result<(), LatticeError> {
        let cfg = &self.cfg;
        let ring = if cfg.stencil == 4 { 16.0 } else { 12.0 };
        let w2 = ring / (cfg.dx * cfg.dx) + eig_max.max(0.0);
        let bound = stability_bound(cfg.integrator);
        if cfg.dt * w2.sqrt() >= bound {
            return Err(ConfigError::invalid(
                "dt",
                format!(
                    "{} is above the Courant limit {:.6} of the coupled fields ({:?}, --stencil {}): dt·ω_max must stay below {bound} where ω_max² = {ring}/dx² + λ_max = {w2:.6}, with λ_max = {eig_max:.6} the largest eigenvalue of all mass matrices (that of matrix {which})",
                    cfg.dt,
                    bound / w2.sqrt(),
                    cfg.integrator,
                    cfg.stencil,
                ),
            )
            .into());
        }
        Ok(())
    }

    /// After `set_mass_matrices`: the number of matrices P and their largest
    /// eigenvalue.
    pub fn mass_matrices(&self) -> Option<(usize, f64)> {
        self.coupled.as_ref().map(|c| (c.matrices, c.eig_max))
    }
}
