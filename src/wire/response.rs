//! The answer on the wire: the success JSON and the failure JSON.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer, ser::SerializeStruct};
use serde_json::value::RawValue;

use crate::error::Error;
use crate::job::{Job, Status, timestamp};
use crate::plan::Page;
use crate::record::JobRef;

/// The `action` of a success answer.
pub(crate) const RESPONSE_ACTION: &str = "DescribeClusterJobsResponse";

/// One element of `job_set`: a job as the API shows it (no `app`: the
/// query names it already), fields in the order of the API page's example.
///
/// Made from a stored job ([`JobRef`]) it borrows every field, so writing
/// an answer copies nothing; deserialized, it borrows what it can from the
/// input. `resources` and `extras` are kept as raw JSON, exactly as
/// written; [`JobRef::resources`] and [`JobRef::extras`] read them typed.
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

/// Stored JSON as a raw value. The store wrote it, so it is valid; an
/// empty object stands in should it ever not be.
fn raw(json: &str) -> Cow<'_, RawValue> {
    match serde_json::from_str::<&RawValue>(json) {
        Ok(raw) => Cow::Borrowed(raw),
        Err(_) => Cow::Owned(owned_raw("{}")),
    }
}

fn to_raw<T: Serialize>(value: &T) -> Cow<'static, RawValue> {
    Cow::Owned(owned_raw(&serde_json::to_string(value).unwrap_or_default()))
}

fn owned_raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap_or_default()
}

impl<'a> From<JobRef<'a>> for JobElement<'a> {
    fn from(job: JobRef<'a>) -> JobElement<'a> {
        JobElement {
            status: job.status(),
            job_id: Cow::Borrowed(job.job_id()),
            directive: Cow::Borrowed(job.directive()),
            job_action: Cow::Borrowed(job.job_action()),
            create_time: job.create_time(),
            owner: Cow::Borrowed(job.owner()),
            status_time: job.status_time(),
            error_codes: Cow::Borrowed(job.error_codes()),
            resource_ids: Cow::Borrowed(job.resource_ids()),
            resources: raw(job.resources_json()),
            extras: raw(job.extras_json()),
        }
    }
}

impl<'a> From<&'a Job> for JobElement<'a> {
    fn from(job: &'a Job) -> JobElement<'a> {
        JobElement {
            status: job.status,
            job_id: Cow::Borrowed(&job.job_id),
            directive: Cow::Borrowed(&job.directive),
            job_action: Cow::Borrowed(&job.job_action),
            create_time: job.create_time,
            owner: Cow::Borrowed(&job.owner),
            status_time: job.status_time,
            error_codes: Cow::Borrowed(&job.error_codes),
            resource_ids: Cow::Borrowed(&job.resource_ids),
            resources: to_raw(&job.resources),
            extras: to_raw(&job.extras),
        }
    }
}

/// A success answer of `DescribeClusterJobs`, as the wire shows it:
/// `{"action":"DescribeClusterJobsResponse","total_count":…,"job_set":[…],"ret_code":0}`.
///
/// ```
/// use joblog::{Caller, Job, JobStore, Response, Status};
///
/// let mut store = JobStore::new();
/// let at = "2018-03-04T05:37:58Z".parse()?;
/// store.insert(Job::new("j-1", "app-1", "usr-1", "RunJob", Status::Pending, at))?;
/// let response = store.describe_request(&Caller::user("usr-1"), "app=app-1")?;
/// let json = serde_json::to_string(&response)?;
/// assert!(json.starts_with(r#"{"action":"DescribeClusterJobsResponse","total_count":1,"#));
/// let back: Response = serde_json::from_str(&json)?;
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

impl<'a> From<Page<'a>> for Response<'a> {
    fn from(page: Page<'a>) -> Response<'a> {
        Response {
            action: Cow::Borrowed(RESPONSE_ACTION),
            total_count: page.total_count(),
            job_set: page
                .jobs()
                .iter()
                .map(|&job| JobElement::from(job))
                .collect(),
            ret_code: 0,
        }
    }
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
