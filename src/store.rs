//! The [`JobStore`]: the jobs, their lifecycle, retention, and the indexes
//! the planner reads.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::error::{Error, ErrorKind};
use crate::job::{Job, Status, nanos};
use crate::ordered::{Entry, OrderedList};
use crate::query::{SortKey, StatusSet};

/// An in-memory store of jobs that answers `DescribeClusterJobs`.
///
/// Jobs are kept in insertion order and indexed by id, by app, by (app,
/// owner), by (app, action) and by (app, resource id); the two ordered
/// indexes (by `create_time` and by `status_time`) count jobs by status so
/// `total_count` and any page come without a scan.
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
/// assert_eq!(store.get("j-1").map(|job| job.status), Some(Status::Working));
/// assert_eq!(store.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct JobStore {
    /// Jobs by insertion sequence; `None` where a job was pruned.
    pub(crate) records: Vec<Option<Job>>,
    by_id: HashMap<String, u32>,
    pub(crate) apps: HashMap<String, AppIndex>,
    len: usize,
    max_jobs: usize,
}

/// Everything indexed about one app.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AppIndex {
    /// All jobs of the app.
    pub(crate) all: Scope,
    /// The jobs of the app by owner.
    pub(crate) owners: HashMap<String, Scope>,
    /// Insertion sequences, ascending, by `job_action`.
    pub(crate) actions: HashMap<String, Vec<u32>>,
    /// Insertion sequences, ascending, by involved resource id.
    pub(crate) resources: HashMap<String, Vec<u32>>,
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

    fn insert(&mut self, seq: u32, job: &Job) {
        let entry = |time| Entry {
            time: key_time(time),
            seq,
            status: job.status,
        };
        self.by_create_time.insert(entry(job.create_time));
        self.by_status_time.insert(entry(job.status_time));
    }

    fn change_status(&mut self, seq: u32, job: &Job, status: Status, at: i64) {
        let create = (key_time(job.create_time), seq);
        self.by_create_time.set_status(create, status);
        self.by_status_time.remove((key_time(job.status_time), seq));
        self.by_status_time.insert(Entry {
            time: at,
            seq,
            status,
        });
    }

    fn retain(&mut self, dead: &[bool]) {
        let alive = |entry: &Entry| !dead.get(entry.seq as usize).copied().unwrap_or(false);
        self.by_create_time.retain(alive);
        self.by_status_time.retain(alive);
    }

    fn check(&self) -> Result<(), String> {
        self.by_create_time.check()?;
        self.by_status_time.check()
    }
}

