//! Mode functions of the initial fluctuations, per k_eff² class.
//!
//! A mode function (u, u̇) turns the Hermitian noise (B, C) of `ic_noise.wgsl` into
//! δφ̃_k = √(N³/dx³)·(Re u·B + Im u·C), and likewise δφ̇̃_k with u̇, so that
//! ⟨|δφ̃_k|²⟩·dx³/N³ = |u|², with the vacuum's φ–φ̇ correlation built in.

use rustfft::num_complex::Complex64;

use super::LatticeError;
use super::spectrum::ModeTable;
use crate::config::lattice::{LatticeConfig, Spectrum, Velocity};
use crate::theory::desitter::bunch_davies_initial;

/// (u, u̇) for every class of the table.
pub type ModeFunctions = Vec<(Complex64, Complex64)>;

/// Evaluates `f(k_eff²)` once per class.
pub fn per_class(table: &ModeTable, f: &dyn Fn(f64) -> (Complex64, Complex64)) -> ModeFunctions {
    table.class_k2.iter().map(|&k2| f(k2)).collect()
}

/// Mode functions of an isotropic spectrum: u = √P_φ, u̇ = i√P_φ̇ (uncorrelated φ, φ̇).
pub fn from_power(table: &ModeTable, power: &dyn Fn(f64) -> (f64, f64)) -> ModeFunctions {
    per_class(table, &|k2| {
        let (pf, pv) = power(k2.sqrt());
        (
            Complex64::new(pf.sqrt(), 0.0),
            Complex64::new(0.0, pv.sqrt()),
        )
    })
}

/// Bunch–Davies data, through a table in ln k when there are many classes: each
/// evaluation integrates from deep inside the horizon, which is costly. The smooth
/// part u·k^{3/2}·e^{−ik/H} is interpolated (error ≈ 1e-4 with 256 nodes).
fn bunch_davies(table: &ModeTable, m2: f64, h: f64) -> ModeFunctions {
    const NODES: usize = 256;
    if table.classes() <= NODES || h == 0.0 {
        return per_class(table, &|k2| bunch_davies_initial(k2, m2, h));
    }
    let kmin = table
        .class_k2
        .iter()
        .cloned()
        .fold(f64::MAX, f64::min)
        .sqrt();
    let kmax = table.class_k2.iter().cloned().fold(0.0, f64::max).sqrt();
    let (l0, l1) = (kmin.ln(), kmax.ln());
    let smooth = |k: f64, z: Complex64| z * k.powf(1.5) * Complex64::from_polar(1.0, -k / h);
    let nodes: Vec<(Complex64, Complex64)> = (0..NODES)
        .map(|i| {
            let k = (l0 + (l1 - l0) * i as f64 / (NODES - 1) as f64).exp();
            let (u, du) = bunch_davies_initial(k * k, m2, h);
            (smooth(k, u), smooth(k, du))
        })
        .collect();
    per_class(table, &|k2| {
        let k = k2.sqrt();
        let x = ((k.ln() - l0) / (l1 - l0) * (NODES - 1) as f64).clamp(0.0, (NODES - 1) as f64);
        let i = (x.floor() as usize).min(NODES - 2);
        let w = x - i as f64;
        let back = k.powf(-1.5) * Complex64::from_polar(1.0, k / h);
        let u = nodes[i].0 * (1.0 - w) + nodes[i + 1].0 * w;
        let du = nodes[i].1 * (1.0 - w) + nodes[i + 1].1 * w;
        (u * back, du * back)
    })
}

/// The mode functions the configuration asks for (None: no fluctuations), for the
/// single field (field 0's m²).
pub fn from_config(
    cfg: &LatticeConfig,
    table: &ModeTable,
) -> Result<Option<ModeFunctions>, LatticeError> {
    from_config_m2(cfg, table, cfg.m2)
}

/// `from_config` for a field of mass² `m2` (each field's vacuum has its own mass).
pub fn from_config_m2(
    cfg: &LatticeConfig,
    table: &ModeTable,
    m2: f64,
) -> Result<Option<ModeFunctions>, LatticeError> {
    let omega = |k2: f64| (k2 + m2).sqrt();
    let mut modes = match cfg.spectrum {
        Spectrum::None => return Ok(None),
        Spectrum::BunchDavies => {
            if cfg.hubble < 0.0 {
                return Err(LatticeError::NonFinite(
                    "--spectrum bunch-davies needs --hubble ≥ 0 (no vacuum in a contracting background)".into(),
                ));
            }
            let kmin2 = table.class_k2.iter().cloned().fold(f64::MAX, f64::min);
            if cfg.hubble == 0.0 && kmin2 + m2 <= 0.0 {
                return Err(LatticeError::NonFinite(format!(
                    "--spectrum bunch-davies: the flat-space vacuum needs k² + m² > 0, but the lowest lattice mode has k² + m² = {:.6}",
                    kmin2 + m2
                )));
            }
            bunch_davies(table, m2, cfg.hubble)
        }
        Spectrum::PowerLaw { amplitude, tilt } => per_class(table, &|k2| {
            let u = (amplitude * k2.sqrt().powf(tilt)).sqrt();
            (Complex64::new(u, 0.0), Complex64::new(0.0, -omega(k2) * u))
        }),
        Spectrum::White { amplitude } => per_class(table, &|k2| {
            let u = amplitude.sqrt();
            (Complex64::new(u, 0.0), Complex64::new(0.0, -omega(k2) * u))
        }),
    };
    if cfg.velocity == Velocity::Rest {
        for m in &mut modes {
            m.1 = Complex64::default();
        }
    }
    check_finite(
        table,
        &modes,
        "the --spectrum parameters (--amplitude, --tilt, --mass)",
    )?;
    Ok(Some(modes))
}

/// Refuses mode functions with NaN or infinity, naming the first bad k.
pub fn check_finite(
    table: &ModeTable,
    modes: &ModeFunctions,
    what: &str,
) -> Result<(), LatticeError> {
    for (c, (u, du)) in modes.iter().enumerate() {
        if !(u.re.is_finite() && u.im.is_finite() && du.re.is_finite() && du.im.is_finite()) {
            return Err(LatticeError::NonFinite(format!(
                "{what} make the initial field NaN or infinite at k_eff = {:.6} (u = {u}, u̇ = {du}); choose values with a finite, non-negative power at every lattice k",
                table.class_k2[c].sqrt()
            )));
        }
    }
    Ok(())
}
