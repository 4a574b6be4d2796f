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

    /// Holds the ids of a store being built whole, at positions `0..n`:
    /// `keys[pos]` is the key of the id at `pos`, and `same(a, b)` says
    /// whether the ids at `a` and `b` are the same. The table must be
    /// empty.
    ///
    /// The positions are put in the order of the buckets they go to, so
    /// the table is filled front to back instead of at a random place per
    /// id (a cache miss each, at a million ids); sorted so, the same ids
    /// come side by side too, and are found in the same pass.
    ///
    /// # Errors
    ///
    /// [`first_repeat`]'s position, if any; the table is then left empty.
    pub(super) fn fill(
        &mut self,
        keys: &[u32],
        same: impl Fn(u32, u32) -> bool,
    ) -> Result<(), u32> {
        debug_assert_eq!(self.table.len(), 0, "filling a table that holds ids");
        self.table.reserve(keys.len(), |&(_, key)| spread(key));
        // hashbrown finds a hash's first bucket in its low bits, with as
        // many buckets as the power of two its capacity is 7/8 of. Were
        // that to change, the order would only be slower, never wrong.
        let buckets = (self.table.capacity().saturating_mul(8) / 7)
            .max(1)
            .next_power_of_two();
        let order = ordered(keys, buckets as u64);
        if let Some(first) = repeat_in(&order, same) {
            self.table.clear();
            return Err(first);
        }
        for (_, key, pos) in order {
            self.insert(key, pos);
        }
        Ok(())
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

/// The first position (in order) whose id an earlier one has, among the
/// ids at positions `0..n` as [`IdTable::fill`] takes them.
pub(super) fn first_repeat(keys: &[u32], same: impl Fn(u32, u32) -> bool) -> Option<u32> {
    repeat_in(&ordered(keys, 1), same)
}

/// (bucket, key, position) for each position, sorted: by the bucket among
/// `buckets` (a power of two) the key goes to first, and equal keys side
/// by side in the order of their positions.
fn ordered(keys: &[u32], buckets: u64) -> Vec<(u64, u32, u32)> {
    // Fewer positions than 2^30.
    let mut order: Vec<(u64, u32, u32)> = (0u32..)
        .zip(keys)
        .map(|(pos, &key)| (spread(key) & (buckets - 1), key, pos))
        .collect();
    order.sort_unstable();
    order
}

/// The first position whose id an earlier one has, in an [`ordered`]
/// list.
fn repeat_in(order: &[(u64, u32, u32)], same: impl Fn(u32, u32) -> bool) -> Option<u32> {
    let mut first: Option<u32> = None;
    for run in order.chunk_by(|a, b| a.1 == b.1) {
        // One id a run, but for ids whose keys clash (32 bits of a keyed
        // hash: a few pairs in a million ids, and nothing input can aim
        // at), each compared with those before it. A run is in the order
        // of positions, so its first repeat is its earliest.
        for (at, &(_, _, later)) in run.iter().enumerate().skip(1) {
            if run[..at]
                .iter()
                .any(|&(_, _, earlier)| same(earlier, later))
            {
                first = Some(first.map_or(later, |first| first.min(later)));
                break;
            }
        }
    }
    first
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

    /// Repeats are found whatever the keys: with every key the same (one
    /// run of all positions), and with ids whose keys only clash; the
    /// first position in order that repeats an earlier id is named, and a
    /// table filled without repeats finds every id at its place.
    #[test]
    fn the_first_repeat_is_found_and_a_filled_table_finds_every_id() {
        // Ids by position: 0..50 distinct, but 40 repeats the id of 7 and
        // 45 that of 3 (so 40 is the first repeat).
        let ids: Vec<u32> = (0..50)
            .map(|pos| match pos {
                40 => 107,
                45 => 103,
                pos => pos + 100,
            })
            .collect();
        let same = |a: u32, b: u32| ids[a as usize] == ids[b as usize];
        for keys in [
            vec![0; 50],
            ids.iter().map(|id| id % 3).collect(),
            ids.clone(),
        ] {
            assert_eq!(first_repeat(&keys, same), Some(40));
            let mut table = IdTable::default();
            assert_eq!(table.fill(&keys, same), Err(40));
            assert_eq!(table.len(), 0);
        }
        let distinct: Vec<u32> = (0..50).map(|pos| pos + 100).collect();
        let same = |a: u32, b: u32| distinct[a as usize] == distinct[b as usize];
        for keys in [vec![0; 50], distinct.iter().map(|id| id % 3).collect()] {
            assert_eq!(first_repeat(&keys, same), None);
            let mut table = IdTable::default();
            assert_eq!(table.fill(&keys, same), Ok(()));
            assert_eq!(table.len(), 50);
            for (pos, &key) in (0u32..).zip(&keys) {
                assert_eq!(table.find(key, |held| held == pos), Some(pos));
            }
        }
        let mut empty = IdTable::default();
        assert_eq!(empty.fill(&[], |_, _| true), Ok(()));
        let mut one = IdTable::default();
        assert_eq!(one.fill(&[9], |_, _| true), Ok(()));
        assert_eq!(one.find(9, |_| true), Some(0));
    }
}
