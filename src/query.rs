//! Who asks ([`Caller`]) and what they ask ([`Query`], built with a
//! [`QueryBuilder`]), and the wire names of a query's parts.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::status::{Status, StatusSet};

/// The user a query is made for.
///
/// A user sees the jobs it triggered; an administrator sees every job of
/// the app and may narrow the view with [`QueryBuilder::owner`].
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

/// Which time orders the answer (wire `sort_key`).
///
/// On the wire and in serde it is `create_time` or `status_time`.
///
/// ```
/// use joblog::SortKey;
///
/// let key: SortKey = "status_time".parse()?;
/// assert_eq!(key, SortKey::StatusTime);
/// assert_eq!(key.to_string(), "status_time");
/// assert_eq!(
///     "Status_Time".parse::<SortKey>().unwrap_err().to_string(),
///     "must be create_time or status_time"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// `create_time` (the default).
    #[default]
    CreateTime,
    /// `status_time`: when the status last changed.
    StatusTime,
}

impl SortKey {
    /// Both keys, the default first.
    pub const ALL: [SortKey; 2] = [SortKey::CreateTime, SortKey::StatusTime];

    /// The wire name: `create_time` or `status_time`.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::CreateTime => "create_time",
            SortKey::StatusTime => "status_time",
        }
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`SortKey`] from a string that names none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseSortKeyError(());

impl fmt::Display for ParseSortKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("must be create_time or status_time")
    }
}

impl std::error::Error for ParseSortKeyError {}

impl FromStr for SortKey {
    type Err = ParseSortKeyError;

    fn from_str(s: &str) -> Result<SortKey, ParseSortKeyError> {
        SortKey::ALL
            .into_iter()
            .find(|key| key.as_str() == s)
            .ok_or(ParseSortKeyError(()))
    }
}

/// Which end of the order the answer starts from (wire `reverse`).
///
/// Jobs with equal times are ordered by insertion, the later-inserted
/// first when newest first; [`Order::OldestFirst`] is exactly the opposite
/// order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// The newest first (the default; wire `reverse=1`).
    #[default]
    NewestFirst,
    /// The oldest first (wire `reverse=0`).
    OldestFirst,
}

impl Order {
    /// The wire value of `reverse`: `1` newest first, `0` oldest first.
    pub(crate) fn reverse_flag(self) -> &'static str {
        match self {
            Order::NewestFirst => "1",
            Order::OldestFirst => "0",
        }
    }

    /// The order a `reverse` value asks for, if it is 0 or 1.
    pub(crate) fn from_reverse_flag(flag: i128) -> Option<Order> {
        match flag {
            1 => Some(Order::NewestFirst),
            0 => Some(Order::OldestFirst),
            _ => None,
        }
    }
}

