//! Where the store keeps its records: by position, positions handed out in
//! insertion order and never reused, so removing a job moves no other job
//! and no index entry.
//!
//! Positions are cut into chunks of [`CHUNK`]. A chunk is an array while
//! it is well filled; once a chunk behind the newest has few jobs left it
//! keeps only those (a sorted list), and an empty chunk keeps no records,
//! so memory follows the jobs held however a prune picks them, but for a
//! 32-byte entry per emptied chunk behind the oldest job held (positions
//! index the chunks, so they cannot close up; a compaction drops them).
//! The chunks before the oldest job held are forgotten.

use std::collections::VecDeque;
use std::ops::Index;

use super::ordered::Entry;
use super::record::Record;

/// Positions per chunk.
const CHUNK: u32 = 256;
/// A full chunk with this many jobs or fewer keeps only those.
const SPARSE: u32 = CHUNK / 8;

#[derive(Clone, Debug)]
enum Chunk {
    /// Slot `i` holds position `start + i`; `live` of them hold a job.
    /// Slots are added as positions are handed out, so only the newest
    /// chunk is ever shorter than [`CHUNK`].
    Dense {
        slots: Vec<Option<Record>>,
        live: u32,
    },
    /// A full chunk's few jobs, by ascending offset in the chunk.
    Sparse(Vec<(u8, Record)>),
}

impl Default for Chunk {
    fn default() -> Chunk {
        Chunk::Dense {
            slots: Vec::new(),
            live: 0,
        }
    }
}

impl Chunk {
    fn get(&self, offset: u32) -> Option<&Record> {
        match self {
            Chunk::Dense { slots, .. } => slots.get(offset as usize)?.as_ref(),
            Chunk::Sparse(jobs) => {
                let at = jobs.binary_search_by_key(&offset, |(o, _)| u32::from(*o));
                at.ok().map(|at| &jobs[at].1)
            }
        }
    }

    fn get_mut(&mut self, offset: u32) -> Option<&mut Record> {
        match self {
            Chunk::Dense { slots, .. } => slots.get_mut(offset as usize)?.as_mut(),
            Chunk::Sparse(jobs) => {
                let at = jobs.binary_search_by_key(&offset, |(o, _)| u32::from(*o));
                at.ok().map(|at| &mut jobs[at].1)
            }
        }
    }

    fn remove(&mut self, offset: u32) -> Option<Record> {
        match self {
            Chunk::Dense { slots, live } => {
                let record = slots.get_mut(offset as usize)?.take()?;
                *live -= 1;
                self.settle();
                Some(record)
            }
            Chunk::Sparse(jobs) => {
                let at = jobs.binary_search_by_key(&offset, |(o, _)| u32::from(*o));
                let (_, record) = jobs.remove(at.ok()?);
                if jobs.is_empty() {
                    *jobs = Vec::new();
                }
                Some(record)
            }
        }
    }

    /// A full array with few jobs left becomes a list of those.
    fn settle(&mut self) {
        if let Chunk::Dense { slots, live } = self
            && slots.len() == CHUNK as usize
            && *live <= SPARSE
        {
            let kept = std::mem::take(slots)
                .into_iter()
                .enumerate()
                // Offsets are below CHUNK, which fits a u8.
                .filter_map(|(o, slot)| Some((o as u8, slot?)))
                .collect();
            *self = Chunk::Sparse(kept);
        }
    }

    /// Whether every position of the chunk has been handed out and none
    /// holds a job any more.
    fn is_spent(&self) -> bool {
        match self {
            Chunk::Dense { slots, live } => slots.len() == CHUNK as usize && *live == 0,
            Chunk::Sparse(jobs) => jobs.is_empty(),
        }
    }

    /// The jobs held, by ascending offset.
    fn iter(&self) -> Box<dyn Iterator<Item = (u32, &Record)> + '_> {
        match self {
            Chunk::Dense { slots, .. } => Box::new(
                slots
                    .iter()
                    .enumerate()
                    .filter_map(|(o, slot)| Some((o as u32, slot.as_ref()?))),
            ),
            Chunk::Sparse(jobs) => Box::new(jobs.iter().map(|(o, r)| (u32::from(*o), r))),
        }
    }
}

