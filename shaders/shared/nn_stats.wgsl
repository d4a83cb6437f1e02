// Ensemble statistics records. Mirrors `StatsUniform` in src/nn/layout.rs.
// One record (slot) holds, for N points and N basis vectors:
//   [0, N) mean f · [N, 2N) variance of f · [2N, 3N) u_bᵀ(μ − y) · [3N, 4N) ⟨(u_bᵀδf)²⟩
//   · 4N loss mean · 4N+1 loss std.

override WG: u32 = 64u;

struct Stats {
    n_points: u32,
    members: u32,
    slot: u32,
    record_size: u32,
}
