// Shared by the lattice kernels: parameter blocks and the potential.
// Field layout: site (x, y, z) of field b of an N³ periodic grid lives at
// x + N·(y + N·z) + b·N³ (fields stacked field-major in one buffer). Every kernel
// takes b from workgroup_id.z (dispatch [x, y, F]), so that no workgroup straddles
// two fields, and its per-field parameters from `fields[b]` (see lattice_field_pot).
// Kernels walk z (whole columns or segments of one), so that the z-neighbours stay
// in registers, and consecutive invocations touch consecutive addresses.

// One fused kick–drift unit (CPU twin: reference::lattice::kick_drift).
struct StepParams {
    n: u32,
    // Where energy_fold puts this unit's energy sums (energy[slot·F + b]), and
    // how many workgroup parts the kick–drift kernel leaves per field.
    slot: u32,
    parts: u32,
    // The number of fields F.
    nfields: u32,
    // c_lap (already divided by dx²), c_pot, c_drift, and w ≈ a^(−3/2), which
    // keeps the energy sums' π² in range (see lattice_energy)
    coef: vec4<f32>,
    // m², λ, φ₀, unused: m² and the shift s of the energy sums come per field
    // (lattice_field_pot)
    pot: vec4<f32>,
}

// Observables (CPU twin: reference::lattice::reduce).
struct ReduceParams {
    n: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
    // 1/a³, unused (the shift comes per field), 1/dx², unused
    a: vec4<f32>,
    pot: vec4<f32>,
}

// The potential of one field: its m² and shift s (fields[b] = (m², s, spare,
// spare)) in place of pot.x and pot.w; λ and φ₀ are shared.
fn lattice_field_pot(f: vec4<f32>, pot: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(f.x, pot.y, pot.z, f.y);
}

// The flat index of a workgroup, field-major: parts of field b (= wid.z) come
// after those of fields 0..b−1.
fn lattice_wg_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
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
