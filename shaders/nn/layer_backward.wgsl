// Backpropagation into hidden layer l, one invocation per (member, point, neuron b):
//   last hidden layer (flags bit 0): δ_b = φ'_b · wm_out · w_out[b] · up[member][point]
//     where `up` is the global [member][point] output gradient (or ones, for the NTK);
//   otherwise: δ_b = φ'_b · wm · Σ_a W^{l+1}[a][b] · up[member][point][a].
#import nn_common

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read> dphi: array<f32>;
@group(0) @binding(4) var<storage, read_write> delta: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    uni = net;
    let gid = flat_id(id, groups);
    let n = uni.n_in;        // neurons of this layer
    let n_up = uni.n_out;    // neurons of the layer above
    if gid >= uni.members * uni.n_points * n {
        return;
    }
    let b = gid % n;
    let mi = gid / n;
    let i = mi % uni.n_points;
    let m = mi / uni.n_points;
    let w = (uni.member_offset + m) * uni.params_per_member + uni.up_off;
    var s = 0.0;
    if (uni.flags & 1u) != 0u {
        s = params[w + b] * up[(uni.member_base + m) * uni.n_points + i];
    } else {
        let u = mi * n_up;
        for (var a = 0u; a < n_up; a = a + 1u) {
            s = s + params[w + a * n + b] * up[u + a];
        }
    }
    delta[gid] = dphi[gid] * uni.wm * s;
}
