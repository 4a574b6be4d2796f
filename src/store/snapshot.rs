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
use indexmap::IndexMap;

use crate::chars::{Deferred, every_byte, is_json_escaped, json_escaped, json_unescaped};
use crate::extras::{Extras, raw_json};
use crate::job::{CheckedJob, Fields, ResourcesJson, unique_keys};
use crate::status::Status;

/// A store serializes as its revision and its jobs in insertion order:
/// `{"revision":…,"jobs":[…]}`, each job with its times as nanoseconds
/// since the epoch (`create_time_ns`, `status_time_ns`: exact, and quick to
/// read back) and, in a human-readable format such as JSON, `resources` and
/// `extras` as the objects they are. A binary format carries the store's
/// own forms, so a restart re-derives nothing: `resources` and `extras` as
/// their JSON text, and `directive` as written inside a JSON string
/// (escaped), which is checked, not escaped again. JSON and binary formats
/// (self-describing or not, such as postcard) work; other human-readable
/// formats (YAML, RON) do not, since the objects are carried as raw JSON.
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

/// One job in a snapshot, written.
#[derive(Serialize)]
struct Stored<'a> {
    job_id: &'a str,
    app: &'a str,
    owner: &'a str,
    job_action: &'a str,
    status: Status,
    create_time_ns: i64,
    status_time_ns: i64,
    directive: Directive<'a>,
    error_codes: &'a str,
    resource_ids: &'a str,
    resources: Raw<'a>,
    extras: Raw<'a>,
}

impl<'a> From<JobRef<'a>> for Stored<'a> {
    fn from(job: JobRef<'a>) -> Stored<'a> {
        let (create_time_ns, status_time_ns) = job.nanos();
        Stored {
            job_id: job.job_id(),
            app: job.app(),
            owner: job.owner(),
            job_action: job.job_action(),
            status: job.status(),
            create_time_ns,
            status_time_ns,
            directive: Directive(job.directive_json().into()),
            error_codes: job.error_codes(),
            resource_ids: job.resource_ids(),
            resources: Raw(job.resources_json().into()),
            extras: Raw(job.extras_json().into()),
        }
    }
}

/// One job in a snapshot, read: borrowed from the input where the format
/// allows, so a restart copies each job's text once, into its record.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "'de: 'a"))]
struct StoredIn<'a> {
    job_id: Text<'a>,
    app: Text<'a>,
    owner: Text<'a>,
    job_action: Text<'a>,
    status: Status,
    create_time_ns: i64,
    status_time_ns: i64,
    directive: Directive<'a>,
    error_codes: Text<'a>,
    resource_ids: Text<'a>,
    resources: Raw<'a>,
    extras: Raw<'a>,
}

impl StoredIn<'_> {
    /// Checks the job as an insert does, `resources` read into `kinds`
    /// when it is not in the form the store writes.
    fn check<'s>(
        &'s self,
        kinds: &'s mut IndexMap<String, Vec<String>>,
    ) -> Result<CheckedJob<'s>, String> {
        let (resources, listed) = match listed_ids(&self.resources.0) {
            Some(listed) => (Deferred::Ready(Cow::Borrowed(&self.resources.0)), listed),
            None => {
                let mut reader = serde_json::Deserializer::from_str(&self.resources.0);
                *kinds = unique_keys(&mut reader)
                    .and_then(|kinds| reader.end().map(|()| kinds))
                    .map_err(|err| format!("resources: {err}"))?;
                let listed = kinds.values().flatten().map(String::as_str).collect();
                (ResourcesJson::of(kinds), listed)
            }
        };
        let extras = match &*self.extras.0 {
            "{}" => Cow::Borrowed("{}"),
            text => Cow::Owned(
                Extras::parse(text)
                    .map_err(|err| err.to_string())?
                    .as_str()
                    .to_owned(),
            ),
        };
        let fields = Fields {
            status: self.status,
            job_id: &self.job_id.0,
            app: &self.app.0,
            owner: &self.owner.0,
            job_action: &self.job_action.0,
            create_time: self.create_time_ns,
            status_time: self.status_time_ns,
            directive_json: Deferred::Ready(Cow::Borrowed(&self.directive.0)),
            error_codes: &self.error_codes.0,
            resource_ids: &self.resource_ids.0,
            resources,
            extras,
        };
        fields
            .check(listed.into_iter())
            .map_err(|err| err.to_string())
    }
}

