//! The job record, its status, and the rules a record must keep.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Timelike, Utc};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// Where a job is in its lifecycle.
///
/// `Pending → Working → Successful | Failed`, and `Pending → Successful |
/// Failed` directly. `Successful` and `Failed` are final.
///
/// On the wire a status is its lower-case name (`"pending"`, …); parsing is
/// exact and case-sensitive, as the API is.
///
/// ```
/// use joblog::Status;
///
/// let status: Status = "working".parse()?;
/// assert_eq!(status, Status::Working);
/// assert!(status.can_become(Status::Successful));
/// assert!(!Status::Failed.can_become(Status::Working));
/// assert!("Working".parse::<Status>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting to run.
    Pending,
    /// Running.
    Working,
    /// Finished with an error (final).
    Failed,
    /// Finished well (final).
    Successful,
}

impl Status {
    /// Every status, in the order the API page lists them.
    pub const ALL: [Status; 4] = [
        Status::Pending,
        Status::Working,
        Status::Failed,
        Status::Successful,
    ];

    /// The wire name: `pending`, `working`, `failed` or `successful`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Working => "working",
            Status::Failed => "failed",
            Status::Successful => "successful",
        }
    }

    /// Whether the job is done: `Successful` or `Failed`.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Failed | Status::Successful)
    }

    /// Whether the lifecycle allows moving from `self` to `next`.
    ///
    /// Staying on the same status is not a move; [`JobStore::set_status`]
    /// treats it as a no-op that succeeds.
    ///
    /// [`JobStore::set_status`]: crate::JobStore::set_status
    pub fn can_become(self, next: Status) -> bool {
        match self {
            Status::Pending => next != Status::Pending,
            Status::Working => next.is_finished(),
            Status::Failed | Status::Successful => false,
        }
    }

    /// A dense number 0..4, in the order of [`Status::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Status`] from a string that names none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseStatusError(());

impl fmt::Display for ParseStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("must be one of pending, working, failed, successful")
    }
}

impl std::error::Error for ParseStatusError {}

impl FromStr for Status {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or(ParseStatusError(()))
    }
}

