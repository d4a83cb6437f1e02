// Output layer of the generic path: partial[member][0][point] = wm·Σ_b w_b z_b
// (the bias is added by `residual`, as in the fused path). One invocation per
// (member, point); w and z move as vec4 (the width is a multiple of 4 and every layer
// starts on a multiple of 4 floats), summed in the order b = 0, 1, 2, ...
#import nn_common

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> z_in: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    uni = net;
    let gid = flat_id(id, groups);
    if gid >= uni.members * uni.n_points {
        return;
    }
    let i = gid % uni.n_points;
    let m = gid / uni.n_points;
    let n4 = uni.n_in / 4u;
    let row = ((uni.member_offset + m) * uni.params_per_member + uni.w_off) / 4u;
    let inp = gid * n4;
    var dot = 0.0;
    for (var b = 0u; b < n4; b = b + 1u) {
        let w = params[row + b];
        let z = z_in[inp + b];
        dot = dot + w.x * z.x;
        dot = dot + w.y * z.y;
        dot = dot + w.z * z.z;
        dot = dot + w.w * z.w;
    }
    partial[(uni.member_base + m) * uni.n_points + i] = uni.wm * dot;
}