/// A `DescribeClusterJobs` question, typed.
///
/// Made by [`Query::builder`] (or [`Query::new`] for every default) and
/// read back with its getters. Every filter is optional and a job must meet
/// all that are given (a list filter is met by any one of its values).
/// Defaults: all job ids, all statuses, any action, any owner the caller
/// may see, any cluster, ordered by `create_time` newest first, `offset` 0,
/// `limit` 20.
///
/// ```
/// use joblog::{Order, Query, SortKey, Status};
///
/// let query = Query::builder("app-tg3lbp0a")
///     .status(Status::Pending)
///     .status(Status::Working)
///     .sort_key(SortKey::StatusTime)
///     .offset(40)
///     .limit(500)
///     .build();
/// assert_eq!(query.limit(), 500);
/// assert_eq!(query.page_limit(), 100); // above 100 is served as 100
/// assert_eq!(query.statuses().collect::<Vec<_>>(), [Status::Pending, Status::Working]);
/// assert_eq!(query.order(), Order::NewestFirst);
/// assert_eq!(query.owner(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    app: String,
    job_ids: Vec<String>,
    statuses: StatusSet,
    job_action: Option<String>,
    owner: Option<String>,
    cluster: Option<String>,
    sort_key: SortKey,
    order: Order,
    after: Option<String>,
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
    offset: u64,
    limit: u64,
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
            order: Order::NewestFirst,
            after: None,
            start_time: None,
            end_time: None,
            offset: 0,
            limit: Query::DEFAULT_LIMIT,
        }
    }

    /// A builder for a query over the jobs of `app`, every setting at its
    /// default until set.
    pub fn builder(app: impl Into<String>) -> QueryBuilder {
        QueryBuilder {
            query: Query::new(app),
        }
    }

    /// A builder that starts from this query, to ask a variation of it.
    ///
    /// ```
    /// use joblog::{Query, Status};
    ///
    /// let first = Query::builder("app-1").status(Status::Failed).build();
    /// let next = first.to_builder().offset(20).build();
    /// assert_eq!((next.offset(), next.statuses().count()), (20, 1));
    /// ```
    pub fn to_builder(&self) -> QueryBuilder {
        QueryBuilder {
            query: self.clone(),
        }
    }

    /// The app (`app`).
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The job ids (`jobs.n`), as added.
    pub fn job_ids(&self) -> &[String] {
        &self.job_ids
    }

    /// The statuses asked for (`status.n`), in [`Status::ALL`] order; none
    /// means all.
    pub fn statuses(&self) -> impl Iterator<Item = Status> + '_ {
        self.statuses.iter()
    }

    /// The action filter (`job_action`), if any.
    pub fn job_action(&self) -> Option<&str> {
        self.job_action.as_deref()
    }

    /// The owner filter (`owner`), if any.
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// The resource filter (`cluster`), if any.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    /// The time that orders the answer (`sort_key`).
    pub fn sort_key(&self) -> SortKey {
        self.sort_key
    }

    /// Which end of the order comes first (`reverse`).
    pub fn order(&self) -> Order {
        self.order
    }

    /// The job the page starts after (`after`), if any.
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// The window's start (`start_time`, inclusive), if any: only jobs
    /// whose sort key time is at or after it.
    pub fn start_time(&self) -> Option<DateTime<Utc>> {
        self.start_time
    }

    /// The window's end (`end_time`, exclusive), if any: only jobs whose
    /// sort key time is before it.
    pub fn end_time(&self) -> Option<DateTime<Utc>> {
        self.end_time
    }

    /// How many jobs of the order to skip (`offset`).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The `limit` as given; see [`Query::page_limit`] for what is served.
    pub fn limit(&self) -> u64 {
        self.limit
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
            return Err(Error::invalid_parameter(Param::App.name(), "", EMPTY));
        }
        if let Some(i) = self.job_ids.iter().position(String::is_empty) {
            return Err(Error::invalid_parameter(
                Param::Jobs.numbered(i + 1),
                "",
                EMPTY,
            ));
        }
        for (param, value) in self
            .filters()
            .into_iter()
            .chain([(Param::After, self.after())])
        {
            if value == Some("") {
                return Err(Error::invalid_parameter(param.name(), "", EMPTY));
            }
        }
        if let (Some(start), Some(end)) = (self.start_time, self.end_time)
            && start >= end
        {
            return Err(Error::invalid_parameter(
                Param::StartTime.name(),
                &crate::time::format_precise(start),
                format!(
                    "must be before end_time ({})",
                    crate::time::format_precise(end)
                ),
            ));
        }
        Ok(())
    }

    /// The string filters with their parameters, in wire order.
    pub(crate) fn filters(&self) -> [(Param, Option<&str>); 3] {
        [
            (Param::JobAction, self.job_action()),
            (Param::Owner, self.owner()),
            (Param::Cluster, self.cluster()),
        ]
    }

    /// The window's times with their parameters, in wire order.
    pub(crate) fn window(&self) -> [(Param, Option<DateTime<Utc>>); 2] {
        [
            (Param::StartTime, self.start_time),
            (Param::EndTime, self.end_time),
        ]
    }
}

