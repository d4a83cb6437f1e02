// Backpropagation into a hidden layer from the hidden layer above (widths multiples
// of 4), one invocation per (member, 4 points, 4 neurons b):
//   δ_b = φ'_b · wm · Σ_a δ_up[a] · W_up[a][b].
// δ_up rows are read as vec4 along a and W_up rows as vec4 along b: 8 vector loads
// per 64 multiply-adds. CPU twin: reference::nn::backward (as `layer_backward`).
#import nn_common

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> up: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> dphi: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> delta: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    uni = net;
    let gid = flat_id(id, groups);
    let np = uni.n_points;
    let n4 = uni.n_in / 4u;     // this layer's neurons / 4
    let u4 = uni.n_out / 4u;    // the layer above / 4
    let pt = (np + 3u) / 4u;
    if gid >= uni.members * pt * n4 {
        return;
    }
    let b4 = gid % n4;
    let t = (gid / n4) % pt;
    let m = gid / (n4 * pt);
    let w = (uni.member_offset + m) * uni.params_per_member / 4u + uni.up_off / 4u + b4;
    var rows: array<u32, 4>;
    for (var r = 0u; r < 4u; r = r + 1u) {
        rows[r] = (m * np + min(4u * t + r, np - 1u)) * u4;
    }
    var acc = array<vec4<f32>, 4>();
    for (var ka = 0u; ka < u4; ka = ka + 1u) {
        let wa = w + 4u * ka * n4;
        let w0 = params[wa];
        let w1 = params[wa + n4];
        let w2 = params[wa + 2u * n4];
        let w3 = params[wa + 3u * n4];
        for (var r = 0u; r < 4u; r = r + 1u) {
            let d = up[rows[r] + ka];
            acc[r] = acc[r] + d.x * w0 + d.y * w1 + d.z * w2 + d.w * w3;
        }
    }
    for (var r = 0u; r < 4u; r = r + 1u) {
        if 4u * t + r < np {
            let o = (m * np + 4u * t + r) * n4 + b4;
            delta[o] = dphi[o] * uni.wm * acc[r];
        }
    }
}
