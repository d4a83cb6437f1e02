//! Lattice checkpoints and field snapshots in the `.npy` + manifest format of
//! `crate::checkpoint`.
//!
//! A checkpoint holds the engine state (`LatticeState`: φ, π, step, flux integrals,
//! shifts, class sums) and the run's outputs so far (`RunProgress`), so a resumed run
//! writes the same files as an uninterrupted one. A snapshot holds φ and φ̇ of every
//! field at one output step: shape (N, N, N) for one field and (F, N, N, N) for
//! several, indexed [z, y, x] (site x + N(y + Nz)).

use std::path::Path;

use super::run::RunProgress;
use super::theory::ClassSums;
use super::{Lattice, LatticeError, Observables};
use crate::checkpoint::{Checkpoint, CheckpointWriter, Manifest};
use crate::lattice::engine::state::LatticeState;

/// Columns of `obs.npy`: the `Observables` fields in declaration order.
const OBS_COLUMNS: usize = 6;

fn obs_row(o: &Observables) -> [f64; OBS_COLUMNS] {
    [
        o.phi_mean,
        o.dphi_mean,
        o.phi_var,
        o.rho_kin,
        o.rho_grad,
        o.rho_pot,
    ]
}

/// Writes the lattice's state and the run's outputs so far into `dir`.
pub fn save(
    dir: &Path,
    config: &serde_json::Value,
    lat: &Lattice,
    p: &RunProgress,
) -> Result<(), LatticeError> {
    let st = lat.save_state()?;
    let (f, n) = (lat.fields as u64, lat.n as u64);
    let mut w = CheckpointWriter::new(dir)?;
    w.array("phi", &[f, n, n, n], &st.phi)?;
    w.array("pi", &[f, n, n, n], &st.pi)?;
    w.array("flux", &[f], &st.flux)?;
    w.array("shifts", &[f], &st.shifts)?;
    if let Some(sums) = &st.sums {
        let c = sums.first().map_or(0, |s| s.ff.len()) as u64;
        type Part = fn(&ClassSums) -> &[f64];
        let parts: [(&str, Part); 3] = [
            ("sums_ff", |s| &s.ff),
            ("sums_fv", |s| &s.fv),
            ("sums_vv", |s| &s.vv),
        ];
        for (name, part) in parts {
            let v: Vec<f64> = sums.iter().flat_map(|s| part(s).iter().copied()).collect();
            w.array(name, &[f, c], &v)?;
        }
    }
    let r = p.obs.len() as u64;
    let steps: Vec<u64> = p.obs.iter().map(|o| o.0 as u64).collect();
    let times: Vec<f64> = p.obs.iter().map(|o| o.1).collect();
    let obs: Vec<f64> = p
        .obs
        .iter()
        .flat_map(|o| o.2.iter().flat_map(obs_row))
        .collect();
    let flux: Vec<f64> = p.obs.iter().flat_map(|o| o.3.iter().copied()).collect();
    w.array("obs_step", &[r], &steps)?;
    w.array("obs_t", &[r], &times)?;
    w.array("obs", &[r, f, OBS_COLUMNS as u64], &obs)?;
    w.array("obs_flux", &[r, f], &flux)?;
    let s = p.spectra.len() as u64;
    let bins = p
        .spectra
        .first()
        .and_then(|x| x.2.first())
        .map_or(0, |v| v.len()) as u64;
    let steps: Vec<u64> = p.spectra.iter().map(|x| x.0 as u64).collect();
    let times: Vec<f64> = p.spectra.iter().map(|x| x.1).collect();
    let power: Vec<f64> = p
        .spectra
        .iter()
        .flat_map(|x| x.2.iter().flatten().copied())
        .collect();
    w.array("spectrum_step", &[s], &steps)?;
    w.array("spectrum_t", &[s], &times)?;
    w.array("spectrum", &[s, f, bins], &power)?;
    let mut m = Manifest::new("lattice", config.clone(), st.step as u64, lat.cfg.seed);
    m.scalars.insert("t".into(), lat.t.into());
    m.scalars.insert("evolve_s".into(), p.evolve_s.into());
    m.scalars.insert("spectra_s".into(), p.spectra_s.into());
    w.commit(m)?;
    Ok(())
}

