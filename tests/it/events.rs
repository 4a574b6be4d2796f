//! Change events (SPEC §9): their JSON form, write-ahead with `prepare`,
//! replay with `apply`, and every refusal of `apply`.

use joblog::{Applied, Change, Divergence, ErrorKind, Event, Job, JobStore, Status};
use proptest::prelude::*;

use crate::{at, dump, job};

/// A store with one job of each kind of history, and the events made.
fn history() -> (JobStore, Vec<Event>) {
    let mut store = JobStore::new();
    let mut events = Vec::new();
    let mut old = job("j-0", "app-1", "usr-1", 0);
    old.status = Status::Successful;
    events.push(store.insert(old).unwrap());
    events.push(store.insert(job("j-1", "app-1", "usr-1", 10)).unwrap());
    events.extend(store.set_status("j-1", Status::Working, at(20)).unwrap());
    events.extend(store.fail("j-1", at(30), "1400").unwrap());
    events.extend(store.prune_finished(at(5)));
    (store, events)
}

#[test]
fn events_have_the_json_form_of_the_spec() {
    let (store, events) = history();
    let lines: Vec<String> = events
        .iter()
        .map(|event| serde_json::to_string(event).unwrap())
        .collect();
    let record = |id: &str, status: &str, time: &str| {
        format!(
            r#"{{"status":"{status}","job_id":"{id}","app":"app-1","directive":"","job_action":"RunJob","create_time":"{time}","owner":"usr-1","status_time":"{time}","error_codes":"","resource_ids":"","resources":{{}},"extras":{{}}}}"#
        )
    };
    assert_eq!(
        lines,
        [
            format!(
                r#"{{"revision":1,"event":"insert","job":{}}}"#,
                record("j-0", "successful", "2018-03-04T05:37:58Z")
            ),
            format!(
                r#"{{"revision":2,"event":"insert","job":{}}}"#,
                record("j-1", "pending", "2018-03-04T05:38:08Z")
            ),
            r#"{"revision":3,"event":"status","job_id":"j-1","status":"working","at":"2018-03-04T05:38:18Z"}"#.to_owned(),
            r#"{"revision":4,"event":"status","job_id":"j-1","status":"failed","at":"2018-03-04T05:38:28Z","error_codes":"1400"}"#.to_owned(),
            r#"{"revision":5,"event":"prune","before":"2018-03-04T05:38:03Z","dropped":1}"#.to_owned(),
        ]
    );
    assert_eq!(store.revision(), 5);
    // And they read back as they were.
    for (line, event) in lines.iter().zip(&events) {
        assert_eq!(&serde_json::from_str::<Event>(line).unwrap(), event);
    }
    // Times keep every digit.
    let mut store = JobStore::new();
    store.insert(job("j-1", "a", "u", 0)).unwrap();
    let late = at(1) + chrono::Duration::nanoseconds(250);
    let event = store
        .set_status("j-1", Status::Working, late)
        .unwrap()
        .unwrap();
    let line = serde_json::to_string(&event).unwrap();
    assert!(
        line.contains(r#""at":"2018-03-04T05:37:59.000000250Z""#),
        "{line}"
    );
    assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), event);
}

