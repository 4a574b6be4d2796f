//! The indexes of one app: all its jobs and each owner's in two orders,
//! and posting lists by action and by resource id.

use std::collections::HashMap;

use super::ordered::{Entry, Key, OrderedList};
use super::record::{Record, Renumbered, Sym, SymMap};
use super::slots::Moved;
use crate::query::SortKey;
use crate::status::Status;

/// Everything indexed about one app.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct AppIndex {
    /// All jobs of the app.
    pub(super) all: Scope,
    /// The jobs of the app by owner.
    pub(super) owners: SymMap<Scope>,
    /// The jobs of the app by action.
    pub(super) actions: SymMap<Scope>,
    /// Positions, ascending, by involved resource id.
    pub(super) resources: HashMap<Box<str>, Vec<u32>>,
}

/// The two orders of one set of jobs.
#[derive(Clone, Debug, Default)]
pub(super) struct Scope {
    by_create_time: OrderedList,
    by_status_time: OrderedList,
}

impl PartialEq for Scope {
    fn eq(&self, other: &Scope) -> bool {
        self.by_create_time.iter().eq(other.by_create_time.iter())
            && self.by_status_time.iter().eq(other.by_status_time.iter())
    }
}

impl Scope {
    /// The scope of the jobs these lists hold, by create time and by
    /// status time.
    pub(super) fn from_lists(by_create_time: OrderedList, by_status_time: OrderedList) -> Scope {
        Scope {
            by_create_time,
            by_status_time,
        }
    }

    pub(super) fn list(&self, sort_key: SortKey) -> &OrderedList {
        match sort_key {
            SortKey::CreateTime => &self.by_create_time,
            SortKey::StatusTime => &self.by_status_time,
        }
    }

    fn insert(&mut self, pos: u32, record: &Record) {
        let status = record.status;
        self.by_create_time
            .insert(Entry::new(record.create_time, pos, status));
        self.by_status_time
            .insert(Entry::new(record.status_time, pos, status));
    }

    /// How many jobs the scope holds.
    pub(super) fn len(&self) -> usize {
        self.by_create_time.len()
    }

    fn change_status(&mut self, pos: u32, record: &Record, status: Status, at: i64) {
        // Every stored job has an entry in both orders (the invariant
        // checker proves it); a miss would be a bug here, not bad input.
        let found = self
            .by_create_time
            .set_status((record.create_time, pos), status);
        let removed = self.by_status_time.remove((record.status_time, pos));
        debug_assert!(found && removed.is_some(), "job {pos} missing from a scope");
        self.by_status_time.insert(Entry::new(at, pos, status));
    }

    /// Removes these jobs from both orders, one pass over each chunk
    /// they are in; `keys` is room to sort their keys in.
    fn remove(&mut self, jobs: &[(u32, &Record)], keys: &mut Vec<Key>) {
        for (list, time) in [
            (
                &mut self.by_create_time,
                (|r: &Record| r.create_time) as fn(&Record) -> i64,
            ),
            (&mut self.by_status_time, |r: &Record| r.status_time),
        ] {
            keys.clear();
            keys.extend(jobs.iter().map(|(pos, record)| (time(record), *pos)));
            keys.sort_unstable();
            list.remove_sorted(keys);
        }
    }

    fn retain_map(&mut self, moved: &Moved) {
        self.by_create_time.retain_map(|entry| moved.entry(entry));
        self.by_status_time.retain_map(|entry| moved.entry(entry));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_create_time.is_empty()
    }

    pub(super) fn check(&self) -> Result<(), String> {
        self.by_create_time.check()?;
        self.by_status_time.check()
    }
}

impl AppIndex {
    pub(super) fn insert(&mut self, pos: u32, record: &Record, resources: &[&str]) {
        self.all.insert(pos, record);
        self.owners
            .entry(record.owner)
            .or_default()
            .insert(pos, record);
        self.actions
            .entry(record.action)
            .or_default()
            .insert(pos, record);
        post(&mut self.resources, pos, resources);
    }

