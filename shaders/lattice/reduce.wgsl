// Per-workgroup partial sums of the observables; the host adds the partials in f64.
// Dispatch [x, y, F]: field b = workgroup_id.z, at offset b·N³, with its m² and
// shift s from fields[b]; partials are field-major.
// Per site, with ψ = φ − s (s a shift near the field's mean, so that Var φ keeps
// its digits) and φ̇ = π/a³:
//   0: ψ   1: ψ²   2: φ̇   3: φ̇²   4: −ψ·∇²φ (twice the gradient energy × a², by
//   summation by parts, so it matches the stencil the kick uses)   5: V(φ)
//   (½φ_b·(Mφ)_b in the coupled model)
// CPU twin: reference::lattice::reduce.
#import lattice_common

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read> phi: array<f32>;
@group(0) @binding(2) var<storage, read> pi: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
// Per field: m², the shift s, spare, spare.
@group(0) @binding(4) var<storage, read> fields: array<vec4<f32>>;
// With COUPLED: (Mφ)_b at every site (coupled_force.wgsl); V = ½φ_b·(Mφ)_b.
// Otherwise a placeholder that is never read.
@group(0) @binding(5) var<storage, read> force: array<f32>;

override STENCIL: u32 = 2u;
override COUPLED: bool = false;
// The host reads this workgroup size back from the shader.
const RWG: u32 = 64u;

var<workgroup> sa: array<vec4<f32>, RWG>;
var<workgroup> sb: array<vec4<f32>, RWG>;

// Kahan-compensated accumulation: columns are up to N long.
fn kahan(sum: ptr<function, vec4<f32>>, comp: ptr<function, vec4<f32>>, v: vec4<f32>) {
    let y = v - *comp;
    let t = *sum + y;
    *comp = (t - *sum) - y;
    *sum = t;
}

@compute @workgroup_size(RWG)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = p.n;
    let nn = n * n;
    let col = gid.x + gid.y * nwg.x * RWG;
    var s1 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    if (col < nn) {
        let inv_a3 = p.a.x;
        let pot = lattice_field_pot(fields[wid.z], p.pot);
        let shift = pot.w;
        let inv_dx2 = p.a.z;
        // This field starts at fb; site (col, z) of it lies at fc + z·N².
        let fb = wid.z * nn * n;
        let fc = fb + col;
        let o1 = lattice_plane_neighbours(col, n, 1u);
        let o2 = lattice_plane_neighbours(col, n, 2u);
        for (var z = 0u; z < n; z = z + 1u) {
            let base = fb + z * nn;
            let i = base + col;
            let c = phi[i];
            let zm1 = phi[fc + ((z + n - 1u) % n) * nn];
            let zp1 = phi[fc + ((z + 1u) % n) * nn];
            let ring1 = phi[base + o1.x] + phi[base + o1.y] + phi[base + o1.z] + phi[base + o1.w] + zm1 + zp1;
            var lap: f32;
            if (STENCIL == 4u) {
                let zm2 = phi[fc + ((z + n - 2u) % n) * nn];
                let zp2 = phi[fc + ((z + 2u) % n) * nn];
                let ring2 = phi[base + o2.x] + phi[base + o2.y] + phi[base + o2.z] + phi[base + o2.w] + zm2 + zp2;
                lap = (4.0 / 3.0) * ring1 - (1.0 / 12.0) * ring2 - 7.5 * c;
            } else {
                lap = ring1 - 6.0 * c;
            }
            let psi = c - shift;
            let v = pi[i] * inv_a3;
            kahan(&s1, &c1, vec4<f32>(psi, psi * psi, v, v * v));
            var vs: f32;
            if (COUPLED) {
                vs = 0.5 * c * force[i];
            } else {
                vs = lattice_v(c, pot);
            }
            kahan(&s2, &c2, vec4<f32>(-psi * lap * inv_dx2, vs, 0.0, 0.0));
        }
    }
    sa[lid] = s1;
    sb[lid] = s2;
    workgroupBarrier();
    for (var stride = RWG / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            sa[lid] = sa[lid] + sa[lid + stride];
            sb[lid] = sb[lid] + sb[lid + stride];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let w = lattice_wg_index(wid, nwg) * 8u;
        partials[w + 0u] = sa[0].x;
        partials[w + 1u] = sa[0].y;
        partials[w + 2u] = sa[0].z;
        partials[w + 3u] = sa[0].w;
        partials[w + 4u] = sb[0].x;
        partials[w + 5u] = sb[0].y;
        partials[w + 6u] = 0.0;
        partials[w + 7u] = 0.0;
    }
}
