// One-hidden-layer forward pass, fused: workgroup = (member, block of neurons), one
// invocation per point; each accumulates a·φ(h) over the block without storing h.
// partial[member][block][point]; `residual` sums the blocks.
//
// The block's parameters are first staged in workgroup memory, packed as in
// shared/nn_fused.wgsl; the hot loop reads them through subgroup broadcasts (needs
// subgroups of at least 8 lanes; without them the engine takes the generic path).
#import nn_common
#import activation
#import nn_fused

override FWD_WG: u32 = 64u;

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

var<workgroup> nrn: array<vec4<f32>, 512>;
// This invocation's two points (the second FWD_WG further on).
var<private> xa: vec4<f32>;
var<private> xb: vec4<f32>;
var<private> xa45: vec2<f32>;
var<private> xb45: vec2<f32>;

// Parameter j of neuron k's input row (0 past d; the index is clamped to stay in range).
fn w_in(base: u32, k: u32, j: u32) -> f32 {
    return padded(params[base + k * IN_DIM + min(j, IN_DIM - 1u)], j);
}

fn x_in(i: u32, j: u32) -> f32 {
    return padded(x[i * IN_DIM + min(j, IN_DIM - 1u)], j);
}

// a·φ(h) of four staged neurons (d ≤ 2: (w0, w1, b, a) each) at the points xa, xb.
fn narrow4(v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>) -> array<vec4<f32>, 2> {
    let w0 = vec4<f32>(v0.x, v1.x, v2.x, v3.x);
    let w1 = vec4<f32>(v0.y, v1.y, v2.y, v3.y);
    let bias = vec4<f32>(v0.z, v1.z, v2.z, v3.z);
    let a = vec4<f32>(v0.w, v1.w, v2.w, v3.w);
    return array<vec4<f32>, 2>(
        a * act4(uni.wm_in * (w0 * xa.x + w1 * xa.y) + uni.bm_in * bias),
        a * act4(uni.wm_in * (w0 * xb.x + w1 * xb.y) + uni.bm_in * bias),
    );
}

// The same for d ≤ 6: neuron q is (w0..w3) in lq and (w4, w5, b, a) in hq.
fn wide4(
    l0: vec4<f32>, h0: vec4<f32>, l1: vec4<f32>, h1: vec4<f32>,
    l2: vec4<f32>, h2: vec4<f32>, l3: vec4<f32>, h3: vec4<f32>,
) -> array<vec4<f32>, 2> {
    let ha = vec4<f32>(wx(l0, h0, xa, xa45), wx(l1, h1, xa, xa45), wx(l2, h2, xa, xa45), wx(l3, h3, xa, xa45));
    let hb = vec4<f32>(wx(l0, h0, xb, xb45), wx(l1, h1, xb, xb45), wx(l2, h2, xb, xb45), wx(l3, h3, xb, xb45));
    let bias = vec4<f32>(h0.z, h1.z, h2.z, h3.z);
    let a = vec4<f32>(h0.w, h1.w, h2.w, h3.w);
    return array<vec4<f32>, 2>(
        a * act4(uni.wm_in * ha + uni.bm_in * bias),
        a * act4(uni.wm_in * hb + uni.bm_in * bias),
    );
}

// w·x of one wide-packed neuron.
fn wx(lo: vec4<f32>, hi: vec4<f32>, x: vec4<f32>, x45: vec2<f32>) -> f32 {
    return dot(lo, x) + hi.x * x45.x + hi.y * x45.y;
}

