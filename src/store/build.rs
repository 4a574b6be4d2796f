//! Building a store from many jobs at once: [`JobStore::from_jobs`], and
//! the snapshot reader.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, RandomState};

use hashbrown::HashTable;

use super::head::{Head, Recent};
use super::ids::first_repeat;
use super::index::{AppIndex, Scope};
use super::ordered::{Entry, ListBuilder, OrderedList};
use super::record::{Sym, SymHasher, SymMap};
use super::slots::Slots;
use super::{JobStore, duplicate};
use crate::error::Error;
use crate::job::{CheckedJob, Job};

/// The tag of names in [`Builder::recent`]: no app has it (fewer than
/// 2^30 jobs, three names each).
const NAME: Sym = Sym::MAX;

/// Scopes by the app and the name (owner or action) they are for.
type ScopesByName = HashMap<(Sym, Sym), u32, BuildHasherDefault<SymHasher>>;

/// A store being built whole: records as jobs come, and staged beside
/// them each job's id key, its postings and the scopes it is in. At the
/// end, the ids fill their table in one ordered pass (which finds any
/// repeat), the postings are dealt to their lists, and the jobs are
/// sorted once by each time and dealt, in that order, to the lists of
/// their scopes, so every list comes out sorted without a sort of its own.
pub(super) struct Builder {
    store: JobStore,
    /// By position: the key of the job's id in the id table, which is
    /// filled at the end (see [`IdTable::fill`](super::ids::IdTable::fill)).
    keys: Vec<u32>,
    /// By position: the scopes of the job's app, owner and action (indexes
    /// into `sizes`).
    placed: Vec<[u32; 3]>,
    /// By scope: how many jobs it holds.
    sizes: Vec<usize>,
    apps: SymMap<u32>,
    owners: ScopesByName,
    actions: ScopesByName,
    /// Posting lists by app and resource id, found by the app and the
    /// head of the id (see [`Head`]): indexes into `lists`.
    postings: HashTable<(Sym, Head, u32)>,
    /// The posting lists: app and resource id.
    lists: Vec<(Sym, Box<str>)>,
    /// Every posting as it came: (list, position). Dealt to the lists at
    /// the end, in one pass that touches nothing else: appended to as jobs
    /// come, the lists' ends would be cold in the cache, among a million
    /// jobs' texts.
    posted: Vec<(u32, u32)>,
    hasher: RandomState,
    /// Names interned lately (tagged [`NAME`]; no name is released during
    /// a build, so a symbol held stays the name's) and resource ids posted
    /// lately (tagged with their app), with their list.
    recent: Recent,
    /// How many finished jobs there are.
    finished: usize,
}

impl Builder {
    pub(super) fn new() -> Builder {
        Builder {
            store: JobStore::new(),
            keys: Vec::new(),
            placed: Vec::new(),
            sizes: Vec::new(),
            apps: SymMap::default(),
            owners: ScopesByName::default(),
            actions: ScopesByName::default(),
            postings: HashTable::new(),
            lists: Vec::new(),
            posted: Vec::new(),
            hasher: RandomState::new(),
            recent: Recent::new(Recent::MIN_BITS),
            finished: 0,
        }
    }

    /// Makes room for up to `n` more jobs: a hint (from an iterator or an
    /// input's length prefix), so it is capped, and a hint that lies costs
    /// at most a few MiB; beyond it, the tables grow as jobs come.
    pub(super) fn reserve(&mut self, n: usize) {
        const MAX_HINT: usize = 1 << 16;
        let n = n.min(MAX_HINT);
        self.keys.reserve(n);
        self.store.records.reserve(n);
        self.placed.reserve(n);
        self.posted.reserve(n);
    }

    /// Adds a job after every check an insert makes.
    ///
    /// # Errors
    ///
    /// As [`JobStore::insert`]; the builder is then to be dropped.
    pub(super) fn push(&mut self, job: &Job) -> Result<(), Error> {
        self.push_checked(&job.check()?)
    }

