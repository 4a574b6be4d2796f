//! Change events: every change a store makes, as a value a log can keep.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use crate::job::Job;
use crate::status::Status;
use crate::time::timestamp;

/// One change to a [`JobStore`], with the revision it produces.
///
/// The mutators ([`JobStore::insert`], [`JobStore::set_status`],
/// [`JobStore::fail`], [`JobStore::prune_finished`]) hand back the event of
/// the change they made; [`JobStore::prepare`] makes the event of a change
/// without making it (write-ahead); [`JobStore::apply`] makes the change of
/// an event, so a replica fed a store's events ends identical to it.
///
/// Events serialize as the JSON objects of one line each, times with every
/// digit they have:
///
/// ```json
/// {"revision":1,"event":"insert","job":{…the job record, ingest form…}}
/// {"revision":2,"event":"status","job_id":"j-1","status":"working","at":"2018-03-04T05:38:00Z"}
/// {"revision":3,"event":"status","job_id":"j-1","status":"failed","at":"2018-03-04T05:39:00Z","error_codes":"1400"}
/// {"revision":4,"event":"prune","before":"2018-03-01T00:00:00Z","dropped":12}
/// {"revision":5,"event":"prune","before":"2018-03-02T00:00:00Z","limit":1000,"dropped":1000}
/// ```
///
/// The last is one bounded step of a prune
/// ([`JobStore::prune_finished_at_most`]): it drops the `limit` oldest of
/// the jobs a prune would drop, or all of them if fewer.
///
/// Reading one checks its shape: the fields of its kind and no others,
/// `error_codes` only with `failed`. Whether the change is valid for a
/// given store is for [`JobStore::apply`] to say.
///
/// ```
/// use joblog::{Change, Event, Status};
///
/// let line = r#"{"revision":2,"event":"status","job_id":"j-1","status":"working","at":"2018-03-04T05:38:00Z"}"#;
/// let event: Event = serde_json::from_str(line)?;
/// assert_eq!(event.revision, 2);
/// assert!(matches!(event.change, Change::Status { status: Status::Working, .. }));
/// assert_eq!(serde_json::to_string(&event)?, line);
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// [`JobStore`]: crate::JobStore
/// [`JobStore::insert`]: crate::JobStore::insert
/// [`JobStore::set_status`]: crate::JobStore::set_status
/// [`JobStore::fail`]: crate::JobStore::fail
/// [`JobStore::prune_finished`]: crate::JobStore::prune_finished
/// [`JobStore::prune_finished_at_most`]: crate::JobStore::prune_finished_at_most
/// [`JobStore::prepare`]: crate::JobStore::prepare
/// [`JobStore::apply`]: crate::JobStore::apply
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The store's revision once the change is made: one more than before.
    pub revision: u64,
    /// What changed.
    pub change: Change,
}

/// What an [`Event`] changes.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A job was stored (`"event":"insert"`).
    Insert {
        /// The job, in the ingest form.
        job: Box<Job>,
    },
    /// A job moved to a new status (`"event":"status"`).
    Status {
        /// The job's id.
        job_id: String,
        /// The status it moved to.
        status: Status,
        /// When: its new `status_time`.
        at: DateTime<Utc>,
        /// The `error_codes` recorded, only with `failed` (empty otherwise).
        error_codes: String,
    },
    /// Finished jobs were dropped (`"event":"prune"`).
    Prune {
        /// Finished jobs whose `status_time` is before this went.
        before: DateTime<Utc>,
        /// At most this many went, the oldest (by `status_time`, then in
        /// insertion order); `None` for a prune of all of them.
        limit: Option<usize>,
        /// How many went where the prune was first made.
        dropped: usize,
    },
}

impl Event {
    /// How many jobs the change dropped: `dropped` of a prune, else 0.
    pub fn dropped(&self) -> usize {
        match self.change {
            Change::Prune { dropped, .. } => dropped,
            _ => 0,
        }
    }
}

/// The kinds of event, as the `event` field names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Insert,
    Status,
    Prune,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Insert => "insert",
            Kind::Status => "status",
            Kind::Prune => "prune",
        })
    }
}

/// A time written with every digit.
struct Precise<'a>(&'a DateTime<Utc>);

