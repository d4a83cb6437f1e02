//! The initial fluctuations: mode functions per k_eff² class, the GPU noise they
//! multiply, and the engine's initial fields (`Lattice::set_initial_*`).
//!
//! A mode function (u, u̇) turns the Hermitian noise (B, C) of `ic_noise.wgsl` into
//! δφ̃_k = √(N³/dx³)·(Re u·B + Im u·C), and likewise δφ̇̃_k with u̇, so that
//! ⟨|δφ̃_k|²⟩·dx³/N³ = |u|², with the vacuum's φ–φ̇ correlation built in.

use bytemuck::{Pod, Zeroable};
use rustfft::num_complex::Complex64;

use super::spectrum::{ModeTable, fft3};
use super::theory::ClassSums;
use super::{Lattice, LatticeError};
use crate::config::lattice::{LatticeConfig, Spectrum, Velocity};
use crate::gpu::{kernel::grid, read_buffer};
use crate::philox::seed_key;
use crate::theory::desitter::bunch_davies_initial;

/// (u, u̇) for every class of the table.
pub type ModeFunctions = Vec<(Complex64, Complex64)>;

/// Evaluates `f(k_eff²)` once per class.
pub fn per_class(table: &ModeTable, f: &dyn Fn(f64) -> (Complex64, Complex64)) -> ModeFunctions {
    table.class_k2.iter().map(|&k2| f(k2)).collect()
}

/// Mode functions of an isotropic spectrum: u = √P_φ, u̇ = i√P_φ̇ (uncorrelated φ, φ̇).
pub fn from_power(table: &ModeTable, power: &dyn Fn(f64) -> (f64, f64)) -> ModeFunctions {
    per_class(table, &|k2| {
        let (pf, pv) = power(k2.sqrt());
        (
            Complex64::new(pf.sqrt(), 0.0),
            Complex64::new(0.0, pv.sqrt()),
        )
    })
}

/// Bunch–Davies data, through a table in ln k when there are many classes: each
/// evaluation integrates from deep inside the horizon, which is costly. The smooth
/// part u·k^{3/2}·e^{−ik/H} is interpolated (error ≈ 1e-4 with 256 nodes).
fn bunch_davies(table: &ModeTable, m2: f64, h: f64) -> ModeFunctions {
    const NODES: usize = 256;
    if table.classes() <= NODES || h == 0.0 {
        return per_class(table, &|k2| bunch_davies_initial(k2, m2, h));
    }
    let kmin = table
        .class_k2
        .iter()
        .cloned()
        .fold(f64::MAX, f64::min)
        .sqrt();
    let kmax = table.class_k2.iter().cloned().fold(0.0, f64::max).sqrt();
    let (l0, l1) = (kmin.ln(), kmax.ln());
    let smooth = |k: f64, z: Complex64| z * k.powf(1.5) * Complex64::from_polar(1.0, -k / h);
    let nodes: Vec<(Complex64, Complex64)> = (0..NODES)
        .map(|i| {
            let k = (l0 + (l1 - l0) * i as f64 / (NODES - 1) as f64).exp();
            let (u, du) = bunch_davies_initial(k * k, m2, h);
            (smooth(k, u), smooth(k, du))
        })
        .collect();
    per_class(table, &|k2| {
        let k = k2.sqrt();
        let x = ((k.ln() - l0) / (l1 - l0) * (NODES - 1) as f64).clamp(0.0, (NODES - 1) as f64);
        let i = (x.floor() as usize).min(NODES - 2);
        let w = x - i as f64;
        let back = k.powf(-1.5) * Complex64::from_polar(1.0, k / h);
        let u = nodes[i].0 * (1.0 - w) + nodes[i + 1].0 * w;
        let du = nodes[i].1 * (1.0 - w) + nodes[i + 1].1 * w;
        (u * back, du * back)
    })
}