@compute @workgroup_size(FWD_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(subgroup_invocation_id) sg: u32,
) {
    uni = net;
    let n_points = uni.n_points;
    let blk = wid.x % uni.blocks;
    let m = wid.x / uni.blocks;
    let n = uni.width;
    let base = (uni.member_offset + m) * uni.params_per_member;
    let b1 = base + n * IN_DIM;
    let a_off = b1 + n;
    let per = (n + uni.blocks - 1u) / uni.blocks;
    let k0 = blk * per;
    let count = min(k0 + per, n) - k0;
    let sl = sg % 8u;
    // Zero-pad the block to a multiple of 8 neurons (a = 0 contributes nothing).
    for (var kk = count + lid.x; kk < (count + 7u) / 8u * 8u; kk = kk + FWD_WG) {
        if NARROW {
            nrn[kk] = vec4<f32>(0.0);
        } else {
            nrn[2u * kk] = vec4<f32>(0.0);
            nrn[2u * kk + 1u] = vec4<f32>(0.0);
        }
    }
    for (var kk = lid.x; kk < count; kk = kk + FWD_WG) {
        let k = k0 + kk;
        let b = params[b1 + k];
        let a = params[a_off + k];
        if NARROW {
            nrn[kk] = vec4<f32>(w_in(base, k, 0u), w_in(base, k, 1u), b, a);
        } else {
            nrn[2u * kk] = vec4<f32>(w_in(base, k, 0u), w_in(base, k, 1u), w_in(base, k, 2u), w_in(base, k, 3u));
            nrn[2u * kk + 1u] = vec4<f32>(w_in(base, k, 4u), w_in(base, k, 5u), b, a);
        }
    }
    workgroupBarrier();
    // Each invocation owns two points (i and i + FWD_WG), so every staged vec4 feeds
    // two evaluations; clamp instead of branching to keep the hot loop uniform.
    for (var i0 = 0u; i0 < n_points; i0 = i0 + 2u * FWD_WG) {
        let ia = min(i0 + lid.x, n_points - 1u);
        let ib = min(i0 + FWD_WG + lid.x, n_points - 1u);
        xa = vec4<f32>(x_in(ia, 0u), x_in(ia, 1u), x_in(ia, 2u), x_in(ia, 3u));
        xb = vec4<f32>(x_in(ib, 0u), x_in(ib, 1u), x_in(ib, 2u), x_in(ib, 3u));
        xa45 = vec2<f32>(x_in(ia, 4u), x_in(ia, 5u));
        xb45 = vec2<f32>(x_in(ib, 4u), x_in(ib, 5u));
        var acc_a = vec4<f32>(0.0);
        var acc_b = vec4<f32>(0.0);
        // Eight neurons per iteration (the staged block is zero-padded to 8): lane s
        // of each group of 8 loads neuron kk + s and broadcasts hand all eight to every
        // lane, since a CPU driver runs even a uniform load inside a loop lane by lane.
        for (var kk = 0u; kk < count; kk = kk + 8u) {
            var t: array<vec4<f32>, 4>;
            if NARROW {
                let mine = nrn[kk + sl];
                let w = narrow4(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u),
                                subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u));
                let u = narrow4(subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u),
                                subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u));
                t = array<vec4<f32>, 4>(w[0], w[1], u[0], u[1]);
            } else {
                let lo = nrn[2u * (kk + sl)];
                let hi = nrn[2u * (kk + sl) + 1u];
                let w = wide4(
                    subgroupBroadcast(lo, 0u), subgroupBroadcast(hi, 0u),
                    subgroupBroadcast(lo, 1u), subgroupBroadcast(hi, 1u),
                    subgroupBroadcast(lo, 2u), subgroupBroadcast(hi, 2u),
                    subgroupBroadcast(lo, 3u), subgroupBroadcast(hi, 3u));
                let u = wide4(
                    subgroupBroadcast(lo, 4u), subgroupBroadcast(hi, 4u),
                    subgroupBroadcast(lo, 5u), subgroupBroadcast(hi, 5u),
                    subgroupBroadcast(lo, 6u), subgroupBroadcast(hi, 6u),
                    subgroupBroadcast(lo, 7u), subgroupBroadcast(hi, 7u));
                t = array<vec4<f32>, 4>(w[0], w[1], u[0], u[1]);
            }
            acc_a = acc_a + t[0] + t[2];
            acc_b = acc_b + t[1] + t[3];
        }
        let out = (uni.member_base + m) * uni.blocks + blk;
        if i0 + lid.x < n_points {
            partial[out * n_points + ia] = uni.wm_out * (acc_a.x + acc_a.y + acc_a.z + acc_a.w);
        }
        if i0 + FWD_WG + lid.x < n_points {
            partial[out * n_points + ib] = uni.wm_out * (acc_b.x + acc_b.y + acc_b.z + acc_b.w);
        }
    }
}
