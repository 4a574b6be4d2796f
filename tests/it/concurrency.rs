//! One store shared behind `RwLock` by reader and writer threads.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;

use joblog::{Caller, Job, JobStore, Order, Query, SortKey, Status};

use crate::at;

const WRITERS: usize = 2;
const READERS: usize = 3;
const JOBS_PER_WRITER: usize = 300;
/// Readers stop after this many queries even if writers are still busy.
const MAX_QUERIES_PER_READER: usize = 20_000;

/// Writer `w`'s job `i`: its own app, owners shared across writers.
fn writer_job(w: usize, i: usize) -> Job {
    let mut job = Job::new(
        format!("j-{w}-{i}"),
        format!("app-{w}"),
        format!("usr-{}", i % 3),
        ["Start", "Stop"][i % 2],
        Status::Pending,
        at(1_000 + i as i64),
    );
    job.resource_ids = format!("cl-{}", i % 5);
    job
}

/// What writer `w` does, in order: insert everything, move every job
/// along, and prune now and then. The prunes can only drop the old jobs
/// loaded before the threads start, so the final state does not depend on
/// how the threads interleave.
fn writes(store: &RwLock<JobStore>, w: usize) {
    for i in 0..JOBS_PER_WRITER {
        store.write().unwrap().insert(writer_job(w, i)).unwrap();
        if i % 50 == 0 {
            store.write().unwrap().prune_finished(at(500));
        }
    }
    for i in 0..JOBS_PER_WRITER {
        let id = format!("j-{w}-{i}");
        let mut guard = store.write().unwrap();
        guard
            .set_status(&id, Status::Working, at(2_000 + i as i64))
            .unwrap();
        if i % 3 == 0 {
            guard.fail(&id, at(3_000 + i as i64), "E1").unwrap();
        } else {
            guard
                .set_status(&id, Status::Successful, at(3_000 + i as i64))
                .unwrap();
        }
    }
}

fn old_jobs() -> Vec<Job> {
    (0..100)
        .map(|i| {
            let mut job = Job::new(
                format!("old-{i}"),
                "app-0",
                "usr-0",
                "Start",
                Status::Successful,
                at(i),
            );
            job.status_time = at(i + 1);
            job
        })
        .collect()
}

/// Every kind of query a reader makes.
fn queries() -> Vec<(Caller, Query)> {
    let admin = Caller::admin("root");
    let user = Caller::user("usr-1");
    let mut all = Vec::new();
    for app in ["app-0", "app-1"] {
        all.push((admin.clone(), Query::new(app)));
        all.push((
            admin.clone(),
            Query::builder(app)
                .status(Status::Working)
                .offset(5)
                .build(),
        ));
        all.push((
            admin.clone(),
            Query::builder(app)
                .status(Status::Pending)
                .status(Status::Failed)
                .sort_key(SortKey::StatusTime)
                .build(),
        ));
        all.push((
            admin.clone(),
            Query::builder(app)
                .owner("usr-2")
                .order(Order::OldestFirst)
                .build(),
        ));
        all.push((
            admin.clone(),
            Query::builder(app).job_action("Stop").limit(7).build(),
        ));
        all.push((
            admin.clone(),
            Query::builder(app).cluster("cl-3").offset(3).build(),
        ));
        all.push((user.clone(), Query::builder(app).limit(100).build()));
        all.push((
            user.clone(),
            Query::builder(app).status(Status::Successful).build(),
        ));
        all.push((admin.clone(), Query::builder(app).limit(0).build()));
    }
    all
}

/// Checks an answer against the promises every answer keeps.
fn consistent(caller: &Caller, query: &Query, store: &JobStore) -> Result<(), String> {
    let page = store.describe(caller, query).map_err(|e| e.to_string())?;
    let jobs = page.jobs();
    if (jobs.len() as u64) > page.total_count() || jobs.len() as u64 > query.page_limit() {
        return Err(format!(
            "{} jobs but total {}",
            jobs.len(),
            page.total_count()
        ));
    }
    let mut ids = HashSet::new();
    let printed = query.to_string();
    let by_status_time = printed.contains("sort_key=status_time");
    let newest_first = printed.contains("reverse=1");
    let statuses: Vec<Status> = query.statuses().collect();
    for (i, job) in jobs.iter().enumerate() {
        if !ids.insert(job.job_id()) {
            return Err(format!("{} twice", job.job_id()));
        }
        let wrong = job.app() != query.app()
            || (!caller.is_admin() && job.owner() != caller.user_id())
            || (!statuses.is_empty() && !statuses.contains(&job.status()))
            || (printed.contains("owner=usr-2") && job.owner() != "usr-2")
            || (printed.contains("job_action=Stop") && job.job_action() != "Stop")
            || (printed.contains("cluster=cl-3") && job.resource_ids() != "cl-3");
        if wrong {
            return Err(format!("{} does not meet {printed}", job.job_id()));
        }
        if let Some(next) = jobs.get(i + 1) {
            let time = |j: &joblog::JobRef<'_>| {
                if by_status_time {
                    j.status_time()
                } else {
                    j.create_time()
                }
            };
            let in_order = if newest_first {
                time(job) >= time(next)
            } else {
                time(job) <= time(next)
            };
            if !in_order {
                return Err(format!(
                    "{} and {} out of order",
                    job.job_id(),
                    next.job_id()
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn readers_and_writers_share_one_store() {
    let mut initial = JobStore::new();
    for job in old_jobs() {
        initial.insert(job).unwrap();
    }
    let store = Arc::new(RwLock::new(initial));
    let writing = Arc::new(AtomicBool::new(true));
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let store = Arc::clone(&store);
            let writing = Arc::clone(&writing);
            thread::spawn(move || -> Result<usize, String> {
                let queries = queries();
                let mut asked = 0;
                while writing.load(Ordering::Relaxed) && asked < MAX_QUERIES_PER_READER {
                    let (caller, query) = &queries[(asked * 7 + r) % queries.len()];
                    consistent(caller, query, &store.read().unwrap())?;
                    asked += 1;
                }
                Ok(asked)
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            thread::spawn(move || writes(&store, w))
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    writing.store(false, Ordering::Relaxed);
    for reader in readers {
        let asked = reader.join().unwrap().unwrap();
        assert!(asked > 0);
    }

    // The same writes, one after the other.
    let mut sequential = JobStore::new();
    for job in old_jobs() {
        sequential.insert(job).unwrap();
    }
    let sequential = RwLock::new(sequential);
    for w in 0..WRITERS {
        writes(&sequential, w);
    }
    let sorted = |store: &JobStore| {
        let mut jobs = crate::dump(store);
        jobs.sort_by(|a, b| a.job_id.cmp(&b.job_id));
        jobs
    };
    let shared = store.read().unwrap();
    shared.check_invariants().unwrap();
    assert_eq!(shared.len(), WRITERS * JOBS_PER_WRITER);
    assert_eq!(sorted(&shared), sorted(&sequential.read().unwrap()));
}
