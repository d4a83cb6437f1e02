//! Exact sufficient statistics of an ensemble: f64 sums over members of per-member
//! values, from which every ensemble statistic of the outputs is derived.
//!
//! The GPU copies each recorded step's per-member values (mode amplitudes, outputs,
//! losses) into a ring; the host adds them up here in f64. Every member's values are
//! bit-identical whichever shard or device trained it (its RNG is keyed by its global
//! index, and its arithmetic does not depend on its neighbours), so merging the sums
//! of disjoint member ranges reproduces the whole ensemble's sums up to the order of
//! f64 additions: see `order_tolerance`.

/// Sums over the members of one recorded step, f64.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordSums {
    pub members: u64,
    /// Per point i: Σ_e (f_ei − y_i) and Σ_e (f_ei − y_i)² (centred on the target, so
    /// the variance of a converged ensemble is not a difference of O(y²) numbers).
    pub res1: Vec<f64>,
    pub res2: Vec<f64>,
    /// Per basis row b: Σ_e c_eb and Σ_e c_eb², c_eb = u_bᵀ(f_e − y).
    pub mode1: Vec<f64>,
    pub mode2: Vec<f64>,
    /// Σ_e ℓ_e and Σ_e ℓ_e² of the member losses.
    pub loss1: f64,
    pub loss2: f64,
}

impl RecordSums {
    pub fn zeros(points: usize) -> Self {
        RecordSums {
            members: 0,
            res1: vec![0.0; points],
            res2: vec![0.0; points],
            mode1: vec![0.0; points],
            mode2: vec![0.0; points],
            loss1: 0.0,
            loss2: 0.0,
        }
    }

    /// The sums of members given member-major: `c` and `f` E×N, `loss` E.
    pub fn of_members(c: &[f32], f: &[f32], loss: &[f32], y: &[f64]) -> Self {
        let n = y.len();
        let mut s = Self::zeros(n);
        s.members = loss.len() as u64;
        for (ce, fe) in c.chunks_exact(n).zip(f.chunks_exact(n)) {
            for i in 0..n {
                let d = fe[i] as f64 - y[i];
                s.res1[i] += d;
                s.res2[i] += d * d;
                let cb = ce[i] as f64;
                s.mode1[i] += cb;
                s.mode2[i] += cb * cb;
            }
        }
        for &l in loss {
            let l = l as f64;
            s.loss1 += l;
            s.loss2 += l * l;
        }
        s
    }

    /// Adds another member range's sums (same step, same points).
    pub fn add(&mut self, o: &Self) {
        self.members += o.members;
        for (a, b) in [
            (&mut self.res1, &o.res1),
            (&mut self.res2, &o.res2),
            (&mut self.mode1, &o.mode1),
            (&mut self.mode2, &o.mode2),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self.loss1 += o.loss1;
        self.loss2 += o.loss2;
    }

    /// Every sum in one flat vector: res1, res2, mode1, mode2 (N each), loss1, loss2.
    pub fn flat(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(4 * self.res1.len() + 2);
        for a in [&self.res1, &self.res2, &self.mode1, &self.mode2] {
            v.extend_from_slice(a);
        }
        v.extend([self.loss1, self.loss2]);
        v
    }

    /// The inverse of `flat`.
    pub fn from_flat(members: u64, v: &[f64]) -> Self {
        let n = (v.len() - 2) / 4;
        let part = |k: usize| v[k * n..(k + 1) * n].to_vec();
        RecordSums {
            members,
            res1: part(0),
            res2: part(1),
            mode1: part(2),
            mode2: part(3),
            loss1: v[4 * n],
            loss2: v[4 * n + 1],
        }
    }

    /// Bound on |Ŝ_a − Ŝ_b| for two f64 summations, in any order, of this step's E
    /// per-member values, element for element as in `flat`.
    ///
    /// Any order of recursive summation of E terms x_e has |Ŝ − S| ≤ γ_{E−1}·Σ|x_e|
    /// with γ_k = k·u/(1 − k·u), u = 2⁻⁵³ (Higham, Accuracy and Stability, §4.2), so two
    /// orders differ by at most 2γ_{E−1}·Σ|x_e|. The terms are the same in both (each
    /// member's f32 values, and their f64 differences and squares, do not depend on
    /// the order). Σ|x_e| is not kept, but Cauchy–Schwarz bounds it by √(E·Σx_e²) for
    /// the first-moment sums, and squares are non-negative, so Σ|x_e²| = Σx_e².
    pub fn order_tolerance(&self) -> Vec<f64> {
        let e = self.members as f64;
        let g = 2.0 * gamma(self.members.saturating_sub(1));
        let mut v = Vec::with_capacity(4 * self.res1.len() + 2);
        for (s2, first) in [(&self.res2, true), (&self.res2, false)]
            .into_iter()
            .chain([(&self.mode2, true), (&self.mode2, false)])
        {
            v.extend(s2.iter().map(|&q| {
                let q = q.abs();
                g * if first { (e * q).sqrt() } else { q }
            }));
        }
        v.push(g * (e * self.loss2.abs()).sqrt());
        v.push(g * self.loss2.abs());
        v
    }
}

/// γ_k = k·u/(1 − k·u) for f64 (u = 2⁻⁵³).
pub fn gamma(k: u64) -> f64 {
    let ku = k as f64 * f64::EPSILON / 2.0;
    ku / (1.0 - ku)
}

/// Statistics of one recorded step: the sums, and what the outputs report from them.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub step: usize,
    pub sums: RecordSums,
    /// Per point: ensemble mean and variance (1/E) of f.
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
    /// Per basis row b: u_bᵀ(μ − y).
    pub proj_mean: Vec<f64>,
    /// Per basis row b: ⟨(u_bᵀ(f − μ))²⟩.
    pub proj_power: Vec<f64>,
    pub loss_mean: f64,
    pub loss_std: f64,
    /// Per traced member e (of this engine's, or after a merge of the whole ensemble's,
    /// traced members) and basis row b, at [e·N + b]: c_{e,b}. Empty when K = 0.
    pub traces: Vec<f32>,
}

