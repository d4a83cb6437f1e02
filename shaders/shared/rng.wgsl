// Philox4x32-10 counter-based RNG. A draw depends only on (key, counter), so the
// same seed gives the same numbers whatever the dispatch shape or chunking.
// CPU twin: src/reference/rng.rs.

// (hi, lo) of the 64-bit product a*b, from 16-bit halves (WGSL has no u64).
fn philox_mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let hl = a_hi * b_lo;
    let lh = a_lo * b_hi;
    let hh = a_hi * b_hi;
    let cross = (ll >> 16u) + (hl & 0xffffu) + (lh & 0xffffu);
    let hi = hh + (hl >> 16u) + (lh >> 16u) + (cross >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var r = 0u; r < 10u; r = r + 1u) {
        let p0 = philox_mulhilo(0xD2511F53u, c.x);
        let p1 = philox_mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

// Uniform in (0, 1), exactly representable: 24 random bits, centred in their cell.
fn philox_unit(x: u32) -> f32 {
    return (f32(x >> 8u) + 0.5) * 5.9604644775390625e-8;
}

// Two independent standard normals (Box–Muller) from one Philox block.
fn philox_normal2(counter: vec4<u32>, key: vec2<u32>) -> vec2<f32> {
    let r = philox4x32(counter, key);
    let rad = sqrt(-2.0 * log(philox_unit(r.x)));
    let ang = 6.283185307179586 * philox_unit(r.y);
    return vec2<f32>(rad * cos(ang), rad * sin(ang));
}
