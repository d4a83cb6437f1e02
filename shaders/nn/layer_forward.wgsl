// Generic hidden layer, one invocation per (member, point, neuron):
// h = wm·W·z_in + bm·b, stores z = φ(h) and φ'(h) for the backward pass.
// Scratch tensors are [member][point][neuron] over the members of one sub-chunk.
#import nn_common
#import activation

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> z_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> z_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> dphi: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    uni = net;
    let gid = flat_id(id, groups);
    let n_out = uni.n_out;
    let n_in = uni.n_in;
    if gid >= uni.members * uni.n_points * n_out {
        return;
    }
    let a = gid % n_out;
    let mi = gid / n_out;
    let i = mi % uni.n_points;
    let m = mi / uni.n_points;
    let base = (uni.member_offset + m) * uni.params_per_member;
    let row = base + uni.w_off + a * n_in;
    let inp = m * uni.in_member_stride + i * n_in;
    var dot = 0.0;
    for (var b = 0u; b < n_in; b = b + 1u) {
        dot = dot + params[row + b] * z_in[inp + b];
    }
    let pd = act_and_deriv(uni.wm * dot + uni.bm * params[base + uni.b_off + a]);
    z_out[gid] = pd.x;
    dphi[gid] = pd.y;
}
