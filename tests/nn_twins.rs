//! Every ensemble kernel against its CPU twin (src/reference/nn.rs) on small sizes.

mod common;

use nncosmo_gpu::nn::data::Dataset;
use nncosmo_gpu::nn::engine::{Ensemble, EnsembleSpec, Record};
use nncosmo_gpu::nn::layout::{NetShape, layer_scales};
use nncosmo_gpu::reference::nn as twin;
use nncosmo_gpu::theory::{Activation, Parametrization};

fn check(depth: usize, width: usize, act: Activation, param: Parametrization) {
    check_on(&Dataset::ring(6, 0.3, 1.0), depth, width, act, param);
}

fn check_on(data: &Dataset, depth: usize, width: usize, act: Activation, param: Parametrization) {
    let ctx = common::ctx();
    let np = data.points();
    let n2 = np * np;
    let basis = common::fourier_basis(np);
    let shape = NetShape {
        input_dim: data.input_dim(),
        width,
        depth,
    };
    let spec = EnsembleSpec {
        shape,
        activation: act,
        parametrization: param,
        sigma_w: 1.2,
        sigma_b: 0.3,
        ensemble: 5,
        lr: 0.2,
        momentum: 0.8,
        seed: 42,
        chunk: Some(2),
        // Fewer traced members than the ensemble, across two parameter chunks.
        member_traces: 3,
        first_member: 0,
        record_slots: None,
        ntk_member_bytes: None,
    };
    let label = format!(
        "d {} depth {depth} width {width} {act:?} {param:?}",
        data.input_dim()
    );
    let ens = Ensemble::new(&ctx, &spec, data, &basis).unwrap();
    ens.initialize().unwrap();
    let sc = layer_scales(&shape, param, spec.sigma_w, spec.sigma_b);
    let mut params: Vec<Vec<f64>> = (0..5)
        .map(|m| twin::init_params(&shape, &sc, 42, m))
        .collect();
    // The draws are f32 Box–Muller: 2π·u rounded to f32 and the driver's cos and log
    // put up to ~1e-5 (in units of the largest |θ|) between a tail value and its f64
    // twin; a wrong member, counter or key is off by O(1).
    for (m, p) in params.iter().enumerate() {
        let e = common::rel_err(&ens.read_params(m).unwrap(), p);
        assert!(e < 5e-5, "{label}: init_params member {m}: {e}");
    }

    // NTK at initialisation: gram factorisation on the GPU vs J·Jᵀ on the CPU, for
    // every member (chunks of 2: slots must follow the global member index, not the
    // position within a chunk) and for the mean.
    let ntk_gpu = ens.measure_ntk().unwrap();
    let members = ntk_gpu.members.as_ref().expect("5·N² floats fit a binding");
    assert_eq!(members.len(), 5 * n2);
    let mut ntk_cpu = vec![0.0; n2];
    for (m, p) in params.iter().enumerate() {
        let th: Vec<f64> = twin::ntk(&shape, &sc, act, p, &data.x).concat();
        let e = common::rel_err(&members[m * n2..(m + 1) * n2], &th);
        assert!(e < 1e-4, "{label}: ntk_gram member {m}: {e}");
        for (acc, v) in ntk_cpu.iter_mut().zip(&th) {
            *acc += v / 5.0;
        }
    }
    let gpu32: Vec<f32> = ntk_gpu.sum.iter().map(|&v| (v / 5.0) as f32).collect();
    let e = common::rel_err(&gpu32, &ntk_cpu);
    assert!(e < 1e-4, "{label}: ntk_gram: {e}");

    let steps = 3;
    let recs = ens.run_segment(0, steps, &|_| true).unwrap();
    assert_eq!(recs.len(), steps + 1);
    let mut vel: Vec<Vec<f64>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
    for (s, rec) in recs.iter().enumerate() {
        assert_eq!(rec.step, s);
        let mut outs = Vec::new();
        let mut losses = Vec::new();
        for (p, v) in params.iter_mut().zip(vel.iter_mut()) {
            if s < steps {
                let (f, l) = twin::train_step(
                    &shape,
                    &sc,
                    act,
                    p,
                    v,
                    &data.x,
                    &data.y,
                    spec.lr,
                    spec.momentum,
                );
                outs.push(f);
                losses.push(l);
            } else {
                let f = twin::forward(&shape, &sc, act, p, &data.x).f;
                losses.push(twin::residual(&f, &data.y).1);
                outs.push(f);
            }
        }
        let (mean, var, lm, ls) = twin::stats_points(&outs, &losses);
        let (pm, pp) = twin::stats_modes(&outs, &mean, &data.y, &basis);
        for (what, a, b) in [
            ("mean", &rec.mean, &mean),
            ("var", &rec.var, &var),
            ("proj_mean", &rec.proj_mean, &pm),
            ("proj_power", &rec.proj_power, &pp),
        ] {
            let e = common::rel_err(a, b);
            assert!(e < 2e-4, "{label}: step {s} {what}: {e}");
        }
        let e = common::rel_err(&[rec.loss_mean, rec.loss_std], &[lm, ls]);
        assert!(e < 2e-4, "{label}: step {s} loss: {e}");
        let traces = twin::member_record(&outs[..3], &data.y, &basis);
        let e = common::rel_err(&rec.traces, &traces);
        assert!(e < 2e-4, "{label}: step {s} member_record: {e}");
    }
    for (m, p) in params.iter().enumerate() {
        let e = common::rel_err(&ens.read_params(m).unwrap(), p);
        assert!(
            e < 1e-4,
            "{label}: params after {steps} steps, member {m}: {e}"
        );
    }
}

