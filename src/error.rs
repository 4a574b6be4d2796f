//! The one error type of the crate, with the API's `ret_code`.

use std::fmt::{self, Write as _};

use chrono::{DateTime, Utc};

use crate::chars::is_invisible;
use crate::status::Status;
use crate::time::format_timestamp;

/// Everything that can go wrong in `joblog`: a refused request, record or
/// status change.
///
/// Match on [`Error::kind`]; read the API code with [`Error::ret_code`]. The
/// `Display` text is the API's `message`: a prefix naming the kind of
/// failure (`ParameterError, `, `PermissionDenied, `, `ResourceNotFound, `,
/// `QuotaExceeded, `, `InternalError, `), then which parameter, field or id is wrong and why.
/// Values quoted in a message are cut to 64 characters (with `…`), so a
/// hostile value cannot blow up an answer.
///
/// ```
/// use joblog::{Caller, ErrorKind, JobStore, Query};
///
/// let store = JobStore::new();
/// let query = Query::builder("app-1").job_id("j-missing").build();
/// let err = store.describe(&Caller::user("usr-1"), &query).unwrap_err();
/// assert_eq!(err.ret_code(), 2100);
/// assert!(matches!(err.kind(), ErrorKind::JobsNotFound { .. }));
/// assert_eq!(err.to_string(), "ResourceNotFound, job [j-missing] not found");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(Box<ErrorKind>);

/// What went wrong, with the context a caller needs to act on it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A required request parameter is absent (1100).
    MissingParameter {
        /// The parameter's wire name, e.g. `app`.
        parameter: String,
    },
    /// A request parameter has a value the call cannot use (1100).
    InvalidParameter {
        /// The parameter's wire name as sent, e.g. `status.1`.
        parameter: String,
        /// The value as sent.
        value: String,
        /// Why it is refused, e.g. `must be one of pending, …`.
        reason: String,
    },
    /// A parameter that takes one value was given more than once (1100).
    RepeatedParameter {
        /// The parameter's wire name, e.g. `offset`.
        parameter: String,
    },
    /// A non-administrator asked for another owner's jobs (1400).
    PermissionDenied {
        /// The caller's user id.
        caller: String,
        /// The owner it named.
        owner: String,
    },
    /// `jobs.n` named ids that are not in the caller's view of the app
    /// (2100). Every such id is listed, in request order.
    JobsNotFound {
        /// The ids not found.
        job_ids: Vec<String>,
    },
    /// A job record breaks a rule of [`Job::validate`] (1100).
    ///
    /// [`Job::validate`]: crate::Job::validate
    InvalidField {
        /// The field's name, e.g. `job_id`.
        field: &'static str,
        /// The value as given.
        value: String,
        /// The rule it breaks.
        reason: String,
    },
    /// A job with this id is already stored (1100); the stored job is kept.
    DuplicateJob {
        /// The id.
        job_id: String,
    },
    /// No job with this id is stored (2100).
    JobNotFound {
        /// The id.
        job_id: String,
    },
    /// The lifecycle does not allow this status change (1400: the job is in
    /// a state that cannot be changed that way).
    InvalidTransition {
        /// The job's id.
        job_id: String,
        /// Its current status.
        from: Status,
        /// The status asked for.
        to: Status,
    },
    /// A status change dated before the job's current `status_time` (1100).
    StatusTimeBeforeCurrent {
        /// The job's id.
        job_id: String,
        /// Its current `status_time`.
        status_time: DateTime<Utc>,
        /// The time the change carried.
        at: DateTime<Utc>,
    },
    /// The store holds as many jobs as it can address (2500).
    StoreFull {
        /// How many jobs it holds.
        capacity: usize,
    },
    /// [`JobStore::apply`]: the event is further ahead than the store's
    /// next revision, so events in between are missing (5000: the
    /// embedder's log and store disagree; no API caller caused it).
    ///
    /// [`JobStore::apply`]: crate::JobStore::apply
    EventGap {
        /// The store's revision.
        revision: u64,
        /// The event's revision.
        event: u64,
    },
    /// [`JobStore::apply`]: the event's change cannot be made here, so the
    /// store and the log that made the event have diverged (5000).
    ///
    /// [`JobStore::apply`]: crate::JobStore::apply
    Diverged {
        /// The event's revision.
        event: u64,
        /// What differs.
        divergence: Divergence,
    },
}

