// One-hidden-layer forward pass, fused: each invocation owns (member, block of
// neurons, point) and accumulates a·φ(h) over its block without storing h.
// partial[member][block][point]; `residual` sums the blocks.
#import nn_common
#import activation

@group(0) @binding(0) var<uniform> net: Net;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let gid = flat_id(id, groups);
    let n_points = net.n_points;
    if gid >= net.members * net.blocks * n_points {
        return;
    }
    let i = gid % n_points;
    let blk = (gid / n_points) % net.blocks;
    let m = gid / (n_points * net.blocks);
    let d = net.input_dim;
    let n = net.width;
    let base = (net.member_offset + m) * net.params_per_member;
    let b1 = base + n * d;
    let a_off = b1 + n;
    let per = (n + net.blocks - 1u) / net.blocks;
    let k0 = blk * per;
    let k1 = min(k0 + per, n);
    var acc = 0.0;
    for (var k = k0; k < k1; k = k + 1u) {
        var dot = 0.0;
        for (var j = 0u; j < d; j = j + 1u) {
            dot = dot + params[base + k * d + j] * x[i * d + j];
        }
        let h = net.wm_in * dot + net.bm_in * params[b1 + k];
        acc = acc + params[a_off + k] * act(h);
    }
    partial[((net.member_base + m) * net.blocks + blk) * n_points + i] = net.wm_out * acc;
}
