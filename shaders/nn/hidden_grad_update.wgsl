// Gradient and heavy-ball update of a hidden-to-hidden layer (widths multiples of
// 4), one invocation per (member, 4 output neurons a, 4 inputs b):
//   g[a][b] = wm·Σ_i δ[i][a]·z[i][b],   v ← βv − ηg,   θ ← θ + v,
// reading δ and z rows as vec4 (2 vector loads per 16 multiply-adds). Invocations
// with b = 0..3 also update the four biases, g_a = bm·Σ_i δ[i][a].
// CPU twin: reference::nn::gradient + momentum_step (as `grad_update`).
#import nn_common

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> vel: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> z_in: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> delta: array<vec4<f32>>;

fn step(p: u32, g: vec4<f32>) {
    let v = uni.momentum * vel[p] - uni.lr * g;
    vel[p] = v;
    params[p] = params[p] + v;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    uni = net;
    let gid = flat_id(id, groups);
    let np = uni.n_points;
    let k4 = uni.n_in / 4u;
    let o4 = uni.n_out / 4u;
    if gid >= uni.members * o4 * k4 {
        return;
    }
    let b4 = gid % k4;
    let a4 = (gid / k4) % o4;
    let m = gid / (k4 * o4);
    var acc = array<vec4<f32>, 4>();
    var gb = vec4<f32>(0.0);
    for (var i = 0u; i < np; i = i + 1u) {
        let d = delta[(m * np + i) * o4 + a4];
        let z = z_in[(m * np + i) * k4 + b4];
        acc[0] = acc[0] + d.x * z;
        acc[1] = acc[1] + d.y * z;
        acc[2] = acc[2] + d.z * z;
        acc[3] = acc[3] + d.w * z;
        gb = gb + d;
    }
    let base4 = (uni.member_offset + m) * uni.params_per_member / 4u;
    let w = base4 + uni.w_off / 4u + 4u * a4 * k4 + b4;
    for (var q = 0u; q < 4u; q = q + 1u) {
        step(w + q * k4, uni.wm * acc[q]);
    }
    if b4 == 0u {
        step(base4 + uni.b_off / 4u + a4, uni.bm * gb);
    }
}
