//! Which configuration keys a checkpoint is bound to, its hash, and the sentence
//! naming the flags whose values differ between two configurations.

use std::collections::BTreeMap;

/// Config keys that do not change what a run computes (see the module docs).
pub const FREE_KEYS: &[&str] = &[
    "out",
    "devices",
    "force",
    "backend",
    "adapter",
    "checkpoint_every",
    "snapshot_every",
    "resume",
];

/// The config with the free keys removed, keys sorted (recursively).
fn canonical(config: &serde_json::Value) -> serde_json::Value {
    match config {
        serde_json::Value::Object(m) => {
            let sorted: BTreeMap<&String, serde_json::Value> = m
                .iter()
                .filter(|(k, _)| !FREE_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k, canonical(v)))
                .collect();
            serde_json::to_value(sorted).unwrap_or_default()
        }
        other => other.clone(),
    }
}

/// CRC-32 (hex) of the canonical JSON of the computation-relevant config keys.
pub fn config_hash(config: &serde_json::Value) -> String {
    let text = serde_json::to_string(&canonical(config)).unwrap_or_default();
    format!("{:08x}", crc32fast::hash(text.as_bytes()))
}

/// A config value as the user would type it (strings unquoted, null as "unset").
fn show(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "unset".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// The computation-relevant keys whose values differ, as one sentence naming their
/// flags (derived keys such as m² differ along with the flag they come from);
/// nested tables (the run's `nn` and `lattice`) are named by their keys.
pub fn config_difference(written: &serde_json::Value, now: &serde_json::Value) -> Option<String> {
    config_sides(written, now)
        .map(|(a, b)| format!("checkpoint was written with {a}, this run has {b}"))
}

/// The differing computation-relevant keys of two configurations, as each side's
/// flags and values (`--lr 0.5 --seed 1`, `--lr 0.4 --seed 2`).
pub fn config_sides(a: &serde_json::Value, b: &serde_json::Value) -> Option<(String, String)> {
    let mut diffs = Vec::new();
    differing(&canonical(a), &canonical(b), &mut diffs);
    if diffs.is_empty() {
        return None;
    }
    let side = |pick: fn(&(String, String, String)) -> &String| {
        diffs
            .iter()
            .map(|d| format!("{} {}", d.0, pick(d)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    Some((side(|d| &d.1), side(|d| &d.2)))
}

/// (flag, written value, current value) of every differing leaf key.
fn differing(
    a: &serde_json::Value,
    b: &serde_json::Value,
    out: &mut Vec<(String, String, String)>,
) {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        if a != b {
            out.push(("the configuration".into(), a.to_string(), b.to_string()));
        }
        return;
    };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let (x, y) = (a.get(k), b.get(k));
        if x == y {
            continue;
        }
        if let (Some(x @ serde_json::Value::Object(_)), Some(y @ serde_json::Value::Object(_))) =
            (x, y)
        {
            differing(x, y, out);
            continue;
        }
        out.push((format!("--{}", k.replace('_', "-")), show(x), show(y)));
    }
}
