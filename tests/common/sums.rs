//! Comparing two runs' exact statistics (OUT/shard) within the f64 summation-order
//! bound of `RecordSums::order_tolerance`: shards merged, devices, or a launcher's
//! merge against the unsharded run. The data set has N = 8 points.

use std::path::Path;

use nncosmo_gpu::checkpoint::Checkpoint;
use nncosmo_gpu::nn::stats::{RecordSums, gamma};

pub fn stats(dir: &Path) -> Checkpoint {
    Checkpoint::open(&dir.join("shard")).unwrap()
}

/// Every sum of `got` within the summation-order bound of `want`'s, record by
/// record and NTK measurement by measurement; returns the largest |Δ|/bound seen.
pub fn assert_same_sums(want: &Path, got: &Path, what: &str) -> f64 {
    let (a, b) = (stats(want), stats(got));
    let n = 8;
    let w = 4 * n + 2;
    let steps_a: Vec<u64> = a.array("record_step").unwrap().1;
    let steps_b: Vec<u64> = b.array("record_step").unwrap().1;
    assert_eq!(steps_a, steps_b, "{what}: recorded steps");
    let r = steps_a.len();
    let ca = a.vec::<u64>("record_members", r).unwrap();
    assert_eq!(
        ca,
        b.vec::<u64>("record_members", r).unwrap(),
        "{what}: counts"
    );
    let sa = a.vec::<f64>("record_sums", r * w).unwrap();
    let sb = b.vec::<f64>("record_sums", r * w).unwrap();
    let mut worst: f64 = 0.0;
    for k in 0..r {
        let sums = RecordSums::from_flat(ca[k], &sa[k * w..(k + 1) * w]);
        let tol = sums.order_tolerance();
        for (i, t) in tol.iter().enumerate() {
            let d = (sa[k * w + i] - sb[k * w + i]).abs();
            assert!(
                d <= *t,
                "{what}: record {k} sum {i}: {} vs {} (bound {t:.2e})",
                sa[k * w + i],
                sb[k * w + i]
            );
            if *t > 0.0 {
                worst = worst.max(d / t);
            }
        }
    }
    // NTK sums: each member's Θ_e is positive semi-definite, so |Θ_e[i,j]| ≤
    // √(Θ_e[i,i]·Θ_e[j,j]) and, by Cauchy–Schwarz over members, Σ_e|Θ_e[i,j]| ≤
    // √(S_ii·S_jj) with S = Σ_e Θ_e: the bound 2γ_{E−1}·Σ|x| from the sums alone.
    // The same holds for M_e = U·Θ_e·Uᵀ/N; drifts and squares are non-negative.
    let m = a.array::<u64>("ntk_step").unwrap().1.len();
    let e = ca[0];
    let g = 2.0 * gamma(e - 1);
    let (ta, tb) = (
        a.vec::<f64>("ntk_theta_sum", m * n * n).unwrap(),
        b.vec::<f64>("ntk_theta_sum", m * n * n).unwrap(),
    );
    let width = 2 + 2 * n * n;
    let (ma, mb) = (
        a.vec::<f64>("ntk_member_sums", m * width).unwrap(),
        b.vec::<f64>("ntk_member_sums", m * width).unwrap(),
    );
    let psd = |s: &[f64], i: usize, j: usize| g * (s[i * n + i] * s[j * n + j]).abs().sqrt();
    for k in 0..m {
        let t = &ta[k * n * n..(k + 1) * n * n];
        let row = &ma[k * width..(k + 1) * width];
        let rot1 = &row[2..2 + n * n];
        for i in 0..n {
            for j in 0..n {
                let at = k * n * n + i * n + j;
                assert!(
                    (ta[at] - tb[at]).abs() <= psd(t, i, j),
                    "{what}: Θ sum {k} [{i},{j}]"
                );
                let at = k * width + 2 + i * n + j;
                assert!(
                    (ma[at] - mb[at]).abs() <= psd(rot1, i, j),
                    "{what}: M sum {k} [{i},{j}]"
                );
                let at = at + n * n;
                assert!(
                    (ma[at] - mb[at]).abs() <= g * ma[at],
                    "{what}: M² sum {k} [{i},{j}]"
                );
            }
        }
        for at in [k * width, k * width + 1] {
            assert!(
                (ma[at] - mb[at]).abs() <= g * ma[at],
                "{what}: drift sums {k}"
            );
        }
    }
    // Traces and step-0 member NTKs are per member: concatenated, not summed.
    let t = |c: &Checkpoint| c.array::<f32>("record_traces").unwrap().1;
    assert_eq!(t(&a), t(&b), "{what}: traces");
    let m0 = |c: &Checkpoint| c.array::<f32>("ntk0_members").unwrap().1;
    assert_eq!(m0(&a), m0(&b), "{what}: step-0 member NTKs");
    worst
}

/// background.csv's mean and var against the unsharded run's, within what the sums'
/// bound becomes through μ = y + S₁/E and σ² = S₂/E − (S₁/E)² (plus one rounding of
/// each operation on either side).
pub fn assert_same_background(want: &Path, got: &Path, what: &str) {
    let read = |d: &Path| std::fs::read_to_string(d.join("nn/background.csv")).unwrap();
    let (a, b) = (read(want), read(got));
    let st = stats(want);
    let n = 8;
    let w = 4 * n + 2;
    let steps: Vec<u64> = st.array("record_step").unwrap().1;
    let counts = st.vec::<u64>("record_members", steps.len()).unwrap();
    let sums = st.vec::<f64>("record_sums", steps.len() * w).unwrap();
    let u = f64::EPSILON / 2.0;
    let rows = |t: &str| -> Vec<Vec<f64>> {
        t.lines()
            .skip(1)
            .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
            .collect()
    };
    let (ra, rb) = (rows(&a), rows(&b));
    assert_eq!(ra.len(), rb.len(), "{what}: rows");
    for (x, y) in ra.iter().zip(&rb) {
        let k = steps.iter().position(|&s| s as f64 == x[0]).unwrap();
        let i = x[2] as usize;
        let rs = RecordSums::from_flat(counts[k], &sums[k * w..(k + 1) * w]);
        let tol = rs.order_tolerance();
        let e = counts[k] as f64;
        let (m1, m2) = (rs.res1[i] / e, rs.res2[i] / e);
        let tol_mean = tol[i] / e + 4.0 * u * x[3].abs();
        let tol_var = tol[n + i] / e + 2.0 * m1.abs() * tol[i] / e + 8.0 * u * (m2 + m1 * m1);
        assert_eq!(&x[..3], &y[..3], "{what}: row keys");
        assert!(
            (x[3] - y[3]).abs() <= tol_mean,
            "{what}: mean {x:?} vs {y:?}"
        );
        assert!((x[4] - y[4]).abs() <= tol_var, "{what}: var {x:?} vs {y:?}");
    }
}
