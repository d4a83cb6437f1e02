// Empirical NTK contribution of one layer, one invocation per (member, 4 points i,
// 4 points j). With flags bit 1 every member accumulates into its own slot
// member_base + m (the buffer holds E per-member NTKs); without it member m of every
// sub-chunk accumulates into slot m, so the buffer holds one N×N sum per sub-chunk
// position (summed on the host; used when E·N² floats exceed one binding):
//   Θ_m[i][j] += wm²·(D_i·D_j)(z_i·z_j) + bm²·(D_i·D_j),
// with D = ∂f/∂h of the layer's outputs and z its inputs. flags bit 0 marks the
// output layer, whose D is 1. Dot products run over vec4s (the layer widths are
// multiples of 4; an input that is not, the data set x, is read as scalars).
// CPU twin: reference::nn::ntk (computed independently as J·Jᵀ).
#import nn_common

@group(0) @binding(0) var<uniform> net: Net;
// CPU drivers load a uniform lane by lane once control flow has begun; this copy,
// taken before any branch, is read from registers.
var<private> uni: Net;
@group(0) @binding(1) var<storage, read> dmat: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> z4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> z1: array<f32>;
@group(0) @binding(4) var<storage, read_write> ntk: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    uni = net;
    let gid = flat_id(id, groups);
    let np = uni.n_points;
    let pt = (np + 3u) / 4u;
    if gid >= uni.members * pt * pt {
        return;
    }
    let tj = gid % pt;
    let ti = (gid / pt) % pt;
    let m = gid / (pt * pt);
    var ri: array<u32, 4>;
    var rj: array<u32, 4>;
    for (var r = 0u; r < 4u; r = r + 1u) {
        ri[r] = m * np + min(4u * ti + r, np - 1u);
        rj[r] = m * np + min(4u * tj + r, np - 1u);
    }
    var dd = array<vec4<f32>, 4>(vec4<f32>(1.0), vec4<f32>(1.0), vec4<f32>(1.0), vec4<f32>(1.0));
    if (uni.flags & 1u) == 0u {
        let o4 = uni.n_out / 4u;
        dd = array<vec4<f32>, 4>();
        for (var k = 0u; k < o4; k = k + 1u) {
            let b0 = dmat[rj[0] * o4 + k];
            let b1 = dmat[rj[1] * o4 + k];
            let b2 = dmat[rj[2] * o4 + k];
            let b3 = dmat[rj[3] * o4 + k];
            for (var r = 0u; r < 4u; r = r + 1u) {
                let a = dmat[ri[r] * o4 + k];
                dd[r] = dd[r] + vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
            }
        }
    }
    // The data set x is shared by all members (stride 0); activations are per member.
    let zi0 = m * uni.in_member_stride;
    var zz = array<vec4<f32>, 4>();
    let n_in = uni.n_in;
    if n_in % 4u == 0u {
        let k4 = n_in / 4u;
        for (var k = 0u; k < k4; k = k + 1u) {
            let b0 = z4[(zi0 + (rj[0] - m * np) * n_in) / 4u + k];
            let b1 = z4[(zi0 + (rj[1] - m * np) * n_in) / 4u + k];
            let b2 = z4[(zi0 + (rj[2] - m * np) * n_in) / 4u + k];
            let b3 = z4[(zi0 + (rj[3] - m * np) * n_in) / 4u + k];
            for (var r = 0u; r < 4u; r = r + 1u) {
                let a = z4[(zi0 + (ri[r] - m * np) * n_in) / 4u + k];
                zz[r] = zz[r] + vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
            }
        }
    } else {
        for (var r = 0u; r < 4u; r = r + 1u) {
            for (var c = 0u; c < 4u; c = c + 1u) {
                var s = 0.0;
                for (var k = 0u; k < n_in; k = k + 1u) {
                    s = s + z1[zi0 + (ri[r] - m * np) * n_in + k] * z1[zi0 + (rj[c] - m * np) * n_in + k];
                }
                zz[r][c] = s;
            }
        }
    }
    var slot = m;
    if (uni.flags & 2u) != 0u {
        slot = uni.member_base + m;
    }
    let wm2 = uni.wm * uni.wm;
    let bm2 = uni.bm * uni.bm;
    for (var r = 0u; r < 4u; r = r + 1u) {
        let i = 4u * ti + r;
        for (var c = 0u; c < 4u; c = c + 1u) {
            let j = 4u * tj + c;
            if i < np && j < np {
                let o = (slot * np + i) * np + j;
                ntk[o] = ntk[o] + dd[r][c] * (wm2 * zz[r][c] + bm2);
            }
        }
    }
}
