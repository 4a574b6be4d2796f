//! The request string and the JSON answers.

use joblog::{Caller, ErrorResponse, Job, JobStore, Order, Query, Response, SortKey, Status};
use proptest::prelude::*;

const SEED_REQUEST: &str = "action=DescribeClusterJobs&app=app-tg3lbp0a&jobs.1=j-etkt94ebqra\
                            &limit=1&zone=pek3a&COMMON_PARAMS";

const SEED_RESPONSE: &str = r#"{
  "action":"DescribeClusterJobsResponse",
  "total_count":1,
  "job_set":[
    {
      "status":"successful",
      "job_id":"j-etkt94ebqra",
      "directive":"{\"sender\":{\"lang\":\"en\",\"user_id\":\"system\",\"console_id\":\"system\",\"root_user_id\":\"system\",\"role\":\"global_admin\",\"privilege\":10,\"channel\":\"internal\"},\"zone\":\"pek3a\",\"expires\":\"2018-03-04T05:38:58Z\",\"action\":\"CeaseResources\",\"clusters\":[\"cl-xi3aoihf\"],\"resource_ids\":[\"cl-xi3aoihf\"]}",
      "job_action":"CeaseResources",
      "create_time":"2018-03-04T05:37:58Z",
      "owner":"system",
      "status_time":"2018-03-04T05:38:05Z",
      "error_codes":"",
      "resource_ids":"cl-xi3aoihf",
      "resources":{
        "clusters":[
          "cl-xi3aoihf"
        ]
      },
      "extras":{}
    }
  ],
  "ret_code":0
}"#;

/// The seed's job, as an ingest record: its wire element plus `app`.
fn seed_store() -> JobStore {
    let response: serde_json::Value = serde_json::from_str(SEED_RESPONSE).unwrap();
    let mut record = response["job_set"][0].clone();
    record["app"] = "app-tg3lbp0a".into();
    let job: Job = serde_json::from_value(record).unwrap();
    let mut store = JobStore::new();
    // Another job of the app, so the id filter and the limit matter.
    let mut other = job.clone();
    other.job_id = "j-other".into();
    store.insert(job).unwrap();
    store.insert(other).unwrap();
    store
}

#[test]
fn the_seed_request_gets_the_seed_response_byte_for_byte() {
    let store = seed_store();
    // The page's answer without its whitespace: an `Extras` keeps a JSON
    // object as written, compacted.
    let want = joblog::Extras::parse(SEED_RESPONSE).unwrap().to_string();
    for caller in [Caller::user("system"), Caller::admin("root")] {
        assert_eq!(store.describe_json(&caller, SEED_REQUEST), want);
    }
    // Another user cannot see the platform's job: it does not exist for them.
    assert_eq!(
        store.describe_json(&Caller::user("usr-1"), SEED_REQUEST),
        r#"{"ret_code":2100,"message":"ResourceNotFound, job [j-etkt94ebqra] not found"}"#
    );
}

#[test]
fn responses_and_records_round_trip_through_serde() {
    let store = seed_store();
    let response = store
        .describe_request(&Caller::admin("root"), "app=app-tg3lbp0a")
        .unwrap();
    assert_eq!(response.total_count(), 2);
    let json = serde_json::to_string(&response).unwrap();
    let back: Response = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    assert_eq!(
        back.job_set[1].resources.get(),
        r#"{"clusters":["cl-xi3aoihf"]}"#
    );
    for job in store.iter() {
        let json = serde_json::to_string(&job.to_job()).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job.to_job());
    }
    let query = Query::builder("app-1")
        .status(Status::Working)
        .offset(3)
        .build();
    let json = serde_json::to_string(&query).unwrap();
    assert_eq!(
        json,
        r#""action=DescribeClusterJobs&app=app-1&status.1=working&sort_key=create_time&reverse=1&offset=3&limit=20""#
    );
    assert_eq!(serde_json::from_str::<Query>(&json).unwrap(), query);
    let bad = serde_json::from_str::<Query>(r#""app=a&limit=x""#).unwrap_err();
    assert!(
        bad.to_string()
            .starts_with("ParameterError, invalid value [x] for parameter [limit]"),
        "{bad}"
    );
}

