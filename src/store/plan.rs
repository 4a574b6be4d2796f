//! The planner: scope, filters, `total_count`, order and page.
//!
//! [`JobStore::describe`] checks the query, resolves the caller's scope and
//! picks one of three plans, each its own function:
//! - **ids** (`jobs.n` given): look each id up; the answer is at most as
//!   long as the list;
//! - **postings** (`job_action` or `cluster` given): start from the smaller
//!   of the app's action and resource lists, filter, and order what is left;
//! - **ordered** (otherwise): the scope's ordered index (the app, or the
//!   app's jobs of one owner) gives `total_count` from its status counts
//!   and the page by rank, so no job outside the page is read and a deep
//!   `offset` costs what the first page does.

use std::collections::HashSet;

use super::JobStore;
use super::index::AppIndex;
use super::ordered::Key;
use super::record::{JobRef, Record, Sym};
use crate::error::{Error, ErrorKind};
use crate::query::{Caller, Order, Query, SortKey};
use crate::status::StatusSet;

/// One answer to a query: how many jobs match, and the page asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<'a> {
    total_count: u64,
    jobs: Vec<JobRef<'a>>,
}

impl<'a> Page<'a> {
    /// How many jobs pass scope and filters, whatever `offset` and `limit`.
    pub fn total_count(&self) -> u64 {
        self.total_count
    }

    /// The jobs of the page, in the order asked for.
    pub fn jobs(&self) -> &[JobRef<'a>] {
        &self.jobs
    }

    fn empty() -> Page<'a> {
        Page {
            total_count: 0,
            jobs: Vec::new(),
        }
    }
}

/// The filters a job must meet, once the query has been checked and its
/// names looked up.
struct Filter<'q> {
    app: &'q AppIndex,
    app_sym: Sym,
    /// `Some(None)`: an owner no job has, so nothing is in scope.
    owner: Option<Option<Sym>>,
    statuses: StatusSet,
    /// `Some(None)`: an action no job has.
    job_action: Option<Option<Sym>>,
    cluster: Option<&'q str>,
}

impl Filter<'_> {
    /// Whether the caller may see the job: it is of the app and, unless
    /// an administrator asked without an owner, of the owner in view.
    fn in_scope(&self, record: &Record) -> bool {
        record.app == self.app_sym && self.owner.is_none_or(|owner| owner == Some(record.owner))
    }

    /// Whether the job is in scope and meets every filter.
    fn matches(&self, pos: u32, record: &Record) -> bool {
        self.in_scope(record)
            && self.statuses.contains(record.status)
            && self
                .job_action
                .is_none_or(|action| action == Some(record.action))
            && self.cluster.is_none_or(|id| self.app.involves(pos, id))
    }
}

