//! The disorder dual of DESIGN §4.4: every lattice patch carries one network
//! member's frozen mass matrix M²(x) = Θ̂_{e(x)}(0) (in the mode basis, through the
//! run's matching) and starts from that member's own initial mode amplitudes, so the
//! fields of a patch couple as the member's modes do. In the lazy limit a patch
//! reproduces its member exactly; what the network does beyond it is NTK drift.

use serde::Serialize;

use super::DualityError;
use super::class_stats::{ClassStats, Estimate, LatticeSamples, z_score};
use super::compare::{CompareRow, POWER_WINDOW};
use super::plan::{DualPlan, matrix_matching};
use crate::nn::results::NnResults;
use crate::report::CsvTable;
use crate::report::csv::sci;

/// A row of `compare/finite_width.csv`: one class's power on the network, the free
/// dual and the disorder dual.
#[derive(Default, Serialize)]
pub struct FiniteWidthCsv {
    step: usize,
    #[serde(serialize_with = "sci")]
    tau: f64,
    mode: usize,
    #[serde(serialize_with = "sci")]
    nn_power: f64,
    #[serde(serialize_with = "sci")]
    free_power: f64,
    #[serde(serialize_with = "sci")]
    disorder_power: f64,
    #[serde(serialize_with = "sci")]
    ntk_drift_member_mean: f64,
}

/// What the disorder lattice is given: per member its matched mass matrix, the
/// member of every patch, and the patches' initial fields.
pub struct DisorderSetup {
    /// members × F × F, row-major, the matched M²_e.
    pub matrices: Vec<f32>,
    pub patch_of_site: Vec<u32>,
    pub phi: Vec<f32>,
    pub dphi: Vec<f32>,
    /// Members the patches play (the traced ones with an NTK).
    pub members: usize,
}

/// Builds the disorder dual from the members' initial NTKs Θ_e(0) (E·N·N, Θ not
/// Θ/N) and their traced initial amplitudes. Patch x plays member x mod K, so
/// with M³ ≥ K every member fills ⌊M³/K⌋ or ⌈M³/K⌉ patches with copies of itself:
/// the member's own amplitudes, not fresh draws from its kernel, since the point of
/// this dual is to follow the very members the network trained.
pub fn setup(
    plan: &DualPlan,
    res: &NnResults,
    members0: &[f32],
) -> Result<DisorderSetup, DualityError> {
    let modes = &res.modes;
    let n = modes.mode_of_basis.len();
    let k = res.config.member_traces.min(members0.len() / (n * n));
    let first = res
        .records
        .first()
        .filter(|r| r.step == 0 && r.traces.len() >= k * n);
    let Some(first) = first.filter(|_| k > 0) else {
        return Err(DualityError::Plan(
            "the disorder dual needs every member's initial mode amplitudes: keep --member-traces > 0".into(),
        ));
    };
    let sites = plan.config.grid.pow(3);
    if sites < k {
        return Err(DualityError::Plan(format!(
            "the disorder dual needs a patch per member: --grid {} has {sites} patches for {k} traced members (raise --grid or lower --member-traces)",
            plan.config.grid
        )));
    }
    let (eta, beta) = (res.config.lr, res.config.momentum);
    let u = &modes.basis;
    let mut matrices = Vec::with_capacity(k * n * n);
    let mut velocity = Vec::with_capacity(k);
    for member in members0.chunks_exact(n * n).take(k) {
        let theta = nalgebra::DMatrix::from_row_slice(
            n,
            n,
            &member
                .iter()
                .map(|v| *v as f64 / n as f64)
                .collect::<Vec<f64>>(),
        );
        let m = u * theta * u.transpose();
        let (_, m2, g) = matrix_matching(plan.matching, eta, beta, &m)?;
        for b in 0..n {
            for c in 0..n {
                matrices.push(m2[(b, c)] as f32);
            }
        }
        velocity.push(g);
    }
    let patch_of_site: Vec<u32> = (0..sites).map(|x| (x % k) as u32).collect();
    let mut phi = vec![0f32; n * sites];
    let mut dphi = vec![0f32; n * sites];
    for (e, g) in velocity.iter().enumerate() {
        let c0 =
            nalgebra::DVector::from_iterator(n, (0..n).map(|b| first.traces[e * n + b] as f64));
        let v0 = g * &c0;
        for x in (e..sites).step_by(k) {
            for b in 0..n {
                phi[b * sites + x] = c0[b] as f32;
                dphi[b * sites + x] = v0[b] as f32;
            }
        }
    }
    Ok(DisorderSetup {
        matrices,
        patch_of_site,
        phi,
        dphi,
        members: k,
    })
}

