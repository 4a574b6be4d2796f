//! The [`JobStore`]: the jobs, their lifecycle and retention.
//!
//! Its parts are child modules, which see its private fields:
//! - `record`: how one job is packed ([`Record`]) and read ([`JobRef`]);
//! - `slots`: the records by position, positions never reused;
//! - `ids`: positions by job id;
//! - `ordered`: the ordered list behind every page and count;
//! - `index`: what is indexed about one app;
//! - `plan`: [`JobStore::describe`] and [`JobStore::explain`], the planner
//!   and its plans;
//! - `events`: [`JobStore::prepare`] and [`JobStore::apply`], write-ahead
//!   and replay of change events;
//! - `build`: [`JobStore::from_jobs`], a store built whole;
//! - `snapshot`: `JobStore`'s serde form.

mod build;
mod events;
mod head;
mod ids;
mod index;
mod ordered;
mod plan;
mod record;
mod slots;
mod snapshot;

use chrono::{DateTime, Utc};

use crate::error::{Error, ErrorKind};
use crate::event::{Change, Event};
use crate::job::{CheckedJob, Job, nanos, short_len};
use crate::status::{Status, StatusSet};
use crate::time::{from_nanos, to_nanos};

use self::ids::IdTable;
use self::index::AppIndex;
use self::ordered::{Entry, MAX_POSITIONS, OrderedList};
use self::record::{Interner, Record, Sym, SymMap};
use self::slots::Slots;

pub use self::events::Applied;
pub use self::plan::{Access, Page, Plan, PlanIndex};
pub use self::record::JobRef;
pub(crate) use self::record::RESOURCE_IDS_KEY;

/// A status change that passed its checks.
struct StatusStep {
    pos: u32,
    /// The new `status_time` in nanoseconds.
    at: i64,
    /// The length of the `error_codes` recorded.
    error_codes: u16,
}

/// A prune that passed its checks: the positions that go, oldest
/// `status_time` first.
struct PruneStep {
    going: Vec<u32>,
}

/// An in-memory store of jobs that answers `DescribeClusterJobs`.
///
/// Jobs are kept in insertion order, by id, and indexed by app, by (app,
/// owner), by (app, action) and by (app, resource id); the ordered indexes
/// (by `create_time` and by `status_time`) count jobs by status, so
/// `total_count` and any page come without a scan. A stored job is packed
/// (interned names, one allocation for its text) and read back through a
/// [`JobRef`].
///
/// The store does no I/O and reads no clock: every time comes in as an
/// argument. It is `Send + Sync` with no locking of its own; readers take
/// `&JobStore`, writers `&mut JobStore`, so share it behind a
/// [`std::sync::RwLock`].
///
/// ```
/// use joblog::{Job, JobStore, Status};
///
/// let mut store = JobStore::new();
/// let at = "2018-03-04T05:37:58Z".parse()?;
/// store.insert(Job::new("j-1", "app-1", "usr-1", "StartClusters", Status::Pending, at))?;
/// store.set_status("j-1", Status::Working, "2018-03-04T05:38:00Z".parse()?)?;
/// assert_eq!(store.get("j-1").map(|job| job.status()), Some(Status::Working));
/// assert_eq!(store.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct JobStore {
    /// The jobs by position, which every other index refers to: handed
    /// out in insertion order (so it breaks ties) and never reused, so a
    /// prune moves no job that stays.
    records: Slots,
    /// Positions by job id.
    ids: IdTable,
    /// App, owner and action names.
    names: Interner,
    apps: SymMap<AppIndex>,
    /// Every finished job by `status_time`: what a prune drops, oldest
    /// first, across apps.
    finished: OrderedList,
    max_jobs: usize,
    /// Positions are handed out below this; reaching it renumbers the
    /// store ([`JobStore::compact`]).
    max_positions: u32,
    /// How many changes have succeeded.
    revision: u64,
}

impl Default for JobStore {
    fn default() -> JobStore {
        JobStore::new()
    }
}

