//! The id table: positions by job id, each with 32 bits of its id's hash,
//! so the table grows and probes without reading the records back.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

/// Positions by job id. The id itself lives in the record; the table keeps
/// a 32-bit key (the high half of the id's SipHash, with a random key:
/// ids come from outside) beside each position: 8 bytes a job plus the
/// table's spare room. Growing rehashes from the keys alone, and a probe
/// reads a record only when its key matches.
#[derive(Clone, Debug, Default)]
pub(super) struct IdTable {
    /// (position, key).
    table: HashTable<(u32, u32)>,
    hasher: RandomState,
}

/// The table's hash of a key: the key spread over 64 bits (hashbrown takes
/// its bucket from the low bits and its tag from the high ones). An odd
/// multiplier maps the low bits one to one, so they stay as even as the
/// key's, and fills the high bits from all of it.
fn spread(key: u32) -> u64 {
    u64::from(key).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl IdTable {
    /// The key of an id.
    pub(super) fn key(&self, job_id: &str) -> u32 {
        (self.hasher.hash_one(job_id) >> 32) as u32
    }

    /// The position held under `key` for which `is` says the id matches.
    pub(super) fn find(&self, key: u32, is: impl Fn(u32) -> bool) -> Option<u32> {
        self.table
            .find(spread(key), |&(pos, held)| held == key && is(pos))
            .map(|&(pos, _)| pos)
    }

    /// Holds `pos` under `key`; the id is not held yet.
    pub(super) fn insert(&mut self, key: u32, pos: u32) {
        self.table
            .insert_unique(spread(key), (pos, key), |&(_, key)| spread(key));
    }

    /// Forgets `pos`, held under `key`.
    pub(super) fn remove(&mut self, key: u32, pos: u32) {
        let held = |&(held, _): &(u32, u32)| held == pos;
        if let Ok(entry) = self.table.find_entry(spread(key), held) {
            entry.remove();
        }
    }

    /// Makes room for `n` more ids.
    pub(super) fn reserve(&mut self, n: usize) {
        self.table.reserve(n, |&(_, key)| spread(key));
    }

    /// Moves every position by `to` and shrinks the table to what it holds.
    pub(super) fn renumber(&mut self, to: impl Fn(u32) -> u32) {
        for (pos, _) in self.table.iter_mut() {
            *pos = to(*pos);
        }
        self.table.shrink_to_fit(|&(_, key)| spread(key));
    }

    /// How many ids are held.
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// How many ids the table has room for without growing.
    pub(super) fn capacity(&self) -> usize {
        self.table.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bucket can be a home: the low bits of the spread keys take
    /// every value (a spread that cleared some would leave buckets unused).
    #[test]
    fn spread_keys_reach_every_low_bit_pattern() {
        let mut seen = [false; 256];
        for key in 0..4096u32 {
            seen[(spread(key.wrapping_mul(2_654_435_761)) & 0xff) as usize] = true;
        }
        assert!(seen.iter().all(|&seen| seen));
    }
}
