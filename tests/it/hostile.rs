//! Hostile sizes: every one is answered (a result or a clear error), and
//! nothing panics.

use joblog::{Caller, ErrorKind, Extras, Job, JobStore, MAX_EXTRAS_DEPTH, Status};

use crate::job;

fn store_of(n: usize) -> JobStore {
    let mut store = JobStore::new();
    for i in 0..n {
        store
            .insert(job(&format!("j-{i}"), "app-1", "usr-1", i as i64))
            .unwrap();
    }
    store
}

fn answer(store: &JobStore, request: &str) -> serde_json::Value {
    let json = store.describe_json(&Caller::user("usr-1"), request);
    serde_json::from_str(&json).unwrap()
}

#[test]
fn ten_thousand_job_ids() {
    let store = store_of(10_000);
    let mut request = String::from("app=app-1");
    for i in 0..10_000 {
        request.push_str(&format!("&jobs.{}=j-{i}", i + 1));
    }
    let all = answer(&store, &request);
    assert_eq!(all["total_count"], 10_000);
    assert_eq!(all["job_set"].as_array().unwrap().len(), 20);
    assert_eq!(all["job_set"][0]["job_id"], "j-9999");
    // All missing: every one is named, once.
    let missing = request.replace("=j-", "=x-");
    let err = answer(&store, &missing);
    assert_eq!(err["ret_code"], 2100);
    let message = err["message"].as_str().unwrap();
    assert!(message.starts_with("ResourceNotFound, jobs [x-0, x-1, x-2, "));
    assert_eq!(message.matches("x-").count(), 10_000);
}

#[test]
fn a_one_mebibyte_request_string() {
    let store = store_of(3);
    let big = "y".repeat(1 << 20);
    let ignored = answer(&store, &format!("app=app-1&signature={big}"));
    assert_eq!(ignored["total_count"], 3);
    let app = answer(&store, &format!("app={big}"));
    assert_eq!(app["total_count"], 0);
    let bad = answer(&store, &format!("app=app-1&limit={}", "9".repeat(1 << 20)));
    assert_eq!(bad["ret_code"], 1100);
    let message = bad["message"].as_str().unwrap();
    assert!(message.ends_with("for parameter [limit]: must fit in 64 bits"));
    assert!(message.len() < 200, "the value is cut in the message");
    let noise = "&".repeat(1 << 20);
    assert_eq!(
        answer(&store, &format!("app=app-1{noise}"))["total_count"],
        3
    );
}

#[test]
fn a_one_mebibyte_directive() {
    let mut store = JobStore::new();
    let mut big = job("j-big", "app-1", "usr-1", 0);
    big.directive = format!("{{\"data\":\"{}\"}}", "\"\\".repeat(1 << 19));
    store.insert(big.clone()).unwrap();
    assert_eq!(store.get("j-big").unwrap().to_job(), big);
    let answer = answer(&store, "app=app-1");
    assert_eq!(answer["job_set"][0]["directive"], big.directive.as_str());
}

/// `extras` nested `depth` levels deep (the object itself is level 1).
fn nested(depth: usize) -> String {
    format!("{}null{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

#[test]
fn deeply_nested_extras_are_refused_beyond_the_limit() {
    let mut store = JobStore::new();
    let mut ok = job("j-ok", "app-1", "usr-1", 0);
    ok.extras = nested(MAX_EXTRAS_DEPTH).parse().unwrap();
    store.insert(ok.clone()).unwrap();
    assert_eq!(store.get("j-ok").unwrap().to_extras(), ok.extras);
    for depth in [MAX_EXTRAS_DEPTH + 1, 1_000, 100_000] {
        let err = nested(depth).parse::<Extras>().unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::InvalidField {
                field: "extras",
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "ParameterError, invalid value […] for field [extras]: \
             must not nest deeper than 64 levels"
        );
        // Inside a record: serde_json's own limit of 128 levels may stop it
        // first; either way it is refused with a message, never a crash.
        let record = format!(
            r#"{{"job_id":"j-x","app":"a","owner":"u","job_action":"X","status":"pending",
                "create_time":"2018-03-04T05:37:58Z","extras":{}}}"#,
            nested(depth)
        );
        let err = serde_json::from_str::<Job>(&record)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("recursion limit exceeded")
                || err.contains("must not nest deeper than 64 levels"),
            "{err}"
        );
    }
    assert_eq!(store.len(), 1);
}

#[test]
fn many_statuses_and_huge_offsets() {
    let store = store_of(50);
    let mut request = String::from("app=app-1");
    for i in 0..5_000 {
        request.push_str(&format!("&status.{}={}", i + 1, Status::ALL[i % 4]));
    }
    request.push_str("&offset=18446744073709551615&limit=18446744073709551615");
    let answer = answer(&store, &request);
    assert_eq!(answer["total_count"], 50);
    assert_eq!(answer["job_set"].as_array().unwrap().len(), 0);
}
