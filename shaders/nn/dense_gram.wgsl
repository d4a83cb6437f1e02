// Empirical NTK contribution of one layer, register-tiled with subgroup broadcasts:
// one invocation per (member, tile of TP points i, point j):
//   Θ_m[i][j] += wm²·(D_i·D_j)(z_i·z_j) + bm²·(D_i·D_j),
// with D = ∂f/∂h of the layer's outputs and z its inputs. The workgroup (lanes along
// j) shares its member and i tile; lane s of each group of 8 loads row i0 + s (and
// i0 + 8 + s) and subgroupBroadcast hands it to every lane, so each lane loads its own
// rows D_j, z_j and a TP/8 share of the tile's. flags bit 0 marks the output layer,
// whose D is 1. With flags bit 1 every member accumulates into its own slot
// member_base + m (the buffer holds E per-member NTKs); without it member m of every
// sub-chunk accumulates into slot m, so the buffer holds one N×N sum per sub-chunk
// position (summed on the host; used when E·N² floats exceed one binding). Dot
// products run over vec4s (the layer widths are multiples of 4; an input that is not,
// the data set x, is read as scalars). Needs subgroups of at least 8 lanes (the engine
// falls back to `ntk_gram`). TP (8 or 16) is a pipeline constant; the tile is unrolled
// into named registers. Ragged tiles: rows past N are clamped, their stores skipped.
// CPU twin: reference::nn::ntk (computed independently as J·Jᵀ).
#import nn_common

override TP: u32 = 16u;

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> dmat: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> z4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> z1: array<f32>;
@group(0) @binding(4) var<storage, read_write> ntk: array<f32>;

var<private> row0: u32;
var<private> i0: u32;
var<private> zi0: u32;
var<private> lane: u32;
var<private> slot: u32;

fn row(r: u32) -> u32 {
    return min(i0 + r, uni.n_points - 1u);
}

fn drow(r: u32, k: u32) -> vec4<f32> {
    return dmat[(row0 + row(r)) * (uni.n_out / 4u) + k];
}

fn zrow4(r: u32, k: u32) -> vec4<f32> {
    return z4[(zi0 + row(r) * uni.n_in) / 4u + k];
}

fn zrow1(r: u32, k: u32) -> f32 {
    return z1[zi0 + row(r) * uni.n_in + k];
}