/// Loads checkpoint `c` into `lat` and returns the outputs it had written.
pub fn restore(c: &Checkpoint, lat: &mut Lattice) -> Result<RunProgress, LatticeError> {
    let (f, sites) = (lat.fields, lat.n.pow(3));
    let phi = c.vec::<f32>("phi", f * sites)?;
    let pi = c.vec::<f32>("pi", f * sites)?;
    let sums = if c.manifest.arrays.contains_key("sums_ff") {
        let classes = lat.table.classes();
        let ff = c.vec::<f64>("sums_ff", f * classes)?;
        let fv = c.vec::<f64>("sums_fv", f * classes)?;
        let vv = c.vec::<f64>("sums_vv", f * classes)?;
        let part = |v: &[f64], b: usize| v[b * classes..(b + 1) * classes].to_vec();
        Some(
            (0..f)
                .map(|b| ClassSums {
                    ff: part(&ff, b),
                    fv: part(&fv, b),
                    vv: part(&vv, b),
                })
                .collect(),
        )
    } else {
        None
    };
    lat.load_state(LatticeState {
        phi,
        pi,
        step: c.manifest.step as usize,
        flux: c.vec("flux", f)?,
        shifts: c.vec("shifts", f)?,
        sums,
    })?;
    let steps: Vec<u64> = c.array("obs_step")?.1;
    let r = steps.len();
    let times = c.vec::<f64>("obs_t", r)?;
    let obs = c.vec::<f64>("obs", r * f * OBS_COLUMNS)?;
    let flux = c.vec::<f64>("obs_flux", r * f)?;
    let mut p = RunProgress {
        evolve_s: c.scalar("evolve_s")?,
        spectra_s: c.scalar("spectra_s")?,
        ..Default::default()
    };
    for i in 0..r {
        let o = (0..f)
            .map(|b| {
                let v = &obs[(i * f + b) * OBS_COLUMNS..(i * f + b + 1) * OBS_COLUMNS];
                Observables {
                    phi_mean: v[0],
                    dphi_mean: v[1],
                    phi_var: v[2],
                    rho_kin: v[3],
                    rho_grad: v[4],
                    rho_pot: v[5],
                }
            })
            .collect();
        p.obs.push((
            steps[i] as usize,
            times[i],
            o,
            flux[i * f..(i + 1) * f].to_vec(),
        ));
    }
    let (shape, power) = c.array::<f64>("spectrum")?;
    let steps: Vec<u64> = c.vec("spectrum_step", shape[0] as usize)?;
    let times: Vec<f64> = c.vec("spectrum_t", shape[0] as usize)?;
    let bins = shape.get(2).copied().unwrap_or(0) as usize;
    for (i, (step, t)) in steps.iter().zip(times).enumerate() {
        let per_field = (0..f)
            .map(|b| power[(i * f + b) * bins..(i * f + b + 1) * bins].to_vec())
            .collect();
        p.spectra.push((*step as usize, t, per_field));
    }
    Ok(p)
}

/// Writes φ and φ̇ of every field now into OUT/snapshots/step-SSSSSS.
pub fn snapshot(out: &Path, config: &serde_json::Value, lat: &Lattice) -> Result<(), LatticeError> {
    let (phi, dphi) = lat.read_field()?;
    let n = lat.n as u64;
    let shape: Vec<u64> = if lat.fields == 1 {
        vec![n, n, n]
    } else {
        vec![lat.fields as u64, n, n, n]
    };
    let dir = out.join("snapshots").join(format!("step-{:06}", lat.step));
    let mut w = CheckpointWriter::new(&dir)?;
    w.array("phi", &shape, &phi)?;
    w.array("dphi", &shape, &dphi)?;
    let mut m = Manifest::new("snapshot", config.clone(), lat.step as u64, lat.cfg.seed);
    m.scalars.insert("t".into(), lat.t.into());
    m.scalars
        .insert("a".into(), (lat.cfg.hubble * lat.t).exp().into());
    w.commit(m)?;
    Ok(())
}
