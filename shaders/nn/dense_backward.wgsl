// Backward through a hidden-to-hidden weight layer W (n_out × n_in, widths multiples
// of 4), register-tiled with subgroup broadcasts and fused with that layer's
// heavy-ball update: one invocation per (member, tile of TP points, 4 input neurons b)
// streams the column block W[·][b..b+4] once and, per output neuron a,
//   δ_b += δ_up[a]·W[a][b]                 (for every point of the tile, old W)
//   g[a][b] = wm·Σ_i δ_up[i][a]·z[i][b]    (z: the layer's input, held in registers)
//   v ← βv − ηg,  W ← W + v                (lane b = 0 also updates the bias, g = bm·Σ_i δ_up[i][a])
// and finally δ[i][b] = φ'[i][b]·wm·δ_b, the δ of the layer below.
// The workgroup (WG lanes along b) shares its member and point tile; lane s of each
// group of 8 loads δ_up of point p0 + s (and p0 + 8 + s) and subgroupBroadcast hands it
// to every lane, so W and v are the only per-lane traffic, each read and written once
// per step. The update needs every point in one tile (N ≤ TP); with flags bit 2
// (FLAG_NO_UPDATE) the kernel only propagates δ, over as many point tiles as N needs
// (the NTK, and training when N > TP, whose update then runs in `hidden_grad_update`).
// Needs subgroups of at least 8 lanes (the engine falls back to `hidden_backward`).
// TP (8 or 16) is a pipeline constant; the tile is unrolled into named registers
// (see dense_forward). Ragged tiles: lanes past the width and points past N are
// clamped, their δ_up is zero and their stores are skipped.
// CPU twin: reference::nn::backward, gradient and momentum_step.
#import nn_common

override TP: u32 = 16u;

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> vel: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> up: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> z_in: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> dphi: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> delta: array<vec4<f32>>;

var<private> row0: u32;
var<private> p0: u32;
var<private> n4: u32;
var<private> u4: u32;
var<private> b4: u32;
var<private> lane: u32;

fn step(p: u32, w: vec4<f32>, g: vec4<f32>) {
    let v = uni.momentum * vel[p] - uni.lr * g;
    vel[p] = v;
    params[p] = w + v;
}

// The layer's input at point r of the tile (clamped).
fn zrow(r: u32) -> vec4<f32> {
    return z_in[(row0 + min(p0 + r, uni.n_points - 1u)) * n4 + b4];
}

// δ_up[r][4·a4 ..] at a uniform address; zero past N and past the tile.
fn drow(r: u32, a4: u32) -> vec4<f32> {
    let p = p0 + r;
    let d = up[(row0 + min(p, uni.n_points - 1u)) * u4 + a4];
    return select(vec4<f32>(0.0), d, p < uni.n_points && r < TP);
}

