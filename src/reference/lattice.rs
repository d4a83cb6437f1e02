//! CPU twins of `shaders/lattice/*.wgsl`, in f64, site layout x + N·(y + N·z);
//! F fields are stacked field-major (field b at b·N³), as in the kernels.

use super::rng::normal2;

/// Potential parameters: V = ½m²ψ² + (λ/4)ψ⁴ with ψ = φ − φ₀.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Potential {
    pub m2: f64,
    pub lambda: f64,
    pub phi0: f64,
}

impl Potential {
    /// The same potential with field b's m² (the kernels' `lattice_field_pot`).
    pub fn with_m2(&self, m2: f64) -> Self {
        Self { m2, ..*self }
    }
    pub fn dv(&self, phi: f64) -> f64 {
        let psi = phi - self.phi0;
        psi * (self.m2 + self.lambda * psi * psi)
    }
    pub fn v(&self, phi: f64) -> f64 {
        let psi = phi - self.phi0;
        let p2 = psi * psi;
        p2 * (0.5 * self.m2 + 0.25 * self.lambda * p2)
    }
}

#[inline]
fn at(n: usize, x: usize, y: usize, z: usize) -> usize {
    x + n * (y + n * z)
}

/// Sum of the six neighbours at distance d (periodic).
fn ring(f: &[f64], n: usize, x: usize, y: usize, z: usize, d: usize) -> f64 {
    let m = |i: usize| (i + n - d % n) % n;
    let p = |i: usize| (i + d) % n;
    f[at(n, m(x), y, z)]
        + f[at(n, p(x), y, z)]
        + f[at(n, x, m(y), z)]
        + f[at(n, x, p(y), z)]
        + f[at(n, x, y, m(z))]
        + f[at(n, x, y, p(z))]
}

/// dx²·∇²φ with the 7-point stencil.
pub fn laplacian2(f: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; f.len()];
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                let i = at(n, x, y, z);
                out[i] = ring(f, n, x, y, z, 1) - 6.0 * f[i];
            }
        }
    }
    out
}

/// dx²·∇²φ with the 13-point 4th-order stencil (−1/12, 4/3, −5/2 per axis).
pub fn laplacian4(f: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; f.len()];
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                let i = at(n, x, y, z);
                out[i] = (4.0 / 3.0) * ring(f, n, x, y, z, 1)
                    - (1.0 / 12.0) * ring(f, n, x, y, z, 2)
                    - 7.5 * f[i];
            }
        }
    }
    out
}

/// dx²·∇²φ for stencil 2 or 4.
pub fn laplacian(stencil: u32, f: &[f64], n: usize) -> Vec<f64> {
    if stencil == 4 {
        laplacian4(f, n)
    } else {
        laplacian2(f, n)
    }
}

/// π += c_lap·∇²φ − c_pot·V'(φ) (c_lap includes 1/dx²).
pub fn kick(
    stencil: u32,
    n: usize,
    c_lap: f64,
    c_pot: f64,
    pot: &Potential,
    phi: &[f64],
    pi: &mut [f64],
) {
    let lap = laplacian(stencil, phi, n);
    for i in 0..phi.len() {
        pi[i] += c_lap * lap[i] - c_pot * pot.dv(phi[i]);
    }
}

/// φ += c_drift·π.
pub fn drift(c_drift: f64, phi: &mut [f64], pi: &[f64]) {
    for (f, p) in phi.iter_mut().zip(pi) {
        *f += c_drift * p;
    }
}

