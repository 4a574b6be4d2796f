//! The engines joblog is measured against, on the same jobs and queries:
//! `naive`, a `Vec` filtered, sorted, skipped and taken per query,
//! `sqlite`, SQLite in memory through rusqlite, and `btree`, std
//! `BTreeMap`/`BTreeSet` indexes as a competent engineer would write them.

use std::borrow::Cow;

use joblog::chrono::{DateTime, Utc};
use joblog::{Caller, Job, JobElement, Order, Query, Response, SortKey, Status};
use rusqlite::{Connection, params_from_iter, types::Value};
use serde_json::value::to_raw_value;

/// The naive engine: the jobs in insertion order, and the plain model of
/// the tests answering every query.
pub struct Naive {
    /// The jobs, in insertion order.
    pub jobs: Vec<Job>,
}

impl Naive {
    /// Filter, sort, skip, take ([`crate::naive::describe`]).
    pub fn describe(&self, caller: &Caller, query: &Query) -> (u64, Vec<&Job>) {
        crate::naive::describe(&self.jobs, caller, query).expect("a query the benchmarks can ask")
    }
}

/// SQLite in memory: one table, rowid = insertion order.
#[derive(Debug)]
pub struct Sqlite {
    pub db: Connection,
}

/// One page row as SQLite hands it back.
pub struct Row {
    pub job_id: String,
    pub status: String,
    pub directive: String,
    pub job_action: String,
    pub create_time: i64,
    pub owner: String,
    pub status_time: i64,
    pub error_codes: String,
    pub resource_ids: String,
    pub resources: String,
    pub extras: String,
}

const COLUMNS: &str = "job_id, status, directive, job_action, create_time, owner, status_time, \
                       error_codes, resource_ids, resources, extras";

fn nanos(time: DateTime<Utc>) -> i64 {
    time.timestamp_nanos_opt().unwrap_or_default()
}

impl Default for Sqlite {
    fn default() -> Sqlite {
        Sqlite::new()
    }
}

