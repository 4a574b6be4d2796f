//! How the store keeps a job: compact, with interned names, read through
//! [`JobRef`].
//!
//! A [`Job`] holds a dozen `String`s and two maps; kept as is, the
//! structure alone outweighs the data. A [`Record`] keeps app, owner and
//! action as interned numbers, times as nanoseconds, and every free-text
//! field in one allocation, so a stored job costs little more than its
//! text.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use crate::error::{Error, ErrorKind};
use crate::job::{Job, Status, involved_resources};

/// An interned name: an app, owner or action.
pub(crate) type Sym = u32;

/// A map keyed by interned names. Syms are small numbers this crate hands
/// out, not input an attacker picks, so a multiplicative hash is safe and
/// much cheaper than SipHash on the insert path.
pub(crate) type SymMap<V> = HashMap<Sym, V, BuildHasherDefault<SymHasher>>;

/// Fibonacci hashing of a [`Sym`].
#[derive(Default)]
pub(crate) struct SymHasher(u64);

impl Hasher for SymHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u32(u32::from(byte) ^ (self.0 as u32).rotate_left(8));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Names by number and numbers by name.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    names: Vec<Box<str>>,
    syms: HashMap<Box<str>, Sym>,
}

impl Interner {
    pub(crate) fn get(&self, name: &str) -> Option<Sym> {
        self.syms.get(name).copied()
    }

    pub(crate) fn intern(&mut self, name: &str) -> Sym {
        if let Some(sym) = self.get(name) {
            return sym;
        }
        // Fewer distinct names than jobs, and jobs are capped below u32.
        let sym = self.names.len() as Sym;
        self.names.push(name.into());
        self.syms.insert(name.into(), sym);
        sym
    }

    pub(crate) fn name(&self, sym: Sym) -> &str {
        self.names.get(sym as usize).map_or("", |name| name)
    }
}

/// One stored job, without its id (the id is the store's map key).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Record {
    pub(crate) app: Sym,
    pub(crate) owner: Sym,
    pub(crate) action: Sym,
    pub(crate) status: Status,
    /// Nanoseconds since the epoch.
    pub(crate) create_time: i64,
    /// Nanoseconds since the epoch.
    pub(crate) status_time: i64,
    /// `directive`, `error_codes`, `resource_ids`, `resources` as JSON and
    /// `extras` as JSON, one after the other.
    text: Box<str>,
    /// Where each of the first four parts of `text` ends.
    ends: [u32; 4],
}

/// The parts of [`Record::text`], in order.
#[derive(Clone, Copy)]
enum Part {
    Directive,
    ErrorCodes,
    ResourceIds,
    Resources,
    Extras,
}

impl Record {
    /// Packs a job that passed [`Job::validate`], reusing the directive's
    /// buffer for the text; the names are interned by the caller.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidField`] naming `directive` when the free text
    /// passes 4 GiB.
    pub(crate) fn new(
        directive: String,
        job: &Job,
        create_time: i64,
        status_time: i64,
    ) -> Result<Record, Error> {
        let mut text = directive.into_bytes();
        let mut ends = [0usize; 4];
        ends[0] = text.len();
        text.extend_from_slice(job.error_codes.as_bytes());
        ends[1] = text.len();
        text.extend_from_slice(job.resource_ids.as_bytes());
        ends[2] = text.len();
        // Writing into a Vec cannot fail, and maps with string keys always
        // serialize.
        let _ = serde_json::to_writer(&mut text, &job.resources);
        ends[3] = text.len();
        let _ = serde_json::to_writer(&mut text, &job.extras);
        let text = String::from_utf8(text).unwrap_or_default();
        if u32::try_from(text.len()).is_err() {
            return Err(too_long());
        }
        Ok(Record {
            app: 0,
            owner: 0,
            action: 0,
            status: job.status,
            create_time,
            status_time,
            text: text.into_boxed_str(),
            // Each end is at most the text's length, which fits in u32.
            ends: ends.map(|end| end as u32),
        })
    }

    fn part(&self, part: Part) -> &str {
        let i = part as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let end = self
            .ends
            .get(i)
            .map_or(self.text.len(), |&end| end as usize);
        self.text.get(start..end).unwrap_or_default()
    }

    /// Replaces `error_codes`, keeping the other parts.
    pub(crate) fn set_error_codes(&mut self, error_codes: &str) -> Result<(), Error> {
        let parts = [
            self.part(Part::Directive),
            error_codes,
            self.part(Part::ResourceIds),
            self.part(Part::Resources),
            self.part(Part::Extras),
        ];
        let total: usize = parts.iter().map(|part| part.len()).sum();
        if u32::try_from(total).is_err() {
            return Err(too_long());
        }
        let mut text = String::with_capacity(total);
        let mut ends = [0u32; 4];
        for (i, part) in parts.iter().enumerate() {
            text.push_str(part);
            if let Some(end) = ends.get_mut(i) {
                // `total` fits in u32, so every prefix does.
                *end = text.len() as u32;
            }
        }
        self.text = text.into_boxed_str();
        self.ends = ends;
        Ok(())
    }

