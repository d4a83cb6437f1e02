// Draws one parameter segment (a W^l or b^l) of every member in the dispatch:
// θ = std · N(0,1), keyed by (seed; global member, parameter index), so a member's
// network does not depend on chunking, ensemble size or sharding.
#import nn_common
#import rng

@group(0) @binding(0) var<uniform> net: Net;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let total = net.count * net.members;
    let stride = groups.x * groups.y * WG;
    for (var idx = flat_id(id, groups); idx < total; idx = idx + stride) {
        let m = idx / net.count;
        let p = net.w_off + idx % net.count;
        let z = philox_normal2(vec4<u32>(net.rng_base + net.member_base + m, p, 0u, 0u), vec2<u32>(net.seed_lo, net.seed_hi));
        params[(net.member_offset + m) * net.params_per_member + p] = net.init_std * z.x;
    }
}
