//! Write-ahead and replay: [`JobStore::prepare`] and [`JobStore::apply`].

use super::JobStore;
use crate::error::{Divergence, Error, ErrorKind};
use crate::event::{Change, Event};

/// What [`JobStore::apply`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Applied {
    /// The change was made: the store is at the event's revision.
    Changed,
    /// The event's revision is at or below the store's: it was applied
    /// before (logs deliver at least once), so nothing was done.
    AlreadyApplied,
}

impl JobStore {
    /// Checks a change against the store without making it, and hands
    /// back its event (the next revision), or `None` when it would change
    /// nothing (the status the job already has, a prune that drops
    /// nothing). A prune's `dropped` is filled in with what it would drop.
    ///
    /// This is the write-ahead recipe: prepare, append the event to a
    /// durable log, then [`apply`](JobStore::apply) it. A store that
    /// crashes in between reads the log back and applies what it misses.
    ///
    /// ```
    /// use joblog::{Applied, Change, Job, JobStore, Status};
    ///
    /// let mut store = JobStore::new();
    /// let mut log = Vec::new(); // stands for a durable log
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// let job = Job::new("j-1", "app-1", "usr-1", "RunJob", Status::Pending, at);
    /// for change in [
    ///     Change::Insert { job: Box::new(job) },
    ///     Change::Status {
    ///         job_id: "j-1".into(),
    ///         status: Status::Working,
    ///         at: "2018-03-04T05:38:00Z".parse()?,
    ///         error_codes: String::new(),
    ///     },
    /// ] {
    ///     if let Some(event) = store.prepare(change)? {
    ///         log.push(serde_json::to_string(&event)?); // 1. append
    ///         assert_eq!(store.apply(&event)?, Applied::Changed); // 2. apply
    ///     }
    /// }
    /// assert_eq!(store.revision(), 2);
    ///
    /// // A replica (or this store after a restart) reads the log back;
    /// // events delivered twice are skipped.
    /// let mut replica = JobStore::new();
    /// for line in log.iter().chain(&log) {
    ///     let _ = replica.apply(&serde_json::from_str(line)?)?;
    /// }
    /// assert_eq!(replica.revision(), 2);
    /// assert_eq!(replica.get("j-1").map(|job| job.status()), Some(Status::Working));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those the change's mutator would return ([`JobStore::insert`],
    /// [`JobStore::set_status`], [`JobStore::fail`]); also
    /// [`ErrorKind::InvalidField`] for `error_codes` with a status other
    /// than `failed`, and for a prune's `before` outside the times a store
    /// keeps (its event would not read back).
    pub fn prepare(&self, mut change: Change) -> Result<Option<Event>, Error> {
        match &mut change {
            Change::Insert { job } => drop(self.check_insert(job)?),
            Change::Status {
                job_id,
                status,
                at,
                error_codes,
            } => {
                if self
                    .check_status(job_id, *status, *at, error_codes)?
                    .is_none()
                {
                    return Ok(None);
                }
            }
            Change::Prune {
                before,
                limit,
                dropped,
            } => {
                // The event must read back: `before` within the times kept.
                crate::job::nanos("before", *before)?;
                match self.check_prune(*before, limit.unwrap_or(usize::MAX)) {
                    None => return Ok(None),
                    Some(step) => *dropped = step.going.len(),
                }
            }
        }
        Ok(Some(Event {
            revision: self.revision + 1,
            change,
        }))
    }

    /// Makes the change of an event from a log, as SPEC §9 says: the next
    /// revision is applied; one at or below the store's revision is
    /// skipped ([`Applied::AlreadyApplied`]); one further ahead is a gap.
    ///
    /// So a replica fed a store's events, with duplicates and redeliveries,
    /// ends identical to that store: the same jobs, answers, tie order and
    /// revision.
    ///
    /// # Errors
    ///
    /// Nothing is changed when:
    /// - the event is further ahead than the next revision
    ///   ([`ErrorKind::EventGap`], naming both revisions);
    /// - its change cannot be made here, so the store and the log have
    ///   diverged ([`ErrorKind::Diverged`], saying what differs: an
    ///   insert of a stored id, a move of a job not stored, a move the
    ///   lifecycle forbids, a move to the status the job has, a prune that
    ///   drops a different number of jobs, or a change that breaks a rule).
    ///
    /// ```
    /// use joblog::{Change, Divergence, ErrorKind, Event, Job, JobStore, Status};
    ///
    /// let mut store = JobStore::new();
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// let job = Job::new("j-1", "app-1", "usr-1", "RunJob", Status::Pending, at);
    /// let event = store.insert(job.clone())?;
    /// let again = Event { revision: 2, change: event.change.clone() };
    /// let err = store.apply(&again).unwrap_err();
    /// assert!(matches!(
    ///     err.kind(),
    ///     ErrorKind::Diverged { event: 2, divergence: Divergence::DuplicateJob { .. } }
    /// ));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "InternalError, event 2 diverges from this store: \
    ///      it inserts job [j-1], which is already stored"
    /// );
    /// let ahead = Event { revision: 5, change: event.change };
    /// assert_eq!(
    ///     store.apply(&ahead).unwrap_err().to_string(),
    ///     "InternalError, event 5 is not the next one: the store is at revision 1, \
    ///      so events 2 to 4 are missing"
    /// );
    /// assert_eq!(store.revision(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply(&mut self, event: &Event) -> Result<Applied, Error> {
        if event.revision <= self.revision {
            return Ok(Applied::AlreadyApplied);
        }
        if event.revision > self.revision + 1 {
            return Err(Error::new(ErrorKind::EventGap {
                revision: self.revision,
                event: event.revision,
            }));
        }
        let diverged = |divergence| {
            Error::new(ErrorKind::Diverged {
                event: event.revision,
                divergence,
            })
        };
        let refused = |err: Error| {
            diverged(match err.into_kind() {
                ErrorKind::DuplicateJob { job_id } => Divergence::DuplicateJob { job_id },
                ErrorKind::JobNotFound { job_id } => Divergence::UnknownJob { job_id },
                ErrorKind::InvalidTransition { job_id, from, to } => {
                    Divergence::InvalidTransition { job_id, from, to }
                }
                other => Divergence::Refused(Box::new(Error::new(other))),
            })
        };
        match &event.change {
            Change::Insert { job } => {
                let checked = self.check_insert(job).map_err(refused)?;
                self.commit_insert(&checked);
            }
            Change::Status {
                job_id,
                status,
                at,
                error_codes,
            } => {
                let step = self
                    .check_status(job_id, *status, *at, error_codes)
                    .map_err(refused)?
                    .ok_or_else(|| {
                        diverged(Divergence::NoChange {
                            job_id: job_id.clone(),
                            status: *status,
                        })
                    })?;
                self.commit_status(step, *status, error_codes);
            }
            Change::Prune { dropped: 0, .. } => {
                return Err(refused(Error::new(ErrorKind::InvalidField {
                    field: "dropped",
                    value: "0".to_owned(),
                    reason: "a prune event drops at least one job".to_owned(),
                })));
            }
            Change::Prune {
                before,
                limit,
                dropped,
            } => {
                let step = self.check_prune(*before, limit.unwrap_or(usize::MAX));
                let here = step.as_ref().map_or(0, |step| step.going.len());
                match step {
                    Some(step) if here == *dropped => self.commit_prune(step),
                    _ => {
                        return Err(diverged(Divergence::PruneCount {
                            here,
                            logged: *dropped,
                        }));
                    }
                }
            }
        }
        Ok(Applied::Changed)
    }
}
