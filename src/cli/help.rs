//! Parsing the command line: the typed defaults shown in `--help`, a refused flag
//! value as one line, and the config keys of a subcommand (its flags' names).

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Command, CommandFactory, FromArgMatches};

use serde::Serialize;

use super::{Cli, NnArgs};
use crate::config::lattice::lattice_defaults;
use crate::config::nn::nn_defaults;
use crate::config::run::{knob_defaults, run_defaults, sweep_defaults};

/// The command line, parsed. A value a flag refuses (`--width -3`, `--activation
/// sigmoid`) comes back as an error for which [`value_error`] gives the one line.
pub fn parse<I: IntoIterator<Item = T>, T: Into<OsString> + Clone>(
    args: I,
) -> Result<Cli, clap::Error> {
    let matches = command().try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

/// The whole command, with every default shown in `--help`. The flags stay
/// optional (`None` when not given, so a config file's value shows through), so
/// the defaults are shown in the help text rather than given to clap.
pub fn command() -> Command {
    // `run`, `sweep` and the bare command: the network's flags and the dual's knobs.
    let run = |c: Command, nn: NnArgs| with_defaults(with_defaults(c, &nn), &knob_defaults());
    let root = run(Cli::command(), run_defaults());
    root.mut_subcommand("nn", |c| with_defaults(c, &nn_defaults()))
        .mut_subcommand("run", |c| run(c, run_defaults()))
        .mut_subcommand("sweep", |c| run(c, sweep_defaults()))
        .mut_subcommand("lattice", |c| with_defaults(c, &lattice_defaults()))
}

/// The one line of a refused flag value, `--width must be a positive integer (got
/// -3)` or `--activation unknown value `sigmoid`, expected one of ...`, as the
/// validation words it for a config key; None for other usage errors (unknown flags,
/// missing values), which clap reports itself.
pub fn value_error(e: &clap::Error) -> Option<String> {
    let text = |k: ContextKind| match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    // "--width <WIDTH>" names the flag by its first word.
    let flag = text(ContextKind::InvalidArg)?;
    let flag = flag.split_whitespace().next()?.to_string();
    let value = text(ContextKind::InvalidValue).unwrap_or_default();
    match e.kind() {
        ErrorKind::ValueValidation => {
            let why = std::error::Error::source(e).map(|s| s.to_string());
            Some(match why {
                Some(w) if w.starts_with("must") => format!("{flag} {w}"),
                Some(w) => format!("{flag} invalid value `{value}`: {w}"),
                None => format!("{flag} invalid value `{value}`"),
            })
        }
        ErrorKind::InvalidValue => {
            let valid = match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(v)) => v
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            // No value at all (`--width` last): clap's "a value is required" line.
            if value.is_empty() || valid.is_empty() {
                return None;
            }
            Some(format!(
                "{flag} unknown value `{value}`, expected one of {valid}"
            ))
        }
        _ => None,
    }
}

/// The one line to print for a command-line error and the exit status, or None for
/// --help and --version (clap prints those): a refused value exits 1 like any input
/// the validation refuses ([`value_error`]), other usage errors with clap's status
/// ([`usage_error`]).
pub fn error_line(e: &clap::Error) -> Option<(String, u8)> {
    match value_error(e) {
        Some(line) => Some((format!("error: {line}"), 1)),
        None => usage_error(e).map(|line| (line, e.exit_code() as u8)),
    }
}