impl JobStore {
    /// Answers a `DescribeClusterJobs` query for `caller`.
    ///
    /// The scope is the jobs of the query's app that the caller triggered,
    /// or, for an administrator, every job of the app (narrowed by
    /// [`QueryBuilder::owner`] if given). A job outside the scope is treated as if
    /// it did not exist.
    ///
    /// The plan: with `jobs.n`, each id is looked up; with `job_action` or
    /// `cluster`, the shorter of the app's posting lists is filtered and
    /// ordered; otherwise the scope's ordered index gives `total_count`
    /// from its status counts and the page by rank, so a deep `offset`
    /// costs what the first page does. `total_count` counts the jobs that pass scope and
    /// filters; the page is taken from them in the order asked for.
    ///
    /// [`QueryBuilder::owner`]: crate::QueryBuilder::owner
    ///
    /// # Errors
    ///
    /// - 1100 ([`ErrorKind::InvalidParameter`]): an empty app, job id or
    ///   filter;
    /// - 1400 ([`ErrorKind::PermissionDenied`]): a non-administrator named
    ///   another owner;
    /// - 2100 ([`ErrorKind::JobsNotFound`]): some listed job ids are not in
    ///   the scope, whatever the other filters say; all of them are named.
    ///
    /// ```
    /// use joblog::{Caller, Job, JobStore, Query, Status};
    ///
    /// let mut store = JobStore::new();
    /// use joblog::chrono::{DateTime, Duration, Utc};
    ///
    /// let at: DateTime<Utc> = "2018-03-04T05:37:58Z".parse()?;
    /// for i in 0..5 {
    ///     let created = at + Duration::seconds(i);
    ///     let job = Job::new(format!("j-{i}"), "app-1", "usr-1", "RunJob", Status::Pending, created);
    ///     store.insert(job)?;
    /// }
    /// let page = store.describe(&Caller::user("usr-1"), &Query::builder("app-1").offset(1).limit(2).build())?;
    /// assert_eq!(page.total_count(), 5);
    /// let ids: Vec<&str> = page.jobs().iter().map(|job| job.job_id()).collect();
    /// assert_eq!(ids, ["j-3", "j-2"]); // newest first, after skipping j-4
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: offset past the end
    ///
    /// ```
    /// use joblog::{Caller, Job, JobStore, Query, Status};
    ///
    /// let mut store = JobStore::new();
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// store.insert(Job::new("j-1", "app-1", "usr-1", "RunJob", Status::Pending, at))?;
    /// let page = store.describe(&Caller::admin("root"), &Query::builder("app-1").offset(10).build())?;
    /// assert_eq!(page.total_count(), 1);
    /// assert!(page.jobs().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn describe<'s>(&'s self, caller: &Caller, query: &Query) -> Result<Page<'s>, Error> {
        query.check()?;
        let owner = match query.owner() {
            Some(owner) if !caller.is_admin() && owner != caller.user_id() => {
                return Err(Error::new(ErrorKind::PermissionDenied {
                    caller: caller.user_id().to_owned(),
                    owner: owner.to_owned(),
                }));
            }
            Some(owner) => Some(owner),
            None if caller.is_admin() => None,
            None => Some(caller.user_id()),
        };
        let app = self
            .names
            .get(query.app())
            .and_then(|sym| Some((sym, self.apps.get(&sym)?)));
        let Some((app_sym, app)) = app else {
            // No job of the app exists, so every named id is missing.
            if query.job_ids().is_empty() {
                return Ok(Page::empty());
            }
            return Err(not_found(query.job_ids().iter()));
        };
        let filter = Filter {
            app,
            app_sym,
            owner: owner.map(|owner| self.names.get(owner)),
            statuses: query.status_set(),
            job_action: query.job_action().map(|a| self.names.get(a)),
            cluster: query.cluster(),
        };
        if !query.job_ids().is_empty() {
            return self.plan_ids(&filter, query);
        }
        if filter.job_action.is_some() || filter.cluster.is_some() {
            return Ok(self.plan_postings(&filter, query));
        }
        Ok(self.plan_ordered(&filter, query))
    }

    /// The ordered plan: the scope's ordered index counts and pages by
    /// rank, reading no job outside the page.
    fn plan_ordered<'s>(&'s self, filter: &Filter<'_>, query: &Query) -> Page<'s> {
        let app = filter.app;
        let scope = match filter.owner {
            None => &app.all,
            Some(owner) => match owner.and_then(|owner| app.owners.get(&owner)) {
                Some(scope) => scope,
                None => return Page::empty(),
            },
        };
        let list = scope.list(query.sort_key());
        let limit = query.page_limit() as usize;
        let positions = list.page(filter.statuses, query.order(), query.offset(), limit);
        Page {
            total_count: list.count(filter.statuses) as u64,
            jobs: positions.into_iter().map(|pos| self.job_at(pos)).collect(),
        }
    }

    /// The ids plan: each listed id looked up; all must be in scope.
    fn plan_ids<'s>(&'s self, filter: &Filter<'_>, query: &Query) -> Result<Page<'s>, Error> {
        let mut positions = Vec::with_capacity(query.job_ids().len());
        let mut missing = Vec::new();
        for job_id in query.job_ids() {
            match self.position(job_id) {
                Some(pos) if filter.in_scope(self.record(pos)) => positions.push(pos),
                _ => missing.push(job_id),
            }
        }
        if !missing.is_empty() {
            return Err(not_found(missing.into_iter()));
        }
        positions.sort_unstable();
        positions.dedup();
        Ok(self.order_and_page(positions.into_iter(), filter, query))
    }

    /// The postings plan: the shorter of the action's and the resource's
    /// posting lists, filtered, then ordered.
    fn plan_postings<'s>(&'s self, filter: &Filter<'_>, query: &Query) -> Page<'s> {
        let app = filter.app;
        let by_action = filter
            .job_action
            .map(|action| action.and_then(|action| app.actions.get(&action)));
        let by_cluster = filter.cluster.map(|id| app.resources.get(id));
        let postings = match (by_action, by_cluster) {
            (Some(None), _) | (_, Some(None)) | (None, None) => return Page::empty(),
            (Some(Some(a)), Some(Some(c))) => {
                if a.len() <= c.len() {
                    a
                } else {
                    c
                }
            }
            (Some(Some(positions)), None) | (None, Some(Some(positions))) => positions,
        };
        self.order_and_page(postings.iter().copied(), filter, query)
    }

    /// Filters candidate jobs, orders them as asked, and takes the page.
    fn order_and_page<'s>(
        &'s self,
        candidates: impl Iterator<Item = u32>,
        filter: &Filter<'_>,
        query: &Query,
    ) -> Page<'s> {
        let mut keys: Vec<Key> = candidates
            .filter_map(|pos| {
                let record = self.record(pos);
                if !filter.matches(pos, record) {
                    return None;
                }
                let time = match query.sort_key() {
                    SortKey::CreateTime => record.create_time,
                    SortKey::StatusTime => record.status_time,
                };
                Some((time, pos))
            })
            .collect();
        let total_count = keys.len() as u64;
        let newest_first = query.order() == Order::NewestFirst;
        let order = |a: &Key, b: &Key| {
            if newest_first { b.cmp(a) } else { a.cmp(b) }
        };
        // Only the first offset + limit jobs of the order need sorting.
        let end = query.offset().saturating_add(query.page_limit());
        if end < total_count {
            keys.select_nth_unstable_by(end as usize, order);
            keys.truncate(end as usize);
        }
        keys.sort_unstable_by(order);
        let jobs = keys
            .into_iter()
            .skip(usize::try_from(query.offset()).unwrap_or(usize::MAX))
            .map(|(_, pos)| self.job_at(pos))
            .collect();
        Page { total_count, jobs }
    }
}

/// The 2100 error naming each of `job_ids` once, in request order.
fn not_found<'a>(job_ids: impl Iterator<Item = &'a String>) -> Error {
    let mut named = HashSet::new();
    let job_ids = job_ids
        .filter(|id| named.insert(id.as_str()))
        .cloned()
        .collect();
    Error::new(ErrorKind::JobsNotFound { job_ids })
}
