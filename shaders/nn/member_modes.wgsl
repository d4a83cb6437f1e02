// Per traced member e < K and basis row b (one invocation each): the member's mode
// amplitude c_{e,b} = u_bᵀ(f_e − y), written at slot·K·N + e·N + b of the traces ring.
// Slot-major with the same slot index as the statistics records, so one read-back per
// submission returns every recorded step's traces. Here `members` is K and
// `record_size` is K·N (floats per traces slot).
#import nn_stats

@group(0) @binding(0) var<uniform> st: Stats;
@group(0) @binding(1) var<storage, read> outputs: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> basis: array<f32>;
@group(0) @binding(4) var<storage, read_write> traces: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    // K·N invocations can exceed one grid dimension; the host folds them into 2-D.
    let t = id.x + id.y * groups.x * WG;
    let np = st.n_points;
    if t >= st.members * np {
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
    traces[st.slot * st.record_size + t] = c;
}