/// A usage error other than a refused value, as one line: clap's `error: …` line,
/// with its `tip: …` (a similar flag's name) in parentheses. None for --help and
/// --version, which print their text.
pub fn usage_error(e: &clap::Error) -> Option<String> {
    if !e.use_stderr() {
        return None;
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next()?.to_string();
    Some(match lines.find(|l| l.starts_with("tip:")) {
        Some(tip) => format!("{first} ({tip})"),
        None => first,
    })
}

/// The config keys of a subcommand's flags: its clap arguments' ids (the field
/// names, which are the keys), less `config`, which names the file itself.
pub fn config_keys<A: Args>() -> Vec<String> {
    A::augment_args(Command::new("keys"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .filter(|k| k != "config")
        .collect()
}

/// Appends `[default: V]` to the help of every flag that `defaults` (a set of
/// flags) gives: its keys are the flags' ids.
fn with_defaults<T: Serialize>(cmd: Command, defaults: &T) -> Command {
    let table = toml::Table::try_from(defaults).unwrap_or_default();
    table.into_iter().fold(cmd, |c, (id, v)| {
        let shown = match v {
            toml::Value::String(s) => s,
            toml::Value::Array(a) => a
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        };
        c.mut_arg(id, |a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            a.help(format!("{help} [default: {shown}]"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(args: &[&str]) -> Option<String> {
        let e =
            parse(std::iter::once("nncosmo-gpu").chain(args.iter().copied())).expect_err("refused");
        value_error(&e)
    }

    #[test]
    fn refused_values_are_one_line_naming_the_flag() {
        assert_eq!(
            err(&["nn", "--width", "-3"]).as_deref(),
            Some("--width must be a positive integer (got -3)")
        );
        assert_eq!(
            err(&["lattice", "--steps", "0"]).as_deref(),
            Some("--steps must be a positive integer (got 0)")
        );
        assert_eq!(
            err(&["lattice", "--fields", "-2"]).as_deref(),
            Some("--fields must be a positive integer (got -2)")
        );
        assert_eq!(
            err(&["nn", "--activation", "sigmoid"]).as_deref(),
            Some(
                "--activation unknown value `sigmoid`, expected one of `erf`, `relu`, `tanh`, `identity`"
            )
        );
        // The hidden removed dual is parsed, so that validation can say why it went.
        assert!(parse(["x", "run", "--dual", "single-field"]).is_ok());
        let lr = err(&["nn", "--lr", "fast"]).unwrap();
        assert!(lr.starts_with("--lr invalid value `fast`: "), "{lr}");
        // Usage errors that are not about a value stay clap's.
        assert_eq!(err(&["nn", "--widht", "3"]), None);
    }

    #[test]
    fn other_usage_errors_are_one_line() {
        let e = parse(["nncosmo-gpu", "nn", "--wdith", "8"]).unwrap_err();
        let line = usage_error(&e).unwrap();
        assert!(
            line.starts_with("error: unexpected argument '--wdith'"),
            "{line}"
        );
        assert!(line.contains("tip:") && line.contains("--width"), "{line}");
        assert!(!line.contains('\n'));
        let missing = parse(["nncosmo-gpu", "nn", "--width"]).unwrap_err();
        assert_eq!(value_error(&missing), None);
        let line = usage_error(&missing).unwrap();
        assert!(line.contains("a value is required for '--width"), "{line}");
        let help = parse(["nncosmo-gpu", "nn", "--help"]).unwrap_err();
        assert_eq!(usage_error(&help), None);
        assert_eq!(error_line(&help), None);
        // A refused value exits 1 like the validation's refusals; other usage errors 2.
        let bad = parse(["nncosmo-gpu", "nn", "--width", "-3"]).unwrap_err();
        let (line, status) = error_line(&bad).unwrap();
        assert_eq!(line, "error: --width must be a positive integer (got -3)");
        assert_eq!(status, 1);
        assert_eq!(error_line(&e).map(|l| l.1), Some(2));
    }

    #[test]
    fn help_shows_the_typed_defaults() {
        let mut c = command();
        let nn = c
            .find_subcommand_mut("nn")
            .unwrap()
            .render_help()
            .to_string();
        assert!(nn.contains("[default: 1024]"), "{nn}");
        assert!(nn.contains("[default: 0.5]"), "{nn}");
        let run = c
            .find_subcommand_mut("run")
            .unwrap()
            .render_help()
            .to_string();
        assert!(run.contains("[default: 0.01]"), "{run}");
        assert!(run.contains("[default: multi-field]"), "{run}");
    }

    #[test]
    fn config_keys_are_the_flag_names() {
        let keys = config_keys::<NnArgs>();
        for k in [
            "width", "sigma_w", "out", "force", "backend", "adapter", "devices",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k}: {keys:?}");
        }
        assert!(!keys.iter().any(|x| x == "config"));
    }
}
