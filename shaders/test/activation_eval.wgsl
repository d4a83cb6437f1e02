// Test kernel: (φ(x), φ'(x)) at the given points through act_and_deriv4, the form the
// kernels use, to compare with the CPU twin and libm. Four points per invocation.
#import activation

@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let n = arrayLength(&xs);
    let i = 4u * id.x;
    if i >= n {
        return;
    }
    let x = vec4<f32>(xs[i], xs[min(i + 1u, n - 1u)], xs[min(i + 2u, n - 1u)], xs[min(i + 3u, n - 1u)]);
    var d: vec4<f32>;
    let y = act_and_deriv4(x, &d);
    for (var k = 0u; k < 4u && i + k < n; k = k + 1u) {
        out[2u * (i + k)] = y[k];
        out[2u * (i + k) + 1u] = d[k];
    }
}