#[test]
fn a_malformed_event_is_refused_saying_why() {
    for (line, why) in [
        (
            r#"{"revision":1,"event":"insert"}"#,
            "a insert event needs `job`",
        ),
        (
            r#"{"revision":1,"event":"status","job_id":"j","status":"working"}"#,
            "a status event needs `at`",
        ),
        (
            r#"{"revision":1,"event":"status","job_id":"j","status":"working","at":"2018-03-04T05:38:00Z","error_codes":"1"}"#,
            "`error_codes` is only allowed with status failed, not working",
        ),
        (
            r#"{"revision":1,"event":"prune","before":"2018-03-04T05:38:00Z","dropped":1,"job_id":"j"}"#,
            "a prune event has no `job_id`",
        ),
        (
            r#"{"revision":1,"event":"prune","before":"2018-03-04T05:38:00Z"}"#,
            "a prune event needs `dropped`",
        ),
        (
            r#"{"revision":1,"event":"prune","before":"2018-03-04T05:38:00Z","limit":0,"dropped":1}"#,
            "a prune event's `limit` is at least 1 (a prune of none is no change)",
        ),
        (
            r#"{"revision":1,"event":"prune","before":"2018-03-04T05:38:00Z","limit":2,"dropped":3}"#,
            "a prune event drops at most its `limit`: 3 is more than 2",
        ),
        (
            r#"{"revision":1,"event":"status","job_id":"j","status":"working","at":"2018-03-04T05:38:00Z","limit":1}"#,
            "a status event has no `limit`",
        ),
        (
            r#"{"revision":1,"event":"prune","before":"2018-03-04T05:38:00Z","limit":null,"dropped":1}"#,
            "invalid type: null, expected usize",
        ),
        (
            r#"{"revision":1,"event":"insert","job":null}"#,
            "invalid type: null",
        ),
        (
            r#"{"revision":1,"event":"rename","job_id":"j"}"#,
            "unknown variant `rename`",
        ),
        (
            r#"{"revision":-1,"event":"prune","before":"2018-03-04T05:38:00Z","dropped":1}"#,
            "invalid value: integer `-1`",
        ),
        (
            r#"{"revision":1,"event":"prune","before":"2018-03-04T05:38:00Z","dropped":1,"extra":1}"#,
            "unknown field `extra`",
        ),
    ] {
        let err = serde_json::from_str::<Event>(line).unwrap_err().to_string();
        assert!(err.starts_with(why), "{line}: {err}");
    }
}

