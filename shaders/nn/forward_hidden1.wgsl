// One-hidden-layer forward pass, fused: workgroup = (member, block of neurons), one
// invocation per point; each accumulates a·φ(h) over the block without storing h.
// partial[member][block][point]; `residual` sums the blocks.
//
// The block's parameters are first staged in workgroup memory, packed as in
// shared/nn_fused.wgsl, so the hot loop is straight-line vector code with one or two
// vec4 loads per neuron at an address uniform across the workgroup.
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

// Parameter j of neuron k's input row (0 past d; the index is clamped to stay in range).
fn w_in(base: u32, k: u32, j: u32) -> f32 {
    return padded(params[base + k * IN_DIM + min(j, IN_DIM - 1u)], j);
}

fn x_in(i: u32, j: u32) -> f32 {
    return padded(x[i * IN_DIM + min(j, IN_DIM - 1u)], j);
}

@compute @workgroup_size(FWD_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
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
    // Zero-pad the block to a multiple of 4 neurons (a = 0 contributes nothing).
    for (var kk = count + lid.x; kk < (count + 3u) / 4u * 4u; kk = kk + FWD_WG) {
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
        let xa = vec4<f32>(x_in(ia, 0u), x_in(ia, 1u), x_in(ia, 2u), x_in(ia, 3u));
        let xb = vec4<f32>(x_in(ib, 0u), x_in(ib, 1u), x_in(ib, 2u), x_in(ib, 3u));
        let xa45 = vec2<f32>(x_in(ia, 4u), x_in(ia, 5u));
        let xb45 = vec2<f32>(x_in(ib, 4u), x_in(ib, 5u));
        var acc_a = vec4<f32>(0.0);
        var acc_b = vec4<f32>(0.0);
        // Four neurons per iteration (the staged block is zero-padded to 4).
        for (var kk = 0u; kk < count; kk = kk + 4u) {
            var w0: vec4<f32>;
            var w1: vec4<f32>;
            var hx_a: vec4<f32>;
            var hx_b: vec4<f32>;
            var bias: vec4<f32>;
            var a: vec4<f32>;
            if NARROW {
                let v0 = nrn[kk];
                let v1 = nrn[kk + 1u];
                let v2 = nrn[kk + 2u];
                let v3 = nrn[kk + 3u];
                w0 = vec4<f32>(v0.x, v1.x, v2.x, v3.x);
                w1 = vec4<f32>(v0.y, v1.y, v2.y, v3.y);
                bias = vec4<f32>(v0.z, v1.z, v2.z, v3.z);
                a = vec4<f32>(v0.w, v1.w, v2.w, v3.w);
                hx_a = w0 * xa.x + w1 * xa.y;
                hx_b = w0 * xb.x + w1 * xb.y;
            } else {
                var s = array<vec4<f32>, 4>();
                for (var q = 0u; q < 4u; q = q + 1u) {
                    let lo = nrn[2u * (kk + q)];
                    let hi = nrn[2u * (kk + q) + 1u];
                    s[q] = vec4<f32>(dot(lo, xa) + hi.x * xa45.x + hi.y * xa45.y,
                                     dot(lo, xb) + hi.x * xb45.x + hi.y * xb45.y, hi.z, hi.w);
                }
                hx_a = vec4<f32>(s[0].x, s[1].x, s[2].x, s[3].x);
                hx_b = vec4<f32>(s[0].y, s[1].y, s[2].y, s[3].y);
                bias = vec4<f32>(s[0].z, s[1].z, s[2].z, s[3].z);
                a = vec4<f32>(s[0].w, s[1].w, s[2].w, s[3].w);
            }
            acc_a = acc_a + a * act4(uni.wm_in * hx_a + uni.bm_in * bias);
            acc_b = acc_b + a * act4(uni.wm_in * hx_b + uni.bm_in * bias);
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