/// Builds a [`Query`] (made by [`Query::builder`]): each setter takes and
/// returns the builder, [`QueryBuilder::build`] ends the chain.
///
/// ```
/// use joblog::{Order, Query, Status};
///
/// let query = Query::builder("app-1")
///     .job_id("j-1")
///     .job_id("j-2")
///     .status(Status::Failed)
///     .order(Order::OldestFirst)
///     .build();
/// assert_eq!(query.job_ids(), ["j-1", "j-2"]);
/// assert_eq!(query.order(), Order::OldestFirst);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct QueryBuilder {
    query: Query,
}

impl QueryBuilder {
    /// Adds a job id (`jobs.n`): the answer holds only the listed jobs, and
    /// fails with 2100 if one of them is not in the caller's view.
    pub fn job_id(mut self, job_id: impl Into<String>) -> QueryBuilder {
        self.query.job_ids.push(job_id.into());
        self
    }

    /// Adds a status (`status.n`): only jobs with one of the listed
    /// statuses. No status means all four.
    pub fn status(mut self, status: Status) -> QueryBuilder {
        self.query.statuses = self.query.statuses.with(status);
        self
    }

    /// Only jobs started by this API action (`job_action`).
    pub fn job_action(mut self, job_action: impl Into<String>) -> QueryBuilder {
        self.query.job_action = Some(job_action.into());
        self
    }

    /// Only jobs of this owner (`owner`). An administrator may name anyone;
    /// any other caller only itself (else 1400).
    pub fn owner(mut self, owner: impl Into<String>) -> QueryBuilder {
        self.query.owner = Some(owner.into());
        self
    }

    /// Only jobs that involve this resource id (`cluster`), in
    /// `resource_ids` or in any list of `resources`.
    pub fn cluster(mut self, cluster: impl Into<String>) -> QueryBuilder {
        self.query.cluster = Some(cluster.into());
        self
    }

    /// The time that orders the answer (`sort_key`); default `create_time`.
    pub fn sort_key(mut self, sort_key: SortKey) -> QueryBuilder {
        self.query.sort_key = sort_key;
        self
    }

    /// Which end of the order comes first (`reverse`); default newest
    /// first.
    pub fn order(mut self, order: Order) -> QueryBuilder {
        self.query.order = order;
        self
    }

