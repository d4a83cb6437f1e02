//! Host-side data parallelism over the machine's cores with scoped threads: the
//! host work (FFTs, mode sums, ODE tables) is a few flat loops that need no more.

use std::ops::{AddAssign, Range};

/// The host's core count.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |t| t.get())
}

/// `f(0..n)` in order, in contiguous runs of indices, one run per core.
pub fn map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let chunk = n.div_ceil(threads()).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|a| s.spawn(move || (a..(a + chunk).min(n)).map(f).collect::<Vec<T>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("host worker panicked"))
            .collect()
    })
}

/// A reduction over 0..n into `width` accumulators: each core runs `f` on its own
/// contiguous range with its own zeroed accumulators, and those are added up
/// element by element, in range order.
pub fn accumulate<T>(n: usize, width: usize, f: impl Fn(Range<usize>, &mut [T]) + Sync) -> Vec<T>
where
    T: Copy + Default + AddAssign + Send,
{
    let chunk = n.div_ceil(threads()).max(1);
    let parts = map(n.div_ceil(chunk), |r| {
        let mut acc = vec![T::default(); width];
        f(r * chunk..((r + 1) * chunk).min(n), &mut acc);
        acc
    });
    let mut total = vec![T::default(); width];
    for p in &parts {
        for (t, x) in total.iter_mut().zip(p) {
            *t += *x;
        }
    }
    total
}

/// `f(i, chunk)` on the consecutive `len`-element chunks of `data`, in contiguous
/// runs of chunks, one run per core.
pub fn chunks_mut<T: Send>(data: &mut [T], len: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let per = (data.len() / len).div_ceil(threads()).max(1);
    let f = &f;
    std::thread::scope(|sc| {
        for (r, run) in data.chunks_mut(per * len).enumerate() {
            sc.spawn(move || {
                for (i, chunk) in run.chunks_exact_mut(len).enumerate() {
                    f(r * per + i, chunk);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn map_accumulate_and_chunks_cover_everything_once() {
        for n in [0usize, 1, 7, 1000] {
            assert_eq!(
                super::map(n, |i| i * i),
                (0..n).map(|i| i * i).collect::<Vec<_>>()
            );
            // Every index counted once, whatever the split.
            let hist = super::accumulate(n, n.max(1), |r, h: &mut [u32]| r.for_each(|i| h[i] += 1));
            assert!(hist[..n].iter().all(|&c| c == 1));
            let total = super::accumulate(n, 1, |r, s: &mut [usize]| s[0] += r.sum::<usize>());
            assert_eq!(total[0], n * n.saturating_sub(1) / 2);
        }
        let mut v = vec![0usize; 35];
        super::chunks_mut(&mut v, 5, |i, c| c.iter_mut().for_each(|x| *x += i));
        assert_eq!(v, (0..35).map(|j| j / 5).collect::<Vec<_>>());
    }
}
