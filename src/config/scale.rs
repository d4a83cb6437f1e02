//! Splitting an ensemble: `--shard I/N` (one process trains a slice of the members)
//! and `--devices all|K` (one process spreads its members over several devices).

use std::ops::Range;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigError;

/// Shard I of N: members [I·E/N, (I+1)·E/N) of an ensemble of E.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `I/N` and checks 0 ≤ I < N ≤ E.
    pub fn parse(text: &str, ensemble: usize) -> Result<Self, ConfigError> {
        let bad = |why: String| {
            ConfigError::invalid(
                "shard",
                format!("must be I/N with 0 ≤ I < N ≤ --ensemble {ensemble} ({why})"),
            )
        };
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| bad(format!("got `{text}`")))?;
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| bad(format!("got `{text}`")))
        };
        let (index, count) = (num(i)?, num(n)?);
        if count == 0 || index >= count {
            return Err(bad(format!("got {index}/{count}")));
        }
        if count > ensemble {
            return Err(bad(format!(
                "got {count} shards: every shard needs at least one member"
            )));
        }
        Ok(Shard { index, count })
    }

    /// The global member indices of this shard.
    pub fn members(&self, ensemble: usize) -> Range<usize> {
        split(ensemble, self.count, self.index)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Serialize for Shard {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Part `i` of `0..total` cut into `parts` contiguous pieces whose sizes differ by at
/// most one: [i·total/parts, (i+1)·total/parts).
pub fn split(total: usize, parts: usize, i: usize) -> Range<usize> {
    let at = |k: usize| (k as u128 * total as u128 / parts as u128) as usize;
    at(i)..at(i + 1)
}

/// How many devices one process trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Devices {
    /// Every adapter of the chosen backend.
    All,
    Count(usize),
}

impl Devices {
    /// Parses `all` or a positive K (at most the members to train).
    pub fn parse(text: &str, members: usize) -> Result<Self, ConfigError> {
        if text.trim() == "all" {
            return Ok(Devices::All);
        }
        match text.trim().parse::<i64>() {
            Ok(k) if k >= 1 && k as u64 <= members as u64 => Ok(Devices::Count(k as usize)),
            Ok(k) if k >= 1 => Err(ConfigError::invalid(
                "devices",
                format!("{k} exceeds the {members} members to train: every device needs one"),
            )),
            _ => Err(ConfigError::invalid(
                "devices",
                format!("must be `all` or a positive integer (got `{text}`)"),
            )),
        }
    }

    pub fn is_one(&self) -> bool {
        *self == Devices::Count(1)
    }
}

impl std::fmt::Display for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Devices::All => write!(f, "all"),
            Devices::Count(k) => write!(f, "{k}"),
        }
    }
}

impl Serialize for Devices {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A config value given as text or as an integer (`devices = 2` or `devices = "all"`).
pub fn text_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        Text(String),
        Int(i64),
    }
    Ok(Option::<V>::deserialize(d)?.map(|v| match v {
        V::Text(s) => s,
        V::Int(i) => i.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_member_once() {
        for (e, n) in [(10, 3), (7, 7), (1024, 8), (5, 1), (1000, 999)] {
            let mut next = 0;
            for i in 0..n {
                let r = Shard { index: i, count: n }.members(e);
                assert_eq!(r.start, next, "E {e}, N {n}, shard {i}");
                assert!(!r.is_empty(), "E {e}, N {n}, shard {i} is empty");
                assert!(r.len().abs_diff(e / n) <= 1);
                next = r.end;
            }
            assert_eq!(next, e);
        }
    }

    #[test]
    fn bad_shards_and_devices_are_refused_by_flag() {
        for t in ["3", "a/4", "4/4", "-1/4", "1/0", "0/9", "1/2/3", ""] {
            let e = Shard::parse(t, 8).unwrap_err().to_string();
            assert!(e.starts_with("--shard must be I/N"), "{t}: {e}");
        }
        assert_eq!(
            Shard::parse(" 2/8", 8).unwrap(),
            Shard { index: 2, count: 8 }
        );
        for t in ["0", "-2", "two", "9"] {
            let e = Devices::parse(t, 8).unwrap_err().to_string();
            assert!(e.starts_with("--devices"), "{t}: {e}");
        }
        assert_eq!(Devices::parse("all", 1).unwrap(), Devices::All);
        assert_eq!(Devices::parse("8", 8).unwrap(), Devices::Count(8));
    }
}