/// The fused unit of the kick–drift kernels: a kick, then a drift with the new π.
/// Returns the unit's energy sums of `lattice_energy.wgsl`, taken between the kick
/// and the drift: [Σπ², −Σφ·dx²∇²φ, ΣV(φ)] over the whole grid, i.e. what the
/// kernels' workgroup sums and `energy_fold.wgsl` deliver together.
#[allow(clippy::too_many_arguments)]
pub fn kick_drift(
    stencil: u32,
    n: usize,
    c_lap: f64,
    c_pot: f64,
    c_drift: f64,
    pot: &Potential,
    phi: &mut [f64],
    pi: &mut [f64],
) -> [f64; 3] {
    kick(stencil, n, c_lap, c_pot, pot, phi, pi);
    let lap = laplacian(stencil, phi, n);
    let mut sums = [0.0; 3];
    for i in 0..phi.len() {
        sums[0] += pi[i] * pi[i];
        sums[1] -= phi[i] * lap[i];
        sums[2] += pot.v(phi[i]);
    }
    drift(c_drift, phi, pi);
    sums
}

/// The batched kick–drift kernels over F = m2s.len() fields stacked field-major in
/// `phi` and `pi`: field b evolves under `pot` with m² = m2s[b] (λ and φ₀ shared).
/// Returns each field's energy sums (as `kick_drift`), i.e. energy[slot·F + b].
#[allow(clippy::too_many_arguments)]
pub fn kick_drift_fields(
    stencil: u32,
    n: usize,
    c_lap: f64,
    c_pot: f64,
    c_drift: f64,
    pot: &Potential,
    m2s: &[f64],
    phi: &mut [f64],
    pi: &mut [f64],
) -> Vec<[f64; 3]> {
    let sites = n * n * n;
    assert_eq!(phi.len(), m2s.len() * sites, "phi holds F·N³ values");
    assert_eq!(pi.len(), phi.len(), "pi holds F·N³ values");
    phi.chunks_exact_mut(sites)
        .zip(pi.chunks_exact_mut(sites))
        .zip(m2s)
        .map(|((f, p), &m2)| kick_drift(stencil, n, c_lap, c_pot, c_drift, &pot.with_m2(m2), f, p))
        .collect()
}

/// The coupled model's force of `coupled_force.wgsl`: (Mφ)_b(x) = Σ_c
/// M_{p(x)}[b, c]·φ_c(x) for the F = phi.len() / patch.len() fields stacked
/// field-major in `phi`, with `matrices` P row-major F×F matrices and `patch` the
/// matrix index of every site.
pub fn coupled_force(matrices: &[f64], patch: &[u32], phi: &[f64]) -> Vec<f64> {
    let sites = patch.len();
    let f = phi.len() / sites;
    assert_eq!(phi.len(), f * sites, "phi holds F·N³ values");
    assert_eq!(matrices.len() % (f * f), 0, "matrices hold P·F·F values");
    let mut out = vec![0.0; phi.len()];
    for (x, &p) in patch.iter().enumerate() {
        let m = &matrices[p as usize * f * f..][..f * f];
        for b in 0..f {
            out[b * sites + x] = (0..f).map(|c| m[b * f + c] * phi[c * sites + x]).sum();
        }
    }
    out
}

/// The coupled kick–drift unit (`coupled_force.wgsl`, then the kick–drift kernels
/// with COUPLED): π_b += c_lap·∇²φ_b − c_pot·(Mφ)_b, then φ += c_drift·π, for all
/// fields at once. Returns each field's energy sums as `kick_drift`, with the
/// potential sum Σ ½φ_b·(Mφ)_b (the fields' terms add up to the total ΣV).
#[allow(clippy::too_many_arguments)]
pub fn kick_drift_coupled(
    stencil: u32,
    n: usize,
    c_lap: f64,
    c_pot: f64,
    c_drift: f64,
    matrices: &[f64],
    patch: &[u32],
    phi: &mut [f64],
    pi: &mut [f64],
) -> Vec<[f64; 3]> {
    let sites = n * n * n;
    assert_eq!(patch.len(), sites, "one patch index per site");
    assert_eq!(pi.len(), phi.len(), "pi holds F·N³ values");
    let force = coupled_force(matrices, patch, phi);
    let mut sums = Vec::new();
    for ((f, p), g) in phi
        .chunks_exact_mut(sites)
        .zip(pi.chunks_exact_mut(sites))
        .zip(force.chunks_exact(sites))
    {
        let lap = laplacian(stencil, f, n);
        let mut s = [0.0; 3];
        for i in 0..sites {
            p[i] += c_lap * lap[i] - c_pot * g[i];
            s[0] += p[i] * p[i];
            s[1] -= f[i] * lap[i];
            s[2] += 0.5 * f[i] * g[i];
        }
        drift(c_drift, f, p);
        sums.push(s);
    }
    sums
}

