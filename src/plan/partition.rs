//! `--partition hash:K/N`: which shard a unit belongs to, from its id alone, so that a unit
//! stays in its shard when other units are added or removed.

use std::str::FromStr;

/// Shard `index` (1-based) of `count`, units assigned by a hash of their id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// This shard, from 1.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
}

impl Partition {
    /// The shard (1-based) unit `id` belongs to among `count`.
    pub fn shard_of(id: &str, count: u32) -> u32 {
        let hash = blake3::hash(id.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash.as_bytes()[..8]);
        (u64::from_le_bytes(first) % u64::from(count.max(1))) as u32 + 1
    }

    /// Whether unit `id` is in this shard.
    pub fn holds(&self, id: &str) -> bool {
        Partition::shard_of(id, self.count) == self.index
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hash:{}/{}", self.index, self.count)
    }
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(text: &str) -> Result<Partition, String> {
        let usage = || format!("`{text}`: expected hash:K/N, shard K (from 1) of N, e.g. hash:1/4");
        let rest = text.strip_prefix("hash:").ok_or_else(usage)?;
        let (k, n) = rest.split_once('/').ok_or_else(usage)?;
        let (index, count): (u32, u32) = (
            k.trim().parse().map_err(|_| usage())?,
            n.trim().parse().map_err(|_| usage())?,
        );
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "`{text}`: the shard must be from 1 to the number of shards ({count})"
            ));
        }
        Ok(Partition { index, count })
    }
}
