//! The planner: scope, filters, `total_count`, order and page.
//!
//! [`JobStore::describe`] checks the query, resolves the caller's scope and
//! picks one of four plans, each its own function:
//! - **ids** (`jobs.n` given): look each id up; the answer is at most as
//!   long as the list;
//! - **ordered** (one index holds exactly the jobs asked for: the app's,
//!   one owner's, or, with no owner in view, one action's): the index's
//!   status counts give `total_count` and the page comes by rank, so no
//!   job outside the page is read and a deep `offset` costs what the first
//!   page does;
//! - **walk** (several of owner, action and cluster narrow the answer, and
//!   the smallest of their sets is an ordered index): walk that index in
//!   the order asked for, keeping the jobs that meet every filter; the
//!   index is already in order, so nothing is sorted;
//! - **postings** (a `cluster`'s posting list is the smallest set): filter
//!   the cluster's jobs and order them; nothing is sorted when the
//!   `offset` is past the end.
//!
//! Every plan starts from the smallest set the filters allow, and a set
//! with the owner in view holds only that owner's jobs: so a user's query
//! never costs more than a scan of the user's own jobs in the app,
//! whatever other tenants hold.

use std::collections::HashSet;
use std::fmt;

use super::JobStore;
use super::index::Scope;
use super::ordered::{Key, OrderedList};
use super::record::{JobRef, Record, Sym};
use crate::error::{Error, ErrorKind};
use crate::query::{Caller, Order, Query, SortKey};
use crate::status::{Status, StatusSet};
use crate::time::{format_precise, to_nanos};

use chrono::{DateTime, Utc};

/// One answer to a query: how many jobs match, and the page asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<'a> {
    total_count: u64,
    jobs: Vec<JobRef<'a>>,
    plan: Plan,
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

    /// The plan that answered: what [`JobStore::explain`] says, with
    /// [`Plan::scans`] counted as the answer was made.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }
}

/// How a [`Plan`] reads the jobs: which index, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Nothing can match: no job has the app, the owner in view, the
    /// action or the cluster asked for. Nothing is read.
    Nothing,
    /// `jobs.n`: each listed id is looked up (`ids` of them).
    Ids {
        /// How many ids are listed.
        ids: usize,
    },
    /// One index holds exactly the jobs in view: `total_count` comes from
    /// its counts and the page by rank, so only the page is read, at any
    /// offset.
    Ordered {
        /// The index.
        index: PlanIndex,
    },
    /// The smallest index that holds every job in view is read in the
    /// order asked for, keeping the jobs that meet every filter; nothing
    /// is sorted.
    Walk {
        /// The index.
        index: PlanIndex,
        /// How many jobs it holds: what the walk reads.
        entries: usize,
    },
    /// A cluster's posting list, the smallest set, is filtered and what is
    /// left ordered (nothing is sorted when the offset is past the end).
    Postings {
        /// How many jobs involve the cluster: what the plan reads.
        entries: usize,
    },
}

/// The ordered index an [`Access`] reads: each holds one app's jobs in both
/// time orders, with counts by status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanIndex {
    /// Every job of the app.
    App,
    /// The app's jobs of the owner in view.
    Owner,
    /// The app's jobs of the action asked for.
    Action,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Nothing => f.write_str("nothing to read: no job has a name the query asks for"),
            Access::Ids { ids } => write!(f, "look up each of the {ids} listed ids"),
            Access::Ordered { index } => write!(
                f,
                "the {index} ordered index: total_count from its counts, the page by rank"
            ),
            Access::Walk { index, entries } => write!(
                f,
                "walk the {index} ordered index ({entries} jobs) in the order asked for, \
                 keeping the jobs that meet every filter"
            ),
            Access::Postings { entries } => write!(
                f,
                "filter the cluster's {entries} jobs, then order what is left"
            ),
        }
    }
}

impl fmt::Display for PlanIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlanIndex::App => "app's",
            PlanIndex::Owner => "owner's",
            PlanIndex::Action => "action's",
        })
    }
}

/// How [`JobStore::describe`] answers a query, as [`JobStore::explain`]
/// tells it without answering: the [`Access`] (which index and how), the
/// order, the statuses counted, the time window and `after` cursor, and
/// how many entries it scans and sorts at most beyond the page. Its
/// `Display` is one line, like SQLite's `EXPLAIN QUERY PLAN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    access: Access,
    sort_key: SortKey,
    order: Order,
    statuses: StatusSet,
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
    after: Option<String>,
    scans: usize,
    sorts: usize,
}

impl Plan {
    /// Which index is read, and how.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The order of the answer: its time and which end first.
    pub fn order(&self) -> (SortKey, Order) {
        (self.sort_key, self.order)
    }

