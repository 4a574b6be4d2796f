//! `joblog` is an in-memory engine for cluster operation logs ("jobs") that
//! answers QingCloud's AppCenter API call [`DescribeClusterJobs`][api].
//!
//! [api]: https://docsv3em.qingcloud.com/development_docs/api/command_list/appcenter2/cloud/describe_cluster_jobs
//!
//! A control plane records a [`Job`] whenever an action runs on a cluster,
//! moves it through its lifecycle (`pending → working → successful |
//! failed`), and serves its users' questions — jobs of an app, by id, by
//! status, with a `total_count` and offset/limit pages — from a
//! [`JobStore`]. The library does no I/O and reads no clock: every time
//! comes in as an argument.
//!
//! ```
//! use joblog::{Caller, Job, JobStore, Query, Status};
//! use joblog::chrono::{DateTime, Duration, Utc};
//!
//! let mut store = JobStore::new();
//! let t0: DateTime<Utc> = "2018-03-04T05:37:58Z".parse()?;
//! for i in 0..30 {
//!     let created = t0 + Duration::seconds(i);
//!     let owner = if i % 3 == 0 { "usr-bob" } else { "usr-ann" };
//!     let job = Job::new(format!("j-{i:02}"), "app-tg3lbp0a", owner, "StartClusters",
//!                        Status::Pending, created);
//!     store.insert(job)?;
//! }
//! store.set_status("j-29", Status::Working, t0 + Duration::seconds(40))?;
//! store.fail("j-28", t0 + Duration::seconds(41), "1400")?;
//!
//! // Ann sees her own jobs only: 20 of the 30, newest first.
//! let ann = Caller::user("usr-ann");
//! let query = Query::builder("app-tg3lbp0a").status(Status::Pending).limit(3).build();
//! let page = store.describe(&ann, &query)?;
//! assert_eq!(page.total_count(), 18);
//! let ids: Vec<&str> = page.jobs().iter().map(|job| job.job_id()).collect();
//! assert_eq!(ids, ["j-26", "j-25", "j-23"]);
//!
//! // An administrator sees every job of the app.
//! let admin = Caller::admin("usr-root");
//! let page = store.describe(&admin, &Query::builder("app-tg3lbp0a").limit(0).build())?;
//! assert_eq!(page.total_count(), 30);
//! assert!(page.jobs().is_empty()); // limit 0: only the count
//!
//! // The same question on the wire: a request string in, the API's JSON out.
//! let json = store.describe_json(&ann, "app=app-tg3lbp0a&status.1=working");
//! assert!(json.starts_with(r#"{"action":"DescribeClusterJobsResponse","total_count":1,"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The crate
//!
//! One concept per file, and imports that run one way (down this list,
//! never back up; a child of `store/` adds an `impl JobStore` block of its
//! own, as `wire/mod.rs` does):
//! `chars.rs` the character classes ids refuse, and JSON string escaping
//! (counted, and its escaped form checked, 32 bytes at a time in loops
//! the compiler turns into vector compares; escaped a word at a time,
//! its length known before it is written);
//! `status.rs` holds [`Status`] (and the status sets the indexes count);
//! `time.rs` the wire time format ([`parse_timestamp`],
//! [`format_timestamp`], the serde helpers in [`timestamp`]) and times as
//! index keys (nanoseconds since the epoch);
//! `error.rs` the one [`Error`] and its [`ErrorKind`]; `extras.rs` a
//! job's free-form JSON object kept as written ([`Extras`]); `job.rs` the
//! record a control plane inserts ([`Job`]) and its rules
//! ([`Job::validate`]); `query.rs` who asks ([`Caller`]) and what
//! ([`Query`], built by [`QueryBuilder`], ordered by [`SortKey`] and
//! [`Order`]) with the table of wire parameter names; `event.rs` the
//! change events a store makes and replays ([`Event`], [`Change`]);
//! `store/` the [`JobStore`] (`store/mod.rs`: insert, status changes,
//! retention, the revision) with its private parts as child modules:
//! `record.rs` packs a stored job and reads it as a [`JobRef`], `slots.rs`
//! keeps the records by position (positions never reused), `ids.rs` finds
//! a position by job id, `head.rs` keeps a name's first bytes beside it in
//! a hash table (and a build's cache of names seen lately), `ordered.rs`
//! is the ordered list behind every count and page, `index.rs` what is
//! indexed per app, `plan.rs` answers a [`Query`] ([`JobStore::describe`])
//! as a [`Page`] by one of four plans and says which
//! ([`JobStore::explain`], [`Plan`], [`Access`]), `events.rs` is write-ahead and replay
//! ([`JobStore::prepare`], [`JobStore::apply`]), `build.rs` builds a store
//! whole ([`JobStore::from_jobs`]), and `snapshot.rs` is its serde form;
//! `wire/` answers request strings ([`JobStore::describe_request`] and
//! [`JobStore::describe_json`] in `mod.rs`), turns a request string into a
//! [`Query`] and back (`request.rs`: `FromStr`, `Display`, serde), and
//! writes answers as the API's JSON (`response.rs`, with [`Response`],
//! [`JobElement`] and [`ErrorResponse`] to read answers back);
//! `signature.rs`, behind the optional `signature` feature, checks
//! QingCloud's API signature version 1 (`joblog::signature`).
//!
//! # The request
//!
//! [`JobStore::describe_json`] (and [`JobStore::describe_request`], and
//! [`Query`]'s `FromStr`) read the request as an
//! `application/x-www-form-urlencoded` string: a GET's query string or a
//! POST's body. `+` is a space and `%XX` escapes are bytes of UTF-8 (a
//! known parameter whose bytes are not UTF-8 is refused, so it can never
//! alias a stored id). Lists are sent `name.1=…&name.2=…`, as the
//! official SDKs do, or once without a suffix (`status=pending`, as the
//! official Python SDK sends it); their values are taken in index order,
//! the unsuffixed one first. The API's common parameters (`zone`,
//! `access_key_id`, `signature`, `time_stamp`, …) and every other unknown
//! parameter are ignored.
//!
//! The parameters of the `DescribeClusterJobs` API page, then this crate's
//! extensions (marked *extension*):
//!
//! | parameter | type | rule |
//! | --- | --- | --- |
//! | `action` | string | optional; if present, `DescribeClusterJobs` |
//! | `app` | string | **required**, non-empty |
//! | `jobs.n` | string list | only these job ids; an id not in the caller's view fails the call with 2100 |
//! | `status.n` | string list | `pending`, `working`, `failed`, `successful` (exact, lower case) |
//! | `verbose` | integer | only `0` |
//! | `offset` | integer | ≥ 0, default 0 |
//! | `limit` | integer | ≥ 0, default 20; above 100 is served as 100; 0 returns only `total_count` |
//! | `job_action` | string | *extension* (from `DescribeJobs`): only jobs started by this action |
//! | `owner` | string | *extension*: only jobs of this owner; a non-administrator may only name itself |
//! | `cluster` | string | *extension* (from the Python SDK's `describe_cluster_jobs`): only jobs involving this resource id, in `resource_ids` or in any list of `resources` |
//! | `sort_key` | string | *extension*: `create_time` (default) or `status_time` |
//! | `reverse` | integer | *extension*: `1` (default) newest first, `0` oldest first |
//! | `after` | string | *extension*: a job id; the page starts right after that job in the order asked for, then `offset` applies; the job must be in the caller's view of the app (else 2100) but need not meet the other filters; `total_count` is unchanged |
//! | `start_time` | timestamp | *extension*: RFC 3339; only jobs whose `sort_key` time is at or after it |
//! | `end_time` | timestamp | *extension*: RFC 3339; only jobs whose `sort_key` time is before it; `start_time` must be before `end_time` (else 1100) |
//!
//! A scalar given twice, a scalar sent with a list suffix (`owner.1`,
//! `limit.1`: ignoring it would silently widen the answer), an empty
//! value, a list suffix that is not a positive decimal integer without
//! leading zeros (`jobs.0`, `jobs.x`, `jobs.`, `jobs.01`), and an integer
//! that is not decimal or does not fit in 64 bits are errors (1100, naming
//! the parameter as sent).
//!
//! # The answer
//!
//! The scope is the jobs of `app` the caller triggered; an administrator
//! ([`Caller::admin`]) sees every job of the app, narrowed by `owner` if
//! given. A job outside the scope answers exactly as a job that does not
//! exist. A job is kept when it meets every filter given (a list filter is
//! met by any one of its values); `total_count` counts the kept jobs
//! whatever `offset` and `limit` are; they are ordered by the `sort_key`
//! time, newest first, jobs with equal times by insertion, the later
//! first (`reverse=0` is exactly the opposite order); the page skips
//! `offset` of them and holds up to `limit`. An `offset` past the end
//! answers an empty `job_set` with the full `total_count`.
//!
//! # Errors
//!
//! A failure is answered as every QingCloud API does, `{"ret_code":…,
//! "message":"…"}`, the message starting with the code's name:
//!
//! | `ret_code` | message starts with | when |
//! | --- | --- | --- |
//! | 1100 | `ParameterError, ` | a parameter is missing, empty, given twice, malformed, out of range or not supported; a record or status change breaks a rule |
//! | 1400 | `PermissionDenied, ` | a non-administrator names another `owner`; a status change the lifecycle forbids |
//! | 2100 | `ResourceNotFound, ` | `jobs.n` names ids not in the caller's view (all are listed); a status change of an unknown job |
//! | 2500 | `QuotaExceeded, ` | the store is full ([`JobStore::with_max_jobs`]) |
//!
//! When a request has several faults the first kind in this order is
//! reported: 1100 (the first fault in request order, a missing `app` after
//! every other), then 1400, then 2100. Values quoted in a message are cut
//! to 64 characters.
//!
//! # Decisions the API page leaves open
//!
//! - Timestamps must lie between 1677-09-21T00:12:43.145224192Z and
//!   2262-04-11T23:47:16.854775807Z, the range of a 64-bit nanosecond
//!   count (which keeps index keys small); others are refused.
//! - `resource_ids` must be empty or ids separated by exactly one space,
//!   and ids in `resources` follow the rules of job ids, so the `cluster`
//!   filter can find every resource.
//! - A query for an app that has no jobs is not an error: it answers
//!   `total_count` 0 (the app may exist and have no jobs yet). `jobs.n` on
//!   such an app fails with 2100, as any id not in scope does.
//! - Store refusals carry the nearest API code: a bad record, a duplicate id
//!   or a back-dated change 1100, a move the lifecycle forbids 1400 (the
//!   job is in a state that cannot change that way), an unknown id 2100, a
//!   full store 2500.
//! - A repeated `fail` keeps the first `error_codes`.
//! - A leap second is accepted only as `23:59:60` UTC and kept as the
//!   second after it, since the store counts nanoseconds since the epoch;
//!   [`parse_timestamp`] reads it that way, so a parsed record reads back
//!   unchanged. A second 60 anywhere else is refused, and so is a
//!   `DateTime` that holds a leap second (chrono allows one at any
//!   minute's end) in a record or a status change.
//! - A job record must be a JSON object; the positional (array) form serde
//!   would otherwise accept is refused.
//! - Revisions and events (SPEC §9): a no-op (the status a job already
//!   has, a repeated `fail`, a prune that drops nothing) is no change, so it
//!   makes no event and leaves the revision; a store built by
//!   [`JobStore::from_jobs`] is at revision *n* for *n* jobs, as if they had
//!   been inserted one by one. [`JobStore::apply`]'s refusals (a gap, a
//!   divergence) are `InternalError` (5000): the embedder's log and store
//!   disagree, which no API caller can cause. A snapshot does not carry the
//!   quota of [`JobStore::with_max_jobs`]: that is the embedder's setting.
//! - Retention in bounded steps: [`JobStore::prune_finished_at_most`] drops
//!   at most `limit` jobs, the oldest finished first by `status_time` and
//!   then insertion order (across apps, so the order is the same on every
//!   replica), and its event records `limit`. A step that drops nothing is
//!   no change. Positions (insertion sequence numbers) are never reused, so
//!   a step moves no other job. When 2^30 positions have been handed out
//!   the store renumbers itself, in the insert that runs out (a pause
//!   linear in its size, with no change to any answer); it holds at most
//!   2^29 jobs ([`JobStore::MAX_JOBS`]), so that happens at most once every
//!   2^29 inserts. [`JobStore::shrink_to_fit`] does the same on demand to
//!   give spare room back, including the 32 bytes per 256 positions that
//!   emptied slot chunks behind the oldest job held still cost.
//! - `extras` is kept as the JSON text it was written in ([`Extras`]):
//!   numbers and key order read back exactly; it nests at most
//!   [`MAX_EXTRAS_DEPTH`] levels. A key named twice in one object of
//!   `extras`, or a kind named twice in `resources`, is refused (1100,
//!   quoting the key) rather than resolved by keeping one.

