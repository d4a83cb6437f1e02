// Gradient and heavy-ball update of the input or the output layer, four parameters
// per invocation:
// - output layer (flags bit 0; one neuron, δ the global [member][point] output
//   gradient): invocation u of row m takes the weights 4u..4u+3, g = wm·Σ_i δ[i]·z[i][4u..]
//   (u = n_in/4: the bias, g = bm·Σ_i δ[i]);
// - otherwise (n_out a multiple of 4): invocation a4 of row (m, b) takes neurons
//   4a4..4a4+3 at input b, g = wm·Σ_i δ[i][4a4..]·z[i][b] (b = n_in: the biases, bm·Σ_i δ);
// then v ← βv − ηg, θ ← θ + v. Rows come from the workgroup id (y, folded into z), so
// no lane divides; δ, z rows and the 4-aligned parameter runs move as vec4.
#import nn_common

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> vel: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> z_in: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> delta: array<vec4<f32>>;

// Float f of a vec4-typed array (a scalar load at the computed address).
fn z_at(f: u32) -> f32 {
    return z_in[f / 4u][f % 4u];
}

fn delta_at(f: u32) -> f32 {
    return delta[f / 4u][f % 4u];
}

// The heavy-ball step of the 4 parameters at vec4 index p.
fn step4(p: u32, g: vec4<f32>) {
    let v = uni.momentum * vel[p] - uni.lr * g;
    vel[p] = v;
    params[p] = params[p] + v;
}

// The heavy-ball step of the parameter at float index f.
fn step1(f: u32, g: f32) {
    let p = f / 4u;
    let c = f % 4u;
    let v = uni.momentum * vel[p][c] - uni.lr * g;
    vel[p][c] = v;
    params[p][c] = params[p][c] + v;
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    uni = net;
    let n_in = uni.n_in;
    let np = uni.n_points;
    let row = grid_row(wid, groups);
    let lane = wid.x * WG + lid.x;
    if (uni.flags & 1u) != 0u {
        let m = row;
        let k4 = n_in / 4u;
        if m >= uni.members || lane > k4 {
            return;
        }
        let base = (uni.member_offset + m) * uni.params_per_member;
        let dm = (uni.member_base + m) * np;
        if lane < k4 {
            let zr = m * uni.in_member_stride / 4u + lane;
            var g = vec4<f32>(0.0);
            for (var i = 0u; i < np; i = i + 1u) {
                g = g + delta_at(dm + i) * z_in[zr + i * k4];
            }
            step4((base + uni.w_off) / 4u + lane, uni.wm * g);
        } else {
            var g = 0.0;
            for (var i = 0u; i < np; i = i + 1u) {
                g = g + delta_at(dm + i);
            }
            step1(base + uni.b_off, uni.bm * g);
        }
        return;
    }
    let o4 = uni.n_out / 4u;
    let m = row / (n_in + 1u);
    let b = row - m * (n_in + 1u);
    if m >= uni.members || lane >= o4 {
        return;
    }
    let base = (uni.member_offset + m) * uni.params_per_member;
    let zr = m * uni.in_member_stride + b;
    var g = vec4<f32>(0.0);
    for (var i = 0u; i < np; i = i + 1u) {
        let d = delta[(m * np + i) * o4 + lane];
        if b < n_in {
            g = g + d * z_at(zr + i * n_in);
        } else {
            g = g + d;
        }
    }
    if b < n_in {
        let w = base + uni.w_off + 4u * lane * n_in + b;
        step1(w, uni.wm * g.x);
        step1(w + n_in, uni.wm * g.y);
        step1(w + 2u * n_in, uni.wm * g.z);
        step1(w + 3u * n_in, uni.wm * g.w);
    } else {
        step4((base + uni.b_off) / 4u + lane, uni.bm * g);
    }
}
