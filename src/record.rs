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

use crate::error::Error;
use crate::job::{Job, Status, involved_resources, too_long};

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

/// One stored job: 64 bytes plus one allocation holding its text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Record {
    /// Nanoseconds since the epoch.
    pub(crate) create_time: i64,
    /// Nanoseconds since the epoch.
    pub(crate) status_time: i64,
    /// `job_id`, `directive`, `error_codes`, `resource_ids`, `resources` as
    /// JSON and `extras` as JSON, one after the other.
    text: Box<str>,
    pub(crate) app: Sym,
    pub(crate) owner: Sym,
    pub(crate) action: Sym,
    directive_len: u32,
    resources_len: u32,
    id_len: u16,
    error_codes_len: u16,
    resource_ids_len: u16,
    pub(crate) status: Status,
}

use crate::job::{MAX_LONG_FIELD, MAX_SHORT_FIELD};

/// The parts of [`Record::text`], in order.
#[derive(Clone, Copy)]
enum Part {
    JobId,
    Directive,
    ErrorCodes,
    ResourceIds,
    Resources,
    Extras,
}

/// The texts a record is packed from.
struct Texts<'a> {
    job_id: &'a str,
    directive: &'a str,
    error_codes: &'a str,
    resource_ids: &'a str,
    resources: &'a [u8],
    extras: &'a [u8],
}

impl Record {
    /// Packs a job that passed [`Job::validate`]; the names are interned
    /// by the caller.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidField`] when `directive` or `resources` passes
    /// 4 GiB (the short fields' limits are checked by [`Job::validate`]).
    pub(crate) fn new(job: &Job, create_time: i64, status_time: i64) -> Result<Record, Error> {
        // Writing into a Vec cannot fail, and maps with string keys always
        // serialize.
        let mut resources = Vec::new();
        let _ = serde_json::to_writer(&mut resources, &job.resources);
        let mut extras = Vec::new();
        let _ = serde_json::to_writer(&mut extras, &job.extras);
        let mut record = Record {
            create_time,
            status_time,
            text: Box::default(),
            app: 0,
            owner: 0,
            action: 0,
            directive_len: 0,
            resources_len: 0,
            id_len: 0,
            error_codes_len: 0,
            resource_ids_len: 0,
            status: job.status,
        };
        record.pack(&Texts {
            job_id: &job.job_id,
            directive: &job.directive,
            error_codes: &job.error_codes,
            resource_ids: &job.resource_ids,
            resources: &resources,
            extras: &extras,
        })?;
        Ok(record)
    }

    /// Replaces the text; changes nothing when a part is too long.
    fn pack(&mut self, texts: &Texts<'_>) -> Result<(), Error> {
        let short = |field: &'static str, text: &str| {
            u16::try_from(text.len()).map_err(|_| too_long(field, MAX_SHORT_FIELD))
        };
        let long = |field: &'static str, len: usize| {
            u32::try_from(len).map_err(|_| too_long(field, MAX_LONG_FIELD))
        };
        let lens = (
            short("job_id", texts.job_id)?,
            long("directive", texts.directive.len())?,
            short("error_codes", texts.error_codes)?,
            short("resource_ids", texts.resource_ids)?,
            long("resources", texts.resources.len())?,
        );
        let mut text = Vec::with_capacity(
            texts.job_id.len()
                + texts.directive.len()
                + texts.error_codes.len()
                + texts.resource_ids.len()
                + texts.resources.len()
                + texts.extras.len(),
        );
        for part in [
            texts.job_id.as_bytes(),
            texts.directive.as_bytes(),
            texts.error_codes.as_bytes(),
            texts.resource_ids.as_bytes(),
            texts.resources,
            texts.extras,
        ] {
            text.extend_from_slice(part);
        }
        // Every part is UTF-8: strings, and JSON that serde_json wrote.
        let text = String::from_utf8(text).unwrap_or_default();
        self.text = text.into_boxed_str();
        (
            self.id_len,
            self.directive_len,
            self.error_codes_len,
            self.resource_ids_len,
            self.resources_len,
        ) = lens;
        Ok(())
    }

    /// The lengths of the text's parts but the last (`extras` runs to the
    /// end).
    fn lens(&self) -> [usize; 5] {
        [
            usize::from(self.id_len),
            self.directive_len as usize,
            usize::from(self.error_codes_len),
            usize::from(self.resource_ids_len),
            self.resources_len as usize,
        ]
    }

    /// Everything but the interned names, which only mean something within
    /// one store.
    fn content(&self) -> (Status, i64, i64, &str, [usize; 5]) {
        (
            self.status,
            self.create_time,
            self.status_time,
            &self.text,
            self.lens(),
        )
    }

    fn part(&self, part: Part) -> &str {
        let lens = self.lens();
        let i = part as usize;
        let start: usize = lens[..i].iter().sum();
        let end = lens.get(i).map_or(self.text.len(), |len| start + len);
        self.text.get(start..end).unwrap_or_default()
    }

    /// The job's id.
    pub(crate) fn job_id(&self) -> &str {
        self.part(Part::JobId)
    }

    /// Replaces `error_codes`, keeping the other parts.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidField`] when `error_codes` passes 64 KiB; the
    /// record is unchanged.
    pub(crate) fn set_error_codes(&mut self, error_codes: &str) -> Result<(), Error> {
        let texts = Texts {
            job_id: self.part(Part::JobId),
            directive: self.part(Part::Directive),
            error_codes,
            resource_ids: self.part(Part::ResourceIds),
            resources: self.part(Part::Resources).as_bytes(),
            extras: self.part(Part::Extras).as_bytes(),
        };
        let mut changed = self.clone();
        changed.pack(&texts)?;
        *self = changed;
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
    record: &'a Record,
    names: &'a Interner,
}

impl<'a> JobRef<'a> {
    pub(crate) fn new(record: &'a Record, names: &'a Interner) -> JobRef<'a> {
        JobRef { record, names }
    }

    /// The job id.
    pub fn job_id(&self) -> &'a str {
        self.record.job_id()
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
            job_id: self.job_id().to_owned(),
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
            .field("job_id", &self.job_id())
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
        self.app() == other.app()
            && self.owner() == other.owner()
            && self.job_action() == other.job_action()
            && self.record.content() == other.record.content()
    }
}
