//! How an ensemble is laid out on an adapter: members per parameter chunk and per
//! scratch sub-chunk, the fused path, the record ring and the NTK buffer, and the
//! refusals of what cannot fit. A pure function of the spec, the number of points
//! and the adapter's limits, checked before anything is allocated.

use super::{
    EnsembleSpec, FORWARD_BLOCK, MAX_FUSED_INPUT, MAX_FUSED_POINTS, NnError, RECORD_SLOTS,
    RING_BYTES,
};
use crate::gpu::{GpuContext, GpuError};
use crate::nn::layout::record_size;

/// What the sizing needs to know about the adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdapterLimits {
    /// Largest storage binding in bytes (`GpuContext::max_binding`).
    pub max_binding: u64,
    /// Workgroups per dimension of one dispatch.
    pub max_groups: u32,
    /// Memory the adapter can use, when known (CPU adapters: the host's).
    pub device_memory: Option<u64>,
    /// Whether shaders get subgroups of at least 8 lanes (the fused depth-1 kernels
    /// share staged rows through subgroup broadcasts).
    pub subgroups: bool,
}

impl AdapterLimits {
    pub fn of(ctx: &GpuContext) -> Self {
        AdapterLimits {
            max_binding: ctx.max_binding(),
            max_groups: ctx.limits.max_compute_workgroups_per_dimension,
            device_memory: device_memory(ctx),
            subgroups: ctx.has_subgroups() && ctx.adapter.min_subgroup_size >= 8,
        }
    }
}

/// The sizes `Ensemble::new` allocates and records its op lists with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sizing {
    /// P: floats per member in the parameter buffers.
    pub params_per_member: usize,
    /// Bytes of one member's parameters (4·P).
    pub member_bytes: u64,
    /// Bytes of one member's activations of one hidden layer (4·N·n).
    pub act_bytes: u64,
    /// Members per parameter buffer.
    pub per_chunk: usize,
    /// Members per sub-chunk of the scratch activations (generic path and NTK).
    pub scratch_members: usize,
    /// Whether the fused one-hidden-layer kernels are in use.
    pub fused: bool,
    /// Neuron blocks of the fused forward pass (1 on the generic path).
    pub blocks: usize,
    /// Floats per ring slot, E·(2N + 1).
    pub slot_floats: usize,
    /// Records per read-back: `RECORD_SLOTS`, or fewer when the ring is shorter.
    pub slots: usize,
    /// Whether the NTK buffer holds one N×N per member (else one sum per sub-chunk
    /// position).
    pub ntk_members: bool,
}

