// Test kernel: Philox blocks and normals for counters (i, 1, 2, 3) under key (7, 9).
#import rng

@group(0) @binding(0) var<storage, read_write> bits: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> normals: array<vec2<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if i >= arrayLength(&bits) {
        return;
    }
    let c = vec4<u32>(i, 1u, 2u, 3u);
    bits[i] = philox4x32(c, vec2<u32>(7u, 9u));
    normals[i] = philox_normal2(c, vec2<u32>(7u, 9u));
}