    /// The statuses counted (all four when the query names none).
    pub fn statuses(&self) -> impl Iterator<Item = Status> + '_ {
        self.statuses.iter()
    }

    /// The key range of the sort key's time: `start_time` (inclusive) and
    /// `end_time` (exclusive), each if given.
    pub fn window(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        (self.start_time, self.end_time)
    }

    /// The job the page starts after, if any.
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// How many index entries, postings or ids are read beyond the page:
    /// 0 for an ordered index (count and page by rank), the window's
    /// entries for a walk, the cluster's postings, the listed ids.
    pub fn scans(&self) -> usize {
        self.scans
    }

    /// How many jobs are sorted at most (postings and ids are ordered
    /// after filtering; an ordered index or a walk sorts nothing).
    pub fn sorts(&self) -> usize {
        self.sorts
    }

    fn nothing(query: &Query) -> Plan {
        Plan::new(Access::Nothing, query, 0, 0)
    }

    fn new(access: Access, query: &Query, scans: usize, sorts: usize) -> Plan {
        Plan {
            access,
            sort_key: query.sort_key(),
            order: query.order(),
            statuses: query.status_set(),
            start_time: query.start_time(),
            end_time: query.end_time(),
            after: query.after().map(str::to_owned),
            scans,
            sorts,
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.access)?;
        if self.access == Access::Nothing {
            return Ok(());
        }
        let order = match self.order {
            Order::NewestFirst => "newest first",
            Order::OldestFirst => "oldest first",
        };
        write!(f, "; by {} {order}", self.sort_key)?;
        let statuses: Vec<&str> = self.statuses.iter().map(Status::as_str).collect();
        write!(f, "; counts {}", statuses.join("+"))?;
        if self.start_time.is_some() || self.end_time.is_some() {
            let bound = |time: Option<DateTime<Utc>>, open: &'static str| {
                time.map_or_else(|| open.to_owned(), format_precise)
            };
            let how = match self.access {
                Access::Ordered { .. } => "counted by rank",
                Access::Walk { .. } => "walked",
                _ => "as a filter",
            };
            write!(
                f,
                "; window [{}, {}) {how}",
                bound(self.start_time, "-inf"),
                bound(self.end_time, "+inf")
            )?;
        }
        if let Some(after) = &self.after {
            write!(f, "; after {after}")?;
        }
        write!(f, "; scans {}, sorts at most {}", self.scans, self.sorts)
    }
}

/// The plan [`JobStore::describe`] picked.
enum Chosen<'q> {
    Nothing,
    Plan(Filter<'q>, How<'q>),
}

