// Test kernel: (φ(x), φ'(x)) at the given points, to compare with the CPU twin and libm.
#import activation

@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if i >= arrayLength(&xs) {
        return;
    }
    let pd = act_and_deriv(xs[i]);
    out[2u * i] = pd.x;
    out[2u * i + 1u] = pd.y;
}
