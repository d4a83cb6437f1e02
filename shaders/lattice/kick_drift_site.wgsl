// One fused unit of the integrator at every site:
//   π += c_lap·∇²φ − c_pot·V'(φ),   then   φ_out = φ_in + c_drift·π.
// CPU twin: reference::lattice::kick_drift.
//
// One invocation per site, for GPUs: millions of independent invocations hide the
// memory latency, and neighbouring invocations share the stencil's loads through
// the caches. CPU drivers run kick_drift.wgsl instead, whose z-walk keeps the
// neighbours in registers because every load costs them a per-lane loop.
#import lattice_common
#import lattice_energy

@group(0) @binding(0) var<uniform> p: StepParams;
@group(0) @binding(1) var<storage, read> phi_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> phi_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> pi: array<f32>;
@group(0) @binding(4) var<storage, read_write> energy_parts: array<vec4<f32>>;

override WG: u32 = 256u;
// 2: 7-point stencil; 4: 13-point 4th-order stencil.
override STENCIL: u32 = 2u;

// (a + d) mod n for a < n and d ≤ 2 (or a − d for negative d), without a division.
fn wrap_up(a: u32, d: u32, n: u32) -> u32 {
    let b = a + d;
    return select(b, b - n, b >= n);
}

fn wrap_down(a: u32, d: u32, n: u32) -> u32 {
    return select(a - d, a + n - d, a < d);
}

// Sum of the six neighbours at distance d of site (x, y, z), which sits at i.
fn ring(i: u32, x: u32, y: u32, z: u32, d: u32, n: u32) -> f32 {
    let row = i - x;
    let plane = i - (x + n * y);
    let nn = n * n;
    let inplane = x + n * y;
    return phi_in[row + wrap_down(x, d, n)] + phi_in[row + wrap_up(x, d, n)]
        + phi_in[plane + x + n * wrap_down(y, d, n)] + phi_in[plane + x + n * wrap_up(y, d, n)]
        + phi_in[inplane + nn * wrap_down(z, d, n)] + phi_in[inplane + nn * wrap_up(z, d, n)];
}

@compute @workgroup_size(WG)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = p.n;
    let i = gid.x + gid.y * nwg.x * WG;
    var e = vec4<f32>(0.0);
    // No early return: every invocation reaches the barriers in energy_store.
    if (i < n * n * n) {
        let x = i % n;
        let yz = i / n;
        let y = yz % n;
        let z = yz / n;
        let c = phi_in[i];
        var lap: f32;
        if (STENCIL == 4u) {
            lap = (4.0 / 3.0) * ring(i, x, y, z, 1u, n) - (1.0 / 12.0) * ring(i, x, y, z, 2u, n) - 7.5 * c;
        } else {
            lap = ring(i, x, y, z, 1u, n) - 6.0 * c;
        }
        let pnew = pi[i] + p.coef.x * lap - p.coef.y * lattice_dv(c, p.pot);
        pi[i] = pnew;
        phi_out[i] = c + p.coef.z * pnew;
        e = energy_site(c, lap, pnew, p.pot);
    }
    energy_store(lid, wid.x + wid.y * nwg.x, e);
}
