//! The job record (ingest form) and the rules a record must keep.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::chars::{
    Deferred, JsonText, WriteInto, Written, escaped_len, every_byte, is_blank, is_invisible,
    push_json_escaped,
};
use crate::error::{Error, ErrorKind};
use crate::extras::Extras;
use crate::status::Status;
use crate::time::{format_timestamp, from_nanos, timestamp, to_nanos};

/// One job: a record of an action run on a cluster.
///
/// This is the ingest form: the API's `job_set` element plus the `app` the
/// job belongs to. Build one with [`Job::new`] and the optional
/// fields' defaults, or deserialize it from JSON (unknown fields are refused,
/// so a typo cannot silently lose data). [`JobStore::insert`] checks every
/// rule of [`Job::validate`].
///
/// Timestamps are read as RFC 3339 in any offset, kept in UTC with full
/// precision, and written in UTC with every fraction digit they have
/// ([`timestamp::precise`]), so a serialized job reads back identical. (The
/// API's answer writes whole seconds, `YYYY-MM-DDThh:mm:ssZ`.)
///
/// [`timestamp::precise`]: crate::timestamp::precise
///
/// ```
/// use joblog::{Job, Status};
///
/// let job: Job = serde_json::from_str(
///     r#"{"job_id":"j-1","app":"app-1","owner":"usr-1","job_action":"StartClusters",
///         "status":"pending","create_time":"2018-03-04T13:37:58.5+08:00"}"#,
/// )?;
/// assert_eq!(job.status_time, job.create_time); // defaults to create_time
/// assert_eq!(joblog::format_timestamp(job.create_time), "2018-03-04T05:37:58Z");
/// assert!(job.extras.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`JobStore::insert`]: crate::JobStore::insert
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Job {
    /// The job's current status.
    pub status: Status,
    /// Unique job id, e.g. `j-etkt94ebqra`.
    pub job_id: String,
    /// The application the job belongs to, e.g. `app-tg3lbp0a`.
    pub app: String,
    /// The action's request, a JSON document kept as an opaque string.
    pub directive: String,
    /// The API action that started the job, e.g. `CeaseResources`.
    pub job_action: String,
    /// When the job was created.
    #[serde(with = "timestamp::precise")]
    pub create_time: DateTime<Utc>,
    /// The user id that triggered the job (`system` for the platform).
    pub owner: String,
    /// When the status last changed; not before `create_time`.
    #[serde(with = "timestamp::precise")]
    pub status_time: DateTime<Utc>,
    /// Empty unless the job failed.
    pub error_codes: String,
    /// The ids of the resources involved, separated by one space.
    pub resource_ids: String,
    /// Resource ids by kind, e.g. `{"clusters":["cl-xi3aoihf"]}`; key order kept.
    pub resources: IndexMap<String, Vec<String>>,
    /// A free-form JSON object, kept as written.
    pub extras: Extras,
}

/// The ingest form as it arrives, before the defaults are filled in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    job_id: String,
    app: String,
    owner: String,
    job_action: String,
    status: Status,
    #[serde(with = "timestamp")]
    create_time: DateTime<Utc>,
    #[serde(default)]
    directive: String,
    #[serde(default, with = "timestamp::option")]
    status_time: Option<DateTime<Utc>>,
    #[serde(default)]
    error_codes: String,
    #[serde(default)]
    resource_ids: String,
    #[serde(default, deserialize_with = "unique_keys")]
    resources: IndexMap<String, Vec<String>>,
    #[serde(default)]
    extras: Extras,
}

/// `resources` as written, refusing a kind named twice (a map would keep
/// the last silently).
pub(crate) fn unique_keys<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<IndexMap<String, Vec<String>>, D::Error> {
    struct Kinds;

    impl<'de> serde::de::Visitor<'de> for Kinds {
        type Value = IndexMap<String, Vec<String>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("resource ids by kind (a JSON object of string lists)")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut kinds = IndexMap::new();
            while let Some(kind) = map.next_key::<String>()? {
                if kinds.contains_key(&kind) {
                    let err = invalid_field("resources", &kind, DUPLICATE_KEY);
                    return Err(serde::de::Error::custom(err));
                }
                let ids = map.next_value()?;
                kinds.insert(kind, ids);
            }
            Ok(kinds)
        }
    }

    deserializer.deserialize_map(Kinds)
}