    /// Starts the page right after this job in the order asked for
    /// (`after`, an extension), before `offset` applies. The job must be in
    /// the caller's view of the app (else 2100); it need not meet the
    /// other filters. `total_count` still counts every job that does.
    ///
    /// Paging with the last job of each page as `after`:
    /// - by `create_time` (which never changes), the walk neither repeats
    ///   nor skips a job when new jobs arrive between pages;
    /// - by `status_time`, a status change moves the job to the newest
    ///   end. Newest first, no job comes twice, and every job whose status
    ///   did not change during the walk comes once; one that changed may be
    ///   missed (it moved past the walk; a new walk from the top sees it).
    ///   Oldest first, every job comes at least once, and one that changed
    ///   may come again at the end. These hold while the job named in
    ///   `after` keeps its status: the cursor is that job's current place,
    ///   so if it moves, the walk goes on from where it moved to.
    ///
    /// ```
    /// use joblog::{Caller, Job, JobStore, Query, Status};
    /// use joblog::chrono::{DateTime, Duration, Utc};
    ///
    /// let mut store = JobStore::new();
    /// let t0: DateTime<Utc> = "2018-03-04T05:37:58Z".parse()?;
    /// let job = |i: i64| Job::new(format!("j-{i}"), "app-1", "usr-1", "RunJob", Status::Pending, t0 + Duration::seconds(i));
    /// for i in 0..5 {
    ///     store.insert(job(i))?;
    /// }
    /// let user = Caller::user("usr-1");
    /// let first = store.describe(&user, &Query::builder("app-1").limit(2).build())?;
    /// let last = first.jobs()[1].job_id().to_owned(); // j-3
    /// store.insert(job(5))?; // a new job arrives at the top
    /// let next = store.describe(&user, &Query::builder("app-1").after(last).limit(2).build())?;
    /// let ids: Vec<&str> = next.jobs().iter().map(|job| job.job_id()).collect();
    /// assert_eq!(ids, ["j-2", "j-1"]); // offset=2 would have repeated j-3
    /// assert_eq!(next.total_count(), 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn after(mut self, job_id: impl Into<String>) -> QueryBuilder {
        self.query.after = Some(job_id.into());
        self
    }

    /// Only jobs whose sort key time (`create_time`, or `status_time`
    /// with [`SortKey::StatusTime`]) is at or after this (`start_time`, an
    /// extension). `total_count` counts the window from the ordered index
    /// in O(log n), with any status filter.
    ///
    /// ```
    /// use joblog::{Caller, Job, JobStore, Query, Status};
    /// use joblog::chrono::{DateTime, Duration, Utc};
    ///
    /// let mut store = JobStore::new();
    /// let t0: DateTime<Utc> = "2018-03-04T05:37:58Z".parse()?;
    /// for i in 0..10 {
    ///     let status = if i % 2 == 0 { Status::Failed } else { Status::Successful };
    ///     let job = Job::new(format!("j-{i}"), "app-1", "usr-1", "RunJob", status, t0 + Duration::minutes(i));
    ///     store.insert(job)?;
    /// }
    /// // What failed from minute 5 to minute 10 (j-5 to j-9)?
    /// let query = "app=app-1&status.1=failed\
    ///              &start_time=2018-03-04T05:42:58Z&end_time=2018-03-04T05:47:58Z";
    /// let page = store.describe(&Caller::user("usr-1"), &query.parse::<Query>()?)?;
    /// let ids: Vec<&str> = page.jobs().iter().map(|job| job.job_id()).collect();
    /// assert_eq!((page.total_count(), ids), (2, vec!["j-8", "j-6"]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_time(mut self, start: DateTime<Utc>) -> QueryBuilder {
        self.query.start_time = Some(start);
        self
    }

    /// Only jobs whose sort key time is before this (`end_time`, an
    /// extension). A window whose start is not before its end is refused
    /// (1100).
    pub fn end_time(mut self, end: DateTime<Utc>) -> QueryBuilder {
        self.query.end_time = Some(end);
        self
    }

    /// How many jobs of the order to skip (`offset`, default 0).
    pub fn offset(mut self, offset: u64) -> QueryBuilder {
        self.query.offset = offset;
        self
    }

    /// How many jobs to return at most (`limit`, default 20). Above 100 is
    /// served as 100; 0 returns no jobs, only `total_count`.
    pub fn limit(mut self, limit: u64) -> QueryBuilder {
        self.query.limit = limit;
        self
    }

    /// Sets the app; the wire parser learns it at any point of a request.
    pub(crate) fn app(mut self, app: String) -> QueryBuilder {
        self.query.app = app;
        self
    }

    /// The query.
    pub fn build(self) -> Query {
        self.query
    }
}

impl From<QueryBuilder> for Query {
    fn from(builder: QueryBuilder) -> Query {
        builder.build()
    }
}

/// The request parameters `DescribeClusterJobs` knows. [`Param::name`] is
/// the one place their wire names are spelled: the parser, `Display` for
/// [`Query`], the errors and (through a test) the crate docs' table read
/// them from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Param {
    Action,
    App,
    Jobs,
    Status,
    Verbose,
    Offset,
    Limit,
    JobAction,
    Owner,
    Cluster,
    SortKey,
    Reverse,
    After,
    StartTime,
    EndTime,
}

/// The longest parameter name.
const LONGEST_NAME: usize = 10;

/// The most parameter names of one length.
const MOST_OF_A_LENGTH: usize = 3;

/// [`Param::ALL`] by the length of the name, for [`Param::named`]; built
/// when compiling, which fails if a name is longer than [`LONGEST_NAME`],
/// if a length has too many names, or if two names of one length start
/// with the same byte.
const BY_LENGTH: [[Option<Param>; MOST_OF_A_LENGTH]; LONGEST_NAME + 1] = {
    let mut table: [[Option<Param>; MOST_OF_A_LENGTH]; LONGEST_NAME + 1] =
        [[None; MOST_OF_A_LENGTH]; LONGEST_NAME + 1];
    let mut i = 0;
    while i < Param::ALL.len() {
        let name = Param::ALL[i].name().as_bytes();
        let row = &mut table[name.len()];
        let mut j = 0;
        while let Some(other) = row[j] {
            assert!(other.name().as_bytes()[0] != name[0], "two names alike");
            j += 1;
        }
        row[j] = Some(Param::ALL[i]);
        i += 1;
    }
    table
};

