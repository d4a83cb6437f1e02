//! Eigenmodes of Θ̂ = Θ/N, the normalised NTK on the training set (DESIGN §1).
//!
//! A *mode* is one eigenvalue κ; it may own several orthonormal basis rows (the
//! ring's cos/sin pair of Fourier mode j shares one κ_j). Per-mode statistics are
//! averaged over a mode's rows, and the signed "mean residual" of a mode is the
//! projection on its `primary` row.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

#[derive(Clone, Debug)]
pub struct Modes {
    /// One eigenvalue of Θ̂ per mode; the mode index is the position.
    pub kappa: Vec<f64>,
    /// N×N orthonormal basis; row b is the unit vector u_b.
    pub basis: DMatrix<f64>,
    /// For each basis row, the mode it belongs to.
    pub mode_of_basis: Vec<usize>,
    /// For each mode, the basis row whose signed projection is "the" residual.
    pub primary: Vec<usize>,
}

impl Modes {
    pub fn n_modes(&self) -> usize {
        self.kappa.len()
    }

    /// κ of the mode that basis row `b` belongs to.
    pub fn kappa_of_basis(&self, b: usize) -> f64 {
        self.kappa[self.mode_of_basis[b]]
    }

    /// Basis row `b` as a column vector.
    pub fn row(&self, b: usize) -> DVector<f64> {
        self.basis.row(b).transpose()
    }

    /// Basis-row indices of mode `m`, in basis order.
    pub fn rows_of_mode(&self, m: usize) -> Vec<usize> {
        (0..self.mode_of_basis.len())
            .filter(|&b| self.mode_of_basis[b] == m)
            .collect()
    }

    /// Number of basis rows in each mode (1 or 2 on the ring).
    pub fn multiplicity(&self) -> Vec<usize> {
        let mut mult = vec![0; self.n_modes()];
        for &m in &self.mode_of_basis {
            mult[m] += 1;
        }
        mult
    }
}

/// Fourier modes of a circulant Θ on the ring x_j = (cos θ_j, sin θ_j),
/// θ_j = 2πj/N. Takes Θ (not Θ̂); κ_j is the Rayleigh quotient u_jᵀ(Θ/N)u_j of
/// the primary (cosine) row. Basis order: mode 0, then (cos, sin) for
/// 0 < j < N/2, then the alternating mode j = N/2 when N is even.
///
/// Circulance is assumed, not checked: on a non-ring data set use [`eigen_modes`].
pub fn ring_modes(theta: &DMatrix<f64>) -> Modes {
    let n = theta.nrows();
    assert!(
        n >= 1 && theta.ncols() == n,
        "Θ must be square and non-empty"
    );
    let nf = n as f64;
    let angle = |i: usize| 2.0 * std::f64::consts::PI * i as f64 / nf;
    let mut basis = DMatrix::<f64>::zeros(n, n);
    let mut mode_of_basis = Vec::with_capacity(n);
    let mut primary = Vec::new();

    let mut row = 0;
    let mut push_row = |basis: &mut DMatrix<f64>, f: &dyn Fn(usize) -> f64, mode: usize| {
        for i in 0..n {
            basis[(row, i)] = f(i);
        }
        mode_of_basis.push(mode);
        row += 1;
        row - 1
    };

    let c0 = 1.0 / nf.sqrt();
    primary.push(push_row(&mut basis, &|_| c0, 0));
    let c = (2.0 / nf).sqrt();
    let n_pairs = (n - 1) / 2; // j = 1..ceil(N/2)-1
    for j in 1..=n_pairs {
        let jf = j as f64;
        primary.push(push_row(&mut basis, &|i| c * (jf * angle(i)).cos(), j));
        push_row(&mut basis, &|i| c * (jf * angle(i)).sin(), j);
    }
    if n.is_multiple_of(2) && n >= 2 {
        let alt = |i: usize| if i.is_multiple_of(2) { c0 } else { -c0 };
        primary.push(push_row(&mut basis, &alt, n / 2));
    }

    let theta_hat = theta / nf;
    let kappa = primary
        .iter()
        .map(|&b| {
            let u = basis.row(b).transpose();
            (u.transpose() * &theta_hat * &u)[(0, 0)]
        })
        .collect();
    Modes {
        kappa,
        basis,
        mode_of_basis,
        primary,
    }
}