/// Why a JSON object that names a key twice is refused.
pub(crate) const DUPLICATE_KEY: &str = "the key appears twice in one object";

/// A record is read only from a map (a JSON object): serde's derive would
/// also take the fields by position from an array, which no client means.
impl<'de> Deserialize<'de> for Job {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Job, D::Error> {
        struct Record;

        impl<'de> serde::de::Visitor<'de> for Record {
            type Value = Job;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a job record (a JSON object)")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Job, A::Error> {
                RawJob::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Job::from)
            }
        }

        deserializer.deserialize_map(Record)
    }
}

impl From<RawJob> for Job {
    fn from(raw: RawJob) -> Job {
        Job {
            status: raw.status,
            job_id: raw.job_id,
            app: raw.app,
            directive: raw.directive,
            job_action: raw.job_action,
            create_time: raw.create_time,
            owner: raw.owner,
            status_time: raw.status_time.unwrap_or(raw.create_time),
            error_codes: raw.error_codes,
            resource_ids: raw.resource_ids,
            resources: raw.resources,
            extras: raw.extras,
        }
    }
}

impl Job {
    /// A job with the required fields and every optional field at its
    /// default: empty `directive`, `error_codes` and `resource_ids`, no
    /// `resources`, empty `extras`, and `status_time` equal to `create_time`.
    ///
    /// Nothing is checked here; [`Job::validate`] (called by
    /// [`JobStore::insert`]) does that.
    ///
    /// ```
    /// use joblog::{Job, Status};
    ///
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// let job = Job::new("j-1", "app-1", "usr-1", "StartClusters", Status::Pending, at);
    /// assert_eq!(job.status_time, at);
    /// assert!(job.validate().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`JobStore::insert`]: crate::JobStore::insert
    pub fn new(
        job_id: impl Into<String>,
        app: impl Into<String>,
        owner: impl Into<String>,
        job_action: impl Into<String>,
        status: Status,
        create_time: DateTime<Utc>,
    ) -> Job {
        Job {
            status,
            job_id: job_id.into(),
            app: app.into(),
            directive: String::new(),
            job_action: job_action.into(),
            create_time,
            owner: owner.into(),
            status_time: create_time,
            error_codes: String::new(),
            resource_ids: String::new(),
            resources: IndexMap::new(),
            extras: Extras::new(),
        }
    }