impl Record {
    /// The statistics of `sums` (of the step's whole member range) for targets `y`.
    pub fn new(step: usize, sums: RecordSums, y: &[f64], traces: Vec<f32>) -> Self {
        let e = sums.members as f64;
        let moments = |s1: &[f64], s2: &[f64]| -> (Vec<f64>, Vec<f64>) {
            s1.iter()
                .zip(s2)
                .map(|(a, b)| (a / e, (b / e - (a / e).powi(2)).max(0.0)))
                .unzip()
        };
        let (res, var) = moments(&sums.res1, &sums.res2);
        let (proj_mean, proj_power) = moments(&sums.mode1, &sums.mode2);
        let lm = sums.loss1 / e;
        Record {
            step,
            mean: res.iter().zip(y).map(|(r, y)| y + r).collect(),
            var,
            proj_mean,
            proj_power,
            loss_mean: lm,
            loss_std: (sums.loss2 / e - lm * lm).max(0.0).sqrt(),
            sums,
            traces,
        }
    }

    /// Whether every statistic is finite (an overflow anywhere is divergence).
    pub fn is_finite(&self) -> bool {
        [self.loss_mean, self.loss_std]
            .iter()
            .chain(&self.mean)
            .chain(&self.var)
            .all(|v| v.is_finite())
    }
}

/// Sums over the members of one empirical-NTK measurement.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NtkSums {
    pub step: usize,
    pub members: u64,
    /// Σ_e Θ_e, N×N row-major.
    pub theta: Vec<f64>,
    /// Present when every member's Θ_e was measured.
    pub member: Option<MemberNtkSums>,
}

/// Per-member NTK sums: the drift d_e = ‖Θ_e − Θ_e(0)‖_F/‖Θ_e(0)‖_F, and the NTK in
/// the mode basis M_e = U·Θ_e·Uᵀ/N (U's rows the basis vectors).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberNtkSums {
    pub drift1: f64,
    pub drift2: f64,
    /// Σ_e M_e and Σ_e M_e⊙M_e, N×N row-major.
    pub rot1: Vec<f64>,
    pub rot2: Vec<f64>,
}