#[test]
fn prepare_makes_the_event_and_changes_nothing() {
    let (store, _) = history();
    let before = (dump(&store), store.revision());
    let event = store
        .prepare(Change::Insert {
            job: Box::new(job("j-2", "app-1", "usr-1", 40)),
        })
        .unwrap()
        .unwrap();
    assert_eq!(event.revision, 6);
    // A no-op has no event; a prune's count is filled in.
    let same = Change::Status {
        job_id: "j-1".into(),
        status: Status::Failed,
        at: at(50),
        error_codes: String::new(),
    };
    assert_eq!(store.prepare(same).unwrap(), None);
    let prune = Change::Prune {
        limit: None,
        before: at(100),
        dropped: 0,
    };
    assert_eq!(store.prepare(prune).unwrap().unwrap().dropped(), 1);
    let nothing = Change::Prune {
        limit: None,
        before: at(0),
        dropped: 7,
    };
    assert_eq!(store.prepare(nothing).unwrap(), None);
    // A prune whose time an event could not carry is refused.
    let far = Change::Prune {
        limit: Some(3),
        before: "+10000-01-01T00:00:00Z".parse().unwrap(),
        dropped: 0,
    };
    assert_eq!(
        store.prepare(far).unwrap_err().to_string(),
        "ParameterError, invalid value [+10000-01-01T00:00:00Z] for field [before]: must lie \
         between 1677-09-21T00:12:43.145224192Z and 2262-04-11T23:47:16.854775807Z"
    );
    // A refused change is refused as its mutator would refuse it.
    let err = store
        .prepare(Change::Status {
            job_id: "j-9".into(),
            status: Status::Working,
            at: at(50),
            error_codes: String::new(),
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "ResourceNotFound, job [j-9] not found");
    let mut pending = JobStore::new();
    pending.insert(job("j-1", "app-1", "usr-1", 0)).unwrap();
    let err = pending
        .prepare(Change::Status {
            job_id: "j-1".into(),
            status: Status::Successful,
            at: at(50),
            error_codes: "5".into(),
        })
        .unwrap_err();
    assert_eq!(pending.revision(), 1);
    assert_eq!(
        err.to_string(),
        "ParameterError, invalid value [5] for field [error_codes]: must be empty unless the job failed"
    );
    assert_eq!((dump(&store), store.revision()), before);
}

#[test]
fn apply_replays_a_history_and_skips_what_it_has() {
    let (primary, events) = history();
    let mut replica = JobStore::new();
    for event in &events {
        assert_eq!(replica.apply(event).unwrap(), Applied::Changed);
        // Delivered again: skipped.
        assert_eq!(replica.apply(event).unwrap(), Applied::AlreadyApplied);
        assert_eq!(replica.apply(&events[0]).unwrap(), Applied::AlreadyApplied);
    }
    assert_eq!(replica.revision(), primary.revision());
    assert_eq!(dump(&replica), dump(&primary));
    replica.check_invariants().unwrap();
}

/// Applies `event` to the replica of the first `n` events of `history`,
/// expecting a refusal that changes nothing; returns the error.
fn refused(n: usize, event: Event) -> joblog::Error {
    let (_, events) = history();
    let mut replica = JobStore::new();
    for event in &events[..n] {
        let _ = replica.apply(event).unwrap();
    }
    let before = (dump(&replica), replica.revision());
    let err = replica.apply(&event).unwrap_err();
    assert_eq!((dump(&replica), replica.revision()), before, "{err}");
    replica.check_invariants().unwrap();
    assert_eq!(err.ret_code(), 5000);
    err
}

fn status(revision: u64, id: &str, status: Status, at: chrono::DateTime<chrono::Utc>) -> Event {
    Event {
        revision,
        change: Change::Status {
            job_id: id.into(),
            status,
            at,
            error_codes: String::new(),
        },
    }
}

#[test]
fn every_refusal_of_apply_has_its_own_kind_and_message() {
    let (_, events) = history();
    let insert = |revision, job: Job| Event {
        revision,
        change: Change::Insert { job: Box::new(job) },
    };
    let cases: Vec<(usize, Event, &str)> = vec![
        (
            2,
            Event {
                revision: 5,
                ..events[2].clone()
            },
            "InternalError, event 5 is not the next one: the store is at revision 2, \
             so events 3 to 4 are missing",
        ),
        (
            2,
            insert(3, job("j-1", "app-1", "usr-2", 99)),
            "InternalError, event 3 diverges from this store: \
             it inserts job [j-1], which is already stored",
        ),
        (
            2,
            status(3, "j-7", Status::Working, at(20)),
            "InternalError, event 3 diverges from this store: \
             it moves job [j-7], which is not stored",
        ),
        (
            2,
            status(3, "j-0", Status::Working, at(20)),
            "InternalError, event 3 diverges from this store: \
             it moves job [j-0] to working, which is successful here and cannot become working",
        ),
        (
            2,
            status(3, "j-1", Status::Pending, at(20)),
            "InternalError, event 3 diverges from this store: \
             it moves job [j-1] to pending, which it already is here",
        ),
        (
            4,
            Event {
                revision: 5,
                change: Change::Prune {
                    limit: None,
                    before: at(5),
                    dropped: 2,
                },
            },
            "InternalError, event 5 diverges from this store: \
             its prune dropped 2 jobs, and would drop 1 here",
        ),
        (
            4,
            Event {
                revision: 5,
                change: Change::Prune {
                    limit: None,
                    before: at(-100),
                    dropped: 1,
                },
            },
            "InternalError, event 5 diverges from this store: \
             its prune dropped 1 jobs, and would drop 0 here",
        ),
        (
            2,
            status(3, "j-1", Status::Working, at(1)),
            "InternalError, event 3 diverges from this store: its change is refused here: \
             status change of job [j-1] at 2018-03-04T05:37:59Z is before its status_time \
             2018-03-04T05:38:08Z",
        ),
        (
            2,
            insert(3, job("j 2", "app-1", "usr-2", 99)),
            "InternalError, event 3 diverges from this store: its change is refused here: \
             invalid value [j 2] for field [job_id]: must not contain whitespace or control characters",
        ),
    ];
    for (n, event, message) in cases {
        let err = refused(n, event);
        assert_eq!(err.to_string(), message);
        let kind_matches = match err.kind() {
            ErrorKind::EventGap { revision, event } => (*revision, *event) == (2, 5),
            ErrorKind::Diverged { divergence, .. } => matches!(
                divergence,
                Divergence::DuplicateJob { .. }
                    | Divergence::UnknownJob { .. }
                    | Divergence::InvalidTransition { .. }
                    | Divergence::NoChange { .. }
                    | Divergence::PruneCount { .. }
                    | Divergence::Refused(_)
            ),
            _ => false,
        };
        assert!(kind_matches, "{err:?}");
    }
    // Each divergence is told apart by its kind.
    let err = refused(2, status(3, "j-7", Status::Working, at(20)));
    assert!(matches!(
        err.kind(),
        ErrorKind::Diverged {
            event: 3,
            divergence: Divergence::UnknownJob { job_id }
        } if job_id == "j-7"
    ));
    let full = Event {
        revision: 1,
        change: events[0].change.clone(),
    };
    let mut tiny = JobStore::with_max_jobs(0);
    let err = tiny.apply(&full).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::Diverged { divergence: Divergence::Refused(inner), .. } if inner.ret_code() == 2500
    ));
}