/// Per class: how much of the network's departure from the free dual the frozen
/// NTK disorder accounts for.
#[derive(Clone, Debug, Serialize)]
pub struct ClassDecomposition {
    pub mode: usize,
    /// max z of the network's power against the free dual's.
    pub nn_vs_free_power_max_z: f64,
    /// max over the window of |P_nn − P_disorder| in units of the network's se
    /// (both sides hold the same members, so their sampling noise is shared).
    pub nn_vs_disorder_power_max_dev_se: f64,
    /// 1 − Σ|P_nn − P_disorder| / Σ|P_nn − P_free| over the window: the part of the
    /// departure from the free dual that NTK disorder explains (the rest is drift).
    pub disorder_explained_fraction: f64,
}

/// `metrics.finite_width` of report.json.
#[derive(Clone, Debug, Serialize)]
pub struct FiniteWidthMetrics {
    pub members: usize,
    pub classes: Vec<ClassDecomposition>,
    /// Per-member NTK drift ‖Θ_e(s) − Θ_e(0)‖/‖Θ_e(0)‖ at the last measurement.
    pub ntk_drift_member_mean: Option<f64>,
    pub ntk_drift_member_sd: Option<f64>,
}

/// compare/finite_width.csv and the decomposition, from the free comparison's rows
/// and the disorder lattice's samples (class statistics over `members` members).
pub fn decompose(
    res: &NnResults,
    rows: &[CompareRow],
    disorder: &[Vec<ClassStats>],
    dis_samples: &LatticeSamples,
    members: usize,
) -> (CsvTable<FiniteWidthCsv>, FiniteWidthMetrics) {
    let eta = res.config.lr;
    let nm = res.modes.n_modes();
    let mut t = CsvTable::new();
    let power0: Vec<f64> = rows
        .first()
        .map(|r| r.theory.iter().map(|c| c.power.value).collect())
        .unwrap_or_default();
    let drift_at = |step: usize| {
        res.ntk
            .iter()
            .rfind(|n| n.step <= step)
            .map(|n| n.drift_member_mean)
            .unwrap_or(f64::NAN)
    };
    let mut acc = vec![(0.0f64, 0.0f64, 0.0f64, 0.0f64); nm];
    for row in rows {
        let Some(i) = dis_samples.steps.iter().position(|&s| s == row.step) else {
            continue;
        };
        for j in 0..nm {
            let (nn, free, dis) = (row.nn[j].power, row.lattice[j].power, disorder[i][j].power);
            t.push(FiniteWidthCsv {
                step: row.step,
                tau: row.step as f64 * eta.sqrt(),
                mode: j,
                nn_power: nn.value,
                free_power: free.value,
                disorder_power: dis.value,
                ntk_drift_member_mean: drift_at(row.step),
            });
            if row.theory[j].power.value < POWER_WINDOW * power0[j] {
                continue;
            }
            let a = &mut acc[j];
            a.0 = a.0.max(z_score(nn, free));
            a.1 = a.1.max(z_score(
                nn,
                Estimate {
                    value: dis.value,
                    se: 0.0,
                },
            ));
            a.2 += (nn.value - dis.value).abs();
            a.3 += (nn.value - free.value).abs();
        }
    }
    let classes = acc
        .iter()
        .enumerate()
        .map(|(j, a)| ClassDecomposition {
            mode: j,
            nn_vs_free_power_max_z: a.0,
            nn_vs_disorder_power_max_dev_se: a.1,
            disorder_explained_fraction: if a.3 > 0.0 { 1.0 - a.2 / a.3 } else { f64::NAN },
        })
        .collect();
    let last = res.ntk.last();
    (
        t,
        FiniteWidthMetrics {
            members,
            classes,
            ntk_drift_member_mean: last.map(|n| n.drift_member_mean),
            ntk_drift_member_sd: last.map(|n| n.drift_member_sd),
        },
    )
}
