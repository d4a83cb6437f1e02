//! Seeded fuzzing of every subcommand's flags and config keys: each case takes a
//! tiny valid run and changes one or two flags (or writes one config key) to a
//! random, extreme or wrongly typed value, and runs the binary in a subprocess under
//! a timeout and a peak-RSS limit. Every case must end in exit 0, 1 or 2 with no
//! signal, panic or timeout, within the RSS limit; a value outside its flag's
//! domain must be refused (exit ≠ 0), never silently accepted.
//!
//! NNCOSMO_FUZZ_CASES (default 150) and NNCOSMO_FUZZ_SEED scale it up for an
//! adversarial pass outside CI.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::guard::{run_guarded, scratch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MIB: u64 = 1 << 20;
const RSS_LIMIT: u64 = 1536 * MIB;
const TIMEOUT: Duration = Duration::from_secs(60);

/// What values a flag accepts.
#[derive(Clone, Copy, Debug)]
enum Domain {
    /// A positive integer; `small` valid values keep the run tiny.
    Count(&'static [&'static str]),
    /// An integer ≥ 0.
    NonNeg(&'static [&'static str]),
    /// Any u64.
    Seed,
    /// A finite real > 0 within f32's range.
    Pos(&'static [&'static str]),
    /// A finite real ≥ 0 within f32's range.
    NonNegReal(&'static [&'static str]),
    /// Any finite real within f32's range.
    Real(&'static [&'static str]),
    /// A real in [0, 1).
    Prob,
    /// A finite real > 0 (host-side f64 only).
    F64Pos(&'static [&'static str]),
    /// A finite real ≥ 0 (host-side f64 only).
    F64NonNeg(&'static [&'static str]),
    /// One of these names.
    Choice(&'static [&'static str]),
    /// A free string whose validity depends on the machine (backend, adapter).
    Text,
    /// An output directory.
    Out,
    /// A flag without a value.
    Switch,
    /// Sweep axes KEY=V1,V2.
    Vary,
    /// A shard I/N.
    Split,
    /// `all` or a device count.
    DeviceCount,
}

use Domain::*;

struct Sub {
    /// Subcommand words.
    cmd: &'static [&'static str],
    /// A tiny valid run.
    base: &'static [&'static str],
    /// Whether the subcommand writes an output directory (--out).
    writes: bool,
    /// Whether it reads --config, and as which file shape ("nn", "lattice" or "run").
    config: Option<&'static str>,
    flags: &'static [(&'static str, Domain)],
}

const NN_FLAGS: &[(&str, Domain)] = &[
    ("width", Count(&["4", "8", "12"])),
    ("depth", Count(&["1", "2"])),
    ("ensemble", Count(&["1", "2", "3"])),
    ("activation", Choice(&["erf", "relu", "tanh", "identity"])),
    ("parametrization", Choice(&["ntk", "standard"])),
    ("sigma-w", Pos(&["0.5", "1", "2"])),
    ("sigma-b", NonNegReal(&["0", "0.1", "1"])),
    ("data", Choice(&["ring", "teacher"])),
    ("points", Count(&["2", "3", "5"])),
    ("input-dim", Count(&["2"])),
    ("target-offset", Real(&["0", "-1", "0.5"])),
    ("target-amplitude", Real(&["0", "1", "-2"])),
    ("steps", Count(&["1", "2", "5"])),
    ("lr", Pos(&["0.01", "0.1", "1e-5"])),
    ("momentum", Prob),
    ("record-every", Count(&["1", "2", "100"])),
    ("ntk-every", Count(&["1", "2", "1000"])),
    ("seed", Seed),
    ("chunk", Count(&["1", "2", "64"])),
    ("member-traces", NonNeg(&["0", "1"])),
    ("shard", Split),
    ("devices", DeviceCount),
    ("backend", Text),
    ("adapter", Text),
    ("out", Out),
    ("force", Switch),
    ("allow-unstable", Switch),
];

