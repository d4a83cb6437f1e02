// One fused unit of the integrator at every site:
//   π += c_lap·∇²φ − c_pot·V'(φ),   then   φ_out = φ_in + c_drift·π.
// A pure kick has c_drift = 0, a pure drift c_lap = c_pot = 0. φ is ping-ponged
// because neighbours must see the old φ; π is only touched at its own site.
// CPU twin: reference::lattice::kick_drift.
//
// Each invocation owns a z-segment of ZB sites of one column (x, y) and walks it
// with the z-neighbours in registers; consecutive invocations take consecutive
// columns, so every load is coalesced. GPUs run short segments (ZB = 8: millions
// of invocations, 5 loads per site); CPU drivers run whole columns (ZB = N) when N
// is not a multiple of 4, and kick_drift.wgsl otherwise. Field b = workgroup_id.z
// lives at b·N³; m² and the energy shift come from fields[b].
#import lattice_common
#import lattice_energy

@group(0) @binding(0) var<uniform> p: StepParams;
@group(0) @binding(1) var<storage, read> phi_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> phi_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> pi: array<f32>;
@group(0) @binding(4) var<storage, read_write> energy_parts: array<vec4<f32>>;
// Per field: m², the energy sums' shift s, spare, spare.
@group(0) @binding(5) var<storage, read> fields: array<vec4<f32>>;
// With COUPLED: (Mφ)_b at every site (coupled_force.wgsl), in place of V'(φ_b).
@group(0) @binding(6) var<storage, read> force: array<f32>;

override WG: u32 = 64u;
// 2: 7-point stencil; 4: 13-point 4th-order stencil.
override STENCIL: u32 = 2u;
// The grid size, and the segment length (a divisor of N): constants, so that the
// index arithmetic compiles to shifts and multiplications.
override N: u32;
override ZB: u32;
// The coupled model (disorder dual): the force comes from `force`, V = ½φ·force
// (λ = 0, φ₀ = 0); otherwise `force` is a placeholder that is never read.
override COUPLED: bool = false;

@compute @workgroup_size(WG)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = N;
    let nn = n * n;
    let inv = gid.x + gid.y * nwg.x * WG;
    var e = vec4<f32>(0.0);
    // No early return: every invocation reaches the barriers in energy_store.
    if (inv < nn * (n / ZB)) {
        let col = inv % nn;
        let z0 = (inv / nn) * ZB;
        let c_lap = p.coef.x;
        let c_pot = p.coef.y;
        let c_drift = p.coef.z;
        let pot = lattice_field_pot(fields[wid.z], p.pot);
        // This field starts at fb; site (col, z) of it lies at fc + z·N².
        let fb = wid.z * nn * n;
        let fc = fb + col;
        let o1 = lattice_plane_neighbours(col, n, 1u);
        let o2 = lattice_plane_neighbours(col, n, 2u);
        var zm2 = phi_in[fc + ((z0 + n - 2u) % n) * nn];
        var zm1 = phi_in[fc + ((z0 + n - 1u) % n) * nn];
        var c = phi_in[fc + z0 * nn];
        var zp1 = phi_in[fc + ((z0 + 1u) % n) * nn];
        var zp2 = phi_in[fc + ((z0 + 2u) % n) * nn];
        for (var z = z0; z < z0 + ZB; z = z + 1u) {
            let base = fb + z * nn;
            let ring1 = phi_in[base + o1.x] + phi_in[base + o1.y] + phi_in[base + o1.z] + phi_in[base + o1.w] + zm1 + zp1;
            var lap: f32;
            if (STENCIL == 4u) {
                let ring2 = phi_in[base + o2.x] + phi_in[base + o2.y] + phi_in[base + o2.z] + phi_in[base + o2.w] + zm2 + zp2;
                lap = (4.0 / 3.0) * ring1 - (1.0 / 12.0) * ring2 - 7.5 * c;
            } else {
                lap = ring1 - 6.0 * c;
            }
            let i = base + col;
            if (COUPLED) {
                let f = force[i];
                let pnew = pi[i] + c_lap * lap - c_pot * f;
                pi[i] = pnew;
                e = e + energy_site_v(c, lap, pnew, p.coef.w, pot.w, 0.5 * c * f);
                phi_out[i] = c + c_drift * pnew;
            } else {
                let pnew = pi[i] + c_lap * lap - c_pot * lattice_dv(c, pot);
                pi[i] = pnew;
                e = e + energy_site(c, lap, pnew, p.coef.w, pot);
                phi_out[i] = c + c_drift * pnew;
            }
            zm2 = zm1;
            zm1 = c;
            c = zp1;
            zp1 = zp2;
            if (STENCIL == 4u) {
                zp2 = phi_in[fc + ((z + 3u) % n) * nn];
            } else {
                zp1 = phi_in[fc + ((z + 2u) % n) * nn];
            }
        }
    }
    energy_store(lid, lattice_wg_index(wid, nwg), e);
}
