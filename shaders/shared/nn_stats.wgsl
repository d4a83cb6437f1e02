// Per-member record ring. Mirrors `StatsUniform` in src/nn/layout.rs.
// One slot holds, for E members and N points (basis rows):
//   [0, E·N) mode amplitudes c_{e,b} = u_bᵀ(f_e − y) at e·N + b
//   · [E·N, 2E·N) outputs f_{e,i} at E·N + e·N + i · [2E·N, 2E·N + E) member losses.
// The host sums them in f64: the ensemble statistics are then sums over members of
// per-member values, so shards and devices merge exactly (see src/nn/stats.rs).

override WG: u32 = 64u;

struct Stats {
    n_points: u32,
    members: u32,
    slot: u32,
    record_size: u32,
}