/// A primary's history: writes drawn at random over thousands of jobs.
pub(crate) fn primary_history(
    creates: &[(u8, u8, u16)],
    moves: &[(u16, u8, u16)],
    prunes: &[u16],
) -> (JobStore, Vec<Event>) {
    let mut store = JobStore::new();
    let mut events = Vec::new();
    for (i, &(owner, s, t)) in creates.iter().enumerate() {
        let mut job = job(
            &format!("j-{i}"),
            "app-1",
            &format!("usr-{}", owner % 5),
            i64::from(t),
        );
        job.status = Status::ALL[usize::from(s % 4)];
        events.extend(store.insert(job).ok());
    }
    for (k, &(which, s, t)) in moves.iter().enumerate() {
        let id = format!("j-{}", usize::from(which) % creates.len().max(1));
        let to = Status::ALL[usize::from(s % 4)];
        let when = at(i64::from(t));
        let made = if to == Status::Failed {
            store.fail(&id, when, "E1")
        } else {
            store.set_status(&id, to, when)
        };
        events.extend(made.ok().flatten());
        // Every 97 moves, the next prune: every other one in bounded steps.
        if let (96, Some(&before)) = (k % 97, prunes.get(k / 97)) {
            let before_at = at(i64::from(before));
            if k / 97 % 2 == 0 {
                events.extend(store.prune_finished(before_at));
            } else {
                let limit = 1 + usize::from(before) % 300;
                while let Some(event) = store.prune_finished_at_most(before_at, limit) {
                    events.push(event);
                }
            }
        }
    }
    (store, events)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(24), ..ProptestConfig::default() })]

    /// A replica fed the primary's events, with random redeliveries of
    /// earlier ones, ends identical to the primary; a stream with a gap
    /// or a foreign event is refused at the first bad event.
    #[test]
    fn a_replica_fed_the_events_ends_identical(
        creates in prop::collection::vec((any::<u8>(), 0u8..4, 0u16..3000), 500..3000),
        moves in prop::collection::vec((any::<u16>(), 0u8..4, 0u16..4000), 0..2000),
        prunes in prop::collection::vec(0u16..4000, 1..20),
        redeliver in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..300),
    ) {
        let (primary, events) = primary_history(&creates, &moves, &prunes);
        prop_assert_eq!(primary.revision(), events.len() as u64);
        // Each event, and now and then an earlier one again.
        let mut stream: Vec<&Event> = events.iter().collect();
        for (at, earlier) in &redeliver {
            if stream.is_empty() { break; }
            let at = at.index(stream.len());
            let again = stream[earlier.index(at + 1)];
            stream.insert(at + 1, again);
        }
        let mut replica = JobStore::new();
        for event in &stream {
            let _ = replica.apply(event).map_err(|err| TestCaseError::fail(err.to_string()))?;
        }
        replica.check_invariants().map_err(TestCaseError::fail)?;
        prop_assert_eq!(replica.revision(), primary.revision());
        prop_assert_eq!(dump(&replica), dump(&primary));
        for owner in 0..6 {
            let request = format!("app=app-1&owner=usr-{owner}&offset={}&limit=37", owner * 11);
            let admin = joblog::Caller::admin("root");
            prop_assert_eq!(replica.describe_json(&admin, &request), primary.describe_json(&admin, &request));
        }
        // A gap: the replica of the first half refuses the event after
        // next, and stays as it was.
        if events.len() >= 4 {
            let half = events.len() / 2;
            let mut partial = JobStore::new();
            for event in &events[..half] {
                let _ = partial.apply(event).map_err(|err| TestCaseError::fail(err.to_string()))?;
            }
            let before = (dump(&partial), partial.revision());
            let err = partial.apply(&events[half + 1]).unwrap_err();
            let is_gap = matches!(err.kind(), ErrorKind::EventGap { .. });
            prop_assert!(is_gap, "{}", err);
            // A foreign event: the next revision, from another history.
            let foreign = Event { revision: half as u64 + 1, change: events[0].change.clone() };
            let err = partial.apply(&foreign).unwrap_err();
            let diverged = matches!(err.kind(), ErrorKind::Diverged { .. });
            prop_assert!(diverged, "{}", err);
            prop_assert_eq!((dump(&partial), partial.revision()), before);
        }
    }
}

