// Hidden-to-hidden layer forward on the packed CPU path: `dense_forward` with W and
// the layer's input z moved 8 floats at a time, bound as vec4<u64> (two f32 per u64,
// bit for bit), because CPU drivers move storage data in a per-lane, per-component
// loop, so the 32-byte component halves the iterations per float. W is stored
// column-blocked (nn::layout::Blocked): this lane's 8 rows of a block of 64 columns
// lie rs packed elements apart. One invocation per (member, tile of TP points, 8
// neurons); per 8 columns, lane s of each group of 8 loads the z octet of point
// p0 + s (and p0 + 8 + s) and subgroupBroadcast hands it to every lane (8 rows per
// lane: each z load serves 64 weights).
// Needs SHADER_INT64 and widths that are multiples of 8 (engine::Tiles::packed).
// CPU twin: reference::nn::forward (same result as `dense_forward`).
#import nn_common
#import packed
#import activation

override TP: u32 = 16u;

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> params: array<vec4<u64>>;
@group(0) @binding(2) var<storage, read> z_in: array<vec4<u64>>;
@group(0) @binding(3) var<storage, read_write> z_out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dphi: array<vec4<f32>>;

var<private> z0: u32;
var<private> p0: u32;
var<private> k8: u32;
var<private> o4: u32;
var<private> a8: u32;
var<private> lane: u32;
var<private> npts: u32;

// The input octet j of point p0 + r (clamped).
fn zrow(r: u32, j: u32) -> vec4<u64> {
    return z_in[(z0 + min(p0 + r, npts - 1u)) * k8 + j];
}

// acc + W·z over 8 columns for 4 rows, W as (lo, hi) halves per row.
fn mac8(acc: vec4<f32>, zl: vec4<f32>, zh: vec4<f32>, w: array<vec4<f32>, 8>) -> vec4<f32> {
    return acc + vec4<f32>(
        dot(zl, w[0]) + dot(zh, w[1]),
        dot(zl, w[2]) + dot(zh, w[3]),
        dot(zl, w[4]) + dot(zh, w[5]),
        dot(zl, w[6]) + dot(zh, w[7]),
    );
}

