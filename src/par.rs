//! Host-side data parallelism over the machine's cores with scoped threads: the
//! host work (FFTs, mode sums, ODE tables) is a few flat loops that need no more.

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

/// `f(range)` for `threads()` contiguous ranges covering 0..n, in order: for
/// reductions that keep one accumulator per core.
pub fn ranges<T: Send>(n: usize, f: impl Fn(std::ops::Range<usize>) -> T + Sync) -> Vec<T> {
    let chunk = n.div_ceil(threads()).max(1);
    map(
        n.div_ceil(chunk),
        |r| f(r * chunk..((r + 1) * chunk).min(n)),
    )
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
    fn map_ranges_and_chunks_cover_everything_once_in_order() {
        for n in [0usize, 1, 7, 1000] {
            assert_eq!(
                super::map(n, |i| i * i),
                (0..n).map(|i| i * i).collect::<Vec<_>>()
            );
            let r = super::ranges(n, |r| r.collect::<Vec<_>>());
            assert_eq!(r.concat(), (0..n).collect::<Vec<_>>());
        }
        let mut v = vec![0usize; 35];
        super::chunks_mut(&mut v, 5, |i, c| c.iter_mut().for_each(|x| *x += i));
        assert_eq!(v, (0..35).map(|j| j / 5).collect::<Vec<_>>());
    }
}
