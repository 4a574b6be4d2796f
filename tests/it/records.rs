//! The job record: serde, timestamps, validation, insert.

use joblog::{Caller, ErrorKind, Job, JobStore, Status, format_timestamp, parse_timestamp};

use crate::{at, dump, job};

const SEED_RECORD: &str = r#"{"status":"successful","job_id":"j-etkt94ebqra","app":"app-tg3lbp0a","directive":"{\"action\":\"CeaseResources\"}","job_action":"CeaseResources","create_time":"2018-03-04T05:37:58Z","owner":"system","status_time":"2018-03-04T05:38:05Z","error_codes":"","resource_ids":"cl-xi3aoihf","resources":{"clusters":["cl-xi3aoihf"]},"extras":{}}"#;

#[test]
fn a_full_record_round_trips_through_json_byte_for_byte() {
    let job: Job = serde_json::from_str(SEED_RECORD).unwrap();
    assert_eq!(job.status, Status::Successful);
    assert_eq!(job.resources["clusters"], ["cl-xi3aoihf"]);
    assert_eq!(serde_json::to_string(&job).unwrap(), SEED_RECORD);
}

#[test]
fn optional_fields_take_their_defaults() {
    let job: Job = serde_json::from_str(
        r#"{"job_id":"j-1","app":"a","owner":"u","job_action":"X","status":"pending",
            "create_time":"2018-03-04T05:37:58Z"}"#,
    )
    .unwrap();
    assert_eq!(job, crate::job("j-1", "a", "u", 0).with_action("X"));
    assert_eq!(job.status_time, job.create_time);
}

trait WithAction {
    fn with_action(self, action: &str) -> Job;
}

impl WithAction for Job {
    fn with_action(mut self, action: &str) -> Job {
        action.clone_into(&mut self.job_action);
        self
    }
}

#[test]
fn each_required_field_is_required() {
    let full: serde_json::Value = serde_json::from_str(SEED_RECORD).unwrap();
    for field in [
        "job_id",
        "app",
        "owner",
        "job_action",
        "status",
        "create_time",
    ] {
        let mut record = full.clone();
        record.as_object_mut().unwrap().remove(field);
        let err = serde_json::from_value::<Job>(record).unwrap_err();
        assert_eq!(err.to_string(), format!("missing field `{field}`"));
    }
}

#[test]
fn unknown_fields_are_refused() {
    let record = SEED_RECORD.replace("\"extras\"", "\"extra\"");
    let err = serde_json::from_str::<Job>(&record).unwrap_err();
    assert!(
        err.to_string().starts_with("unknown field `extra`"),
        "{err}"
    );
}

#[test]
fn bad_timestamps_and_statuses_are_refused_with_their_words() {
    let record = SEED_RECORD.replace("2018-03-04T05:37:58Z", "yesterday");
    let err = serde_json::from_str::<Job>(&record).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "invalid timestamp \"yesterday\": premature end of input \
             (expected RFC 3339, e.g. 2018-03-04T05:37:58Z)"
        ),
        "{err}"
    );
    let record = SEED_RECORD.replace("\"successful\"", "\"Successful\"");
    let err = serde_json::from_str::<Job>(&record).unwrap_err();
    assert!(
        err.to_string().starts_with("unknown variant `Successful`"),
        "{err}"
    );
    assert_eq!(
        "done".parse::<Status>().unwrap_err().to_string(),
        "must be one of pending, working, failed, successful"
    );
}

#[test]
fn timestamps_keep_full_precision_in_utc_and_print_whole_seconds() {
    let a = parse_timestamp("2018-03-04T13:37:58.520+08:00").unwrap();
    let b = parse_timestamp("2018-03-04T05:37:58.520Z").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.timestamp_subsec_nanos(), 520_000_000);
    assert_eq!(format_timestamp(a), "2018-03-04T05:37:58Z");
    let c = parse_timestamp("2018-03-04T05:37:58.000000001Z").unwrap();
    assert!(c > parse_timestamp("2018-03-04T05:37:58Z").unwrap());
}

/// Asserts that `job` is refused naming `field` with the exact message.
fn refused(job: Job, field: &str, message: &str) {
    let err = job.validate().unwrap_err();
    assert_eq!(err.ret_code(), 1100);
    match err.kind() {
        ErrorKind::InvalidField { field: named, .. } => assert_eq!(*named, field),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.to_string(), message);
    let mut store = JobStore::new();
    store.insert(crate::job("j-keep", "a", "u", 0)).unwrap();
    let before = dump(&store);
    assert_eq!(store.insert(job).unwrap_err(), err);
    assert_eq!(dump(&store), before);
    store.check_invariants().unwrap();
}

