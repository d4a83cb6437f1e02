// Shared by the lattice kernels: parameter blocks and the potential.
// Field layout: site (x, y, z) of an N³ periodic grid lives at x + N·(y + N·z).
// Kernels walk z (whole columns or segments of one), so that the z-neighbours stay
// in registers, and consecutive invocations touch consecutive addresses.

// One fused kick–drift unit (CPU twin: reference::lattice::kick_drift).
struct StepParams {
    n: u32,
    // Where energy_fold puts this unit's energy sums, and how many workgroup
    // parts the kick–drift kernel leaves for it.
    slot: u32,
    parts: u32,
    _p2: u32,
    // c_lap (already divided by dx²), c_pot, c_drift, and w ≈ a^(−3/2), which
    // keeps the energy sums' π² in range (see lattice_energy)
    coef: vec4<f32>,
    // m², λ, φ₀, and the shift s of the energy sums (see lattice_energy)
    pot: vec4<f32>,
}

// Observables (CPU twin: reference::lattice::reduce).
struct ReduceParams {
    n: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
    // 1/a³, shift s subtracted from φ before squaring, 1/dx², unused
    a: vec4<f32>,
    pot: vec4<f32>,
}

// V'(φ) for V = ½m²ψ² + (λ/4)ψ⁴, ψ = φ − φ₀.
fn lattice_dv(phi: f32, pot: vec4<f32>) -> f32 {
    let psi = phi - pot.z;
    return psi * (pot.x + pot.y * psi * psi);
}

// lattice_dv at four sites.
fn lattice_dv4(phi: vec4<f32>, pot: vec4<f32>) -> vec4<f32> {
    let psi = phi - pot.z;
    return psi * (pot.x + pot.y * psi * psi);
}

fn lattice_v(phi: f32, pot: vec4<f32>) -> f32 {
    let psi = phi - pot.z;
    let p2 = psi * psi;
    return p2 * (0.5 * pot.x + 0.25 * pot.y * p2);
}

// Column offsets (within one z-plane) of the in-plane neighbours at distance d.
fn lattice_plane_neighbours(col: u32, n: u32, d: u32) -> vec4<u32> {
    let x = col % n;
    let row = col - x;
    return vec4<u32>(
        row + (x + n - d) % n,
        row + (x + d) % n,
        (col + n * n - d * n) % (n * n),
        (col + d * n) % (n * n),
    );
}