impl Sizing {
    /// The sizes of `spec` on `points` points, or the first refusal.
    pub fn new(
        spec: &EnsembleSpec,
        points: usize,
        limits: &AdapterLimits,
    ) -> Result<Self, NnError> {
        let shape = spec.shape;
        if !shape.width.is_multiple_of(4) {
            return Err(NnError::Invalid(format!(
                "--width must be a multiple of 4 (got {}): the kernels read rows as vec4",
                shape.width
            )));
        }
        let e = spec.ensemble;
        let p = shape.params_per_member();
        let max = limits.max_binding;
        let member_bytes = 4 * p as u64;
        if member_bytes > max {
            return Err(GpuError::TooLarge {
                what: format!("one member's {p} parameters"),
                bytes: member_bytes,
                limit: max,
                hint: "reduce --width or --depth".into(),
            }
            .into());
        }
        // The fused forward pass dispatches (blocks × members) groups along x: a
        // chunk stays within the per-dimension limit (E = 2²¹ at width 8 was a raw
        // validation error).
        let max_dim = limits.max_groups as usize;
        let forward_blocks = shape.width.div_ceil(FORWARD_BLOCK).max(1);
        let per_chunk = ((max / member_bytes) as usize)
            .min(e)
            .min(spec.chunk.unwrap_or(usize::MAX))
            .min((max_dim / forward_blocks).max(1))
            .max(1);
        // Per-member activation tensor of one hidden layer: N·n floats.
        let act_bytes = 4 * (points * shape.width) as u64;
        if act_bytes > max {
            return Err(GpuError::TooLarge {
                what: format!("one member's activations on {points} points"),
                bytes: act_bytes,
                limit: max,
                hint: "reduce --points or --width".into(),
            }
            .into());
        }
        // Keep all scratch within ~1 GiB whatever the depth.
        let budget = (1u64 << 30) / (3 * shape.depth as u64);
        // The NTK buffer holds one N×N sum per sub-chunk position, so it bounds S too.
        let ntk_bytes = 4 * (points * points) as u64;
        let scratch_members =
            ((max.min(budget) / act_bytes).min(max / ntk_bytes) as usize).clamp(1, per_chunk);
        let fused = limits.subgroups
            && shape.depth == 1
            && shape.input_dim <= MAX_FUSED_INPUT
            && points <= MAX_FUSED_POINTS;
        let blocks = if fused {
            shape.width.div_ceil(FORWARD_BLOCK)
        } else {
            1
        };
        for (what, n) in [
            ("ensemble × points × blocks", e * points * blocks),
            ("parameters in one chunk", per_chunk * p),
        ] {
            if n >= u32::MAX as usize / 2 {
                return Err(NnError::Invalid(format!(
                    "{what} = {n} exceeds the 32-bit index range; reduce --ensemble or --width"
                )));
            }
        }

        // Refuse what cannot fit before allocating anything: parameters and velocities
        // (2·4·P bytes per member) plus per-member outputs and NTK slots, and the
        // shared scratch activations.
        if let Some(budget) = limits.device_memory {
            let per_member = 8 * p as u64
                + f32s(points * (4 + blocks))
                + if e * points * points * 4 <= max as usize {
                    f32s(points * points)
                } else {
                    0
                };
            let fixed = 3 * shape.depth as u64 * scratch_members as u64 * act_bytes
                + 2 * max.min(RING_BYTES);
            let need = per_member * e as u64 + fixed;
            if need > budget {
                let fits = budget.saturating_sub(fixed) / per_member;
                let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
                return Err(NnError::Invalid(format!(
                    "--ensemble {e} at --depth {} --width {} needs {:.1} GiB of device memory, \
                     more than the adapter's {:.1} GiB; the largest ensemble that fits is {fits}",
                    shape.depth,
                    shape.width,
                    gib(need),
                    gib(budget)
                )));
            }
        }
        let k = spec.member_traces;
        if k > e {
            return Err(NnError::Invalid(format!(
                "--member-traces {k} exceeds --ensemble {e}: at most every member can be traced"
            )));
        }
        // The ring holds `slots` records of every member's values in one binding:
        // the host sums them in f64 (see nn::stats). One read-back per `slots`
        // records, never one per step; only a single record past a binding is refused.
        let slot_floats = record_size(points, e);
        let slot_bytes = f32s(slot_floats);
        let ring_cap = max.min(RING_BYTES);
        if slot_bytes > ring_cap {
            return Err(GpuError::TooLarge {
                what: format!("one record of {e} members on {points} points"),
                bytes: slot_bytes,
                limit: ring_cap,
                hint: "split the ensemble with --shard or --devices".into(),
            }
            .into());
        }
        let slots = ((ring_cap / slot_bytes) as usize)
            .min(spec.record_slots.unwrap_or(RECORD_SLOTS))
            .clamp(1, RECORD_SLOTS);
        // One NTK per member when all fit one binding: members' Θ_e differ by
        // O(n^{-1/2}) and drift by O(n^{-1/2}), which the mean (moving O(1/n)) hides.
        // Otherwise sums per sub-chunk position, added up on the host (the mean only).
        let ntk_members =
            f32s(e * points * points) <= max.min(spec.ntk_member_bytes.unwrap_or(u64::MAX));
        Ok(Sizing {
            params_per_member: p,
            member_bytes,
            act_bytes,
            per_chunk,
            scratch_members,
            fused,
            blocks,
            slot_floats,
            slots,
            ntk_members,
        })
    }

    /// N×N slots of the NTK buffer: one per member, or one per sub-chunk position.
    pub fn ntk_slots(&self, ensemble: usize) -> usize {
        if self.ntk_members {
            ensemble
        } else {
            self.scratch_members
        }
    }

    /// (first member, members) of every parameter chunk of `ensemble` members.
    pub fn chunks(&self, ensemble: usize) -> Vec<(usize, usize)> {
        let mut chunks = Vec::new();
        let mut base = 0;
        while base < ensemble {
            let members = self.per_chunk.min(ensemble - base);
            chunks.push((base, members));
            base += members;
        }
        chunks
    }
}

fn f32s(n: usize) -> u64 {
    4 * n as u64
}