#[test]
fn request_decoding_lists_and_ignored_parameters() {
    let cases: &[(&str, Query)] = &[
        ("app=a", Query::new("a")),
        ("app=a+b%20c", Query::new("a b c")),
        ("app=%E5%BA%94%E7%94%A8", Query::new("应用")),
        (
            "app=a&jobs.2=j-2&jobs.1=j-1&jobs.10=j-10",
            Query::builder("a")
                .job_id("j-1")
                .job_id("j-2")
                .job_id("j-10")
                .build(),
        ),
        (
            "app=a&jobs=j-0&jobs.1=j-1",
            Query::builder("a").job_id("j-0").job_id("j-1").build(),
        ),
        (
            "app=a&status=pending&status.1=working",
            Query::builder("a")
                .status(Status::Pending)
                .status(Status::Working)
                .build(),
        ),
        (
            "action=DescribeClusterJobs&app=a&zone=pek3a&signature=x%2By&time_stamp=2018&req_id=1\
             &access_key_id=K&jobsfoo=1&zone.1=9&verbose=0&note=%FF",
            Query::new("a"),
        ),
        (
            "app=a&job_action=StartClusters&owner=usr-1&cluster=cl-1&sort_key=status_time\
             &reverse=0&offset=18446744073709551615&limit=0",
            Query::builder("a")
                .job_action("StartClusters")
                .owner("usr-1")
                .cluster("cl-1")
                .sort_key(SortKey::StatusTime)
                .order(Order::OldestFirst)
                .offset(u64::MAX)
                .limit(0)
                .build(),
        ),
        ("app=a&limit=1000", Query::builder("a").limit(1000).build()),
        ("app=a&offset=-0", Query::new("a")),
    ];
    for (request, want) in cases {
        assert_eq!(&request.parse::<Query>().unwrap(), want, "{request}");
    }
    // Many numbered values, then each of them again: a repeat is found
    // however long the list (the parser keeps a long one in a hash set).
    let many: Vec<String> = (1..=40).map(|n| format!("jobs.{n}=j-{n}")).collect();
    let request = format!("app=a&status.1=pending&{}", many.join("&"));
    let want = (1..=40).fold(Query::builder("a").status(Status::Pending), |query, n| {
        query.job_id(format!("j-{n}"))
    });
    assert_eq!(request.parse::<Query>().unwrap(), want.build());
    for n in [1, 16, 17, 40] {
        let err = format!("{request}&jobs.{n}=again")
            .parse::<Query>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("ParameterError, parameter [jobs.{n}] is given more than once")
        );
    }
    let err = format!("{request}&status.1=working")
        .parse::<Query>()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ParameterError, parameter [status.1] is given more than once"
    );
}