/// Eigenmodes of Θ̂ = Θ/N for any data set: one basis row per eigenvector,
/// sorted by κ descending. Each eigenvector's sign is fixed so that its
/// largest-magnitude component (the first one, on ties up to 1e-12) is positive,
/// making the basis deterministic.
pub fn eigen_modes(theta: &DMatrix<f64>) -> Modes {
    let n = theta.nrows();
    assert!(
        n >= 1 && theta.ncols() == n,
        "Θ must be square and non-empty"
    );
    // Symmetrise first: the recursion produces exact symmetry, but user kernels
    // (e.g. empirical NTKs) may carry round-off asymmetry.
    let theta_hat = (theta + theta.transpose()) / (2.0 * n as f64);
    let eig = SymmetricEigen::new(theta_hat);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut basis = DMatrix::<f64>::zeros(n, n);
    for (row, &col) in order.iter().enumerate() {
        let v = eig.eigenvectors.column(col);
        let vmax = v.amax();
        let pivot = (0..n).find(|&i| v[i].abs() >= vmax - 1e-12).unwrap_or(0);
        let sign = if v[pivot] < 0.0 { -1.0 } else { 1.0 };
        for i in 0..n {
            basis[(row, i)] = sign * v[i];
        }
    }
    Modes {
        kappa: order.iter().map(|&c| eig.eigenvalues[c]).collect(),
        basis,
        mode_of_basis: (0..n).collect(),
        primary: (0..n).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theory::activation::{Activation, Parametrization};
    use crate::theory::kernels::{NetSpec, infinite_width_kernels};
    use crate::theory::test_rng::Rng;

    fn spec(act: Activation) -> NetSpec {
        NetSpec {
            input_dim: 2,
            width: 256,
            depth: 2,
            activation: act,
            parametrization: Parametrization::Ntk,
            sigma_w: 1.5,
            sigma_b: 0.1,
        }
    }

    fn ring(n: usize) -> Vec<Vec<f64>> {
        (0..n)
            .map(|j| {
                let t = 2.0 * std::f64::consts::PI * j as f64 / n as f64;
                vec![t.cos(), t.sin()]
            })
            .collect()
    }

    fn check_modes(modes: &Modes, theta: &DMatrix<f64>) {
        let n = theta.nrows();
        let theta_hat = theta / n as f64;
        let gram = &modes.basis * modes.basis.transpose();
        assert!(
            (gram - DMatrix::identity(n, n)).amax() < 1e-12,
            "not orthonormal"
        );
        let scale = theta_hat.norm();
        for b in 0..n {
            let u = modes.row(b);
            let resid = &theta_hat * &u - modes.kappa_of_basis(b) * &u;
            assert!(resid.norm() <= 1e-10 * scale, "row {b}: {}", resid.norm());
        }
        for (m, &p) in modes.primary.iter().enumerate() {
            assert_eq!(modes.mode_of_basis[p], m);
        }
    }

    #[test]
    fn ring_modes_are_orthonormal_eigenvectors() {
        for n in [1, 2, 5, 8, 13, 16] {
            for act in [Activation::Erf, Activation::Relu, Activation::Tanh] {
                let theta = infinite_width_kernels(&spec(act), &ring(n)).ntk;
                let modes = ring_modes(&theta);
                assert_eq!(modes.n_modes(), n / 2 + 1);
                let mult = modes.multiplicity();
                assert_eq!(mult.iter().sum::<usize>(), n);
                assert!(mult.iter().all(|&m| m == 1 || m == 2));
                check_modes(&modes, &theta);
            }
        }
    }

    #[test]
    fn eigen_modes_on_random_data() {
        let mut rng = Rng::new(7);
        let xs: Vec<Vec<f64>> = (0..11)
            .map(|_| (0..3).map(|_| rng.normal()).collect())
            .collect();
        let mut s = spec(Activation::Erf);
        s.input_dim = 3;
        let theta = infinite_width_kernels(&s, &xs).ntk;
        let modes = eigen_modes(&theta);
        assert_eq!(modes.n_modes(), 11);
        assert!(modes.kappa.windows(2).all(|w| w[0] >= w[1]));
        check_modes(&modes, &theta);
        // Deterministic sign: largest component positive.
        for b in 0..11 {
            let r = modes.row(b);
            let imax = r.iamax();
            assert!(r[imax] > 0.0);
        }
        // Trace is preserved: Σκ = tr Θ̂.
        let tr: f64 = modes.kappa.iter().sum();
        assert!((tr - theta.trace() / 11.0).abs() < 1e-10 * tr.abs());
    }
}