/// How a store and a log have diverged ([`ErrorKind::Diverged`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Divergence {
    /// The event inserts a job whose id the store already holds.
    DuplicateJob {
        /// The id.
        job_id: String,
    },
    /// The event moves a job the store does not hold.
    UnknownJob {
        /// The id.
        job_id: String,
    },
    /// The event moves a job in a way the lifecycle forbids from the
    /// job's status here.
    InvalidTransition {
        /// The job's id.
        job_id: String,
        /// Its status here.
        from: Status,
        /// The status the event moves it to.
        to: Status,
    },
    /// The event sets the status the job already has here: no change,
    /// where the log recorded one.
    NoChange {
        /// The job's id.
        job_id: String,
        /// The status it has.
        status: Status,
    },
    /// The event's prune drops a different number of jobs here.
    PruneCount {
        /// How many it would drop here.
        here: usize,
        /// How many the event says it dropped.
        logged: usize,
    },
    /// The event's change breaks a rule here: an invalid record, a
    /// back-dated move, a full store.
    Refused(Box<Error>),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error(Box::new(kind))
    }

    /// A 1100 error for a request parameter with an unusable value.
    pub(crate) fn invalid_parameter(
        parameter: impl Into<String>,
        value: &str,
        reason: impl Into<String>,
    ) -> Error {
        Error::new(ErrorKind::InvalidParameter {
            parameter: parameter.into(),
            value: value.to_owned(),
            reason: reason.into(),
        })
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// What went wrong, by value.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }

    /// The API's `ret_code`: 1100 for a malformed request or record, 1400
    /// for a forbidden view or change, 2100 for ids that are not there, 2500
    /// for a full store, 5000 (`InternalError`) for a store and a change
    /// log that disagree ([`JobStore::apply`]).
    ///
    /// [`JobStore::apply`]: crate::JobStore::apply
    pub fn ret_code(&self) -> u32 {
        match self.kind() {
            ErrorKind::MissingParameter { .. }
            | ErrorKind::InvalidParameter { .. }
            | ErrorKind::RepeatedParameter { .. }
            | ErrorKind::InvalidField { .. }
            | ErrorKind::DuplicateJob { .. }
            | ErrorKind::StatusTimeBeforeCurrent { .. } => 1100,
            ErrorKind::PermissionDenied { .. } | ErrorKind::InvalidTransition { .. } => 1400,
            ErrorKind::JobsNotFound { .. } | ErrorKind::JobNotFound { .. } => 2100,
            ErrorKind::StoreFull { .. } => 2500,
            ErrorKind::EventGap { .. } | ErrorKind::Diverged { .. } => 5000,
        }
    }

    /// The message prefix the API uses for this `ret_code`.
    fn prefix(&self) -> &'static str {
        match self.ret_code() {
            1100 => "ParameterError",
            1400 => "PermissionDenied",
            2100 => "ResourceNotFound",
            2500 => "QuotaExceeded",
            _ => "InternalError",
        }
    }
}