fn emit(r: u32, dd: f32, zz: f32) {
    let np = uni.n_points;
    if i0 + r < np && lane < np {
        let o = (slot * np + i0 + r) * np + lane;
        ntk[o] = ntk[o] + dd * (uni.wm * uni.wm * zz + uni.bm * uni.bm);
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
    let tiles = (np + TP - 1u) / TP;
    let flat = grid_row(wid, groups);
    if flat >= uni.members * tiles {
        return;
    }
    let m = flat / tiles;
    i0 = (flat % tiles) * TP;
    row0 = m * np;
    lane = wid.x * WG + lid.x;
    let j = min(lane, np - 1u);
    let sl = sg % 8u;
    slot = m;
    if (uni.flags & 2u) != 0u {
        slot = uni.member_base + m;
    }
    var dd0 = 1.0;
    var zz0 = 0.0;
    var dd1 = 1.0;
    var zz1 = 0.0;
    var dd2 = 1.0;
    var zz2 = 0.0;
    var dd3 = 1.0;
    var zz3 = 0.0;
    var dd4 = 1.0;
    var zz4 = 0.0;
    var dd5 = 1.0;
    var zz5 = 0.0;
    var dd6 = 1.0;
    var zz6 = 0.0;
    var dd7 = 1.0;
    var zz7 = 0.0;
    var dd8 = 1.0;
    var zz8 = 0.0;
    var dd9 = 1.0;
    var zz9 = 0.0;
    var dd10 = 1.0;
    var zz10 = 0.0;
    var dd11 = 1.0;
    var zz11 = 0.0;
    var dd12 = 1.0;
    var zz12 = 0.0;
    var dd13 = 1.0;
    var zz13 = 0.0;
    var dd14 = 1.0;
    var zz14 = 0.0;
    var dd15 = 1.0;
    var zz15 = 0.0;
    if (uni.flags & 1u) == 0u {
        dd0 = 0.0;
        dd1 = 0.0;
        dd2 = 0.0;
        dd3 = 0.0;
        dd4 = 0.0;
        dd5 = 0.0;
        dd6 = 0.0;
        dd7 = 0.0;
        dd8 = 0.0;
        dd9 = 0.0;
        dd10 = 0.0;
        dd11 = 0.0;
        dd12 = 0.0;
        dd13 = 0.0;
        dd14 = 0.0;
        dd15 = 0.0;
        let o4 = uni.n_out / 4u;
        for (var k = 0u; k < o4; k = k + 1u) {
            let bj = dmat[(row0 + j) * o4 + k];
            let ia = drow(sl, k);
            dd0 = dd0 + dot(subgroupBroadcast(ia, 0u), bj);
            dd1 = dd1 + dot(subgroupBroadcast(ia, 1u), bj);
            dd2 = dd2 + dot(subgroupBroadcast(ia, 2u), bj);
            dd3 = dd3 + dot(subgroupBroadcast(ia, 3u), bj);
            dd4 = dd4 + dot(subgroupBroadcast(ia, 4u), bj);
            dd5 = dd5 + dot(subgroupBroadcast(ia, 5u), bj);
            dd6 = dd6 + dot(subgroupBroadcast(ia, 6u), bj);
            dd7 = dd7 + dot(subgroupBroadcast(ia, 7u), bj);
            if TP > 8u {
                let ib = drow(8u + sl, k);
                dd8 = dd8 + dot(subgroupBroadcast(ib, 0u), bj);
                dd9 = dd9 + dot(subgroupBroadcast(ib, 1u), bj);
                dd10 = dd10 + dot(subgroupBroadcast(ib, 2u), bj);
                dd11 = dd11 + dot(subgroupBroadcast(ib, 3u), bj);
                dd12 = dd12 + dot(subgroupBroadcast(ib, 4u), bj);
                dd13 = dd13 + dot(subgroupBroadcast(ib, 5u), bj);
                dd14 = dd14 + dot(subgroupBroadcast(ib, 6u), bj);
                dd15 = dd15 + dot(subgroupBroadcast(ib, 7u), bj);
            }
        }
    }
    // The data set x is shared by all members (stride 0); activations are per member.
    zi0 = m * uni.in_member_stride;
    let n_in = uni.n_in;
    if n_in % 4u == 0u {
        for (var k = 0u; k < n_in / 4u; k = k + 1u) {
            let bj = z4[(zi0 + j * n_in) / 4u + k];
            let ia = zrow4(sl, k);
            zz0 = zz0 + dot(subgroupBroadcast(ia, 0u), bj);
            zz1 = zz1 + dot(subgroupBroadcast(ia, 1u), bj);
            zz2 = zz2 + dot(subgroupBroadcast(ia, 2u), bj);
            zz3 = zz3 + dot(subgroupBroadcast(ia, 3u), bj);
            zz4 = zz4 + dot(subgroupBroadcast(ia, 4u), bj);
            zz5 = zz5 + dot(subgroupBroadcast(ia, 5u), bj);
            zz6 = zz6 + dot(subgroupBroadcast(ia, 6u), bj);
            zz7 = zz7 + dot(subgroupBroadcast(ia, 7u), bj);
            if TP > 8u {
                let ib = zrow4(8u + sl, k);
                zz8 = zz8 + dot(subgroupBroadcast(ib, 0u), bj);
                zz9 = zz9 + dot(subgroupBroadcast(ib, 1u), bj);
                zz10 = zz10 + dot(subgroupBroadcast(ib, 2u), bj);
                zz11 = zz11 + dot(subgroupBroadcast(ib, 3u), bj);
                zz12 = zz12 + dot(subgroupBroadcast(ib, 4u), bj);
                zz13 = zz13 + dot(subgroupBroadcast(ib, 5u), bj);
                zz14 = zz14 + dot(subgroupBroadcast(ib, 6u), bj);
                zz15 = zz15 + dot(subgroupBroadcast(ib, 7u), bj);
            }
        }
    } else {
        for (var k = 0u; k < n_in; k = k + 1u) {
            let bj = z1[zi0 + j * n_in + k];
            let ia = zrow1(sl, k);
            zz0 = zz0 + subgroupBroadcast(ia, 0u) * bj;
            zz1 = zz1 + subgroupBroadcast(ia, 1u) * bj;
            zz2 = zz2 + subgroupBroadcast(ia, 2u) * bj;
            zz3 = zz3 + subgroupBroadcast(ia, 3u) * bj;
            zz4 = zz4 + subgroupBroadcast(ia, 4u) * bj;
            zz5 = zz5 + subgroupBroadcast(ia, 5u) * bj;
            zz6 = zz6 + subgroupBroadcast(ia, 6u) * bj;
            zz7 = zz7 + subgroupBroadcast(ia, 7u) * bj;
            if TP > 8u {
                let ib = zrow1(8u + sl, k);
                zz8 = zz8 + subgroupBroadcast(ib, 0u) * bj;
                zz9 = zz9 + subgroupBroadcast(ib, 1u) * bj;
                zz10 = zz10 + subgroupBroadcast(ib, 2u) * bj;
                zz11 = zz11 + subgroupBroadcast(ib, 3u) * bj;
                zz12 = zz12 + subgroupBroadcast(ib, 4u) * bj;
                zz13 = zz13 + subgroupBroadcast(ib, 5u) * bj;
                zz14 = zz14 + subgroupBroadcast(ib, 6u) * bj;
                zz15 = zz15 + subgroupBroadcast(ib, 7u) * bj;
            }
        }
    }
    emit(0u, dd0, zz0);
    emit(1u, dd1, zz1);
    emit(2u, dd2, zz2);
    emit(3u, dd3, zz3);
    emit(4u, dd4, zz4);
    emit(5u, dd5, zz5);
    emit(6u, dd6, zz6);
    emit(7u, dd7, zz7);
    if TP > 8u {
        emit(8u, dd8, zz8);
        emit(9u, dd9, zz9);
        emit(10u, dd10, zz10);
        emit(11u, dd11, zz11);
        emit(12u, dd12, zz12);
        emit(13u, dd13, zz13);
        emit(14u, dd14, zz14);
        emit(15u, dd15, zz15);
    }
}
