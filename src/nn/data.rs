//! Training sets: the ring, a random teacher network, or user CSV.

use std::path::Path;

use thiserror::Error;

use crate::philox::{normal2, seed_key};

#[derive(Debug, Error)]
pub enum DataError {
    #[error("--data {path}: {message}")]
    Csv { path: String, message: String },
}

/// N points x_i ∈ ℝ^d with scalar targets y_i.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub x: Vec<Vec<f64>>,
    pub y: Vec<f64>,
    /// Whether the points form the ring, whose NTK eigenmodes are Fourier modes.
    pub is_ring: bool,
}

impl Dataset {
    pub fn points(&self) -> usize {
        self.y.len()
    }

    pub fn input_dim(&self) -> usize {
        self.x[0].len()
    }

    /// x_j = (cos θ_j, sin θ_j), θ_j = 2πj/N, y_j = y₀ + A·cos θ_j.
    pub fn ring(points: usize, offset: f64, amplitude: f64) -> Self {
        let theta = |j: usize| std::f64::consts::TAU * j as f64 / points as f64;
        Self {
            x: (0..points)
                .map(|j| vec![theta(j).cos(), theta(j).sin()])
                .collect(),
            y: (0..points)
                .map(|j| offset + amplitude * theta(j).cos())
                .collect(),
            is_ring: true,
        }
    }

    /// Gaussian inputs labelled by a fixed random erf network of width 64 (NTK
    /// parametrisation), both drawn from the counter RNG under a key derived from `seed`.
    pub fn teacher(points: usize, input_dim: usize, seed: u64) -> Self {
        let key_seed = seed ^ 0x7EAC_4E12_0000_0000;
        let key = seed_key(key_seed);
        let x: Vec<Vec<f64>> = (0..points)
            .map(|i| {
                (0..input_dim)
                    .map(|j| normal2([i as u32, j as u32, 1, 0], key)[0])
                    .collect()
            })
            .collect();
        let y = super::teacher::labels(&x, input_dim, key_seed);
        Self {
            x,
            y,
            is_ring: false,
        }
    }

    /// Columns x0..x{d-1},y with a header row; every value must be a finite number.
    pub fn from_csv(path: &Path) -> Result<Self, DataError> {
        let err = |message: String| DataError::Csv {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines.next().ok_or_else(|| err("file is empty".into()))?;
        let cols: Vec<&str> = header.split(',').map(str::trim).collect();
        let d = cols.len().saturating_sub(1);
        let expected: Vec<String> = (0..d)
            .map(|j| format!("x{j}"))
            .chain(["y".to_string()])
            .collect();
        if d == 0 || cols != expected {
            return Err(err(format!(
                "header must be x0,...,x{{d-1}},y (got `{header}`)"
            )));
        }
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for (ln, line) in lines {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != d + 1 {
                return Err(err(format!(
                    "line {}: expected {} columns, found {}",
                    ln + 1,
                    d + 1,
                    cells.len()
                )));
            }
            let mut row = Vec::with_capacity(d + 1);
            for c in cells {
                let v: f64 = c
                    .parse()
                    .map_err(|_| err(format!("line {}: `{c}` is not a number", ln + 1)))?;
                if !v.is_finite() {
                    return Err(err(format!("line {}: `{c}` is not finite", ln + 1)));
                }
                row.push(v);
            }
            y.push(row.pop().unwrap());
            x.push(row);
        }
        if x.is_empty() {
            return Err(err("no data rows".into()));
        }
        Ok(Self {
            x,
            y,
            is_ring: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_targets() {
        let d = Dataset::ring(8, 0.5, 2.0);
        assert_eq!(d.points(), 8);
        assert!((d.y[0] - 2.5).abs() < 1e-15 && (d.y[4] + 1.5).abs() < 1e-15);
        assert!((d.x[2][0]).abs() < 1e-15 && (d.x[2][1] - 1.0).abs() < 1e-15);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let dir = std::env::temp_dir().join(format!("nncosmo-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            ("x0,y\n1,2\n3\n", "line 3: expected 2 columns"),
            ("x0,y\n1,abc\n", "`abc` is not a number"),
            ("x0,y\n1,NaN\n", "not finite"),
            ("a,b\n1,2\n", "header"),
        ];
        for (i, (body, want)) in cases.iter().enumerate() {
            let p = dir.join(format!("{i}.csv"));
            std::fs::write(&p, body).unwrap();
            let e = Dataset::from_csv(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let p = dir.join("ok.csv");
        std::fs::write(&p, "x0,x1,y\n1,2,3\n4,5,6\n").unwrap();
        let d = Dataset::from_csv(&p).unwrap();
        assert_eq!(d.x, vec![vec![1.0, 2.0], vec![4.0, 5.0]]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
