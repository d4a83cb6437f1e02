//! Philox4x32-10 and Box–Muller normals on the host, bit for bit as
//! `shaders/shared/rng.wgsl` computes them: the engines key their shaders with
//! `seed_key`, the teacher data set draws from it, and the CPU twins use it.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// The 4×32-bit Philox block for `(counter, key)`.
pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for _ in 0..10 {
        let p0 = (M0 as u64) * (c[0] as u64);
        let p1 = (M1 as u64) * (c[2] as u64);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// The key for a 64-bit seed.
pub fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// Uniform in (0, 1) from the top 24 bits, as the shader computes it.
pub fn unit(x: u32) -> f64 {
    ((x >> 8) as f64 + 0.5) * 5.960_464_477_539_063e-8
}

/// Two standard normals from one block (f64 twin of `philox_normal2`).
pub fn normal2(counter: [u32; 4], key: [u32; 2]) -> [f64; 2] {
    let r = philox4x32(counter, key);
    let rad = (-2.0 * unit(r[0]).ln()).sqrt();
    let ang = std::f64::consts::TAU * unit(r[1]);
    [rad * ang.cos(), rad * ang.sin()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_known_answer() {
        // Known-answer vectors of the Random123 distribution for Philox4x32-10.
        assert_eq!(
            philox4x32([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn normals_have_unit_moments() {
        let key = seed_key(7);
        let n = 100_000u32;
        let (mut s1, mut s2) = (0.0, 0.0);
        for i in 0..n {
            for z in normal2([i, 0, 0, 0], key) {
                s1 += z;
                s2 += z * z;
            }
        }
        let m = 2.0 * n as f64;
        // Standard errors: 1/sqrt(m) for the mean, sqrt(2/m) for the second moment.
        assert!((s1 / m).abs() < 5.0 / m.sqrt());
        assert!((s2 / m - 1.0).abs() < 5.0 * (2.0 / m).sqrt());
    }
}