#[test]
fn depth1_all_activations_both_parametrisations() {
    // width 300 spans two forward blocks of the fused path.
    for act in [
        Activation::Erf,
        Activation::Relu,
        Activation::Tanh,
        Activation::Identity,
    ] {
        check(1, 300, act, Parametrization::Ntk);
    }
    check(1, 40, Activation::Erf, Parametrization::Standard);
    check(1, 40, Activation::Tanh, Parametrization::Standard);
}

#[test]
fn depth2_generic_path() {
    for act in [
        Activation::Erf,
        Activation::Relu,
        Activation::Tanh,
        Activation::Identity,
    ] {
        check(2, 24, act, Parametrization::Ntk);
    }
    check(2, 24, Activation::Relu, Parametrization::Standard);
    check(3, 12, Activation::Erf, Parametrization::Standard);
}

/// [`check_on`] for each (points, depth, width, activation, parametrisation) on the
/// ring data set.
fn check_rings(cases: &[(usize, usize, usize, Activation, Parametrization)]) {
    for &(points, depth, width, act, param) in cases {
        check_on(&Dataset::ring(points, 0.3, 1.0), depth, width, act, param);
    }
}

#[test]
fn dense_kernels_ragged_tiles_depth3_both_parametrisations() {
    // The register-tiled hidden-to-hidden kernels (dense_forward, dense_backward with
    // the fused update, dense_gram) at widths that fill neither a 64-lane workgroup
    // nor a group of 8 lanes, with N = 6 and 13 ragged in tiles of 8 and 16 points, and
    // N = 20 past one tile (δ propagated tile by tile, then hidden_grad_update).
    use Activation::{Erf, Relu, Tanh};
    use Parametrization::{Ntk, Standard};
    check_rings(&[
        (13, 2, 36, Erf, Ntk),
        (13, 3, 20, Relu, Standard),
        (6, 3, 36, Tanh, Ntk),
        (20, 2, 12, Tanh, Standard),
        (20, 3, 8, Erf, Ntk),
    ]);
}

#[test]
fn packed_dense_kernels_ragged_tiles_depth3_both_parametrisations() {
    // Widths that are multiples of 8 take the packed kernels on CPU adapters with
    // 64-bit integers (W and v moved as vec4<u64>), here with lanes that fill neither
    // a workgroup nor a group of 8 (n/8 = 1, 3, 5), N ragged in tiles of 8 and 16,
    // and the bias update in both halves of a packed element (n/4 even and odd rows).
    // Their hidden-to-hidden W are stored in column blocks of 64: widths 72 and 136
    // end in a ragged block of 8 after one and two full ones.
    use Activation::{Erf, Relu, Tanh};
    use Parametrization::{Ntk, Standard};
    check_rings(&[
        (16, 2, 8, Erf, Ntk),
        (13, 3, 24, Relu, Standard),
        (6, 2, 40, Tanh, Ntk),
        (11, 3, 40, Erf, Standard),
        (9, 3, 72, Relu, Ntk),
        (7, 2, 136, Tanh, Standard),
    ]);
}

#[test]
fn wider_inputs_use_the_wide_packing_and_the_generic_path() {
    // d = 3..6 packs two vec4s per neuron in the fused kernels; d = 9 falls back to
    // the stored-activation path even at depth 1.
    for d in [3, 5, 6, 9] {
        check_on(
            &Dataset::teacher(6, d, 5),
            1,
            40,
            Activation::Erf,
            Parametrization::Ntk,
        );
    }
    check_on(
        &Dataset::teacher(6, 4, 5),
        2,
        16,
        Activation::Tanh,
        Parametrization::Standard,
    );
}

