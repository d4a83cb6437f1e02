// Hermitian white noise for the initial conditions, one Fourier mode per invocation.
// Each mode k draws its own complex Gaussian a_k (⟨|a_k|²⟩ = 1/2) from Philox keyed by
// (seed, field, mode index), and that of its partner −k, and returns
//   B_k = a_k + conj(a_{−k}),   C_k = i·(a_k − conj(a_{−k})),
// both Hermitian (B_{−k} = conj(B_k)) by construction. A mode function (u, u̇) then
// gives the field δφ_k = Re(u)·B_k + Im(u)·C_k, i.e. u·a_k + conj(u)·conj(a_{−k}).
// A draw depends only on (seed, field, mode), never on the dispatch shape or slab;
// field 0 draws what the single-field engine always drew (counter word 1 = 0). The
// pair (k, −k) is evaluated in one canonical order by both of its invocations, and
// the partner takes the conjugate, so the Hermitian symmetry holds bit for bit
// whatever the compiler contracts into FMAs.
// CPU twin: reference::lattice::ic_noise.
#import rng

struct NoiseParams {
    n: u32,
    // first mode index of this slab, and the number of modes in it
    first: u32,
    count: u32,
    // The field b whose noise this is (independent draws per field).
    field: u32,
    key: vec2<u32>,
    _p1: vec2<u32>,
}

@group(0) @binding(0) var<uniform> p: NoiseParams;
@group(0) @binding(1) var<storage, read_write> noise: array<vec4<f32>>;

override WG: u32 = 64u;

// 4th counter word "LATT": keeps lattice draws apart from the ensemble's streams.
const LATT: u32 = 0x4C415454u;

fn draw(mode: u32) -> vec2<f32> {
    return 0.5 * philox_normal2(vec4<u32>(mode, p.field, 0u, LATT), p.key);
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
    let lo = min(m, partner);
    let a = draw(lo);
    let b = draw(max(m, partner));
    // For the lower mode: B = a + conj(b), C = i·(a − conj(b)), conj(b) = (b.x, −b.y),
    // i·(x, y) = (−y, x). The other mode of the pair gets conj(B), conj(C).
    let s = vec2<f32>(a.x + b.x, a.y - b.y);
    let t = vec2<f32>(a.x - b.x, a.y + b.y);
    var out = vec4<f32>(s.x, s.y, -t.y, t.x);
    if (m == partner) {
        // Self-conjugate modes (k = 0 and the Nyquist corners) are real.
        out = vec4<f32>(out.x, 0.0, out.z, 0.0);
    } else if (m != lo) {
        out = vec4<f32>(out.x, -out.y, out.z, -out.w);
    }
    noise[idx] = out;
}
