// One fused unit of the integrator at every site:
//   π += c_lap·∇²φ − c_pot·V'(φ),   then   φ_out = φ_in + c_drift·π.
// A pure kick has c_drift = 0, a pure drift c_lap = c_pot = 0. φ is ping-ponged
// because neighbours must see the old φ; π is only touched at its own site.
// CPU twin: reference::lattice::kick_drift.
//
// For CPU drivers, vectorised for N a multiple of 4 (kick_drift_column.wgsl covers
// the rest, and every N on GPUs). The fields are bound as vec4s: one load moves
// four x-sites, and on CPU drivers
// (llvmpipe) loads and stores run lane by lane, so the count of them per site is
// what matters. Each invocation owns a block of 4·V consecutive x-sites (V vec4s)
// by 4 consecutive rows, and walks z:
//   - x-neighbours come from its own vec4s, plus the vec4 just left and just
//     right of each row segment (x±1 and x±2 fit in one vec4; only the needed
//     components are loaded);
//   - y-neighbours inside the block come from registers; the rows just outside
//     it (1 each side, 2 for the 4th-order stencil) are loaded once per plane;
//   - z-neighbours stay in registers (a pipeline of planes z−2 … z+2).
// Wrapped row and plane offsets are computed outside the z-loop, and the loop's
// control flow is uniform: surplus invocations work on a clamped segment and only
// skip their stores. Field b = workgroup_id.z: all offsets below start at b·N³/4
// vec4s, and m² and the energy shift come from fields[b].
#import lattice_common
#import lattice_energy

@group(0) @binding(0) var<uniform> p: StepParams;
@group(0) @binding(1) var<storage, read> phi_in: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> phi_out: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> pi: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> energy_parts: array<vec4<f32>>;
// Per field: m², the energy sums' shift s, spare, spare.
@group(0) @binding(5) var<storage, read> fields: array<vec4<f32>>;
// With COUPLED: (Mφ)_b at every site (coupled_force.wgsl), in place of V'(φ_b).
@group(0) @binding(6) var<storage, read> force: array<vec4<f32>>;

override WG: u32 = 64u;
// 2: 7-point stencil; 4: 13-point 4th-order stencil.
override STENCIL: u32 = 2u;
// vec4s per row segment: 1, 2 or 4, dividing N/4 (the host picks it).
override V: u32 = 4u;
// The coupled model (disorder dual): the force comes from `force`, V = ½φ·force
// (λ = 0, φ₀ = 0); otherwise `force` is a placeholder that is never read.
override COUPLED: bool = false;
// Rows per block (N is a multiple of 4, so blocks never straddle the wrap).
const B: u32 = 4u;

// One row segment: V ≤ 4 vec4s (members past V stay zero and fold away).
struct Seg {
    v0: vec4<f32>,
    v1: vec4<f32>,
    v2: vec4<f32>,
    v3: vec4<f32>,
}

// A block: the B = 4 row segments of one plane.
struct Blk {
    s0: Seg,
    s1: Seg,
    s2: Seg,
    s3: Seg,
}

