// Packing of the fused one-hidden-layer kernels (input dimension d ≤ 6), chosen so
// the hot loops are straight-line vector code with one or two vec4 loads:
//   d ≤ 2: neuron (w0, w1, b, a);                point (x0, x1, δ, 0)
//   d ≤ 6: neuron (w0..w3), (w4, w5, b, a);       point (x0..x3), (x4, x5, δ, 0)
// Weights past d are zero, so padded input slots never contribute.

override IN_DIM: u32 = 2u;
override NARROW: bool = IN_DIM <= 2u;

// Input j of a parameter row, or 0 past d.
fn padded(v: f32, j: u32) -> f32 {
    return select(0.0, v, j < IN_DIM);
}
