// Backpropagation into hidden layer l (n neurons, a multiple of 4), one invocation per
// (member, point) row and 4 neurons b:
//   last hidden layer (flags bit 0): δ_b = φ'_b · wm_out · w_out[b] · up[member][point]
//     where `up` is the global [member][point] output gradient (or ones, for the NTK);
//   otherwise: δ_b = φ'_b · wm · Σ_a W^{l+1}[a][b] · up[member][point][a].
// The row comes from the workgroup id (y, folded into z), so no lane divides; W rows,
// φ' and δ move as vec4 (every layer starts on a multiple of 4 floats).
#import nn_common

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read> dphi: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> delta: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    uni = net;
    let n4 = uni.n_in / 4u;
    let n_up = uni.n_out;
    let row = grid_row(wid, groups);
    let b4 = wid.x * WG + lid.x;
    if row >= uni.members * uni.n_points || b4 >= n4 {
        return;
    }
    let m = row / uni.n_points;
    let i = row - m * uni.n_points;
    let w4 = ((uni.member_offset + m) * uni.params_per_member + uni.up_off) / 4u + b4;
    var s = vec4<f32>(0.0);
    if (uni.flags & 1u) != 0u {
        s = params[w4] * up[(uni.member_base + m) * uni.n_points + i];
    } else {
        let u = row * n_up;
        for (var a = 0u; a < n_up; a = a + 1u) {
            s = s + params[w4 + a * n4] * up[u + a];
        }
    }
    let o = row * n4 + b4;
    delta[o] = dphi[o] * uni.wm * s;
}