#[test]
fn every_request_fault_is_a_1100_with_its_words() {
    let empty = "must not be empty";
    let cases: &[(&str, &str)] = &[
        ("", "missing required parameter [app]"),
        ("zone=pek3a&limit=5", "missing required parameter [app]"),
        (
            "app=",
            &format!("invalid value [] for parameter [app]: {empty}"),
        ),
        (
            "app=a&jobs.1=",
            &format!("invalid value [] for parameter [jobs.1]: {empty}"),
        ),
        (
            "app=a&owner=",
            &format!("invalid value [] for parameter [owner]: {empty}"),
        ),
        (
            "app=a&after=",
            &format!("invalid value [] for parameter [after]: {empty}"),
        ),
        (
            "app=a&start_time=yesterday",
            "invalid value [yesterday] for parameter [start_time]: must be an RFC 3339 time \
             such as 2018-03-04T05:37:58Z (premature end of input)",
        ),
        (
            "app=a&end_time=2018-03-04T05:38:61Z",
            "invalid value [2018-03-04T05:38:61Z] for parameter [end_time]: must be an RFC 3339 \
             time such as 2018-03-04T05:37:58Z (input is out of range)",
        ),
        (
            "app=a&start_time=2018-03-04T05:38:00Z&end_time=2018-03-04T13:38:00%2B08:00",
            "invalid value [2018-03-04T05:38:00Z] for parameter [start_time]: \
             must be before end_time (2018-03-04T05:38:00Z)",
        ),
        (
            "app=a&end_time=2018-03-04T05:38:00Z&start_time=2018-03-04T05:38:00.5Z",
            "invalid value [2018-03-04T05:38:00.500Z] for parameter [start_time]: \
             must be before end_time (2018-03-04T05:38:00Z)",
        ),
        ("app=a&app=b", "parameter [app] is given more than once"),
        (
            "app=a&limit=1&limit=1",
            "parameter [limit] is given more than once",
        ),
        (
            "app=a&jobs.1=x&jobs.1=y",
            "parameter [jobs.1] is given more than once",
        ),
        (
            "app=a&status=pending&status=failed",
            "parameter [status] is given more than once",
        ),
        (
            "app=a&jobs.0=j-1",
            "invalid value [j-1] for parameter [jobs.0]: a list parameter is numbered jobs.1, \
             jobs.2, …: its suffix must be a positive decimal integer without leading zeros",
        ),
        (
            "app=a&status.x=pending",
            "invalid value [pending] for parameter [status.x]: a list parameter is numbered \
             status.1, status.2, …: its suffix must be a positive decimal integer without \
             leading zeros",
        ),
        (
            "app=a&jobs.=j",
            "invalid value [j] for parameter [jobs.]: a list parameter is numbered jobs.1, \
             jobs.2, …: its suffix must be a positive decimal integer without leading zeros",
        ),
        (
            "app=a&jobs.01=j",
            "invalid value [j] for parameter [jobs.01]: a list parameter is numbered jobs.1, \
             jobs.2, …: its suffix must be a positive decimal integer without leading zeros",
        ),
        (
            "app=a&jobs.99999999999999999999=j",
            "invalid value [j] for parameter [jobs.99999999999999999999]: a list parameter is \
             numbered jobs.1, jobs.2, …: its suffix must be a positive decimal integer without \
             leading zeros",
        ),
        (
            "app=a&status.1=Pending",
            "invalid value [Pending] for parameter [status.1]: \
             must be one of pending, working, failed, successful",
        ),
        (
            "app=a&offset=ten",
            "invalid value [ten] for parameter [offset]: must be a decimal integer",
        ),
        (
            "app=a&offset=1.5",
            "invalid value [1.5] for parameter [offset]: must be a decimal integer",
        ),
        (
            "app=a&limit=%2B5",
            "invalid value [+5] for parameter [limit]: must be a decimal integer",
        ),
        (
            "app=a&limit=-",
            "invalid value [-] for parameter [limit]: must be a decimal integer",
        ),
        (
            "app=a&limit=-1",
            "invalid value [-1] for parameter [limit]: must be 0 or more",
        ),
        (
            "app=a&offset=-5",
            "invalid value [-5] for parameter [offset]: must be 0 or more",
        ),
        (
            "app=a&offset=18446744073709551616",
            "invalid value [18446744073709551616] for parameter [offset]: must fit in 64 bits",
        ),
        (
            "app=a&limit=-9223372036854775809",
            "invalid value [-9223372036854775809] for parameter [limit]: must fit in 64 bits",
        ),
        (
            "app=a&limit=123456789012345678901234567890123456789012345",
            "invalid value [123456789012345678901234567890123456789012345] for parameter \
             [limit]: must fit in 64 bits",
        ),
        (
            "app=a&verbose=1",
            "invalid value [1] for parameter [verbose]: only verbose=0 is supported",
        ),
        (
            "app=a&verbose=x",
            "invalid value [x] for parameter [verbose]: must be a decimal integer",
        ),
        (
            "app=a&reverse=2",
            "invalid value [2] for parameter [reverse]: must be 0 or 1",
        ),
        (
            "app=a&reverse=yes",
            "invalid value [yes] for parameter [reverse]: must be a decimal integer",
        ),
        (
            "app=a&sort_key=name",
            "invalid value [name] for parameter [sort_key]: must be create_time or status_time",
        ),
        (
            "action=DescribeJobs&app=a",
            "invalid value [DescribeJobs] for parameter [action]: must be DescribeClusterJobs",
        ),
        // The first fault in request order wins; a missing app comes last.
        (
            "limit=x&offset=y",
            "invalid value [x] for parameter [limit]: must be a decimal integer",
        ),
    ];
    let store = seed_store();
    for (request, words) in cases {
        let err = request.parse::<Query>().unwrap_err();
        assert_eq!(err.ret_code(), 1100, "{request}");
        assert_eq!(
            err.to_string(),
            format!("ParameterError, {words}"),
            "{request}"
        );
        let json = store.describe_json(&Caller::admin("root"), request);
        let answer: ErrorResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(answer, ErrorResponse::from(&err));
    }
}