const LATTICE_FLAGS: &[(&str, Domain)] = &[
    // 2²¹: (2²¹)³·4 bytes wraps u64.
    ("grid", Count(&["4", "6", "8", "2097152"])),
    ("dx", Pos(&["0.5", "1", "2"])),
    ("dt", Pos(&["0.01", "0.05"])),
    ("hubble", Real(&["0", "0.5", "1"])),
    ("fields", Count(&["1", "2"])),
    ("mass", Real(&["0", "1", "0.5"])),
    ("lambda", NonNegReal(&["0", "0.1"])),
    ("phi-min", Real(&["0", "1", "-1"])),
    ("phi-init", Real(&["0", "1", "-1"])),
    ("dphi-init", Real(&["0", "1", "-1"])),
    (
        "spectrum",
        Choice(&["bunch-davies", "power-law", "white", "none"]),
    ),
    ("amplitude", NonNegReal(&["0", "1e-4"])),
    ("tilt", Real(&["-3", "0", "1"])),
    ("velocity", Choice(&["rest", "vacuum"])),
    ("integrator", Choice(&["leapfrog", "yoshida4"])),
    ("stencil", Choice(&["2", "4"])),
    ("steps", Count(&["1", "2", "5"])),
    ("output-every", Count(&["1", "2", "1000"])),
    ("seed", Seed),
    ("backend", Text),
    ("adapter", Text),
    ("out", Out),
    ("force", Switch),
    ("allow-tachyonic", Switch),
];

const RUN_FLAGS: &[(&str, Domain)] = &[
    ("width", Count(&["8", "16"])),
    ("depth", Count(&["1", "2"])),
    ("ensemble", Count(&["2", "4"])),
    ("points", Count(&["4", "6"])),
    ("steps", Count(&["4", "8"])),
    ("lr", Pos(&["0.05", "0.01"])),
    ("momentum", Prob),
    ("sigma-b", NonNegReal(&["0", "0.1"])),
    ("ntk-every", Count(&["1", "2", "4"])),
    ("seed", Seed),
    ("member-traces", NonNeg(&["0", "1"])),
    ("shard", Split),
    ("devices", DeviceCount),
    ("grid", Count(&["4", "6"])),
    ("dx", Pos(&["1", "10"])),
    ("stencil", Choice(&["2", "4"])),
    ("integrator", Choice(&["leapfrog", "yoshida4"])),
    ("substeps", Count(&["1", "2"])),
    ("lattice-outputs", Count(&["1", "2"])),
    ("lattice-seed", Seed),
    ("dual", Choice(&["multi-field", "disorder"])),
    ("matching", Choice(&["discrete", "continuum"])),
    ("dual-gradient", F64Pos(&["0.05", "0.1"])),
    ("eft-cubic", Switch),
    ("out", Out),
];

const SWEEP_FLAGS: &[(&str, Domain)] = &[
    ("vary", Vary),
    ("repeats", Count(&["1"])),
    ("steps", Count(&["4"])),
    ("ensemble", Count(&["2"])),
    ("out", Out),
];

const BENCH_FLAGS: &[(&str, Domain)] = &[
    ("ensemble", Count(&["1", "2"])),
    ("width", Count(&["4", "8"])),
    ("depth", Count(&["1", "2"])),
    ("points", Count(&["2", "4"])),
    ("steps", Count(&["1", "3"])),
];

const DICT_FLAGS: &[(&str, Domain)] = &[
    ("lr", F64Pos(&["0.1", "0.01"])),
    ("momentum", Prob),
    ("kappa", F64NonNeg(&["0", "1", "2.5"])),
];

