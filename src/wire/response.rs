//! The answer on the wire: the success JSON and the failure JSON.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer, ser::Error as _, ser::SerializeStruct};
use serde_json::value::RawValue;

use crate::chars::push_json_escaped;
use crate::error::Error;
use crate::extras::raw_json;
use crate::status::Status;
use crate::store::{JobRef, Page, RESOURCE_IDS_KEY};
use crate::time::{Stamp, StampWriter, timestamp};

/// The `action` of a success answer.
pub(crate) const RESPONSE_ACTION: &str = "DescribeClusterJobsResponse";

/// A stored job is written as one element of `job_set`: the fields in the
/// order of the API page's example, no `app` (the query names it already),
/// times as `YYYY-MM-DDThh:mm:ssZ`, and `resources` and `extras` as the JSON
/// objects they are.
impl Serialize for JobRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = |json| {
            raw_json(json).map_err(|err| {
                S::Error::custom(format_args!("stored JSON of job {}: {err}", self.job_id()))
            })
        };
        let mut out = serializer.serialize_struct("JobElement", 11)?;
        out.serialize_field("status", &self.status())?;
        out.serialize_field("job_id", self.job_id())?;
        out.serialize_field("directive", &self.directive())?;
        out.serialize_field("job_action", self.job_action())?;
        out.serialize_field("create_time", &Stamp(self.create_time()))?;
        out.serialize_field("owner", self.owner())?;
        out.serialize_field("status_time", &Stamp(self.status_time()))?;
        out.serialize_field("error_codes", self.error_codes())?;
        out.serialize_field("resource_ids", self.resource_ids())?;
        out.serialize_field("resources", raw(self.resources_json())?)?;
        out.serialize_field("extras", raw(self.extras_json())?)?;
        out.end()
    }
}