/// How a plan reads, with what it reads.
enum How<'q> {
    /// With the `after` id if it is not in view (named in the 2100).
    Ids(Option<&'q str>),
    Ordered(&'q Scope, PlanIndex),
    Walk(&'q Scope, PlanIndex),
    Postings(&'q [u32]),
}

/// The filters a job must meet, once the query has been checked and its
/// names looked up.
struct Filter<'q> {
    app_sym: Sym,
    /// `Some(None)`: an owner no job has, so nothing is in scope.
    owner: Option<Option<Sym>>,
    statuses: StatusSet,
    /// `Some(None)`: an action no job has.
    job_action: Option<Option<Sym>>,
    /// The positions, ascending, of the jobs that involve the cluster
    /// asked for (none for an id no job has).
    cluster: Option<&'q [u32]>,
    /// The time window, as keys of the sort key's order: what is counted.
    window: Bounds,
    /// The window, narrowed by `after`: what the page is taken from.
    page: Bounds,
}

/// The keys `lo..hi` of an order.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bounds {
    lo: Key,
    hi: Key,
}

impl Bounds {
    /// Below every key.
    const MIN: Key = (i64::MIN, 0);
    /// Above every key (positions are below 2^30).
    const MAX: Key = (i64::MAX, u32::MAX);

    /// The keys whose time is at or after `start` and before `end`; a time
    /// outside the stored range stands for its end of the range.
    fn window(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Bounds {
        let key = |time: DateTime<Utc>| match to_nanos(time) {
            Some(nanos) => (nanos, 0),
            None if time < DateTime::UNIX_EPOCH => Bounds::MIN,
            None => Bounds::MAX,
        };
        Bounds {
            lo: start.map_or(Bounds::MIN, key),
            hi: end.map_or(Bounds::MAX, key),
        }
    }

    /// These bounds, past the job at `key` in the order asked for.
    fn after(self, key: Key, order: Order) -> Bounds {
        match order {
            Order::NewestFirst => Bounds {
                hi: self.hi.min(key),
                ..self
            },
            Order::OldestFirst => Bounds {
                lo: self.lo.max((key.0, key.1 + 1)),
                ..self
            },
        }
    }

    fn contains(&self, key: Key) -> bool {
        self.lo <= key && key < self.hi
    }

    /// The ranks of these bounds among the entries of `list` with a
    /// status in `set`.
    fn ranks(&self, list: &OrderedList, set: StatusSet) -> std::ops::Range<usize> {
        let lo = list.rank(set, self.lo);
        lo..list.rank(set, self.hi).max(lo)
    }
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
            && self
                .cluster
                .is_none_or(|postings| postings.binary_search(&pos).is_ok())
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
    /// The plan: with `jobs.n`, each id is looked up. When one index holds
    /// exactly the jobs in view (the app's, the owner's, or an action's
    /// when no owner is in view), its status counts give `total_count` and
    /// the page comes by rank, so a deep `offset` costs what the first page
    /// does. Otherwise the smallest of the owner's, the action's and the
    /// cluster's sets is read and filtered, so a user never pays for other
    /// tenants' jobs. `total_count` counts the jobs that pass scope and
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
        let (filter, how) = match self.choose(caller, query)? {
            Chosen::Nothing => {
                return Ok(Page {
                    total_count: 0,
                    jobs: Vec::new(),
                    plan: Plan::nothing(query),
                });
            }
            Chosen::Plan(filter, how) => (filter, how),
        };
        let mut plan = plan_for(&filter, &how, query);
        let answer = match how {
            How::Ids(after_missing) => self.plan_ids(&filter, query, after_missing)?,
            How::Ordered(scope, _) => self.plan_ordered(scope, &filter, query),
            How::Walk(scope, _) => self.plan_walk(scope, &filter, query),
            How::Postings(postings) => {
                // Every posting involves the cluster: looking it up again
                // for each would hash its id once a job.
                let filter = Filter {
                    cluster: None,
                    ..filter
                };
                self.order_and_page(postings.iter().copied(), &filter, query)
            }
        };
        // What was read, counted as it was: the plan says what it did.
        plan.scans = answer.scanned;
        Ok(Page {
            total_count: answer.total_count,
            jobs: answer.jobs,
            plan,
        })
    }

    /// Checks the query, resolves the caller's scope and picks the plan.
    fn choose<'a>(&'a self, caller: &Caller, query: &'a Query) -> Result<Chosen<'a>, Error> {
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
            if query.job_ids().is_empty() && query.after().is_none() {
                return Ok(Chosen::Nothing);
            }
            return Err(not_found(
                query
                    .job_ids()
                    .iter()
                    .map(String::as_str)
                    .chain(query.after()),
            ));
        };
        let window = Bounds::window(query.start_time(), query.end_time());
        let mut filter = Filter {
            app_sym,
            owner: owner.map(|owner| self.names.get(owner)),
            statuses: query.status_set(),
            job_action: query.job_action().map(|a| self.names.get(a)),
            cluster: query.cluster().map(|id| app.postings(id)),
            window,
            page: window,
        };
        // The job `after` names must be in view; it need not match.
        let mut after_missing = None;
        if let Some(after) = query.after() {
            match self.position(after) {
                Some(pos) if filter.in_scope(self.record(pos)) => {
                    let key = (sort_time(self.record(pos), query.sort_key()), pos);
                    filter.page = window.after(key, query.order());
                }
                _ => after_missing = Some(after),
            }
        }
        if !query.job_ids().is_empty() {
            return Ok(Chosen::Plan(filter, How::Ids(after_missing)));
        }
        if let Some(after) = after_missing {
            return Err(not_found(std::iter::once(after)));
        }
        // Each narrowing filter's set of candidates; a name no job has
        // leaves nothing to find.
        let by_owner = match filter.owner {
            None => None,
            Some(owner) => match owner.and_then(|owner| app.owners.get(&owner)) {
                Some(scope) => Some((scope, PlanIndex::Owner)),
                None => return Ok(Chosen::Nothing),
            },
        };
        let by_action = match filter.job_action {
            None => None,
            Some(action) => match action.and_then(|action| app.actions.get(&action)) {
                Some(scope) => Some((scope, PlanIndex::Action)),
                None => return Ok(Chosen::Nothing),
            },
        };
        let smallest = [by_owner, by_action]
            .into_iter()
            .flatten()
            .min_by_key(|(scope, _)| scope.len());
        let how = match (filter.cluster, smallest) {
            (None, None) => How::Ordered(&app.all, PlanIndex::App),
            (None, Some((scope, index))) if by_owner.is_none() || by_action.is_none() => {
                How::Ordered(scope, index)
            }
            (None, Some((scope, index))) => How::Walk(scope, index),
            (Some([]), _) => return Ok(Chosen::Nothing),
            (Some(postings), smallest) => match smallest {
                Some((scope, index)) if scope.len() < postings.len() => How::Walk(scope, index),
                _ => How::Postings(postings),
            },
        };
        Ok(Chosen::Plan(filter, how))
    }

    /// Says how [`JobStore::describe`] would answer `query` for `caller`,
    /// without answering it: which plan, which index, and how many jobs
    /// it reads, as SQLite's `EXPLAIN QUERY PLAN` does.
    ///
    /// # Errors
    ///
    /// Those of [`JobStore::describe`], except that listed job ids are not
    /// looked up (2100 comes only from answering).
    ///
    /// ```
    /// use joblog::{Access, Caller, Job, JobStore, PlanIndex, Query, Status};
    ///
    /// let mut store = JobStore::new();
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// for (i, owner) in ["usr-1", "usr-2", "usr-2"].into_iter().enumerate() {
    ///     store.insert(Job::new(format!("j-{i}"), "app-1", owner, "RunJob", Status::Pending, at))?;
    /// }
    /// let query = Query::builder("app-1").job_action("RunJob").build();
    /// let plan = store.explain(&Caller::user("usr-1"), &query)?;
    /// assert_eq!(plan.access(), Access::Walk { index: PlanIndex::Owner, entries: 1 });
    /// assert_eq!(
    ///     plan.to_string(),
    ///     "walk the owner's ordered index (1 jobs) in the order asked for, \
    ///      keeping the jobs that meet every filter; by create_time newest first; \
    ///      counts pending+working+failed+successful; scans 1, sorts at most 0"
    /// );
    /// let plan = store.explain(&Caller::admin("root"), &query)?;
    /// assert_eq!(plan.access(), Access::Ordered { index: PlanIndex::Action });
    /// // The page says which plan answered it, and what it read.
    /// assert_eq!(store.describe(&Caller::admin("root"), &query)?.plan(), &plan);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn explain(&self, caller: &Caller, query: &Query) -> Result<Plan, Error> {
        Ok(match self.choose(caller, query)? {
            Chosen::Nothing => Plan::nothing(query),
            Chosen::Plan(filter, how) => plan_for(&filter, &how, query),
        })
    }

    /// The ordered plan: an index that holds exactly the jobs in view
    /// counts and pages by rank, reading no job outside the page.
    fn plan_ordered<'s>(&'s self, scope: &Scope, filter: &Filter<'_>, query: &Query) -> Answer<'s> {
        let list = scope.list(query.sort_key());
        let set = filter.statuses;
        let limit = query.page_limit() as usize;
        let counted = filter.window.ranks(list, set);
        // Without `after`, the page is taken from what is counted.
        let ranks = if filter.page == filter.window {
            counted.clone()
        } else {
            filter.page.ranks(list, set)
        };
        let positions = list.page_in(set, query.order(), ranks, query.offset(), limit);
        Answer {
            total_count: counted.len() as u64,
            jobs: positions.into_iter().map(|pos| self.job_at(pos)).collect(),
            scanned: 0,
        }
    }

    /// The walk plan: an index that holds every job in view (and others)
    /// read in the order asked for, keeping the jobs that meet every
    /// filter; it costs one step per job of the index, and sorts nothing.
    fn plan_walk<'s>(&'s self, scope: &Scope, filter: &Filter<'_>, query: &Query) -> Answer<'s> {
        let list = scope.list(query.sort_key());
        let Bounds { lo, hi } = filter.window;
        let entries: Box<dyn Iterator<Item = _>> = match query.order() {
            Order::NewestFirst => Box::new(list.range(lo, hi).rev()),
            Order::OldestFirst => Box::new(list.range(lo, hi)),
        };
        let offset = query.offset();
        let end = offset.saturating_add(query.page_limit());
        let mut total_count = 0;
        // How many matching jobs past `after` came so far.
        let mut paged = 0;
        let mut jobs = Vec::new();
        let mut scanned = 0;
        for entry in entries {
            scanned += 1;
            let pos = entry.pos();
            if !filter.statuses.contains(entry.status()) || !filter.matches(pos, self.record(pos)) {
                continue;
            }
            total_count += 1;
            if filter.page.contains(entry.key()) {
                if (offset..end).contains(&paged) {
                    jobs.push(self.job_at(pos));
                }
                paged += 1;
            }
        }
        Answer {
            total_count,
            jobs,
            scanned,
        }
    }

    /// The ids plan: each listed id looked up; all must be in scope.
    fn plan_ids<'s>(
        &'s self,
        filter: &Filter<'_>,
        query: &Query,
        after_missing: Option<&str>,
    ) -> Result<Answer<'s>, Error> {
        let mut positions = Vec::with_capacity(query.job_ids().len());
        let mut missing = Vec::new();
        for job_id in query.job_ids() {
            match self.position(job_id) {
                Some(pos) if filter.in_scope(self.record(pos)) => positions.push(pos),
                _ => missing.push(job_id.as_str()),
            }
        }
        missing.extend(after_missing);
        if !missing.is_empty() {
            return Err(not_found(missing.into_iter()));
        }
        positions.sort_unstable();
        positions.dedup();
        let answer = self.order_and_page(positions.into_iter(), filter, query);
        // Every listed id was looked up, repeats too.
        Ok(Answer {
            scanned: query.job_ids().len(),
            ..answer
        })
    }

    /// Filters candidate jobs, orders them as asked, and takes the page.
    fn order_and_page<'s>(
        &'s self,
        candidates: impl Iterator<Item = u32>,
        filter: &Filter<'_>,
        query: &Query,
    ) -> Answer<'s> {
        let mut scanned = 0;
        let mut keys: Vec<Key> = candidates
            .inspect(|_| scanned += 1)
            .filter_map(|pos| {
                let record = self.record(pos);
                let key = (sort_time(record, query.sort_key()), pos);
                (filter.matches(pos, record) && filter.window.contains(key)).then_some(key)
            })
            .collect();
        let total_count = keys.len() as u64;
        keys.retain(|&key| filter.page.contains(key));
        let paged = keys.len() as u64;
        if query.offset() >= paged {
            return Answer {
                total_count,
                jobs: Vec::new(),
                scanned,
            };
        }
        let newest_first = query.order() == Order::NewestFirst;
        // Only the first offset + limit jobs of the order need sorting.
        let end = query.offset().saturating_add(query.page_limit());
        if end < paged {
            if newest_first {
                // The last `end` keys: those from `cut` on (at least one
                // goes, as `end < paged`; all do for a limit of 0).
                let cut = (paged - end) as usize;
                keys.select_nth_unstable(cut - 1);
                keys.drain(..cut);
            } else {
                keys.select_nth_unstable(end as usize);
                keys.truncate(end as usize);
            }
        }
        // Sorted ascending, then turned for newest first: candidates that
        // come in time order either way (postings do, and listed ids
        // often) sort in one pass.
        if keys.is_sorted_by(|a, b| a >= b) {
            keys.reverse();
        }
        keys.sort_unstable();
        if newest_first {
            keys.reverse();
        }
        let jobs = keys
            .into_iter()
            .skip(usize::try_from(query.offset()).unwrap_or(usize::MAX))
            .map(|(_, pos)| self.job_at(pos))
            .collect();
        Answer {
            total_count,
            jobs,
            scanned,
        }
    }
}

