// Copies one recorded step into its ring slot (layout in nn_stats): per member e and
// basis row b (one invocation each) the mode amplitude c_{e,b} = u_bᵀ(f_e − y) and
// the output f_{e,b}; invocation b = 0 also copies the member's loss.
#import nn_stats

@group(0) @binding(0) var<uniform> st: Stats;
@group(0) @binding(1) var<storage, read> outputs: array<f32>;
@group(0) @binding(2) var<storage, read> loss: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read> basis: array<f32>;
@group(0) @binding(5) var<storage, read_write> ring: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    // E·N invocations can exceed one grid dimension; the host folds them into 2-D.
    let t = id.x + id.y * groups.x * WG;
    let np = st.n_points;
    let en = st.members * np;
    if t >= en {
        return;
    }
    let e = t / np;
    let b = t - e * np;
    let f = e * np;
    let u = b * np;
    var c = 0.0;
    for (var i = 0u; i < np; i = i + 1u) {
        c = c + basis[u + i] * (outputs[f + i] - y[i]);
    }
    let slot = st.slot * st.record_size;
    ring[slot + t] = c;
    ring[slot + en + t] = outputs[t];
    if b == 0u {
        ring[slot + 2u * en + e] = loss[e];
    }
}
