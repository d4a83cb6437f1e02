// Empirical NTK contribution of one layer, summed over the members of a sub-chunk,
// one invocation per point pair (i, j):
//   Θ_ij += Σ_m wm²·(D_i·D_j)(z_i·z_j) + bm²·(D_i·D_j),
// with D = ∂f/∂h of the layer's outputs and z its inputs. flags bit 0 marks the
// output layer, whose D is 1.
#import nn_common

@group(0) @binding(0) var<uniform> net: Net;
@group(0) @binding(1) var<storage, read> dmat: array<f32>;
@group(0) @binding(2) var<storage, read> z_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> ntk: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let gid = flat_id(id, groups);
    let np = net.n_points;
    if gid >= np * np {
        return;
    }
    let i = gid / np;
    let j = gid % np;
    let n_in = net.n_in;
    let n_out = net.n_out;
    var acc = 0.0;
    for (var m = 0u; m < net.members; m = m + 1u) {
        var dd = 1.0;
        if (net.flags & 1u) == 0u {
            dd = 0.0;
            let di = (m * np + i) * n_out;
            let dj = (m * np + j) * n_out;
            for (var a = 0u; a < n_out; a = a + 1u) {
                dd = dd + dmat[di + a] * dmat[dj + a];
            }
        }
        var zz = 0.0;
        let zi = m * net.in_member_stride + i * n_in;
        let zj = m * net.in_member_stride + j * n_in;
        for (var b = 0u; b < n_in; b = b + 1u) {
            zz = zz + z_in[zi + b] * z_in[zj + b];
        }
        acc = acc + dd * (net.wm * net.wm * zz + net.bm * net.bm);
    }
    ntk[gid] = ntk[gid] + acc;
}