#[test]
fn every_validation_rule_names_its_field() {
    for field in ["job_id", "app", "owner", "job_action"] {
        let set = |value: &str| {
            let mut job = job("j-1", "a", "u", 0);
            let slot = match field {
                "job_id" => &mut job.job_id,
                "app" => &mut job.app,
                "owner" => &mut job.owner,
                _ => &mut job.job_action,
            };
            value.clone_into(slot);
            job
        };
        refused(
            set(""),
            field,
            &format!("ParameterError, invalid value [] for field [{field}]: must not be empty"),
        );
        // Messages escape control characters, so a value cannot forge a
        // log line.
        for (bad, shown) in [
            ("a b", "a b"),
            ("a\tb", "a\\tb"),
            ("a\u{7}b", "a\\u{7}b"),
            ("ab\n", "ab\\n"),
        ] {
            refused(
                set(bad),
                field,
                &format!(
                    "ParameterError, invalid value [{shown}] for field [{field}]: \
                     must not contain whitespace or control characters"
                ),
            );
        }
    }
}

#[test]
fn status_time_before_create_time_is_refused() {
    let mut job = job("j-1", "a", "u", 10);
    job.status_time = at(9);
    refused(
        job,
        "status_time",
        "ParameterError, invalid value [2018-03-04T05:38:07Z] for field [status_time]: \
         must not be before create_time",
    );
}

#[test]
fn times_outside_the_supported_years_are_refused() {
    let mut job = job("j-1", "a", "u", 0);
    job.create_time = parse_timestamp("2300-01-01T00:00:00Z").unwrap();
    job.status_time = job.create_time;
    refused(
        job,
        "create_time",
        "ParameterError, invalid value [2300-01-01T00:00:00Z] for field [create_time]: \
         must lie between 1677-09-21T00:12:43.145224192Z and 2262-04-11T23:47:16.854775807Z",
    );
}

#[test]
fn error_codes_only_on_failed_jobs() {
    let mut failed = job("j-1", "a", "u", 0);
    failed.status = Status::Failed;
    failed.error_codes = "5000".into();
    assert!(failed.validate().is_ok());
    let mut job = failed;
    job.status = Status::Successful;
    refused(
        job,
        "error_codes",
        "ParameterError, invalid value [5000] for field [error_codes]: \
         must be empty unless the job failed",
    );
}

#[test]
fn resource_ids_are_separated_by_one_space() {
    for good in ["", "cl-1", "cl-1 cl-2 vol-3"] {
        let mut job = job("j-1", "a", "u", 0);
        job.resource_ids = good.into();
        assert!(job.validate().is_ok(), "{good:?}");
    }
    for bad in [" cl-1", "cl-1 ", "cl-1  cl-2", "cl-1\tcl-2"] {
        let mut job = job("j-1", "a", "u", 0);
        job.resource_ids = bad.into();
        let shown = bad.replace('\t', "\\t");
        refused(
            job,
            "resource_ids",
            &format!(
                "ParameterError, invalid value [{shown}] for field [resource_ids]: \
                 must be resource ids separated by one space"
            ),
        );
    }
    let mut job = job("j-1", "a", "u", 0);
    job.resources.insert("clusters".into(), vec!["cl 1".into()]);
    refused(
        job,
        "resources",
        "ParameterError, invalid value [cl 1] for field [resources]: \
         must not contain whitespace or control characters",
    );
}

#[test]
fn long_values_are_cut_in_messages() {
    let long = format!("{}x", "é".repeat(64));
    let mut job = job("j-1", "a", "u", 0);
    job.owner = format!("{long} ");
    let message = job.validate().unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "ParameterError, invalid value [{}…] for field [owner]: \
             must not contain whitespace or control characters",
            "é".repeat(64)
        )
    );
}

#[test]
fn duplicate_ids_are_refused_and_the_stored_job_kept() {
    let mut store = JobStore::new();
    store.insert(job("j-1", "a", "u", 0)).unwrap();
    let before = dump(&store);
    let err = store.insert(job("j-1", "b", "v", 5)).unwrap_err();
    assert_eq!(err.ret_code(), 1100);
    assert_eq!(
        err.kind(),
        &ErrorKind::DuplicateJob {
            job_id: "j-1".into()
        }
    );
    assert_eq!(err.to_string(), "ParameterError, job [j-1] already exists");
    assert_eq!(dump(&store), before);
    store.check_invariants().unwrap();
}