    /// Every resource id the job involves, as [`Job::involved_resources`]
    /// lists them.
    pub(crate) fn involved_resources(&self) -> Vec<String> {
        let listed: IndexMap<String, Vec<String>> =
            serde_json::from_str(self.part(Part::Resources)).unwrap_or_default();
        involved_resources(self.part(Part::ResourceIds), &listed)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}

fn too_long() -> Error {
    Error::new(ErrorKind::InvalidField {
        field: "directive",
        value: String::new(),
        reason: "the job's text fields must not pass 4 GiB together".to_owned(),
    })
}

/// A stored job, borrowed from the [`JobStore`].
///
/// Read its fields with the accessors; [`JobRef::to_job`] makes an owned
/// [`Job`].
///
/// ```
/// use joblog::{Job, JobStore, Status};
///
/// let mut store = JobStore::new();
/// let at = "2018-03-04T05:37:58Z".parse()?;
/// let mut job = Job::new("j-1", "app-1", "usr-1", "StartClusters", Status::Pending, at);
/// job.resource_ids = "cl-1".to_owned();
/// store.insert(job.clone())?;
/// let stored = store.get("j-1").expect("just inserted");
/// assert_eq!(stored.owner(), "usr-1");
/// assert_eq!(stored.resource_ids(), "cl-1");
/// assert_eq!(stored.to_job(), job);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`JobStore`]: crate::JobStore
#[derive(Clone, Copy)]
pub struct JobRef<'a> {
    job_id: &'a str,
    record: &'a Record,
    names: &'a Interner,
}

impl<'a> JobRef<'a> {
    pub(crate) fn new(job_id: &'a str, record: &'a Record, names: &'a Interner) -> JobRef<'a> {
        JobRef {
            job_id,
            record,
            names,
        }
    }

    /// The job id.
    pub fn job_id(&self) -> &'a str {
        self.job_id
    }

    /// The app the job belongs to.
    pub fn app(&self) -> &'a str {
        self.names.name(self.record.app)
    }

    /// The user id that triggered the job.
    pub fn owner(&self) -> &'a str {
        self.names.name(self.record.owner)
    }

    /// The API action that started the job.
    pub fn job_action(&self) -> &'a str {
        self.names.name(self.record.action)
    }

    /// The job's status.
    pub fn status(&self) -> Status {
        self.record.status
    }

    /// The action's request, an opaque string.
    pub fn directive(&self) -> &'a str {
        self.record.part(Part::Directive)
    }

    /// When the job was created.
    pub fn create_time(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.record.create_time)
    }

    /// When the status last changed.
    pub fn status_time(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.record.status_time)
    }

    /// Empty unless the job failed.
    pub fn error_codes(&self) -> &'a str {
        self.record.part(Part::ErrorCodes)
    }

    /// The ids of the resources involved, separated by one space.
    pub fn resource_ids(&self) -> &'a str {
        self.record.part(Part::ResourceIds)
    }

    /// `resources` as compact JSON, key order kept.
    pub fn resources_json(&self) -> &'a str {
        self.record.part(Part::Resources)
    }

    /// `extras` as compact JSON, key order kept.
    pub fn extras_json(&self) -> &'a str {
        self.record.part(Part::Extras)
    }

    /// `resources`, read from its JSON.
    pub fn resources(&self) -> IndexMap<String, Vec<String>> {
        serde_json::from_str(self.resources_json()).unwrap_or_default()
    }

    /// `extras`, read from its JSON.
    pub fn extras(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(self.extras_json()).unwrap_or_default()
    }

    /// An owned copy of the job.
    pub fn to_job(&self) -> Job {
        Job {
            status: self.status(),
            job_id: self.job_id.to_owned(),
            app: self.app().to_owned(),
            directive: self.directive().to_owned(),
            job_action: self.job_action().to_owned(),
            create_time: self.create_time(),
            owner: self.owner().to_owned(),
            status_time: self.status_time(),
            error_codes: self.error_codes().to_owned(),
            resource_ids: self.resource_ids().to_owned(),
            resources: self.resources(),
            extras: self.extras(),
        }
    }
}

impl fmt::Debug for JobRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobRef")
            .field("job_id", &self.job_id)
            .field("app", &self.app())
            .field("owner", &self.owner())
            .field("job_action", &self.job_action())
            .field("status", &self.status())
            .field("create_time", &self.create_time())
            .field("status_time", &self.status_time())
            .field("error_codes", &self.error_codes())
            .field("resource_ids", &self.resource_ids())
            .field("resources", &self.resources_json())
            .field("extras", &self.extras_json())
            .field("directive", &self.directive())
            .finish()
    }
}

impl PartialEq for JobRef<'_> {
    fn eq(&self, other: &JobRef<'_>) -> bool {
        self.job_id == other.job_id
            && self.app() == other.app()
            && self.owner() == other.owner()
            && self.job_action() == other.job_action()
            && self.record.status == other.record.status
            && self.record.create_time == other.record.create_time
            && self.record.status_time == other.record.status_time
            && self.record.text == other.record.text
            && self.record.ends == other.record.ends
    }
}