#![forbid(unsafe_code)]

mod chars;
mod error;
mod event;
mod extras;
mod job;
mod query;
#[cfg(feature = "signature")]
pub mod signature;
mod status;
mod store;
mod time;
mod wire;

pub use crate::error::{Divergence, Error, ErrorKind};
pub use crate::event::{Change, Event};
pub use crate::extras::{Extras, MAX_EXTRAS_DEPTH};
pub use crate::job::{Job, MAX_LONG_FIELD, MAX_RESOURCES, MAX_SHORT_FIELD};
pub use crate::query::{Caller, Order, ParseSortKeyError, Query, QueryBuilder, SortKey};
pub use crate::status::{ParseStatusError, Status};
pub use crate::store::{Access, Applied, JobRef, JobStore, Page, Plan, PlanIndex};
pub use crate::time::{ParseTimestampError, format_timestamp, parse_timestamp, timestamp};
pub use crate::wire::{ErrorResponse, JobElement, Response};

/// The date and time crate of the public API ([`Job`]'s times, the
/// arguments of [`JobStore::set_status`]), re-exported so callers use the
/// same version.
pub use chrono;

/// The README's snippets, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn store_is_send_and_sync() {
        assert_send_sync::<JobStore>();
        assert_send_sync::<Error>();
    }
}