/// A small ensemble with K traced members, read back every `slots` records.
fn traced_run(members: usize, k: usize, slots: Option<usize>) -> Vec<Record> {
    let ctx = common::ctx();
    let data = Dataset::ring(8, 0.3, 1.0);
    let spec = EnsembleSpec {
        shape: NetShape {
            input_dim: 2,
            width: 64,
            depth: 1,
        },
        activation: Activation::Erf,
        parametrization: Parametrization::Ntk,
        sigma_w: 1.2,
        sigma_b: 0.3,
        ensemble: members,
        lr: 0.3,
        momentum: 0.8,
        seed: 7,
        chunk: None,
        member_traces: k,
        first_member: 0,
        record_slots: slots,
        ntk_member_bytes: None,
    };
    let ens = Ensemble::new(&ctx, &spec, &data, &common::fourier_basis(8)).unwrap();
    assert_eq!(ens.record_slots(), slots.unwrap_or(256));
    ens.initialize().unwrap();
    ens.run_segment(0, 6, &|_| true).unwrap()
}

#[test]
fn member_traces_reproduce_the_records_statistics() {
    let (e, n) = (40, 8);
    let all = traced_run(e, e, None);
    assert_eq!(all.len(), 7);
    // The records' projections are the host's one-pass f64 sums of the very amplitudes
    // the traces carry (every member is traced here). Against a two-pass f64 mean and
    // power of the traces, with u = 2⁻⁵³ and γ(m) = m·u/(1 − m·u): the mean differs by
    // at most 2γ(E+1)·mean|c| and the power, a difference of two O(mean c²) terms, by
    // 4γ(E+2)·mean c². A trace of the wrong member, or a record that skips one, errs by
    // O(|c|/E), 10¹³ times more.
    let gamma = |m: usize| {
        let mu = m as f64 * f64::EPSILON / 2.0;
        mu / (1.0 - mu)
    };
    for r in &all {
        assert_eq!(r.traces.len(), e * n);
        let c = |m: usize, b: usize| r.traces[m * n + b] as f64;
        for b in 0..n {
            let mean = (0..e).map(|m| c(m, b)).sum::<f64>() / e as f64;
            let abs = (0..e).map(|m| c(m, b).abs()).sum::<f64>() / e as f64;
            let sq = (0..e).map(|m| c(m, b).powi(2)).sum::<f64>() / e as f64;
            let power = (0..e).map(|m| (c(m, b) - mean).powi(2)).sum::<f64>() / e as f64;
            let tol = 2.0 * gamma(e + 1) * abs;
            assert!(
                (mean - r.proj_mean[b]).abs() <= tol,
                "step {} row {b}: traces' mean {mean} vs proj_mean {} (tol {tol:.2e})",
                r.step,
                r.proj_mean[b]
            );
            let tol = 4.0 * gamma(e + 2) * sq;
            assert!(
                (power - r.proj_power[b]).abs() <= tol,
                "step {} row {b}: traces' power {power} vs proj_power {} (tol {tol:.2e})",
                r.step,
                r.proj_power[b]
            );
        }
    }

    // Fewer traced members, read back every 3 records (7 records: three submissions):
    // the same seed trains the same members, so their traces and every statistic are
    // bit for bit those of the K = E run.
    for (k, slots) in [(5, Some(3)), (0, None)] {
        let few = traced_run(e, k, slots);
        assert_eq!(few.len(), all.len());
        for (a, b) in all.iter().zip(&few) {
            assert_eq!(
                Record {
                    traces: a.traces[..k * n].to_vec(),
                    ..a.clone()
                },
                *b,
                "K = {k}, step {}",
                a.step
            );
        }
    }
}

#[test]
fn teacher_labels_are_the_twin_network_on_the_teacher_inputs() {
    // The teacher's own depth-1 forward must be the twin's, bit for bit, so the data
    // set did not change when it stopped borrowing the twin.
    let d = 3;
    let data = Dataset::teacher(12, d, 9);
    let shape = NetShape {
        input_dim: d,
        width: 64,
        depth: 1,
    };
    let sc = layer_scales(&shape, Parametrization::Ntk, 1.0, 0.1);
    let p = twin::init_params(&shape, &sc, 9 ^ 0x7EAC_4E12_0000_0000, 0);
    let f = twin::forward(&shape, &sc, Activation::Erf, &p, &data.x).f;
    assert_eq!(data.y, f);
    assert!(
        f.iter().any(|v| v.abs() > 0.1),
        "labels are not all ~0: {f:?}"
    );
}

