//! Status changes and retention.

use joblog::{Caller, ErrorKind, JobStore, Query, SortKey, Status};

use crate::{at, dump, job};

fn store_with(status: Status) -> JobStore {
    let mut store = JobStore::new();
    let mut job = job("j-1", "a", "u", 0);
    job.status = status;
    store.insert(job).unwrap();
    store
}

#[test]
fn the_lifecycle_allows_exactly_its_moves() {
    use Status::*;
    let allowed = [
        (Pending, Working),
        (Pending, Failed),
        (Pending, Successful),
        (Working, Failed),
        (Working, Successful),
    ];
    for from in Status::ALL {
        for to in Status::ALL {
            let mut store = store_with(from);
            let before = dump(&store);
            let result = store.set_status("j-1", to, at(5));
            store.check_invariants().unwrap();
            let job = store.get("j-1").unwrap();
            if from == to {
                assert_eq!(result, Ok(None), "{from} -> {to}: no event");
                assert_eq!(dump(&store), before, "same status is a no-op");
            } else if allowed.contains(&(from, to)) {
                let event = result.unwrap().expect("a change makes an event");
                assert_eq!(
                    (event.revision, event.change),
                    (
                        2,
                        joblog::Change::Status {
                            job_id: "j-1".into(),
                            status: to,
                            at: at(5),
                            error_codes: String::new()
                        }
                    ),
                    "{from} -> {to}"
                );
                assert_eq!((job.status(), job.status_time()), (to, at(5)));
            } else {
                let err = result.unwrap_err();
                assert_eq!(err.ret_code(), 1400);
                assert_eq!(
                    err.kind(),
                    &ErrorKind::InvalidTransition {
                        job_id: "j-1".into(),
                        from,
                        to
                    }
                );
                let why = if from.is_finished() {
                    "a finished job's status is final"
                } else {
                    "the lifecycle is pending → working → successful | failed"
                };
                assert_eq!(
                    err.to_string(),
                    format!("PermissionDenied, job [j-1] cannot change from {from} to {to}: {why}")
                );
                assert_eq!(dump(&store), before);
            }
            assert_eq!(from.can_become(to), allowed.contains(&(from, to)));
        }
    }
}

#[test]
fn a_back_dated_change_is_refused() {
    let mut store = store_with(Status::Pending);
    store.set_status("j-1", Status::Working, at(10)).unwrap();
    let before = dump(&store);
    let err = store
        .set_status("j-1", Status::Successful, at(9))
        .unwrap_err();
    assert_eq!(err.ret_code(), 1100);
    assert_eq!(
        err.to_string(),
        "ParameterError, status change of job [j-1] at 2018-03-04T05:38:07Z \
         is before its status_time 2018-03-04T05:38:08Z"
    );
    assert!(matches!(
        err.kind(),
        ErrorKind::StatusTimeBeforeCurrent { .. }
    ));
    assert_eq!(dump(&store), before);
    // The same instant is allowed.
    store.set_status("j-1", Status::Successful, at(10)).unwrap();
    store.check_invariants().unwrap();
}

#[test]
fn a_change_outside_the_supported_years_is_refused() {
    let mut store = store_with(Status::Pending);
    let far = joblog::parse_timestamp("2262-04-12T00:00:00Z").unwrap();
    let err = store.set_status("j-1", Status::Working, far).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ParameterError, invalid value [2262-04-12T00:00:00Z] for field [status_time]: \
         must lie between 1677-09-21T00:12:43.145224192Z and 2262-04-11T23:47:16.854775807Z"
    );
    assert_eq!(store.get("j-1").unwrap().status(), Status::Pending);
}

#[test]
fn an_unknown_job_is_not_found() {
    let mut store = store_with(Status::Pending);
    let err = store.set_status("j-2", Status::Working, at(1)).unwrap_err();
    assert_eq!(err.ret_code(), 2100);
    assert_eq!(err.to_string(), "ResourceNotFound, job [j-2] not found");
    let err = store.fail("j-2", at(1), "x").unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::JobNotFound {
            job_id: "j-2".into()
        }
    );
}

#[test]
fn failing_records_error_codes_once() {
    let mut store = store_with(Status::Working);
    store.fail("j-1", at(3), "1400 5000").unwrap();
    store.fail("j-1", at(4), "other").unwrap();
    let job = store.get("j-1").unwrap();
    assert_eq!(job.status(), Status::Failed);
    assert_eq!(job.error_codes(), "1400 5000");
    assert_eq!(job.status_time(), at(3));
    // set_status(Failed) records no codes.
    let mut store = store_with(Status::Pending);
    store.set_status("j-1", Status::Failed, at(2)).unwrap();
    assert_eq!(store.get("j-1").unwrap().error_codes(), "");
}

#[test]
fn status_changes_move_jobs_in_the_status_time_order() {
    let mut store = JobStore::new();
    for i in 0..5 {
        store.insert(job(&format!("j-{i}"), "a", "u", i)).unwrap();
    }
    store.set_status("j-1", Status::Working, at(100)).unwrap();
    store.set_status("j-3", Status::Successful, at(50)).unwrap();
    store.check_invariants().unwrap();
    let query = Query::builder("a").sort_key(SortKey::StatusTime).build();
    let page = store.describe(&Caller::user("u"), &query).unwrap();
    let ids: Vec<&str> = page.jobs().iter().map(|j| j.job_id()).collect();
    assert_eq!(ids, ["j-1", "j-3", "j-4", "j-2", "j-0"]);
    let pending = store
        .describe(
            &Caller::user("u"),
            &Query::builder("a").status(Status::Pending).build(),
        )
        .unwrap();
    assert_eq!(pending.total_count(), 3);
}

