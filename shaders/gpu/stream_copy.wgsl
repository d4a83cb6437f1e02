// y = x, one vec4 per invocation. Its rate is the adapter's streaming bandwidth:
// the memory roofline the benches set their kernels against.
// CPU twin: reference::stream::copy.

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i < min(arrayLength(&x), arrayLength(&y))) {
        y[i] = x[i];
    }
}