const SUBS: &[Sub] = &[
    Sub {
        cmd: &["nn"],
        base: &[
            "--width",
            "8",
            "--ensemble",
            "2",
            "--points",
            "4",
            "--steps",
            "3",
            "--record-every",
            "1",
        ],
        writes: true,
        config: Some("nn"),
        flags: NN_FLAGS,
    },
    Sub {
        cmd: &["lattice"],
        base: &["--grid", "4", "--steps", "3", "--output-every", "1"],
        writes: true,
        config: Some("lattice"),
        flags: LATTICE_FLAGS,
    },
    Sub {
        cmd: &["run"],
        base: &[
            "--width",
            "8",
            "--ensemble",
            "4",
            "--points",
            "4",
            "--steps",
            "4",
            "--lr",
            "0.05",
            "--ntk-every",
            "2",
            "--grid",
            "4",
            "--lattice-outputs",
            "1",
        ],
        writes: true,
        config: Some("run"),
        flags: RUN_FLAGS,
    },
    Sub {
        cmd: &["sweep"],
        base: &[
            "--width",
            "8",
            "--ensemble",
            "2",
            "--points",
            "4",
            "--steps",
            "4",
            "--lr",
            "0.05",
            "--ntk-every",
            "2",
            "--grid",
            "4",
            "--vary",
            "lr=0.05,0.04",
        ],
        writes: true,
        config: Some("run"),
        flags: SWEEP_FLAGS,
    },
    Sub {
        cmd: &["bench", "nn"],
        base: &[
            "--ensemble",
            "2",
            "--width",
            "8",
            "--points",
            "4",
            "--steps",
            "2",
        ],
        writes: false,
        config: None,
        flags: BENCH_FLAGS,
    },
    Sub {
        cmd: &["dictionary"],
        base: &["--lr", "0.1"],
        writes: false,
        config: None,
        flags: DICT_FLAGS,
    },
];

/// Hostile integers: each with whether it is a valid count / non-negative integer /
/// u64 (`None`: not an integer at all).
const INTS: &[&str] = &[
    "0",
    "-1",
    "-9223372036854775808",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "4294967296",
    "1000000000000",
    "1.5",
    "1e3",
    "abc",
    "",
    "0x10",
    " 3",
];

const REALS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1e-300",
    "1e300",
    "1e40",
    "-1e40",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "abc",
    "",
    "1e308",
    "1.7976931348623157e309",
    "0.999999",
    "1",
];

const TEXTS: &[&str] = &["", "xyz", "ERF", "\u{1F600}", "ring.csv", "a=b", "--width"];

/// The value's verdict for a domain: Some(false) when it lies outside the domain
/// (it must be refused), Some(true) inside, None when it depends on more than the
/// flag (huge sizes are refused by the pre-flight check or are harmless).
fn verdict(d: Domain, v: &str) -> Option<bool> {
    let int = v.parse::<i128>().ok();
    let real = v.parse::<f64>().ok();
    let f32_ok = |x: f64| x.is_finite() && x.abs() <= f32::MAX as f64;
    match d {
        Count(ok) => match int {
            _ if ok.contains(&v) => Some(true),
            Some(i) if i <= 0 || i > i64::MAX as i128 => Some(false),
            Some(_) => None,
            None => Some(false),
        },
        NonNeg(ok) => match int {
            _ if ok.contains(&v) => Some(true),
            Some(i) if i < 0 || i > i64::MAX as i128 => Some(false),
            Some(_) => None,
            None => Some(false),
        },
        Seed => match int {
            Some(i) if (0..=u64::MAX as i128).contains(&i) => Some(true),
            _ => Some(false),
        },
        Pos(_) => match real {
            Some(x) if f32_ok(x) && x > 0.0 => None,
            _ => Some(false),
        },
        NonNegReal(_) => match real {
            Some(x) if f32_ok(x) && x >= 0.0 => None,
            _ => Some(false),
        },
        Real(_) => match real {
            Some(x) if f32_ok(x) => None,
            _ => Some(false),
        },
        Prob => match real {
            Some(x) if (0.0..1.0).contains(&x) => None,
            _ => Some(false),
        },
        F64Pos(_) => match real {
            Some(x) if x.is_finite() && x > 0.0 => None,
            _ => Some(false),
        },
        F64NonNeg(_) => match real {
            Some(x) if x.is_finite() && x >= 0.0 => None,
            _ => Some(false),
        },
        Choice(names) => Some(names.contains(&v)),
        Out => (v.is_empty()).then_some(false),
        // Valid when 0 ≤ I < N; N ≤ E depends on the ensemble.
        Split => match v
            .split_once('/')
            .map(|(i, n)| (i.parse::<u64>(), n.parse::<u64>()))
        {
            Some((Ok(i), Ok(n))) if i < n => None,
            _ => Some(false),
        },
        // K ≥ 1; K ≤ E and ≤ the devices there are depend on the run and machine.
        DeviceCount => match int {
            _ if v == "all" => Some(true),
            Some(k) if k >= 1 => None,
            _ => Some(false),
        },
        Text | Switch | Vary => None,
    }
}

