//! The multi-field dual (DESIGN §4.2) against independent truth: the lattice against
//! the infinite-width recursion (to its own dt error and its sampling error), the
//! same under continuum matching at a large step (which must fail: the test sees the
//! matching), and the network against the lattice at a width where the network is
//! close to infinite width.

mod common;

use clap::Parser;
use nncosmo_gpu::cli::run::RunArgs;
use nncosmo_gpu::duality::compare::{ClassStats, z_score};
use nncosmo_gpu::duality::disorder;
use nncosmo_gpu::duality::run::{RunOutcome, prepare, run_pipeline};
use nncosmo_gpu::lattice::Lattice;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

/// The CI-size problem of the issue: 8 ring points, 100 steps at η = 0.1, β = 0.9.
const BASE: &[&str] = &[
    "--ensemble",
    "64",
    "--points",
    "8",
    "--steps",
    "100",
    "--lr",
    "0.1",
    "--momentum",
    "0.9",
    "--ntk-every",
    "100",
    "--grid",
    "16",
];

fn run(name: &str, extra: &[&str]) -> RunOutcome {
    run_with_table(name, extra).0
}

/// As `run`, also returning compare/finite_width.csv's text.
fn run_with_table(name: &str, extra: &[&str]) -> (RunOutcome, String) {
    let out = std::env::temp_dir().join(format!("nncosmo-dual-{name}-{}", std::process::id()));
    let mut argv = vec!["t"];
    // BASE is (flag, value) pairs; a flag given in `extra` replaces BASE's.
    for pair in BASE.chunks(2) {
        if !extra.contains(&pair[0]) {
            argv.extend_from_slice(pair);
        }
    }
    argv.extend_from_slice(extra);
    let out_s = out.to_str().unwrap().to_string();
    argv.extend(["--out", &out_s]);
    let cli = Cli::try_parse_from(argv).unwrap();
    let (rc, prep, plan) = prepare(&cli.run).unwrap();
    let o = run_pipeline(&rc, prep, plan, &common::ctx(), false).unwrap();
    let table = std::fs::read_to_string(out.join("compare/finite_width.csv")).unwrap_or_default();
    std::fs::remove_dir_all(&out).ok();
    (o, table)
}

/// Largest violation of |lattice − theory| ≤ 4·se + dt error (+ f32 rounding for the
/// mean), in units of that bound, for the means and the powers (each ≤ 1 means
/// agreement). The dt error is the plan's per-unit-amplitude error ε of the class's
/// homogeneous solution; f32 storage adds ~1e-7 of the field's scale.
fn lattice_vs_theory(o: &RunOutcome) -> (f64, f64, String) {
    let (mut worst_mean, mut worst_power) = (0.0f64, 0.0f64);
    let mut at = String::new();
    let first = &o.comparison.rows[0];
    for row in &o.comparison.rows {
        let (step, lat, th) = (row.step, &row.lattice, &row.theory);
        for j in 0..lat.len() {
            let (l, t): (&ClassStats, &ClassStats) = (&lat[j], &th[j]);
            let scale = first.lattice[j].mean.value.abs() + first.lattice[j].power.value.sqrt();
            let tol = 4.0 * l.mean.se + o.plan.dt_error[j] * scale + 1e-6 * scale;
            let r = (l.mean.value - t.mean.value).abs() / tol;
            if r > worst_mean {
                worst_mean = r;
                at = format!(
                    "class {j} step {step}: lattice {} theory {} se {}",
                    l.mean.value, t.mean.value, l.mean.se
                );
            }
            // Every patch follows p̃(t)·(its initial state) with |p̃ − p| ≤ ε (the dt
            // error), so |P̃ − P| ≤ P₀(2|p|ε + ε²) with |p| = √(P/P₀): near the nodes of
            // an oscillating class this, not sampling, dominates.
            let (p0, e) = (first.theory[j].power.value, o.plan.dt_error[j]);
            let dt_p = p0 * (2.0 * (t.power.value / p0).sqrt() * e + e * e);
            let rp = (l.power.value - t.power.value).abs() / (4.0 * l.power.se + dt_p);
            worst_power = worst_power.max(rp);
        }
    }
    (worst_mean, worst_power, at)
}

