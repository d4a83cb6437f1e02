// Output layer of the generic path: partial[member][0][point] = wm·Σ_b w_b z_b
// (the bias is added by `residual`, as in the fused path).
#import nn_common

@group(0) @binding(0) var<uniform> net: Net;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> z_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let gid = flat_id(id, groups);
    if gid >= net.members * net.n_points {
        return;
    }
    let i = gid % net.n_points;
    let m = gid / net.n_points;
    let n_in = net.n_in;
    let row = (net.member_offset + m) * net.params_per_member + net.w_off;
    let inp = gid * n_in;
    var dot = 0.0;
    for (var b = 0u; b < n_in; b = b + 1u) {
        dot = dot + params[row + b] * z_in[inp + b];
    }
    partial[(net.member_base + m) * net.n_points + i] = net.wm * dot;
}