    /// Adds a job that passed every check of its own (as
    /// [`Job::validate`]); refuses one past the store's quota. An id that
    /// repeats is found only when the ids are gathered, at the end: see
    /// [`Builder::earlier_repeat`].
    pub(super) fn push_checked(&mut self, checked: &CheckedJob<'_>) -> Result<(), Error> {
        self.store.check_room()?;
        self.keys.push(self.store.ids.key(checked.fields.job_id));
        // The cache grows with the build: a small one for a small store.
        if self.placed.len() >= 8 * self.recent.len() {
            self.recent.grow();
        }
        let job = &checked.fields;
        let names = [job.app, job.owner, job.job_action].map(|name| self.intern(name));
        let pos = self.store.add_record(checked, names);
        // A new store hands out positions from 0, one after the other.
        debug_assert_eq!(pos as usize, self.placed.len());
        let record = &self.store.records[pos];
        let (app, owner, action) = (record.app, record.owner, record.action);
        self.finished += usize::from(record.status.is_finished());
        let sizes = &mut self.sizes;
        let mut scope = |id: &mut u32| {
            if *id == u32::MAX {
                // Fewer scopes than three a job, and fewer than 2^30 jobs.
                *id = sizes.len() as u32;
                sizes.push(0);
            }
            sizes[*id as usize] += 1;
            *id
        };
        let placed = [
            scope(self.apps.entry(app).or_insert(u32::MAX)),
            scope(self.owners.entry((app, owner)).or_insert(u32::MAX)),
            scope(self.actions.entry((app, action)).or_insert(u32::MAX)),
        ];
        self.placed.push(placed);
        for &id in &checked.involved {
            self.post(app, id, pos);
        }
        Ok(())
    }

    /// The symbol of an app, owner or action name, counting a use.
    fn intern(&mut self, name: &str) -> Sym {
        let names = &mut self.store.names;
        if let Some(sym) = self.recent.get(name, NAME) {
            names.use_again(sym);
            return sym;
        }
        let sym = names.intern(name);
        self.recent.put(name, NAME, sym);
        sym
    }

    /// Adds `pos` (the highest position yet) to the posting list of `id`
    /// in `app`.
    fn post(&mut self, app: Sym, id: &str, pos: u32) {
        if let Some(at) = self.recent.get(id, app) {
            self.posted.push((at, pos));
            return;
        }
        let hash = self.hasher.hash_one((app, id));
        let lists = &mut self.lists;
        let probe = Head::of(id);
        let is = |&(held, head, at): &(Sym, Head, u32)| {
            held == app && head.is(&probe, || *lists[at as usize].1 == *id)
        };
        let at = match self.postings.find(hash, is) {
            Some(&(.., at)) => at,
            None => {
                // Fewer lists than 2^32: at most MAX_RESOURCES a job,
                // fewer than 2^30 jobs, and one list per (app, id).
                let at = lists.len() as u32;
                lists.push((app, id.into()));
                let hasher = &self.hasher;
                let rehash = |&(app, _, at): &(Sym, Head, u32)| {
                    hasher.hash_one((app, &*lists[at as usize].1))
                };
                self.postings.insert_unique(hash, (app, probe, at), rehash);
                at
            }
        };
        self.recent.put(id, app, at);
        self.posted.push((at, pos));
    }

    /// How many jobs it holds.
    pub(super) fn len(&self) -> usize {
        self.store.len()
    }

    /// The first job held whose id an earlier one has, if any: its
    /// position (from 0) and the refusal an insert of it would meet. A
    /// caller refusing a later job asks this first, so what it reports is
    /// the first job, in order, that cannot go in.
    pub(super) fn earlier_repeat(&self) -> Option<(usize, Error)> {
        let records = &self.store.records;
        let pos = first_repeat(&self.keys, |a, b| same_id(records, a, b))?;
        Some(repeat_at(records, pos))
    }

