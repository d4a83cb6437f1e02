// One-hidden-layer backward pass and heavy-ball update, fused per (member, neuron):
// recompute h and (φ, φ') for every point, accumulate the gradients of the
// neuron's input weights, bias and output weight, then v ← βv − ηg, θ ← θ + v.
// Neuron 0 also updates the member's output bias.
//
// Workgroup = (block of 4·WG neurons, member); each invocation owns four neurons,
// held as vec4 lanes in registers. The member's points (x, δ) are staged in
// workgroup memory, packed as in shared/nn_fused.wgsl, so each point costs one or
// two vec4 loads at a uniform address for four neurons' worth of work.
// Out-of-range neurons are clamped and only their stores are skipped.
#import nn_common
#import activation
#import nn_fused

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> vel: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> delta_out: array<f32>;

var<workgroup> pts: array<vec4<f32>, 1024>;

fn x_in(i: u32, j: u32) -> f32 {
    return padded(x[i * IN_DIM + min(j, IN_DIM - 1u)], j);
}

fn step(p: u32, g: f32) {
    let v = uni.momentum * vel[p] - uni.lr * g;
    vel[p] = v;
    params[p] = params[p] + v;
}

// Input weight j of four consecutive neurons (0 past d).
fn w4(row: vec4<u32>, j: u32) -> vec4<f32> {
    let jj = min(j, IN_DIM - 1u);
    let v = vec4<f32>(params[row.x + jj], params[row.y + jj], params[row.z + jj], params[row.w + jj]);
    return select(vec4<f32>(0.0), v, vec4<bool>(j < IN_DIM));
}

fn gather4(off: u32, k: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(params[off + k.x], params[off + k.y], params[off + k.z], params[off + k.w]);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    uni = net;
    let n = uni.width;
    let m = wid.y;
    let n_points = uni.n_points;
    let g = uni.member_base + m;
    for (var i = lid.x; i < n_points; i = i + WG) {
        let r = delta_out[g * n_points + i];
        if NARROW {
            pts[i] = vec4<f32>(x_in(i, 0u), x_in(i, 1u), r, 0.0);
        } else {
            pts[2u * i] = vec4<f32>(x_in(i, 0u), x_in(i, 1u), x_in(i, 2u), x_in(i, 3u));
            pts[2u * i + 1u] = vec4<f32>(x_in(i, 4u), x_in(i, 5u), r, 0.0);
        }
    }
    workgroupBarrier();

    let k_first = 4u * (wid.x * WG + lid.x);
    let k_raw = vec4<u32>(k_first, k_first + 1u, k_first + 2u, k_first + 3u);
    let k = min(k_raw, vec4<u32>(n - 1u));
    let base = (uni.member_offset + m) * uni.params_per_member;
    let row = vec4<u32>(base) + k * IN_DIM;
    let b1 = base + n * IN_DIM;
    let a_off = b1 + n;
    let w0 = w4(row, 0u);
    let w1 = w4(row, 1u);
    let w2 = w4(row, 2u);
    let w3 = w4(row, 3u);
    let w4_ = w4(row, 4u);
    let w5 = w4(row, 5u);
    let bk = gather4(b1, k);
    let ak = gather4(a_off, k);
    var g0 = vec4<f32>(0.0);
    var g1 = vec4<f32>(0.0);
    var g2 = vec4<f32>(0.0);
    var g3 = vec4<f32>(0.0);
    var g4 = vec4<f32>(0.0);
    var g5 = vec4<f32>(0.0);
    var ga = vec4<f32>(0.0);
    var gh = vec4<f32>(0.0);
    var sr = 0.0;
    var dphi = vec4<f32>(0.0);
    if NARROW {
        for (var i = 0u; i < n_points; i = i + 1u) {
            let p = pts[i];
            let phi = act_and_deriv4(uni.wm_in * (w0 * p.x + w1 * p.y) + uni.bm_in * bk, &dphi);
            let r = p.z;
            let rh = r * dphi;
            ga = ga + r * phi;
            gh = gh + rh;
            g0 = g0 + rh * p.x;
            g1 = g1 + rh * p.y;
            sr = sr + r;
        }
    } else {
        for (var i = 0u; i < n_points; i = i + 1u) {
            let p0 = pts[2u * i];
            let p1 = pts[2u * i + 1u];
            let h = w0 * p0.x + w1 * p0.y + w2 * p0.z + w3 * p0.w + w4_ * p1.x + w5 * p1.y;
            let phi = act_and_deriv4(uni.wm_in * h + uni.bm_in * bk, &dphi);
            let r = p1.z;
            let rh = r * dphi;
            ga = ga + r * phi;
            gh = gh + rh;
            g0 = g0 + rh * p0.x;
            g1 = g1 + rh * p0.y;
            g2 = g2 + rh * p0.z;
            g3 = g3 + rh * p0.w;
            g4 = g4 + rh * p1.x;
            g5 = g5 + rh * p1.y;
            sr = sr + r;
        }
    }
    let back = uni.wm_out * ak;
    let gw = array<vec4<f32>, 6>(g0, g1, g2, g3, g4, g5);
    for (var q = 0u; q < 4u; q = q + 1u) {
        if k_raw[q] < n {
            for (var j = 0u; j < IN_DIM; j = j + 1u) {
                step(row[q] + j, back[q] * uni.wm_in * gw[j][q]);
            }
            step(b1 + k[q], back[q] * uni.bm_in * gh[q]);
            step(a_off + k[q], uni.wm_out * ga[q]);
        }
    }
    if k_first == 0u {
        step(base + uni.out_b, uni.bm_out * sr);
    }
}