impl Sqlite {
    /// The schema and the indexes a competent engineer would add for these
    /// queries: job_id unique (ids, status changes); (app, status,
    /// create_time) for status pages and counts; (app, owner, create_time)
    /// for a user's pages; (app, job_action, create_time) for an action's
    /// pages; (app, create_time) for pages of all statuses and `COUNT(*)`
    /// of an app; (status_time) for retention; and a table of (resource id,
    /// seq) for the `cluster` filter. (Every SQLite index ends with the
    /// rowid, `seq`, which breaks ties.) `ANALYZE` runs after loading, so
    /// the planner picks them well.
    pub fn new() -> Sqlite {
        let db = Connection::open_in_memory().expect("in-memory SQLite");
        db.execute_batch(
            "CREATE TABLE jobs (
                 seq INTEGER PRIMARY KEY,
                 job_id TEXT NOT NULL UNIQUE,
                 app TEXT NOT NULL,
                 owner TEXT NOT NULL,
                 job_action TEXT NOT NULL,
                 status TEXT NOT NULL,
                 directive TEXT NOT NULL,
                 create_time INTEGER NOT NULL,
                 status_time INTEGER NOT NULL,
                 error_codes TEXT NOT NULL,
                 resource_ids TEXT NOT NULL,
                 resources TEXT NOT NULL,
                 extras TEXT NOT NULL
             );
             CREATE INDEX jobs_app_status ON jobs (app, status, create_time);
             CREATE INDEX jobs_app_owner ON jobs (app, owner, create_time);
             CREATE INDEX jobs_app_action ON jobs (app, job_action, create_time);
             CREATE INDEX jobs_app_time ON jobs (app, create_time);
             CREATE INDEX jobs_retention ON jobs (status_time);
             CREATE TABLE job_resources (
                 resource_id TEXT NOT NULL,
                 seq INTEGER NOT NULL,
                 PRIMARY KEY (resource_id, seq)
             ) WITHOUT ROWID;",
        )
        .expect("schema");
        Sqlite { db }
    }

    pub fn insert_all(&mut self, jobs: &[Job]) {
        let tx = self.db.transaction().expect("transaction");
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO jobs (job_id, app, owner, job_action, status, directive, \
                     create_time, status_time, error_codes, resource_ids, resources, extras) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .expect("insert statement");
            let mut involve = tx
                .prepare_cached("INSERT INTO job_resources (resource_id, seq) VALUES (?1, ?2)")
                .expect("resource statement");
            for job in jobs {
                let seq = insert
                    .insert(rusqlite::params![
                        job.job_id,
                        job.app,
                        job.owner,
                        job.job_action,
                        job.status.as_str(),
                        job.directive,
                        nanos(job.create_time),
                        nanos(job.status_time),
                        job.error_codes,
                        job.resource_ids,
                        serde_json::to_string(&job.resources).expect("resources"),
                        serde_json::to_string(&job.extras).expect("extras"),
                    ])
                    .expect("insert");
                for id in job.involved_resources() {
                    involve
                        .execute(rusqlite::params![id, seq])
                        .expect("insert resource");
                }
            }
        }
        tx.commit().expect("commit");
        self.db.execute_batch("ANALYZE").expect("analyze");
    }

    /// `COUNT(*)` plus `ORDER BY … LIMIT … OFFSET …`, prepared statements
    /// reused from the connection's cache.
    pub fn describe(&self, caller: &Caller, query: &Query) -> (u64, Vec<Row>) {
        let mut filter = String::from("app = ?");
        let mut args: Vec<Value> = vec![Value::Text(query.app().to_owned())];
        let owner = match query.owner() {
            Some(owner) => Some(owner),
            None if caller.is_admin() => None,
            None => Some(caller.user_id()),
        };
        let strings = [("owner", owner), ("job_action", query.job_action())];
        for (column, value) in strings {
            if let Some(value) = value {
                filter.push_str(&format!(" AND {column} = ?"));
                args.push(Value::Text(value.to_owned()));
            }
        }
        if let Some(cluster) = query.cluster() {
            filter.push_str(" AND seq IN (SELECT seq FROM job_resources WHERE resource_id = ?)");
            args.push(Value::Text(cluster.to_owned()));
        }
        let statuses: Vec<Status> = query.statuses().collect();
        if !statuses.is_empty() {
            filter.push_str(" AND status IN (");
            filter.push_str(&vec!["?"; statuses.len()].join(", "));
            filter.push(')');
            args.extend(statuses.iter().map(|s| Value::Text(s.as_str().to_owned())));
        }
        if !query.job_ids().is_empty() {
            filter.push_str(" AND job_id IN (");
            filter.push_str(&vec!["?"; query.job_ids().len()].join(", "));
            filter.push(')');
            args.extend(query.job_ids().iter().map(|id| Value::Text(id.clone())));
        }
        let key = match query.sort_key() {
            SortKey::CreateTime => "create_time",
            SortKey::StatusTime => "status_time",
        };
        let direction = match query.order() {
            Order::NewestFirst => "DESC",
            Order::OldestFirst => "ASC",
        };
        // A window is a range on the sort key's column.
        for (bound, time) in [(">=", query.start_time()), ("<", query.end_time())] {
            if let Some(time) = time {
                filter.push_str(&format!(" AND {key} {bound} ?"));
                args.push(Value::Integer(nanos(time)));
            }
        }
        let total: i64 = self
            .db
            .prepare_cached(&format!("SELECT COUNT(*) FROM jobs WHERE {filter}"))
            .expect("count statement")
            .query_row(params_from_iter(args.iter()), |row| row.get(0))
            .expect("count");
        let limit = query.page_limit();
        if limit == 0 {
            return (total as u64, Vec::new());
        }
        args.push(Value::Integer(limit as i64));
        args.push(Value::Integer(
            i64::try_from(query.offset()).unwrap_or(i64::MAX),
        ));
        // `after`: past that job's (time, insertion) in the order asked for;
        // it narrows the page, not the count.
        let mut page_filter = filter.clone();
        if let Some(after) = query.after() {
            let past = if direction == "DESC" { "<" } else { ">" };
            page_filter.push_str(&format!(
                " AND ({key}, seq) {past} (SELECT {key}, seq FROM jobs WHERE job_id = ?)"
            ));
            args.insert(args.len() - 2, Value::Text(after.to_owned()));
        }
        let mut page = self
            .db
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE {page_filter} \
                 ORDER BY {key} {direction}, seq {direction} LIMIT ? OFFSET ?"
            ))
            .expect("page statement");
        let rows = page
            .query_map(params_from_iter(args.iter()), |row| {
                Ok(Row {
                    job_id: row.get(0)?,
                    status: row.get(1)?,
                    directive: row.get(2)?,
                    job_action: row.get(3)?,
                    create_time: row.get(4)?,
                    owner: row.get(5)?,
                    status_time: row.get(6)?,
                    error_codes: row.get(7)?,
                    resource_ids: row.get(8)?,
                    resources: row.get(9)?,
                    extras: row.get(10)?,
                })
            })
            .expect("page")
            .collect::<Result<Vec<Row>, _>>()
            .expect("rows");
        (total as u64, rows)
    }

    pub fn set_status(&self, job_id: &str, status: Status, at: DateTime<Utc>) {
        self.db
            .prepare_cached("UPDATE jobs SET status = ?1, status_time = ?2 WHERE job_id = ?3")
            .expect("update statement")
            .execute(rusqlite::params![status.as_str(), nanos(at), job_id])
            .expect("update");
    }

    pub fn prune_finished(&self, before: DateTime<Utc>) -> usize {
        self.db
            .prepare_cached(
                "DELETE FROM job_resources WHERE seq IN (SELECT seq FROM jobs \
                 WHERE status_time < ?1 AND status IN ('successful', 'failed'))",
            )
            .expect("delete statement")
            .execute([nanos(before)])
            .expect("delete");
        self.db
            .prepare_cached(
                "DELETE FROM jobs WHERE status_time < ?1 AND status IN ('successful', 'failed')",
            )
            .expect("delete statement")
            .execute([nanos(before)])
            .expect("delete")
    }

    /// One bounded step of the prune, as a SQLite-backed service would
    /// write it: the `limit` oldest finished jobs before `before` (by
    /// status_time, then insertion) through the retention index, each
    /// job's resource rows deleted by their primary key (the resource ids
    /// read from the job's own columns), then the jobs by theirs.
    pub fn prune_finished_at_most(&self, before: DateTime<Utc>, limit: usize) -> usize {
        let going: Vec<(i64, String, String)> = self
            .db
            .prepare_cached(
                "SELECT seq, resource_ids, resources FROM jobs WHERE status_time < ?1 \
                 AND status IN ('successful', 'failed') ORDER BY status_time, seq LIMIT ?2",
            )
            .expect("select statement")
            .query_map(rusqlite::params![nanos(before), limit as i64], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .expect("select")
            .map(|row| row.expect("a row"))
            .collect();
        let mut resource = self
            .db
            .prepare_cached("DELETE FROM job_resources WHERE resource_id = ?1 AND seq = ?2")
            .expect("delete statement");
        let mut job = self
            .db
            .prepare_cached("DELETE FROM jobs WHERE seq = ?1")
            .expect("delete statement");
        for (seq, resource_ids, resources) in &going {
            // The ids the insert wrote, found the same way.
            let mut probe = Job::new("", "", "", "", Status::Successful, before);
            probe.resource_ids.clone_from(resource_ids);
            probe.resources = serde_json::from_str(resources).expect("resources");
            for id in probe.involved_resources() {
                resource
                    .execute(rusqlite::params![id, seq])
                    .expect("delete resource");
            }
            job.execute([seq]).expect("delete job");
        }
        going.len()
    }
}