/// The mode functions the configuration asks for (None: no fluctuations), for the
/// single field (field 0's m²).
pub fn from_config(
    cfg: &LatticeConfig,
    table: &ModeTable,
) -> Result<Option<ModeFunctions>, LatticeError> {
    from_config_m2(cfg, table, cfg.m2())
}

/// `from_config` for a field of mass² `m2` (each field's vacuum has its own mass).
pub fn from_config_m2(
    cfg: &LatticeConfig,
    table: &ModeTable,
    m2: f64,
) -> Result<Option<ModeFunctions>, LatticeError> {
    let omega = |k2: f64| (k2 + m2).sqrt();
    let mut modes = match cfg.spectrum {
        Spectrum::None => return Ok(None),
        Spectrum::BunchDavies => {
            if cfg.hubble < 0.0 {
                return Err(LatticeError::NonFinite(
                    "--spectrum bunch-davies needs --hubble ≥ 0 (no vacuum in a contracting background)".into(),
                ));
            }
            let kmin2 = table.class_k2.iter().cloned().fold(f64::MAX, f64::min);
            if cfg.hubble == 0.0 && kmin2 + m2 <= 0.0 {
                return Err(LatticeError::NonFinite(format!(
                    "--spectrum bunch-davies: the flat-space vacuum needs k² + m² > 0, but the lowest lattice mode has k² + m² = {:.6}",
                    kmin2 + m2
                )));
            }
            bunch_davies(table, m2, cfg.hubble)
        }
        Spectrum::PowerLaw { amplitude, tilt } => per_class(table, &|k2| {
            let u = (amplitude * k2.sqrt().powf(tilt)).sqrt();
            (Complex64::new(u, 0.0), Complex64::new(0.0, -omega(k2) * u))
        }),
        Spectrum::White { amplitude } => per_class(table, &|k2| {
            let u = amplitude.sqrt();
            (Complex64::new(u, 0.0), Complex64::new(0.0, -omega(k2) * u))
        }),
    };
    if cfg.velocity == Velocity::Rest {
        for m in &mut modes {
            m.1 = Complex64::default();
        }
    }
    check_finite(
        table,
        &modes,
        "the --spectrum parameters (--amplitude, --tilt, --mass)",
    )?;
    Ok(Some(modes))
}

/// Refuses mode functions with NaN or infinity, naming the first bad k.
pub fn check_finite(
    table: &ModeTable,
    modes: &ModeFunctions,
    what: &str,
) -> Result<(), LatticeError> {
    for (c, (u, du)) in modes.iter().enumerate() {
        if !(u.re.is_finite() && u.im.is_finite() && du.re.is_finite() && du.im.is_finite()) {
            return Err(LatticeError::NonFinite(format!(
                "{what} make the initial field NaN or infinite at k_eff = {:.6} (u = {u}, u̇ = {du}); choose values with a finite, non-negative power at every lattice k",
                table.class_k2[c].sqrt()
            )));
        }
    }
    Ok(())
}

/// The uniform of ic_noise.wgsl: one slab of modes of one field.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct NoiseParams {
    pub n: u32,
    pub first: u32,
    pub count: u32,
    /// The field whose noise is drawn (Philox counter word 1).
    pub field: u32,
    pub key: [u32; 2],
    pub _p1: [u32; 2],
}

impl Lattice {
    /// Initial data drawn by the caller: φ and φ̇ (not π) of every field,
    /// field-major (F·N³ each), at the current time (t = 0 on a new engine),
    /// uploaded as they are. Each field's shift becomes its mean. There is no
    /// linear-theory line for such data (its spectrum columns are NaN).
    pub fn set_initial_fields(&mut self, phi: &[f32], dphi: &[f32]) -> Result<(), LatticeError> {
        self.check_len("φ", phi.len())?;
        self.check_len("φ̇", dphi.len())?;
        let sites = self.sites();
        for (what, data) in [("φ", phi), ("φ̇", dphi)] {
            if let Some(i) = data.iter().position(|x| !x.is_finite()) {
                return Err(LatticeError::NonFinite(format!(
                    "the initial {what} is {} at site {} of field {}",
                    data[i],
                    i % sites,
                    i / sites
                )));
            }
        }
        self.upload(phi, dphi)?;
        self.shifts = phi
            .chunks_exact(sites)
            .map(|f| f.iter().map(|&x| x as f64).sum::<f64>() / sites as f64)
            .collect();
        self.write_field_params(&self.shifts);
        Ok(())
    }

