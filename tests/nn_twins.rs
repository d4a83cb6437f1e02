//! Every ensemble kernel against its CPU twin (src/reference/nn.rs) on small sizes.

mod common;

use nncosmo_gpu::nn::data::Dataset;
use nncosmo_gpu::nn::engine::{Ensemble, EnsembleSpec};
use nncosmo_gpu::nn::layout::{NetShape, layer_scales};
use nncosmo_gpu::reference::nn as twin;
use nncosmo_gpu::theory::{Activation, Parametrization};

fn check(depth: usize, width: usize, act: Activation, param: Parametrization) {
    check_on(&Dataset::ring(6, 0.3, 1.0), depth, width, act, param);
}

fn check_on(data: &Dataset, depth: usize, width: usize, act: Activation, param: Parametrization) {
    let ctx = common::ctx();
    let basis = common::fourier_basis(6);
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
    for (m, p) in params.iter().enumerate() {
        let e = common::rel_err(&ens.read_params(m).unwrap(), p);
        assert!(e < 1e-6, "{label}: init_params member {m}: {e}");
    }

    // NTK at initialisation: gram factorisation on the GPU vs J·Jᵀ on the CPU.
    let ntk_gpu = ens.measure_ntk().unwrap();
    let mut ntk_cpu = vec![0.0; 36];
    for p in &params {
        for (i, row) in twin::ntk(&shape, &sc, act, p, &data.x).iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                ntk_cpu[i * 6 + j] += v / 5.0;
            }
        }
    }
    let gpu32: Vec<f32> = ntk_gpu.iter().map(|&v| v as f32).collect();
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
