//! Strict reading of config files: every table and key must be known to the
//! subcommand, and a value of the wrong type is reported with its key and line.
//!
//! The file is deserialised once straight from its text into its schema, so toml's
//! error carries the span of the offending key or value; the merging of flags over
//! the file (`merge_args`) then only sees checked tables. The `nn` and `lattice`
//! keys are checked against their flags' names first: their schemas flatten the
//! shared output and device keys, which serde cannot combine with
//! `deny_unknown_fields`.

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::ConfigError;
use super::sweep::SweepTable;
use crate::cli::config_keys;
use crate::cli::lattice::LatticeArgs;
use crate::cli::nn::NnArgs;
use crate::cli::run::LatticeKnobs;

/// Which subcommand reads the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `nn`: the keys of `nn` at the top level, or an `[nn]` table (with, in a
    /// shared run file, the `[lattice]` and `[sweep]` tables of `run`).
    Nn,
    /// `lattice`: the keys of `lattice` at the top level, or a `[lattice]` table.
    Lattice,
    /// `run` and `sweep`: the tables `[nn]`, `[lattice]` and `[sweep]`.
    Run,
}

/// A run file: up to three tables, nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RunFile {
    nn: Option<NnArgs>,
    lattice: Option<LatticeKnobs>,
    sweep: Option<SweepTable>,
}

/// A lattice file with a `[lattice]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LatticeFile {
    lattice: LatticeArgs,
}

/// Checks the whole config file at `path` for `kind`; the error names the file, the
/// line and the key.
pub fn check_file(path: &Path, kind: FileKind) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    check_text(&path.display().to_string(), &text, kind)
}

/// As [`check_file`], for the file's text.
pub fn check_text(path: &str, text: &str, kind: FileKind) -> Result<(), ConfigError> {
    let table: toml::Table = text.parse().map_err(|e| located(path, text, &e))?;
    let at = (path, text, &table);
    match kind {
        FileKind::Run => keys_then_schema::<NnArgs, RunFile>(at, Some("nn")),
        FileKind::Nn if table.contains_key("nn") => {
            keys_then_schema::<NnArgs, RunFile>(at, Some("nn"))
        }
        FileKind::Nn => keys_then_schema::<NnArgs, NnArgs>(at, None),
        FileKind::Lattice if table.contains_key("lattice") => {
            keys_then_schema::<LatticeArgs, LatticeFile>(at, Some("lattice"))
        }
        FileKind::Lattice => keys_then_schema::<LatticeArgs, LatticeArgs>(at, None),
    }
}

/// The keys of `section` checked against the flags of `A` ([`flat_keys`]), then the
/// whole file against its schema `F`.
fn keys_then_schema<A: clap::Args + DeserializeOwned, F: DeserializeOwned>(
    (path, text, table): (&str, &str, &toml::Table),
    section: Option<&str>,
) -> Result<(), ConfigError> {
    flat_keys::<A>(path, text, table, section)?;
    toml::from_str::<F>(text)
        .map(drop)
        .map_err(|e| located(path, text, &e))
}

/// Checks the keys of the top level (`section` None) or of the table `section`
/// against the flags of `A`, in the file's order: a key that is no flag is refused,
/// and so is a value its flag's type refuses, each with its line. Done key by key
/// because `A` flattens the output and device keys, whose errors would otherwise
/// carry the span of the whole table. Other kinds of values (a section that is no
/// table) are left to the schema.
fn flat_keys<A: clap::Args + DeserializeOwned>(
    path: &str,
    text: &str,
    table: &toml::Table,
    section: Option<&str>,
) -> Result<(), ConfigError> {
    let scope = match section {
        None => table,
        Some(s) => match table.get(s) {
            Some(toml::Value::Table(t)) => t,
            _ => return Ok(()),
        },
    };
    let keys = config_keys::<A>();
    let mut lines: Vec<(usize, &String, &toml::Value)> = scope
        .iter()
        .map(|(k, v)| (key_line(text, section, k), k, v))
        .collect();
    lines.sort_by_key(|l| l.0);
    for (line, k, v) in lines {
        let message = if !keys.contains(k) {
            "unknown key (see --help for the keys)".to_string()
        } else {
            let one = toml::Table::from_iter([(k.clone(), v.clone())]);
            match A::deserialize(toml::Value::Table(one)) {
                Ok(_) => continue,
                Err(e) => e.message().to_string(),
            }
        };
        return Err(ConfigError::Parse {
            path: path.to_string(),
            message: format!("line {line}: {}", about(k, &tidy(&message))),
        });
    }
    Ok(())
}

/// A value of key `k` refused by its type outside a file (flags set in code): as
/// the flag's parser words it where it does, else naming the key.
pub(crate) fn key_error(path: &str, k: &str, message: &str) -> ConfigError {
    let message = tidy(message);
    if message.starts_with("must ") {
        return ConfigError::invalid(&k.replace('_', "-"), message);
    }
    ConfigError::Parse {
        path: path.to_string(),
        message: about(k, &message),
    }
}

/// What is wrong with key `k`, worded as its flag's refusal where the flag words it
/// (a named choice), else naming the key.
fn about(k: &str, message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown variant") {
        format!("--{} unknown value{rest}", k.replace('_', "-"))
    } else if message.starts_with("must ") {
        // A count refused by the flag's own parser (`cli::common::count_key`).
        format!("--{} {message}", k.replace('_', "-"))
    } else if let Some(rest) = message.strip_prefix("unknown key") {
        format!("unknown key `{k}`{rest}")
    } else if message.contains(&format!("`{k}`")) {
        message.to_string()
    } else {
        format!("key `{k}`: {message}")
    }
}