/// What a plan function found, before it becomes a [`Page`].
struct Answer<'s> {
    total_count: u64,
    jobs: Vec<JobRef<'s>>,
    /// Entries, postings or ids read.
    scanned: usize,
}

/// The plan of a chosen way to answer, with what it will read.
fn plan_for(filter: &Filter<'_>, how: &How<'_>, query: &Query) -> Plan {
    match *how {
        How::Ids(_) => {
            let ids = query.job_ids().len();
            Plan::new(Access::Ids { ids }, query, ids, ids)
        }
        How::Ordered(_, index) => Plan::new(Access::Ordered { index }, query, 0, 0),
        How::Walk(scope, index) => {
            let list = scope.list(query.sort_key());
            let entries = filter.window.ranks(list, StatusSet::ALL).len();
            Plan::new(Access::Walk { index, entries }, query, entries, 0)
        }
        How::Postings(postings) => {
            let entries = postings.len();
            Plan::new(Access::Postings { entries }, query, entries, entries)
        }
    }
}

/// A job's time in the order of `sort_key`.
fn sort_time(record: &Record, sort_key: SortKey) -> i64 {
    match sort_key {
        SortKey::CreateTime => record.create_time,
        SortKey::StatusTime => record.status_time,
    }
}

/// The 2100 error naming each of `job_ids` once, in request order.
fn not_found<'a>(job_ids: impl Iterator<Item = &'a str>) -> Error {
    let mut named = HashSet::new();
    let job_ids = job_ids
        .filter(|id| named.insert(*id))
        .map(str::to_owned)
        .collect();
    Error::new(ErrorKind::JobsNotFound { job_ids })
}