/// A page row as the API's `job_set` element, the way a SQLite-backed
/// service would write it.
pub fn element(row: &Row) -> JobElement<'_> {
    let time = |nanos: i64| DateTime::from_timestamp_nanos(nanos);
    JobElement {
        status: row.status.parse().expect("status"),
        job_id: Cow::Borrowed(&row.job_id),
        directive: Cow::Borrowed(&row.directive),
        job_action: Cow::Borrowed(&row.job_action),
        create_time: time(row.create_time),
        owner: Cow::Borrowed(&row.owner),
        status_time: time(row.status_time),
        error_codes: Cow::Borrowed(&row.error_codes),
        resource_ids: Cow::Borrowed(&row.resource_ids),
        resources: Cow::Owned(serde_json::from_str(&row.resources).expect("resources")),
        extras: Cow::Owned(serde_json::from_str(&row.extras).expect("extras")),
    }
}

/// A job as the API's `job_set` element, the way a `Vec`-backed service
/// would write it.
pub fn job_element(job: &Job) -> JobElement<'_> {
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
        resources: Cow::Owned(to_raw_value(&job.resources).expect("resources")),
        extras: Cow::Owned(to_raw_value(&job.extras).expect("extras")),
    }
}

/// The success JSON of a page of elements.
pub fn response_json(total_count: u64, job_set: Vec<JobElement<'_>>) -> String {
    let response = Response {
        action: Cow::Borrowed("DescribeClusterJobsResponse"),
        total_count,
        job_set,
        ret_code: 0,
    };
    serde_json::to_string(&response).expect("json")
}

