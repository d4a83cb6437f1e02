//! The ensemble's compute kernels: one table (shader, bindings, constants, when it is
//! built), indexed by the `K` handles the op lists carry, and the tile shapes of the
//! register-tiled kernels.

use super::{MAX_FUSED_INPUT, WG};
use crate::gpu::{Binding, GpuContext, GpuError, Kernel};
use crate::nn::layout::NetShape;
use crate::shader_activation::act_code;
use crate::theory::Activation;
use Binding::{Read as R, ReadWrite as W, Uniform as U};

/// Tile shapes of the register-tiled hidden-to-hidden kernels (dense_forward,
/// dense_backward, dense_gram), pipeline constants chosen per adapter type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiles {
    /// Whether the dense kernels run at all: they share rows through subgroups of at
    /// least 8 lanes; without those the 4×4-tiled `hidden_*` kernels and `ntk_gram` do.
    pub dense: bool,
    /// Whether the dense kernels move W (and v) as packed vec4<u64> (8 floats per
    /// component loop of a CPU driver's storage access), with the hidden-to-hidden W
    /// and v stored column-blocked (`layout::Blocked`): CPU adapters with 64-bit
    /// integers, at widths that are multiples of 8, when the update is fused (every
    /// point in one tile), so that only `dense_forward_x8` and `dense_backward_x8`
    /// touch those layers' weights.
    pub packed: bool,
    /// Whether subgroups of at least 8 lanes exist: the fused depth-1 kernels share
    /// staged rows through broadcasts (the generic path runs without them).
    pub subgroups: bool,
    /// Invocations per workgroup along the neurons (4 neurons each).
    pub wg: u32,
    /// Points per register tile (8 or 16); the fused update needs N ≤ `points`.
    pub points: u32,
    /// Invocations per workgroup of the Gram kernel (one per point j).
    pub gram_wg: u32,
}

/// Largest point tile the dense kernels unroll into registers.
pub const MAX_TILE_POINTS: usize = 16;

impl Tiles {
    /// CPU drivers run a workgroup as SIMD loops over 8-wide subgroups, where every
    /// storage load is a per-lane scalar loop while a subgroup broadcast is a register
    /// shuffle: 16-point tiles make each streamed weight feed 16 multiply-adds, and
    /// registers spill only to cache-resident stack. GPUs get 8-point tiles (the
    /// accumulators stay in registers).
    /// Depth 1 has no hidden-to-hidden layer, so its dense kernels are not built.
    /// `subgroups`: subgroups of at least 8 lanes (`AdapterLimits::subgroups`).
    pub fn for_adapter(
        is_cpu: bool,
        int64: bool,
        subgroups: bool,
        shape: NetShape,
        points: usize,
    ) -> Self {
        let cap = if is_cpu { MAX_TILE_POINTS } else { 8 };
        let tp = if points <= 8 { 8 } else { cap };
        let dense = subgroups && shape.depth >= 2;
        Tiles {
            subgroups,
            dense,
            packed: dense && is_cpu && int64 && shape.width.is_multiple_of(8) && points <= tp,
            wg: 64,
            points: tp as u32,
            gram_wg: points.next_multiple_of(8).clamp(8, 64) as u32,
        }
    }
}

/// Which pipeline constants a kernel is built with.
#[derive(Clone, Copy, Debug)]
enum Consts {
    /// WG.
    Plain,
    /// WG, ACT.
    WithAct,
    /// The fused forward pass: WG, ACT, IN_DIM, FWD_WG.
    FusedForward,
    /// The fused update: WG, ACT, IN_DIM.
    FusedUpdate,
    /// Tiles::wg as WG, ACT, TP.
    DenseForward,
    /// Tiles::wg as WG, TP.
    Dense,
    /// Tiles::gram_wg as WG, TP.
    Gram,
}

impl Consts {
    fn values(
        self,
        act: Activation,
        input_dim: usize,
        points: usize,
        tiles: Tiles,
    ) -> Vec<(&'static str, f64)> {
        let a = act_code(act) as f64;
        let wg = WG as f64;
        let d = input_dim.min(MAX_FUSED_INPUT) as f64;
        let tp = tiles.points as f64;
        match self {
            Consts::Plain => vec![("WG", wg)],
            Consts::WithAct => vec![("WG", wg), ("ACT", a)],
            Consts::FusedForward => vec![
                ("WG", wg),
                ("ACT", a),
                ("IN_DIM", d),
                ("FWD_WG", forward_wg(points) as f64),
            ],
            Consts::FusedUpdate => vec![("WG", wg), ("ACT", a), ("IN_DIM", d)],
            Consts::DenseForward => vec![("WG", tiles.wg as f64), ("ACT", a), ("TP", tp)],
            Consts::Dense => vec![("WG", tiles.wg as f64), ("TP", tp)],
            Consts::Gram => vec![("WG", tiles.gram_wg as f64), ("TP", tp)],
        }
    }
}