/// A value quoted in a message, cut so a hostile value stays readable,
/// with control, invisible and bidirectional-control characters escaped
/// (`\n`, `\u{1b}`, `\u{202e}`), so a quoted value cannot forge or
/// reorder a log line.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX_CHARS: usize = 64;
        let (kept, cut) = match self.0.char_indices().nth(MAX_CHARS) {
            Some((at, _)) => (&self.0[..at], true),
            None => (self.0, false),
        };
        for c in kept.chars() {
            if c.is_control() || is_invisible(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        if cut {
            f.write_str("…")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, ", self.prefix())?;
        self.kind().fmt_message(f)
    }
}

impl ErrorKind {
    /// The message without its prefix.
    fn fmt_message(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::MissingParameter { parameter } => {
                write!(f, "missing required parameter [{}]", Shown(parameter))
            }
            ErrorKind::InvalidParameter {
                parameter,
                value,
                reason,
            } => write!(
                f,
                "invalid value [{}] for parameter [{}]: {reason}",
                Shown(value),
                Shown(parameter)
            ),
            ErrorKind::RepeatedParameter { parameter } => write!(
                f,
                "parameter [{}] is given more than once",
                Shown(parameter)
            ),
            ErrorKind::PermissionDenied { caller, owner } => write!(
                f,
                "user [{}] may only list its own jobs, not those of owner [{}]",
                Shown(caller),
                Shown(owner)
            ),
            ErrorKind::JobsNotFound { job_ids } => {
                let noun = if job_ids.len() == 1 { "job" } else { "jobs" };
                write!(f, "{noun} [")?;
                for (i, id) in job_ids.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Shown(id))?;
                }
                f.write_str("] not found")
            }
            ErrorKind::InvalidField {
                field,
                value,
                reason,
            } => write!(
                f,
                "invalid value [{}] for field [{field}]: {reason}",
                Shown(value)
            ),
            ErrorKind::DuplicateJob { job_id } => {
                write!(f, "job [{}] already exists", Shown(job_id))
            }
            ErrorKind::JobNotFound { job_id } => {
                write!(f, "job [{}] not found", Shown(job_id))
            }
            ErrorKind::InvalidTransition { job_id, from, to } => {
                let why = if from.is_finished() {
                    "a finished job's status is final"
                } else {
                    "the lifecycle is pending → working → successful | failed"
                };
                write!(
                    f,
                    "job [{}] cannot change from {from} to {to}: {why}",
                    Shown(job_id)
                )
            }
            ErrorKind::StatusTimeBeforeCurrent {
                job_id,
                status_time,
                at,
            } => write!(
                f,
                "status change of job [{}] at {} is before its status_time {}",
                Shown(job_id),
                format_timestamp(*at),
                format_timestamp(*status_time)
            ),
            ErrorKind::StoreFull { capacity } => {
                write!(f, "the store is full: it holds at most {capacity} jobs")
            }
            ErrorKind::EventGap { revision, event } => write!(
                f,
                "event {event} is not the next one: the store is at revision {revision}, \
                 so events {} to {} are missing",
                revision + 1,
                event - 1
            ),
            ErrorKind::Diverged { event, divergence } => {
                write!(f, "event {event} diverges from this store: ")?;
                match divergence {
                    Divergence::DuplicateJob { job_id } => {
                        write!(
                            f,
                            "it inserts job [{}], which is already stored",
                            Shown(job_id)
                        )
                    }
                    Divergence::UnknownJob { job_id } => {
                        write!(f, "it moves job [{}], which is not stored", Shown(job_id))
                    }
                    Divergence::InvalidTransition { job_id, from, to } => write!(
                        f,
                        "it moves job [{}] to {to}, which is {from} here and cannot become {to}",
                        Shown(job_id)
                    ),
                    Divergence::NoChange { job_id, status } => write!(
                        f,
                        "it moves job [{}] to {status}, which it already is here",
                        Shown(job_id)
                    ),
                    Divergence::PruneCount { here, logged } => write!(
                        f,
                        "its prune dropped {logged} jobs, and would drop {here} here"
                    ),
                    Divergence::Refused(err) => {
                        f.write_str("its change is refused here: ")?;
                        err.kind().fmt_message(f)
                    }
                }
            }
        }
    }
}

impl std::error::Error for Error {}