/// The per-site sums of `reduce.wgsl` over the whole grid:
/// [Σψ, Σψ², Σφ̇, Σφ̇², −Σψ·∇²φ, ΣV] with ψ = φ − shift, φ̇ = π·inv_a3.
#[allow(clippy::too_many_arguments)]
pub fn reduce(
    stencil: u32,
    n: usize,
    inv_a3: f64,
    shift: f64,
    inv_dx2: f64,
    pot: &Potential,
    phi: &[f64],
    pi: &[f64],
) -> [f64; 6] {
    let lap = laplacian(stencil, phi, n);
    let mut s = [0.0; 6];
    for i in 0..phi.len() {
        let psi = phi[i] - shift;
        let v = pi[i] * inv_a3;
        s[0] += psi;
        s[1] += psi * psi;
        s[2] += v;
        s[3] += v * v;
        s[4] -= psi * lap[i] * inv_dx2;
        s[5] += pot.v(phi[i]);
    }
    s
}

/// `reduce` per field of the batched reduction: field b (at b·N³) with its m² =
/// m2s[b] and shift shifts[b].
#[allow(clippy::too_many_arguments)]
pub fn reduce_fields(
    stencil: u32,
    n: usize,
    inv_a3: f64,
    shifts: &[f64],
    inv_dx2: f64,
    pot: &Potential,
    m2s: &[f64],
    phi: &[f64],
    pi: &[f64],
) -> Vec<[f64; 6]> {
    let sites = n * n * n;
    assert_eq!(shifts.len(), m2s.len(), "one shift per field");
    assert_eq!(phi.len(), m2s.len() * sites, "phi holds F·N³ values");
    phi.chunks_exact(sites)
        .zip(pi.chunks_exact(sites))
        .zip(m2s.iter().zip(shifts))
        .map(|((f, p), (&m2, &s))| reduce(stencil, n, inv_a3, s, inv_dx2, &pot.with_m2(m2), f, p))
        .collect()
}

/// The 4th counter word of lattice draws ("LATT").
pub const LATT: u32 = 0x4C41_5454;

/// The Hermitian noise of `ic_noise.wgsl` for every mode of field 0 (the single
/// field's draws): (Re B, Im B, Re C, Im C).
pub fn ic_noise(n: usize, key: [u32; 2]) -> Vec<[f64; 4]> {
    ic_noise_field(n, key, 0)
}

/// `ic_noise` of field b: counter word 1 holds the field, so fields draw
/// independently and field 0 draws what the single field always drew.
pub fn ic_noise_field(n: usize, key: [u32; 2], field: u32) -> Vec<[f64; 4]> {
    let draw = |m: usize| {
        let g = normal2([m as u32, field, 0, LATT], key);
        [0.5 * g[0], 0.5 * g[1]]
    };
    let nn = n * n;
    (0..n * nn)
        .map(|m| {
            let (i, j, k) = (m % n, (m / n) % n, m / nn);
            let partner = (n - i) % n + n * ((n - j) % n + n * ((n - k) % n));
            let a = draw(m);
            let b = draw(partner);
            let bk = [a[0] + b[0], a[1] - b[1]];
            let d = [a[0] - b[0], a[1] + b[1]];
            [bk[0], bk[1], -d[1], d[0]]
        })
        .collect()
}