/// Memory a CPU adapter can use: the host's physical memory. None on GPUs, whose
/// memory wgpu does not report (an allocation past it fails as a device error).
fn device_memory(ctx: &GpuContext) -> Option<u64> {
    if !ctx.is_cpu() {
        return None;
    }
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::layout::NetShape;
    use crate::theory::{Activation, Parametrization};

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    /// Lavapipe's limits: 128 MiB bindings, 65535 groups per dimension.
    fn lavapipe(memory: Option<u64>) -> AdapterLimits {
        AdapterLimits {
            max_binding: 128 * MIB,
            max_groups: 65535,
            device_memory: memory,
            subgroups: true,
        }
    }

    fn spec(width: usize, depth: usize, ensemble: usize) -> EnsembleSpec {
        EnsembleSpec {
            shape: NetShape {
                input_dim: 1,
                width,
                depth,
            },
            activation: Activation::Erf,
            parametrization: Parametrization::Ntk,
            sigma_w: 1.0,
            sigma_b: 0.1,
            ensemble,
            lr: 0.01,
            momentum: 0.0,
            seed: 1,
            chunk: None,
            first_member: 0,
            member_traces: 0,
            record_slots: None,
            ntk_member_bytes: None,
        }
    }

    fn refusal(spec: &EnsembleSpec, points: usize, limits: &AdapterLimits) -> String {
        Sizing::new(spec, points, limits).unwrap_err().to_string()
    }

    #[test]
    fn without_subgroups_depth_1_takes_the_generic_path() {
        // The fused kernels share staged rows through subgroup broadcasts.
        let no_subgroups = AdapterLimits {
            subgroups: false,
            ..lavapipe(None)
        };
        let s = Sizing::new(&spec(4096, 1, 8), 64, &no_subgroups).unwrap();
        assert!(!s.fused);
        assert_eq!(s.blocks, 1);
    }

    #[test]
    fn lavapipe_width_4096_ensemble_1024_on_64_points() {
        let s = Sizing::new(&spec(4096, 1, 1024), 64, &lavapipe(Some(64 * GIB))).unwrap();
        // P = 4096 + 4096 (input layer) + 4096 + 1 (output), padded to 12296.
        assert_eq!(s.params_per_member, 12296);
        assert_eq!(s.member_bytes, 49184);
        assert_eq!(s.act_bytes, MIB);
        // 128 MiB / 49184 B = 2728 members per binding: the whole ensemble.
        assert_eq!(s.per_chunk, 1024);
        assert_eq!(s.chunks(1024), vec![(0, 1024)]);
        // 128 MiB of 1 MiB activations.
        assert_eq!(s.scratch_members, 128);
        assert!(s.fused);
        assert_eq!(s.blocks, 16);
        assert_eq!(s.slot_floats, 1024 * 129);
        // 128 MiB / (4·1024·129 B) = 254 records per read-back.
        assert_eq!(s.slots, 254);
        assert!(s.ntk_members);
        assert_eq!(s.ntk_slots(1024), 1024);
    }

    #[test]
    fn a_tiny_binding_forces_one_member_per_chunk() {
        // P = 193 floats padded to 200, 800 bytes: one member per 1000-byte binding.
        let limits = AdapterLimits {
            max_binding: 1000,
            max_groups: 65535,
            device_memory: None,
            subgroups: true,
        };
        let s = Sizing::new(&spec(64, 1, 8), 2, &limits).unwrap();
        assert_eq!(s.member_bytes, 800);
        assert_eq!(s.per_chunk, 1);
        assert_eq!(s.scratch_members, 1);
        assert_eq!(s.chunks(8), (0..8).map(|b| (b, 1)).collect::<Vec<_>>());
        // 8·5 floats per record: 6 in 1000 bytes.
        assert_eq!(s.slots, 6);
        let refused = refusal(&spec(64, 1, 8), 4, &limits);
        assert_eq!(
            refused,
            "one member's activations on 4 points needs 1024 bytes in one buffer, but the \
             adapter allows 1000 bytes (reduce --points or --width)"
        );
        let limits = AdapterLimits {
            max_binding: 700,
            ..limits
        };
        assert_eq!(
            refusal(&spec(64, 1, 8), 2, &limits),
            "one member's 200 parameters needs 800 bytes in one buffer, but the adapter \
             allows 700 bytes (reduce --width or --depth)"
        );
    }

    #[test]
    fn chunk_and_groups_bound_the_members_per_chunk() {
        let s = Sizing::new(
            &EnsembleSpec {
                chunk: Some(3),
                ..spec(64, 1, 8)
            },
            4,
            &lavapipe(None),
        )
        .unwrap();
        assert_eq!(s.chunks(8), vec![(0, 3), (3, 3), (6, 2)]);
        // Width 4096 dispatches 16 blocks per member: 65535 / 16 members per chunk.
        let s = Sizing::new(&spec(4096, 1, 5000), 8, &lavapipe(None)).unwrap();
        assert_eq!(s.per_chunk, 2728);
        let wide = AdapterLimits {
            max_binding: 4 * GIB,
            ..lavapipe(None)
        };
        let s = Sizing::new(&spec(4096, 1, 5000), 8, &wide).unwrap();
        assert_eq!(s.per_chunk, 4095);
        assert_eq!(s.chunks(5000), vec![(0, 4095), (4095, 905)]);
    }

    #[test]
    fn the_32_bit_index_refusals() {
        // 2¹⁸ members × 512 points × 16 blocks = 2³¹.
        assert_eq!(
            refusal(&spec(4096, 1, 1 << 18), 512, &lavapipe(None)),
            "ensemble × points × blocks = 2147483648 exceeds the 32-bit index range; \
             reduce --ensemble or --width"
        );
        // A 16 GiB binding and no group limit: 349297 members of 12296 floats.
        let huge = AdapterLimits {
            max_binding: 16 * GIB,
            max_groups: u32::MAX,
            device_memory: None,
            subgroups: true,
        };
        assert_eq!(
            refusal(&spec(4096, 1, 1 << 20), 8, &huge),
            "parameters in one chunk = 4294955912 exceeds the 32-bit index range; \
             reduce --ensemble or --width"
        );
    }

    #[test]
    fn the_device_memory_refusal_names_the_largest_ensemble() {
        // Per member 119840 bytes, fixed 640 MiB (scratch 384, ring and staging 256).
        let limits = lavapipe(Some(GIB));
        assert!(Sizing::new(&spec(4096, 1, 3359), 64, &limits).is_ok());
        assert_eq!(
            refusal(&spec(4096, 1, 4096), 64, &limits),
            "--ensemble 4096 at --depth 1 --width 4096 needs 1.1 GiB of device memory, \
             more than the adapter's 1.0 GiB; the largest ensemble that fits is 3359"
        );
        assert!(Sizing::new(&spec(4096, 1, 3360), 64, &limits).is_err());
        // Unknown memory (GPUs): no refusal.
        assert!(Sizing::new(&spec(4096, 1, 4096), 64, &lavapipe(None)).is_ok());
    }

    #[test]
    fn ring_slots_are_capped_at_256_and_at_128_mib() {
        let s = Sizing::new(&spec(64, 1, 16), 8, &lavapipe(None)).unwrap();
        assert_eq!(s.slots, RECORD_SLOTS);
        let few = EnsembleSpec {
            record_slots: Some(3),
            ..spec(64, 1, 16)
        };
        assert_eq!(Sizing::new(&few, 8, &lavapipe(None)).unwrap().slots, 3);
        let none = EnsembleSpec {
            record_slots: Some(0),
            ..spec(64, 1, 16)
        };
        assert_eq!(Sizing::new(&none, 8, &lavapipe(None)).unwrap().slots, 1);
        // A 2 GiB binding still rings 128 MiB: 254 records of 1024 members on 64 points.
        let wide = AdapterLimits {
            max_binding: 2 * GIB,
            ..lavapipe(None)
        };
        assert_eq!(
            Sizing::new(&spec(4096, 1, 1024), 64, &wide).unwrap().slots,
            254
        );
        // One record past 128 MiB is refused.
        assert_eq!(
            refusal(&spec(4096, 1, 1 << 20), 64, &wide),
            "one record of 1048576 members on 64 points needs 541065216 bytes in one \
             buffer, but the adapter allows 134217728 bytes (split the ensemble with \
             --shard or --devices)"
        );
    }

    #[test]
    fn member_ntks_fall_back_to_position_sums_past_the_cap() {
        let capped = EnsembleSpec {
            ntk_member_bytes: Some(0),
            ..spec(64, 2, 16)
        };
        let s = Sizing::new(&capped, 8, &lavapipe(None)).unwrap();
        assert!(!s.ntk_members);
        assert!(!s.fused);
        assert_eq!(s.blocks, 1);
        assert_eq!(s.ntk_slots(16), s.scratch_members);
        assert_eq!(s.scratch_members, 16);
    }

    #[test]
    fn refusals_come_in_order() {
        let bad = EnsembleSpec {
            member_traces: 9,
            ..spec(66, 1, 8)
        };
        assert_eq!(
            refusal(&bad, 4, &lavapipe(None)),
            "--width must be a multiple of 4 (got 66): the kernels read rows as vec4"
        );
        let traced = EnsembleSpec {
            member_traces: 9,
            ..spec(64, 1, 8)
        };
        assert_eq!(
            refusal(&traced, 4, &lavapipe(None)),
            "--member-traces 9 exceeds --ensemble 8: at most every member can be traced"
        );
    }
}