    /// The store, its indexes built; at revision `len()`, one change per job.
    ///
    /// # Errors
    ///
    /// As [`Builder::earlier_repeat`], when an id repeats.
    pub(super) fn finish(mut self) -> Result<JobStore, (usize, Error)> {
        let keys = std::mem::take(&mut self.keys);
        let records = &self.store.records;
        if let Err(pos) = self.store.ids.fill(&keys, |a, b| same_id(records, a, b)) {
            return Err(repeat_at(records, pos));
        }
        drop(keys);
        let Builder {
            mut store,
            placed,
            sizes,
            apps,
            owners,
            actions,
            lists,
            posted,
            finished,
            ..
        } = self;
        let builders = |_| sizes.iter().map(|&n| OrderedList::builder(n)).collect();
        let [mut by_create, mut by_status]: [Vec<ListBuilder>; 2] = [0, 1].map(builders);
        let mut finished = OrderedList::builder(finished);
        let mut order = Vec::with_capacity(store.len());
        for by_status_time in [false, true] {
            order.clear();
            order.extend(store.records.iter().map(|(pos, record)| {
                let time = if by_status_time {
                    record.status_time
                } else {
                    record.create_time
                };
                Entry::new(time, pos, record.status)
            }));
            order.sort_unstable_by_key(Entry::key);
            let builders = if by_status_time {
                &mut by_status
            } else {
                &mut by_create
            };
            for &entry in &order {
                for scope in placed[entry.pos() as usize] {
                    builders[scope as usize].push(entry);
                }
                if by_status_time && entry.status().is_finished() {
                    finished.push(entry);
                }
            }
        }
        drop((order, placed));
        let mut scopes: Vec<Option<Scope>> = by_create
            .into_iter()
            .zip(by_status)
            .map(|(create, status)| Some(Scope::from_lists(create.finish(), status.finish())))
            .collect();
        let mut take = |id: u32| scopes[id as usize].take().unwrap_or_default();
        store.apps = apps
            .into_iter()
            .map(|(app, id)| {
                let index = AppIndex {
                    all: take(id),
                    owners: SymMap::default(),
                    actions: SymMap::default(),
                    resources: HashMap::new(),
                };
                (app, index)
            })
            .collect();
        let mut sizes = vec![0; lists.len()];
        for &(at, _) in &posted {
            sizes[at as usize] += 1;
        }
        let mut positions: Vec<Vec<u32>> = sizes.into_iter().map(Vec::with_capacity).collect();
        for (at, pos) in posted {
            positions[at as usize].push(pos);
        }
        for ((app, id), positions) in lists.into_iter().zip(positions) {
            if let Some(index) = store.apps.get_mut(&app) {
                index.resources.insert(id, positions);
            }
        }
        for (names, of_app) in [(owners, true), (actions, false)] {
            for ((app, name), id) in names {
                if let Some(index) = store.apps.get_mut(&app) {
                    let by_name = if of_app {
                        &mut index.owners
                    } else {
                        &mut index.actions
                    };
                    by_name.insert(name, take(id));
                }
            }
        }
        store.finished = finished.finish();
        Ok(store)
    }
}

/// The refusal of the job at `pos`, whose id an earlier job has: its
/// place (from 0) and the error an insert of it meets.
fn repeat_at(records: &Slots, pos: u32) -> (usize, Error) {
    (pos as usize, duplicate(records[pos].job_id()))
}

/// Whether the jobs at `a` and `b` have the same id.
fn same_id(records: &Slots, a: u32, b: u32) -> bool {
    records[a].job_id() == records[b].job_id()
}

impl JobStore {
    /// Builds a store from many jobs at once: each job is checked as
    /// [`JobStore::insert`] checks it and kept in the order given, and each
    /// index is sorted once at the end rather than grown one job at a time.
    /// The store is at revision `n` for `n` jobs, as if they had been
    /// inserted one by one (so a log of later events starts at `n + 1`).
    ///
    /// The jobs may be owned or borrowed (`&Job`, say from a slice): the
    /// store copies what it keeps either way, so building from a borrowed
    /// batch leaves freeing it to its owner, off the build's clock.
    ///
    /// ```
    /// use joblog::{Caller, Job, JobStore, Query, Status};
    /// use joblog::chrono::{DateTime, Duration, Utc};
    ///
    /// let t0: DateTime<Utc> = "2018-03-04T05:37:58Z".parse()?;
    /// let jobs = (0..1000).map(|i| {
    ///     // Out of order on purpose: the build sorts once.
    ///     let created = t0 + Duration::seconds((i * 7919) % 1000);
    ///     Job::new(format!("j-{i}"), "app-1", "usr-1", "RunJob", Status::Pending, created)
    /// });
    /// let store = JobStore::from_jobs(jobs)?;
    /// assert_eq!((store.len(), store.revision()), (1000, 1000));
    /// let page = store.describe(&Caller::user("usr-1"), &Query::builder("app-1").limit(1).build())?;
    /// assert_eq!(page.jobs()[0].create_time(), t0 + Duration::seconds(999));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first job [`JobStore::insert`] would refuse (an invalid record,
    /// a repeated id, more than [`JobStore::MAX_JOBS`] jobs); no store is
    /// built. Ids are gathered and checked for repeats once, at the end,
    /// so a repeated id is found only after every job is read (and the
    /// iterator run to its end); a job that fails a check of its own stops
    /// the build at once, and is reported unless an earlier job repeats
    /// an id.
    pub fn from_jobs<J: Borrow<Job>>(jobs: impl IntoIterator<Item = J>) -> Result<JobStore, Error> {
        let mut builder = Builder::new();
        let jobs = jobs.into_iter();
        builder.reserve(jobs.size_hint().0);
        for job in jobs {
            if let Err(err) = builder.push(job.borrow()) {
                return Err(builder.earlier_repeat().map_or(err, |(_, repeat)| repeat));
            }
        }
        builder.finish().map_err(|(_, repeat)| repeat)
    }
}