#[test]
fn a_prune_event_that_drops_nothing_is_refused() {
    let line = r#"{"revision":1,"event":"prune","before":"2018-03-04T05:38:00Z","dropped":0}"#;
    let err = serde_json::from_str::<Event>(line).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("a prune event drops at least one job (one that drops none is no change)"),
        "{err}"
    );
    let mut store = JobStore::new();
    let event = Event {
        revision: 1,
        change: Change::Prune {
            limit: None,
            before: at(0),
            dropped: 0,
        },
    };
    assert_eq!(
        store.apply(&event).unwrap_err().to_string(),
        "InternalError, event 1 diverges from this store: its change is refused here: \
         invalid value [0] for field [dropped]: a prune event drops at least one job"
    );
    assert_eq!(store.revision(), 0);
}

/// A bounded prune step is an event that records its limit, and a replica
/// drops the very jobs the primary dropped: the oldest by status time,
/// then by insertion, across apps.
#[test]
fn a_bounded_prune_step_is_an_event_with_its_limit() {
    let mut store = JobStore::new();
    let mut events = Vec::new();
    // Finished at 3, 1, 2, 1 seconds, in two apps; one still working.
    for (i, (app, finished)) in [("a", 3), ("b", 1), ("a", 2), ("b", 1), ("a", 0)]
        .into_iter()
        .enumerate()
    {
        let mut job = job(&format!("j-{i}"), app, "usr-1", finished);
        job.status = if i == 4 {
            Status::Working
        } else {
            Status::Successful
        };
        events.push(store.insert(job).unwrap());
    }
    let step = store.prune_finished_at_most(at(10), 2).unwrap();
    assert_eq!(
        serde_json::to_string(&step).unwrap(),
        r#"{"revision":6,"event":"prune","before":"2018-03-04T05:38:08Z","limit":2,"dropped":2}"#
    );
    // The two at 1 second, the earlier inserted first; then the rest.
    let left: Vec<&str> = store.iter().map(|job| job.job_id()).collect();
    assert_eq!(left, ["j-0", "j-2", "j-4"]);
    events.push(step);
    let last = store.prune_finished_at_most(at(10), 2).unwrap();
    assert_eq!(last.dropped(), 2);
    assert_eq!(store.prune_finished_at_most(at(10), 2), None);
    assert_eq!(store.prune_finished_at_most(at(10), 0), None);
    events.push(last);
    // Read back from JSON, replayed, the same store.
    let mut replica = JobStore::new();
    for event in &events {
        let line = serde_json::to_string(event).unwrap();
        let event: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(replica.apply(&event).unwrap(), Applied::Changed);
        replica.check_invariants().unwrap();
    }
    assert_eq!(dump(&replica), dump(&store));
    assert_eq!(replica.revision(), store.revision());
    // A replica that holds fewer such jobs than the step dropped diverges,
    // and is left as it was.
    let mut behind = JobStore::new();
    for event in &events[..5] {
        let mut event = event.clone();
        if let Change::Insert { job } = &mut event.change
            && job.job_id == "j-3"
        {
            job.status = Status::Working;
        }
        assert_eq!(behind.apply(&event).unwrap(), Applied::Changed);
    }
    let before = dump(&behind);
    let step = Event {
        revision: 6,
        change: Change::Prune {
            before: at(10),
            limit: Some(4),
            dropped: 4,
        },
    };
    assert_eq!(
        behind.apply(&step).unwrap_err().to_string(),
        "InternalError, event 6 diverges from this store: \
         its prune dropped 4 jobs, and would drop 3 here"
    );
    assert_eq!(dump(&behind), before);
    assert_eq!(behind.revision(), 5);
    // prepare fills in what a step would drop, and makes no change.
    let prepared = behind
        .prepare(Change::Prune {
            before: at(10),
            limit: Some(2),
            dropped: 0,
        })
        .unwrap()
        .unwrap();
    assert_eq!(prepared.dropped(), 2);
    assert_eq!(dump(&behind), before);
}
