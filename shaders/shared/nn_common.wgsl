// Layout shared by the ensemble kernels. Mirrors `NetUniform` in src/nn/layout.rs
// (a test checks the size against naga's layout).
//
// Parameters of one member are a flat vector: for each layer l = 1..L+1 the weight
// matrix W^l (fan_out × fan_in, row-major) followed by its bias b^l, each starting
// on a multiple of 4 floats (see NetShape::layers). Members are
// contiguous in the chunk's buffer: member m starts at m·params_per_member.

override WG: u32 = 64u;

struct Net {
    n_points: u32,
    input_dim: u32,
    width: u32,
    depth: u32,
    params_per_member: u32,
    members: u32,          // members handled by this dispatch
    member_base: u32,      // global index of the first of them (RNG, outputs)
    member_offset: u32,    // index of the first of them inside the parameter buffer
    n_in: u32,             // generic layer kernels: fan-in, fan-out, parameter offsets
    n_out: u32,
    w_off: u32,
    b_off: u32,
    in_member_stride: u32, // 0 when the layer input is the shared data set x
    blocks: u32,           // neuron blocks of the fused forward pass
    flags: u32,
    count: u32,            // init: parameters in this segment
    lr: f32,
    momentum: f32,
    wm: f32,               // generic layer: weight and bias multipliers
    bm: f32,
    wm_in: f32,            // fused one-hidden-layer path: input and output multipliers
    bm_in: f32,
    wm_out: f32,
    bm_out: f32,
    seed_lo: u32,
    seed_hi: u32,
    init_std: f32,
    up_off: u32,           // layer_backward: offset of the upstream weights (W^{l+1} or output row)
    out_b: u32,            // offset of the output bias inside a member's vector
    rng_base: u32,         // global index of the engine's first member (a shard's offset)
    _pad1: u32,
    _pad2: u32,
}

// Flattened invocation index of a 2-D dispatch grid (x fastest).
fn flat_id(id: vec3<u32>, groups: vec3<u32>) -> u32 {
    return id.x + id.y * groups.x * WG;
}

// The row of a row grid: rows run along y and fold into z past the per-dimension
// limit (the engine's `row_grid`), lanes along x.
fn grid_row(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wid.y + wid.z * groups.y;
}