#[test]
fn a_full_store_refuses_until_pruned() {
    let mut store = JobStore::with_max_jobs(2);
    let mut done = job("j-1", "a", "u", 0);
    done.status = Status::Successful;
    store.insert(done).unwrap();
    store.insert(job("j-2", "a", "u", 1)).unwrap();
    let err = store.insert(job("j-3", "a", "u", 2)).unwrap_err();
    assert_eq!(err.ret_code(), 2500);
    assert_eq!(err.kind(), &ErrorKind::StoreFull { capacity: 2 });
    assert_eq!(
        err.to_string(),
        "QuotaExceeded, the store is full: it holds at most 2 jobs"
    );
    assert_eq!(
        store
            .prune_finished(at(1))
            .map_or(0, |event| event.dropped()),
        1
    );
    store.insert(job("j-3", "a", "u", 2)).unwrap();
    store.check_invariants().unwrap();
    let ids: Vec<&str> = store.iter().map(|job| job.job_id()).collect();
    assert_eq!(ids, ["j-2", "j-3"]);
}

/// Found by the `record` fuzz target: a leap second read back as the next
/// second, so a stored job differed from the record it came from.
#[test]
fn a_leap_second_reads_as_the_next_second() {
    let at = parse_timestamp("2016-12-31T23:59:60.5Z").unwrap();
    assert_eq!(at, parse_timestamp("2017-01-01T00:00:00.5Z").unwrap());
    let record = r#"{"job_id":"j-1","app":"a","owner":"u","job_action":"X","status":"successful",
        "create_time":"2015-06-30T23:59:60Z","status_time":"2015-07-01T07:59:60+08:00"}"#;
    let job: Job = serde_json::from_str(record).unwrap();
    let mut store = JobStore::new();
    store.insert(job.clone()).unwrap();
    assert_eq!(store.get("j-1").unwrap().to_job(), job);
    assert_eq!(format_timestamp(job.create_time), "2015-07-01T00:00:00Z");
}

/// A second 60 can only be 23:59:60 UTC; anywhere else it is refused.
#[test]
fn a_misplaced_leap_second_is_refused() {
    for text in ["2015-03-04T05:37:60Z", "2015-06-30T23:59:60+08:00"] {
        let err = parse_timestamp(text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a leap second (:60) can only be 23:59:60 UTC"
        );
    }
    let record = r#"{"job_id":"j-1","app":"a","owner":"u","job_action":"X","status":"successful",
        "create_time":"2015-03-04T05:37:60Z"}"#;
    let err = serde_json::from_str::<Job>(record).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "invalid timestamp \"2015-03-04T05:37:60Z\": a leap second (:60) can only be \
             23:59:60 UTC (expected RFC 3339"
        ),
        "{err}"
    );
}

/// The positional form serde's derive would take is no job record.
#[test]
fn a_record_must_be_an_object() {
    let array = r#"["successful","j-1","a","","X","2018-03-04T05:37:58Z","u",
        "2018-03-04T05:37:58Z","","",{},{}]"#;
    let err = serde_json::from_str::<Job>(array).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: sequence, expected a job record (a JSON object) at line 1 column 0"
    );
}

/// The documented time range is exactly what is accepted.
#[test]
fn the_time_range_ends_where_the_docs_say() {
    for (inside, outside) in [
        (
            "1677-09-21T00:12:43.145224192Z",
            "1677-09-21T00:12:43.145224191Z",
        ),
        (
            "2262-04-11T23:47:16.854775807Z",
            "2262-04-11T23:47:16.854775808Z",
        ),
    ] {
        let mut store = JobStore::new();
        let mut ok = job("j-in", "a", "u", 0);
        ok.create_time = parse_timestamp(inside).unwrap();
        ok.status_time = ok.create_time;
        store.insert(ok).unwrap();
        let mut bad = job("j-out", "a", "u", 0);
        bad.create_time = parse_timestamp(outside).unwrap();
        bad.status_time = bad.create_time;
        let err = store.insert(bad).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::InvalidField {
                field: "create_time",
                ..
            }
        ));
    }
}

proptest::proptest! {
    #[test]
    fn timestamps_are_written_as_chrono_writes_them(
        secs in -100_000_000_000i64..300_000_000_000,
        nanos in 0u32..2_000_000_000,
    ) {
        if let Some(time) = chrono::DateTime::from_timestamp(secs, nanos) {
            proptest::prop_assert_eq!(
                format_timestamp(time),
                time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            );
        }
    }
}

/// A record with these `resources` and `extras` (JSON text).
fn record_with(resources: &str, extras: &str) -> String {
    format!(
        r#"{{"job_id":"j-1","app":"a","owner":"u","job_action":"X","status":"pending",
            "create_time":"2015-03-04T05:37:58Z","resources":{resources},"extras":{extras}}}"#
    )
}