#[test]
fn discrete_dual_lattice_follows_the_recursion_and_continuum_does_not() {
    let o = run("discrete", &["--width", "512"]);
    assert_eq!(o.plan.fields.len(), 8);
    assert_eq!(o.comparison.rows.len(), 101);
    let (m, p, at) = lattice_vs_theory(&o);
    eprintln!("discrete: means {m:.2}, powers {p:.2} × bound; worst mean at {at}");
    assert!(
        m <= 1.0,
        "lattice mean off the recursion: {m:.2} × bound at {at}"
    );
    assert!(p <= 1.0, "lattice power off the recursion: {p:.2} × 4 se");
    // The report's own lattice-vs-theory block agrees.
    assert!(o.comparison.metrics.lattice_vs_theory.max() < 5.0);

    // Disorder explains disorder: at width 512 the network's power leaves the free
    // dual in the classes the target's modes source (z > 4); the disorder dual,
    // whose patches carry the members' frozen NTKs, must cut that departure at
    // least threefold (explained fraction ≥ 2/3), leaving only NTK drift.
    let fw = o.finite_width.as_ref().expect("the disorder dual ran");
    let sourced: Vec<_> = fw
        .classes
        .iter()
        .filter(|c| c.nn_vs_free_power_max_z > 4.0)
        .collect();
    assert!(
        !sourced.is_empty(),
        "no class departs from the free dual: {fw:?}"
    );
    for c in sourced {
        assert!(
            c.disorder_explained_fraction >= 2.0 / 3.0,
            "class {}: disorder explains only {:.2} of the departure",
            c.mode,
            c.disorder_explained_fraction
        );
    }

    // Continuum matching (H = (1 − β)/(3√η), m² = κ, φ̇(0) = 0) is off by O(√η)
    // at η = 0.1: the same check must fail on the means.
    let o = run("continuum", &["--width", "512", "--matching", "continuum"]);
    let (m, _, at) = lattice_vs_theory(&o);
    eprintln!("continuum: {m:.2} × bound at {at}");
    assert!(
        m > 3.0,
        "continuum matching should leave the recursion at η = 0.1: {m:.2} × bound at {at}"
    );
}

#[test]
fn wide_network_agrees_with_its_dual_lattice() {
    let o = run("wide", &["--width", "2048"]);
    let power0: Vec<f64> = o.comparison.rows[0]
        .theory
        .iter()
        .map(|c| c.power.value)
        .collect();
    let mut worst = (0.0f64, String::new());
    for row in &o.comparison.rows {
        let (step, nn, lat, th) = (row.step, &row.nn, &row.lattice, &row.theory);
        for j in 0..nn.len() {
            if th[j].power.value < 0.1 * power0[j] {
                continue;
            }
            for (what, z) in [
                ("mean", z_score(nn[j].mean, lat[j].mean)),
                ("power", z_score(nn[j].power, lat[j].power)),
            ] {
                if z > worst.0 {
                    worst = (z, format!("class {j} {what} at step {step}"));
                }
            }
        }
    }
    assert!(
        worst.0 <= 5.0,
        "network vs lattice z = {:.2} ({})",
        worst.0,
        worst.1
    );
    let m = &o.comparison.metrics;
    assert!(m.nn_vs_lattice.mean_max_z.is_finite() && m.nn_vs_lattice.power_max_z.is_finite());
    assert_eq!(m.members_traced, 64);
}

