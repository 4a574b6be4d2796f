//! The [`JobStore`]: the jobs, their lifecycle, retention, and the indexes
//! the planner reads.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as Slot;

use crate::error::{Error, ErrorKind};
use crate::job::{Job, Status, involved_resources, nanos};
use crate::ordered::{Entry, MAX_POSITIONS, OrderedList};
use crate::query::{SortKey, StatusSet};
use crate::record::{Interner, JobRef, Record, SymMap};

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
    /// The jobs in insertion order; a job's index here is its position,
    /// which every other index refers to.
    records: Vec<Record>,
    /// Positions by job id (the id itself lives in the record): 4 bytes a
    /// job plus the table's spare room.
    ids: HashTable<u32>,
    /// SipHash with a random key: ids come from outside.
    hasher: RandomState,
    /// App, owner and action names.
    pub(crate) names: Interner,
    pub(crate) apps: SymMap<AppIndex>,
    max_jobs: usize,
}

/// Everything indexed about one app.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AppIndex {
    /// All jobs of the app.
    pub(crate) all: Scope,
    /// The jobs of the app by owner.
    pub(crate) owners: SymMap<Scope>,
    /// Positions, ascending, by action.
    pub(crate) actions: SymMap<Vec<u32>>,
    /// Positions, ascending, by involved resource id.
    pub(crate) resources: HashMap<Box<str>, Vec<u32>>,
}

/// The two orders of one set of jobs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
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
    pub(crate) fn list(&self, sort_key: SortKey) -> &OrderedList {
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

    fn change_status(&mut self, pos: u32, record: &Record, status: Status, at: i64) {
        self.by_create_time
            .set_status((record.create_time, pos), status);
        self.by_status_time.remove((record.status_time, pos));
        self.by_status_time.insert(Entry::new(at, pos, status));
    }

    fn retain_map(&mut self, moved: &Moved) {
        let map = |entry: Entry| {
            let pos = moved.get(entry.pos())?;
            Some(Entry::new(entry.key().0, pos, entry.status()))
        };
        self.by_create_time.retain_map(map);
        self.by_status_time.retain_map(map);
    }

    fn is_empty(&self) -> bool {
        self.by_create_time.is_empty()
    }

    fn check(&self) -> Result<(), String> {
        self.by_create_time.check()?;
        self.by_status_time.check()
    }
}

/// Where each job went when some were dropped: old position → new one.
struct Moved {
    /// `None` for a dropped job.
    to: Vec<Option<u32>>,
}

impl Moved {
    fn get(&self, pos: u32) -> Option<u32> {
        self.to.get(pos as usize).copied().flatten()
    }
}

impl AppIndex {
    fn insert(&mut self, pos: u32, record: &Record, resources: &[&str]) {
        self.all.insert(pos, record);
        self.owners
            .entry(record.owner)
            .or_default()
            .insert(pos, record);
        self.actions.entry(record.action).or_default().push(pos);
        for &id in resources {
            match self.resources.get_mut(id) {
                Some(positions) => positions.push(pos),
                None => {
                    self.resources.insert(id.into(), vec![pos]);
                }
            }
        }
    }

    /// Renumbers every index after a prune, dropping the keys left empty.
    fn retain_map(&mut self, moved: &Moved) {
        self.all.retain_map(moved);
        self.owners.retain(|_, scope| {
            scope.retain_map(moved);
            !scope.is_empty()
        });
        let renumber = |positions: &mut Vec<u32>| {
            *positions = positions.iter().filter_map(|&pos| moved.get(pos)).collect();
            !positions.is_empty()
        };
        self.actions.retain(|_, positions| renumber(positions));
        self.resources.retain(|_, positions| renumber(positions));
    }

    /// Whether the job at `pos` involves resource `id`.
    pub(crate) fn involves(&self, pos: u32, id: &str) -> bool {
        self.resources
            .get(id)
            .is_some_and(|positions| positions.binary_search(&pos).is_ok())
    }
}

/// The index key of a job's time. Stored times were checked by
/// [`Job::validate`], so the fallback is never taken.
pub(crate) fn key_time(time: DateTime<Utc>) -> i64 {
    time.timestamp_nanos_opt().unwrap_or_default()
}

impl Default for JobStore {
    fn default() -> JobStore {
        JobStore::new()
    }
}

