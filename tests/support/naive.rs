//! The plain, obviously-right model of `DescribeClusterJobs`: the jobs in
//! insertion order, filtered, sorted, skipped and taken per query.
//!
//! The property tests compare the engine with it, and the benchmarks time
//! it as the `naive` peer, so both hold the engine to the same model. It
//! reads the query only through `Query`'s getters.

// Shared by the tests (a private module) and the bench crate (exported).
#![allow(dead_code, unreachable_pub)]

use joblog::{Caller, ErrorKind, Job, Order, Query, SortKey};

/// Whether the job involves resource `id`: a word of `resource_ids` or an
/// id in any list of `resources`.
pub fn involves(job: &Job, id: &str) -> bool {
    job.resource_ids.split(' ').any(|word| word == id)
        || job.resources.values().flatten().any(|listed| listed == id)
}

/// Answers `query` for `caller` over `jobs` (in insertion order): the
/// `total_count` and the page, or the kind of refusal (1400 for another
/// owner, then 2100 for ids not in view).
pub fn describe<'a>(
    jobs: &'a [Job],
    caller: &Caller,
    query: &Query,
) -> Result<(u64, Vec<&'a Job>), ErrorKind> {
    if let (Some(start), Some(end)) = (query.start_time(), query.end_time())
        && start >= end
    {
        let text = |time: joblog::chrono::DateTime<joblog::chrono::Utc>| {
            time.to_rfc3339_opts(joblog::chrono::SecondsFormat::AutoSi, true)
        };
        return Err(ErrorKind::InvalidParameter {
            parameter: "start_time".to_owned(),
            value: text(start),
            reason: format!("must be before end_time ({})", text(end)),
        });
    }
    if let Some(owner) = query.owner()
        && !caller.is_admin()
        && owner != caller.user_id()
    {
        return Err(ErrorKind::PermissionDenied {
            caller: caller.user_id().to_owned(),
            owner: owner.to_owned(),
        });
    }
    let in_view = |job: &Job| {
        job.app == query.app()
            && match query.owner() {
                Some(owner) => job.owner == owner,
                None => caller.is_admin() || job.owner == caller.user_id(),
            }
    };
    let mut missing: Vec<String> = Vec::new();
    for id in query
        .job_ids()
        .iter()
        .map(String::as_str)
        .chain(query.after())
    {
        let seen = jobs.iter().any(|job| job.job_id == id && in_view(job));
        if !seen && !missing.iter().any(|named| named == id) {
            missing.push(id.to_owned());
        }
    }
    if !missing.is_empty() {
        return Err(ErrorKind::JobsNotFound { job_ids: missing });
    }
    let statuses: Vec<_> = query.statuses().collect();
    let sort_time = |job: &Job| match query.sort_key() {
        SortKey::CreateTime => job.create_time,
        SortKey::StatusTime => job.status_time,
    };
    let mut hits: Vec<(_, usize, &Job)> = jobs
        .iter()
        .enumerate()
        .filter(|(_, job)| in_view(job))
        .filter(|(_, job)| query.job_ids().is_empty() || query.job_ids().contains(&job.job_id))
        .filter(|(_, job)| statuses.is_empty() || statuses.contains(&job.status))
        .filter(|(_, job)| {
            query
                .job_action()
                .is_none_or(|action| job.job_action == action)
        })
        .filter(|(_, job)| query.cluster().is_none_or(|id| involves(job, id)))
        .filter(|(_, job)| {
            query
                .start_time()
                .is_none_or(|start| sort_time(job) >= start)
        })
        .filter(|(_, job)| query.end_time().is_none_or(|end| sort_time(job) < end))
        .map(|(i, job)| (sort_time(job), i, job))
        .collect();
    hits.sort_by_key(|&(time, i, _)| (time, i));
    if query.order() == Order::NewestFirst {
        hits.reverse();
    }
    let total = hits.len() as u64;
    // `after`: the page starts right after that job in this order (it
    // need not be among the hits: compare its place in the order).
    if let Some(after) = query.after() {
        let (i, job) = jobs
            .iter()
            .enumerate()
            .find(|(_, job)| job.job_id == after)
            .expect("checked in view above");
        let key = (sort_time(job), i);
        let newest_first = query.order() == Order::NewestFirst;
        hits.retain(|&(time, j, _)| {
            if newest_first {
                (time, j) < key
            } else {
                (time, j) > key
            }
        });
    }
    let page = hits
        .into_iter()
        .skip(usize::try_from(query.offset()).unwrap_or(usize::MAX))
        .take(query.page_limit() as usize)
        .map(|(_, _, job)| job)
        .collect();
    Ok((total, page))
}