/// Lazy-limit exactness: with a step small enough that the members' NTKs hardly
/// drift, the disorder dual (each patch one member with its frozen Θ̂_e(0) and its own
/// initial amplitudes) reproduces the network's power at every step. Its only error
/// is the drift: a member's recurrence differs from its patch's by the force
/// η(Θ̂_e(s) − Θ̂_e(0))c_s, and a kick to the velocity moves c by at most 1/(1 − β)
/// times itself, so after s steps the relative amplitude error is at most
/// r = s·η·κ_max·√N·D/(1 − β), with D the relative (Frobenius) drift, taken at
/// mean + 3 sd over members, and √N bounding the spectral by the Frobenius norm.
/// The power then errs by (2r + r²) of its maximum, plus twice the lattice's dt
/// error and f32 rounding. The free dual, which ignores the members' own NTKs, must
/// miss by more than that bound somewhere: the tolerance does not hide the effect.
#[test]
fn disorder_dual_reproduces_a_lazy_network() {
    let (steps, eta, beta) = (20.0, 0.01, 0.9);
    let (o, table) = run_with_table(
        "lazy",
        &[
            "--width",
            "512",
            "--ensemble",
            "32",
            "--steps",
            "20",
            "--lr",
            "0.01",
            "--ntk-every",
            "20",
        ],
    );
    let fw = o.finite_width.as_ref().expect("the disorder dual ran");
    let d = fw.ntk_drift_member_mean.unwrap() + 3.0 * fw.ntk_drift_member_sd.unwrap();
    let kappa_max = o.nn.modes.kappa.iter().cloned().fold(0.0, f64::max);
    let n = o.nn.modes.mode_of_basis.len() as f64;
    let r = steps * eta * kappa_max * n.sqrt() * d / (1.0 - beta);
    let nm = o.nn.modes.n_modes();
    // Per class: max P_nn, max |P_nn − P_disorder|, max |P_nn − P_free|.
    let mut acc = vec![(0.0f64, 0.0f64, 0.0f64); nm];
    for line in table.lines().skip(1) {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let j = v[2] as usize;
        let (nn, free, dis) = (v[3], v[4], v[5]);
        let a = &mut acc[j];
        a.0 = a.0.max(nn);
        a.1 = a.1.max((nn - dis).abs());
        a.2 = a.2.max((nn - free).abs());
    }
    let mut free_misses = false;
    for (j, (pmax, dev_dis, dev_free)) in acc.iter().enumerate() {
        let tol = (2.0 * r + r * r + 2.0 * o.plan.dt_error[j] + 1e-5) * pmax;
        assert!(
            *dev_dis <= tol,
            "class {j}: |P_nn − P_disorder| = {dev_dis:e} > {tol:e} (r = {r:e})"
        );
        free_misses |= *dev_free > tol;
    }
    assert!(
        free_misses,
        "the free dual agrees as well: nothing was tested"
    );

    // Member by member: patch x = e holds member e; step the disorder lattice one
    // network step at a time and compare every patch's field vector with its
    // member's traced amplitudes, to the same drift bound plus the dt error and f32
    // rounding.
    let res = &o.nn;
    let setup = disorder::setup(&o.plan, res, res.ntk_members0.as_ref().unwrap()).unwrap();
    let mut lat = Lattice::new(&common::ctx(), &o.plan.config).unwrap();
    lat.set_mass_matrices(&setup.matrices, &setup.patch_of_site)
        .unwrap();
    lat.set_initial_fields(&setup.phi, &setup.dphi).unwrap();
    let (nf, sites) = (o.plan.fields.len(), o.plan.config.grid.pow(3));
    let dt_err = o.plan.dt_error.iter().cloned().fold(0.0, f64::max);
    let mut worst = 0.0f64;
    for rec in &res.records {
        if rec.step > 0 {
            lat.advance(o.plan.substeps).unwrap();
        }
        let (phi, _) = lat.read_field().unwrap();
        for e in 0..setup.members {
            let amp = (0..nf)
                .map(|b| (rec.traces[e * nf + b] as f64).abs())
                .fold(0.0, f64::max)
                .max(1e-30);
            for b in 0..nf {
                let dev = (phi[b * sites + e] as f64 - rec.traces[e * nf + b] as f64).abs();
                // ‖δ‖ ≤ r‖c‖ ≤ r·√F·max_b|c_b|, and each component is at most ‖δ‖.
                let tol = (r + dt_err + 1e-5) * amp * (nf as f64).sqrt();
                worst = worst.max(dev / tol);
            }
        }
    }
    eprintln!("member by member: {worst:.3} × bound");
    assert!(worst <= 1.0, "a patch left its member: {worst:.2} × bound");
}
