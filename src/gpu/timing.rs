//! Sizing a benchmark so that its timed region is long against the host's
//! synchronisation latency on any device, from llvmpipe to a datacentre GPU.

/// The number of steps that fills about `target_s` seconds. `time` runs k steps
/// synchronised and returns the seconds they took; probes double k from 1 until one
/// takes a tenth of the target (or k reaches `max`), so a fixed per-call latency
/// cannot pass for step time.
pub fn steps_for<E>(
    target_s: f64,
    max: usize,
    mut time: impl FnMut(usize) -> Result<f64, E>,
) -> Result<usize, E> {
    let mut k = 1;
    loop {
        let s = time(k)?;
        if s >= 0.1 * target_s || k >= max {
            let per_step = s / k as f64;
            return Ok(((target_s / per_step.max(1e-9)) as usize).clamp(1, max));
        }
        k = (2 * k).min(max);
    }
}

#[cfg(test)]
mod tests {
    use super::steps_for;

    #[test]
    fn latency_does_not_pass_for_step_time() {
        // 1 ms per call plus 1 µs per step: a one-step probe would suggest 1000
        // steps per second; the doubling probe finds the true rate.
        let mut calls = 0;
        let n = steps_for::<()>(1.0, 10_000_000, |k| {
            calls += 1;
            Ok(1e-3 + 1e-6 * k as f64)
        })
        .unwrap();
        assert!((900_000..=1_000_000).contains(&n), "{n}");
        assert!(calls < 30);
    }

    #[test]
    fn slow_steps_are_run_at_least_once_and_capped() {
        assert_eq!(steps_for::<()>(1.0, 100, |k| Ok(5.0 * k as f64)), Ok(1));
        assert_eq!(steps_for::<()>(1.0, 100, |k| Ok(1e-9 * k as f64)), Ok(100));
    }
}
