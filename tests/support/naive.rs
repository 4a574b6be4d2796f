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
    for id in query.job_ids() {
        let seen = jobs.iter().any(|job| &job.job_id == id && in_view(job));
        if !seen && !missing.contains(id) {
            missing.push(id.clone());
        }
    }
    if !missing.is_empty() {
        return Err(ErrorKind::JobsNotFound { job_ids: missing });
    }
    let statuses: Vec<_> = query.statuses().collect();
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
        .map(|(i, job)| {
            let time = match query.sort_key() {
                SortKey::CreateTime => job.create_time,
                SortKey::StatusTime => job.status_time,
            };
            (time, i, job)
        })
        .collect();
    hits.sort_by_key(|&(time, i, _)| (time, i));
    if query.order() == Order::NewestFirst {
        hits.reverse();
    }
    let total = hits.len() as u64;
    let page = hits
        .into_iter()
        .skip(usize::try_from(query.offset()).unwrap_or(usize::MAX))
        .take(query.page_limit() as usize)
        .map(|(_, _, job)| job)
        .collect();
    Ok((total, page))
}