/// A page as `describe_json` answers it: byte for byte what [`Page`]'s
/// `Serialize` writes through serde_json, but written by hand into a
/// string sized for the answer (when nothing needs escaping), copying what
/// the store keeps in its wire form (the escaped directive, the compact
/// JSON of `resources` and `extras`; ids and names as they are unless the
/// store marked them as needing escapes) and each time as its remembered
/// date and hour plus `mm:ssZ` from a table. The test
/// `the_written_page_is_serde_jsons` holds the two together.
pub(crate) fn page_json(page: &Page<'_>) -> String {
    let jobs = page.jobs();
    // An element's keys, punctuation, status and times take at most 210
    // bytes, 43 of which the store keeps in the record's text: with
    // nothing to escape, the answer fits without growing.
    let size: usize = jobs.iter().map(|job| 170 + job.text_len()).sum();
    let mut out = String::with_capacity(size + 96);
    out.push_str(r#"{"action":""#);
    out.push_str(RESPONSE_ACTION);
    out.push_str(r#"","total_count":"#);
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", page.total_count());
    out.push_str(r#","job_set":["#);
    let mut stamps = [StampWriter::default(), StampWriter::default()];
    for (n, job) in jobs.iter().enumerate() {
        push_job(&mut out, job, OPENINGS[usize::from(n > 0)], &mut stamps);
    }
    out.push_str(r#"],"ret_code":0}"#);
    out
}

/// How much room an element's opening takes at most.
const OPENING_ROOM: usize = 40;

/// The opening of a `job_set` element up to its job id,
/// `{"status":"…","job_id":"`, for each status (by [`Status::index`]):
/// first for the first element, then with the `,` that goes before any
/// other. Joined when compiling, from [`Status::as_str`].
static OPENING_BYTES: [[([u8; OPENING_ROOM], usize); 4]; 2] = {
    let mut all = [[([0; OPENING_ROOM], 0); 4]; 2];
    let mut later = 0;
    while later < 2 {
        let mut s = 0;
        while s < Status::ALL.len() {
            let before = if later == 0 { "" } else { "," };
            let parts = [
                before,
                r#"{"status":""#,
                Status::ALL[s].as_str(),
                r#"","job_id":""#,
            ];
            let (bytes, len) = &mut all[later][s];
            let mut p = 0;
            while p < parts.len() {
                let part = parts[p].as_bytes();
                let mut b = 0;
                while b < part.len() {
                    bytes[*len] = part[b];
                    *len += 1;
                    b += 1;
                }
                p += 1;
            }
            s += 1;
        }
        later += 1;
    }
    all
};

/// [`OPENING_BYTES`] as text.
static OPENINGS: [[&str; 4]; 2] = {
    let mut all = [[""; 4]; 2];
    let mut later = 0;
    while later < 2 {
        let mut s = 0;
        while s < Status::ALL.len() {
            // Read by `Status::index`.
            assert!(Status::ALL[s] as usize == s);
            let (bytes, len) = &OPENING_BYTES[later][s];
            all[later][s] = match std::str::from_utf8(bytes.split_at(*len).0) {
                Ok(text) => text,
                Err(_) => panic!("the openings are ASCII"),
            };
            s += 1;
        }
        later += 1;
    }
    all
};

/// One element of `job_set`, as [`JobRef`]'s `Serialize` writes it, after
/// its opening (one of [`OPENINGS`]), with a writer for each of its two
/// times.
#[inline]
fn push_job(
    out: &mut String,
    job: &JobRef<'_>,
    openings: [&str; 4],
    stamps: &mut [StampWriter; 2],
) {
    // Ids and names almost never hold what JSON escapes; the store knows.
    let plain = job.is_plain();
    let text = |out: &mut String, text: &str| push_text(out, text, plain);
    let (create_time, status_time) = job.nanos();
    let parts = job.text_parts();
    out.push_str(openings[job.status().index()]);
    text(out, parts.job_id());
    out.push_str(r#"","directive":""#);
    out.push_str(parts.directive_json());
    out.push_str(r#"","job_action":""#);
    text(out, job.job_action());
    out.push_str(r#"","create_time":""#);
    stamps[0].push(out, create_time);
    out.push_str(r#"","owner":""#);
    text(out, job.owner());
    out.push_str(r#"","status_time":""#);
    stamps[1].push(out, status_time);
    out.push_str(r#"","error_codes":""#);
    if plain {
        // The store keeps the rest of the element as the answer writes it.
        out.push_str(parts.error_codes_on());
    } else {
        push_json_escaped(out, parts.error_codes());
        out.push_str(RESOURCE_IDS_KEY);
        push_json_escaped(out, parts.resource_ids());
        out.push_str(parts.after_resource_ids());
    }
}

/// Appends `text` inside a JSON string: as it is when it is `plain`.
#[inline(always)]
fn push_text(out: &mut String, text: &str, plain: bool) {
    if plain {
        out.push_str(text);
    } else {
        push_json_escaped(out, text);
    }
}

/// A page is written as the success answer of `DescribeClusterJobs`:
/// `{"action":"DescribeClusterJobsResponse","total_count":…,"job_set":[…],"ret_code":0}`.
impl Serialize for Page<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Response", 4)?;
        out.serialize_field("action", RESPONSE_ACTION)?;
        out.serialize_field("total_count", &self.total_count())?;
        out.serialize_field("job_set", self.jobs())?;
        out.serialize_field("ret_code", &0)?;
        out.end()
    }
}

/// One element of `job_set` read back from an answer: a job as the API
/// shows it, fields in the order of the API page's example.
///
/// A stored job is written by [`JobRef`]'s `Serialize`; this type is for
/// the other side of the wire (a client, a test, a peer engine writing
/// the same shape). It borrows what it can from its input; `resources` and
/// `extras` are kept as raw JSON, exactly as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobElement<'a> {
    /// `pending`, `working`, `failed` or `successful`.
    pub status: Status,
    /// The job id.
    #[serde(borrow)]
    pub job_id: Cow<'a, str>,
    /// The action's request, an opaque string.
    #[serde(borrow)]
    pub directive: Cow<'a, str>,
    /// The API action that started the job.
    #[serde(borrow)]
    pub job_action: Cow<'a, str>,
    /// When the job was created, written `YYYY-MM-DDThh:mm:ssZ`.
    #[serde(with = "timestamp")]
    pub create_time: DateTime<Utc>,
    /// The user id that triggered the job.
    #[serde(borrow)]
    pub owner: Cow<'a, str>,
    /// When the status last changed, written `YYYY-MM-DDThh:mm:ssZ`.
    #[serde(with = "timestamp")]
    pub status_time: DateTime<Utc>,
    /// Empty unless the job failed.
    #[serde(borrow)]
    pub error_codes: Cow<'a, str>,
    /// Resource ids separated by one space.
    #[serde(borrow)]
    pub resource_ids: Cow<'a, str>,
    /// Resource ids by kind as a JSON object, key order kept.
    pub resources: Cow<'a, RawValue>,
    /// A free-form JSON object, key order kept.
    pub extras: Cow<'a, RawValue>,
}

/// A success answer of `DescribeClusterJobs` read back:
/// `{"action":"DescribeClusterJobsResponse","total_count":…,"job_set":[…],"ret_code":0}`.
///
/// [`Page`] writes this shape; this type reads it (and writes it again).
///
/// ```
/// use joblog::{Caller, Job, JobStore, Response, Status};
///
/// let mut store = JobStore::new();
/// let at = "2018-03-04T05:37:58Z".parse()?;
/// store.insert(Job::new("j-1", "app-1", "usr-1", "RunJob", Status::Pending, at))?;
/// let page = store.describe_request(&Caller::user("usr-1"), "app=app-1")?;
/// let json = serde_json::to_string(&page)?;
/// assert!(json.starts_with(r#"{"action":"DescribeClusterJobsResponse","total_count":1,"#));
/// let back: Response = serde_json::from_str(&json)?;
/// assert_eq!(back.job_set[0].job_id, "j-1");
/// assert_eq!(serde_json::to_string(&back)?, json);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response<'a> {
    /// Always `DescribeClusterJobsResponse`.
    #[serde(borrow)]
    pub action: Cow<'a, str>,
    /// How many jobs match, whatever `offset` and `limit` are.
    pub total_count: u64,
    /// The page.
    #[serde(borrow)]
    pub job_set: Vec<JobElement<'a>>,
    /// Always 0.
    pub ret_code: u32,
}

/// A failure answer as the wire shows it: `{"ret_code":…,"message":"…"}`.
///
/// An [`Error`] serializes to the same JSON; this type reads it back.
///
/// ```
/// use joblog::{Caller, ErrorResponse, JobStore};
///
/// let store = JobStore::new();
/// let err = store.describe_request(&Caller::user("usr-1"), "limit=5").unwrap_err();
/// let json = serde_json::to_string(&err)?;
/// assert_eq!(json, r#"{"ret_code":1100,"message":"ParameterError, missing required parameter [app]"}"#);
/// let back: ErrorResponse = serde_json::from_str(&json)?;
/// assert_eq!(back, ErrorResponse::from(&err));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorResponse {
    /// The API's error code: 1100, 1400, 2100, …
    pub ret_code: u32,
    /// The error's words, starting with the code's prefix.
    pub message: String,
}

impl From<&Error> for ErrorResponse {
    fn from(err: &Error) -> ErrorResponse {
        ErrorResponse {
            ret_code: err.ret_code(),
            message: err.to_string(),
        }
    }
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Error", 2)?;
        out.serialize_field("ret_code", &self.ret_code())?;
        out.serialize_field("message", &self.to_string())?;
        out.end()
    }
}
