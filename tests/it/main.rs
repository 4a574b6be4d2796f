//! Integration tests, compiled as one binary.

#[path = "../support/naive.rs"]
mod naive;

mod concurrency;
mod events;
mod example;
mod hardening;
mod hostile;
mod lifecycle;
mod model;
mod planner;
mod records;
mod snapshots;
mod wire;

use joblog::chrono::{DateTime, Duration, Utc};
use joblog::{Job, Status};

/// How many cases a property runs: `PROPTEST_CASES` when it is set (as
/// proptest's own default does), else the property's own `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

/// A fixed origin for test times.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2018-03-04T05:37:58Z")
        .expect("valid literal")
        .to_utc()
}

/// `t0` plus `seconds`.
pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

/// A valid pending job created `seconds` after `t0`.
pub fn job(id: &str, app: &str, owner: &str, seconds: i64) -> Job {
    Job::new(id, app, owner, "RunJob", Status::Pending, at(seconds))
}

/// Every stored job, for before/after comparisons.
pub fn dump(store: &joblog::JobStore) -> Vec<Job> {
    store.iter().map(|job| job.to_job()).collect()
}