impl NtkSums {
    /// The sums of one measurement: `sum` = Σ_e Θ_e over `members` members, and every
    /// member's Θ_e with its Θ_e(0) when the engine measured them.
    pub fn new(
        step: usize,
        members: usize,
        sum: Vec<f64>,
        each: Option<(&[f32], &[f32])>,
        basis: &nalgebra::DMatrix<f64>,
    ) -> Self {
        let n = basis.nrows();
        let member = each.map(|(now, first)| {
            let mut m = MemberNtkSums {
                rot1: vec![0.0; n * n],
                rot2: vec![0.0; n * n],
                ..Default::default()
            };
            for (th, th0) in now.chunks_exact(n * n).zip(first.chunks_exact(n * n)) {
                let (mut diff, mut base) = (0.0, 0.0);
                for (a, b) in th.iter().zip(th0) {
                    diff += ((a - b) as f64).powi(2);
                    base += (*b as f64).powi(2);
                }
                let d = (diff / base).sqrt();
                m.drift1 += d;
                m.drift2 += d * d;
                let t = nalgebra::DMatrix::from_row_iterator(n, n, th.iter().map(|&v| v as f64));
                let r = basis * t * basis.transpose() / n as f64;
                for a in 0..n {
                    for b in 0..n {
                        let v = r[(a, b)];
                        m.rot1[a * n + b] += v;
                        m.rot2[a * n + b] += v * v;
                    }
                }
            }
            m
        });
        NtkSums {
            step,
            members: members as u64,
            theta: sum,
            member,
        }
    }

    /// Adds another member range's sums of the same measurement. The member sums
    /// survive only when both have them.
    pub fn add(&mut self, o: &Self) {
        self.members += o.members;
        for (a, b) in self.theta.iter_mut().zip(&o.theta) {
            *a += b;
        }
        self.member = match (self.member.take(), &o.member) {
            (Some(mut a), Some(b)) => {
                a.drift1 += b.drift1;
                a.drift2 += b.drift2;
                for (x, y) in a.rot1.iter_mut().zip(&b.rot1) {
                    *x += y;
                }
                for (x, y) in a.rot2.iter_mut().zip(&b.rot2) {
                    *x += y;
                }
                Some(a)
            }
            _ => None,
        };
    }

    /// The ensemble-mean Θ.
    pub fn mean(&self) -> Vec<f64> {
        let e = self.members as f64;
        self.theta.iter().map(|v| v / e).collect()
    }