impl Param {
    /// Every parameter, in the order of the API page and its extensions.
    pub(crate) const ALL: [Param; 15] = [
        Param::Action,
        Param::App,
        Param::Jobs,
        Param::Status,
        Param::Verbose,
        Param::Offset,
        Param::Limit,
        Param::JobAction,
        Param::Owner,
        Param::Cluster,
        Param::SortKey,
        Param::Reverse,
        Param::After,
        Param::StartTime,
        Param::EndTime,
    ];

    /// The wire name, without a list suffix.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Param::Action => "action",
            Param::App => "app",
            Param::Jobs => "jobs",
            Param::Status => "status",
            Param::Verbose => "verbose",
            Param::Offset => "offset",
            Param::Limit => "limit",
            Param::JobAction => "job_action",
            Param::Owner => "owner",
            Param::Cluster => "cluster",
            Param::SortKey => "sort_key",
            Param::Reverse => "reverse",
            Param::After => "after",
            Param::StartTime => "start_time",
            Param::EndTime => "end_time",
        }
    }

    /// The parameter with this wire name. Every request names several, and
    /// most of a request's names are ones this call ignores, so the name's
    /// length and first byte pick the one parameter it can be (no two
    /// share both) before a single comparison.
    pub(crate) fn named(name: &str) -> Option<Param> {
        let first = *name.as_bytes().first()?;
        let param = (*BY_LENGTH.get(name.len())?)
            .into_iter()
            .flatten()
            .find(|param| param.name().as_bytes().first() == Some(&first))?;
        (param.name() == name).then_some(param)
    }

    /// Whether it takes a list (`name.1`, `name.2`, …).
    pub(crate) fn is_list(self) -> bool {
        matches!(self, Param::Jobs | Param::Status)
    }

    /// The wire name of the `n`th value of a list: `jobs.1`, …
    pub(crate) fn numbered(self, n: usize) -> String {
        format!("{}.{n}", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Param;

    /// The crate docs' parameter table names every parameter the parser
    /// knows, in the order of [`Param::ALL`], and no other; the README's
    /// table is the same table.
    #[test]
    fn the_crate_docs_table_lists_every_parameter() {
        let docs: Vec<&str> = include_str!("lib.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("//! "))
            .collect();
        let rows = |lines: &[&str]| -> Vec<String> {
            let start = lines
                .iter()
                .position(|line| line.starts_with("| `action` |"));
            let start = start.expect("a parameter table");
            lines[start..]
                .iter()
                .take_while(|line| line.starts_with("| `"))
                .map(|line| (*line).to_owned())
                .collect()
        };
        let table = rows(&docs);
        let readme: Vec<&str> = include_str!("../README.md").lines().collect();
        assert_eq!(rows(&readme), table, "README and crate docs disagree");
        let named: Vec<&str> = table
            .iter()
            .filter_map(|row| row.strip_prefix("| `"))
            .filter_map(|row| row.split_once('`'))
            .map(|(name, _)| name)
            .collect();
        let want: Vec<String> = Param::ALL
            .into_iter()
            .map(|param| {
                if param.is_list() {
                    format!("{}.n", param.name())
                } else {
                    param.name().to_owned()
                }
            })
            .collect();
        assert_eq!(named, want);
        for param in Param::ALL {
            assert_eq!(Param::named(param.name()), Some(param));
        }
        assert_eq!(Param::named("jobs.1"), None);
        // Names one byte off a parameter's, of its length or not, and
        // names no parameter is as long as.
        for near in [
            "statux",
            "apx",
            "ap",
            "",
            "Status",
            "limits",
            "owneR",
            "job_actions",
        ] {
            assert_eq!(Param::named(near), None, "{near}");
        }
    }
}
