//! Progress of long loops: a live bar on a terminal, plain lines otherwise.
//!
//! Batch jobs (Slurm, CI, `2> log`) have no terminal; they get one line on stderr
//! every few percent, so a log shows how far a run got and how fast it went.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// Percent between plain progress lines.
pub const PLAIN_EVERY_PERCENT: u64 = 5;

/// A step counter: elapsed time, ETA and a free-form message (e.g. the loss).
pub struct StepBar {
    bar: ProgressBar,
    plain: Option<Mutex<Plain>>,
}

struct Plain {
    what: String,
    total: u64,
    start: Instant,
    /// The next percentage that earns a line.
    next: u64,
    message: String,
}

impl Plain {
    fn line(&self, pos: u64) -> String {
        let s = self.start.elapsed().as_secs_f64();
        let pct = 100 * pos / self.total.max(1);
        let eta = if pos > 0 && pos < self.total {
            format!(", ETA {:.0} s", s * (self.total - pos) as f64 / pos as f64)
        } else {
            String::new()
        };
        let msg = if self.message.is_empty() {
            String::new()
        } else {
            format!(" {}", self.message)
        };
        format!(
            "{}: {pct:3}% ({pos}/{} steps, {s:.1} s{eta}){msg}",
            self.what, self.total
        )
    }
}

impl StepBar {
    /// A bar on a terminal, plain lines every `PLAIN_EVERY_PERCENT` % otherwise.
    pub fn new(total: u64, what: &str) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{what} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} steps, ETA {{eta}} {{msg}}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            return StepBar { bar, plain: None };
        }
        StepBar {
            bar: ProgressBar::hidden(),
            plain: Some(Mutex::new(Plain {
                what: what.into(),
                total,
                start: Instant::now(),
                next: PLAIN_EVERY_PERCENT,
                message: String::new(),
            })),
        }
    }

    /// Shows nothing at all (a part of a run whose sibling reports progress).
    pub fn hidden() -> Self {
        StepBar {
            bar: ProgressBar::hidden(),
            plain: None,
        }
    }

    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
        if let Some(p) = &self.plain
            && let Ok(mut p) = p.lock()
        {
            let pct = 100 * pos / p.total.max(1);
            if pct >= p.next {
                eprintln!("{}", p.line(pos));
                p.next = (pct / PLAIN_EVERY_PERCENT + 1) * PLAIN_EVERY_PERCENT;
            }
        }
    }

    pub fn set_message(&self, msg: impl Into<Cow<'static, str>>) {
        let msg = msg.into();
        if let Some(p) = &self.plain
            && let Ok(mut p) = p.lock()
        {
            p.message = msg.to_string();
        }
        self.bar.set_message(msg);
    }

    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }
}

/// `StepBar::new`.
pub fn step_bar(total: u64, what: &str) -> StepBar {
    StepBar::new(total, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_say_how_far_and_how_fast() {
        let p = Plain {
            what: "nn".into(),
            total: 400,
            start: Instant::now(),
            next: 5,
            message: "loss 1.0e-3".into(),
        };
        let l = p.line(100);
        assert!(l.starts_with("nn:  25% (100/400 steps, "), "{l}");
        assert!(l.contains("ETA") && l.ends_with(" loss 1.0e-3"), "{l}");
        assert!(!p.line(400).contains("ETA"));
    }
}