/// The line of `key = ...` in `section` (None: before any table header; there a
/// table `[key]` counts too), or 1.
fn key_line(text: &str, section: Option<&str>, key: &str) -> usize {
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            current = key_of(t, 0);
            if section.is_none() && current.as_deref() == Some(key) {
                return i + 1;
            }
            continue;
        }
        let here = line
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').trim_matches('\''));
        if current.as_deref() == section && here == Some(key) {
            return i + 1;
        }
    }
    1
}

/// One line: `config file PATH line L: key `K`: what is wrong`.
pub fn located(path: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let mut message = tidy(e.message());
    if let Some(span) = e.span() {
        let start = span.start.min(text.len());
        let line_no = text[..start].matches('\n').count() + 1;
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line = text[line_start..].lines().next().unwrap_or("");
        message = match key_of(line, start - line_start) {
            Some(k) if !message.starts_with("unknown key") => {
                format!("line {line_no}: {}", about(&k, &message))
            }
            _ => format!("line {line_no}: {message}"),
        };
    }
    ConfigError::Parse {
        path: path.to_string(),
        message,
    }
}

/// The key of a `key = value` line when `col` lies in its value; the name of a table
/// header `[name]`.
fn key_of(line: &str, col: usize) -> Option<String> {
    let t = line.trim();
    if let Some(h) = t.strip_prefix('[') {
        let name = h.trim_start_matches('[').split(']').next()?.trim();
        return (!name.is_empty()).then(|| name.to_string());
    }
    let eq = line.find('=')?;
    if col <= eq {
        return None;
    }
    let k = line[..eq].trim().trim_matches('"').trim_matches('\'');
    (!k.is_empty()).then(|| k.to_string())
}

/// toml's message on one line, with the words of this program (keys, not fields).
fn tidy(message: &str) -> String {
    let one = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let one = one.replace("unknown field", "unknown key");
    // "unknown key `x`, expected one of ..." lists every key; the name is what matters.
    match one.find(", expected one of") {
        Some(i) if one.starts_with("unknown key") => {
            format!("{} (see --help for the keys)", &one[..i])
        }
        _ => one,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, kind: FileKind) -> String {
        check_text("c.toml", text, kind).unwrap_err().to_string()
    }

    #[test]
    fn valid_files_pass() {
        check_text("c.toml", "width = 64\nsteps = 5", FileKind::Nn).unwrap();
        check_text(
            "c.toml",
            "[nn]\nwidth = 64\n[lattice]\ngrid = 8",
            FileKind::Nn,
        )
        .unwrap();
        check_text("c.toml", "grid = 8\nmass = [1.0, 2]", FileKind::Lattice).unwrap();
        check_text("c.toml", "[lattice]\ngrid = 8", FileKind::Lattice).unwrap();
        let sweep = "[nn]\nsteps = 5\n[sweep]\nvary = [\"lr=1,2\"]\nrepeats = 2";
        check_text("c.toml", sweep, FileKind::Run).unwrap();
    }

    #[test]
    fn unknown_keys_and_tables_are_named_with_their_line() {
        let cases = [
            ("width = 64\nwidht = 3", FileKind::Nn, "line 2", "`widht`"),
            (
                "[nn]\nwidth = 64\n[extra]\na = 1",
                FileKind::Nn,
                "line 3",
                "`extra`",
            ),
            (
                "[nn]\nsteps = 5\n[lattice]\ngird = 8",
                FileKind::Run,
                "line 4",
                "`gird`",
            ),
            (
                "[nn]\nsteps = 5\n[sweep]\nvry = []",
                FileKind::Run,
                "line 4",
                "`vry`",
            ),
            ("top = 1\n[nn]\nsteps = 5", FileKind::Run, "line 1", "`top`"),
            (
                "[lattice]\ngrid = 8\n[nn]\nx = 1",
                FileKind::Lattice,
                "line 3",
                "`nn`",
            ),
            ("grid = 8\nfoo = 1", FileKind::Lattice, "line 2", "`foo`"),
        ];
        for (text, kind, line, key) in cases {
            let e = err(text, kind);
            assert!(e.contains(line) && e.contains(key), "{text:?}: {e}");
            assert!(e.contains("unknown key"), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn wrong_types_name_key_and_line() {
        let cases = [
            (
                "steps = 5\nwidth = \"wide\"",
                FileKind::Nn,
                "line 2",
                "`width`",
            ),
            ("nn = 5", FileKind::Nn, "line 1", "`nn`"),
            ("nn = 5", FileKind::Run, "line 1", "`nn`"),
            ("[lattice]\ndx = true", FileKind::Lattice, "line 2", "`dx`"),
            ("[nn]\n\n\nlr = [1]", FileKind::Run, "line 4", "`lr`"),
            ("[nn]\nseed = -1", FileKind::Run, "line 2", "`seed`"),
        ];
        for (text, kind, line, key) in cases {
            let e = err(text, kind);
            assert!(e.contains(line) && e.contains(key), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        // A syntax error gives its line too.
        let e = err("width = 64\nsteps = = 3", FileKind::Nn);
        assert!(e.contains("line 2"), "{e}");
    }
}
