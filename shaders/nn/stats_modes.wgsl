// Per basis vector u_b (one invocation each): the mean residual u_bᵀ(μ − y) and the
// fluctuation power ⟨(u_bᵀ(f − μ))²⟩ over members. Runs after `stats_points`, whose
// means it reads from the same record.
#import nn_stats

@group(0) @binding(0) var<uniform> st: Stats;
@group(0) @binding(1) var<storage, read> outputs: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> basis: array<f32>;
@group(0) @binding(4) var<storage, read_write> records: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let b = id.x;
    let np = st.n_points;
    if b >= np {
        return;
    }
    let rec = st.slot * st.record_size;
    let u = b * np;
    var r = 0.0;
    for (var i = 0u; i < np; i = i + 1u) {
        r = r + basis[u + i] * (records[rec + i] - y[i]);
    }
    var p = 0.0;
    for (var m = 0u; m < st.members; m = m + 1u) {
        var c = 0.0;
        for (var i = 0u; i < np; i = i + 1u) {
            c = c + basis[u + i] * (outputs[m * np + i] - records[rec + i]);
        }
        p = p + c * c;
    }
    records[rec + 2u * np + b] = r;
    records[rec + 3u * np + b] = p / f32(st.members);
}
