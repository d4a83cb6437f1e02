// Draws one parameter segment (a W^l or b^l) of every member in the dispatch:
// θ = std · N(0,1), keyed by (seed; global member, parameter index), so a member's
// network does not depend on chunking, ensemble size or sharding.
// The grid is (parameters, or the columns of a blocked W; members): workgroup row
// y (+ z) is the member, so no invocation divides (integer division is scalarised
// on CPU drivers, where it cost as much as the draw itself).
#import nn_common
#import rng

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;

@compute @workgroup_size(WG)
fn main(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    uni = net;
    let m = grid_row(wid, groups);
    if m >= uni.members {
        return;
    }
    let key = vec2<u32>(uni.seed_lo, uni.seed_hi);
    let member = uni.rng_base + uni.member_base + m;
    let base = (uni.member_offset + m) * uni.params_per_member + uni.w_off;
    if (uni.flags & 8u) != 0u {
        // A column-blocked W (nn::layout::Blocked): invocations run along the columns
        // b and down the rows a, so the draws keep their row-major index a·n_in + b
        // (the same network as row-major storage) without a division.
        let n = uni.n_in;
        for (var b = id.x; b < n; b = b + groups.x * WG) {
            let c = b & ~63u;
            let width = min(64u, n - c);
            let col = base + c * uni.n_out + (b & 63u);
            for (var a = 0u; a < uni.n_out; a = a + 1u) {
                let z = philox_normal2(vec4<u32>(member, uni.w_off + a * n + b, 0u, 0u), key);
                params[col + a * width] = uni.init_std * z.x;
            }
        }
        return;
    }
    for (var i = id.x; i < uni.count; i = i + groups.x * WG) {
        let z = philox_normal2(vec4<u32>(member, uni.w_off + i, 0u, 0u), key);
        params[base + i] = uni.init_std * z.x;
    }
}
