// One-hidden-layer backward pass and heavy-ball update, fused per (member, neuron):
// recompute h and (φ, φ') for every point, accumulate the gradients of this
// neuron's input weights, bias and output weight, then v ← βv − ηg, θ ← θ + v.
// Neuron 0 also updates the member's output bias.
#import nn_common
#import activation

const MAX_IN: u32 = 32u;

@group(0) @binding(0) var<uniform> net: Net;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> vel: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> delta_out: array<f32>;

fn step(p: u32, g: f32) {
    let v = net.momentum * vel[p] - net.lr * g;
    vel[p] = v;
    params[p] = params[p] + v;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let gid = flat_id(id, groups);
    let n = net.width;
    if gid >= net.members * n {
        return;
    }
    let k = gid % n;
    let m = gid / n;
    let d = net.input_dim;
    let n_points = net.n_points;
    let base = (net.member_offset + m) * net.params_per_member;
    let b1 = base + n * d;
    let a_off = b1 + n;
    let g = net.member_base + m;

    var w: array<f32, MAX_IN>;
    var gw: array<f32, MAX_IN>;
    for (var j = 0u; j < d; j = j + 1u) {
        w[j] = params[base + k * d + j];
        gw[j] = 0.0;
    }
    let bk = params[b1 + k];
    let ak = params[a_off + k];
    var ga = 0.0;
    var gh = 0.0;
    var sr = 0.0;
    for (var i = 0u; i < n_points; i = i + 1u) {
        var dot = 0.0;
        for (var j = 0u; j < d; j = j + 1u) {
            dot = dot + w[j] * x[i * d + j];
        }
        let pd = act_and_deriv(net.wm_in * dot + net.bm_in * bk);
        let r = delta_out[g * n_points + i];
        ga = ga + r * pd.x;
        let rh = r * pd.y;
        gh = gh + rh;
        for (var j = 0u; j < d; j = j + 1u) {
            gw[j] = gw[j] + rh * x[i * d + j];
        }
        sr = sr + r;
    }
    let back = net.wm_out * ak;
    for (var j = 0u; j < d; j = j + 1u) {
        step(base + k * d + j, back * net.wm_in * gw[j]);
    }
    step(b1 + k, back * net.bm_in * gh);
    step(a_off + k, net.wm_out * ga);
    if k == 0u {
        step(base + net.params_per_member - 1u, net.bm_out * sr);
    }
}
