// Per member: the network output f = Σ blocks + output bias, the loss gradient
// δ = (f − y)/N and the loss (1/2N)·Σ(f − y)².
#import nn_common

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> partial: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> outputs: array<f32>;
@group(0) @binding(5) var<storage, read_write> delta_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> loss: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    uni = net;
    let m = flat_id(id, groups);
    if m >= uni.members {
        return;
    }
    let n_points = uni.n_points;
    let g = uni.member_base + m;
    let bias = uni.bm_out * params[(uni.member_offset + m) * uni.params_per_member + uni.out_b];
    let inv_n = 1.0 / f32(n_points);
    var l = 0.0;
    for (var i = 0u; i < n_points; i = i + 1u) {
        var f = bias;
        for (var b = 0u; b < uni.blocks; b = b + 1u) {
            f = f + partial[(g * uni.blocks + b) * n_points + i];
        }
        let r = f - y[i];
        outputs[g * n_points + i] = f;
        delta_out[g * n_points + i] = r * inv_n;
        l = l + r * r;
    }
    loss[g] = 0.5 * inv_n * l;
}
