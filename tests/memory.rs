//! Memory follows the jobs: after a prune, a store holds what a store of
//! the survivors alone holds. Its own test binary, since it counts every
//! heap byte of the process (one test, so nothing else allocates beside it).

#[path = "support/counting.rs"]
mod counting;

use counting::held;
use joblog::chrono::{DateTime, Duration, Utc};
use joblog::{Caller, Job, JobStore, Query, Status};

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_520_000_000, 0).expect("in range")
}

/// Job `i`: its own owner and action, finished at `t0 + i` seconds, unless
/// it is one of the survivors (`i % 50_000 == 7`), which stay working.
fn job(i: i64) -> Job {
    let status = if i % 50_000 == 7 {
        Status::Working
    } else {
        Status::Successful
    };
    let mut job = Job::new(
        format!("j-{i}"),
        format!("app-{}", i % 3),
        format!("usr-{i}"),
        format!("Action{i}"),
        status,
        t0() + Duration::seconds(i),
    );
    job.resource_ids = format!("cl-{i}");
    job
}

/// The heap bytes `build` leaves held in the store it returns.
fn bytes_of(build: impl FnOnce() -> JobStore) -> (JobStore, usize) {
    let start = held();
    let store = build();
    let bytes = held() - start;
    (store, bytes)
}

#[test]
fn after_a_prune_memory_follows_the_jobs_still_held() {
    const N: i64 = 200_000;
    let survivors: Vec<i64> = (0..N).filter(|i| i % 50_000 == 7).collect();
    let (churned, churned_bytes) = bytes_of(|| {
        let mut store = JobStore::new();
        for i in 0..N {
            store.insert(job(i)).expect("valid job");
        }
        let dropped = store
            .prune_finished(t0() + Duration::seconds(N))
            .map_or(0, |event| event.dropped());
        assert_eq!(dropped, (N as usize) - survivors.len());
        store
    });
    let (fresh, fresh_bytes) = bytes_of(|| {
        let mut store = JobStore::new();
        for &i in &survivors {
            store.insert(job(i)).expect("valid job");
        }
        store
    });
    assert_eq!(churned.len(), survivors.len());
    eprintln!("after the prune: {churned_bytes} bytes; fresh: {fresh_bytes} bytes");
    churned.check_invariants().expect("indexes exact");
    // Names of pruned jobs are forgotten, and every index gave back its
    // room: the churned store holds no more than twice the fresh one (the
    // spare room any growing table keeps), where before it held every
    // name and every table's peak size.
    assert!(
        churned_bytes <= 2 * fresh_bytes + 4096,
        "a store of {} jobs holds {churned_bytes} bytes after the prune; \
         a fresh one holds {fresh_bytes}",
        churned.len()
    );
    // The survivors answer as they did, under their own names.
    for &i in &survivors {
        let owner = format!("usr-{i}");
        let query = Query::builder(format!("app-{}", i % 3)).build();
        let page = churned
            .describe(&Caller::user(&owner), &query)
            .expect("valid");
        let ids: Vec<&str> = page.jobs().iter().map(|job| job.job_id()).collect();
        assert_eq!(ids, [format!("j-{i}")]);
        assert_eq!(page.jobs()[0].owner(), owner);
        assert_eq!(page.jobs()[0].job_action(), format!("Action{i}"));
    }
    // Pruned in bounded steps, a store gives its spare room back on
    // shrink_to_fit, and answers as before.
    let (stepped, stepped_bytes) = bytes_of(|| {
        let mut store = JobStore::new();
        for i in 0..N {
            store.insert(job(i)).expect("valid job");
        }
        let mut dropped = 0;
        while let Some(event) = store.prune_finished_at_most(t0() + Duration::seconds(N), 5_000) {
            dropped += event.dropped();
        }
        assert_eq!(dropped, (N as usize) - survivors.len());
        store.shrink_to_fit();
        store
    });
    eprintln!("after steps and shrink_to_fit: {stepped_bytes} bytes");
    stepped.check_invariants().expect("indexes exact");
    assert!(
        stepped_bytes <= 2 * fresh_bytes + 4096,
        "a store of {} jobs holds {stepped_bytes} bytes after a stepped prune and \
         shrink_to_fit; a fresh one holds {fresh_bytes}",
        stepped.len()
    );
    let all = |store: &JobStore| -> Vec<String> {
        (0..3)
            .flat_map(|app| {
                let query = Query::builder(format!("app-{app}")).build();
                let page = store
                    .describe(&Caller::admin("root"), &query)
                    .expect("valid");
                let ids: Vec<String> = page
                    .jobs()
                    .iter()
                    .map(|job| job.job_id().to_owned())
                    .collect();
                ids
            })
            .collect()
    };
    assert_eq!(all(&stepped), all(&churned));
    drop(fresh);
}
