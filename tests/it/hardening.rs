//! Regression tests for the holes a hostile review found: each fails on
//! the code before its fix.

use joblog::chrono::{DateTime, Duration, Utc};
use joblog::{
    Access, Caller, ErrorKind, Job, JobStore, MAX_RESOURCES, Plan, PlanIndex, Query, Status,
};

use crate::{dump, job};

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("cl-{i}")).collect()
}

#[test]
fn a_job_involves_at_most_max_resources_ids() {
    let mut store = JobStore::new();
    // At the limit: half the ids as words, all of them listed again, so
    // the duplicates count once.
    let mut full = job("j-full", "app-1", "usr-1", 0);
    let all = ids(MAX_RESOURCES);
    full.resource_ids = all[..MAX_RESOURCES / 2].join(" ");
    full.resources.insert("clusters".into(), all.clone());
    store.insert(full.clone()).unwrap();
    assert_eq!(store.get("j-full").unwrap().to_job(), full);
    let page = store
        .describe_request(
            &Caller::user("usr-1"),
            &format!("app=app-1&cluster=cl-{}", MAX_RESOURCES - 1),
        )
        .unwrap();
    assert_eq!(page.total_count(), 1);
    store.check_invariants().unwrap();

    let before = dump(&store);
    let mut over = job("j-over", "app-1", "usr-1", 1);
    over.resources
        .insert("clusters".into(), ids(MAX_RESOURCES + 1));
    let err = store.insert(over).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::InvalidField {
            field: "resources",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "ParameterError, invalid value […] for field [resources]: a job may involve at most \
             {MAX_RESOURCES} resource ids (resource_ids and resources together), not {}",
            MAX_RESOURCES + 1
        )
    );
    let mut words = job("j-words", "app-1", "usr-1", 1);
    words.resource_ids = ids(MAX_RESOURCES + 1).join(" ");
    let err = store.insert(words).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::InvalidField {
            field: "resource_ids",
            ..
        }
    ));
    assert_eq!(dump(&store), before);
}

#[test]
fn many_repeats_of_one_resource_count_once() {
    let mut store = JobStore::new();
    let mut repeated = job("j-1", "app-1", "usr-1", 0);
    repeated
        .resources
        .insert("clusters".into(), vec!["cl-1".to_owned(); 100_000]);
    repeated.resource_ids = vec!["cl-1"; 10_000].join(" ");
    assert_eq!(repeated.involved_resources(), ["cl-1"]);
    store.insert(repeated).unwrap();
    store.check_invariants().unwrap();
}

/// The first and the last instant a 64-bit nanosecond count holds.
fn ends() -> (DateTime<Utc>, DateTime<Utc>) {
    (
        DateTime::from_timestamp_nanos(i64::MIN),
        DateTime::from_timestamp_nanos(i64::MAX),
    )
}

fn finished_at(id: &str, time: DateTime<Utc>) -> Job {
    Job::new(id, "app-1", "usr-1", "RunJob", Status::Successful, time)
}

#[test]
fn prune_reaches_both_ends_of_the_time_range() {
    let (first, last) = ends();
    let mut store = JobStore::new();
    store.insert(finished_at("j-first", first)).unwrap();
    store.insert(finished_at("j-last", last)).unwrap();
    // A cut-off at the first instant drops nothing (strictly before), one
    // a nanosecond later drops the first job.
    assert_eq!(
        store
            .prune_finished(first)
            .map_or(0, |event| event.dropped()),
        0
    );
    assert_eq!(
        store
            .prune_finished(first + Duration::nanoseconds(1))
            .map_or(0, |event| event.dropped()),
        1
    );
    assert!(store.get("j-first").is_none());
    // The last instant: a cut-off at it keeps the job, one past the range
    // of stored times drops it.
    assert_eq!(
        store
            .prune_finished(last)
            .map_or(0, |event| event.dropped()),
        0
    );
    let far = "3000-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
    assert_eq!(
        store.prune_finished(far).map_or(0, |event| event.dropped()),
        1
    );
    assert!(store.is_empty());
    store.check_invariants().unwrap();
    // A cut-off before the range drops nothing.
    store.insert(finished_at("j-first", first)).unwrap();
    let ancient = "1000-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
    assert_eq!(
        store
            .prune_finished(ancient)
            .map_or(0, |event| event.dropped()),
        0
    );
}

fn two_owners() -> JobStore {
    let mut store = JobStore::new();
    store.insert(job("j-ann", "app-1", "usr-ann", 0)).unwrap();
    store.insert(job("j-bob", "app-1", "usr-bob", 1)).unwrap();
    store
}

