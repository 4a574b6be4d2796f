//! Snapshots: `JobStore`'s serde form, its revision and its jobs.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::JobStore;
use super::build::Builder;
use super::record::JobRef;
use crate::extras::{Extras, raw_json};
use crate::job::{Job, unique_keys};
use crate::status::Status;
use crate::time::from_nanos;

/// A store serializes as its revision and its jobs in insertion order:
/// `{"revision":…,"jobs":[…]}`, each job with its times as nanoseconds
/// since the epoch (`create_time_ns`, `status_time_ns`: exact, and quick to
/// read back) and, in a human-readable format such as JSON, `resources` and
/// `extras` as the objects they are (in a binary format, as their JSON
/// text). JSON and binary formats (self-describing or not, such as
/// postcard) work; other human-readable formats (YAML, RON) do not, since
/// the objects are carried as raw JSON.
impl Serialize for JobStore {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("JobStore", 2)?;
        out.serialize_field("revision", &self.revision)?;
        out.serialize_field("jobs", &Jobs(self))?;
        out.end()
    }
}

/// The jobs of a store, in insertion order.
struct Jobs<'a>(&'a JobStore);

impl Serialize for Jobs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Stored::from))
    }
}

/// One job in a snapshot.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored<'a> {
    job_id: Cow<'a, str>,
    app: Cow<'a, str>,
    owner: Cow<'a, str>,
    job_action: Cow<'a, str>,
    status: Status,
    create_time_ns: i64,
    status_time_ns: i64,
    directive: Cow<'a, str>,
    error_codes: Cow<'a, str>,
    resource_ids: Cow<'a, str>,
    resources: Raw<'a>,
    extras: Raw<'a>,
}

impl<'a> From<JobRef<'a>> for Stored<'a> {
    fn from(job: JobRef<'a>) -> Stored<'a> {
        let (create_time_ns, status_time_ns) = job.nanos();
        Stored {
            job_id: job.job_id().into(),
            app: job.app().into(),
            owner: job.owner().into(),
            job_action: job.job_action().into(),
            status: job.status(),
            create_time_ns,
            status_time_ns,
            directive: job.directive(),
            error_codes: job.error_codes().into(),
            resource_ids: job.resource_ids().into(),
            resources: Raw(job.resources_json().into()),
            extras: Raw(job.extras_json().into()),
        }
    }
}

impl Stored<'_> {
    /// The job it records, its JSON read back; the store's own checks come
    /// after.
    fn into_job(self) -> Result<Job, String> {
        let mut reader = serde_json::Deserializer::from_str(&self.resources.0);
        let resources = unique_keys(&mut reader)
            .and_then(|resources| reader.end().map(|()| resources))
            .map_err(|err| format!("resources: {err}"))?;
        let extras = Extras::parse(&self.extras.0).map_err(|err| err.to_string())?;
        Ok(Job {
            status: self.status,
            job_id: self.job_id.into_owned(),
            app: self.app.into_owned(),
            directive: self.directive.into_owned(),
            job_action: self.job_action.into_owned(),
            create_time: from_nanos(self.create_time_ns),
            owner: self.owner.into_owned(),
            status_time: from_nanos(self.status_time_ns),
            error_codes: self.error_codes.into_owned(),
            resource_ids: self.resource_ids.into_owned(),
            resources,
            extras,
        })
    }
}

/// JSON text: the value itself in a human-readable format, a string in
/// a binary one.
struct Raw<'a>(Cow<'a, str>);

impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            raw_json(&self.0)
                .map_err(serde::ser::Error::custom)?
                .serialize(serializer)
        } else {
            serializer.serialize_str(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Raw<'_> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let raw = Box::<RawValue>::deserialize(deserializer)?;
            Ok(Raw(Cow::Owned(raw.get().to_owned())))
        } else {
            Ok(Raw(Cow::Owned(String::deserialize(deserializer)?)))
        }
    }
}