/// Where [`Slots::compact`] moved the records: a record's new position is
/// the rank of its old one among those held.
pub(super) struct Moved {
    /// The old positions, ascending.
    old: Vec<u32>,
}

impl Moved {
    /// The new position of the record at old position `pos`.
    pub(super) fn get(&self, pos: u32) -> Option<u32> {
        // Fewer than 2^30 records, so a rank fits.
        self.old.binary_search(&pos).ok().map(|at| at as u32)
    }

    /// An index entry under its job's new position.
    pub(super) fn entry(&self, entry: Entry) -> Option<Entry> {
        let pos = self.get(entry.pos())?;
        Some(Entry::new(entry.key().0, pos, entry.status()))
    }
}

/// Records by position.
#[derive(Clone, Debug, Default)]
pub(super) struct Slots {
    chunks: VecDeque<Chunk>,
    /// The first position of `chunks[0]`, a multiple of [`CHUNK`].
    start: u32,
    /// The position the next record gets.
    next: u32,
    /// How many records are held.
    len: usize,
}

impl Slots {
    /// How many records are held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Whether most chunks held are emptied ones behind the oldest job, so
    /// a compaction would give their entries back.
    pub(super) fn is_roomy(&self) -> bool {
        self.chunks.len() > 4 * (self.len / CHUNK as usize + 1)
    }

    /// The position the next [`Slots::push`] hands out: one past every
    /// position handed out so far.
    pub(super) fn next_position(&self) -> u32 {
        self.next
    }

    /// Keeps a record at the next position, and says which it is. The
    /// caller keeps positions below `u32::MAX`.
    pub(super) fn push(&mut self, record: Record) -> u32 {
        let pos = self.next;
        let c = ((pos - self.start) / CHUNK) as usize;
        if c == self.chunks.len() {
            self.chunks.push_back(Chunk::default());
        }
        let chunk = &mut self.chunks[c];
        match chunk {
            Chunk::Dense { slots, live } => {
                slots.push(Some(record));
                *live += 1;
            }
            // Only a chunk all of whose positions were handed out is sparse.
            Chunk::Sparse(_) => unreachable!("joblog bug: the newest chunk is sparse"),
        }
        // Filled after most of its jobs went: keep only the rest.
        chunk.settle();
        self.next += 1;
        self.len += 1;
        pos
    }

    /// The chunk and offset of a position.
    fn locate(&self, pos: u32) -> Option<(usize, u32)> {
        let from_start = pos.checked_sub(self.start)?;
        Some(((from_start / CHUNK) as usize, from_start % CHUNK))
    }

    /// The record at `pos`, if one is held there.
    pub(super) fn get(&self, pos: u32) -> Option<&Record> {
        let (c, offset) = self.locate(pos)?;
        self.chunks.get(c)?.get(offset)
    }

    /// The record at `pos`, to change it in place.
    pub(super) fn get_mut(&mut self, pos: u32) -> Option<&mut Record> {
        let (c, offset) = self.locate(pos)?;
        self.chunks.get_mut(c)?.get_mut(offset)
    }

    /// Takes the record at `pos` out; no other record moves.
    pub(super) fn remove(&mut self, pos: u32) -> Option<Record> {
        let (c, offset) = self.locate(pos)?;
        let record = self.chunks.get_mut(c)?.remove(offset)?;
        self.len -= 1;
        while self.chunks.front().is_some_and(Chunk::is_spent) {
            self.chunks.pop_front();
            self.start += CHUNK;
        }
        Some(record)
    }

    /// The records held and their positions, by ascending position.
    pub(super) fn iter(&self) -> impl ExactSizeIterator<Item = (u32, &Record)> {
        let records = self.chunks.iter().enumerate().flat_map(move |(c, chunk)| {
            let start = self.start + c as u32 * CHUNK;
            chunk
                .iter()
                .map(move |(offset, record)| (start + offset, record))
        });
        Counted {
            records,
            left: self.len,
        }
    }