/// The ids of `resources` in the form the store writes it (compact, no
/// escape, at most `FEW` kinds, each once), in order; `None` for any
/// other text, which the general reader takes.
fn listed_ids(text: &str) -> Option<Vec<&str>> {
    /// More kinds than this go to the general reader, which is linear in
    /// them; here each kind is compared with those before it.
    const FEW: usize = 16;
    if text.contains('\\') {
        return None;
    }
    let mut rest = text.strip_prefix('{')?;
    let (mut kinds, mut listed) = (Vec::new(), Vec::new());
    if rest == "}" {
        return Some(listed);
    }
    // A string without escapes: up to its closing quote.
    fn string(text: &str) -> Option<(&str, &str)> {
        let (inside, rest) = text.strip_prefix('"')?.split_once('"')?;
        every_byte(inside.as_bytes(), |byte| byte >= 0x20).then_some((inside, rest))
    }
    loop {
        let (kind, after) = string(rest)?;
        if kinds.len() == FEW || kinds.contains(&kind) {
            return None;
        }
        kinds.push(kind);
        rest = after.strip_prefix(":[")?;
        if let Some(after) = rest.strip_prefix(']') {
            rest = after;
        } else {
            loop {
                let (id, after) = string(rest)?;
                listed.push(id);
                match after.as_bytes().first()? {
                    b',' => rest = &after[1..],
                    b']' => {
                        rest = &after[1..];
                        break;
                    }
                    _ => return None,
                }
            }
        }
        match rest {
            "}" => return Some(listed),
            _ => rest = rest.strip_prefix(',')?,
        }
    }
}

/// A string, borrowed from the input when the format allows.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;

        impl<'de> Visitor<'de> for Visit {
            type Value = Cow<'de, str>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(text))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(text.to_owned()))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(text))
            }
        }

        deserializer.deserialize_str(Visit).map(Text)
    }
}

/// A directive in the form the store keeps it, escaped as inside a JSON
/// string. In a human-readable format it is the string itself, whose JSON
/// text is exactly that form (read without unescaping when it is; any
/// other escaping reads too). In a binary format it is the escaped form as
/// a string, and any other form is refused.
struct Directive<'a>(Cow<'a, str>);

impl Serialize for Directive<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&json_unescaped(&self.0))
        } else {
            serializer.serialize_str(&self.0)
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Directive<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let raw = String::from(Box::<str>::from(Box::<RawValue>::deserialize(
                deserializer,
            )?));
            let inside = raw
                .strip_prefix('"')
                .and_then(|raw| raw.strip_suffix('"'))
                .filter(|inside| is_json_escaped(inside));
            if let Some(inside) = inside {
                let len = inside.len();
                let mut escaped = raw;
                escaped.truncate(len + 1);
                escaped.remove(0);
                return Ok(Directive(Cow::Owned(escaped)));
            }
            let text: String = serde_json::from_str(&raw).map_err(de::Error::custom)?;
            Ok(Directive(Cow::Owned(json_escaped(&text).into_owned())))
        } else {
            let Text(escaped) = Text::deserialize(deserializer)?;
            binary_directive(escaped).map_err(de::Error::custom)
        }
    }
}