impl Serialize for Precise<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        timestamp::precise::serialize(self.0, serializer)
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = match &self.change {
            Change::Insert { .. } => 3,
            Change::Status { error_codes, .. } if !error_codes.is_empty() => 6,
            Change::Status { .. } => 5,
            Change::Prune { limit: None, .. } => 4,
            Change::Prune { .. } => 5,
        };
        let mut out = serializer.serialize_struct("Event", fields)?;
        out.serialize_field("revision", &self.revision)?;
        match &self.change {
            Change::Insert { job } => {
                out.serialize_field("event", &Kind::Insert)?;
                out.serialize_field("job", job)?;
            }
            Change::Status {
                job_id,
                status,
                at,
                error_codes,
            } => {
                out.serialize_field("event", &Kind::Status)?;
                out.serialize_field("job_id", job_id)?;
                out.serialize_field("status", status)?;
                out.serialize_field("at", &Precise(at))?;
                if !error_codes.is_empty() {
                    out.serialize_field("error_codes", error_codes)?;
                }
            }
            Change::Prune {
                before,
                limit,
                dropped,
            } => {
                out.serialize_field("event", &Kind::Prune)?;
                out.serialize_field("before", &Precise(before))?;
                if let Some(limit) = limit {
                    out.serialize_field("limit", limit)?;
                }
                out.serialize_field("dropped", dropped)?;
            }
        }
        out.end()
    }
}

/// An event as read, before its fields are matched to its kind. A field
/// is there or not: `null` is refused, never read as absent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    revision: u64,
    event: Kind,
    #[serde(default, deserialize_with = "present")]
    job: Option<Box<Job>>,
    #[serde(default, deserialize_with = "present")]
    job_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    status: Option<Status>,
    #[serde(default, deserialize_with = "present_time")]
    at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "present")]
    error_codes: Option<String>,
    #[serde(default, deserialize_with = "present_time")]
    before: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "present")]
    limit: Option<usize>,
    #[serde(default, deserialize_with = "present")]
    dropped: Option<usize>,
}

/// A field that is given: its value, never `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A time field that is given.
fn present_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    timestamp::deserialize(d).map(Some)
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Event, D::Error> {
        let raw = RawEvent::deserialize(deserializer)?;
        let kind = raw.event;
        let missing =
            |field: &'static str| de::Error::custom(format_args!("a {kind} event needs `{field}`"));
        let stray = |present: &[(&'static str, bool)]| -> Result<(), D::Error> {
            match present.iter().find(|(_, present)| *present) {
                Some((field, _)) => Err(de::Error::custom(format_args!(
                    "a {kind} event has no `{field}`"
                ))),
                None => Ok(()),
            }
        };
        let change = match kind {
            Kind::Insert => {
                stray(&[
                    ("job_id", raw.job_id.is_some()),
                    ("status", raw.status.is_some()),
                    ("at", raw.at.is_some()),
                    ("error_codes", raw.error_codes.is_some()),
                    ("before", raw.before.is_some()),
                    ("limit", raw.limit.is_some()),
                    ("dropped", raw.dropped.is_some()),
                ])?;
                Change::Insert {
                    job: raw.job.ok_or_else(|| missing("job"))?,
                }
            }
            Kind::Status => {
                stray(&[
                    ("job", raw.job.is_some()),
                    ("before", raw.before.is_some()),
                    ("limit", raw.limit.is_some()),
                    ("dropped", raw.dropped.is_some()),
                ])?;
                let job_id = raw.job_id.ok_or_else(|| missing("job_id"))?;
                let status = raw.status.ok_or_else(|| missing("status"))?;
                let at = raw.at.ok_or_else(|| missing("at"))?;
                let error_codes = raw.error_codes.unwrap_or_default();
                if status != Status::Failed && !error_codes.is_empty() {
                    return Err(de::Error::custom(format_args!(
                        "`error_codes` is only allowed with status failed, not {status}"
                    )));
                }
                Change::Status {
                    job_id,
                    status,
                    at,
                    error_codes,
                }
            }
            Kind::Prune => {
                stray(&[
                    ("job", raw.job.is_some()),
                    ("job_id", raw.job_id.is_some()),
                    ("status", raw.status.is_some()),
                    ("at", raw.at.is_some()),
                    ("error_codes", raw.error_codes.is_some()),
                ])?;
                let before = raw.before.ok_or_else(|| missing("before"))?;
                let dropped = raw.dropped.ok_or_else(|| missing("dropped"))?;
                if dropped == 0 {
                    return Err(de::Error::custom(
                        "a prune event drops at least one job (one that drops none is no change)",
                    ));
                }
                match raw.limit {
                    Some(0) => {
                        return Err(de::Error::custom(
                            "a prune event's `limit` is at least 1 (a prune of none is no change)",
                        ));
                    }
                    Some(limit) if dropped > limit => {
                        return Err(de::Error::custom(format_args!(
                            "a prune event drops at most its `limit`: {dropped} is more than {limit}"
                        )));
                    }
                    _ => {}
                }
                Change::Prune {
                    before,
                    limit: raw.limit,
                    dropped,
                }
            }
        };
        Ok(Event {
            revision: raw.revision,
            change,
        })
    }
}