impl JobStore {
    /// The most jobs a store can hold (2^30 − 1): positions are packed
    /// with the status into 32 bits in the indexes.
    pub const MAX_JOBS: usize = MAX_POSITIONS - 1;

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
            records: Vec::new(),
            ids: HashTable::new(),
            hasher: RandomState::new(),
            names: Interner::default(),
            apps: SymMap::default(),
            max_jobs: max_jobs.min(JobStore::MAX_JOBS),
        }
    }

    /// How many jobs are stored.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no job is stored.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The job with this id.
    pub fn get(&self, job_id: &str) -> Option<JobRef<'_>> {
        self.at(self.position(job_id)?)
    }

    /// Every stored job, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = JobRef<'_>> {
        self.records
            .iter()
            .map(|record| JobRef::new(record, &self.names))
    }

    /// The position of the job with this id.
    pub(crate) fn position(&self, job_id: &str) -> Option<u32> {
        let records = &self.records;
        let is = |pos: &u32| {
            records
                .get(*pos as usize)
                .is_some_and(|r| r.job_id() == job_id)
        };
        self.ids.find(self.hasher.hash_one(job_id), is).copied()
    }

    /// The packed job at a position.
    pub(crate) fn record(&self, pos: u32) -> Option<&Record> {
        self.records.get(pos as usize)
    }

    /// The job at a position.
    pub(crate) fn at(&self, pos: u32) -> Option<JobRef<'_>> {
        Some(JobRef::new(self.record(pos)?, &self.names))
    }

    /// Stores a new job.
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
    pub fn insert(&mut self, job: Job) -> Result<(), Error> {
        job.validate()?;
        if self.len() >= self.max_jobs {
            if self.position(&job.job_id).is_some() {
                return Err(Error::new(ErrorKind::DuplicateJob { job_id: job.job_id }));
            }
            return Err(Error::new(ErrorKind::StoreFull {
                capacity: self.max_jobs,
            }));
        }
        let (create_time, status_time) = (key_time(job.create_time), key_time(job.status_time));
        // Everything that can refuse the job runs before anything changes.
        let mut record = Record::new(&job, create_time, status_time)?;
        let (records, hasher) = (&self.records, &self.hasher);
        let hash = hasher.hash_one(&job.job_id);
        let is = |pos: &u32| {
            records
                .get(*pos as usize)
                .is_some_and(|r| r.job_id() == job.job_id)
        };
        let rehash =
            |pos: &u32| hasher.hash_one(records.get(*pos as usize).map_or("", Record::job_id));
        // `max_jobs` keeps positions below MAX_POSITIONS.
        let pos = records.len() as u32;
        match self.ids.entry(hash, is, rehash) {
            Slot::Occupied(_) => {
                return Err(Error::new(ErrorKind::DuplicateJob { job_id: job.job_id }));
            }
            Slot::Vacant(slot) => {
                slot.insert(pos);
            }
        }
        record.app = self.names.intern(&job.app);
        record.owner = self.names.intern(&job.owner);
        record.action = self.names.intern(&job.job_action);
        let resources = involved_resources(&job.resource_ids, &job.resources);
        self.index(pos, &record, &resources);
        self.records.push(record);
        Ok(())
    }

    /// Adds a packed job at `pos` to the app's indexes.
    fn index(&mut self, pos: u32, record: &Record, resources: &[&str]) {
        self.apps
            .entry(record.app)
            .or_default()
            .insert(pos, record, resources);
    }

    /// Moves a job to `status`, at time `at` (its new `status_time`).
    ///
    /// Setting the status the job already has is a no-op that succeeds
    /// (events may be delivered twice), whatever `at` says.
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
    ) -> Result<(), Error> {
        self.change_status(job_id, status, at, "")
    }

    /// Marks a job `failed` at time `at`, recording its `error_codes`.
    ///
    /// A job that has already failed keeps its first `error_codes` (the
    /// repeated event is a no-op).
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
    ) -> Result<(), Error> {
        self.change_status(job_id, Status::Failed, at, error_codes)
    }

    fn change_status(
        &mut self,
        job_id: &str,
        status: Status,
        at: DateTime<Utc>,
        error_codes: &str,
    ) -> Result<(), Error> {
        let record = self
            .position(job_id)
            .and_then(|pos| Some((pos, self.records.get_mut(pos as usize)?)));
        let Some((pos, record)) = record else {
            return Err(Error::new(ErrorKind::JobNotFound {
                job_id: job_id.to_owned(),
            }));
        };
        if record.status == status {
            return Ok(());
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
                status_time: DateTime::from_timestamp_nanos(record.status_time),
                at,
            }));
        }
        if status == Status::Failed && !error_codes.is_empty() {
            record.set_error_codes(error_codes)?;
        }
        if let Some(app) = self.apps.get_mut(&record.app) {
            app.all.change_status(pos, record, status, at_key);
            if let Some(scope) = app.owners.get_mut(&record.owner) {
                scope.change_status(pos, record, status, at_key);
            }
        }
        record.status = status;
        record.status_time = at_key;
        Ok(())
    }

    /// Drops the finished jobs (`successful` or `failed`) whose
    /// `status_time` is before `before`, and says how many went. Jobs still
    /// `pending` or `working` are never dropped.
    ///
    /// The jobs that stay are renumbered, so a prune that drops anything
    /// costs time linear in the store's size: a call for periodic
    /// retention, not per request.
    ///
    /// ```
    /// use joblog::{Job, JobStore, Status};
    ///
    /// let mut store = JobStore::new();
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// store.insert(Job::new("j-1", "app-1", "usr-1", "RunJob", Status::Successful, at))?;
    /// store.insert(Job::new("j-2", "app-1", "usr-1", "RunJob", Status::Working, at))?;
    /// assert_eq!(store.prune_finished("2019-01-01T00:00:00Z".parse()?), 1);
    /// assert!(store.get("j-1").is_none());
    /// assert!(store.get("j-2").is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prune_finished(&mut self, before: DateTime<Utc>) -> usize {
        let cutoff = match before.timestamp_nanos_opt() {
            Some(cutoff) => cutoff,
            // Out of range: before every stored time, or after all of them.
            None if before < DateTime::UNIX_EPOCH => return 0,
            None => i64::MAX,
        };
        let finished = StatusSet::default()
            .with(Status::Successful)
            .with(Status::Failed);
        let mut keep = vec![true; self.len()];
        let mut dropped = 0;
        for app in self.apps.values() {
            for pos in app
                .all
                .list(SortKey::StatusTime)
                .positions_before(cutoff, finished)
            {
                keep[pos as usize] = false;
                dropped += 1;
            }
        }
        if dropped == 0 {
            return 0;
        }
        let mut next = 0;
        let moved = Moved {
            to: keep
                .iter()
                .map(|&kept| {
                    kept.then(|| {
                        next += 1;
                        next - 1
                    })
                })
                .collect(),
        };
        self.ids.retain(|pos| match moved.get(*pos) {
            Some(to) => {
                *pos = to;
                true
            }
            None => false,
        });
        let mut flags = keep.iter();
        self.records
            .retain(|_| flags.next().copied().unwrap_or(true));
        for app in self.apps.values_mut() {
            app.retain_map(&moved);
        }
        self.apps.retain(|_, app| !app.all.is_empty());
        dropped
    }

    /// Checks every index against the records; for tests.
    ///
    /// # Errors
    ///
    /// A description of the first difference found.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.ids.len() != self.records.len() {
            return Err(format!(
                "{} ids, {} records",
                self.ids.len(),
                self.records.len()
            ));
        }
        let mut fresh = JobStore::with_max_jobs(self.max_jobs);
        fresh.names = self.names.clone();
        for job in self.iter() {
            let owned = job.to_job();
            owned.validate().map_err(|err| err.to_string())?;
            let record = self
                .position(job.job_id())
                .and_then(|pos| self.record(pos))
                .ok_or_else(|| format!("job {} not found by id", job.job_id()))?;
            let resources = record.involved_resources();
            let resources: Vec<&str> = resources.iter().map(String::as_str).collect();
            if resources != owned.involved_resources() {
                return Err(format!("resources of {} read back wrong", job.job_id()));
            }
            let pos = fresh.records.len() as u32;
            if self.position(job.job_id()) != Some(pos) {
                return Err(format!("id index of {} is wrong", job.job_id()));
            }
            fresh.index(pos, record, &resources);
            fresh.records.push(record.clone());
        }
        for (sym, app) in &self.apps {
            app.all.check()?;
            for scope in app.owners.values() {
                scope.check()?;
            }
            if fresh.apps.get(sym) != Some(app) {
                return Err(format!(
                    "indexes of app {} differ from a rebuild",
                    self.names.name(*sym)
                ));
            }
        }
        if fresh.apps.len() != self.apps.len() {
            return Err(format!(
                "{} apps indexed, {} in the records",
                self.apps.len(),
                fresh.apps.len()
            ));
        }
        Ok(())
    }
}
