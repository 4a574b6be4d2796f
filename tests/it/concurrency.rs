//! One store shared behind `RwLock` by reader and writer threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;

use joblog::chrono::{DateTime, Utc};
use joblog::{Caller, Job, JobStore, Order, Query, SortKey, Status};

use crate::{at, naive};

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

/// A change a writer made, logged with the revision it produced.
#[derive(Clone, Debug)]
enum Change {
    Insert(Box<Job>),
    Status(String, Status, DateTime<Utc>),
    Fail(String, DateTime<Utc>),
    Prune(DateTime<Utc>),
}

impl Change {
    /// Makes the change; says whether it changed the store.
    fn apply(&self, store: &mut JobStore) -> bool {
        let before = store.revision();
        match self {
            Change::Insert(job) => drop(store.insert((**job).clone()).unwrap()),
            Change::Status(id, status, at) => drop(store.set_status(id, *status, *at).unwrap()),
            Change::Fail(id, at) => drop(store.fail(id, *at, "E1").unwrap()),
            Change::Prune(before) => {
                store.prune_finished(*before);
            }
        }
        store.revision() != before
    }
}

/// The changes in the order they were made, each with its revision.
type Log = Mutex<Vec<(u64, Change)>>;

/// Makes one change under the write lock and logs it there, so the log's
/// order is the revisions' order.
fn write(store: &RwLock<JobStore>, log: &Log, change: Change) {
    let mut guard = store.write().unwrap();
    if change.apply(&mut guard) {
        log.lock().unwrap().push((guard.revision(), change));
    }
}

/// What writer `w` does, in order: insert everything, move every job
/// along, and prune now and then. The prunes can only drop the old jobs
/// loaded before the threads start, so the final state does not depend on
/// how the threads interleave.
fn writes(store: &RwLock<JobStore>, log: &Log, w: usize) {
    for i in 0..JOBS_PER_WRITER {
        write(store, log, Change::Insert(Box::new(writer_job(w, i))));
        if i % 50 == 0 {
            write(store, log, Change::Prune(at(500)));
        }
    }
    for i in 0..JOBS_PER_WRITER {
        let id = format!("j-{w}-{i}");
        write(
            store,
            log,
            Change::Status(id.clone(), Status::Working, at(2_000 + i as i64)),
        );
        let done = at(3_000 + i as i64);
        if i % 3 == 0 {
            write(store, log, Change::Fail(id, done));
        } else {
            write(store, log, Change::Status(id, Status::Successful, done));
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

/// What one reader saw: which query, at which revision, and the answer.
struct Seen {
    query: usize,
    revision: u64,
    total_count: u64,
    ids: Vec<String>,
}

/// Answers the query and notes the revision it was answered at.
fn read(store: &JobStore, query: usize, (caller, asked): &(Caller, Query)) -> Seen {
    let page = store.describe(caller, asked).unwrap();
    Seen {
        query,
        revision: store.revision(),
        total_count: page.total_count(),
        ids: page
            .jobs()
            .iter()
            .map(|job| job.job_id().to_owned())
            .collect(),
    }
}

/// Every reader's answer is exactly the plain model's answer for the
/// state at the revision the reader read: the writes are replayed from the
/// log in revision order, and each answer is compared at its revision.
#[test]
fn readers_and_writers_share_one_store() {
    let mut initial = JobStore::new();
    for job in old_jobs() {
        initial.insert(job).unwrap();
    }
    let start = initial.revision();
    let store = Arc::new(RwLock::new(initial));
    let log = Arc::new(Log::default());
    let writing = Arc::new(AtomicBool::new(true));
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let store = Arc::clone(&store);
            let writing = Arc::clone(&writing);
            thread::spawn(move || {
                let queries = queries();
                let mut seen = Vec::new();
                while writing.load(Ordering::Relaxed) && seen.len() < MAX_QUERIES_PER_READER {
                    let query = (seen.len() * 7 + r) % queries.len();
                    seen.push(read(&store.read().unwrap(), query, &queries[query]));
                }
                seen
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, log) = (Arc::clone(&store), Arc::clone(&log));
            thread::spawn(move || writes(&store, &log, w))
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    writing.store(false, Ordering::Relaxed);
    let mut by_revision: HashMap<u64, Vec<Seen>> = HashMap::new();
    for reader in readers {
        let seen = reader.join().unwrap();
        assert!(!seen.is_empty());
        for answer in seen {
            by_revision.entry(answer.revision).or_default().push(answer);
        }
    }
    let shared = store.read().unwrap();
    shared.check_invariants().unwrap();
    assert_eq!(shared.len(), WRITERS * JOBS_PER_WRITER);

    // Replay: one store, the log's changes in order; at each revision a
    // reader saw, the model (the replayed jobs, answered naively) must give
    // the reader's answer.
    let log = log.lock().unwrap();
    let revisions: Vec<u64> = log.iter().map(|(revision, _)| *revision).collect();
    let want: Vec<u64> = (start + 1..=shared.revision()).collect();
    assert_eq!(
        revisions, want,
        "every change is one revision, none lost or doubled"
    );
    let queries = queries();
    let mut replay = JobStore::new();
    for job in old_jobs() {
        replay.insert(job).unwrap();
    }
    let mut compared = 0;
    let mut check = |replay: &JobStore| {
        let jobs = crate::dump(replay);
        for seen in by_revision.get(&replay.revision()).into_iter().flatten() {
            let (caller, query) = &queries[seen.query];
            let (total, page) = naive::describe(&jobs, caller, query).unwrap();
            let ids: Vec<&str> = page.iter().map(|job| job.job_id.as_str()).collect();
            assert_eq!(
                (seen.total_count, &seen.ids),
                (total, &ids.iter().map(|id| id.to_string()).collect()),
                "{query} at revision {}",
                seen.revision
            );
            compared += 1;
        }
    };
    check(&replay);
    for (revision, change) in log.iter() {
        assert!(change.apply(&mut replay));
        assert_eq!(replay.revision(), *revision);
        check(&replay);
    }
    let answers: usize = by_revision.values().map(Vec::len).sum();
    assert_eq!(compared, answers, "every answer was compared");
    assert_eq!(crate::dump(&replay), crate::dump(&shared));
}