    /// The records held, by ascending position, to change in place.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        self.chunks.iter_mut().flat_map(|chunk| {
            let records: Box<dyn Iterator<Item = &mut Record>> = match chunk {
                Chunk::Dense { slots, .. } => Box::new(slots.iter_mut().flatten()),
                Chunk::Sparse(jobs) => Box::new(jobs.iter_mut().map(|(_, record)| record)),
            };
            records
        })
    }

    /// Makes room for `n` more records in the newest chunk.
    pub(super) fn reserve(&mut self, n: usize) {
        if let Some(Chunk::Dense { slots, .. }) = self.chunks.back_mut() {
            let room = CHUNK as usize - slots.len();
            slots.reserve(n.min(room));
        }
    }

    /// Renumbers the records from 0 with no gaps, in position order, and
    /// says where each went.
    pub(super) fn compact(&mut self) -> Moved {
        let old = std::mem::take(self);
        let mut positions = Vec::with_capacity(old.len);
        for (pos, record) in old.into_records() {
            positions.push(pos);
            self.push(record);
        }
        self.chunks.shrink_to_fit();
        Moved { old: positions }
    }

    /// Every record held, with its position, by ascending position.
    fn into_records(self) -> impl Iterator<Item = (u32, Record)> {
        let start = self.start;
        self.chunks
            .into_iter()
            .enumerate()
            .flat_map(move |(c, chunk)| {
                let first = start + c as u32 * CHUNK;
                let records: Vec<(u32, Record)> = match chunk {
                    Chunk::Dense { slots, .. } => slots
                        .into_iter()
                        .enumerate()
                        .filter_map(|(o, slot)| Some((o as u32, slot?)))
                        .collect(),
                    Chunk::Sparse(jobs) => jobs
                        .into_iter()
                        .map(|(o, record)| (u32::from(o), record))
                        .collect(),
                };
                records
                    .into_iter()
                    .map(move |(offset, record)| (first + offset, record))
            })
    }

    /// Checks the bookkeeping: counts, bounds, no spent chunk in front.
    pub(super) fn check(&self) -> Result<(), String> {
        let held = self.iter().count();
        if held != self.len {
            return Err(format!("{held} records held, {} counted", self.len));
        }
        if self.chunks.front().is_some_and(Chunk::is_spent) {
            return Err("a spent chunk is kept in front".to_owned());
        }
        let spanned = self.start as usize + CHUNK as usize * self.chunks.len();
        if (self.next as usize) > spanned || (self.next as usize + CHUNK as usize) <= spanned {
            return Err(format!(
                "next position {} outside the last chunk (chunks span to {spanned})",
                self.next
            ));
        }
        for (c, chunk) in self.chunks.iter().enumerate() {
            if let Chunk::Dense { slots, live } = chunk {
                let counted = slots.iter().flatten().count();
                if counted != *live as usize {
                    return Err(format!("chunk {c} holds {counted}, counted {live}"));
                }
                if c + 1 < self.chunks.len() && slots.len() != CHUNK as usize {
                    return Err(format!("chunk {c} is short but not the newest"));
                }
            }
        }
        Ok(())
    }
}

/// An iterator that knows how many items are left (serde formats that
/// write a length first need it).
struct Counted<I> {
    records: I,
    left: usize,
}

impl<I: Iterator> Iterator for Counted<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        let item = self.records.next()?;
        self.left = self.left.saturating_sub(1);
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<I: Iterator> ExactSizeIterator for Counted<I> {}

impl Index<u32> for Slots {
    type Output = Record;