#[test]
fn a_scalar_with_a_list_suffix_is_refused_not_ignored() {
    let store = two_owners();
    let admin = Caller::admin("root");
    // Ignored, `owner.1` would have widened the answer to every owner.
    for (sent, name, value) in [
        ("owner.1", "owner", "usr-ann"),
        ("cluster.2", "cluster", "cl-1"),
        ("job_action.1", "job_action", "RunJob"),
        ("limit.1", "limit", "1"),
        ("app.1", "app", "app-1"),
    ] {
        let request = format!("app=app-1&{sent}={value}");
        assert_eq!(
            store.describe_json(&admin, &request),
            format!(
                r#"{{"ret_code":1100,"message":"ParameterError, invalid value [{value}] for parameter [{sent}]: {name} takes one value: send it as {name}, without a list suffix"}}"#
            ),
            "{request}"
        );
    }
}

#[test]
fn a_known_value_that_is_not_utf8_is_refused() {
    let mut store = two_owners();
    // A stored id that is exactly what a lossy decoding would produce.
    store
        .insert(job("j-\u{FFFD}", "app-1", "usr-ann", 2))
        .unwrap();
    let ann = Caller::user("usr-ann");
    assert_eq!(
        store.describe_json(&ann, "app=app-1&jobs.1=j-%FF"),
        r#"{"ret_code":1100,"message":"ParameterError, invalid value [j-�] for parameter [jobs.1]: must be UTF-8 once its %XX escapes are decoded"}"#
    );
    assert!(
        store
            .describe_json(&ann, "app=%C3%28")
            .starts_with(r#"{"ret_code":1100,"#)
    );
    // Valid escapes still decode, and an unknown parameter is ignored
    // whatever its bytes.
    let page = store
        .describe_request(&ann, "app=app-1&jobs.1=j-%EF%BF%BD&zone=%FF&%FF=1")
        .unwrap();
    assert_eq!(page.total_count(), 1);
}

#[test]
fn quoted_values_cannot_forge_log_lines() {
    let store = two_owners();
    let ann = Caller::user("usr-ann");
    let err = store
        .describe_request(
            &ann,
            "app=app-1&jobs.1=j-1%0A2026-12-01+INFO+fake%1B[31m%E2%80%AE",
        )
        .unwrap_err();
    let message = err.to_string();
    assert_eq!(
        message,
        "ResourceNotFound, job [j-1\\n2026-12-01 INFO fake\\u{1b}[31m\\u{202e}] not found"
    );
    assert!(!message.contains(['\n', '\u{1b}', '\u{202e}']));
    let json = store.describe_json(&ann, "app=app-1&jobs.1=j-1%0Ax");
    assert_eq!(
        json,
        r#"{"ret_code":2100,"message":"ResourceNotFound, job [j-1\\nx] not found"}"#
    );
}

#[test]
fn ids_refuse_invisible_and_bidi_characters() {
    let mut store = JobStore::new();
    for (id, shown) in [
        ("j-\u{200B}1", "j-\\u{200b}1"),
        ("j-\u{202E}1", "j-\\u{202e}1"),
    ] {
        let err = store.insert(job(id, "app-1", "usr-1", 0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "ParameterError, invalid value [{shown}] for field [job_id]: \
                 must not contain invisible or bidirectional-control characters"
            )
        );
    }
    for field in ["app", "owner", "job_action"] {
        let mut bad = job("j-1", "app-1", "usr-1", 0);
        match field {
            "app" => bad.app = "app-\u{2066}1".into(),
            "owner" => bad.owner = "usr\u{FEFF}1".into(),
            _ => bad.job_action = "Run\u{00AD}Job".into(),
        }
        let err = store.insert(bad).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidField { field: f, .. } if *f == field));
    }
    assert!(store.is_empty());
}

#[test]
fn a_refused_duplicate_does_not_grow_the_id_table() {
    let mut store = JobStore::new();
    let mut n = 0;
    // Fill the id table to the brim: one more distinct id would grow it.
    while n == 0 || store.id_capacity() > store.len() {
        store
            .insert(job(&format!("j-{n}"), "app-1", "usr-1", n as i64))
            .unwrap();
        n += 1;
    }
    let capacity = store.id_capacity();
    let before = dump(&store);
    let err = store.insert(job("j-0", "app-1", "usr-1", 0)).unwrap_err();
    assert_eq!(err.to_string(), "ParameterError, job [j-0] already exists");
    assert_eq!(store.id_capacity(), capacity);
    assert_eq!(dump(&store), before);
}