/// A binary snapshot's directive: only the escaped form is taken.
fn binary_directive(escaped: Cow<'_, str>) -> Result<Directive<'_>, &'static str> {
    if is_json_escaped(&escaped) {
        Ok(Directive(escaped))
    } else {
        Err("directive: not escaped as inside a JSON string, the form a binary snapshot carries")
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

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let raw = Box::<RawValue>::deserialize(deserializer)?;
            Ok(Raw(Cow::Owned(Box::<str>::from(raw).into())))
        } else {
            Text::deserialize(deserializer).map(|Text(text)| Raw(text))
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

/// Builds the store and checks the revision against its jobs.
fn finish<E: de::Error>(revision: u64, builder: Builder) -> Result<JobStore, E> {
    let mut store = builder
        .finish()
        .map_err(|(pos, why)| refused(pos + 1, &why))?;
    // No store makes 2^63 changes; a larger revision could only overflow
    // the next one.
    if revision > i64::MAX as u64 {
        return Err(E::custom(format_args!(
            "snapshot revision {revision} is beyond any a store can reach (2^63 - 1)"
        )));
    }
    if revision < store.len() as u64 {
        return Err(E::custom(format_args!(
            "snapshot revision {revision} is below the {} jobs it holds",
            store.len()
        )));
    }
    store.revision = revision;
    Ok(store)
}

/// The refusal of the snapshot's `at`-th job (from 1).
fn refused<E: de::Error>(at: usize, why: &dyn fmt::Display) -> E {
    E::custom(format_args!("snapshot job {at}: {why}"))
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
        // Once the jobs are read, a repeated id among them is reported
        // before whatever else is wrong after them.
        let first = |builder: &Option<Builder>, err: A::Error| match builder
            .as_ref()
            .and_then(Builder::earlier_repeat)
        {
            Some((pos, repeat)) => refused(pos + 1, &repeat),
            None => err,
        };
        loop {
            let field = match map.next_key() {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(err) => return Err(first(&builder, err)),
            };
            let read = match field {
                Field::Revision if revision.is_none() => {
                    map.next_value().map(|read| revision = Some(read))
                }
                Field::Jobs if builder.is_none() => map
                    .next_value_seed(JobsSeed)
                    .map(|read| builder = Some(read)),
                Field::Revision => Err(de::Error::duplicate_field("revision")),
                Field::Jobs => Err(de::Error::duplicate_field("jobs")),
            };
            read.map_err(|err| first(&builder, err))?;
        }
        let Some(revision) = revision else {
            return Err(first(&builder, de::Error::missing_field("revision")));
        };
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
        let mut kinds = IndexMap::new();
        loop {
            // The first job, in order, that cannot go in: an id repeated
            // before this job is only found when asked.
            let fail = |builder: &Builder, why: &dyn fmt::Display| match builder.earlier_repeat() {
                Some((pos, repeat)) => refused(pos + 1, &repeat),
                None => refused(builder.len() + 1, why),
            };
            let stored = match seq.next_element::<StoredIn<'_>>() {
                Ok(Some(stored)) => stored,
                Ok(None) => return Ok(builder),
                Err(err) => return Err(fail(&builder, &err)),
            };
            let checked = stored
                .check(&mut kinds)
                .map_err(|why| fail(&builder, &why))?;
            builder
                .push_checked(&checked)
                .map_err(|err| fail(&builder, &err))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_resources_reader_takes_only_the_written_form() {
        let taken: [(&str, &[&str]); 4] = [
            ("{}", &[]),
            (r#"{"a":[]}"#, &[]),
            (r#"{"a":["x","y"],"b":[],"c":["x"]}"#, &["x", "y", "x"]),
            (r#"{"é":["ü"]}"#, &["ü"]),
        ];
        for (text, ids) in taken {
            assert_eq!(listed_ids(text).as_deref(), Some(ids), "{text}");
        }
        let many: Vec<String> = (0..17).map(|i| format!(r#""k{i}":["x"]"#)).collect();
        let many = format!("{{{}}}", many.join(","));
        for text in [
            r#"{"a":["x"],"a":["y"]}"#,
            r#"{"a":["x"]}x"#,
            r#"{"a":["x",]}"#,
            r#"{"a":["x"],}"#,
            r#"{ "a":["x"]}"#,
            r#"{"a":["x\"y"]}"#,
            "{\"a\":[\"\u{1}\"]}",
            r#"{"a":[1]}"#,
            r#"{"a":"x"}"#,
            "{}x",
            "",
            &many,
        ] {
            assert_eq!(listed_ids(text), None, "{text}");
        }
    }

    #[test]
    fn a_binary_directive_must_be_escaped() {
        assert!(binary_directive(r#"{\"a\":\u001f}"#.into()).is_ok());
        for bad in [r#"{"a":1}"#, r#"\/"#, r#"\u0041"#, "\\", "\u{1}"] {
            assert_eq!(
                binary_directive(bad.into()).err(),
                Some(
                    "directive: not escaped as inside a JSON string, \
                     the form a binary snapshot carries"
                ),
                "{bad}"
            );
        }
    }
}
