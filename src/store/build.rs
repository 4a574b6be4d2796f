//! Building a store from many jobs at once: [`JobStore::from_jobs`], and
//! the snapshot reader.

use super::JobStore;
use super::index::Staged;
use super::ordered::{Entry, OrderedList};
use super::record::SymMap;
use crate::error::Error;
use crate::job::{CheckedJob, Job};

/// A store being built whole: records and ids as jobs come, the ordered
/// indexes gathered and sorted once at the end.
pub(super) struct Builder {
    store: JobStore,
    staged: SymMap<Staged>,
    finished: Vec<Entry>,
}

impl Builder {
    pub(super) fn new() -> Builder {
        Builder {
            store: JobStore::new(),
            staged: SymMap::default(),
            finished: Vec::new(),
        }
    }

    /// Makes room for up to `n` more jobs: a hint (from an iterator or an
    /// input's length prefix), so it is capped, and a hint that lies costs
    /// at most a few MiB; beyond it, the tables grow as jobs come.
    pub(super) fn reserve(&mut self, n: usize) {
        const MAX_HINT: usize = 1 << 16;
        let n = n.min(MAX_HINT);
        self.store.ids.reserve(n);
        self.store.records.reserve(n);
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
    /// [`Job::validate`]); refuses one this store cannot take.
    pub(super) fn push_checked(&mut self, checked: &CheckedJob<'_>) -> Result<(), Error> {
        let key = self.store.check_new(checked)?;
        let pos = self.store.add_record(checked, key);
        let record = &self.store.records[pos];
        self.staged
            .entry(record.app)
            .or_default()
            .add(pos, record, &checked.involved);
        if record.status.is_finished() {
            self.finished
                .push(Entry::new(record.status_time, pos, record.status));
        }
        Ok(())
    }

    /// How many jobs it holds.
    pub(super) fn len(&self) -> usize {
        self.store.len()
    }

    /// The store, its indexes built; at revision `len()`, one change per job.
    pub(super) fn finish(self) -> JobStore {
        let mut store = self.store;
        store.apps = self
            .staged
            .into_iter()
            .map(|(sym, staged)| (sym, staged.finish()))
            .collect();
        let mut finished = self.finished;
        finished.sort_unstable_by_key(Entry::key);
        store.finished = OrderedList::from_sorted(finished);
        store
    }
}

impl JobStore {
    /// Builds a store from many jobs at once: each job is checked as
    /// [`JobStore::insert`] checks it and kept in the order given, and each
    /// index is sorted once at the end rather than grown one job at a time.
    /// The store is at revision `n` for `n` jobs, as if they had been
    /// inserted one by one (so a log of later events starts at `n + 1`).
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
    /// built.
    pub fn from_jobs(jobs: impl IntoIterator<Item = Job>) -> Result<JobStore, Error> {
        let mut builder = Builder::new();
        let jobs = jobs.into_iter();
        builder.reserve(jobs.size_hint().0);
        for job in jobs {
            builder.push(&job)?;
        }
        Ok(builder.finish())
    }
}