/// Reading a snapshot checks every job as an insert does, refuses a
/// repeated id and a revision below the number of jobs, and builds the
/// indexes whole; a corrupt or truncated snapshot is an error that says
/// which job and why, never a panic and never a half-built store.
///
/// ```
/// use joblog::{Job, JobStore, Status};
///
/// let mut store = JobStore::new();
/// let at = "2018-03-04T05:37:58.25Z".parse()?;
/// store.insert(Job::new("j-1", "app-1", "usr-1", "RunJob", Status::Pending, at))?;
/// let json = serde_json::to_string(&store)?;
/// let back: JobStore = serde_json::from_str(&json)?;
/// assert_eq!(back.revision(), 1);
/// assert_eq!(back.get("j-1").map(|job| job.create_time()), Some(at));
///
/// let tampered = json.replace(r#""revision":1"#, r#""revision":0"#);
/// let err = serde_json::from_str::<JobStore>(&tampered).unwrap_err();
/// assert!(err.to_string().starts_with("snapshot revision 0 is below the 1 jobs it holds"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<'de> Deserialize<'de> for JobStore {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JobStore, D::Error> {
        deserializer.deserialize_struct("JobStore", &["revision", "jobs"], Snapshot)
    }
}

struct Snapshot;

/// The fields of a snapshot.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Revision,
    Jobs,
}

/// Checks the revision against the jobs and builds the store.
fn finish<E: de::Error>(revision: u64, builder: Builder) -> Result<JobStore, E> {
    // No store makes 2^63 changes; a larger revision could only overflow
    // the next one.
    if revision > i64::MAX as u64 {
        return Err(E::custom(format_args!(
            "snapshot revision {revision} is beyond any a store can reach (2^63 - 1)"
        )));
    }
    if revision < builder.len() as u64 {
        return Err(E::custom(format_args!(
            "snapshot revision {revision} is below the {} jobs it holds",
            builder.len()
        )));
    }
    let mut store = builder.finish();
    store.revision = revision;
    Ok(store)
}

impl<'de> Visitor<'de> for Snapshot {
    type Value = JobStore;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a joblog snapshot (revision and jobs)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JobStore, A::Error> {
        let revision = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let builder = seq
            .next_element_seed(JobsSeed)?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        finish(revision, builder)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JobStore, A::Error> {
        let (mut revision, mut builder) = (None, None);
        while let Some(field) = map.next_key()? {
            match field {
                Field::Revision if revision.is_none() => revision = Some(map.next_value()?),
                Field::Jobs if builder.is_none() => builder = Some(map.next_value_seed(JobsSeed)?),
                Field::Revision => return Err(de::Error::duplicate_field("revision")),
                Field::Jobs => return Err(de::Error::duplicate_field("jobs")),
            }
        }
        let revision = revision.ok_or_else(|| de::Error::missing_field("revision"))?;
        let builder = builder.ok_or_else(|| de::Error::missing_field("jobs"))?;
        finish(revision, builder)
    }
}

/// Reads the jobs straight into a [`Builder`], never holding them all.
struct JobsSeed;

impl<'de> DeserializeSeed<'de> for JobsSeed {
    type Value = Builder;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Builder, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for JobsSeed {
    type Value = Builder;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of jobs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Builder, A::Error> {
        let mut builder = Builder::new();
        builder.reserve(seq.size_hint().unwrap_or(0));
        loop {
            let at = builder.len() + 1;
            let fail = |why: &dyn fmt::Display| {
                de::Error::custom(format_args!("snapshot job {at}: {why}"))
            };
            let Some(stored) = seq.next_element::<Stored<'_>>().map_err(|err| fail(&err))? else {
                return Ok(builder);
            };
            let job = stored.into_job().map_err(|why| fail(&why))?;
            builder.push(&job).map_err(|err| fail(&err))?;
        }
    }
}