// Rows 8·a8.. at point p0 + r: acc (rows 0..4) and acc_h (rows 4..8) with their biases.
fn emit(r: u32, acc: vec4<f32>, acc_h: vec4<f32>, b: vec4<f32>, b_h: vec4<f32>) {
    if p0 + r < npts && lane < o4 / 2u {
        var d: vec4<f32>;
        let o = (z0 + p0 + r) * o4 + 2u * a8;
        z_out[o] = act_and_deriv4(uni.wm * acc + uni.bm * b, &d);
        dphi[o] = d;
        z_out[o + 1u] = act_and_deriv4(uni.wm * acc_h + uni.bm * b_h, &d);
        dphi[o + 1u] = d;
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
    npts = uni.n_points;
    let np = npts;
    k8 = uni.n_in / 8u;
    o4 = uni.n_out / 4u;
    let tiles = (np + TP - 1u) / TP;
    let flat = grid_row(wid, groups);
    if flat >= uni.members * tiles {
        return;
    }
    let m = flat / tiles;
    p0 = (flat % tiles) * TP;
    z0 = m * np;
    lane = wid.x * WG + lid.x;
    a8 = min(lane, o4 / 2u - 1u);
    let sl = sg % 8u;
    let base8 = (uni.member_offset + m) * uni.params_per_member / 8u;
    let wb = base8 + uni.w_off / 8u;
    var acc0 = vec4<f32>(0.0);
    var acc0h = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc1h = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc2h = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc3h = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc4h = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc5h = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc6h = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    var acc7h = vec4<f32>(0.0);
    var acc8 = vec4<f32>(0.0);
    var acc8h = vec4<f32>(0.0);
    var acc9 = vec4<f32>(0.0);
    var acc9h = vec4<f32>(0.0);
    var acc10 = vec4<f32>(0.0);
    var acc10h = vec4<f32>(0.0);
    var acc11 = vec4<f32>(0.0);
    var acc11h = vec4<f32>(0.0);
    var acc12 = vec4<f32>(0.0);
    var acc12h = vec4<f32>(0.0);
    var acc13 = vec4<f32>(0.0);
    var acc13h = vec4<f32>(0.0);
    var acc14 = vec4<f32>(0.0);
    var acc14h = vec4<f32>(0.0);
    var acc15 = vec4<f32>(0.0);
    var acc15h = vec4<f32>(0.0);
    for (var c8 = 0u; c8 < k8; c8 = c8 + 8u) {
        let rs = min(8u, k8 - c8);
        let wc = wb + c8 * uni.n_out + 8u * a8 * rs;
        for (var j = 0u; j < rs; j = j + 1u) {
            let w0 = params[wc + j];
            let w1 = params[wc + rs + j];
            let w2 = params[wc + 2u * rs + j];
            let w3 = params[wc + 3u * rs + j];
            let w4 = params[wc + 4u * rs + j];
            let w5 = params[wc + 5u * rs + j];
            let w6 = params[wc + 6u * rs + j];
            let w7 = params[wc + 7u * rs + j];
            let w = array<vec4<f32>, 8>(lo(w0), hi(w0), lo(w1), hi(w1), lo(w2), hi(w2), lo(w3), hi(w3));
            let wh = array<vec4<f32>, 8>(lo(w4), hi(w4), lo(w5), hi(w5), lo(w6), hi(w6), lo(w7), hi(w7));
            let za = zrow(sl, c8 + j);
            let zal = lo(za);
            let zah = hi(za);
            let zl0 = subgroupBroadcast(zal, 0u);
            let zh0 = subgroupBroadcast(zah, 0u);
            acc0 = mac8(acc0, zl0, zh0, w);
            acc0h = mac8(acc0h, zl0, zh0, wh);
            let zl1 = subgroupBroadcast(zal, 1u);
            let zh1 = subgroupBroadcast(zah, 1u);
            acc1 = mac8(acc1, zl1, zh1, w);
            acc1h = mac8(acc1h, zl1, zh1, wh);
            let zl2 = subgroupBroadcast(zal, 2u);
            let zh2 = subgroupBroadcast(zah, 2u);
            acc2 = mac8(acc2, zl2, zh2, w);
            acc2h = mac8(acc2h, zl2, zh2, wh);
            let zl3 = subgroupBroadcast(zal, 3u);
            let zh3 = subgroupBroadcast(zah, 3u);
            acc3 = mac8(acc3, zl3, zh3, w);
            acc3h = mac8(acc3h, zl3, zh3, wh);
            let zl4 = subgroupBroadcast(zal, 4u);
            let zh4 = subgroupBroadcast(zah, 4u);
            acc4 = mac8(acc4, zl4, zh4, w);
            acc4h = mac8(acc4h, zl4, zh4, wh);
            let zl5 = subgroupBroadcast(zal, 5u);
            let zh5 = subgroupBroadcast(zah, 5u);
            acc5 = mac8(acc5, zl5, zh5, w);
            acc5h = mac8(acc5h, zl5, zh5, wh);
            let zl6 = subgroupBroadcast(zal, 6u);
            let zh6 = subgroupBroadcast(zah, 6u);
            acc6 = mac8(acc6, zl6, zh6, w);
            acc6h = mac8(acc6h, zl6, zh6, wh);
            let zl7 = subgroupBroadcast(zal, 7u);
            let zh7 = subgroupBroadcast(zah, 7u);
            acc7 = mac8(acc7, zl7, zh7, w);
            acc7h = mac8(acc7h, zl7, zh7, wh);
            if TP > 8u {
                let zb = zrow(8u + sl, c8 + j);
                let zbl = lo(zb);
                let zbh = hi(zb);
                let zl8 = subgroupBroadcast(zbl, 0u);
                let zh8 = subgroupBroadcast(zbh, 0u);
                acc8 = mac8(acc8, zl8, zh8, w);
                acc8h = mac8(acc8h, zl8, zh8, wh);
                let zl9 = subgroupBroadcast(zbl, 1u);
                let zh9 = subgroupBroadcast(zbh, 1u);
                acc9 = mac8(acc9, zl9, zh9, w);
                acc9h = mac8(acc9h, zl9, zh9, wh);
                let zl10 = subgroupBroadcast(zbl, 2u);
                let zh10 = subgroupBroadcast(zbh, 2u);
                acc10 = mac8(acc10, zl10, zh10, w);
                acc10h = mac8(acc10h, zl10, zh10, wh);
                let zl11 = subgroupBroadcast(zbl, 3u);
                let zh11 = subgroupBroadcast(zbh, 3u);
                acc11 = mac8(acc11, zl11, zh11, w);
                acc11h = mac8(acc11h, zl11, zh11, wh);
                let zl12 = subgroupBroadcast(zbl, 4u);
                let zh12 = subgroupBroadcast(zbh, 4u);
                acc12 = mac8(acc12, zl12, zh12, w);
                acc12h = mac8(acc12h, zl12, zh12, wh);
                let zl13 = subgroupBroadcast(zbl, 5u);
                let zh13 = subgroupBroadcast(zbh, 5u);
                acc13 = mac8(acc13, zl13, zh13, w);
                acc13h = mac8(acc13h, zl13, zh13, wh);
                let zl14 = subgroupBroadcast(zbl, 6u);
                let zh14 = subgroupBroadcast(zbh, 6u);
                acc14 = mac8(acc14, zl14, zh14, w);
                acc14h = mac8(acc14h, zl14, zh14, wh);
                let zl15 = subgroupBroadcast(zbl, 7u);
                let zh15 = subgroupBroadcast(zbh, 7u);
                acc15 = mac8(acc15, zl15, zh15, w);
                acc15h = mac8(acc15h, zl15, zh15, wh);
            }
        }
    }
    // The 8 biases of rows 8·a8.. are one packed element.
    let bp = params[base8 + uni.b_off / 8u + a8];
    let b = lo(bp);
    let bh = hi(bp);
    emit(0u, acc0, acc0h, b, bh);
    emit(1u, acc1, acc1h, b, bh);
    emit(2u, acc2, acc2h, b, bh);
    emit(3u, acc3, acc3h, b, bh);
    emit(4u, acc4, acc4h, b, bh);
    emit(5u, acc5, acc5h, b, bh);
    emit(6u, acc6, acc6h, b, bh);
    emit(7u, acc7, acc7h, b, bh);
    if TP > 8u {
        emit(8u, acc8, acc8h, b, bh);
        emit(9u, acc9, acc9h, b, bh);
        emit(10u, acc10, acc10h, b, bh);
        emit(11u, acc11, acc11h, b, bh);
        emit(12u, acc12, acc12h, b, bh);
        emit(13u, acc13, acc13h, b, bh);
        emit(14u, acc14, acc14h, b, bh);
        emit(15u, acc15, acc15h, b, bh);
    }
}
