// One-hidden-layer backward pass and heavy-ball update, fused per (member, neuron):
// recompute h and (φ, φ') for every point, accumulate the gradients of the
// neuron's input weights, bias and output weight, then v ← βv − ηg, θ ← θ + v.
// Neuron 0 also updates the member's output bias.
//
// Workgroup = (block of 4·WG neurons, member); each invocation owns four neurons,
// held as vec4 lanes in registers. The member's points (x, δ) are staged in
// workgroup memory, packed as in shared/nn_fused.wgsl, and reach every lane through
// subgroup broadcasts (subgroups of at least 8 lanes; the generic path otherwise).
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

// The four neurons' input weights (j < 6, 0 past d) and biases.
var<private> w: array<vec4<f32>, 6>;
var<private> bk: vec4<f32>;
// Their gradient sums: input weights, then bias (gh), output weight (ga), and Σ δ.
var<private> gw: array<vec4<f32>, 6>;
var<private> gh: vec4<f32>;
var<private> ga: vec4<f32>;
var<private> sr: f32;

// Adds one staged point (p0, and p1 when d > 2) to the sums.
fn point(p0: vec4<f32>, p1: vec4<f32>) {
    var dphi: vec4<f32>;
    var r: f32;
    var h: vec4<f32>;
    if NARROW {
        h = w[0] * p0.x + w[1] * p0.y;
        r = p0.z;
    } else {
        h = w[0] * p0.x + w[1] * p0.y + w[2] * p0.z + w[3] * p0.w + w[4] * p1.x + w[5] * p1.y;
        r = p1.z;
    }
    let phi = act_and_deriv4(uni.wm_in * h + uni.bm_in * bk, &dphi);
    let rh = r * dphi;
    ga = ga + r * phi;
    gh = gh + rh;
    if NARROW {
        gw[0] = gw[0] + rh * p0.x;
        gw[1] = gw[1] + rh * p0.y;
    } else {
        gw[0] = gw[0] + rh * p0.x;
        gw[1] = gw[1] + rh * p0.y;
        gw[2] = gw[2] + rh * p0.z;
        gw[3] = gw[3] + rh * p0.w;
        gw[4] = gw[4] + rh * p1.x;
        gw[5] = gw[5] + rh * p1.y;
    }
    sr = sr + r;
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(subgroup_invocation_id) sg: u32,
) {
    uni = net;
    let n = uni.width;
    let m = wid.y;
    let n_points = uni.n_points;
    let g = uni.member_base + m;
    // Points past N up to a multiple of 8 are zero (δ = 0 contributes nothing).
    for (var i = lid.x; i < (n_points + 7u) / 8u * 8u; i = i + WG) {
        let live = i < n_points;
        let j = min(i, n_points - 1u);
        let r = select(0.0, delta_out[g * n_points + j], live);
        let x03 = select(vec4<f32>(0.0), vec4<f32>(x_in(j, 0u), x_in(j, 1u), x_in(j, 2u), x_in(j, 3u)), live);
        let x45 = select(vec2<f32>(0.0), vec2<f32>(x_in(j, 4u), x_in(j, 5u)), live);
        if NARROW {
            pts[i] = vec4<f32>(x03.xy, r, 0.0);
        } else {
            pts[2u * i] = x03;
            pts[2u * i + 1u] = vec4<f32>(x45, r, 0.0);
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
    w = array<vec4<f32>, 6>(w4(row, 0u), w4(row, 1u), w4(row, 2u), w4(row, 3u), w4(row, 4u), w4(row, 5u));
    bk = gather4(b1, k);
    let ak = gather4(a_off, k);
    // Eight points per iteration: lane s of each group of 8 loads point i + s and
    // broadcasts hand all eight to every lane, since a CPU driver runs even a uniform
    // load inside a loop lane by lane.
    let sl = sg % 8u;
    for (var i = 0u; i < n_points; i = i + 8u) {
        if NARROW {
            let mine = pts[i + sl];
            point(subgroupBroadcast(mine, 0u), vec4<f32>(0.0));
            point(subgroupBroadcast(mine, 1u), vec4<f32>(0.0));
            point(subgroupBroadcast(mine, 2u), vec4<f32>(0.0));
            point(subgroupBroadcast(mine, 3u), vec4<f32>(0.0));
            point(subgroupBroadcast(mine, 4u), vec4<f32>(0.0));
            point(subgroupBroadcast(mine, 5u), vec4<f32>(0.0));
            point(subgroupBroadcast(mine, 6u), vec4<f32>(0.0));
            point(subgroupBroadcast(mine, 7u), vec4<f32>(0.0));
        } else {
            let lo = pts[2u * (i + sl)];
            let hi = pts[2u * (i + sl) + 1u];
            point(subgroupBroadcast(lo, 0u), subgroupBroadcast(hi, 0u));
            point(subgroupBroadcast(lo, 1u), subgroupBroadcast(hi, 1u));
            point(subgroupBroadcast(lo, 2u), subgroupBroadcast(hi, 2u));
            point(subgroupBroadcast(lo, 3u), subgroupBroadcast(hi, 3u));
            point(subgroupBroadcast(lo, 4u), subgroupBroadcast(hi, 4u));
            point(subgroupBroadcast(lo, 5u), subgroupBroadcast(hi, 5u));
            point(subgroupBroadcast(lo, 6u), subgroupBroadcast(hi, 6u));
            point(subgroupBroadcast(lo, 7u), subgroupBroadcast(hi, 7u));
        }
    }
    let back = uni.wm_out * ak;
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
