//! Activation functions and parametrisation choices shared by theory and simulators.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Error for parsing an enum from a string; lists the accepted names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{got}'; valid values: {valid}")]
pub struct ParseEnumError {
    pub kind: &'static str,
    pub got: String,
    pub valid: &'static str,
}

/// Pointwise non-linearity φ of the hidden layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Erf,
    Relu,
    Tanh,
    Identity,
}

impl Activation {
    pub const ALL: [Activation; 4] = [
        Activation::Erf,
        Activation::Relu,
        Activation::Tanh,
        Activation::Identity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Erf => "erf",
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Identity => "identity",
        }
    }

    pub fn eval(self, x: f64) -> f64 {
        match self {
            Activation::Erf => libm::erf(x),
            Activation::Relu => x.max(0.0),
            Activation::Tanh => x.tanh(),
            Activation::Identity => x,
        }
    }

    /// φ'(x). relu'(0) is taken as 0 (the subgradient the GPU kernels also use).
    pub fn deriv(self, x: f64) -> f64 {
        match self {
            // d/dx erf(x) = 2/√π · e^{-x²}
            Activation::Erf => std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp(),
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Tanh => {
                let t = x.tanh();
                1.0 - t * t
            }
            Activation::Identity => 1.0,
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = ParseEnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseEnumError {
                kind: "activation",
                got: s.to_string(),
                valid: "erf, relu, tanh, identity",
            })
    }
}

/// How weights enter the forward pass (DESIGN §1). Both give the same NNGP; they
/// differ in the NTK because gradients are taken w.r.t. different parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Parametrization {
    /// h = (σ_w/√fan_in)·W z + σ_b·b with W, b ~ N(0, 1).
    Ntk,
    /// h = W z + b with W ~ N(0, σ_w²/fan_in), b ~ N(0, σ_b²).
    Standard,
}

impl Parametrization {
    pub fn name(self) -> &'static str {
        match self {
            Parametrization::Ntk => "ntk",
            Parametrization::Standard => "standard",
        }
    }
}

impl fmt::Display for Parametrization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Parametrization {
    type Err = ParseEnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Parametrization::Ntk, Parametrization::Standard]
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseEnumError {
                kind: "parametrization",
                got: s.to_string(),
                valid: "ntk, standard",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_roundtrip() {
        for a in Activation::ALL {
            assert_eq!(a.to_string().parse::<Activation>().unwrap(), a);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{a}\""));
        }
        for p in [Parametrization::Ntk, Parametrization::Standard] {
            assert_eq!(p.to_string().parse::<Parametrization>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        let err = "sigmoid".parse::<Activation>().unwrap_err().to_string();
        assert!(err.contains("erf, relu, tanh, identity"), "{err}");
        assert!("xyz".parse::<Parametrization>().is_err());
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let h = 1e-6;
        for a in Activation::ALL {
            for &x in &[-1.7, -0.3, 0.4, 2.1] {
                let fd = (a.eval(x + h) - a.eval(x - h)) / (2.0 * h);
                assert!((fd - a.deriv(x)).abs() < 1e-8, "{a} at {x}");
            }
        }
        assert_eq!(Activation::Relu.deriv(0.0), 0.0);
    }
}
