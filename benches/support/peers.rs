//! The engines joblog is measured against, on the same jobs and queries:
//! `naive`, a `Vec` filtered, sorted, skipped and taken per query, and
//! `sqlite`, SQLite in memory through rusqlite.

#![allow(dead_code)] // each bench uses its own part

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use joblog::{Caller, Job, JobElement, Query, Response, Status};
use rusqlite::{Connection, params_from_iter, types::Value};

/// What a query asks, in the form every engine takes.
#[derive(Clone, Debug)]
pub(crate) struct Ask {
    pub(crate) caller: Caller,
    pub(crate) query: Query,
    pub(crate) app: String,
    pub(crate) owner: Option<String>,
    pub(crate) ids: Vec<String>,
    pub(crate) statuses: Vec<Status>,
    pub(crate) offset: u64,
    pub(crate) limit: u64,
}

impl Ask {
    pub(crate) fn new(caller: Caller, app: &str) -> Ask {
        let owner = (!caller.is_admin()).then(|| caller.user_id().to_owned());
        Ask {
            caller,
            query: Query::new(app),
            app: app.to_owned(),
            owner,
            ids: Vec::new(),
            statuses: Vec::new(),
            offset: 0,
            limit: 20,
        }
    }

    pub(crate) fn status(mut self, status: Status) -> Ask {
        self.statuses.push(status);
        self.query = self.query.status(status);
        self
    }

    pub(crate) fn job_id(mut self, id: &str) -> Ask {
        self.ids.push(id.to_owned());
        self.query = self.query.job_id(id);
        self
    }

    pub(crate) fn offset(mut self, offset: u64) -> Ask {
        self.offset = offset;
        self.query = self.query.offset(offset);
        self
    }

    pub(crate) fn limit(mut self, limit: u64) -> Ask {
        self.limit = limit;
        self.query = self.query.limit(limit);
        self
    }

    fn matches(&self, job: &Job) -> bool {
        job.app == self.app
            && self.owner.as_ref().is_none_or(|o| &job.owner == o)
            && (self.ids.is_empty() || self.ids.contains(&job.job_id))
            && (self.statuses.is_empty() || self.statuses.contains(&job.status))
    }
}

/// The naive engine: the jobs in insertion order.
pub(crate) struct Naive {
    pub(crate) jobs: Vec<Job>,
}

impl Naive {
    /// Filter, sort newest first by create time (ties: later inserted
    /// first), skip, take.
    pub(crate) fn describe(&self, ask: &Ask) -> (u64, Vec<&Job>) {
        let mut hits: Vec<(usize, &Job)> = self
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, job)| ask.matches(job))
            .collect();
        hits.sort_by_key(|&(i, job)| std::cmp::Reverse((job.create_time, i)));
        let total = hits.len() as u64;
        let page = hits
            .into_iter()
            .skip(ask.offset as usize)
            .take(ask.limit.min(100) as usize)
            .map(|(_, job)| job)
            .collect();
        (total, page)
    }
}

/// SQLite in memory: one table, rowid = insertion order.
pub(crate) struct Sqlite {
    pub(crate) db: Connection,
}

/// One page row as SQLite hands it back.
pub(crate) struct Row {
    pub(crate) job_id: String,
    pub(crate) status: String,
    pub(crate) directive: String,
    pub(crate) job_action: String,
    pub(crate) create_time: i64,
    pub(crate) owner: String,
    pub(crate) status_time: i64,
    pub(crate) error_codes: String,
    pub(crate) resource_ids: String,
    pub(crate) resources: String,
    pub(crate) extras: String,
}

const COLUMNS: &str = "job_id, status, directive, job_action, create_time, owner, status_time, \
                       error_codes, resource_ids, resources, extras";

fn nanos(time: DateTime<Utc>) -> i64 {
    time.timestamp_nanos_opt().unwrap_or_default()
}