/// One job: a record of an action run on a cluster.
///
/// This is the ingest form of SPEC §1: the wire element of `job_set` plus the
/// `app` the job belongs to. Build one with [`Job::new`] and the optional
/// fields' defaults, or deserialize it from JSON (unknown fields are refused,
/// so a typo cannot silently lose data). [`JobStore::insert`] checks every
/// rule of [`Job::validate`].
///
/// Timestamps are read as RFC 3339 in any offset, kept in UTC with full
/// precision, and written as `YYYY-MM-DDThh:mm:ssZ`.
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawJob")]
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
    #[serde(with = "timestamp")]
    pub create_time: DateTime<Utc>,
    /// The user id that triggered the job (`system` for the platform).
    pub owner: String,
    /// When the status last changed; not before `create_time`.
    #[serde(with = "timestamp")]
    pub status_time: DateTime<Utc>,
    /// Empty unless the job failed.
    pub error_codes: String,
    /// The ids of the resources involved, separated by one space.
    pub resource_ids: String,
    /// Resource ids by kind, e.g. `{"clusters":["cl-xi3aoihf"]}`; key order kept.
    pub resources: IndexMap<String, Vec<String>>,
    /// A free-form JSON object; key order kept.
    pub extras: serde_json::Map<String, serde_json::Value>,
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
    #[serde(default)]
    resources: IndexMap<String, Vec<String>>,
    #[serde(default)]
    extras: serde_json::Map<String, serde_json::Value>,
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
            extras: serde_json::Map::new(),
        }
    }

    /// Checks every rule of a stored job.
    ///
    /// - `job_id`, `app`, `owner` and `job_action` are non-empty and hold no
    ///   whitespace or control characters; so does every id in `resources`;
    /// - `resource_ids` is empty or ids separated by exactly one space;
    /// - `status_time` is not before `create_time`, and both lie in the
    ///   supported range (years 1678 to 2261, the range of a 64-bit
    ///   nanosecond count, which keeps index keys small);
    /// - `error_codes` is empty unless the status is `failed`;
    /// - `extras` nests at most [`MAX_EXTRAS_DEPTH`] levels of arrays and
    ///   objects;
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
        let short = [
            ("job_id", &self.job_id),
            ("error_codes", &self.error_codes),
            ("resource_ids", &self.resource_ids),
        ];
        for (field, value) in short {
            if value.len() > MAX_SHORT_FIELD {
                return Err(too_long(field, MAX_SHORT_FIELD));
            }
        }
        if self.directive.len() > MAX_LONG_FIELD {
            return Err(too_long("directive", MAX_LONG_FIELD));
        }
        check_id("job_id", &self.job_id)?;
        check_id("app", &self.app)?;
        check_id("owner", &self.owner)?;
        check_id("job_action", &self.job_action)?;
        let create = nanos("create_time", self.create_time)?;
        let status = nanos("status_time", self.status_time)?;
        if status < create {
            return Err(invalid_field(
                "status_time",
                &format_timestamp(self.status_time),
                "must not be before create_time",
            ));
        }
        if !self.error_codes.is_empty() && self.status != Status::Failed {
            return Err(invalid_field(
                "error_codes",
                &self.error_codes,
                "must be empty unless the job failed",
            ));
        }
        if !self.resource_ids.is_empty() {
            for id in self.resource_ids.split(' ') {
                if id.is_empty() || id.chars().any(is_blank) {
                    return Err(invalid_field(
                        "resource_ids",
                        &self.resource_ids,
                        "must be resource ids separated by one space",
                    ));
                }
            }
        }
        for ids in self.resources.values() {
            for id in ids {
                check_id("resources", id)?;
            }
        }
        if nesting(&self.extras) > MAX_EXTRAS_DEPTH {
            return Err(invalid_field(
                "extras",
                "…",
                &format!("must not nest deeper than {MAX_EXTRAS_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// Every resource id the job involves: the words of `resource_ids` and
    /// the ids of every list of `resources`, each once, in first-seen order.
    pub fn involved_resources(&self) -> Vec<&str> {
        involved_resources(&self.resource_ids, &self.resources)
    }
}

/// The resource ids of a job's `resource_ids` and `resources`, each once,
/// in first-seen order.
pub(crate) fn involved_resources<'a>(
    resource_ids: &'a str,
    resources: &'a IndexMap<String, Vec<String>>,
) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    let words = resource_ids.split(' ').filter(|id| !id.is_empty());
    let listed = resources.values().flatten().map(String::as_str);
    for id in words.chain(listed) {
        if !seen.contains(&id) {
            seen.push(id);
        }
    }
    seen
}

/// The most bytes of `job_id`, `error_codes` and `resource_ids` each.
pub const MAX_SHORT_FIELD: usize = u16::MAX as usize;
/// The most bytes of `directive`, and of `resources` written as JSON.
pub const MAX_LONG_FIELD: usize = u32::MAX as usize;

/// The refusal of a field longer than the store keeps.
pub(crate) fn too_long(field: &'static str, max: usize) -> Error {
    Error::new(ErrorKind::InvalidField {
        field,
        value: "…".to_owned(),
        reason: format!("must be at most {max} bytes long"),
    })
}

/// How deep `extras` may nest: deep enough for any real document, and far
/// from the depth where writing or dropping it would exhaust a stack.
pub const MAX_EXTRAS_DEPTH: usize = 64;

/// How deeply an object nests (the object itself is level 1), counted
/// without recursion so any depth is safe to measure.
fn nesting(object: &serde_json::Map<String, serde_json::Value>) -> usize {
    let mut deepest = 1;
    let mut pending: Vec<(&serde_json::Value, usize)> = object.values().map(|v| (v, 2)).collect();
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match value {
            serde_json::Value::Array(items) => Box::new(items.iter()),
            serde_json::Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(depth);
        if deepest > MAX_EXTRAS_DEPTH {
            break;
        }
        pending.extend(children.map(|child| (child, depth + 1)));
    }
    deepest
}

fn is_blank(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

fn check_id(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(invalid_field(field, value, "must not be empty"));
    }
    if value.chars().any(is_blank) {
        return Err(invalid_field(
            field,
            value,
            "must not contain whitespace or control characters",
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

/// A timestamp as the index key: nanoseconds since the Unix epoch.
///
/// # Errors
///
/// [`ErrorKind::InvalidField`] naming `field` when the time is outside the
/// range a 64-bit nanosecond count holds.
pub(crate) fn nanos(field: &'static str, time: DateTime<Utc>) -> Result<i64, Error> {
    time.timestamp_nanos_opt().ok_or_else(|| {
        invalid_field(
            field,
            &format_timestamp(time),
            "must lie between the years 1678 and 2261",
        )
    })
}

/// Writes a timestamp the way the API does: `YYYY-MM-DDThh:mm:ssZ`, whole
/// seconds, UTC.
///
/// ```
/// let at = chrono::DateTime::parse_from_rfc3339("2018-03-04T13:37:58.9+08:00")?;
/// assert_eq!(joblog::format_timestamp(at.to_utc()), "2018-03-04T05:37:58Z");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn format_timestamp(time: DateTime<Utc>) -> String {
    Stamp(time).to_string()
}

/// A timestamp written the API's way; digits are placed by hand, since
/// answers write two per job.
pub(crate) struct Stamp(pub(crate) DateTime<Utc>);

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = self.0;
        let Ok(year) = u32::try_from(time.year()) else {
            return write!(f, "{}", time.format("%Y-%m-%dT%H:%M:%SZ"));
        };
        if year > 9999 {
            return write!(f, "{}", time.format("%Y-%m-%dT%H:%M:%SZ"));
        }
        let mut text = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for slot in text[at..at + width].iter_mut().rev() {
                *slot = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, time.month());
        put(8, 2, time.day());
        put(11, 2, time.hour());
        put(14, 2, time.minute());
        // A leap second is written as second 60, as chrono would.
        put(17, 2, time.second() + time.nanosecond() / 1_000_000_000);
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

/// Reads an RFC 3339 / ISO 8601 timestamp in any offset into UTC, keeping
/// its full precision. A leap second (`23:59:60`) is read as the second
/// after it (`00:00:00`), as the count of seconds since the epoch has it.
///
/// # Errors
///
/// The chrono parse error when `text` is not RFC 3339.
///
/// ```
/// let at = joblog::parse_timestamp("2018-03-04T13:37:58.520+08:00")?;
/// assert_eq!(at.timestamp_subsec_millis(), 520);
/// assert_eq!(joblog::format_timestamp(at), "2018-03-04T05:37:58Z");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    let time = DateTime::parse_from_rfc3339(text)?.to_utc();
    // A leap second (`…:59:60`) is kept as the second after it: the store
    // counts nanoseconds since the epoch, where there is no second 60.
    let nanos = time.timestamp_subsec_nanos();
    Ok(match nanos.checked_sub(1_000_000_000) {
        Some(rest) => DateTime::from_timestamp(time.timestamp() + 1, rest).unwrap_or(time),
        None => time,
    })
}

/// Serde for timestamps in the API's shape.
pub(crate) mod timestamp {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(crate) fn serialize<S: Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&super::Stamp(*time))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        super::parse_timestamp(&text).map_err(|err| {
            D::Error::custom(format_args!(
                "invalid timestamp {text:?}: {err} (expected RFC 3339, e.g. 2018-03-04T05:37:58Z)"
            ))
        })
    }

    pub(crate) mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer};

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped(#[serde(with = "super")] DateTime<Utc>);
            Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(time)| time))
        }
    }
}