#[test]
fn prune_drops_only_finished_jobs_before_the_cut_off() {
    let mut store = JobStore::new();
    for (i, status) in Status::ALL.into_iter().enumerate() {
        let mut old = job(&format!("old-{i}"), "a", "u", 0);
        old.status = status;
        store.insert(old).unwrap();
        let mut edge = job(&format!("edge-{i}"), "b", "v", 10);
        edge.status = status;
        store.insert(edge).unwrap();
    }
    assert_eq!(
        store
            .prune_finished(at(10))
            .map_or(0, |event| event.dropped()),
        2
    );
    store.check_invariants().unwrap();
    let mut left: Vec<&str> = store.iter().map(|j| j.job_id()).collect();
    left.sort_unstable();
    assert_eq!(
        left,
        ["edge-0", "edge-1", "edge-2", "edge-3", "old-0", "old-1"]
    );
    // Nothing before the epoch of time; everything finished before the end.
    assert_eq!(
        store
            .prune_finished(joblog::parse_timestamp("1000-01-01T00:00:00Z").unwrap())
            .map_or(0, |event| event.dropped()),
        0
    );
    assert_eq!(
        store
            .prune_finished(joblog::parse_timestamp("9999-01-01T00:00:00Z").unwrap())
            .map_or(0, |event| event.dropped()),
        2
    );
    store.check_invariants().unwrap();
    assert_eq!(store.len(), 4);
    // Pruned ids are free again, and the answers forget the pruned jobs.
    store.insert(job("edge-2", "b", "v", 20)).unwrap();
    let page = store
        .describe(&Caller::admin("root"), &Query::new("b"))
        .unwrap();
    assert_eq!(page.total_count(), 3);
    store.check_invariants().unwrap();
}

#[test]
fn many_prunes_compact_the_store() {
    let mut store = JobStore::new();
    for i in 0..300 {
        let mut job = job(&format!("j-{i}"), "a", &format!("u{}", i % 7), i);
        if i % 10 != 0 {
            job.status = Status::Successful;
        }
        store.insert(job).unwrap();
    }
    assert_eq!(
        store
            .prune_finished(at(150))
            .map_or(0, |event| event.dropped()),
        135
    );
    store.check_invariants().unwrap();
    assert_eq!(
        store
            .prune_finished(at(300))
            .map_or(0, |event| event.dropped()),
        135
    );
    store.check_invariants().unwrap();
    assert_eq!(store.len(), 30);
    let page = store
        .describe(
            &Caller::admin("root"),
            &Query::builder("a").limit(3).build(),
        )
        .unwrap();
    let ids: Vec<&str> = page.jobs().iter().map(|j| j.job_id()).collect();
    assert_eq!(ids, ["j-290", "j-280", "j-270"]);
}

/// SPEC §9: 0 when empty, one for each change that succeeds; a refused
/// change or a no-op leaves it as it is.
#[test]
fn the_revision_counts_the_changes_that_succeed() {
    let mut store = JobStore::new();
    assert_eq!(store.revision(), 0);
    store.insert(job("j-1", "app-1", "usr-1", 0)).unwrap();
    store.insert(job("j-2", "app-1", "usr-1", 1)).unwrap();
    assert_eq!(store.revision(), 2);
    // Refused: a duplicate, an invalid record, an unknown id, a forbidden
    // move, a back-dated move.
    assert!(store.insert(job("j-1", "app-1", "usr-1", 0)).is_err());
    assert!(store.insert(job("j 3", "app-1", "usr-1", 0)).is_err());
    assert!(store.set_status("j-9", Status::Working, at(5)).is_err());
    assert!(store.set_status("j-1", Status::Working, at(-5)).is_err());
    store.set_status("j-2", Status::Successful, at(5)).unwrap();
    assert_eq!(store.revision(), 3);
    assert!(store.set_status("j-2", Status::Working, at(6)).is_err());
    // No-ops: the status it has, a repeated failure, a prune of nothing.
    store.set_status("j-1", Status::Pending, at(9)).unwrap();
    store.set_status("j-2", Status::Successful, at(9)).unwrap();
    assert_eq!(
        store
            .prune_finished(at(0))
            .map_or(0, |event| event.dropped()),
        0
    );
    assert_eq!(store.revision(), 3);
    store.fail("j-1", at(7), "E1").unwrap();
    store.fail("j-1", at(8), "E2").unwrap();
    assert_eq!(store.revision(), 4);
    // A prune that drops two jobs is one change.
    assert_eq!(
        store
            .prune_finished(at(100))
            .map_or(0, |event| event.dropped()),
        2
    );
    assert_eq!(store.revision(), 5);
    assert!(store.is_empty());
    // A clone carries the revision.
    assert_eq!(store.clone().revision(), 5);
}
