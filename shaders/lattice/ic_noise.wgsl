// Hermitian white noise for the initial conditions, one Fourier mode per invocation.
// Each mode k draws its own complex Gaussian a_k (⟨|a_k|²⟩ = 1/2) from Philox keyed by
// (seed, mode index), and that of its partner −k, and returns
//   B_k = a_k + conj(a_{−k}),   C_k = i·(a_k − conj(a_{−k})),
// both Hermitian (B_{−k} = conj(B_k)) by construction. A mode function (u, u̇) then
// gives the field δφ_k = Re(u)·B_k + Im(u)·C_k, i.e. u·a_k + conj(u)·conj(a_{−k}).
// A draw depends only on (seed, mode), never on the dispatch shape or slab.
// CPU twin: reference::lattice::ic_noise.
#import rng

struct NoiseParams {
    n: u32,
    // first mode index of this slab, and the number of modes in it
    first: u32,
    count: u32,
    _p0: u32,
    key: vec2<u32>,
    _p1: vec2<u32>,
}

@group(0) @binding(0) var<uniform> p: NoiseParams;
@group(0) @binding(1) var<storage, read_write> noise: array<vec4<f32>>;

override WG: u32 = 64u;

// 4th counter word "LATT": keeps lattice draws apart from the ensemble's streams.
const LATT: u32 = 0x4C415454u;

fn draw(mode: u32) -> vec2<f32> {
    return 0.5 * philox_normal2(vec4<u32>(mode, 0u, 0u, LATT), p.key);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG;
    if (idx >= p.count) {
        return;
    }
    let n = p.n;
    let m = p.first + idx;
    let i = m % n;
    let j = (m / n) % n;
    let k = m / (n * n);
    let partner = (n - i) % n + n * ((n - j) % n + n * ((n - k) % n));
    let a = draw(m);
    let b = draw(partner);
    // conj(b) = (b.x, −b.y)
    let bk = vec2<f32>(a.x + b.x, a.y - b.y);
    let d = vec2<f32>(a.x - b.x, a.y + b.y);
    // i·d = (−d.y, d.x)
    noise[idx] = vec4<f32>(bk.x, bk.y, -d.y, d.x);
}