    /// Checks every rule of a stored job.
    ///
    /// - `job_id`, `app`, `owner` and `job_action` are non-empty and hold no
    ///   whitespace or control characters; so does every id in `resources`;
    /// - `resource_ids` is empty or ids separated by exactly one space;
    /// - `status_time` is not before `create_time`, and both lie in the
    ///   supported range (1677-09-21T00:12:43.145224192Z to
    ///   2262-04-11T23:47:16.854775807Z, the range of a 64-bit
    ///   nanosecond count, which keeps index keys small), and neither is a
    ///   leap second as chrono keeps one (second 60 of any minute), which
    ///   the store could not give back as given;
    /// - `error_codes` is empty unless the status is `failed`;
    /// - it involves at most [`MAX_RESOURCES`] distinct resource ids;
    /// - `job_id`, `error_codes` and `resource_ids` are at most
    ///   [`MAX_SHORT_FIELD`] bytes long, `directive` at most
    ///   [`MAX_LONG_FIELD`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidField`] naming the first field that breaks a rule.
    ///
    /// ```
    /// use joblog::{ErrorKind, Job, Status};
    ///
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// let job = Job::new("j 1", "app-1", "usr-1", "StartClusters", Status::Pending, at);
    /// let err = job.validate().unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::InvalidField { field: "job_id", .. }));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "ParameterError, invalid value [j 1] for field [job_id]: \
    ///      must not contain whitespace or control characters"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        self.check().map(drop)
    }

    /// Checks every rule and hands back what the store keeps: the times as
    /// index keys, the field lengths in the widths the store packs them
    /// in, `extras` as JSON, and the directive and `resources` ready to be
    /// written into a record's text (their lengths counted, the writing
    /// left to the store).
    pub(crate) fn check(&self) -> Result<CheckedJob<'_>, Error> {
        let fields = Fields {
            status: self.status,
            job_id: &self.job_id,
            app: &self.app,
            owner: &self.owner,
            job_action: &self.job_action,
            create_time: nanos("create_time", self.create_time)?,
            status_time: nanos("status_time", self.status_time)?,
            // Kept as written inside a JSON string, so answers copy it.
            directive_json: JsonText::raw(&self.directive),
            error_codes: &self.error_codes,
            resource_ids: &self.resource_ids,
            resources: ResourcesJson::of(&self.resources),
            extras: self.extras.as_str().into(),
        };
        let listed = self.resources.values().flatten().map(String::as_str);
        fields.check(listed)
    }

    /// Every resource id the job involves: the words of `resource_ids` and
    /// the ids of every list of `resources`, each once, in first-seen order.
    pub fn involved_resources(&self) -> Vec<&str> {
        let listed = self.resources.values().flatten().map(String::as_str);
        involved_resources(&self.resource_ids, listed)
    }
}

/// The resource ids of a job's `resource_ids` and of its `resources`
/// lists (`listed`), each once, in first-seen order; in time linear in
/// their number.
pub(crate) fn involved_resources<'a>(
    resource_ids: &'a str,
    listed: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    /// Up to this many ids, a scan of the few kept so far is cheaper than
    /// a hash set (and bounded: at most this many comparisons per id).
    const SCAN: usize = 16;
    let words = resource_ids.split(' ').filter(|id| !id.is_empty());
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    for id in words.chain(listed) {
        let new = if ids.len() < SCAN {
            !ids.contains(&id)
        } else {
            if seen.is_empty() {
                seen.extend(ids.iter().copied());
            }
            seen.insert(id)
        };
        if new {
            ids.push(id);
        }
    }
    ids
}

/// The most resource ids one job may involve (the distinct ids of
/// `resource_ids` and `resources` together): far above what one action
/// touches, and a bound on what one insert costs the resource index.
pub const MAX_RESOURCES: usize = 4096;

/// The most bytes of `job_id`, `error_codes` and `resource_ids` each.
pub const MAX_SHORT_FIELD: usize = u16::MAX as usize;
/// The most bytes of `directive` and of `resources`, each written as JSON
/// (`directive` as the contents of a JSON string, escaped).
pub const MAX_LONG_FIELD: usize = u32::MAX as usize;

/// A job's fields in the forms the store keeps them, borrowed: from a
/// [`Job`], or straight from a snapshot, which carries them in these forms
/// so a restart neither builds a `Job` nor escapes a directive again.
pub(crate) struct Fields<'a> {
    pub(crate) status: Status,
    pub(crate) job_id: &'a str,
    pub(crate) app: &'a str,
    pub(crate) owner: &'a str,
    pub(crate) job_action: &'a str,
    /// `create_time` in nanoseconds since the epoch.
    pub(crate) create_time: i64,
    /// `status_time` in nanoseconds since the epoch.
    pub(crate) status_time: i64,
    /// `directive` as written inside a JSON string (escaped as serde_json
    /// escapes it): the form the store keeps.
    pub(crate) directive_json: JsonText<'a>,
    pub(crate) error_codes: &'a str,
    pub(crate) resource_ids: &'a str,
    /// `resources` as compact JSON, key order kept, each kind once.
    pub(crate) resources: ResourcesJson<'a>,
    /// `extras` as compact JSON that passed [`Extras`]' checks.
    pub(crate) extras: Cow<'a, str>,
}