#[test]
fn faults_are_reported_in_the_order_1100_1400_2100() {
    let store = seed_store();
    let user = Caller::user("system");
    let code = |request: &str| {
        let json = store.describe_json(&user, request);
        serde_json::from_str::<ErrorResponse>(&json)
            .unwrap()
            .ret_code
    };
    assert_eq!(
        code("app=app-tg3lbp0a&owner=root&jobs.1=nope&limit=x"),
        1100
    );
    assert_eq!(code("app=app-tg3lbp0a&owner=root&jobs.1=nope"), 1400);
    assert_eq!(code("app=app-tg3lbp0a&jobs.1=nope"), 2100);
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9-]{1,12}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    (
        word(),
        prop::collection::vec(word(), 0..4),
        prop::collection::vec(0usize..4, 0..4),
        (
            prop::option::of(word()),
            prop::option::of(word()),
            prop::option::of(word()),
        ),
        (any::<bool>(), any::<bool>(), any::<u64>(), any::<u64>()),
        (
            prop::option::of(word()),
            prop::option::of(any::<i64>()),
            prop::option::of(any::<i64>()),
        ),
    )
        .prop_map(
            |(
                app,
                ids,
                statuses,
                (action, owner, cluster),
                (by_status, reverse, offset, limit),
                (after, start, end),
            )| {
                let mut query = Query::builder(app)
                    .order(if reverse {
                        Order::NewestFirst
                    } else {
                        Order::OldestFirst
                    })
                    .offset(offset)
                    .limit(limit)
                    .sort_key(if by_status {
                        SortKey::StatusTime
                    } else {
                        SortKey::CreateTime
                    });
                for id in ids {
                    query = query.job_id(id);
                }
                for s in statuses {
                    query = query.status(Status::ALL[s]);
                }
                if let Some(action) = action {
                    query = query.job_action(action);
                }
                if let Some(owner) = owner {
                    query = query.owner(owner);
                }
                if let Some(cluster) = cluster {
                    query = query.cluster(cluster);
                }
                if let Some(after) = after {
                    query = query.after(after);
                }
                // Any nanosecond chrono holds, as a window's bound.
                let time = |nanos: i64| joblog::chrono::DateTime::from_timestamp_nanos(nanos);
                // A window that can be asked: its start before its end.
                let (start, end) = match (start, end) {
                    (Some(a), Some(b)) if a == b => (Some(a), None),
                    (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                    window => window,
                };
                if let Some(start) = start {
                    query = query.start_time(time(start));
                }
                if let Some(end) = end {
                    query = query.end_time(time(end));
                }
                query.build()
            },
        )
}

