// The coupled model's force (disorder dual, DESIGN §4.4): at every site x and field b
//   force[b·N³ + x] = Σ_c M_{p(x)}[b, c]·φ_c(x),   p(x) = patch_of[x],
// which the kick–drift and reduce kernels built with COUPLED = true read in place
// of V'(φ_b) (and ½φ_b·force_b in place of V). It runs before them in the same pass,
// on the φ they read, so one dispatch chain per unit covers all fields.
// One invocation per site does all F rows: each φ_c(x) is loaded once (a site's
// fields are N³ apart, so consecutive invocations still load consecutive
// addresses), and the patch's rows are read as vec4s (rows zero-padded to Q vec4s).
// CPU twin: reference::lattice::coupled_force.

@group(0) @binding(0) var<storage, read> phi: array<f32>;
// P matrices of F rows of Q vec4s each: row b of matrix m at (m·F + b)·Q.
@group(0) @binding(1) var<storage, read> mats: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> patch_of: array<u32>;
@group(0) @binding(3) var<storage, read_write> force: array<f32>;

override WG: u32 = 64u;
// N³, F and Q = ceil(F/4): constants, so that the loops unroll.
override SITES: u32;
override F: u32;
override Q: u32;
// F ≤ 64 (the host refuses more).
const QMAX: u32 = 16u;

fn load(c: u32, x: u32) -> f32 {
    if (c < F) {
        return phi[c * SITES + x];
    }
    return 0.0;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let x = gid.x + gid.y * nwg.x * WG;
    if (x >= SITES) {
        return;
    }
    var v: array<vec4<f32>, QMAX>;
    for (var j = 0u; j < Q; j = j + 1u) {
        let c = 4u * j;
        v[j] = vec4<f32>(load(c, x), load(c + 1u, x), load(c + 2u, x), load(c + 3u, x));
    }
    let m0 = patch_of[x] * F * Q;
    for (var b = 0u; b < F; b = b + 1u) {
        let r = m0 + b * Q;
        var acc = vec4<f32>(0.0);
        for (var j = 0u; j < Q; j = j + 1u) {
            acc = acc + mats[r + j] * v[j];
        }
        force[b * SITES + x] = (acc.x + acc.y) + (acc.z + acc.w);
    }
}