    /// The Hermitian noise (Re B, Im B, Re C, Im C) of every mode of field 0, drawn
    /// on the GPU in slabs of at most `slab` modes.
    pub fn noise(&self, slab: usize) -> Result<Vec<[f32; 4]>, LatticeError> {
        self.field_noise(0, slab)
    }

    /// `noise` of field b: an independent draw per field (keyed by seed and field).
    pub fn field_noise(&self, field: usize, slab: usize) -> Result<Vec<[f32; 4]>, LatticeError> {
        let total = self.sites();
        let cap = ((self.ctx.max_binding() / 16) as usize).min(1 << 22);
        let slab = slab.clamp(1, cap.max(1));
        let buf = crate::gpu::storage_buffer(&self.ctx, "lattice noise", slab as u64 * 16);
        let key = seed_key(self.cfg.seed);
        let mut out = Vec::with_capacity(total);
        let mut first = 0;
        while first < total {
            let count = slab.min(total - first);
            let params = NoiseParams {
                n: self.n as u32,
                first: first as u32,
                count: count as u32,
                field: field as u32,
                key,
                _p1: [0; 2],
            };
            let u = crate::gpu::uniform_buffer(&self.ctx, "noise params", &params);
            let g = self.noise.bind(&self.ctx, &[&u, &buf]);
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                let wgs = grid(
                    (count as u32).div_ceil(64),
                    self.ctx.limits.max_compute_workgroups_per_dimension,
                );
                self.noise.dispatch(&mut pass, &g, wgs);
            }
            self.ctx.queue.submit([enc.finish()]);
            let part: Vec<[f32; 4]> = read_buffer(&self.ctx, &buf, 0, count)?;
            out.extend(part);
            first += count;
        }
        Ok(out)
    }

    /// One field's fluctuations from mode functions per class, on top of the
    /// homogeneous φ_init, φ̇_init: (φ, φ̇, class sums).
    fn field_from_modes(
        &self,
        field: usize,
        modes: &ModeFunctions,
    ) -> Result<(Vec<f32>, Vec<f32>, ClassSums), LatticeError> {
        check_finite(&self.table, modes, "the initial spectrum")?;
        let n = self.n;
        let total = n.pow(3);
        let noise = self.field_noise(field, 1 << 22)?;
        let norm = ((n as f64).powi(3) / self.cfg.dx.powi(3)).sqrt();
        let classes = self.table.classes();
        let table = &self.table;
        // δφ_k = Re(u)·B_k + Im(u)·C_k per mode (see ic_noise.wgsl); with u̇ for φ̇.
        let amplitudes = |deriv: bool| {
            let mut out = vec![Complex64::default(); total];
            crate::par::chunks_mut(&mut out, n * n, |z, plane| {
                for (i, a) in plane.iter_mut().enumerate() {
                    let m = z * n * n + i;
                    if let Some(c) = table.class_of(m) {
                        let (u, du) = modes[c];
                        let u = if deriv { du } else { u };
                        let w = noise[m];
                        let b = Complex64::new(w[0] as f64, w[1] as f64);
                        let cc = Complex64::new(w[2] as f64, w[3] as f64);
                        *a = norm * (u.re * b + u.im * cc);
                    }
                }
            });
            out
        };
        let mut f = amplitudes(false);
        let mut v = amplitudes(true);
        let pnorm = table.power_norm();
        // [Σ|φ̃|² | ΣRe φ̃φ̇̃* | Σ|φ̇̃|²], each per class.
        let s = crate::par::accumulate(total, 3 * classes, |r, s: &mut [f64]| {
            for m in r {
                if let Some(c) = table.class_of(m) {
                    s[c] += f[m].norm_sqr() * pnorm;
                    s[classes + c] += (f[m] * v[m].conj()).re * pnorm;
                    s[2 * classes + c] += v[m].norm_sqr() * pnorm;
                }
            }
        });
        let sums = ClassSums {
            ff: s[..classes].to_vec(),
            fv: s[classes..2 * classes].to_vec(),
            vv: s[2 * classes..].to_vec(),
        };
        fft3(&mut f, n, true);
        fft3(&mut v, n, true);
        let inv = 1.0 / total as f64;
        let phi: Vec<f32> = f
            .iter()
            .map(|z| (self.cfg.phi_init + z.re * inv) as f32)
            .collect();
        let dphi: Vec<f32> = v
            .iter()
            .map(|z| (self.cfg.dphi_init + z.re * inv) as f32)
            .collect();
        if phi.iter().chain(&dphi).any(|x| !x.is_finite()) {
            return Err(LatticeError::NonFinite(
                "the initial spectrum makes the field overflow f32; lower --amplitude".into(),
            ));
        }
        Ok((phi, dphi, sums))
    }

    /// Sets every field's fluctuations from its own mode functions per class
    /// (`modes[b]` for field b, at t = 0, on top of the homogeneous φ_init, φ̇_init),
    /// with independent noise per field, and keeps their class sums for the theory
    /// line.
    pub fn set_initial_field_modes(&mut self, modes: &[ModeFunctions]) -> Result<(), LatticeError> {
        if modes.len() != self.fields {
            return Err(LatticeError::Count {
                what: "sets of mode functions".into(),
                got: modes.len(),
                fields: self.fields,
            });
        }
        let all = self.fields * self.sites();
        let (mut phi, mut dphi) = (Vec::with_capacity(all), Vec::with_capacity(all));
        let mut sums = Vec::with_capacity(self.fields);
        for (b, m) in modes.iter().enumerate() {
            let (f, v, s) = self.field_from_modes(b, m)?;
            phi.extend(f);
            dphi.extend(v);
            sums.push(s);
        }
        self.upload(&phi, &dphi)?;
        self.sums = Some(sums);
        Ok(())
    }

    /// `set_initial_field_modes` with the same mode functions for every field (the
    /// draws still differ between fields).
    pub fn set_initial_modes(&mut self, modes: &ModeFunctions) -> Result<(), LatticeError> {
        self.set_initial_field_modes(&vec![modes.clone(); self.fields])
    }

    /// An arbitrary isotropic initial spectrum for every field: `power(k_eff)` =
    /// (P_φ, P_φ̇), uncorrelated; called once per class of equal k_eff².
    pub fn set_initial_spectrum(
        &mut self,
        power: &dyn Fn(f64) -> (f64, f64),
    ) -> Result<(), LatticeError> {
        let modes = from_power(&self.table, power);
        self.set_initial_modes(&modes)
    }

    /// The initial conditions the configuration asks for, each field's mode
    /// functions with its own mass.
    pub fn set_initial_from_config(&mut self) -> Result<(), LatticeError> {
        let mut modes: Vec<ModeFunctions> = Vec::with_capacity(self.fields);
        for (b, &m2) in self.m2s.iter().enumerate() {
            // Fields of equal mass share their (costly, for Bunch–Davies) modes.
            if let Some(j) = self.m2s[..b].iter().position(|&m| m == m2) {
                modes.push(modes[j].clone());
                continue;
            }
            match from_config_m2(&self.cfg, &self.table, m2)? {
                Some(m) => modes.push(m),
                None => {
                    let zero = vec![0.0; self.table.classes()];
                    let s = ClassSums {
                        ff: zero.clone(),
                        fv: zero.clone(),
                        vv: zero,
                    };
                    self.sums = Some(vec![s; self.fields]);
                    return Ok(());
                }
            }
        }
        self.set_initial_field_modes(&modes)
    }
}