/// The index key of a stored job's time. Stored times were checked by
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
    /// The most jobs a store can hold: one per 32-bit insertion sequence.
    pub const MAX_JOBS: usize = u32::MAX as usize;

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
            by_id: HashMap::new(),
            apps: HashMap::new(),
            len: 0,
            max_jobs: max_jobs.min(JobStore::MAX_JOBS),
        }
    }

    /// How many jobs are stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no job is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The job with this id.
    pub fn get(&self, job_id: &str) -> Option<&Job> {
        let seq = *self.by_id.get(job_id)?;
        self.job(seq)
    }

    /// Every stored job, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Job> {
        self.records.iter().flatten()
    }

    pub(crate) fn seq_of(&self, job_id: &str) -> Option<u32> {
        self.by_id.get(job_id).copied()
    }

    pub(crate) fn job(&self, seq: u32) -> Option<&Job> {
        self.records.get(seq as usize)?.as_ref()
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
        if self.by_id.contains_key(&job.job_id) {
            return Err(Error::new(ErrorKind::DuplicateJob { job_id: job.job_id }));
        }
        if self.records.len() >= self.max_jobs {
            if self.len >= self.max_jobs {
                return Err(Error::new(ErrorKind::StoreFull {
                    capacity: self.max_jobs,
                }));
            }
            self.compact();
        }
        self.push(job);
        Ok(())
    }

    /// Stores a valid job under the next insertion sequence.
    fn push(&mut self, job: Job) {
        // `insert` keeps `records.len()` below `max_jobs` ≤ u32::MAX.
        let seq = self.records.len() as u32;
        let app = match self.apps.get_mut(&job.app) {
            Some(app) => app,
            None => self.apps.entry(job.app.clone()).or_default(),
        };
        app.all.insert(seq, &job);
        match app.owners.get_mut(&job.owner) {
            Some(scope) => scope.insert(seq, &job),
            None => app
                .owners
                .entry(job.owner.clone())
                .or_default()
                .insert(seq, &job),
        }
        match app.actions.get_mut(&job.job_action) {
            Some(seqs) => seqs.push(seq),
            None => {
                app.actions.insert(job.job_action.clone(), vec![seq]);
            }
        }
        for id in job.involved_resources() {
            match app.resources.get_mut(id) {
                Some(seqs) => seqs.push(seq),
                None => {
                    app.resources.insert(id.to_owned(), vec![seq]);
                }
            }
        }
        self.by_id.insert(job.job_id.clone(), seq);
        self.records.push(Some(job));
        self.len += 1;
    }

    /// Renumbers the jobs densely, in the same order, dropping the holes
    /// pruning left.
    fn compact(&mut self) {
        let records = std::mem::take(&mut self.records);
        self.by_id.clear();
        self.apps.clear();
        self.len = 0;
        for job in records.into_iter().flatten() {
            self.push(job);
        }
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
    /// assert_eq!(store.get("j-1").map(|job| job.error_codes.as_str()), Some("5000"));
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
        let not_found = || {
            Error::new(ErrorKind::JobNotFound {
                job_id: job_id.to_owned(),
            })
        };
        let seq = *self.by_id.get(job_id).ok_or_else(not_found)?;
        let job = self
            .records
            .get_mut(seq as usize)
            .and_then(Option::as_mut)
            .ok_or_else(not_found)?;
        if job.status == status {
            return Ok(());
        }
        if !job.status.can_become(status) {
            return Err(Error::new(ErrorKind::InvalidTransition {
                job_id: job_id.to_owned(),
                from: job.status,
                to: status,
            }));
        }
        let at_key = nanos("status_time", at)?;
        if at < job.status_time {
            return Err(Error::new(ErrorKind::StatusTimeBeforeCurrent {
                job_id: job_id.to_owned(),
                status_time: job.status_time,
                at,
            }));
        }
        if let Some(app) = self.apps.get_mut(&job.app) {
            app.all.change_status(seq, job, status, at_key);
            if let Some(scope) = app.owners.get_mut(&job.owner) {
                scope.change_status(seq, job, status, at_key);
            }
        }
        job.status = status;
        job.status_time = at;
        if status == Status::Failed {
            error_codes.clone_into(&mut job.error_codes);
        }
        Ok(())
    }

    /// Drops the finished jobs (`successful` or `failed`) whose
    /// `status_time` is before `before`, and says how many went. Jobs still
    /// `pending` or `working` are never dropped.
    ///
    /// It walks the jobs of each app that loses some, so it costs time
    /// linear in those apps' sizes: a call for periodic retention, not per
    /// request.
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
        let mut dead = Vec::new();
        let mut pruned = 0;
        for app in self.apps.values_mut() {
            let victims: Vec<u32> = app
                .all
                .list(SortKey::StatusTime)
                .seqs_before(cutoff, finished)
                .collect();
            if victims.is_empty() {
                continue;
            }
            if dead.is_empty() {
                dead = vec![false; self.records.len()];
            }
            for &seq in &victims {
                dead[seq as usize] = true;
                if let Some(job) = self.records[seq as usize].take() {
                    self.by_id.remove(&job.job_id);
                }
            }
            pruned += victims.len();
            app.retain(&dead);
        }
        self.apps
            .retain(|_, app| !app.all.by_create_time.is_empty());
        self.len -= pruned;
        // Holes cost memory; renumber once they outnumber the jobs.
        if self.records.len() - self.len > self.len {
            self.compact();
        }
        pruned
    }

    /// Checks every index against the records; for tests.
    ///
    /// # Errors
    ///
    /// A description of the first difference found.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let live = self.records.iter().flatten().count();
        if live != self.len || self.by_id.len() != self.len {
            return Err(format!(
                "len {}, live records {live}, ids {}",
                self.len,
                self.by_id.len()
            ));
        }
        for (job_id, &seq) in &self.by_id {
            if self.job(seq).map(|job| &job.job_id) != Some(job_id) {
                return Err(format!("id index of {job_id} points to {seq}"));
            }
        }
        for job in self.iter() {
            job.validate().map_err(|err| err.to_string())?;
        }
        // Rebuild every index from the records, with the same sequences.
        let mut fresh = JobStore::with_max_jobs(self.max_jobs);
        for (seq, job) in self.records.iter().enumerate() {
            match job {
                Some(job) => fresh.push(job.clone()),
                None => fresh.records.push(None),
            }
            debug_assert_eq!(fresh.records.len(), seq + 1);
        }
        for (name, app) in &self.apps {
            app.all.check()?;
            for scope in app.owners.values() {
                scope.check()?;
            }
            if fresh.apps.get(name) != Some(app) {
                return Err(format!("indexes of app {name} differ from a rebuild"));
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

impl AppIndex {
    /// Drops the dead jobs from every index of the app, and the keys left
    /// with no job.
    fn retain(&mut self, dead: &[bool]) {
        let alive = |seq: &u32| !dead.get(*seq as usize).copied().unwrap_or(false);
        self.all.retain(dead);
        for scope in self.owners.values_mut() {
            scope.retain(dead);
        }
        self.owners
            .retain(|_, scope| !scope.by_create_time.is_empty());
        for postings in [&mut self.actions, &mut self.resources] {
            postings.retain(|_, seqs| {
                seqs.retain(alive);
                !seqs.is_empty()
            });
        }
    }
}