    /// Moves a job to `status` at `at` in every scope that holds it.
    pub(super) fn change_status(&mut self, pos: u32, record: &Record, status: Status, at: i64) {
        self.all.change_status(pos, record, status, at);
        for scope in [
            self.owners.get_mut(&record.owner),
            self.actions.get_mut(&record.action),
        ]
        .into_iter()
        .flatten()
        {
            scope.change_status(pos, record, status, at);
        }
    }

    /// Removes the jobs at `going` (ascending positions, with their
    /// records and involved resource ids) from every index, dropping the
    /// keys left empty. Each posting list they are in is filtered once,
    /// however many of them it holds.
    pub(super) fn remove(&mut self, going: &[(u32, &Record, Vec<String>)]) {
        let mut jobs: Vec<(u32, &Record)> = going.iter().map(|(pos, r, _)| (*pos, *r)).collect();
        let mut keys = Vec::with_capacity(jobs.len());
        self.all.remove(&jobs, &mut keys);
        for (scopes, name) in [
            (
                &mut self.owners,
                (|r: &Record| r.owner) as fn(&Record) -> Sym,
            ),
            (&mut self.actions, |r: &Record| r.action),
        ] {
            // Grouped by name, so each scope is visited once.
            jobs.sort_unstable_by_key(|(pos, record)| (name(record), *pos));
            for group in jobs.chunk_by(|(_, a), (_, b)| name(a) == name(b)) {
                let sym = name(group[0].1);
                if let Some(scope) = scopes.get_mut(&sym) {
                    scope.remove(group, &mut keys);
                    if scope.is_empty() {
                        scopes.remove(&sym);
                    }
                }
            }
        }
        let mut postings: HashMap<&str, Vec<u32>> = HashMap::new();
        for (pos, _, resources) in going {
            for id in resources {
                postings.entry(id).or_default().push(*pos);
            }
        }
        for (id, gone) in postings {
            let Some(positions) = self.resources.get_mut(id) else {
                continue;
            };
            // Both ascending: one merge pass.
            let mut gone = gone.iter().peekable();
            positions.retain(|pos| {
                while gone.next_if(|g| *g < pos).is_some() {}
                gone.next_if(|g| *g == pos).is_none()
            });
            if positions.is_empty() {
                self.resources.remove(id);
            } else if positions.capacity() > 2 * positions.len() {
                positions.shrink_to_fit();
            }
        }
    }

    /// Renumbers every index after a compaction (positions by `moved`,
    /// owner and action names by `names`), so each index comes out no
    /// larger than what it holds.
    pub(super) fn retain_map(&mut self, moved: &Moved, names: &Renumbered) {
        self.all.retain_map(moved);
        let scope = |scope: &mut Scope| {
            scope.retain_map(moved);
            !scope.is_empty()
        };
        names.rekey(&mut self.owners, scope);
        names.rekey(&mut self.actions, scope);
        self.resources = std::mem::take(&mut self.resources)
            .into_iter()
            .filter_map(|(id, positions)| {
                let positions: Vec<u32> =
                    positions.iter().filter_map(|&pos| moved.get(pos)).collect();
                (!positions.is_empty()).then_some((id, positions))
            })
            .collect();
    }

    /// The positions, ascending, of the jobs that involve `id`: none for
    /// an id no job has.
    pub(super) fn postings(&self, id: &str) -> &[u32] {
        self.resources.get(id).map_or(&[], Vec::as_slice)
    }
}

/// Adds `pos` (the highest position yet) to the posting list of each id.
fn post(postings: &mut HashMap<Box<str>, Vec<u32>>, pos: u32, resources: &[&str]) {
    for &id in resources {
        match postings.get_mut(id) {
            Some(positions) => positions.push(pos),
            None => {
                postings.insert(id.into(), vec![pos]);
            }
        }
    }
}
