// Energy-flux sums of one kick–drift unit, for the continuity check
// d(a³ρ)/dt + 3H·a³p = 0 integrated along the integrator's own sub-flows (the host
// weights each sum by the unit's coefficient and adds up the units):
//   x: Σ (π_new·w²)²       the drift moves φ with π_new for c_drift = ∫a⁻³dt;
//                          w = coef.w ≈ a^(−3/2) (the host divides by w⁴), since
//                          π = a³φ̇ squared and summed would overflow f32 within
//                          a dozen e-folds
//   y: Σ −(φ − s)·dx²∇²φ   the kick holds φ for c_lap = ∫a dt; this is Σ dx²|∇φ|²
//                          by summation by parts (the shift s, the mean at the
//                          last output, changes nothing but the f32 rounding)
//   z: Σ V(φ)              and for c_pot = ∫a³dt
// Each workgroup adds its invocations' sums in workgroup memory and stores one vec4
// in energy_parts (field-major: workgroups never straddle fields); energy_fold.wgsl
// adds each field's parts into the unit's slot for that field.
// The importing kernel declares WG (a power of two) and the binding energy_parts.
// CPU twin: the sums returned by reference::lattice::kick_drift.

var<workgroup> energy_wg: array<vec4<f32>, WG>;

// The sums at one site; c = φ before the drift, lap = dx²∇²φ, w = coef.w,
// pot = the field's potential with pot.w = s (lattice_field_pot). w is applied twice so that neither factor leaves f32's range.
fn energy_site(c: f32, lap: f32, pnew: f32, w: f32, pot: vec4<f32>) -> vec4<f32> {
    return energy_site_v(c, lap, pnew, w, pot.w, lattice_v(c, pot));
}

// energy_site with the site's potential energy v given (the coupled model's
// ½φ_b·(Mφ)_b) and the shift s.
fn energy_site_v(c: f32, lap: f32, pnew: f32, w: f32, s: f32, v: f32) -> vec4<f32> {
    let q = (pnew * w) * w;
    return vec4<f32>(q * q, -(c - s) * lap, v, 0.0);
}

// energy_site at four sites, added.
fn energy_site4(c: vec4<f32>, lap: vec4<f32>, pnew: vec4<f32>, w: f32, pot: vec4<f32>) -> vec4<f32> {
    let psi = c - pot.z;
    let p2 = psi * psi;
    let v = p2 * (0.5 * pot.x + 0.25 * pot.y * p2);
    return energy_site4_v(c, lap, pnew, w, pot.w, v);
}

// energy_site4 with the sites' potential energies v given and the shift s.
fn energy_site4_v(c: vec4<f32>, lap: vec4<f32>, pnew: vec4<f32>, w: f32, s: f32, v: vec4<f32>) -> vec4<f32> {
    let q = (pnew * w) * w;
    return vec4<f32>(dot(q, q), -dot(c - s, lap), dot(v, vec4<f32>(1.0)), 0.0);
}

// `v` added over the workgroup, valid in invocation 0. Every invocation of the
// workgroup must call it (it holds barriers).
fn energy_wg_sum(lid: u32, v: vec4<f32>) -> vec4<f32> {
    energy_wg[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            energy_wg[lid] = energy_wg[lid] + energy_wg[lid + s];
        }
        workgroupBarrier();
    }
    return energy_wg[0];
}

// Stores the workgroup's total of `v` at energy_parts[wid] (wid from
// lattice_wg_index); called by every invocation.
fn energy_store(lid: u32, wid: u32, v: vec4<f32>) {
    let total = energy_wg_sum(lid, v);
    if (lid == 0u) {
        energy_parts[wid] = total;
    }
}