/// An app of 5,000 jobs of another tenant beside one of `usr-1`, all of one
/// action and one cluster.
fn crowded_app() -> JobStore {
    let mut store = JobStore::new();
    for i in 0..5_000 {
        let mut other = job(&format!("j-{i}"), "app-1", "usr-big", i);
        other.resource_ids = "cl-shared".to_owned();
        store.insert(other).unwrap();
    }
    let mut mine = job("j-mine", "app-1", "usr-1", 2_500);
    mine.resource_ids = "cl-shared".to_owned();
    store.insert(mine).unwrap();
    store
}

/// How many jobs a plan reads beyond the page.
fn reads(plan: &Plan) -> usize {
    plan.scans()
}

#[test]
fn a_filter_never_makes_a_user_pay_for_other_tenants_jobs() {
    let store = crowded_app();
    let user = Caller::user("usr-1");
    let base = Query::builder("app-1");
    let queries = [
        base.clone().build(),
        base.clone().job_action("RunJob").build(),
        base.clone().cluster("cl-shared").build(),
        base.clone()
            .job_action("RunJob")
            .cluster("cl-shared")
            .build(),
        base.clone()
            .job_action("RunJob")
            .status(Status::Pending)
            .offset(1)
            .build(),
    ];
    for query in &queries {
        let plan = store.explain(&user, query).unwrap();
        // Before the fix, job_action and cluster plans read all 5,001.
        assert!(reads(&plan) <= 1, "{query}: {plan}");
        let page = store.describe(&user, query).unwrap();
        assert_eq!(page.plan(), &plan, "{query}");
        assert_eq!(page.total_count(), 1, "{query}");
        let ids: Vec<&str> = page.jobs().iter().map(|job| job.job_id()).collect();
        let want: &[&str] = if query.offset() == 0 {
            &["j-mine"]
        } else {
            &[]
        };
        assert_eq!(ids, want, "{query}");
    }
}

#[test]
fn an_administrators_action_page_costs_the_same_at_any_offset() {
    let store = crowded_app();
    let admin = Caller::admin("root");
    let first = Query::builder("app-1").job_action("RunJob").build();
    let deep = first.to_builder().offset(4_990).build();
    for query in [&first, &deep] {
        // An ordered index of the action: the page by rank, nothing walked.
        assert_eq!(
            store.explain(&admin, query).unwrap().access(),
            Access::Ordered {
                index: PlanIndex::Action
            }
        );
    }
    let page = store.describe(&admin, &deep).unwrap();
    assert_eq!(page.total_count(), 5_001);
    let ids: Vec<&str> = page.jobs().iter().map(|job| job.job_id()).collect();
    // Newest first, 5,001 jobs (j-mine in the middle): the last eleven are
    // j-10 … j-0.
    let want: Vec<String> = (0..11).rev().map(|i| format!("j-{i}")).collect();
    assert_eq!(ids, want);
}

#[test]
fn a_cluster_page_past_the_end_is_empty_with_the_full_count() {
    let store = crowded_app();
    let admin = Caller::admin("root");
    let query = Query::builder("app-1")
        .cluster("cl-shared")
        .offset(u64::MAX)
        .build();
    assert_eq!(
        store.explain(&admin, &query).unwrap().access(),
        Access::Postings { entries: 5_001 }
    );
    let page = store.describe(&admin, &query).unwrap();
    assert_eq!(page.total_count(), 5_001);
    assert!(page.jobs().is_empty());
}

#[test]
fn plans_say_what_they_read() {
    let store = crowded_app();
    let admin = Caller::admin("root");
    let app = || Query::builder("app-1");
    for (query, want) in [
        (
            app().job_action("Nope").build(),
            "nothing to read: no job has a name the query asks for",
        ),
        (
            app().job_id("j-1").job_id("j-2").build(),
            "look up each of the 2 listed ids",
        ),
        (
            app().build(),
            "the app's ordered index: total_count from its counts, the page by rank",
        ),
        (
            app().owner("usr-1").build(),
            "the owner's ordered index: total_count from its counts, the page by rank",
        ),
        (
            app().owner("usr-big").job_action("RunJob").build(),
            "walk the owner's ordered index (5000 jobs) in the order asked for, \
             keeping the jobs that meet every filter",
        ),
        (
            app().cluster("cl-shared").build(),
            "filter the cluster's 5001 jobs, then order what is left",
        ),
    ] {
        assert_eq!(
            store.explain(&admin, &query).unwrap().access().to_string(),
            want
        );
    }
    // explain refuses what describe refuses.
    let err = store
        .explain(&Caller::user("usr-1"), &app().owner("usr-big").build())
        .unwrap_err();
    assert_eq!(err.ret_code(), 1400);
}