impl Sqlite {
    /// The schema and the indexes a competent engineer would add for these
    /// queries: job_id unique (ids, status changes); (app, status,
    /// create_time) for status pages and counts; (app, owner, create_time)
    /// for a user's pages; (app, create_time) for pages of all statuses and
    /// `COUNT(*)` of an app; (status_time) for retention. (Every SQLite
    /// index ends with the rowid, `seq`, which breaks ties.) `ANALYZE` runs
    /// after loading, so the planner picks them well.
    pub(crate) fn new() -> Sqlite {
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
             CREATE INDEX jobs_app_time ON jobs (app, create_time);
             CREATE INDEX jobs_retention ON jobs (status_time);",
        )
        .expect("schema");
        Sqlite { db }
    }

    pub(crate) fn insert_all(&mut self, jobs: &[Job]) {
        let tx = self.db.transaction().expect("transaction");
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO jobs (job_id, app, owner, job_action, status, directive, \
                     create_time, status_time, error_codes, resource_ids, resources, extras) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .expect("insert statement");
            for job in jobs {
                insert
                    .execute(rusqlite::params![
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
            }
        }
        tx.commit().expect("commit");
        self.db.execute_batch("ANALYZE").expect("analyze");
    }

    /// `COUNT(*)` plus `ORDER BY … LIMIT … OFFSET …`, prepared statements
    /// reused from the connection's cache.
    pub(crate) fn describe(&self, ask: &Ask) -> (u64, Vec<Row>) {
        let mut filter = String::from("app = ?");
        let mut args: Vec<Value> = vec![Value::Text(ask.app.clone())];
        if let Some(owner) = &ask.owner {
            filter.push_str(" AND owner = ?");
            args.push(Value::Text(owner.clone()));
        }
        if !ask.statuses.is_empty() {
            filter.push_str(" AND status IN (");
            filter.push_str(&vec!["?"; ask.statuses.len()].join(", "));
            filter.push(')');
            args.extend(
                ask.statuses
                    .iter()
                    .map(|s| Value::Text(s.as_str().to_owned())),
            );
        }
        if !ask.ids.is_empty() {
            filter.push_str(" AND job_id IN (");
            filter.push_str(&vec!["?"; ask.ids.len()].join(", "));
            filter.push(')');
            args.extend(ask.ids.iter().map(|id| Value::Text(id.clone())));
        }
        let total: i64 = self
            .db
            .prepare_cached(&format!("SELECT COUNT(*) FROM jobs WHERE {filter}"))
            .expect("count statement")
            .query_row(params_from_iter(args.iter()), |row| row.get(0))
            .expect("count");
        let limit = ask.limit.min(100);
        if limit == 0 {
            return (total as u64, Vec::new());
        }
        args.push(Value::Integer(limit as i64));
        args.push(Value::Integer(ask.offset as i64));
        let mut page = self
            .db
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE {filter} \
                 ORDER BY create_time DESC, seq DESC LIMIT ? OFFSET ?"
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

    pub(crate) fn set_status(&self, job_id: &str, status: Status, at: DateTime<Utc>) {
        self.db
            .prepare_cached("UPDATE jobs SET status = ?1, status_time = ?2 WHERE job_id = ?3")
            .expect("update statement")
            .execute(rusqlite::params![status.as_str(), nanos(at), job_id])
            .expect("update");
    }

    pub(crate) fn prune_finished(&self, before: DateTime<Utc>) -> usize {
        self.db
            .prepare_cached(
                "DELETE FROM jobs WHERE status_time < ?1 AND status IN ('successful', 'failed')",
            )
            .expect("delete statement")
            .execute([nanos(before)])
            .expect("delete")
    }
}

/// A page row as the API's `job_set` element, the way a SQLite-backed
/// service would write it.
pub(crate) fn element(row: &Row) -> JobElement<'_> {
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

/// The success JSON of a page of elements.
pub(crate) fn response_json(total_count: u64, job_set: Vec<JobElement<'_>>) -> String {
    let response = Response {
        action: Cow::Borrowed("DescribeClusterJobsResponse"),
        total_count,
        job_set,
        ret_code: 0,
    };
    serde_json::to_string(&response).expect("json")
}
