//! The ordered index behind every page: a sorted list of (time, insertion
//! sequence) keys, cut into chunks, with per-status counts summed in a
//! Fenwick tree over the chunks.
//!
//! That shape gives what the planner needs from one structure:
//! - `count(statuses)` in O(1) from the totals;
//! - the job at any rank among any set of statuses in O(log n): the tree
//!   finds the chunk, a scan of at most one chunk finds the entry, so a deep
//!   `offset` costs no more than the first page;
//! - insert, remove and status change in O(chunk + log n).

use crate::query::Order;
use crate::status::{Status, StatusSet};

/// One job in one order: 12 bytes, so an index costs little per job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(4))]
pub(super) struct Entry {
    /// The ordering time, in nanoseconds since the epoch.
    time: i64,
    /// The job's position in the store (which breaks ties) shifted left
    /// by two, and its status in the low two bits, so a page is filtered
    /// without reading the jobs.
    tag: u32,
}

/// The order of entries: by time, then by position.
pub(super) type Key = (i64, u32);

/// The most positions an entry can hold.
pub(super) const MAX_POSITIONS: usize = 1 << 30;

impl Entry {
    /// `pos` is below [`MAX_POSITIONS`].
    pub(super) fn new(time: i64, pos: u32, status: Status) -> Entry {
        Entry {
            time,
            tag: pos << 2 | status.index() as u32,
        }
    }

    pub(super) fn key(&self) -> Key {
        (self.time, self.tag >> 2)
    }

    pub(super) fn pos(&self) -> u32 {
        self.tag >> 2
    }

    pub(super) fn status(&self) -> Status {
        Status::ALL[(self.tag & 3) as usize]
    }

    fn with_status(self, status: Status) -> Entry {
        Entry::new(self.time, self.pos(), status)
    }
}

/// The most entries a chunk holds.
const MAX_CHUNK: usize = 512;
/// A chunk this small merges with a neighbour that has room.
const MIN_CHUNK: usize = 64;

#[derive(Clone, Debug, Default)]
struct Chunk {
    /// Never empty; ascending by key; at most `MAX_CHUNK`.
    entries: Vec<Entry>,
    counts: [u32; 4],
    /// The key of the last entry, kept here so finding a chunk reads one
    /// array.
    last: Key,
}

impl Chunk {
    /// How many of its entries below `key` have a status in `set`: found
    /// by halving, then counted on the shorter side of it (the chunk
    /// counts its statuses).
    fn rank(&self, set: StatusSet, key: Key) -> usize {
        let at = self.entries.partition_point(|entry| entry.key() < key);
        if set == StatusSet::ALL {
            return at;
        }
        let count = |entries: &[Entry]| {
            entries
                .iter()
                .filter(|entry| set.contains(entry.status()))
                .count()
        };
        let (below, above) = self.entries.split_at(at);
        if below.len() <= above.len() {
            count(below)
        } else {
            debug_assert!(
                set.sum(&self.counts) >= count(above),
                "chunk counts drifted"
            );
            set.sum(&self.counts).saturating_sub(count(above))
        }
    }

    fn new(entries: Vec<Entry>) -> Chunk {
        let mut counts = [0; 4];
        for entry in &entries {
            counts[entry.status().index()] += 1;
        }
        let last = entries.last().map_or((i64::MIN, 0), Entry::key);
        Chunk {
            entries,
            counts,
            last,
        }
    }

    fn refresh_last(&mut self) {
        if let Some(entry) = self.entries.last() {
            self.last = entry.key();
        }
    }
}

/// A sorted list with counts by status and selection by rank.
#[derive(Clone, Debug, Default)]
pub(super) struct OrderedList {
    chunks: Vec<Chunk>,
    /// Fenwick tree over `chunks[i].counts`, 1-based (`tree[0]` unused).
    tree: Vec<[u32; 4]>,
    totals: [u32; 4],
}

