// Gradient and heavy-ball update of one layer's parameters, one invocation per
// (member, output neuron a, input b) with b = n_in meaning the bias:
//   g = Σ_i δ[i][a] · (wm·z_in[i][b]  or  bm),   v ← βv − ηg,   θ ← θ + v.
// flags bit 0: δ is the global [member][point] output gradient (output layer).
#import nn_common

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> vel: array<f32>;
@group(0) @binding(3) var<storage, read> z_in: array<f32>;
@group(0) @binding(4) var<storage, read> delta: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    uni = net;
    let gid = flat_id(id, groups);
    let n_in = uni.n_in;
    let n_out = uni.n_out;
    let cols = n_in + 1u;
    if gid >= uni.members * n_out * cols {
        return;
    }
    let b = gid % cols;
    let a = (gid / cols) % n_out;
    let m = gid / (cols * n_out);
    let n_points = uni.n_points;
    var g = 0.0;
    for (var i = 0u; i < n_points; i = i + 1u) {
        var d: f32;
        if (uni.flags & 1u) != 0u {
            d = delta[(uni.member_base + m) * n_points + i];
        } else {
            d = delta[(m * n_points + i) * n_out + a];
        }
        if b < n_in {
            g = g + d * z_in[m * uni.in_member_stride + i * n_in + b];
        } else {
            g = g + d;
        }
    }
    let base = (uni.member_offset + m) * uni.params_per_member;
    var p: u32;
    if b < n_in {
        p = base + uni.w_off + a * n_in + b;
        g = g * uni.wm;
    } else {
        p = base + uni.b_off + a;
        g = g * uni.bm;
    }
    let v = uni.momentum * vel[p] - uni.lr * g;
    vel[p] = v;
    params[p] = params[p] + v;
}
