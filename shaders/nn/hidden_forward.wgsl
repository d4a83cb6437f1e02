// Hidden-to-hidden layer forward (fan-in and width multiples of 4), one invocation
// per (member, 4 points, 4 neurons): h = wm·W·z + bm·b, then z = φ(h) and φ'(h).
// Rows of z and W are read as vec4 along the fan-in, so each step does 8 vector
// loads for 64 multiply-adds (software rasterisers issue loads lane by lane).
// CPU twin: reference::nn::forward (same result as `layer_forward`).
#import nn_common
#import activation

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> z_in: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> z_out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dphi: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    uni = net;
    let gid = flat_id(id, groups);
    let np = uni.n_points;
    let k4 = uni.n_in / 4u;
    let o4 = uni.n_out / 4u;
    let pt = (np + 3u) / 4u;
    if gid >= uni.members * pt * o4 {
        return;
    }
    let a4 = gid % o4;
    let t = (gid / o4) % pt;
    let m = gid / (o4 * pt);
    let base4 = (uni.member_offset + m) * uni.params_per_member / 4u;
    let w4 = base4 + uni.w_off / 4u + 4u * a4 * k4;
    var rows: array<u32, 4>;
    for (var r = 0u; r < 4u; r = r + 1u) {
        rows[r] = (m * np + min(4u * t + r, np - 1u)) * k4;
    }
    var acc = array<vec4<f32>, 4>();
    for (var kb = 0u; kb < k4; kb = kb + 1u) {
        let w0 = params[w4 + kb];
        let w1 = params[w4 + k4 + kb];
        let w2 = params[w4 + 2u * k4 + kb];
        let w3 = params[w4 + 3u * k4 + kb];
        for (var r = 0u; r < 4u; r = r + 1u) {
            let z = z_in[rows[r] + kb];
            acc[r] = acc[r] + vec4<f32>(dot(z, w0), dot(z, w1), dot(z, w2), dot(z, w3));
        }
    }
    let b = params[base4 + uni.b_off / 4u + a4];
    for (var r = 0u; r < 4u; r = r + 1u) {
        if 4u * t + r < np {
            var d: vec4<f32>;
            let z = act_and_deriv4(uni.wm * acc[r] + uni.bm * b, &d);
            let o = (m * np + 4u * t + r) * o4 + a4;
            z_out[o] = z;
            dphi[o] = d;
        }
    }
}