proptest! {
    #[test]
    fn a_printed_query_parses_back_to_itself(query in query()) {
        let printed = query.to_string();
        prop_assert_eq!(printed.parse::<Query>(), Ok(query));
    }

    #[test]
    fn no_request_string_panics(request in any::<String>()) {
        let store = seed_store();
        let json = store.describe_json(&Caller::user("system"), &request);
        prop_assert!(json.ends_with("}"), "{}", json);
    }

    #[test]
    fn no_byte_string_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let request = String::from_utf8_lossy(&bytes);
        let store = seed_store();
        let json = store.describe_json(&Caller::admin("root"), &request);
        let parsed: serde_json::Value = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(parsed.get("ret_code").is_some());
    }

    #[test]
    fn request_shaped_noise_never_panics(
        parts in prop::collection::vec(
            (prop_oneof![
                Just("app".to_owned()), Just("jobs.1".to_owned()), Just("status".to_owned()),
                Just("status.2".to_owned()), Just("limit".to_owned()), Just("offset".to_owned()),
                Just("reverse".to_owned()), Just("verbose".to_owned()), Just("sort_key".to_owned()),
                Just("owner".to_owned()), Just("cluster".to_owned()), Just("job_action".to_owned()),
                "[a-z._0-9%+]{0,8}",
            ], "[a-z0-9%+.=&-]{0,12}"),
            0..8,
        )
    ) {
        let request: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let store = seed_store();
        let json = store.describe_json(&Caller::user("system"), &request.join("&"));
        prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
    }

    #[test]
    fn records_round_trip_through_json(
        id in "[a-z0-9-]{1,12}",
        extras in prop::collection::vec(("[a-z]{1,6}", any::<i32>()), 0..5),
        directive in any::<String>(),
        seconds in 0i64..9_000_000_000,
        delay in 0i64..100_000,
        nanos in 0u32..1_000_000_000,
    ) {
        let at = chrono::DateTime::from_timestamp(seconds, 0).unwrap();
        let mut job = Job::new(id, "app-1", "usr-1", "RunJob", Status::Working, at);
        job.status_time = at + chrono::Duration::seconds(delay);
        job.directive = directive;
        let extras: serde_json::Map<_, _> =
            extras.into_iter().map(|(key, value)| (key, value.into())).collect();
        job.extras = joblog::Extras::try_from(extras).unwrap();
        let json = serde_json::to_string(&job).unwrap();
        prop_assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job.clone());
        // Every digit of a time survives: the ingest form is exact (the
        // API's answer writes whole seconds).
        job.create_time = at + chrono::Duration::nanoseconds(i64::from(nanos));
        job.status_time = job.create_time + chrono::Duration::milliseconds(i64::from(nanos % 1000));
        let back: Job = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        prop_assert_eq!(&back, &job);
        let mut store = JobStore::new();
        store.insert(job.clone()).unwrap();
        let answer = store.describe_json(&Caller::admin("root"), "app=app-1");
        let whole = format!("\"create_time\":\"{}\"", joblog::format_timestamp(job.create_time));
        prop_assert!(answer.contains(&whole), "{}", answer);
    }
}

/// Text with everything JSON escapes, and what it does not.
fn awkward() -> impl Strategy<Value = String> {
    "(\\PC|[\\x00-\\x1f\"\\\\/\\x7f\u{2028}<>é]){0,40}"
}

/// The store's marks of what needs no escaping follow a job's failure
/// (its error codes may need escapes) and a name's number taken again by
/// a name that escapes the other way: the written page stays serde_json's.
#[test]
fn written_pages_follow_failures_and_reused_names() {
    let at = |s: i64| joblog::chrono::DateTime::from_timestamp(1_520_000_000 + s, 0).unwrap();
    let admin = Caller::admin("root");
    let query = Query::builder("app-1").limit(100).build();
    let same = |store: &JobStore| {
        let page = store.describe(&admin, &query).unwrap();
        assert_eq!(
            store.describe_json(&admin, &query.to_string()),
            serde_json::to_string(&page).unwrap()
        );
        store.check_invariants().unwrap();
        page.total_count()
    };
    let mut store = JobStore::new();
    let job = |id: &str, owner: &str, action: &str, status, s| {
        Job::new(id, "app-1", owner, action, status, at(s))
    };
    // Jobs that stay, so that freeing a few names below leaves the store
    // as it is (an emptied store renumbers its names afresh).
    for i in 0..10 {
        let keeper = job(
            &format!("k-{i}"),
            &format!("usr-k{i}"),
            "Keep",
            Status::Pending,
            i,
        );
        store.insert(keeper).unwrap();
    }
    store
        .insert(job("j-1", "usr-1", "RunJob", Status::Working, 10))
        .unwrap();
    store
        .insert(job("j-2", "usr-\"2", "Run\\Job", Status::Successful, 11))
        .unwrap();
    assert_eq!(same(&store), 12);
    store.fail("j-1", at(12), "E\"1\n").unwrap();
    assert_eq!(store.get("j-1").unwrap().error_codes(), "E\"1\n");
    assert_eq!(same(&store), 12);
    // A plain keeper fails with plain codes: its element's end is copied
    // whole, with the new codes in it.
    store.fail("k-3", at(25), "E42").unwrap();
    assert_eq!(same(&store), 12);
    // Both go, and their four names with them, two of them plain. Four
    // names that need escapes come next and take those numbers.
    store.prune_finished(at(20)).unwrap();
    assert_eq!(store.len(), 10);
    for (id, owner, action, s) in [
        ("j-\"3", "usr-\"3", "Run\"Job", 20),
        ("j-4", "usr-\"4", "Run\"Job4", 21),
    ] {
        store
            .insert(job(id, owner, action, Status::Pending, s))
            .unwrap();
    }
    assert_eq!(same(&store), 12);
}

