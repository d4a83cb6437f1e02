//! SIGINT and SIGTERM: a long run notices them between batches, writes a checkpoint
//! and its outputs so far, says how to resume, and exits 130 or 143.
//!
//! A second signal of the same kind ends the process at once (the shell's usual
//! escape when the first one is waiting on a long batch).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

struct Flags {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();
/// The signal that interrupted the run, once it has been acted on.
static HANDLED: AtomicI32 = AtomicI32::new(0);

/// Installs the handlers (idempotent). Until this is called, the signals keep their
/// default action.
pub fn install() {
    FLAGS.get_or_init(|| {
        let int = Arc::new(AtomicBool::new(false));
        let term = Arc::new(AtomicBool::new(false));
        for (sig, flag) in [(SIGINT, &int), (SIGTERM, &term)] {
            // The second signal exits with the conventional status right away.
            let _ = signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, flag.clone());
            let _ = signal_hook::flag::register(sig, flag.clone());
        }
        Flags { int, term }
    });
}

/// The signal received and not yet acted on, if any (SIGINT before SIGTERM).
pub fn pending() -> Option<i32> {
    let f = FLAGS.get()?;
    if f.int.load(Ordering::Relaxed) {
        Some(SIGINT)
    } else if f.term.load(Ordering::Relaxed) {
        Some(SIGTERM)
    } else {
        None
    }
}

/// Records that the run stopped for `signal`; `exit_status` then gives 128 + signal.
pub fn mark_handled(signal: i32) {
    HANDLED.store(signal, Ordering::Relaxed);
}

/// The process exit status of a run that stopped for a signal (130, 143), if it did.
pub fn exit_status() -> Option<u8> {
    match HANDLED.load(Ordering::Relaxed) {
        0 => None,
        s => u8::try_from(128 + s).ok(),
    }
}

/// A run stopped by SIGINT or SIGTERM after writing its outputs so far and a
/// checkpoint; the message ends in the command that resumes it.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {signal} at step {step}: {what}")]
pub struct Interrupted {
    pub signal: &'static str,
    pub step: usize,
    /// Where the results are, and how to go on.
    pub what: String,
}

impl Interrupted {
    /// The error of a run stopped by `signal` after `step`, recording the exit status.
    pub fn new(
        signal: i32,
        step: usize,
        out: &std::path::Path,
        checkpoint: &std::path::Path,
    ) -> Self {
        mark_handled(signal);
        Interrupted {
            signal: name(signal),
            step,
            what: format!(
                "the outputs so far and a checkpoint are in {}; resume with: {}",
                out.display(),
                resume_command(checkpoint)
            ),
        }
    }

    /// The same for a run that keeps no checkpoint (one process on several devices).
    pub fn without_checkpoint(signal: i32, step: usize, out: &std::path::Path) -> Self {
        mark_handled(signal);
        Interrupted {
            signal: name(signal),
            step,
            what: format!(
                "the outputs so far are in {}; a run over several --devices keeps no checkpoint, so re-run it (or train one --shard per device, which can resume)",
                out.display()
            ),
        }
    }
}

/// The signal's name for messages.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// The command line that resumes this run from `checkpoint`: the same arguments with
/// any earlier `--resume` replaced. Arguments are quoted for a POSIX shell when needed.
pub fn resume_command(checkpoint: &std::path::Path) -> String {
    let mut args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        if args[i] == "--resume" {
            args.drain(i..(i + 2).min(args.len()));
        } else if args[i].starts_with("--resume=") {
            args.remove(i);
        } else {
            i += 1;
        }
    }
    args.push("--resume".into());
    args.push(checkpoint.display().to_string());
    args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

fn quote(a: &str) -> String {
    let plain = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting_survives_a_shell() {
        assert_eq!(super::quote("out/a b"), "'out/a b'");
        assert_eq!(super::quote("it's"), "'it'\\''s'");
        assert_eq!(super::quote("--lr=0.5"), "--lr=0.5");
    }
}