impl<'a> Fields<'a> {
    /// Checks every rule of [`Job::validate`] that the forms above leave
    /// to check; `listed` are the ids of the `resources` lists, in order.
    pub(crate) fn check(
        self,
        listed: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<CheckedJob<'a>, Error> {
        let long = |field: &'static str, len: usize| {
            u32::try_from(len).map_err(|_| too_long(field, MAX_LONG_FIELD))
        };
        let lens = FieldLens {
            job_id: short_len("job_id", self.job_id)?,
            error_codes: short_len("error_codes", self.error_codes)?,
            resource_ids: short_len("resource_ids", self.resource_ids)?,
            directive: long("directive", self.directive_json.len())?,
            resources: long("resources", self.resources.len())?,
        };
        check_id("job_id", self.job_id)?;
        check_id("app", self.app)?;
        check_id("owner", self.owner)?;
        check_id("job_action", self.job_action)?;
        if self.status_time < self.create_time {
            return Err(invalid_field(
                "status_time",
                &format_timestamp(from_nanos(self.status_time)),
                "must not be before create_time",
            ));
        }
        if !self.error_codes.is_empty() && self.status != Status::Failed {
            return Err(invalid_field(
                "error_codes",
                self.error_codes,
                "must be empty unless the job failed",
            ));
        }
        if !self.resource_ids.is_empty() {
            // Printable ASCII ids, as they almost always are, need no
            // look at their characters one by one.
            let ascii = every_byte(self.resource_ids.as_bytes(), |byte| {
                (0x20..0x7f).contains(&byte)
            });
            for id in self.resource_ids.split(' ') {
                if id.is_empty() || (!ascii && id.chars().any(is_blank)) {
                    return Err(invalid_field(
                        "resource_ids",
                        self.resource_ids,
                        "must be resource ids separated by one space",
                    ));
                }
            }
        }
        for id in listed.clone() {
            check_id("resources", id)?;
        }
        let involved = involved_resources(self.resource_ids, listed);
        if involved.len() > MAX_RESOURCES {
            let field = if self.resource_ids.split(' ').count() > MAX_RESOURCES {
                "resource_ids"
            } else {
                "resources"
            };
            return Err(invalid_field(
                field,
                "…",
                &format!(
                    "a job may involve at most {MAX_RESOURCES} resource ids \
                     (resource_ids and resources together), not {}",
                    involved.len()
                ),
            ));
        }
        Ok(CheckedJob {
            fields: self,
            involved,
            lens,
        })
    }
}

/// A job that passed every rule of [`Job::validate`], with what the check
/// computed on the way, so the store never derives it again.
pub(crate) struct CheckedJob<'a> {
    pub(crate) fields: Fields<'a>,
    /// [`Job::involved_resources`], found once for the check and the
    /// indexes.
    pub(crate) involved: Vec<&'a str>,
    pub(crate) lens: FieldLens,
}

/// The lengths of a job's packed text fields, in the widths the store
/// keeps them (the limits [`MAX_SHORT_FIELD`] and [`MAX_LONG_FIELD`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FieldLens {
    pub(crate) job_id: u16,
    pub(crate) directive: u32,
    pub(crate) error_codes: u16,
    pub(crate) resource_ids: u16,
    /// Of `resources` written as JSON.
    pub(crate) resources: u32,
}

/// `resources` as compact JSON, as serde_json writes the map (key order
/// kept): read from a snapshot in that form, or written from the map
/// itself, its length counted first.
pub(crate) type ResourcesJson<'a> = Deferred<'a, Kinds<'a>>;

/// The resource ids by kind, to write as JSON.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kinds<'a>(&'a IndexMap<String, Vec<String>>);

