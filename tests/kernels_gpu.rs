//! Shader hygiene and the small shared kernels (activation, RNG) against their twins.

mod common;

use nncosmo_gpu::gpu::roofline::StreamCopy;
use nncosmo_gpu::gpu::{Binding, Kernel, read_buffer, shaders, storage_buffer, upload_buffer};
use nncosmo_gpu::nn::layout::{NetUniform, StatsUniform};
use nncosmo_gpu::reference;
use nncosmo_gpu::theory::Activation;

#[test]
fn every_shader_file_is_registered_and_validates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut on_disk = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            let name = format!(
                "{}/{}",
                dir.file_name().unwrap().to_str().unwrap(),
                f.file_stem().unwrap().to_str().unwrap()
            );
            on_disk.push(name);
        }
    }
    for name in &on_disk {
        let registered = shaders::KERNELS
            .iter()
            .chain(shaders::SHARED)
            .any(|(n, _)| n == name);
        assert!(
            registered,
            "shaders/{name}.wgsl is not registered in src/gpu/shaders.rs"
        );
    }
    for (name, _) in shaders::KERNELS {
        let pre = shaders::preprocess(name).unwrap();
        shaders::validate(&pre).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn validation_errors_name_the_file_and_line() {
    let src = "#import helper\nfn main() { let x = ; }\n";
    let pre =
        shaders::preprocess_source("test/broken", src, &|_| Some("fn h() {}\n".into())).unwrap();
    let e = shaders::validate(&pre).unwrap_err().to_string();
    assert!(e.contains("shaders/test/broken.wgsl:2"), "{e}");
}

fn struct_size(kernel: &str, ty: &str) -> u32 {
    let module = shaders::validate(&shaders::preprocess(kernel).unwrap()).unwrap();
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).unwrap();
    let (h, _) = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(ty))
        .unwrap_or_else(|| panic!("struct {ty} in {kernel}"));
    layouter[h].size
}

#[test]
fn uniform_structs_match_their_rust_mirrors() {
    assert_eq!(
        struct_size("nn/residual", "Net") as usize,
        std::mem::size_of::<NetUniform>()
    );
    assert_eq!(
        struct_size("nn/member_record", "Stats") as usize,
        std::mem::size_of::<StatsUniform>()
    );
}

#[test]
fn activations_match_twin_and_erf_matches_libm() {
    let ctx = common::ctx();
    let xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 1e-3).collect();
    for act in [
        Activation::Erf,
        Activation::Relu,
        Activation::Tanh,
        Activation::Identity,
    ] {
        let code = reference::activation::act_code(act) as f64;
        let k = Kernel::new(
            &ctx,
            "test/activation_eval",
            &[Binding::Read, Binding::ReadWrite],
            &[("ACT", code)],
        )
        .unwrap();
        let xb = upload_buffer(&ctx, "xs", &xs);
        let out = storage_buffer(&ctx, "out", 8 * xs.len() as u64);
        let g = k.bind(&ctx, &[&xb, &out]);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            // Four points per invocation.
            k.dispatch(&mut pass, &g, [(xs.len() as u32).div_ceil(4 * 64), 1, 1]);
        }
        ctx.queue.submit([enc.finish()]);
        let got: Vec<f32> = read_buffer(&ctx, &out, 0, 2 * xs.len()).unwrap();
        for (i, &x) in xs.iter().enumerate() {
            let (y, d) = reference::activation::act_and_deriv(act, x as f64);
            // f32 evaluation of O(1) quantities: a few ulps.
            assert!((got[2 * i] as f64 - y).abs() < 2e-6, "{act:?} φ({x})");
            assert!((got[2 * i + 1] as f64 - d).abs() < 2e-6, "{act:?} φ'({x})");
            if act == Activation::Erf {
                assert!(
                    (got[2 * i] as f64 - libm::erf(x as f64)).abs() < 1e-6,
                    "erf({x}) vs libm"
                );
            }
        }
    }
}

#[test]
fn philox_and_normals_match_twin() {
    let ctx = common::ctx();
    let n = 4096usize;
    let k = Kernel::new(
        &ctx,
        "test/rng_normal",
        &[Binding::ReadWrite, Binding::ReadWrite],
        &[],
    )
    .unwrap();
    let bits = storage_buffer(&ctx, "bits", 16 * n as u64);
    let normals = storage_buffer(&ctx, "normals", 8 * n as u64);
    let g = k.bind(&ctx, &[&bits, &normals]);
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        k.dispatch(&mut pass, &g, [(n as u32).div_ceil(64), 1, 1]);
    }
    ctx.queue.submit([enc.finish()]);
    let b: Vec<u32> = read_buffer(&ctx, &bits, 0, 4 * n).unwrap();
    let z: Vec<f32> = read_buffer(&ctx, &normals, 0, 2 * n).unwrap();
    for i in 0..n {
        let c = [i as u32, 1, 2, 3];
        assert_eq!(
            &b[4 * i..4 * i + 4],
            &reference::rng::philox4x32(c, [7, 9]),
            "block {i}"
        );
        let w = reference::rng::normal2(c, [7, 9]);
        for q in 0..2 {
            // Box–Muller in f32: log/cos/sqrt to a few ulps of |z| ≤ 5.6.
            assert!(
                (z[2 * i + q] as f64 - w[q]).abs() < 1e-5 * (1.0 + w[q].abs()),
                "normal {i}"
            );
        }
    }
}

#[test]
fn stream_copy_matches_twin() {
    let ctx = common::ctx();
    // An odd length leaves the last workgroup partly idle, so the bound check runs.
    let n = 70_001usize;
    let x: Vec<[f32; 4]> = (0..n)
        .map(|i| {
            let f = i as f32;
            [f, -f, 0.5 * f, f + 0.25]
        })
        .collect();
    let xb = upload_buffer(&ctx, "x", &x);
    let yb = storage_buffer(&ctx, "y", 16 * n as u64);
    let copy = StreamCopy::new(&ctx, &xb, &yb).unwrap();
    copy.submit(&ctx, 2);
    let y: Vec<[f32; 4]> = read_buffer(&ctx, &yb, 0, n).unwrap();
    assert_eq!(y, reference::stream::copy(&x));
}