/// A status's place in [`Status::ALL`].
fn slot(status: Status) -> usize {
    Status::ALL.iter().position(|&s| s == status).unwrap_or(0)
}

/// Keys of one order: (time in nanoseconds, insertion sequence).
type Keys = std::collections::BTreeSet<(i64, usize)>;

/// One scope's jobs in both orders, a set per status, so a count is the
/// sum of a few lengths.
#[derive(Default)]
struct Sets {
    by_create: [Keys; 4],
    by_status: [Keys; 4],
}

impl Sets {
    fn add(&mut self, seq: usize, job: &Job) {
        let s = slot(job.status);
        self.by_create[s].insert((nanos(job.create_time), seq));
        self.by_status[s].insert((nanos(job.status_time), seq));
    }

    fn order(&self, key: SortKey) -> &[Keys; 4] {
        match key {
            SortKey::CreateTime => &self.by_create,
            SortKey::StatusTime => &self.by_status,
        }
    }
}

/// The honest in-memory rival (SPEC §8): std `BTreeMap`/`BTreeSet`
/// indexes by app, (app, owner), (app, action) and (app, resource id), a
/// set per status so counts are lengths, as a competent engineer would
/// write it in an afternoon. A page merges the status sets in order and
/// skips `offset` entries one by one; a filter the index does not hold is
/// checked job by job.
#[derive(Default)]
pub struct BTree {
    jobs: Vec<Job>,
    ids: std::collections::HashMap<String, usize>,
    apps: std::collections::BTreeMap<String, Sets>,
    owners: std::collections::BTreeMap<(String, String), Sets>,
    actions: std::collections::BTreeMap<(String, String), Sets>,
    resources: std::collections::BTreeMap<(String, String), std::collections::BTreeSet<usize>>,
}

impl BTree {
    pub fn new(jobs: &[Job]) -> BTree {
        let mut engine = BTree::default();
        for job in jobs {
            engine.insert(job.clone());
        }
        engine
    }

    pub fn insert(&mut self, job: Job) {
        let seq = self.jobs.len();
        self.ids.insert(job.job_id.clone(), seq);
        self.apps.entry(job.app.clone()).or_default().add(seq, &job);
        self.owners
            .entry((job.app.clone(), job.owner.clone()))
            .or_default()
            .add(seq, &job);
        self.actions
            .entry((job.app.clone(), job.job_action.clone()))
            .or_default()
            .add(seq, &job);
        for id in job.involved_resources() {
            self.resources
                .entry((job.app.clone(), id.to_owned()))
                .or_default()
                .insert(seq);
        }
        self.jobs.push(job);
    }