    /// (drift mean, drift sd, offdiag_rel_sd, diag_rel_sd) over members: sd and
    /// variances with E − 1 (NaN below two members, or without member sums).
    ///
    /// The spreads: with M̄ = mean_e M_e, (√(mean_{a≠b} Var_e M_e[a,b]),
    /// √(mean_b Var_e M_e[b,b])) / √(mean_b M̄[b,b]²). At width n the relative spread
    /// is O(n^{-1/2}), so Var/M̄² = O(1/n) and the one-pass f64 variance keeps about
    /// 16 − log₁₀ n digits: ample.
    pub fn member_stats(&self) -> (f64, f64, f64, f64) {
        let nan = (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
        let Some(m) = &self.member else {
            return nan;
        };
        let e = self.members as f64;
        let var = |s1: f64, s2: f64| ((s2 - s1 * s1 / e) / (e - 1.0)).max(0.0);
        let dm = m.drift1 / e;
        if self.members < 2 {
            return (dm, f64::NAN, f64::NAN, f64::NAN);
        }
        let n = self.theta.len().isqrt();
        let v: Vec<f64> = m
            .rot1
            .iter()
            .zip(&m.rot2)
            .map(|(a, b)| var(*a, *b))
            .collect();
        let scale =
            ((0..n).map(|b| (m.rot1[b * n + b] / e).powi(2)).sum::<f64>() / n as f64).sqrt();
        let diag = (0..n).map(|b| v[b * n + b]).sum::<f64>() / n as f64;
        let off = if n > 1 {
            (v.iter().sum::<f64>() - n as f64 * diag) / (n * (n - 1)) as f64
        } else {
            f64::NAN
        };
        (
            dm,
            var(m.drift1, m.drift2).sqrt(),
            off.sqrt() / scale,
            diag.sqrt() / scale,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_two_members_by_hand() {
        // y = (1, 0); members f = (2, 1) and (0, 1); basis rows e₀, e₁.
        let y = [1.0, 0.0];
        let f = [2.0f32, 1.0, 0.0, 1.0];
        let c = [1.0f32, 1.0, -1.0, 1.0];
        let s = RecordSums::of_members(&c, &f, &[1.0, 3.0], &y);
        let r = Record::new(4, s.clone(), &y, vec![]);
        assert_eq!(r.mean, vec![1.0, 1.0]);
        assert_eq!(r.var, vec![1.0, 0.0]);
        assert_eq!(r.proj_mean, vec![0.0, 1.0]);
        assert_eq!(r.proj_power, vec![1.0, 0.0]);
        assert_eq!((r.loss_mean, r.loss_std), (2.0, 1.0));
        // Split into two one-member ranges and merged: the same sums.
        let mut a = RecordSums::of_members(&c[..2], &f[..2], &[1.0], &y);
        a.add(&RecordSums::of_members(&c[2..], &f[2..], &[3.0], &y));
        assert_eq!(a, s);
        assert_eq!(RecordSums::from_flat(2, &s.flat()), s);
    }

    #[test]
    fn order_tolerance_covers_reordered_sums() {
        // 10⁵ values spanning ten decades, summed forwards and in 7 reversed blocks.
        let mut x = 0.7f64;
        let vals: Vec<f32> = (0..100_000)
            .map(|k| {
                x = (x * 3.9 * (1.0 - x)).clamp(1e-6, 1.0 - 1e-6);
                ((x - 0.5) * 10f64.powi(k % 10 - 5)) as f32
            })
            .collect();
        let y = [0.0];
        let whole = RecordSums::of_members(&vals, &vals, &vals, &y);
        let mut merged = RecordSums::zeros(1);
        for part in vals.chunks(vals.len() / 7 + 1).rev() {
            merged.add(&RecordSums::of_members(part, part, part, &y));
        }
        let tol = whole.order_tolerance();
        let (a, b) = (whole.flat(), merged.flat());
        for k in 0..a.len() {
            assert!((a[k] - b[k]).abs() <= tol[k], "{k}: {} vs {}", a[k], b[k]);
        }
        // Not vacuous: moving one member of ~10³ by 1 (a relative 10⁻³, and 10⁻⁵ of
        // Σ|x|) is outside it.
        let mut bumped = vals.clone();
        bumped[9] += 1.0;
        let moved = RecordSums::of_members(&bumped, &bumped, &bumped, &y).flat();
        assert!(
            (moved[0] - a[0]).abs() > tol[0],
            "the bound hides a member's change"
        );
    }

    #[test]
    fn member_ntk_statistics_by_hand() {
        // U = I, N = 2: M_e = Θ_e/2 = I and [[2, 2], [2, 2]]. Diagonal: mean 1.5,
        // unbiased variance 0.5; off-diagonal: 0 and 2, variance 2.
        let basis = nalgebra::DMatrix::identity(2, 2);
        let members = [2.0f32, 0.0, 0.0, 2.0, 4.0, 4.0, 4.0, 4.0];
        let sum: Vec<f64> = (0..4)
            .map(|k| (members[k] + members[k + 4]) as f64)
            .collect();
        let s = NtkSums::new(0, 2, sum.clone(), Some((&members, &members)), &basis);
        let (dm, dsd, off, diag) = s.member_stats();
        assert_eq!((dm, dsd), (0.0, 0.0));
        assert!((off - 2f64.sqrt() / 1.5).abs() < 1e-12, "{off}");
        assert!((diag - 0.5f64.sqrt() / 1.5).abs() < 1e-12, "{diag}");
        assert_eq!(s.mean(), vec![3.0, 2.0, 2.0, 3.0]);
        // Every member doubled: each drifts by exactly 1.
        let doubled: Vec<f32> = members.iter().map(|v| 2.0 * v).collect();
        let d = NtkSums::new(5, 2, sum, Some((&doubled, &members)), &basis);
        let (dm, dsd, _, _) = d.member_stats();
        assert_eq!((dm, dsd), (1.0, 0.0));
        // Split and merged equals whole.
        let mut a = NtkSums::new(
            0,
            1,
            vec![2.0, 0.0, 0.0, 2.0],
            Some((&members[..4], &members[..4])),
            &basis,
        );
        let b = NtkSums::new(
            0,
            1,
            vec![4.0; 4],
            Some((&members[4..], &members[4..])),
            &basis,
        );
        a.add(&b);
        assert_eq!(a.member_stats().2, off);
        let one = NtkSums::new(
            0,
            1,
            vec![4.0; 4],
            Some((&members[4..], &members[4..])),
            &basis,
        );
        let (m, sd, _, _) = one.member_stats();
        assert!(m == 0.0 && sd.is_nan(), "one member has no spread");
    }
}
