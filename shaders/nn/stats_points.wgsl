// Per point: ensemble mean and variance of f (two passes for accuracy); one extra
// invocation reduces the per-member losses to their mean and standard deviation.
#import nn_stats

@group(0) @binding(0) var<uniform> st: Stats;
@group(0) @binding(1) var<storage, read> outputs: array<f32>;
@group(0) @binding(2) var<storage, read> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> records: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    let np = st.n_points;
    let e = st.members;
    let rec = st.slot * st.record_size;
    let inv_e = 1.0 / f32(e);
    if i < np {
        var s = 0.0;
        for (var m = 0u; m < e; m = m + 1u) {
            s = s + outputs[m * np + i];
        }
        let mean = s * inv_e;
        var v = 0.0;
        for (var m = 0u; m < e; m = m + 1u) {
            let d = outputs[m * np + i] - mean;
            v = v + d * d;
        }
        records[rec + i] = mean;
        records[rec + np + i] = v * inv_e;
    } else if i == np {
        var s = 0.0;
        for (var m = 0u; m < e; m = m + 1u) {
            s = s + loss[m];
        }
        let mean = s * inv_e;
        var v = 0.0;
        for (var m = 0u; m < e; m = m + 1u) {
            let d = loss[m] - mean;
            v = v + d * d;
        }
        records[rec + 4u * np] = mean;
        records[rec + 4u * np + 1u] = sqrt(v * inv_e);
    }
}