/// An [`OrderedList`] filled whole, in ascending order: full chunks, each
/// allocated once at its final size, and no tree until the end.
pub(super) struct ListBuilder {
    list: OrderedList,
    /// The chunk being filled.
    chunk: Vec<Entry>,
    /// How many entries are still to come, as the builder was told: the
    /// size of the chunks it allocates (more may come, at a cost).
    left: usize,
}

impl ListBuilder {
    /// Adds an entry after every entry added so far (a greater key).
    pub(super) fn push(&mut self, entry: Entry) {
        debug_assert!(
            self.chunk
                .last()
                .map(Entry::key)
                .or(self.list.chunks.last().map(|chunk| chunk.last))
                .is_none_or(|last| last < entry.key()),
            "entries out of order"
        );
        if self.chunk.len() == MAX_CHUNK {
            self.close_chunk();
        }
        if self.chunk.capacity() == 0 {
            self.chunk.reserve_exact(self.left.clamp(1, MAX_CHUNK));
        }
        self.chunk.push(entry);
        self.left = self.left.saturating_sub(1);
    }

    fn close_chunk(&mut self) {
        let chunk = Chunk::new(std::mem::take(&mut self.chunk));
        for (total, count) in self.list.totals.iter_mut().zip(chunk.counts) {
            *total += count;
        }
        self.list.chunks.push(chunk);
    }

    /// The list.
    pub(super) fn finish(mut self) -> OrderedList {
        if !self.chunk.is_empty() {
            self.close_chunk();
        }
        self.list.rebuild_tree();
        self.list
    }
}

impl OrderedList {
    pub(super) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// How many entries the list holds.
    pub(super) fn len(&self) -> usize {
        self.count(StatusSet::ALL)
    }

    /// How many entries have a status in `set`.
    pub(super) fn count(&self, set: StatusSet) -> usize {
        set.sum(&self.totals)
    }