impl JobStore {
    /// The most jobs a store can hold (2^29): positions are packed
    /// with the status into 32 bits in the indexes.
    pub const MAX_JOBS: usize = MAX_POSITIONS / 2;

    /// An empty store.
    pub fn new() -> JobStore {
        JobStore::with_max_jobs(JobStore::MAX_JOBS)
    }

    /// An empty store that refuses to hold more than `max_jobs` jobs (a
    /// quota; capped at [`JobStore::MAX_JOBS`]).
    ///
    /// ```
    /// use joblog::{ErrorKind, Job, JobStore, Status};
    ///
    /// let mut store = JobStore::with_max_jobs(1);
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// store.insert(Job::new("j-1", "app-1", "usr-1", "RunJob", Status::Pending, at))?;
    /// let err = store
    ///     .insert(Job::new("j-2", "app-1", "usr-1", "RunJob", Status::Pending, at))
    ///     .unwrap_err();
    /// assert_eq!(err.ret_code(), 2500);
    /// assert_eq!(err.to_string(), "QuotaExceeded, the store is full: it holds at most 1 jobs");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_max_jobs(max_jobs: usize) -> JobStore {
        JobStore {
            records: Slots::default(),
            ids: IdTable::default(),
            names: Interner::default(),
            apps: SymMap::default(),
            finished: OrderedList::default(),
            max_jobs: max_jobs.min(JobStore::MAX_JOBS),
            max_positions: MAX_POSITIONS as u32,
            revision: 0,
        }
    }

    /// A store that hands out at most `positions` positions (at least 2)
    /// before it renumbers itself, and so holds at most half as many jobs;
    /// for the tests that reach the renumbering without 2^30 inserts.
    #[doc(hidden)]
    pub fn with_position_limit(max_jobs: usize, positions: usize) -> JobStore {
        let positions = positions.clamp(2, MAX_POSITIONS);
        let mut store = JobStore::with_max_jobs(max_jobs.min(positions / 2));
        store.max_positions = positions as u32;
        store
    }

    /// The store's revision: 0 when new, plus one for every change that
    /// succeeds (an insert, a status change, a failure, a prune that drops
    /// at least one job). A refused change and a no-op (setting the status
    /// a job already has, a prune that drops nothing) leave it as it is, so
    /// two stores that made the same changes have the same revision, and a
    /// reader can say exactly which state it read.
    ///
    /// ```
    /// use joblog::{Job, JobStore, Status};
    ///
    /// let mut store = JobStore::new();
    /// assert_eq!(store.revision(), 0);
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// let job = Job::new("j-1", "app-1", "usr-1", "RunJob", Status::Pending, at);
    /// store.insert(job.clone())?;
    /// assert!(store.insert(job).is_err()); // refused: no change
    /// store.set_status("j-1", Status::Pending, at)?; // a no-op
    /// assert_eq!(store.revision(), 1);
    /// store.set_status("j-1", Status::Working, at)?;
    /// assert_eq!(store.revision(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// How many jobs are stored.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no job is stored.
    pub fn is_empty(&self) -> bool {
        self.records.len() == 0
    }

    /// The job with this id.
    pub fn get(&self, job_id: &str) -> Option<JobRef<'_>> {
        self.position(job_id).map(|pos| self.job_at(pos))
    }

    /// Every stored job, in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = JobRef<'_>> {
        self.records
            .iter()
            .map(|(_, record)| JobRef::new(record, &self.names))
    }

    /// The position of the job with this id.
    fn position(&self, job_id: &str) -> Option<u32> {
        self.position_by_key(job_id, self.ids.key(job_id))
    }

    /// The position of the job with this id, whose key in the id table is
    /// `key`.
    fn position_by_key(&self, job_id: &str, key: u32) -> Option<u32> {
        let records = &self.records;
        self.ids.find(key, |pos| records[pos].job_id() == job_id)
    }

    /// The packed job at a position an index holds.
    fn record(&self, pos: u32) -> &Record {
        &self.records[pos]
    }

    /// The job at a position an index holds.
    fn job_at(&self, pos: u32) -> JobRef<'_> {
        JobRef::new(self.record(pos), &self.names)
    }

    /// Stores a new job, and hands back the event of the change (which
    /// holds the job).
    ///
    /// # Errors
    ///
    /// Nothing is stored when the job breaks a rule of [`Job::validate`]
    /// ([`ErrorKind::InvalidField`]), its id is already stored
    /// ([`ErrorKind::DuplicateJob`]; the stored job is kept as it was), or
    /// the store is full ([`ErrorKind::StoreFull`]).
    ///
    /// ```
    /// use joblog::{Job, JobStore, Status};
    ///
    /// let mut store = JobStore::new();
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// let job = Job::new("j-1", "app-1", "usr-1", "StartClusters", Status::Pending, at);
    /// store.insert(job.clone())?;
    /// let err = store.insert(job).unwrap_err();
    /// assert_eq!(err.to_string(), "ParameterError, job [j-1] already exists");
    /// assert_eq!(store.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert(&mut self, job: Job) -> Result<Event, Error> {
        let checked = self.check_insert(&job)?;
        self.commit_insert(&checked);
        Ok(self.made(Change::Insert { job: Box::new(job) }))
    }

    /// Every check of an insert, changing nothing.
    fn check_insert<'j>(&self, job: &'j Job) -> Result<CheckedJob<'j>, Error> {
        let checked = job.check()?;
        // Looked up before anything is inserted: `HashTable::entry` may grow
        // the table even when the id is there, and a refusal must change
        // nothing, not even capacity.
        self.check_new(&checked)?;
        Ok(checked)
    }

    /// Refuses a checked job this store cannot take (its id is held, or
    /// the store is full); hands back its id's key in the id table.
    fn check_new(&self, checked: &CheckedJob<'_>) -> Result<u32, Error> {
        let job_id = checked.fields.job_id;
        let key = self.ids.key(job_id);
        if self.position_by_key(job_id, key).is_some() {
            return Err(duplicate(job_id));
        }
        self.check_room()?;
        Ok(key)
    }

    /// Refuses a job more than the quota.
    fn check_room(&self) -> Result<(), Error> {
        if self.len() >= self.max_jobs {
            return Err(Error::new(ErrorKind::StoreFull {
                capacity: self.max_jobs,
            }));
        }
        Ok(())
    }

    /// Stores a job that passed [`JobStore::check_insert`].
    fn commit_insert(&mut self, checked: &CheckedJob<'_>) {
        if self.records.next_position() >= self.max_positions {
            // Positions ran out (after 2^30 inserts, most of them pruned):
            // renumber, which frees all but `len()` of them; a store holds
            // at most half the positions, so the next renumbering is at
            // least 2^29 inserts away.
            self.compact();
        }
        let key = self.ids.key(checked.fields.job_id);
        let job = &checked.fields;
        let names = [job.app, job.owner, job.job_action].map(|name| self.names.intern(name));
        let pos = self.add_record(checked, names);
        self.ids.insert(key, pos);
        let record = &self.records[pos];
        index(&mut self.apps, pos, record, &checked.involved);
        if record.status.is_finished() {
            self.finished
                .insert(Entry::new(record.status_time, pos, record.status));
        }
    }

    /// Packs a checked job, its app, owner and action interned as
    /// `names`, and adds it to the records (not yet to the id table or an
    /// app's indexes), counts the change, and says where it is.
    fn add_record(&mut self, checked: &CheckedJob<'_>, names: [Sym; 3]) -> u32 {
        // Below `max_positions`: `commit_insert` renumbers before it is
        // reached, and a store being built holds fewer than `max_jobs`.
        let pos = self.records.next_position();
        let [app, owner, action] = names;
        let record = Record::new(checked, app, owner, action);
        self.records.push(record);
        self.revision += 1;
        pos
    }

    /// The event of the change just made.
    fn made(&self, change: Change) -> Event {
        Event {
            revision: self.revision,
            change,
        }
    }

    /// Moves a job to `status`, at time `at` (its new `status_time`), and
    /// hands back the event of the change.
    ///
    /// Setting the status the job already has is a no-op that succeeds
    /// (events may be delivered twice), whatever `at` says: it is no
    /// change, so it makes no event (`None`) and leaves the revision.
    ///
    /// # Errors
    ///
    /// The job is left exactly as it was when no job has this id
    /// ([`ErrorKind::JobNotFound`]), the lifecycle forbids the move
    /// ([`ErrorKind::InvalidTransition`]), `at` is before the job's
    /// `status_time` ([`ErrorKind::StatusTimeBeforeCurrent`]) or outside the
    /// supported years ([`ErrorKind::InvalidField`]).
    ///
    /// ```
    /// use joblog::{Job, JobStore, Status};
    ///
    /// let mut store = JobStore::new();
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// store.insert(Job::new("j-1", "app-1", "usr-1", "StartClusters", Status::Pending, at))?;
    /// store.set_status("j-1", Status::Successful, "2018-03-04T05:38:05Z".parse()?)?;
    /// let err = store
    ///     .set_status("j-1", Status::Working, "2018-03-04T05:39:00Z".parse()?)
    ///     .unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "PermissionDenied, job [j-1] cannot change from successful to working: \
    ///      a finished job's status is final"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_status(
        &mut self,
        job_id: &str,
        status: Status,
        at: DateTime<Utc>,
    ) -> Result<Option<Event>, Error> {
        self.change_status(job_id, status, at, "")
    }

    /// Marks a job `failed` at time `at`, recording its `error_codes`, and
    /// hands back the event of the change.
    ///
    /// A job that has already failed keeps its first `error_codes` (the
    /// repeated call is a no-op: `None`).
    ///
    /// # Errors
    ///
    /// As [`JobStore::set_status`].
    ///
    /// ```
    /// use joblog::{Job, JobStore, Status};
    ///
    /// let mut store = JobStore::new();
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// store.insert(Job::new("j-1", "app-1", "usr-1", "StartClusters", Status::Working, at))?;
    /// store.fail("j-1", "2018-03-04T05:40:00Z".parse()?, "5000")?;
    /// assert_eq!(store.get("j-1").map(|job| job.error_codes()), Some("5000"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fail(
        &mut self,
        job_id: &str,
        at: DateTime<Utc>,
        error_codes: &str,
    ) -> Result<Option<Event>, Error> {
        self.change_status(job_id, Status::Failed, at, error_codes)
    }

    fn change_status(
        &mut self,
        job_id: &str,
        status: Status,
        at: DateTime<Utc>,
        error_codes: &str,
    ) -> Result<Option<Event>, Error> {
        let Some(step) = self.check_status(job_id, status, at, error_codes)? else {
            return Ok(None);
        };
        self.commit_status(step, status, error_codes);
        Ok(Some(self.made(Change::Status {
            job_id: job_id.to_owned(),
            status,
            at,
            error_codes: error_codes.to_owned(),
        })))
    }

    /// Every check of a status change, changing nothing: `None` for a
    /// no-op (the job has that status already).
    fn check_status(
        &self,
        job_id: &str,
        status: Status,
        at: DateTime<Utc>,
        error_codes: &str,
    ) -> Result<Option<StatusStep>, Error> {
        let Some(pos) = self.position(job_id) else {
            return Err(Error::new(ErrorKind::JobNotFound {
                job_id: job_id.to_owned(),
            }));
        };
        let record = self.record(pos);
        if record.status == status {
            return Ok(None);
        }
        if !record.status.can_become(status) {
            return Err(Error::new(ErrorKind::InvalidTransition {
                job_id: job_id.to_owned(),
                from: record.status,
                to: status,
            }));
        }
        let at_key = nanos("status_time", at)?;
        if at_key < record.status_time {
            return Err(Error::new(ErrorKind::StatusTimeBeforeCurrent {
                job_id: job_id.to_owned(),
                status_time: from_nanos(record.status_time),
                at,
            }));
        }
        if status != Status::Failed && !error_codes.is_empty() {
            return Err(Error::new(ErrorKind::InvalidField {
                field: "error_codes",
                value: error_codes.to_owned(),
                reason: "must be empty unless the job failed".to_owned(),
            }));
        }
        Ok(Some(StatusStep {
            pos,
            at: at_key,
            error_codes: short_len("error_codes", error_codes)?,
        }))
    }

    /// Makes a status change that passed [`JobStore::check_status`].
    fn commit_status(&mut self, step: StatusStep, status: Status, error_codes: &str) {
        let Some(record) = self.records.get_mut(step.pos) else {
            return;
        };
        if !error_codes.is_empty() {
            record.set_error_codes(error_codes, step.error_codes);
        }
        if let Some(app) = self.apps.get_mut(&record.app) {
            app.change_status(step.pos, record, status, step.at);
        }
        record.status = status;
        record.status_time = step.at;
        // A finished job's status is final: it enters this list once.
        if status.is_finished() {
            self.finished.insert(Entry::new(step.at, step.pos, status));
        }
        self.revision += 1;
    }

    /// Drops the finished jobs (`successful` or `failed`) whose
    /// `status_time` is before `before`, and hands back the event of the
    /// change, which says how many went ([`Event::dropped`]). A prune that
    /// drops nothing is no change: `None`, and the revision stays. Jobs
    /// still `pending` or `working` are never dropped.
    ///
    /// It costs time linear in the number of jobs it drops, and, when that
    /// left the store's tables less than a quarter full, a renumbering linear in
    /// the number that stay, so memory follows the jobs
    /// ([`JobStore::shrink_to_fit`]). A store that must never pause long
    /// prunes in bounded steps with [`JobStore::prune_finished_at_most`].
    ///
    /// ```
    /// use joblog::{Job, JobStore, Status};
    ///
    /// let mut store = JobStore::new();
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// store.insert(Job::new("j-1", "app-1", "usr-1", "RunJob", Status::Successful, at))?;
    /// store.insert(Job::new("j-2", "app-1", "usr-1", "RunJob", Status::Working, at))?;
    /// let event = store.prune_finished("2019-01-01T00:00:00Z".parse()?);
    /// assert_eq!(event.map(|event| event.dropped()), Some(1));
    /// assert!(store.get("j-1").is_none());
    /// assert!(store.get("j-2").is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prune_finished(&mut self, before: DateTime<Utc>) -> Option<Event> {
        let step = self.check_prune(before, usize::MAX)?;
        let dropped = step.going.len();
        self.commit_prune(step);
        if self.is_roomy() {
            self.compact();
        }
        Some(self.made(Change::Prune {
            before,
            limit: None,
            dropped,
        }))
    }

    /// One bounded step of [`JobStore::prune_finished`]: drops at most
    /// `limit` of the finished jobs whose `status_time` is before `before`,
    /// the oldest first (by `status_time`, then in insertion order), and
    /// hands back the event of the step, which records `limit`, so a
    /// replica drops exactly the same jobs. `None` when it drops nothing;
    /// call it until then.
    ///
    /// A step costs time linear in `limit` (and in the posting lists of the
    /// resource ids its jobs involve), never in the store's size, so a
    /// writer holding a lock holds it briefly. Steps give no memory back
    /// beyond what the dropped jobs held; [`JobStore::shrink_to_fit`] does,
    /// when a pause linear in the store's size can be afforded.
    ///
    /// ```
    /// use joblog::{Job, JobStore, Status};
    /// use joblog::chrono::{DateTime, Duration, Utc};
    ///
    /// let mut store = JobStore::new();
    /// let t0: DateTime<Utc> = "2018-03-04T05:37:58Z".parse()?;
    /// for i in 0..2500 {
    ///     let at = t0 + Duration::seconds(i);
    ///     store.insert(Job::new(format!("j-{i}"), "app-1", "usr-1", "RunJob", Status::Successful, at))?;
    /// }
    /// let before = t0 + Duration::seconds(2000);
    /// let mut steps = Vec::new();
    /// while let Some(event) = store.prune_finished_at_most(before, 1000) {
    ///     steps.push(event.dropped());
    /// }
    /// assert_eq!(steps, [1000, 1000]);
    /// assert_eq!(store.len(), 500);
    /// assert!(store.get("j-1999").is_none() && store.get("j-2000").is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prune_finished_at_most(&mut self, before: DateTime<Utc>, limit: usize) -> Option<Event> {
        let step = self.check_prune(before, limit)?;
        let dropped = step.going.len();
        self.commit_prune(step);
        Some(self.made(Change::Prune {
            before,
            limit: Some(limit),
            dropped,
        }))
    }

    /// Which jobs a prune of at most `limit` jobs would drop, changing
    /// nothing: `None` when it drops none.
    fn check_prune(&self, before: DateTime<Utc>, limit: usize) -> Option<PruneStep> {
        // The latest status_time that goes, inclusive: a cut-off past the
        // range of stored times takes every finished job, the one at the
        // last representable instant too.
        let last = match to_nanos(before) {
            Some(cutoff) => cutoff.checked_sub(1)?,
            None if before < DateTime::UNIX_EPOCH => return None,
            None => i64::MAX,
        };
        let going: Vec<u32> = self
            .finished
            .positions_until(last, StatusSet::FINISHED)
            .take(limit)
            .collect();
        (!going.is_empty()).then_some(PruneStep { going })
    }

    /// Drops the jobs a [`JobStore::check_prune`] chose, each from every
    /// index that holds it: no job that stays moves.
    fn commit_prune(&mut self, PruneStep { mut going }: PruneStep) {
        going.sort_unstable();
        let records = &self.records;
        let mut by_app: SymMap<Vec<(u32, &Record, Vec<String>)>> = SymMap::default();
        for &pos in &going {
            let record = &records[pos];
            let resources = record.involved_resources();
            by_app
                .entry(record.app)
                .or_default()
                .push((pos, record, resources));
        }
        for (sym, jobs) in by_app {
            if let Some(app) = self.apps.get_mut(&sym) {
                app.remove(&jobs);
                if app.all.is_empty() {
                    self.apps.remove(&sym);
                }
            }
        }
        let mut finished: Vec<_> = (going.iter())
            .map(|&pos| (self.records[pos].status_time, pos))
            .collect();
        finished.sort_unstable();
        self.finished.remove_sorted(&finished);
        for pos in going {
            let Some(record) = self.records.remove(pos) else {
                continue;
            };
            self.ids.remove(self.ids.key(record.job_id()), pos);
            for sym in [record.app, record.owner, record.action] {
                self.names.release(sym);
            }
        }
        self.revision += 1;
    }

    /// Whether the tables hold less than a quarter of what they have room
    /// for.
    fn is_roomy(&self) -> bool {
        let len = self.len();
        self.ids.capacity() > 4 * len
            || self.names.capacity() > 4 * self.names.len()
            || self.records.is_roomy()
    }

    /// Gives back the memory that pruned jobs left spare: renumbers the
    /// jobs that stay (their positions and names) and shrinks every table
    /// to what it holds. Answers, tie order and revision stay exactly as
    /// they were. It costs time linear in the store's size, so a store
    /// pruned in bounded steps calls it when such a pause is affordable;
    /// [`JobStore::prune_finished`] does it itself when a prune left the
    /// tables less than a quarter full.
    pub fn shrink_to_fit(&mut self) {
        self.compact();
    }

    /// Renumbers positions (densely, in insertion order) and names, and
    /// shrinks the tables.
    fn compact(&mut self) {
        let moved = self.records.compact();
        // Every id's job is held, so it has a new position.
        self.ids.renumber(|pos| moved.get(pos).unwrap_or(pos));
        // The names the jobs use, renumbered; the others are forgotten.
        let mut names = self.names.renumber();
        for record in self.records.iter_mut() {
            record.app = names.keep(record.app);
            record.owner = names.keep(record.owner);
            record.action = names.keep(record.action);
        }
        let (names, renamed) = names.finish();
        self.names = names;
        renamed.rekey(&mut self.apps, |app| {
            app.retain_map(&moved, &renamed);
            true
        });
        self.finished.retain_map(|entry| moved.entry(entry));
    }

    /// How many ids the id table has room for without growing; for the
    /// tests that prove a refusal changes nothing.
    #[doc(hidden)]
    pub fn id_capacity(&self) -> usize {
        self.ids.capacity()
    }

    /// Checks every index against the records; for tests.
    ///
    /// # Errors
    ///
    /// A description of the first difference found.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.revision < self.records.len() as u64 {
            return Err(format!(
                "revision {} is below the {} jobs held",
                self.revision,
                self.records.len()
            ));
        }
        if self.ids.len() != self.records.len() {
            return Err(format!(
                "{} ids, {} records",
                self.ids.len(),
                self.records.len()
            ));
        }
        self.records.check()?;
        let mut apps: SymMap<AppIndex> = SymMap::default();
        let mut finished = Vec::new();
        for (pos, record) in self.records.iter() {
            let job = JobRef::new(record, &self.names);
            let owned = job.to_job();
            owned.validate().map_err(|err| err.to_string())?;
            if self.position(job.job_id()) != Some(pos) {
                return Err(format!("id index of {} is wrong", job.job_id()));
            }
            if record.plain != record.plain_parts() {
                return Err(format!("{} is marked plain wrongly", job.job_id()));
            }
            if !record.text_is_joined() {
                return Err(format!(
                    "the text of {} is not its parts joined",
                    job.job_id()
                ));
            }
            let resources = record.involved_resources();
            let resources: Vec<&str> = resources.iter().map(String::as_str).collect();
            if resources != owned.involved_resources() {
                return Err(format!("resources of {} read back wrong", job.job_id()));
            }
            index(&mut apps, pos, record, &resources);
            if record.status.is_finished() {
                finished.push(Entry::new(record.status_time, pos, record.status));
            }
        }
        for (sym, app) in &self.apps {
            app.all.check()?;
            for scope in app.owners.values().chain(app.actions.values()) {
                scope.check()?;
            }
            if apps.get(sym) != Some(app) {
                return Err(format!(
                    "indexes of app {} differ from a rebuild",
                    self.names.name(*sym)
                ));
            }
        }
        self.finished.check()?;
        finished.sort_unstable_by_key(Entry::key);
        if !self.finished.iter().eq(finished.iter()) {
            return Err("the finished jobs' list differs from a rebuild".to_owned());
        }
        // Every name held is a stored job's, counted once a use: none
        // outlives its jobs.
        let mut uses = vec![0u32; self.names.capacity()];
        for (_, record) in self.records.iter() {
            for sym in [record.app, record.owner, record.action] {
                match uses.get_mut(sym as usize) {
                    Some(used) => *used += 1,
                    None => return Err(format!("name {sym} is used but not held")),
                }
            }
        }
        self.names.check(&uses)?;
        if apps.len() != self.apps.len() {
            return Err(format!(
                "{} apps indexed, {} in the records",
                self.apps.len(),
                apps.len()
            ));
        }
        Ok(())
    }
}

/// The refusal of a job whose id the store holds.
fn duplicate(job_id: &str) -> Error {
    Error::new(ErrorKind::DuplicateJob {
        job_id: job_id.to_owned(),
    })
}

/// Adds a packed job at `pos` to its app's indexes.
fn index(apps: &mut SymMap<AppIndex>, pos: u32, record: &Record, resources: &[&str]) {
    apps.entry(record.app)
        .or_default()
        .insert(pos, record, resources);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The invariant checker reads each record's text as its parts joined.
    #[test]
    fn the_checker_finds_a_text_that_is_not_its_parts_joined() {
        let mut store = JobStore::new();
        let at = DateTime::UNIX_EPOCH;
        let job = Job::new("j-1", "a", "u", "RunJob", Status::Pending, at);
        store.insert(job).expect("valid job");
        assert_eq!(store.check_invariants(), Ok(()));
        let pos = store.position("j-1").expect("the job");
        store
            .records
            .get_mut(pos)
            .expect("the job")
            .break_glue_for_test();
        assert_eq!(
            store.check_invariants(),
            Err("the text of j-1 is not its parts joined".to_owned())
        );
    }
}
