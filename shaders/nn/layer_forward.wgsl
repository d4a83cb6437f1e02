// Generic hidden layer (the input layer on every path): h = wm·W·z_in + bm·b, stores
// z = φ(h) and φ'(h) for the backward pass. Scratch tensors are [member][point][neuron]
// over the members of one sub-chunk. One invocation per (member, point) row and 4
// neurons: the row comes from the workgroup id (y, folded into z past the limit), so
// no lane divides, and z and φ' are written as vec4 (n_out is a multiple of 4).
#import nn_common
#import activation

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> z_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> z_out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dphi: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    uni = net;
    let n_in = uni.n_in;
    let o4 = uni.n_out / 4u;
    let row = grid_row(wid, groups);
    let a4 = wid.x * WG + lid.x;
    if row >= uni.members * uni.n_points || a4 >= o4 {
        return;
    }
    let m = row / uni.n_points;
    let i = row - m * uni.n_points;
    let base = (uni.member_offset + m) * uni.params_per_member;
    // Rows 4·a4 .. 4·a4 + 3 of W, n_in apart.
    let w = base + uni.w_off + 4u * a4 * n_in;
    let inp = m * uni.in_member_stride + i * n_in;
    var dot = vec4<f32>(0.0);
    for (var b = 0u; b < n_in; b = b + 1u) {
        let wb = vec4<f32>(
            params[w + b],
            params[w + n_in + b],
            params[w + 2u * n_in + b],
            params[w + 3u * n_in + b],
        );
        dot = dot + wb * z_in[inp + b];
    }
    let bo = base + uni.b_off + 4u * a4;
    let bias = vec4<f32>(params[bo], params[bo + 1u], params[bo + 2u], params[bo + 3u]);
    var d: vec4<f32>;
    let z = act_and_deriv4(uni.wm * dot + uni.bm * bias, &d);
    z_out[row * o4 + a4] = z;
    dphi[row * o4 + a4] = d;
}
