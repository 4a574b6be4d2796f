//! `joblog` is an in-memory engine for cluster operation logs ("jobs") that
//! answers the cloud API call `DescribeClusterJobs`.
//!
//! A control plane records a [`Job`] whenever an action runs on a cluster,
//! moves it through its lifecycle (`pending → working → successful |
//! failed`), and serves its users' questions — jobs of an app, by id, by
//! status, with a `total_count` and offset/limit pages — from a
//! [`JobStore`].
//!
//! ```
//! use joblog::{Caller, Job, JobStore, Query, Status};
//!
//! let mut store = JobStore::new();
//! let t0: chrono::DateTime<chrono::Utc> = "2018-03-04T05:37:58Z".parse()?;
//! for i in 0..30 {
//!     let created = t0 + chrono::Duration::seconds(i);
//!     let owner = if i % 3 == 0 { "usr-bob" } else { "usr-ann" };
//!     let job = Job::new(format!("j-{i:02}"), "app-tg3lbp0a", owner, "StartClusters",
//!                        Status::Pending, created);
//!     store.insert(job)?;
//! }
//! store.set_status("j-29", Status::Working, t0 + chrono::Duration::seconds(40))?;
//! store.fail("j-28", t0 + chrono::Duration::seconds(41), "1400")?;
//!
//! // Ann sees her own jobs only: 20 of the 30, newest first.
//! let ann = Caller::user("usr-ann");
//! let page = store.describe(&ann, &Query::new("app-tg3lbp0a").status(Status::Pending).limit(3))?;
//! assert_eq!(page.total_count(), 18);
//! let ids: Vec<&str> = page.jobs().iter().map(|job| job.job_id()).collect();
//! assert_eq!(ids, ["j-26", "j-25", "j-23"]);
//!
//! // An administrator sees every job of the app.
//! let admin = Caller::admin("usr-root");
//! let page = store.describe(&admin, &Query::new("app-tg3lbp0a").limit(0))?;
//! assert_eq!(page.total_count(), 30);
//! assert!(page.jobs().is_empty()); // limit 0: only the count
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The crate
//!
//! - [`Job`] and [`Status`]: the record a control plane inserts, its
//!   lifecycle and its rules ([`Job::validate`]).
//! - [`JobStore`]: insert, [`JobStore::set_status`] / [`JobStore::fail`],
//!   [`JobStore::prune_finished`], and the indexes; stored jobs are read as
//!   [`JobRef`]s.
//! - [`Caller`], [`Query`] and [`SortKey`]: who asks what, typed;
//!   [`JobStore::describe`] plans and answers it as a [`Page`].
//! - The wire: a request string parses into a [`Query`] (`FromStr`) and
//!   prints back (`Display`); [`JobStore::describe_request`] answers it as a
//!   [`Response`] of [`JobElement`]s, [`JobStore::describe_json`] as the
//!   API's JSON; [`ErrorResponse`] reads a failure back.
//! - [`Error`] and [`ErrorKind`]: every refusal, with the API's `ret_code`.
//!
//! # Decisions the API page leaves open
//!
//! - Timestamps must lie between the years 1678 and 2261 (a 64-bit
//!   nanosecond count keeps index keys small); others are refused.
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
//! - A leap second (`…:59:60`) is kept as the second after it, since the
//!   store counts nanoseconds since the epoch; `parse_timestamp` reads it
//!   that way, so a parsed record reads back unchanged.
//! - `extras` nests at most [`MAX_EXTRAS_DEPTH`] levels, far from where
//!   writing or dropping it could exhaust a stack.

#![forbid(unsafe_code)]

mod error;
mod job;
mod ordered;
mod plan;
mod query;
mod record;
mod store;
mod wire;

pub use crate::error::{Error, ErrorKind};
pub use crate::job::{
    Job, MAX_EXTRAS_DEPTH, MAX_LONG_FIELD, MAX_SHORT_FIELD, ParseStatusError, Status,
    format_timestamp, parse_timestamp,
};
pub use crate::plan::Page;
pub use crate::query::{Caller, Query, SortKey};
pub use crate::record::JobRef;
pub use crate::store::JobStore;
pub use crate::wire::{ErrorResponse, JobElement, Response};

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
