// Hidden-to-hidden layer forward on the packed CPU path: `dense_forward` with W and
// the layer's input z moved 8 floats at a time, bound as vec4<u64> (two f32 per u64,
// bit for bit), because CPU drivers move storage data in a per-lane, per-component
// loop, so the 32-byte component halves the iterations per float. W is stored
// column-blocked (nn::layout::Blocked): this lane's 4 rows of a block of 64 columns
// lie rs packed elements apart. One invocation per (member, tile of TP points, 4
// neurons); per 8 columns, lane s of each group of 8 loads the z octet of point
// p0 + s (and p0 + 8 + s) and subgroupBroadcast hands it to every lane.
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
var<private> a4: u32;
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

fn emit(r: u32, acc: vec4<f32>, b: vec4<f32>) {
    if p0 + r < npts && lane < o4 {
        var d: vec4<f32>;
        let z = act_and_deriv4(uni.wm * acc + uni.bm * b, &d);
        let o = (z0 + p0 + r) * o4 + a4;
        z_out[o] = z;
        dphi[o] = d;
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
    let flat = wid.y + wid.z * groups.y;
    if flat >= uni.members * tiles {
        return;
    }
    let m = flat / tiles;
    p0 = (flat % tiles) * TP;
    z0 = m * np;
    lane = wid.x * WG + lid.x;
    a4 = min(lane, o4 - 1u);
    let sl = sg % 8u;
    let base8 = (uni.member_offset + m) * uni.params_per_member / 8u;
    let wb = base8 + uni.w_off / 8u;
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
    for (var c8 = 0u; c8 < k8; c8 = c8 + 8u) {
        let rs = min(8u, k8 - c8);
        let wc = wb + c8 * uni.n_out + 4u * a4 * rs;
        for (var j = 0u; j < rs; j = j + 1u) {
            let w0 = params[wc + j];
            let w1 = params[wc + rs + j];
            let w2 = params[wc + 2u * rs + j];
            let w3 = params[wc + 3u * rs + j];
            let w = array<vec4<f32>, 8>(lo(w0), hi(w0), lo(w1), hi(w1), lo(w2), hi(w2), lo(w3), hi(w3));
            let za = zrow(sl, c8 + j);
            let zal = lo(za);
            let zah = hi(za);
            acc0 = mac8(acc0, subgroupBroadcast(zal, 0u), subgroupBroadcast(zah, 0u), w);
            acc1 = mac8(acc1, subgroupBroadcast(zal, 1u), subgroupBroadcast(zah, 1u), w);
            acc2 = mac8(acc2, subgroupBroadcast(zal, 2u), subgroupBroadcast(zah, 2u), w);
            acc3 = mac8(acc3, subgroupBroadcast(zal, 3u), subgroupBroadcast(zah, 3u), w);
            acc4 = mac8(acc4, subgroupBroadcast(zal, 4u), subgroupBroadcast(zah, 4u), w);
            acc5 = mac8(acc5, subgroupBroadcast(zal, 5u), subgroupBroadcast(zah, 5u), w);
            acc6 = mac8(acc6, subgroupBroadcast(zal, 6u), subgroupBroadcast(zah, 6u), w);
            acc7 = mac8(acc7, subgroupBroadcast(zal, 7u), subgroupBroadcast(zah, 7u), w);
            if TP > 8u {
                let zb = zrow(8u + sl, c8 + j);
                let zbl = lo(zb);
                let zbh = hi(zb);
                acc8 = mac8(acc8, subgroupBroadcast(zbl, 0u), subgroupBroadcast(zbh, 0u), w);
                acc9 = mac8(acc9, subgroupBroadcast(zbl, 1u), subgroupBroadcast(zbh, 1u), w);
                acc10 = mac8(acc10, subgroupBroadcast(zbl, 2u), subgroupBroadcast(zbh, 2u), w);
                acc11 = mac8(acc11, subgroupBroadcast(zbl, 3u), subgroupBroadcast(zbh, 3u), w);
                acc12 = mac8(acc12, subgroupBroadcast(zbl, 4u), subgroupBroadcast(zbh, 4u), w);
                acc13 = mac8(acc13, subgroupBroadcast(zbl, 5u), subgroupBroadcast(zbh, 5u), w);
                acc14 = mac8(acc14, subgroupBroadcast(zbl, 6u), subgroupBroadcast(zbh, 6u), w);
                acc15 = mac8(acc15, subgroupBroadcast(zbl, 7u), subgroupBroadcast(zbh, 7u), w);
            }
        }
    }
    // The 4 biases of rows 4·a4.. are one half of a packed element.
    let bp = params[base8 + uni.b_off / 8u + a4 / 2u];
    let b = select(lo(bp), hi(bp), a4 % 2u == 1u);
    emit(0u, acc0, b);
    emit(1u, acc1, b);
    emit(2u, acc2, b);
    emit(3u, acc3, b);
    emit(4u, acc4, b);
    emit(5u, acc5, b);
    emit(6u, acc6, b);
    emit(7u, acc7, b);
    if TP > 8u {
        emit(8u, acc8, b);
        emit(9u, acc9, b);
        emit(10u, acc10, b);
        emit(11u, acc11, b);
        emit(12u, acc12, b);
        emit(13u, acc13, b);
        emit(14u, acc14, b);
        emit(15u, acc15, b);
    }
}