impl<'a> ResourcesJson<'a> {
    pub(crate) fn of(kinds: &'a IndexMap<String, Vec<String>>) -> ResourcesJson<'a> {
        // `{}`, a comma between kinds, and for each `"kind":[]`, its ids
        // quoted with a comma between them.
        let len = kinds.len().saturating_sub(1)
            + 2
            + kinds
                .iter()
                .map(|(kind, ids)| {
                    escaped_len(kind)
                        + 5
                        + ids.len().saturating_sub(1)
                        + ids.iter().map(|id| escaped_len(id) + 2).sum::<usize>()
                })
                .sum::<usize>();
        Deferred::Later {
            value: Kinds(kinds),
            len,
        }
    }
}

impl WriteInto for Kinds<'_> {
    fn write_into(&self, out: &mut String) {
        let quoted = |out: &mut String, text: &str| {
            out.push('"');
            push_json_escaped(out, text);
            out.push('"');
        };
        out.push('{');
        for (n, (kind, ids)) in self.0.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            quoted(out, kind);
            out.push_str(":[");
            for (n, id) in ids.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                quoted(out, id);
            }
            out.push(']');
        }
        out.push('}');
    }
}

/// The length of a short field (`job_id`, `error_codes`, `resource_ids`)
/// as the store keeps it.
///
/// # Errors
///
/// [`ErrorKind::InvalidField`] naming `field` when `value` passes
/// [`MAX_SHORT_FIELD`] bytes.
pub(crate) fn short_len(field: &'static str, value: &str) -> Result<u16, Error> {
    u16::try_from(value.len()).map_err(|_| too_long(field, MAX_SHORT_FIELD))
}

/// The refusal of a field longer than the store keeps.
fn too_long(field: &'static str, max: usize) -> Error {
    Error::new(ErrorKind::InvalidField {
        field,
        value: "…".to_owned(),
        reason: format!("must be at most {max} bytes long"),
    })
}

fn check_id(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(invalid_field(field, value, "must not be empty"));
    }
    // Printable ASCII, as ids almost always are: nothing below can apply.
    if every_byte(value.as_bytes(), |byte| (0x21..0x7f).contains(&byte)) {
        return Ok(());
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid_field(
            field,
            value,
            "must not contain whitespace or control characters",
        ));
    }
    if value.chars().any(is_invisible) {
        return Err(invalid_field(
            field,
            value,
            "must not contain invisible or bidirectional-control characters",
        ));
    }
    Ok(())
}

fn invalid_field(field: &'static str, value: &str, reason: &str) -> Error {
    Error::new(ErrorKind::InvalidField {
        field,
        value: value.to_owned(),
        reason: reason.to_owned(),
    })
}

/// A timestamp as the index key.
///
/// # Errors
///
/// [`ErrorKind::InvalidField`] naming `field` when the time is outside the
/// range a 64-bit nanosecond count holds, or is a leap second as chrono
/// keeps one.
pub(crate) fn nanos(field: &'static str, time: DateTime<Utc>) -> Result<i64, Error> {
    // chrono lets any second before a minute's end hold a leap second;
    // stored as the second after it, it would not read back as given.
    if time.timestamp_subsec_nanos() >= 1_000_000_000 {
        return Err(invalid_field(
            field,
            &format_timestamp(time),
            "must not be a leap second; read times with joblog::parse_timestamp, \
             which keeps 23:59:60 UTC as the second after it",
        ));
    }
    to_nanos(time).ok_or_else(|| {
        invalid_field(
            field,
            &format_timestamp(time),
            "must lie between 1677-09-21T00:12:43.145224192Z and \
             2262-04-11T23:47:16.854775807Z",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The map's JSON is serde_json's, byte for byte, and its length
        /// is counted right before it is written.
        #[test]
        fn resources_are_written_as_serde_json_writes_them(
            kinds in proptest::collection::vec(
                ("[a-z\"\\\\\\x00-\\x1fé]{0,12}", proptest::collection::vec("[a-z0-9\"\\\\\\x01\\n-]{0,20}", 0..4)),
                0..4,
            ),
        ) {
            let kinds: IndexMap<String, Vec<String>> = kinds.into_iter().collect();
            let json = ResourcesJson::of(&kinds);
            let mut out = String::new();
            json.write(&mut out);
            prop_assert_eq!(&out, &serde_json::to_string(&kinds).unwrap());
            prop_assert_eq!(json.len(), out.len());
        }
    }
}