/// Found in review: an app all of whose jobs were pruned stayed indexed
/// (empty) when its name lived on as another job's owner.
#[test]
fn a_pruned_app_goes_even_when_its_name_lives_on() {
    let mut store = JobStore::new();
    let mut gone = job("j-1", "x", "usr-1", 0);
    gone.status = Status::Successful;
    store.insert(gone).unwrap();
    store.insert(job("j-2", "y", "x", 10)).unwrap();
    assert!(store.prune_finished(crate::at(5)).is_some());
    store.check_invariants().unwrap();
    let query = Query::new("x");
    assert_eq!(
        store
            .explain(&Caller::admin("root"), &query)
            .unwrap()
            .access(),
        Access::Nothing
    );
    assert_eq!(
        store
            .describe(&Caller::admin("root"), &query)
            .unwrap()
            .total_count(),
        0
    );
}

/// Found in review: chrono keeps a leap second at any minute's end; stored
/// as the second after it, such a time would not read back (and its event
/// would not read at all), so it is refused.
#[test]
fn a_leap_second_time_is_refused() {
    let leap: DateTime<Utc> = "2018-03-04T05:37:60Z".parse().unwrap();
    let mut store = JobStore::new();
    let err = store
        .insert(Job::new("j-1", "a", "u", "X", Status::Pending, leap))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ParameterError, invalid value [2018-03-04T05:37:60Z] for field [create_time]: \
         must not be a leap second; read times with joblog::parse_timestamp, \
         which keeps 23:59:60 UTC as the second after it"
    );
    store.insert(job("j-1", "a", "u", 0)).unwrap();
    let err = store.set_status("j-1", Status::Working, leap).unwrap_err();
    assert!(
        err.to_string()
            .contains("for field [status_time]: must not be a leap second")
    );
    assert_eq!(store.revision(), 1);
    // parse_timestamp reads 23:59:60 UTC as the second after it.
    let read = joblog::parse_timestamp("2016-12-31T23:59:60Z").unwrap();
    store
        .insert(Job::new("j-2", "a", "u", "X", Status::Pending, read))
        .unwrap();
}

/// Found in review: a length prefix is only a hint; a snapshot that
/// claims a billion jobs and holds none is refused without reserving room
/// for them.
#[test]
fn a_snapshot_that_lies_about_its_length_is_refused() {
    // postcard: revision 0, then a jobs length of 2^30 as a varint.
    let bytes = [0u8, 0x80, 0x80, 0x80, 0x80, 0x04];
    let err = postcard::from_bytes::<JobStore>(&bytes).unwrap_err();
    assert!(!err.to_string().is_empty());
}

/// SPEC §10: a window's count and its page at any offset come from the
/// ordered index by rank (nothing scanned), for an administrator and for
/// a user, with a status filter; an `after` step too.
#[test]
fn a_window_page_costs_the_same_at_any_offset() {
    let store = crowded_app();
    let start = crate::at(1_000);
    let end = crate::at(4_000);
    for caller in [Caller::admin("root"), Caller::user("usr-big")] {
        let first = Query::builder("app-1")
            .owner("usr-big")
            .status(Status::Pending)
            .start_time(start)
            .end_time(end)
            .build();
        let deep = first.to_builder().offset(2_990).build();
        let after = first.to_builder().after("j-1500").build();
        for query in [&first, &deep, &after] {
            let page = store.describe(&caller, query).unwrap();
            let plan = page.plan();
            assert_eq!(
                plan.access(),
                Access::Ordered {
                    index: PlanIndex::Owner
                },
                "{query}"
            );
            assert_eq!((plan.scans(), plan.sorts()), (0, 0), "{query}");
            assert_eq!(page.total_count(), 3_000, "{query}");
        }
        let ids = |query: &Query| -> Vec<String> {
            let page = store.describe(&caller, query).unwrap();
            page.jobs()
                .iter()
                .map(|job| job.job_id().to_owned())
                .collect()
        };
        // Created at seconds 1,000 to 3,999, newest first.
        assert_eq!(
            ids(&deep),
            (1_000..1_010)
                .rev()
                .map(|i| format!("j-{i}"))
                .collect::<Vec<_>>()
        );
        assert_eq!(ids(&after)[0], "j-1499");
    }
}