/// `extras` is kept as written: numbers are not rounded or rewritten (the
/// `record` fuzz target once found `19` and 114 zeros coming back as
/// `1.9e+115`), keys keep their order, and only whitespace goes.
#[test]
fn extras_read_back_exactly_as_written() {
    let written = format!(
        r#"{{"z": [19{}, 2.5, 0.1, 1e-300, 1E2, -0.0],
            "big": 18446744073709551616, "a": {{"y": "\u00e9 \" ", "x": null}}}}"#,
        "0".repeat(114)
    );
    let compact = format!(
        r#"{{"z":[19{},2.5,0.1,1e-300,1E2,-0.0],"big":18446744073709551616,"a":{{"y":"\u00e9 \" ","x":null}}}}"#,
        "0".repeat(114)
    );
    let job: Job =
        serde_json::from_str(&record_with(r#"{"b":["cl-2"],"a":["cl-1"]}"#, &written)).unwrap();
    assert_eq!(job.extras.as_str(), compact);
    let mut store = JobStore::new();
    store.insert(job.clone()).unwrap();
    let stored = store.get("j-1").unwrap();
    assert_eq!(stored.to_job(), job);
    assert_eq!(stored.extras_json(), compact);
    assert_eq!(stored.resources_json(), r#"{"b":["cl-2"],"a":["cl-1"]}"#);
    // And on the wire, byte for byte.
    let json = store.describe_json(&Caller::admin("root"), "app=a");
    assert!(json.contains(&format!(r#""extras":{compact}}}"#)), "{json}");
    assert!(
        json.contains(r#""resources":{"b":["cl-2"],"a":["cl-1"]}"#),
        "{json}"
    );
}

/// A key named twice is refused, naming the key, in `extras` at any depth
/// and in `resources`; a map would silently keep the last one.
#[test]
fn duplicate_keys_are_refused_naming_the_key() {
    for (resources, extras, field, key) in [
        ("{}", r#"{"zone":"pek3","zone":"sh1"}"#, "extras", "zone"),
        ("{}", r#"{"a":[{"k":1,"j":2,"k":3}]}"#, "extras", "k"),
        ("{}", r#"{"a\u0062":1,"ab":2}"#, "extras", "ab"),
        (
            r#"{"clusters":["cl-1"],"clusters":["cl-2"]}"#,
            "{}",
            "resources",
            "clusters",
        ),
    ] {
        let err = serde_json::from_str::<Job>(&record_with(resources, extras)).unwrap_err();
        let want = format!(
            "invalid value [{key}] for field [{field}]: the key appears twice in one object"
        );
        assert!(err.to_string().contains(&want), "{err}");
    }
    let err = joblog::Extras::parse(r#"{"zone":1,"zone":2}"#).unwrap_err();
    assert_eq!(err.ret_code(), 1100);
    assert_eq!(
        err.to_string(),
        "ParameterError, invalid value [zone] for field [extras]: the key appears twice in one object"
    );
    // The same key in two different objects is fine.
    assert!(joblog::Extras::parse(r#"{"a":{"k":1},"b":{"k":2}}"#).is_ok());
}

#[test]
fn extras_must_be_one_json_object() {
    for (text, reason) in [
        ("[1]", "must be a JSON object"),
        ("\"{}\"", "must be a JSON object"),
        (
            "{} {}",
            "must be valid JSON: trailing characters at line 1 column 4",
        ),
        (
            "{\"a\":}",
            "must be valid JSON: expected value at line 1 column 6",
        ),
        (
            "{\"a\":1e400}",
            "must be valid JSON: number out of range at line 1 column 10",
        ),
    ] {
        let err = joblog::Extras::parse(text).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("ParameterError, invalid value […] for field [extras]: {reason}"),
            "{text}"
        );
    }
    assert!(joblog::Extras::new().is_empty());
    assert_eq!(joblog::Extras::default().as_str(), "{}");
}

#[test]
fn long_fields_are_refused_at_their_limits() {
    let long = "x".repeat(joblog::MAX_SHORT_FIELD + 1);
    for field in ["job_id", "error_codes", "resource_ids"] {
        let mut job = job("j-1", "a", "u", 0);
        job.status = Status::Failed;
        match field {
            "job_id" => job.job_id = long.clone(),
            "error_codes" => job.error_codes = long.clone(),
            _ => job.resource_ids = long.clone(),
        }
        let err = job.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "ParameterError, invalid value […] for field [{field}]: must be at most 65535 bytes long"
            )
        );
        // At the limit is fine.
        let mut fits = job.clone();
        match field {
            "job_id" => fits.job_id.pop(),
            "error_codes" => fits.error_codes.pop(),
            _ => fits.resource_ids.pop(),
        };
        let mut store = JobStore::new();
        store.insert(fits.clone()).unwrap();
        assert_eq!(store.get(&fits.job_id).unwrap().to_job(), fits);
    }
    // error_codes recorded by a status change obey the same limit.
    let mut store = JobStore::new();
    store.insert(job("j-1", "a", "u", 0)).unwrap();
    let before = dump(&store);
    let err = store.fail("j-1", at(1), &long).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ParameterError, invalid value […] for field [error_codes]: must be at most 65535 bytes long"
    );
    assert_eq!(dump(&store), before);
}