    /// Entries in ascending order.
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        self.chunks.iter().flat_map(|chunk| chunk.entries.iter())
    }

    /// The chunk that holds `key` or would hold it. The list is not empty.
    fn chunk_for(&self, key: Key) -> usize {
        let at = self.chunks.partition_point(|chunk| chunk.last < key);
        at.min(self.chunks.len() - 1)
    }

    /// Adds an entry; its key must not be in the list yet.
    pub(super) fn insert(&mut self, entry: Entry) {
        let status = entry.status().index();
        self.totals[status] += 1;
        let Some(last) = self.chunks.last() else {
            self.push_chunk(entry);
            return;
        };
        // Appending (the common case: jobs arrive in time order) fills the
        // last chunk and then starts a new one, so chunks stay full.
        if last.last < entry.key() {
            if last.entries.len() == MAX_CHUNK {
                self.push_chunk(entry);
            } else {
                let c = self.chunks.len() - 1;
                let chunk = &mut self.chunks[c];
                chunk.entries.push(entry);
                chunk.counts[status] += 1;
                chunk.last = entry.key();
                self.tree_update(c, status, 1);
            }
            return;
        }
        let mut c = self.chunk_for(entry.key());
        if self.chunks[c].entries.len() == MAX_CHUNK {
            let tail = self.chunks[c].entries.split_off(MAX_CHUNK / 2);
            self.chunks[c] = Chunk::new(std::mem::take(&mut self.chunks[c].entries));
            self.chunks.insert(c + 1, Chunk::new(tail));
            self.rebuild_tree();
            if self.chunks[c].last < entry.key() {
                c += 1;
            }
        }
        let chunk = &mut self.chunks[c];
        let at = chunk.entries.partition_point(|e| e.key() < entry.key());
        chunk.entries.insert(at, entry);
        chunk.counts[status] += 1;
        chunk.refresh_last();
        self.tree_update(c, status, 1);
    }

    fn push_chunk(&mut self, entry: Entry) {
        // The first chunk grows by doubling, which ends at exactly
        // MAX_CHUNK, a power of two: most lists (one owner's jobs) stay far
        // smaller. A list that filled a chunk is large, and its next chunk
        // is made whole at once rather than grown nine times.
        let mut entries = if self.chunks.is_empty() {
            Vec::new()
        } else {
            Vec::with_capacity(MAX_CHUNK)
        };
        entries.push(entry);
        self.chunks.push(Chunk::new(entries));
        self.rebuild_tree();
    }

    /// Where the entry with `key` is: (chunk, index in chunk).
    fn locate(&self, key: Key) -> Option<(usize, usize)> {
        if self.chunks.is_empty() {
            return None;
        }
        let c = self.chunk_for(key);
        let at = self.chunks[c]
            .entries
            .binary_search_by(|e| e.key().cmp(&key))
            .ok()?;
        Some((c, at))
    }

    /// Removes the entry with `key`, returning it.
    pub(super) fn remove(&mut self, key: Key) -> Option<Entry> {
        let (c, at) = self.locate(key)?;
        let chunk = &mut self.chunks[c];
        let entry = chunk.entries.remove(at);
        let status = entry.status().index();
        chunk.counts[status] -= 1;
        chunk.refresh_last();
        self.totals[status] -= 1;
        if chunk.entries.len() < MIN_CHUNK && self.merge_around(c) {
            self.rebuild_tree();
        } else {
            self.tree_update(c, status, -1);
        }
        Some(entry)
    }

    /// Removes the entries with these keys (ascending, each in the list),
    /// one pass over each chunk that holds any: a batch costs what its
    /// chunks hold, not a shift per entry.
    pub(super) fn remove_sorted(&mut self, keys: &[Key]) {
        let mut rest = keys;
        let mut reshape = false;
        // Per touched chunk, how many of each status went.
        let mut touched: Vec<(usize, [u32; 4])> = Vec::new();
        while let Some(&first) = rest.first() {
            if self.chunks.is_empty() {
                break;
            }
            let c = self.chunk_for(first);
            let chunk = &mut self.chunks[c];
            // The keys this chunk would hold.
            let here = rest.partition_point(|key| *key <= chunk.last).max(1);
            let (mine, later) = rest.split_at(here);
            rest = later;
            let mut mine = mine.iter().peekable();
            let counts = &mut chunk.counts;
            let totals = &mut self.totals;
            let mut gone = [0u32; 4];
            chunk.entries.retain(|entry| {
                let key = entry.key();
                while mine.next_if(|k| **k < key).is_some() {}
                if mine.next_if(|k| **k == key).is_none() {
                    return true;
                }
                let status = entry.status().index();
                counts[status] -= 1;
                totals[status] -= 1;
                gone[status] += 1;
                false
            });
            chunk.refresh_last();
            let len = chunk.entries.len();
            // Reshape only when a chunk emptied, or a small one fits into a
            // neighbour: a steady trickle of removals does not rebuild.
            let fits = |other: &Chunk| other.entries.len() + len <= MAX_CHUNK;
            reshape |= len == 0
                || (len < MIN_CHUNK
                    && ((c > 0 && fits(&self.chunks[c - 1]))
                        || self.chunks.get(c + 1).is_some_and(fits)));
            touched.push((c, gone));
        }
        if !reshape {
            // The chunks stand as they were: update the tree where counts
            // changed, O(log n) each.
            for (c, gone) in touched {
                for (status, n) in gone.into_iter().enumerate() {
                    if n > 0 {
                        self.tree_update(c, status, -(n as i32));
                    }
                }
            }
            return;
        }
        if reshape {
            // Drop the emptied chunks and fold the small ones into the one
            // before, in place.
            let mut kept = 0;
            for i in 0..self.chunks.len() {
                let len = self.chunks[i].entries.len();
                if len == 0 {
                    continue;
                }
                if kept > 0 {
                    let (done, todo) = self.chunks.split_at_mut(i);
                    let prev = &mut done[kept - 1];
                    let small = prev.entries.len() < MIN_CHUNK || len < MIN_CHUNK;
                    if small && prev.entries.len() + len <= MAX_CHUNK {
                        let chunk = std::mem::take(&mut todo[0]);
                        prev.entries.extend_from_slice(&chunk.entries);
                        for (count, more) in prev.counts.iter_mut().zip(chunk.counts) {
                            *count += more;
                        }
                        prev.last = chunk.last;
                        continue;
                    }
                }
                self.chunks.swap(kept, i);
                kept += 1;
            }
            self.chunks.truncate(kept);
        }
        self.rebuild_tree();
    }

    /// Merges chunk `c` into a neighbour when it is empty or small and a
    /// neighbour has room; says whether the chunks changed.
    fn merge_around(&mut self, c: usize) -> bool {
        let len = self.chunks[c].entries.len();
        if len == 0 {
            self.chunks.remove(c);
            return true;
        }
        let fits = |other: &Chunk| other.entries.len() + len <= MAX_CHUNK;
        let into = if c > 0 && fits(&self.chunks[c - 1]) {
            c - 1
        } else if self.chunks.get(c + 1).is_some_and(fits) {
            c + 1
        } else {
            return false;
        };
        let (first, second) = (into.min(c), into.max(c));
        let moved = self.chunks.remove(second);
        let target = &mut self.chunks[first];
        target.entries.extend(moved.entries);
        for (count, more) in target.counts.iter_mut().zip(moved.counts) {
            *count += more;
        }
        target.refresh_last();
        true
    }

    /// Changes the status of the entry with `key`; says whether it was found.
    pub(super) fn set_status(&mut self, key: Key, status: Status) -> bool {
        let Some((c, at)) = self.locate(key) else {
            return false;
        };
        let chunk = &mut self.chunks[c];
        let old = chunk.entries[at].status().index();
        chunk.entries[at] = chunk.entries[at].with_status(status);
        let new = status.index();
        chunk.counts[old] -= 1;
        chunk.counts[new] += 1;
        self.totals[old] -= 1;
        self.totals[new] += 1;
        self.tree_update(c, old, -1);
        self.tree_update(c, new, 1);
        true
    }

    /// Keeps the entries `keep` maps to `Some`, replaced by what it gives,
    /// in one pass; the mapping must keep the order. The chunks come out
    /// full.
    pub(super) fn retain_map(&mut self, mut keep: impl FnMut(Entry) -> Option<Entry>) {
        let kept: Vec<Entry> = self.iter().filter_map(|&entry| keep(entry)).collect();
        let mut list = OrderedList::builder(kept.len());
        for entry in kept {
            list.push(entry);
        }
        *self = list.finish();
    }

    /// A list to be filled in ascending key order (full chunks, in time
    /// linear in the entries), `len` entries long.
    pub(super) fn builder(len: usize) -> ListBuilder {
        ListBuilder {
            list: OrderedList::default(),
            chunk: Vec::new(),
            left: len,
        }
    }

    /// The positions of the entries with a status in `set` and a time at
    /// or before `last`, oldest first.
    pub(super) fn positions_until(&self, last: i64, set: StatusSet) -> impl Iterator<Item = u32> {
        self.iter()
            .take_while(move |entry| entry.key().0 <= last)
            .filter(move |entry| set.contains(entry.status()))
            .map(Entry::pos)
    }

    /// How many entries with a status in `set` have a key below `key`,
    /// in O(log n + one chunk).
    pub(super) fn rank(&self, set: StatusSet, key: Key) -> usize {
        if self.chunks.is_empty() {
            return 0;
        }
        let at = self.chunks.partition_point(|chunk| chunk.last < key);
        if at == self.chunks.len() {
            return self.count(set);
        }
        let mut below = 0;
        // The Fenwick prefix of the chunks before `at` (a list of one chunk
        // has no tree, and then `at` is 0).
        let mut i = at;
        while i > 0 {
            below += set.sum(&self.tree[i]);
            i &= i - 1;
        }
        if let Some(chunk) = self.chunks.get(at) {
            below += chunk.rank(set, key);
        }
        below
    }

    /// The entries with keys in `lo..hi`, ascending (reversible), reading
    /// only the chunks that hold them.
    pub(super) fn range(&self, lo: Key, hi: Key) -> impl DoubleEndedIterator<Item = &Entry> {
        let first = self.chunks.partition_point(|chunk| chunk.last < lo);
        let last = self.chunks.partition_point(|chunk| chunk.last < hi);
        let end = (last + 1).min(self.chunks.len()).max(first);
        self.chunks[first..end]
            .iter()
            .flat_map(|chunk| chunk.entries.iter())
            .filter(move |entry| lo <= entry.key() && entry.key() < hi)
    }

    /// One page of the entries with a status in `set`: skip `offset` of
    /// them in the order asked for, then take up to `limit`. Returns their
    /// positions in page order.
    #[cfg(test)]
    pub(super) fn page(&self, set: StatusSet, order: Order, offset: u64, limit: usize) -> Vec<u32> {
        self.page_in(set, order, 0..self.count(set), offset, limit)
    }

    /// One page (skip `offset`, then take up to `limit`, in `order`) of
    /// the entries of ascending ranks `ranks` among those with a status in
    /// `set` (from [`OrderedList::rank`]): the page of a key range, at the
    /// cost of the first page at any offset.
    pub(super) fn page_in(
        &self,
        set: StatusSet,
        order: Order,
        ranks: std::ops::Range<usize>,
        offset: u64,
        limit: usize,
    ) -> Vec<u32> {
        let newest_first = order == Order::NewestFirst;
        let total = ranks.len() as u64;
        let mut page = Vec::with_capacity(limit.min(128));
        if offset >= total || limit == 0 {
            return page;
        }
        // No further than the range's end.
        let limit = limit.min((total - offset) as usize);
        // Ranks are counted in ascending order; newest first is read
        // backwards from the mirrored rank.
        let rank = if newest_first {
            ranks.end as u64 - 1 - offset
        } else {
            ranks.start as u64 + offset
        };
        let (mut c, mut at) = self.select(set, rank as usize);
        loop {
            let entries = &self.chunks[c].entries;
            if newest_first {
                for entry in entries[..=at].iter().rev() {
                    if set.contains(entry.status()) {
                        page.push(entry.pos());
                        if page.len() == limit {
                            return page;
                        }
                    }
                }
                match (0..c).rev().find(|&b| set.sum(&self.chunks[b].counts) > 0) {
                    Some(before) => c = before,
                    None => return page,
                }
                at = self.chunks[c].entries.len() - 1;
            } else {
                for entry in &entries[at..] {
                    if set.contains(entry.status()) {
                        page.push(entry.pos());
                        if page.len() == limit {
                            return page;
                        }
                    }
                }
                match (c + 1..self.chunks.len()).find(|&n| set.sum(&self.chunks[n].counts) > 0) {
                    Some(next) => c = next,
                    None => return page,
                }
                at = 0;
            }
        }
    }

    /// Where the entry of ascending rank `rank` among the statuses in `set`
    /// stands: (chunk, index in chunk). `rank < self.count(set)`.
    fn select(&self, set: StatusSet, rank: usize) -> (usize, usize) {
        let n = self.chunks.len();
        let mut chunk = 0;
        let mut rest = rank;
        // A list of one chunk keeps no tree.
        let mut step = if self.tree.is_empty() {
            0
        } else {
            1 << n.ilog2()
        };
        while step > 0 {
            let next = chunk + step;
            if next <= n {
                let below = set.sum(&self.tree[next]);
                if below <= rest {
                    chunk = next;
                    rest -= below;
                }
            }
            step >>= 1;
        }
        let chunk = chunk.min(n.saturating_sub(1));
        let entries = &self.chunks[chunk].entries;
        let matching = set.sum(&self.chunks[chunk].counts);
        let is = |(_, entry): &(usize, &Entry)| set.contains(entry.status());
        let at = if set == StatusSet::ALL {
            rest
        } else if rest >= matching / 2 && rest < matching {
            // Counted from the nearer end: a first page newest first (the
            // last match of the chunk) is found at once.
            entries
                .iter()
                .enumerate()
                .rev()
                .filter(is)
                .nth(matching - 1 - rest)
                .map_or(entries.len() - 1, |(at, _)| at)
        } else {
            entries
                .iter()
                .enumerate()
                .filter(is)
                .nth(rest)
                .map_or(entries.len() - 1, |(at, _)| at)
        };
        (chunk, at.min(entries.len() - 1))
    }

    fn tree_update(&mut self, chunk: usize, status: usize, delta: i32) {
        let mut i = chunk + 1;
        while i < self.tree.len() {
            self.tree[i][status] = self.tree[i][status].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    fn rebuild_tree(&mut self) {
        let n = self.chunks.len();
        if n <= 1 {
            // Most lists (one owner's jobs) fit in one chunk: no tree.
            self.tree = Vec::new();
            return;
        }
        self.tree.clear();
        self.tree.resize(n + 1, [0; 4]);
        for i in 1..=n {
            let counts = self.chunks[i - 1].counts;
            for (node, count) in self.tree[i].iter_mut().zip(counts) {
                *node += count;
            }
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                let node = self.tree[i];
                for (up, count) in self.tree[parent].iter_mut().zip(node) {
                    *up += count;
                }
            }
        }
    }

    /// Checks the structure: chunks non-empty and bounded, keys strictly
    /// ascending, counts, totals and tree matching the entries.
    pub(super) fn check(&self) -> Result<(), String> {
        let mut previous: Option<Key> = None;
        let mut totals = [0u32; 4];
        for (c, chunk) in self.chunks.iter().enumerate() {
            if chunk.entries.is_empty() || chunk.entries.len() > MAX_CHUNK {
                return Err(format!("chunk {c} has {} entries", chunk.entries.len()));
            }
            let fresh = Chunk::new(chunk.entries.clone());
            if (fresh.counts, fresh.last) != (chunk.counts, chunk.last) {
                return Err(format!("chunk {c} counts or bound are stale"));
            }
            for entry in &chunk.entries {
                if previous.is_some_and(|p| p >= entry.key()) {
                    return Err(format!("key {:?} out of order", entry.key()));
                }
                previous = Some(entry.key());
                totals[entry.status().index()] += 1;
            }
        }
        if totals != self.totals {
            return Err(format!("totals {:?}, counted {totals:?}", self.totals));
        }
        let mut fresh = self.clone();
        fresh.rebuild_tree();
        if fresh.tree != self.tree {
            return Err("Fenwick tree is stale".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list built from scattered keys, with the sorted model beside it.
    fn build(n: u32) -> (OrderedList, Vec<Entry>) {
        let mut list = OrderedList::default();
        let mut model = Vec::new();
        for pos in 0..n {
            // Mostly ascending, with a share of late arrivals.
            let time = if pos % 5 == 0 {
                i64::from((pos * 7919) % 1000)
            } else {
                i64::from(pos)
            };
            let e = Entry::new(time, pos, Status::ALL[(pos % 4) as usize]);
            list.insert(e);
            model.push(e);
            list.check().unwrap();
        }
        model.sort_by_key(Entry::key);
        (list, model)
    }

    #[test]
    fn entries_pack_position_and_status() {
        let e = Entry::new(-5, MAX_POSITIONS as u32 - 1, Status::Failed);
        assert_eq!(std::mem::size_of::<Entry>(), 12);
        assert_eq!(e.key(), (-5, MAX_POSITIONS as u32 - 1));
        assert_eq!(e.status(), Status::Failed);
        assert_eq!(e.with_status(Status::Working).status(), Status::Working);
    }

    #[test]
    fn appending_in_order_keeps_chunks_full() {
        let mut list = OrderedList::default();
        for pos in 0..(MAX_CHUNK as u32 * 3) {
            list.insert(Entry::new(i64::from(pos), pos, Status::Successful));
        }
        list.check().unwrap();
        assert_eq!(list.chunks.len(), 3);
        assert!(list.chunks.iter().all(|c| c.entries.len() == MAX_CHUNK));
    }

    #[test]
    fn pages_match_the_sorted_model_at_every_offset() {
        let (list, model) = build(2000);
        let sets = [
            StatusSet::ALL,
            StatusSet::default().with(Status::Pending),
            StatusSet::default()
                .with(Status::Working)
                .with(Status::Failed),
        ];
        for set in sets {
            let asc: Vec<u32> = model
                .iter()
                .filter(|e| set.contains(e.status()))
                .map(Entry::pos)
                .collect();
            let desc: Vec<u32> = asc.iter().rev().copied().collect();
            assert_eq!(list.count(set), asc.len());
            for offset in [0, 1, 17, 499, 500, 511, 512, 1000, asc.len() - 1, asc.len()] {
                let want: Vec<u32> = desc.iter().skip(offset).take(13).copied().collect();
                assert_eq!(
                    list.page(set, Order::NewestFirst, offset as u64, 13),
                    want,
                    "desc {offset}"
                );
                let want: Vec<u32> = asc.iter().skip(offset).take(13).copied().collect();
                assert_eq!(
                    list.page(set, Order::OldestFirst, offset as u64, 13),
                    want,
                    "asc {offset}"
                );
            }
        }
    }

    #[test]
    fn remove_and_status_change_keep_the_structure() {
        let (mut list, mut model) = build(3000);
        for (i, e) in model.clone().iter().enumerate() {
            if i % 3 == 0 {
                assert_eq!(list.remove(e.key()), Some(*e));
            } else if i % 3 == 1 {
                assert!(list.set_status(e.key(), Status::Successful));
            }
            if i % 97 == 0 {
                list.check().unwrap();
            }
        }
        list.check().unwrap();
        model = model
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(i, e)| {
                if i % 3 == 1 {
                    e.with_status(Status::Successful)
                } else {
                    e
                }
            })
            .collect();
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), model);
        assert_eq!(list.remove((-1, 0)), None);
        assert!(!list.set_status((-1, 0), Status::Failed));
        // Keep the even positions and renumber them densely.
        list.retain_map(|e| {
            (e.pos() % 2 == 0).then(|| Entry::new(e.key().0, e.pos() / 2, e.status()))
        });
        list.check().unwrap();
        let model: Vec<Entry> = model
            .into_iter()
            .filter(|e| e.pos() % 2 == 0)
            .map(|e| Entry::new(e.key().0, e.pos() / 2, e.status()))
            .collect();
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), model);
        list.retain_map(|_| None);
        list.check().unwrap();
        assert!(list.is_empty());
        assert_eq!(
            list.page(StatusSet::ALL, Order::NewestFirst, 0, 20),
            Vec::<u32>::new()
        );
    }

    proptest::proptest! {
        // PROPTEST_CASES, when set, wins over this property's own 64.
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64),
            ..Default::default()
        })]

        /// Random inserts (mostly near the end, some anywhere), removals
        /// and status changes across many chunks, against a sorted map.
        #[test]
        fn random_edits_agree_with_a_sorted_map(
            ops in proptest::collection::vec((0u8..10, 0u32..4000, 0u8..4), 1..3000),
            queries in proptest::collection::vec((0u8..16, 0u64..3000, proptest::bool::ANY), 1..20),
        ) {
            let mut list = OrderedList::default();
            let mut model = std::collections::BTreeMap::new();
            let mut next_pos = 0u32;
            for (i, &(kind, at, status)) in ops.iter().enumerate() {
                let status = Status::ALL[usize::from(status)];
                match kind {
                    0..=5 => {
                        let time = if kind < 4 { i64::from(next_pos) } else { i64::from(at) };
                        let entry = Entry::new(time, next_pos, status);
                        next_pos += 1;
                        list.insert(entry);
                        model.insert(entry.key(), entry);
                    }
                    6 | 7 if kind == 6 || at % 10 != 0 => {
                        let key = model.keys().nth(at as usize % model.len().max(1)).copied();
                        if let Some(key) = key {
                            proptest::prop_assert_eq!(list.remove(key), model.remove(&key));
                        }
                    }
                    7 => {
                        // Now and then a batch (rare, or the lists would
                        // never grow past one chunk): every k-th key from a
                        // random start, across chunks.
                        let step = 1 + status.index() * 40;
                        let keys: Vec<Key> = model
                            .keys()
                            .skip(at as usize % model.len().max(1))
                            .step_by(step)
                            .take(1 + at as usize % 40)
                            .copied()
                            .collect();
                        list.remove_sorted(&keys);
                        for key in &keys {
                            model.remove(key);
                        }
                    }
                    _ => {
                        let key = model.keys().nth(at as usize % model.len().max(1)).copied();
                        if let Some(key) = key {
                            proptest::prop_assert!(list.set_status(key, status));
                            model.insert(key, Entry::new(key.0, key.1, status));
                        }
                    }
                }
                if i % 101 == 0 {
                    list.check().map_err(proptest::test_runner::TestCaseError::fail)?;
                }
            }
            list.check().map_err(proptest::test_runner::TestCaseError::fail)?;
            let all: Vec<Entry> = model.values().copied().collect();
            proptest::prop_assert_eq!(list.iter().copied().collect::<Vec<_>>(), all.clone());
            for (bits, offset, newest_first) in queries {
                let set = Status::ALL
                    .into_iter()
                    .filter(|s| bits & (1 << s.index()) != 0)
                    .fold(StatusSet::default(), StatusSet::with);
                let mut want: Vec<u32> =
                    all.iter().filter(|e| set.contains(e.status())).map(Entry::pos).collect();
                if newest_first {
                    want.reverse();
                }
                let want: Vec<u32> = want.into_iter().skip(offset as usize).take(37).collect();
                let order = if newest_first { Order::NewestFirst } else { Order::OldestFirst };
                proptest::prop_assert_eq!(list.page(set, order, offset, 37), want);
                // A key range: ranks, the page inside it, the entries in it.
                let lo: Key = (offset as i64 % 4000, (offset % 7) as u32);
                let hi: Key = (lo.0 + (offset as i64 * 13) % 900, 0);
                let inside: Vec<&Entry> = all.iter().filter(|e| lo <= e.key() && e.key() < hi).collect();
                let below = |key: Key| all.iter().filter(|e| e.key() < key && set.contains(e.status())).count();
                proptest::prop_assert_eq!(list.rank(set, lo), below(lo));
                proptest::prop_assert_eq!(list.rank(set, hi), below(hi));
                let ranks = list.rank(set, lo)..list.rank(set, hi).max(list.rank(set, lo));
                let mut want: Vec<u32> = inside.iter().filter(|e| set.contains(e.status())).map(|e| e.pos()).collect();
                if newest_first {
                    want.reverse();
                }
                let skip = (offset % 50) as usize;
                let want: Vec<u32> = want.into_iter().skip(skip).take(11).collect();
                proptest::prop_assert_eq!(list.page_in(set, order, ranks, skip as u64, 11), want);
                let got: Vec<Entry> = list.range(lo, hi).copied().collect();
                let want: Vec<Entry> = inside.iter().map(|e| **e).collect();
                proptest::prop_assert_eq!(&got, &want);
                let mut back: Vec<Entry> = list.range(lo, hi).rev().copied().collect();
                back.reverse();
                proptest::prop_assert_eq!(back, want);
            }
        }
    }
}