    pub fn describe(&self, caller: &Caller, query: &Query) -> (u64, Vec<&Job>) {
        let owner = match query.owner() {
            Some(owner) => Some(owner),
            None if caller.is_admin() => None,
            None => Some(caller.user_id()),
        };
        let statuses: Vec<Status> = query.statuses().collect();
        let statuses = if statuses.is_empty() {
            Status::ALL.to_vec()
        } else {
            statuses
        };
        let key_of = |seq: usize| {
            let job = &self.jobs[seq];
            let time = match query.sort_key() {
                SortKey::CreateTime => job.create_time,
                SortKey::StatusTime => job.status_time,
            };
            (nanos(time), seq)
        };
        let lo = query.start_time().map_or((i64::MIN, 0), |t| (nanos(t), 0));
        let hi = query
            .end_time()
            .map_or((i64::MAX, usize::MAX), |t| (nanos(t), 0));
        let after = query
            .after()
            .and_then(|id| self.ids.get(id))
            .map(|&seq| key_of(seq));
        let newest_first = query.order() == Order::NewestFirst;
        let past_after = |key: (i64, usize)| match after {
            None => true,
            Some(cursor) if newest_first => key < cursor,
            Some(cursor) => key > cursor,
        };
        let matches = |seq: usize| {
            let job = &self.jobs[seq];
            job.app == query.app()
                && owner.is_none_or(|o| job.owner == o)
                && statuses.contains(&job.status)
                && query.job_action().is_none_or(|a| job.job_action == a)
                && query
                    .cluster()
                    .is_none_or(|c| crate::naive::involves(job, c))
                && (lo..hi).contains(&key_of(seq))
        };
        let offset = usize::try_from(query.offset()).unwrap_or(usize::MAX);
        let limit = query.page_limit() as usize;
        // Listed ids, or a cluster's set: filter, sort, page.
        let listed: Option<Vec<usize>> = if !query.job_ids().is_empty() {
            Some(
                query
                    .job_ids()
                    .iter()
                    .filter_map(|id| self.ids.get(id).copied())
                    .collect(),
            )
        } else {
            query.cluster().map(|c| {
                self.resources
                    .get(&(query.app().to_owned(), c.to_owned()))
                    .map(|set| set.iter().copied().collect())
                    .unwrap_or_default()
            })
        };
        if let Some(mut seqs) = listed {
            seqs.sort_unstable();
            seqs.dedup();
            let mut keys: Vec<(i64, usize)> = seqs
                .into_iter()
                .filter(|&s| matches(s))
                .map(key_of)
                .collect();
            let total = keys.len() as u64;
            keys.retain(|&key| past_after(key));
            keys.sort_unstable();
            if newest_first {
                keys.reverse();
            }
            let page = keys
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|(_, s)| &self.jobs[s])
                .collect();
            return (total, page);
        }
        // An ordered scope: the owner's, else the action's, else the app's.
        let app = query.app().to_owned();
        let sets = match (owner, query.job_action()) {
            (Some(owner), _) => self.owners.get(&(app, owner.to_owned())),
            (None, Some(action)) => self.actions.get(&(app, action.to_owned())),
            (None, None) => self.apps.get(&app),
        };
        let Some(sets) = sets else {
            return (0, Vec::new());
        };
        let order = sets.order(query.sort_key());
        let chosen: Vec<&Keys> = statuses.iter().map(|&s| &order[slot(s)]).collect();
        // Exact scope, no window: the count is the sets' lengths.
        let exact = query.job_action().is_none() || owner.is_none();
        let windowed = query.start_time().is_some() || query.end_time().is_some();
        let merged = merge(&chosen, lo, hi, newest_first);
        let total = if exact && !windowed {
            chosen.iter().map(|set| set.len() as u64).sum()
        } else {
            merge(&chosen, lo, hi, newest_first)
                .filter(|&(_, s)| matches(s))
                .count() as u64
        };
        let page = merged
            .filter(|&(_, s)| exact || matches(s))
            .filter(|&key| past_after(key))
            .skip(offset)
            .take(limit)
            .map(|(_, s)| &self.jobs[s])
            .collect();
        (total, page)
    }
}

/// One set's keys in a range, in one direction.
type Head<'a> = std::iter::Peekable<Box<dyn Iterator<Item = (i64, usize)> + 'a>>;

/// The keys of several sets in `lo..hi`, merged in one order.
fn merge<'a>(
    sets: &[&'a Keys],
    lo: (i64, usize),
    hi: (i64, usize),
    newest_first: bool,
) -> impl Iterator<Item = (i64, usize)> + 'a {
    let mut heads: Vec<Head<'a>> = sets
        .iter()
        .map(|set| {
            let range = set.range(lo..hi).copied();
            let it: Box<dyn Iterator<Item = (i64, usize)> + 'a> = if newest_first {
                Box::new(range.rev())
            } else {
                Box::new(range)
            };
            it.peekable()
        })
        .collect();
    std::iter::from_fn(move || {
        let mut best: Option<(usize, (i64, usize))> = None;
        for (i, head) in heads.iter_mut().enumerate() {
            if let Some(&key) = head.peek() {
                let better = best.is_none_or(|(_, b)| if newest_first { key > b } else { key < b });
                if better {
                    best = Some((i, key));
                }
            }
        }
        let (i, key) = best?;
        heads[i].next();
        Some(key)
    })
}