/// A job with awkward text in every free field.
pub(crate) fn awkward_job(n: usize) -> impl Strategy<Value = Job> {
    (
        awkward(),
        awkward(),
        awkward(),
        // Now and then an id JSON escapes.
        prop::collection::vec("[a-z]{1,3}-[a-z0-9]{1,4}|[a-z]{1,3}\\\\[a-z0-9]{1,2}", 0..3),
        (
            0usize..4,
            // Far apart, or within hours of each other as a page's are.
            prop_oneof![-2_000_000_000i64..2_000_000_000, 0i64..20_000],
            0i64..5_000_000_000_000,
        ),
        0usize..3,
    )
        .prop_map(
            move |(directive, codes, extra, resources, (status, created, later), owner)| {
                let status = [
                    Status::Pending,
                    Status::Working,
                    Status::Failed,
                    Status::Successful,
                ][status];
                let at = joblog::chrono::DateTime::from_timestamp_nanos(
                    created * 1_000_000_000 + n as i64,
                );
                // Some jobs need no escaping but in their error codes; some
                // job ids, one owner and some resource ids need it.
                let action = if n.is_multiple_of(3) {
                    "RunJob"
                } else {
                    "Run\"Job"
                };
                let job_id = if n % 4 == 1 {
                    format!("j-\"{n}")
                } else {
                    format!("j-{n}")
                };
                let owner = match owner {
                    0 => "usr-\\0".to_owned(),
                    n => format!("usr-{n}"),
                };
                let mut job = Job::new(job_id, "app-1", owner, action, status, at);
                job.status_time = at + joblog::chrono::Duration::nanoseconds(later);
                job.directive = directive;
                if status == Status::Failed {
                    job.error_codes = codes;
                }
                job.resource_ids = resources.join(" ");
                job.resources.insert("clu\"sters".to_owned(), resources);
                job.extras = joblog::Extras::parse(
                    &serde_json::json!({ "note": extra, "n": n }).to_string(),
                )
                .expect("an object");
                job
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(32)
    ))]

    /// `describe_json` writes pages by hand from the stored wire form; it
    /// is byte for byte serde_json's writing of the same `Page`.
    #[test]
    fn the_written_page_is_serde_jsons(
        jobs in (1usize..300).prop_flat_map(|n| (0..n).map(awkward_job).collect::<Vec<_>>()),
        asks in prop::collection::vec((0usize..3, any::<bool>(), any::<bool>(), 0u64..40, 0u64..60), 1..8),
    ) {
        let store = JobStore::from_jobs(jobs).unwrap();
        for (who, by_status, reverse, offset, limit) in asks {
            let caller = match who {
                0 => Caller::admin("root"),
                n => Caller::user(format!("usr-{n}")),
            };
            let mut builder = Query::builder("app-1").offset(offset).limit(limit);
            if by_status {
                builder = builder.sort_key(SortKey::StatusTime);
            }
            if reverse {
                builder = builder.order(Order::OldestFirst);
            }
            let query = builder.build();
            let page = store.describe(&caller, &query).unwrap();
            let serde = serde_json::to_string(&page).unwrap();
            prop_assert_eq!(store.describe_json(&caller, &query.to_string()), serde);
        }
    }
}