/// One fuzz case: the argument list, the config file (if any) and whether an
/// invalid value went in.
struct Case {
    label: String,
    args: Vec<String>,
    config: Option<String>,
    invalid: bool,
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, xs: &'a [T]) -> &'a T {
    &xs[rng.random_range(0..xs.len())]
}

fn value_for(rng: &mut ChaCha8Rng, d: Domain) -> String {
    let valid: &[&str] = match d {
        Count(ok) | NonNeg(ok) | Pos(ok) | NonNegReal(ok) | Real(ok) | F64Pos(ok)
        | F64NonNeg(ok) => ok,
        Prob => &["0", "0.5", "0.9"],
        Choice(names) => names,
        Seed => &["0", "7", "18446744073709551615"],
        Split => &["0/1", "0/2", "1/2"],
        DeviceCount => &["1", "2", "all"],
        _ => &[],
    };
    let hostile: &[&str] = match d {
        Count(_) | NonNeg(_) | Seed => INTS,
        Pos(_) | NonNegReal(_) | Real(_) | Prob | F64Pos(_) | F64NonNeg(_) => REALS,
        Choice(_) | Text => TEXTS,
        Out => &["", "/proc/nncosmo-fuzz", "sub/dir"],
        Switch => &["true", "1", "no"],
        Split => &[
            "1/1",
            "2/2",
            "-1/2",
            "0/0",
            "a/b",
            "1",
            "0/99999999999",
            "3/4",
            "1/2/3",
        ],
        DeviceCount => &["0", "-1", "9", "x", "99999999999", "1.5"],
        Vary => &[
            "lr=0.05,0.04",
            "lr=",
            "foo=1",
            "width=4,8",
            "width=4,8,12",
            "lr=nan,1",
            "steps=0,1",
            "points=2,100000",
            "ensemble=1,99999999999",
            "depth=1,1000000000",
            "=",
            "lr",
        ],
    };
    if !valid.is_empty() && rng.random_bool(0.3) {
        pick(rng, valid).to_string()
    } else {
        pick(rng, hostile).to_string()
    }
}

/// A TOML rendering of a hostile value for a config key, or a wrongly typed one.
fn toml_value(rng: &mut ChaCha8Rng, d: Domain) -> (String, bool) {
    let wrong: &[&str] = &[
        "\"text\"",
        "true",
        "[1, 2]",
        "{ a = 1 }",
        "1979-05-27",
        "[]",
    ];
    if rng.random_bool(0.35) {
        let w = pick(rng, wrong);
        // Strings are the right type for choices, text and paths; lists for mass.
        let typed_ok = (matches!(d, Choice(_) | Text | Out) && w.starts_with('"'))
            || (matches!(d, Switch) && *w == "true");
        return (w.to_string(), !typed_ok);
    }
    let v = value_for(rng, d);
    // Devices are an integer or the text `all` (both accepted as strings too).
    if matches!(d, DeviceCount) {
        let bad = verdict(d, &v) == Some(false);
        return if v.parse::<i64>().is_ok() {
            (v, bad)
        } else {
            (format!("{v:?}"), bad)
        };
    }
    let is_string_domain = matches!(d, Choice(_) | Text | Out | Vary | Split);
    if is_string_domain {
        let bad = verdict(d, &v) == Some(false);
        return (format!("{v:?}"), bad);
    }
    if matches!(d, Switch) {
        return (
            if v == "true" {
                "true".into()
            } else {
                format!("{v:?}")
            },
            v != "true",
        );
    }
    // A number TOML can hold as itself, else as the string (a type error).
    let as_toml = if v.parse::<i64>().is_ok() || v.parse::<f64>().is_ok_and(|x| x.is_finite()) {
        if v.starts_with(' ') || v.starts_with("0x") || v == "-0" {
            format!("{v:?}")
        } else {
            v.clone()
        }
    } else {
        match v.as_str() {
            "nan" | "NaN" => "nan".into(),
            "inf" => "inf".into(),
            "-inf" => "-inf".into(),
            _ => format!("{v:?}"),
        }
    };
    let quoted = as_toml.starts_with('"');
    let bad = quoted || verdict(d, &v) == Some(false);
    (as_toml, bad)
}

fn make_case(rng: &mut ChaCha8Rng, k: usize) -> Case {
    let sub = pick(rng, SUBS);
    let mut args: Vec<String> = sub
        .cmd
        .iter()
        .chain(sub.base)
        .map(|s| s.to_string())
        .collect();
    if sub.writes {
        args.extend(["--out".into(), format!("out{k}"), "--force".into()]);
    }
    let mut invalid = false;
    let mut label = sub.cmd.join(" ");
    let use_config = sub.config.is_some() && rng.random_bool(0.25);
    let mut config = None;
    if use_config {
        let shape = sub.config.unwrap();
        let (flag, d) = *pick(rng, sub.flags);
        let key = flag.replace('-', "_");
        // Flags override the file: the base run's own value of this key gives way,
        // so the file's value is the one used.
        let name = format!("--{flag}");
        if let Some(i) = args.iter().position(|a| *a == name) {
            let with_value = !matches!(d, Switch);
            args.drain(i..i + 1 + usize::from(with_value));
        }
        let (text, bad) = match rng.random_range(0..10) {
            0 => ("bogus_key = 1".to_string(), true),
            1 => ("nn = 5".to_string(), true),
            2 => ("[bogus]\na = 1".to_string(), true),
            _ => {
                let (v, bad) = toml_value(rng, d);
                (format!("{key} = {v}"), bad)
            }
        };
        let body = match shape {
            "run" if !matches!(text.as_str(), "nn = 5") && !text.starts_with("[bogus]") => {
                // Run files hold tables: lattice knobs under [lattice], the rest under [nn].
                let lattice_keys = [
                    "grid",
                    "dx",
                    "stencil",
                    "integrator",
                    "substeps",
                    "lattice_outputs",
                    "lattice_seed",
                    "dual",
                    "matching",
                    "dual_gradient",
                    "eft_cubic",
                ];
                let table = if lattice_keys.contains(&key.as_str()) {
                    "lattice"
                } else {
                    "nn"
                };
                let table = if key == "vary" || key == "repeats" {
                    "sweep"
                } else {
                    table
                };
                format!("[{table}]\n{text}\n")
            }
            _ => format!("{text}\n"),
        };
        label = format!("{label} --config «{}»", body.trim().replace('\n', "⏎"));
        invalid |= bad;
        config = Some(body);
    } else {
        let n = if rng.random_bool(0.2) { 2 } else { 1 };
        let mut used: Vec<&str> = Vec::new();
        for _ in 0..n {
            let (flag, d) = *pick(rng, sub.flags);
            // Distinct flags: a second value would replace the first one's verdict.
            if used.contains(&flag) {
                continue;
            }
            used.push(flag);
            let v = value_for(rng, d);
            // The base run's own value of this flag gives way (run and sweep refuse
            // a flag given twice).
            let name = format!("--{flag}");
            if !matches!(d, Vary)
                && let Some(i) = args.iter().position(|a| *a == name)
            {
                let with_value = !matches!(name.as_str(), "--force");
                args.drain(i..i + 1 + usize::from(with_value));
            }
            if matches!(d, Switch) {
                // A switch given a value is a usage error (clap exits 2).
                if rng.random_bool(0.5) {
                    args.push(format!("--{flag}"));
                } else {
                    args.push(format!("--{flag}={v}"));
                    invalid = true;
                }
            } else {
                invalid |= verdict(d, &v) == Some(false);
                args.push(format!("--{flag}"));
                args.push(v.clone());
            }
            label = format!("{label} --{flag} {v:?}");
        }
    }
    Case {
        label,
        args,
        config,
        invalid,
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    refused: usize,
    faults: Vec<String>,
    silent: Vec<String>,
    max_rss: u64,
    max_seconds: f64,
}

fn run_case(dir: &Path, k: usize, case: &Case) -> (Option<String>, Option<String>, u64, f64, bool) {
    let mut args = case.args.clone();
    if let Some(body) = &case.config {
        let p = dir.join(format!("c{k}.toml"));
        std::fs::write(&p, body).unwrap();
        // The config goes right after the subcommand words.
        let at = if args[0] == "bench" { 2 } else { 1 };
        args.splice(at..at, ["--config".to_string(), p.display().to_string()]);
    }
    let o = run_guarded(&args, dir, TIMEOUT, RSS_LIMIT);
    let fault = o
        .fault()
        .map(|f| format!("{}: {f}\n{}", case.label, tail(&o.stderr)));
    let silent = (case.invalid && o.code == Some(0)).then(|| case.label.clone());
    // Clean up what an accepted run wrote.
    let _ = std::fs::remove_dir_all(dir.join(format!("out{k}")));
    (fault, silent, o.peak_rss, o.seconds, o.code != Some(0))
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s
        .lines()
        .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
        .collect();
    lines[lines.len().saturating_sub(4)..].join("\n")
}

#[test]
fn hostile_flags_and_config_keys_never_crash_hang_or_pass_silently() {
    let n: usize = std::env::var("NNCOSMO_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let seed: u64 = std::env::var("NNCOSMO_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_261_202);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cases: Vec<Case> = (0..n).map(|k| make_case(&mut rng, k)).collect();
    let dir = scratch("fuzz");
    let tally = Arc::new(Mutex::new(Tally::default()));
    let next = Arc::new(Mutex::new(0usize));
    let cases = Arc::new(cases);
    let t0 = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (tally, next, cases, dir) =
                (tally.clone(), next.clone(), cases.clone(), dir.clone());
            s.spawn(move || {
                loop {
                    let k = {
                        let mut g = next.lock().unwrap();
                        let k = *g;
                        *g += 1;
                        k
                    };
                    if k >= cases.len() {
                        break;
                    }
                    let (fault, silent, rss, secs, refused) = run_case(&dir, k, &cases[k]);
                    let mut t = tally.lock().unwrap();
                    t.cases += 1;
                    t.refused += usize::from(refused);
                    t.max_rss = t.max_rss.max(rss);
                    t.max_seconds = t.max_seconds.max(secs);
                    t.faults.extend(fault);
                    t.silent.extend(silent);
                }
            });
        }
    });
    let t = tally.lock().unwrap();
    let invalid = cases.iter().filter(|c| c.invalid).count();
    eprintln!(
        "fuzz seed {seed}: {} cases ({invalid} with an invalid value) in {:.0} s; {} refused; {} faults (panic, signal, timeout, RSS); {} silent acceptances; peak RSS {} MiB; slowest case {:.1} s",
        t.cases,
        t0.elapsed().as_secs_f64(),
        t.refused,
        t.faults.len(),
        t.silent.len(),
        t.max_rss / MIB,
        t.max_seconds
    );
    for f in &t.faults {
        eprintln!("FAULT {f}");
    }
    for s in &t.silent {
        eprintln!("SILENT {s}");
    }
    assert!(t.faults.is_empty(), "{} faults", t.faults.len());
    assert!(t.silent.is_empty(), "{} silent acceptances", t.silent.len());
    let _ = std::fs::remove_dir_all(&dir);
}