/// When a kernel is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    Always,
    /// Only with `Tiles::dense`.
    Dense,
    /// Only with `Tiles::packed`.
    Packed,
    /// Only with `Tiles::subgroups`.
    Subgroups,
}

/// The shader a kernel runs, for profiles.
pub(super) fn name(k: K) -> &'static str {
    TABLE[k as usize].name
}

/// One row of the kernel table.
struct Def {
    /// Shader under shaders/, without `.wgsl`.
    name: &'static str,
    bindings: &'static [Binding],
    consts: Consts,
    when: When,
}

/// Declares `K` (one variant per row, its discriminant the row's index) and `TABLE`
/// from one list, so a kernel is added by adding its row.
macro_rules! kernel_table {
    ($($k:ident: $name:literal, $bindings:expr, $consts:ident, $when:ident;)*) => {
        /// A kernel of `TABLE`, by index: what an op records instead of a reference.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(super) enum K {
            $($k,)*
        }

        /// Every kernel, in `K` order.
        const TABLE: &[Def] = &[$(Def {
            name: $name,
            bindings: $bindings,
            consts: Consts::$consts,
            when: When::$when,
        },)*];
    };
}

kernel_table! {
    Init: "nn/init_params", &[U, W], Plain, Always;
    ForwardHidden1: "nn/forward_hidden1", &[U, R, R, W], FusedForward, Subgroups;
    Residual: "nn/residual", &[U, R, R, R, W, W, W], Plain, Always;
    UpdateHidden1: "nn/update_hidden1", &[U, W, W, R, R], FusedUpdate, Subgroups;
    LayerForward: "nn/layer_forward", &[U, R, R, W, W], WithAct, Always;
    OutputForward: "nn/output_forward", &[U, R, R, W], Plain, Always;
    LayerBackward: "nn/layer_backward", &[U, R, R, R, W], Plain, Always;
    GradUpdate: "nn/grad_update", &[U, W, W, R, R], Plain, Always;
    HiddenForward: "nn/hidden_forward", &[U, R, R, W, W], WithAct, Always;
    HiddenBackward: "nn/hidden_backward", &[U, R, R, R, W], Plain, Always;
    HiddenGradUpdate: "nn/hidden_grad_update", &[U, W, W, R, R], Plain, Always;
    MemberRecord: "nn/member_record", &[U, R, R, R, R, W], Plain, Always;
    NtkGram: "nn/ntk_gram", &[U, R, R, R, W], Plain, Always;
    DenseForward: "nn/dense_forward", &[U, R, R, W, W], DenseForward, Dense;
    DenseForwardX8: "nn/dense_forward_x8", &[U, R, R, W, W], DenseForward, Packed;
    DenseBackward: "nn/dense_backward", &[U, W, W, R, R, R, W], Dense, Dense;
    DenseBackwardX8: "nn/dense_backward_x8", &[U, W, W, R, R, R, W], Dense, Packed;
    DenseGram: "nn/dense_gram", &[U, R, R, R, W], Gram, Dense;
}

/// The built kernels, indexed by `K` (None: not built on this adapter).
pub(super) struct Kernels(Vec<Option<Kernel>>);

impl Kernels {
    pub(super) fn new(
        ctx: &GpuContext,
        act: Activation,
        input_dim: usize,
        points: usize,
        tiles: Tiles,
    ) -> Result<Self, GpuError> {
        TABLE
            .iter()
            .map(|def| {
                let built = match def.when {
                    When::Always => true,
                    When::Dense => tiles.dense,
                    When::Packed => tiles.packed,
                    When::Subgroups => tiles.subgroups,
                };
                built
                    .then(|| {
                        let constants = def.consts.values(act, input_dim, points, tiles);
                        Kernel::new(ctx, def.name, def.bindings, &constants)
                    })
                    .transpose()
            })
            .collect::<Result<_, _>>()
            .map(Kernels)
    }

    pub(super) fn get(&self, k: K) -> &Kernel {
        self.0[k as usize].as_ref().expect("dense kernels built")
    }
}

/// Workgroup size of the fused forward pass: one invocation per two points, in
/// whole SIMD groups of 8, at most 256.
fn forward_wg(points: usize) -> u32 {
    (points.div_ceil(2).next_multiple_of(8)).clamp(8, 256) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_row_per_handle_in_order() {
        assert_eq!(TABLE.len(), K::DenseGram as usize + 1);
        assert_eq!(TABLE[K::Init as usize].name, "nn/init_params");
        assert_eq!(TABLE[K::MemberRecord as usize].name, "nn/member_record");
        assert_eq!(TABLE[K::DenseGram as usize].name, "nn/dense_gram");
        let dense: Vec<_> = TABLE.iter().filter(|d| d.when == When::Dense).collect();
        assert_eq!(dense.len(), 3);
        // Every binding list starts with the uniform.
        assert!(TABLE.iter().all(|d| d.bindings[0] == U));
    }
}