    /// The record at a position an index holds: every index entry names a
    /// held record (the invariant checker proves it), so a miss is a bug in
    /// this crate, never a consequence of input.
    fn index(&self, pos: u32) -> &Record {
        match self.get(pos) {
            Some(record) => record,
            None => panic!("joblog bug: no record at position {pos}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Job;
    use crate::status::Status;

    fn record(i: u32) -> Record {
        let at = chrono::DateTime::UNIX_EPOCH;
        let job = Job::new(format!("j-{i}"), "a", "u", "RunJob", Status::Pending, at);
        let checked = job.check().expect("valid job");
        Record::new(&checked, 0, 0, 0)
    }

    proptest::proptest! {
        // PROPTEST_CASES, when set, wins over this property's own 64.
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64),
            ..Default::default()
        })]

        /// Pushes and removals (mostly of old positions, as a prune makes
        /// them, some anywhere) over many chunks, against a sorted map;
        /// then a compaction.
        #[test]
        fn slots_agree_with_a_sorted_map(
            ops in proptest::collection::vec((0u8..10, proptest::num::u32::ANY), 1..4000),
        ) {
            let mut slots = Slots::default();
            let mut model = std::collections::BTreeMap::new();
            for (i, &(kind, at)) in ops.iter().enumerate() {
                if kind < 5 {
                    let next = slots.next_position();
                    let pos = slots.push(record(i as u32));
                    proptest::prop_assert_eq!(pos, next);
                    model.insert(pos, i as u32);
                } else {
                    let pos = if kind < 8 {
                        model.keys().next().copied()
                    } else {
                        model.keys().nth(at as usize % model.len().max(1)).copied()
                    };
                    let pos = pos.unwrap_or(at % (slots.next_position() + 1));
                    let want = model.remove(&pos).map(|i| format!("j-{i}"));
                    let got = slots.remove(pos).map(|r| r.job_id().to_owned());
                    proptest::prop_assert_eq!(got, want);
                    proptest::prop_assert!(slots.get(pos).is_none());
                }
                if i % 97 == 0 {
                    slots.check().map_err(proptest::test_runner::TestCaseError::fail)?;
                }
            }
            slots.check().map_err(proptest::test_runner::TestCaseError::fail)?;
            proptest::prop_assert_eq!(slots.len(), model.len());
            let held: Vec<(u32, String)> =
                slots.iter().map(|(pos, r)| (pos, r.job_id().to_owned())).collect();
            let want: Vec<(u32, String)> =
                model.iter().map(|(&pos, i)| (pos, format!("j-{i}"))).collect();
            proptest::prop_assert_eq!(&held, &want);
            for &(_, at) in ops.iter().take(50) {
                let pos = at % (slots.next_position() + 1);
                let want = model.get(&pos).map(|i| format!("j-{i}"));
                proptest::prop_assert_eq!(slots.get(pos).map(|r| r.job_id().to_owned()), want);
            }
            let moved = slots.compact();
            slots.check().map_err(proptest::test_runner::TestCaseError::fail)?;
            for (rank, (old, _)) in want.iter().enumerate() {
                proptest::prop_assert_eq!(moved.get(*old), Some(rank as u32));
            }
            let ids: Vec<String> = slots.iter().map(|(_, r)| r.job_id().to_owned()).collect();
            let want: Vec<String> = want.into_iter().map(|(_, id)| id).collect();
            proptest::prop_assert_eq!(ids, want);
        }
    }

    #[test]
    fn emptied_chunks_keep_nothing() {
        let mut slots = Slots::default();
        for i in 0..CHUNK * 4 {
            slots.push(record(i));
        }
        // Keep one job in the second chunk and all of the last.
        for pos in 0..CHUNK * 3 {
            if pos != CHUNK + 5 {
                slots.remove(pos);
            }
        }
        slots.check().unwrap();
        // The first chunk is forgotten, the second keeps one job only.
        assert_eq!(slots.start, CHUNK);
        assert!(matches!(&slots.chunks[0], Chunk::Sparse(jobs) if jobs.len() == 1));
        assert!(matches!(&slots.chunks[1], Chunk::Sparse(jobs) if jobs.capacity() == 0));
        slots.remove(CHUNK + 5);
        assert_eq!(slots.start, CHUNK * 3);
        assert_eq!(slots.len(), CHUNK as usize);
        slots.check().unwrap();
    }
}
