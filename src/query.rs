//! Who asks ([`Caller`]) and what they ask ([`Query`]).

use crate::error::Error;
use crate::job::Status;

/// The user a query is made for.
///
/// A user sees the jobs it triggered; an administrator sees every job of
/// the app and may narrow the view with [`Query::owner`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Caller {
    user_id: String,
    admin: bool,
}

impl Caller {
    /// An ordinary user: sees only the jobs whose `owner` is `user_id`.
    pub fn user(user_id: impl Into<String>) -> Caller {
        Caller {
            user_id: user_id.into(),
            admin: false,
        }
    }

    /// An administrator: sees every job of the app.
    pub fn admin(user_id: impl Into<String>) -> Caller {
        Caller {
            user_id: user_id.into(),
            admin: true,
        }
    }

    /// The caller's user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// Whether the caller is an administrator.
    pub fn is_admin(&self) -> bool {
        self.admin
    }
}

/// Which time orders the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// `create_time` (the default).
    #[default]
    CreateTime,
    /// `status_time`: when the status last changed.
    StatusTime,
}

impl SortKey {
    /// The wire name: `create_time` or `status_time`.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::CreateTime => "create_time",
            SortKey::StatusTime => "status_time",
        }
    }
}

/// A set of statuses, as a bit per [`Status::index`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct StatusSet(u8);

impl StatusSet {
    pub(crate) const ALL: StatusSet = StatusSet(0b1111);

    pub(crate) fn with(self, status: Status) -> StatusSet {
        StatusSet(self.0 | 1 << status.index())
    }

    pub(crate) fn contains(self, status: Status) -> bool {
        self.0 & (1 << status.index()) != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sum of the counts, kept per [`Status::index`], of the statuses in the set.
    pub(crate) fn sum(self, counts: &[u32; 4]) -> usize {
        Status::ALL
            .into_iter()
            .filter(|&status| self.contains(status))
            .map(|status| counts[status.index()] as usize)
            .sum()
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = Status> {
        Status::ALL
            .into_iter()
            .filter(move |&status| self.contains(status))
    }
}

/// A `DescribeClusterJobs` question, typed.
///
/// Built with [`Query::new`] and chained setters; every filter is optional
/// and a job must meet all that are given (a list filter is met by any one
/// of its values). Defaults: all job ids, all statuses, any action, any
/// owner the caller may see, any cluster, ordered by `create_time` newest
/// first, `offset` 0, `limit` 20.
///
/// ```
/// use joblog::{Query, SortKey, Status};
///
/// let query = Query::new("app-tg3lbp0a")
///     .status(Status::Pending)
///     .status(Status::Working)
///     .sort_key(SortKey::StatusTime)
///     .offset(40)
///     .limit(500);
/// assert_eq!(query.page_limit(), 100); // above 100 is served as 100
/// assert_eq!(query.statuses().collect::<Vec<_>>(), [Status::Pending, Status::Working]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub(crate) app: String,
    pub(crate) job_ids: Vec<String>,
    pub(crate) statuses: StatusSet,
    pub(crate) job_action: Option<String>,
    pub(crate) owner: Option<String>,
    pub(crate) cluster: Option<String>,
    pub(crate) sort_key: SortKey,
    pub(crate) reverse: bool,
    pub(crate) offset: u64,
    pub(crate) limit: u64,
}

impl Query {
    /// The `limit` when none is given.
    pub const DEFAULT_LIMIT: u64 = 20;
    /// The most jobs one page holds; a larger `limit` is served as this.
    pub const MAX_LIMIT: u64 = 100;

    /// A query over the jobs of `app`, with every other setting at its
    /// default.
    pub fn new(app: impl Into<String>) -> Query {
        Query {
            app: app.into(),
            job_ids: Vec::new(),
            statuses: StatusSet::default(),
            job_action: None,
            owner: None,
            cluster: None,
            sort_key: SortKey::CreateTime,
            reverse: true,
            offset: 0,
            limit: Query::DEFAULT_LIMIT,
        }
    }

    /// Adds a job id (`jobs.n`): the answer holds only the listed jobs, and
    /// fails with 2100 if one of them is not in the caller's view.
    pub fn job_id(mut self, job_id: impl Into<String>) -> Query {
        self.job_ids.push(job_id.into());
        self
    }

    /// Adds a status (`status.n`): only jobs with one of the listed
    /// statuses. No status means all four.
    pub fn status(mut self, status: Status) -> Query {
        self.statuses = self.statuses.with(status);
        self
    }

    /// Only jobs started by this API action (`job_action`).
    pub fn job_action(mut self, job_action: impl Into<String>) -> Query {
        self.job_action = Some(job_action.into());
        self
    }

    /// Only jobs of this owner (`owner`). An administrator may name anyone;
    /// any other caller only itself (else 1400).
    pub fn owner(mut self, owner: impl Into<String>) -> Query {
        self.owner = Some(owner.into());
        self
    }

    /// Only jobs that involve this resource id (`cluster`), in
    /// `resource_ids` or in any list of `resources`.
    pub fn cluster(mut self, cluster: impl Into<String>) -> Query {
        self.cluster = Some(cluster.into());
        self
    }

    /// The time that orders the answer (`sort_key`); default `create_time`.
    pub fn sort_key(mut self, sort_key: SortKey) -> Query {
        self.sort_key = sort_key;
        self
    }

    /// `true` (the default, wire `reverse=1`): newest first; `false`: oldest
    /// first, exactly the opposite order. Equal times are ordered by
    /// insertion, the later-inserted first when newest first.
    pub fn reverse(mut self, reverse: bool) -> Query {
        self.reverse = reverse;
        self
    }

    /// How many jobs of the order to skip (default 0).
    pub fn offset(mut self, offset: u64) -> Query {
        self.offset = offset;
        self
    }

    /// How many jobs to return at most (default 20). Above 100 is served as
    /// 100; 0 returns no jobs, only `total_count`.
    pub fn limit(mut self, limit: u64) -> Query {
        self.limit = limit;
        self
    }

    /// The app (`app`).
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The job ids (`jobs.n`), as added.
    pub fn job_ids(&self) -> &[String] {
        &self.job_ids
    }

    /// The statuses asked for, in [`Status::ALL`] order; none means all.
    pub fn statuses(&self) -> impl Iterator<Item = Status> + '_ {
        self.statuses.iter()
    }

    /// The most jobs the page will hold: `limit`, capped at 100.
    pub fn page_limit(&self) -> u64 {
        self.limit.min(Query::MAX_LIMIT)
    }

    /// The statuses to keep, all four when none was named.
    pub(crate) fn status_set(&self) -> StatusSet {
        if self.statuses.is_empty() {
            StatusSet::ALL
        } else {
            self.statuses
        }
    }

    /// Refuses values no request could mean: an empty app, id or filter.
    pub(crate) fn check(&self) -> Result<(), Error> {
        const EMPTY: &str = "must not be empty";
        if self.app.is_empty() {
            return Err(Error::invalid_parameter("app", "", EMPTY));
        }
        if let Some(i) = self.job_ids.iter().position(String::is_empty) {
            return Err(Error::invalid_parameter(
                format!("jobs.{}", i + 1),
                "",
                EMPTY,
            ));
        }
        let filters = [
            ("job_action", &self.job_action),
            ("owner", &self.owner),
            ("cluster", &self.cluster),
        ];
        for (parameter, value) in filters {
            if value.as_deref() == Some("") {
                return Err(Error::invalid_parameter(parameter, "", EMPTY));
            }
        }
        Ok(())
    }
}
