// Eight f32 carried as vec4<u64> (two per u64, bit for bit), the packed CPU path's
// storage view: CPU drivers move storage data in a per-lane, per-component loop, so
// a 32-byte component halves the iterations per float.

// Floats 0..4 (lo) and 4..8 (hi) of 8 packed ones.
fn lo(x: vec4<u64>) -> vec4<f32> {
    let a = vec2<u32>(x.xy);
    let b = vec2<u32>(x.xy >> vec2<u32>(32u));
    return bitcast<vec4<f32>>(vec4<u32>(a.x, b.x, a.y, b.y));
}

fn hi(x: vec4<u64>) -> vec4<f32> {
    let a = vec2<u32>(x.zw);
    let b = vec2<u32>(x.zw >> vec2<u32>(32u));
    return bitcast<vec4<f32>>(vec4<u32>(a.x, b.x, a.y, b.y));
}

fn pack(l: vec4<f32>, h: vec4<f32>) -> vec4<u64> {
    let a = bitcast<vec4<u32>>(l);
    let b = bitcast<vec4<u32>>(h);
    return vec4<u64>(vec4<u32>(a.xz, b.xz)) | (vec4<u64>(vec4<u32>(a.yw, b.yw)) << vec4<u32>(32u));
}