fn emit(r: u32, acc: vec4<f32>) {
    if p0 + r < uni.n_points && lane < n4 {
        let o = (row0 + p0 + r) * n4 + b4;
        delta[o] = dphi[o] * uni.wm * acc;
    }
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(subgroup_invocation_id) sg: u32,
) {
    uni = net;
    let np = uni.n_points;
    n4 = uni.n_in / 4u;     // this layer's inputs (the neurons below) / 4
    u4 = uni.n_out / 4u;    // its outputs (the neurons above) / 4
    let tiles = (np + TP - 1u) / TP;
    let flat = grid_row(wid, groups);
    if flat >= uni.members * tiles {
        return;
    }
    let m = flat / tiles;
    p0 = (flat % tiles) * TP;
    row0 = m * np;
    lane = wid.x * WG + lid.x;
    b4 = min(lane, n4 - 1u);
    let update = (uni.flags & 4u) == 0u;
    let sl = sg % 8u;
    let base4 = (uni.member_offset + m) * uni.params_per_member / 4u;
    let w = base4 + uni.w_off / 4u + b4;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    var acc8 = vec4<f32>(0.0);
    var acc9 = vec4<f32>(0.0);
    var acc10 = vec4<f32>(0.0);
    var acc11 = vec4<f32>(0.0);
    var acc12 = vec4<f32>(0.0);
    var acc13 = vec4<f32>(0.0);
    var acc14 = vec4<f32>(0.0);
    var acc15 = vec4<f32>(0.0);
    var z0 = vec4<f32>(0.0);
    var z1 = vec4<f32>(0.0);
    var z2 = vec4<f32>(0.0);
    var z3 = vec4<f32>(0.0);
    var z4 = vec4<f32>(0.0);
    var z5 = vec4<f32>(0.0);
    var z6 = vec4<f32>(0.0);
    var z7 = vec4<f32>(0.0);
    var z8 = vec4<f32>(0.0);
    var z9 = vec4<f32>(0.0);
    var z10 = vec4<f32>(0.0);
    var z11 = vec4<f32>(0.0);
    var z12 = vec4<f32>(0.0);
    var z13 = vec4<f32>(0.0);
    var z14 = vec4<f32>(0.0);
    var z15 = vec4<f32>(0.0);
    if update {
        z0 = zrow(0u);
        z1 = zrow(1u);
        z2 = zrow(2u);
        z3 = zrow(3u);
        z4 = zrow(4u);
        z5 = zrow(5u);
        z6 = zrow(6u);
        z7 = zrow(7u);
        if TP > 8u {
            z8 = zrow(8u);
            z9 = zrow(9u);
            z10 = zrow(10u);
            z11 = zrow(11u);
            z12 = zrow(12u);
            z13 = zrow(13u);
            z14 = zrow(14u);
            z15 = zrow(15u);
        }
    }
    for (var a4 = 0u; a4 < u4; a4 = a4 + 1u) {
        let da = drow(sl, a4);
        let d0 = subgroupBroadcast(da, 0u);
        let d1 = subgroupBroadcast(da, 1u);
        let d2 = subgroupBroadcast(da, 2u);
        let d3 = subgroupBroadcast(da, 3u);
        let d4 = subgroupBroadcast(da, 4u);
        let d5 = subgroupBroadcast(da, 5u);
        let d6 = subgroupBroadcast(da, 6u);
        let d7 = subgroupBroadcast(da, 7u);
        var db = vec4<f32>(0.0);
        if TP > 8u {
            db = drow(8u + sl, a4);
        }
        let d8 = subgroupBroadcast(db, 0u);
        let d9 = subgroupBroadcast(db, 1u);
        let d10 = subgroupBroadcast(db, 2u);
        let d11 = subgroupBroadcast(db, 3u);
        let d12 = subgroupBroadcast(db, 4u);
        let d13 = subgroupBroadcast(db, 5u);
        let d14 = subgroupBroadcast(db, 6u);
        let d15 = subgroupBroadcast(db, 7u);
        let gb = d0 + d1 + d2 + d3 + d4 + d5 + d6 + d7 + d8 + d9 + d10 + d11 + d12 + d13 + d14 + d15;
        let wi = w + 4u * a4 * n4;
        let wv0 = params[wi + 0u * n4];
        let wv1 = params[wi + 1u * n4];
        let wv2 = params[wi + 2u * n4];
        let wv3 = params[wi + 3u * n4];
        var g0 = vec4<f32>(0.0);
        var g1 = vec4<f32>(0.0);
        var g2 = vec4<f32>(0.0);
        var g3 = vec4<f32>(0.0);
        acc0 = acc0 + d0.x * wv0 + d0.y * wv1 + d0.z * wv2 + d0.w * wv3;
        g0 = g0 + d0.x * z0;
        g1 = g1 + d0.y * z0;
        g2 = g2 + d0.z * z0;
        g3 = g3 + d0.w * z0;
        acc1 = acc1 + d1.x * wv0 + d1.y * wv1 + d1.z * wv2 + d1.w * wv3;
        g0 = g0 + d1.x * z1;
        g1 = g1 + d1.y * z1;
        g2 = g2 + d1.z * z1;
        g3 = g3 + d1.w * z1;
        acc2 = acc2 + d2.x * wv0 + d2.y * wv1 + d2.z * wv2 + d2.w * wv3;
        g0 = g0 + d2.x * z2;
        g1 = g1 + d2.y * z2;
        g2 = g2 + d2.z * z2;
        g3 = g3 + d2.w * z2;
        acc3 = acc3 + d3.x * wv0 + d3.y * wv1 + d3.z * wv2 + d3.w * wv3;
        g0 = g0 + d3.x * z3;
        g1 = g1 + d3.y * z3;
        g2 = g2 + d3.z * z3;
        g3 = g3 + d3.w * z3;
        acc4 = acc4 + d4.x * wv0 + d4.y * wv1 + d4.z * wv2 + d4.w * wv3;
        g0 = g0 + d4.x * z4;
        g1 = g1 + d4.y * z4;
        g2 = g2 + d4.z * z4;
        g3 = g3 + d4.w * z4;
        acc5 = acc5 + d5.x * wv0 + d5.y * wv1 + d5.z * wv2 + d5.w * wv3;
        g0 = g0 + d5.x * z5;
        g1 = g1 + d5.y * z5;
        g2 = g2 + d5.z * z5;
        g3 = g3 + d5.w * z5;
        acc6 = acc6 + d6.x * wv0 + d6.y * wv1 + d6.z * wv2 + d6.w * wv3;
        g0 = g0 + d6.x * z6;
        g1 = g1 + d6.y * z6;
        g2 = g2 + d6.z * z6;
        g3 = g3 + d6.w * z6;
        acc7 = acc7 + d7.x * wv0 + d7.y * wv1 + d7.z * wv2 + d7.w * wv3;
        g0 = g0 + d7.x * z7;
        g1 = g1 + d7.y * z7;
        g2 = g2 + d7.z * z7;
        g3 = g3 + d7.w * z7;
        if TP > 8u {
            acc8 = acc8 + d8.x * wv0 + d8.y * wv1 + d8.z * wv2 + d8.w * wv3;
            g0 = g0 + d8.x * z8;
            g1 = g1 + d8.y * z8;
            g2 = g2 + d8.z * z8;
            g3 = g3 + d8.w * z8;
            acc9 = acc9 + d9.x * wv0 + d9.y * wv1 + d9.z * wv2 + d9.w * wv3;
            g0 = g0 + d9.x * z9;
            g1 = g1 + d9.y * z9;
            g2 = g2 + d9.z * z9;
            g3 = g3 + d9.w * z9;
            acc10 = acc10 + d10.x * wv0 + d10.y * wv1 + d10.z * wv2 + d10.w * wv3;
            g0 = g0 + d10.x * z10;
            g1 = g1 + d10.y * z10;
            g2 = g2 + d10.z * z10;
            g3 = g3 + d10.w * z10;
            acc11 = acc11 + d11.x * wv0 + d11.y * wv1 + d11.z * wv2 + d11.w * wv3;
            g0 = g0 + d11.x * z11;
            g1 = g1 + d11.y * z11;
            g2 = g2 + d11.z * z11;
            g3 = g3 + d11.w * z11;
            acc12 = acc12 + d12.x * wv0 + d12.y * wv1 + d12.z * wv2 + d12.w * wv3;
            g0 = g0 + d12.x * z12;
            g1 = g1 + d12.y * z12;
            g2 = g2 + d12.z * z12;
            g3 = g3 + d12.w * z12;
            acc13 = acc13 + d13.x * wv0 + d13.y * wv1 + d13.z * wv2 + d13.w * wv3;
            g0 = g0 + d13.x * z13;
            g1 = g1 + d13.y * z13;
            g2 = g2 + d13.z * z13;
            g3 = g3 + d13.w * z13;
            acc14 = acc14 + d14.x * wv0 + d14.y * wv1 + d14.z * wv2 + d14.w * wv3;
            g0 = g0 + d14.x * z14;
            g1 = g1 + d14.y * z14;
            g2 = g2 + d14.z * z14;
            g3 = g3 + d14.w * z14;
            acc15 = acc15 + d15.x * wv0 + d15.y * wv1 + d15.z * wv2 + d15.w * wv3;
            g0 = g0 + d15.x * z15;
            g1 = g1 + d15.y * z15;
            g2 = g2 + d15.z * z15;
            g3 = g3 + d15.w * z15;
        }
        if update && lane < n4 {
            step(wi + 0u * n4, wv0, uni.wm * g0);
            step(wi + 1u * n4, wv1, uni.wm * g1);
            step(wi + 2u * n4, wv2, uni.wm * g2);
            step(wi + 3u * n4, wv3, uni.wm * g3);
        }
        if update && lane == 0u {
            let bi = base4 + uni.b_off / 4u + a4;
            step(bi, params[bi], uni.bm * gb);
        }
    }
    emit(0u, acc0);
    emit(1u, acc1);
    emit(2u, acc2);
    emit(3u, acc3);
    emit(4u, acc4);
    emit(5u, acc5);
    emit(6u, acc6);
    emit(7u, acc7);
    if TP > 8u {
        emit(8u, acc8);
        emit(9u, acc9);
        emit(10u, acc10);
        emit(11u, acc11);
        emit(12u, acc12);
        emit(13u, acc13);
        emit(14u, acc14);
        emit(15u, acc15);
    }
}
