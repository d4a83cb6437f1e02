// Hidden-to-hidden layer forward (fan-in and width multiples of 4), register-tiled
// with subgroup broadcasts: one invocation per (member, tile of TP points, 4 neurons):
//   h = wm·W·z + bm·b, then z = φ(h) and φ'(h).
// The workgroup (WG invocations along the neurons) shares its member and point tile.
// Per step along the fan-in, lane s of each group of 8 loads the z row of point
// p0 + s (and p0 + 8 + s) and subgroupBroadcast hands it to every lane, so each lane
// issues 4 W loads + TP/8 z loads (vec4) for 16·TP multiply-adds: software rasterisers
// run every load lane by lane, so loads, not multiply-adds, bound these kernels.
// Needs subgroups of at least 8 lanes (the engine falls back to `hidden_forward`).
// TP (8 or 16) is a pipeline constant chosen per adapter (engine::Tiles); the tile is
// unrolled into named registers, since an indexed private array would be memory.
// Ragged tiles: lanes past the width and points past N are clamped, their stores
// skipped. CPU twin: reference::nn::forward (same result as `layer_forward`).
#import nn_common
#import activation

override TP: u32 = 16u;

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> z_in: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> z_out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dphi: array<vec4<f32>>;

var<private> z0: u32;
var<private> p0: u32;
var<private> k4: u32;
var<private> o4: u32;
var<private> a4: u32;
var<private> lane: u32;
var<private> npts: u32;

fn zrow(r: u32, kb: u32) -> vec4<f32> {
    return z_in[(z0 + min(p0 + r, npts - 1u)) * k4 + kb];
}

fn mac4(acc: vec4<f32>, z: vec4<f32>, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>) -> vec4<f32> {
    return acc + vec4<f32>(dot(z, w0), dot(z, w1), dot(z, w2), dot(z, w3));
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
    k4 = uni.n_in / 4u;
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
    a4 = min(lane, o4 - 1u);
    let sl = sg % 8u;
    let base4 = (uni.member_offset + m) * uni.params_per_member / 4u;
    let w4 = base4 + uni.w_off / 4u + 4u * a4 * k4;
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
    for (var kb = 0u; kb < k4; kb = kb + 1u) {
        let w0 = params[w4 + kb];
        let w1 = params[w4 + k4 + kb];
        let w2 = params[w4 + 2u * k4 + kb];
        let w3 = params[w4 + 3u * k4 + kb];
        let za = zrow(sl, kb);
        acc0 = mac4(acc0, subgroupBroadcast(za, 0u), w0, w1, w2, w3);
        acc1 = mac4(acc1, subgroupBroadcast(za, 1u), w0, w1, w2, w3);
        acc2 = mac4(acc2, subgroupBroadcast(za, 2u), w0, w1, w2, w3);
        acc3 = mac4(acc3, subgroupBroadcast(za, 3u), w0, w1, w2, w3);
        acc4 = mac4(acc4, subgroupBroadcast(za, 4u), w0, w1, w2, w3);
        acc5 = mac4(acc5, subgroupBroadcast(za, 5u), w0, w1, w2, w3);
        acc6 = mac4(acc6, subgroupBroadcast(za, 6u), w0, w1, w2, w3);
        acc7 = mac4(acc7, subgroupBroadcast(za, 7u), w0, w1, w2, w3);
        if TP > 8u {
            let zb = zrow(8u + sl, kb);
            acc8 = mac4(acc8, subgroupBroadcast(zb, 0u), w0, w1, w2, w3);
            acc9 = mac4(acc9, subgroupBroadcast(zb, 1u), w0, w1, w2, w3);
            acc10 = mac4(acc10, subgroupBroadcast(zb, 2u), w0, w1, w2, w3);
            acc11 = mac4(acc11, subgroupBroadcast(zb, 3u), w0, w1, w2, w3);
            acc12 = mac4(acc12, subgroupBroadcast(zb, 4u), w0, w1, w2, w3);
            acc13 = mac4(acc13, subgroupBroadcast(zb, 5u), w0, w1, w2, w3);
            acc14 = mac4(acc14, subgroupBroadcast(zb, 6u), w0, w1, w2, w3);
            acc15 = mac4(acc15, subgroupBroadcast(zb, 7u), w0, w1, w2, w3);
        }
    }
    let b = params[base4 + uni.b_off / 4u + a4];
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