fn load_seg(i: u32) -> Seg {
    var s = Seg(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    s.v0 = phi_in[i];
    if (V > 1u) {
        s.v1 = phi_in[i + 1u];
    }
    if (V > 2u) {
        s.v2 = phi_in[i + 2u];
        s.v3 = phi_in[i + 3u];
    }
    return s;
}

// The block whose first row segment starts at vec4 i; rows are nv vec4s apart.
fn load_blk(i: u32, nv: u32) -> Blk {
    return Blk(load_seg(i), load_seg(i + nv), load_seg(i + 2u * nv), load_seg(i + 3u * nv));
}

fn add3(a: Seg, b: Seg, c: Seg, d: Seg) -> Seg {
    return Seg(a.v0 + b.v0 + c.v0 + d.v0, a.v1 + b.v1 + c.v1 + d.v1, a.v2 + b.v2 + c.v2 + d.v2, a.v3 + b.v3 + c.v3 + d.v3);
}

// The unit at the four sites of vec4 `i`: c holds them, l and r the vec4s left and
// right of c in its row, r1 and r2 the sums of the y- and z-neighbours at distance
// 1 and 2 (r2 unused by the 7-point stencil); pot is the field's potential.
// Returns the sites' energy sums.
fn unit4(i: u32, c: vec4<f32>, l: vec4<f32>, r: vec4<f32>, r1: vec4<f32>, r2: vec4<f32>, pot: vec4<f32>, store: bool) -> vec4<f32> {
    let ring1 = r1 + vec4<f32>(l.w, c.xyz) + vec4<f32>(c.yzw, r.x);
    var lap: vec4<f32>;
    if (STENCIL == 4u) {
        let ring2 = r2 + vec4<f32>(l.zw, c.xy) + vec4<f32>(c.zw, r.xy);
        lap = (4.0 / 3.0) * ring1 - (1.0 / 12.0) * ring2 - 7.5 * c;
    } else {
        lap = ring1 - 6.0 * c;
    }
    if (COUPLED) {
        let f = force[i];
        let pnew = pi[i] + p.coef.x * lap - p.coef.y * f;
        if (store) {
            pi[i] = pnew;
            phi_out[i] = c + p.coef.z * pnew;
            return energy_site4_v(c, lap, pnew, p.coef.w, pot.w, 0.5 * c * f);
        }
        return vec4<f32>(0.0);
    }
    let pnew = pi[i] + p.coef.x * lap - p.coef.y * lattice_dv4(c, pot);
    if (store) {
        pi[i] = pnew;
        phi_out[i] = c + p.coef.z * pnew;
        return energy_site4(c, lap, pnew, p.coef.w, pot);
    }
    return vec4<f32>(0.0);
}

// The unit along one row segment starting at vec4 i; l and r flank it. Returns the
// segment's energy sums.
fn unit_seg(i: u32, c: Seg, l: vec4<f32>, r: vec4<f32>, r1: Seg, r2: Seg, pot: vec4<f32>, store: bool) -> vec4<f32> {
    if (V == 1u) {
        return unit4(i, c.v0, l, r, r1.v0, r2.v0, pot, store);
    } else if (V == 2u) {
        return unit4(i, c.v0, l, c.v1, r1.v0, r2.v0, pot, store) + unit4(i + 1u, c.v1, c.v0, r, r1.v1, r2.v1, pot, store);
    }
    return unit4(i, c.v0, l, c.v1, r1.v0, r2.v0, pot, store) + unit4(i + 1u, c.v1, c.v0, c.v2, r1.v1, r2.v1, pot, store)
        + unit4(i + 2u, c.v2, c.v1, c.v3, r1.v2, r2.v2, pot, store) + unit4(i + 3u, c.v3, c.v2, r, r1.v3, r2.v3, pot, store);
}

@compute @workgroup_size(WG)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = p.n;
    let nv = n / 4u;
    let spr = nv / V;
    let total = spr * (n / B);
    let raw = gid.x + gid.y * nwg.x * WG;
    let store = raw < total;
    let inv = min(raw, total - 1u);
    let yb = inv / spr;
    let xs = (inv - yb * spr) * V;
    let y = yb * B;
    let plane = nv * n;
    let volume = plane * n;
    let pot = lattice_field_pot(fields[wid.z], p.pot);
    // Offsets within a plane of this field, in vec4s: the block, the vec4s
    // flanking its first row, and the rows just outside it.
    let fo = wid.z * volume;
    let o = fo + y * nv + xs;
    let oxl = fo + y * nv + select(xs - 1u, nv - 1u, xs == 0u);
    let oxr = fo + y * nv + select(xs + V, 0u, xs + V == nv);
    let om1 = fo + ((y + n - 1u) % n) * nv + xs;
    let op1 = fo + ((y + B) % n) * nv + xs;
    let om2 = fo + ((y + n - 2u) % n) * nv + xs;
    let op2 = fo + ((y + B + 1u) % n) * nv + xs;

    let zs = Seg(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var zm2 = Blk(zs, zs, zs, zs);
    var zp2 = zm2;
    if (STENCIL == 4u) {
        zm2 = load_blk((n - 2u) * plane + o, nv);
        zp2 = load_blk(2u * plane + o, nv);
    }
    var zm1 = load_blk((n - 1u) * plane + o, nv);
    var c = load_blk(o, nv);
    var zp1 = load_blk(plane + o, nv);
    // The next plane to enter the pipeline.
    var lead = select(2u, 3u, STENCIL == 4u) * plane;
    lead = select(lead, lead - volume, lead >= volume);
    var base = 0u;
    var e = vec4<f32>(0.0);
    for (var z = 0u; z < n; z = z + 1u) {
        let ym1 = load_seg(base + om1);
        let yp1 = load_seg(base + op1);
        var ym2 = zs;
        var yp2 = zs;
        if (STENCIL == 4u) {
            ym2 = load_seg(base + om2);
            yp2 = load_seg(base + op2);
        }
        let i = base + o;
        let il = base + oxl;
        let ir = base + oxr;
        e = e + unit_seg(i, c.s0, phi_in[il], phi_in[ir], add3(ym1, c.s1, zm1.s0, zp1.s0), add3(ym2, c.s2, zm2.s0, zp2.s0), pot, store);
        e = e + unit_seg(i + nv, c.s1, phi_in[il + nv], phi_in[ir + nv], add3(c.s0, c.s2, zm1.s1, zp1.s1), add3(ym1, c.s3, zm2.s1, zp2.s1), pot, store);
        e = e + unit_seg(i + 2u * nv, c.s2, phi_in[il + 2u * nv], phi_in[ir + 2u * nv], add3(c.s1, c.s3, zm1.s2, zp1.s2), add3(c.s0, yp1, zm2.s2, zp2.s2), pot, store);
        e = e + unit_seg(i + 3u * nv, c.s3, phi_in[il + 3u * nv], phi_in[ir + 3u * nv], add3(c.s2, yp1, zm1.s3, zp1.s3), add3(c.s1, yp2, zm2.s3, zp2.s3), pot, store);
        zm2 = zm1;
        zm1 = c;
        c = zp1;
        if (STENCIL == 4u) {
            zp1 = zp2;
            zp2 = load_blk(lead + o, nv);
        } else {
            zp1 = load_blk(lead + o, nv);
        }
        base = base + plane;
        lead = lead + plane;
        lead = select(lead, 0u, lead == volume);
    }
    energy_store(lid, lattice_wg_index(wid, nwg), e);
}