#[test]
fn blocked_storage_saves_and_resumes_as_rows() {
    // On the packed path the hidden-to-hidden W and v are stored column-blocked;
    // save_state must hand out rows (what checkpoints hold): the saved velocities are
    // the last step's W_t − W_{t−1} read through read_params, and a run resumed from
    // the saved state ends bit for bit where the uninterrupted one does.
    let ctx = common::ctx();
    let data = Dataset::ring(9, 0.3, 1.0);
    let basis = common::fourier_basis(data.points());
    let spec = EnsembleSpec {
        shape: NetShape {
            input_dim: data.input_dim(),
            width: 72,
            depth: 3,
        },
        activation: Activation::Tanh,
        parametrization: Parametrization::Ntk,
        sigma_w: 1.2,
        sigma_b: 0.3,
        ensemble: 3,
        lr: 0.2,
        momentum: 0.8,
        seed: 7,
        chunk: Some(2),
        member_traces: 0,
        first_member: 0,
        record_slots: None,
        ntk_member_bytes: None,
    };
    let new = || {
        let e = Ensemble::new(&ctx, &spec, &data, &basis).unwrap();
        e.initialize().unwrap();
        e
    };
    let members = |e: &Ensemble| -> Vec<Vec<f32>> {
        (0..spec.ensemble)
            .map(|m| e.read_params(m).unwrap())
            .collect()
    };
    let whole = new();
    whole.run_segment(0, 4, &|_| false).unwrap();
    let part = new();
    part.run_segment(0, 1, &|_| false).unwrap();
    let before = members(&part);
    part.run_segment(1, 2, &|_| false).unwrap();
    let after = members(&part);
    let (params, vel) = part.save_state().unwrap();
    let p = params.len() / spec.ensemble;
    for m in 0..spec.ensemble {
        assert_eq!(params[m * p..(m + 1) * p], after[m][..], "member {m}");
        let scale = after[m].iter().fold(0f32, |a, w| a.max(w.abs()));
        for i in 0..p {
            let step = after[m][i] - before[m][i];
            // W_t = fl(W_{t−1} + v_t): one rounding of W.
            assert!(
                (vel[m * p + i] - step).abs() <= 2.0 * f32::EPSILON * scale,
                "member {m} index {i}: v {} vs ΔW {step}",
                vel[m * p + i]
            );
        }
    }
    let resumed = Ensemble::new(&ctx, &spec, &data, &basis).unwrap();
    resumed.load_state(&params, &vel).unwrap();
    resumed.run_segment(2, 4, &|_| false).unwrap();
    assert_eq!(members(&resumed), members(&whole));
}

/// Past the per-dimension workgroup limit the row kernels (input and output layers,
/// tiled hidden layers) fold their (member, point) and (member, input) rows into z:
/// the members whose rows lie past the fold train exactly as their twins do.
#[test]
fn row_grids_fold_past_the_dispatch_limit() {
    let ctx = common::ctx();
    // d = 9: the input layer's update has members·(d + 1) rows per sub-chunk (the
    // NTK buffer bounds a sub-chunk to 8192 members at N = 64 on a 128 MiB binding),
    // the other row kernels members·64: the last members lie past the limit in both.
    let data = Dataset::teacher(64, 9, 3);
    let np = data.points();
    let max = ctx.limits.max_compute_workgroups_per_dimension as usize;
    let members = max / (data.input_dim() + 1) + 3;
    assert!(np > data.input_dim() + 1);
    let shape = NetShape {
        input_dim: data.input_dim(),
        width: 8,
        depth: 2,
    };
    let spec = EnsembleSpec {
        shape,
        activation: Activation::Tanh,
        parametrization: Parametrization::Ntk,
        sigma_w: 1.2,
        sigma_b: 0.3,
        ensemble: members,
        lr: 0.2,
        momentum: 0.8,
        seed: 5,
        chunk: None,
        member_traces: 0,
        first_member: 0,
        record_slots: None,
        ntk_member_bytes: None,
    };
    let basis = common::fourier_basis(np);
    let ens = Ensemble::new(&ctx, &spec, &data, &basis).unwrap();
    ens.initialize().unwrap();
    let steps = 2;
    ens.run_segment(0, steps, &|_| false).unwrap();
    let sc = layer_scales(&shape, spec.parametrization, spec.sigma_w, spec.sigma_b);
    for m in [0, members - 1] {
        let mut p = twin::init_params(&shape, &sc, spec.seed, m);
        let mut v = vec![0.0; p.len()];
        for _ in 0..steps {
            twin::train_step(
                &shape,
                &sc,
                spec.activation,
                &mut p,
                &mut v,
                &data.x,
                &data.y,
                spec.lr,
                spec.momentum,
            );
        }
        // As for init_params in `check_on`: f32 draws put ~1e-5 between a tail value
        // and its twin; a member trained on another member's rows is off by O(1).
        let e = common::rel_err(&ens.read_params(m).unwrap(), &p);
        assert!(e < 5e-5, "member {m} of {members}: {e}");
    }
}
