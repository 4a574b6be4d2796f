//! Scope, filters, errors, order and paging of `describe`.

use joblog::{Caller, ErrorKind, Job, JobStore, Order, Query, SortKey, Status};

use crate::job;

fn ids(store: &JobStore, caller: &Caller, query: &Query) -> (u64, Vec<String>) {
    let page = store.describe(caller, query).unwrap();
    let ids = page.jobs().iter().map(|j| j.job_id().to_owned()).collect();
    (page.total_count(), ids)
}

/// Ann owns j-0..j-9 of app a, Bob j-10..j-14 of app a, Ann j-20.. of app b.
fn store() -> JobStore {
    let mut store = JobStore::new();
    for i in 0..10 {
        let mut job = job(&format!("j-{i}"), "a", "ann", i);
        job.job_action = if i % 2 == 0 { "Start" } else { "Stop" }.into();
        job.resource_ids = format!("cl-{}", i % 3);
        if i == 4 {
            job.resources
                .insert("volumes".into(), vec!["vol-9".into(), "cl-2".into()]);
        }
        store.insert(job).unwrap();
    }
    for i in 10..15 {
        store.insert(job(&format!("j-{i}"), "a", "bob", i)).unwrap();
    }
    for i in 20..23 {
        store.insert(job(&format!("j-{i}"), "b", "ann", i)).unwrap();
    }
    store
}

#[test]
fn a_user_sees_only_its_own_jobs_of_the_app() {
    let store = store();
    let (total, page) = ids(
        &store,
        &Caller::user("ann"),
        &Query::builder("a").limit(3).build(),
    );
    assert_eq!(total, 10);
    assert_eq!(page, ["j-9", "j-8", "j-7"]);
    let (total, _) = ids(&store, &Caller::user("carol"), &Query::new("a"));
    assert_eq!(total, 0);
    let (total, _) = ids(&store, &Caller::user("ann"), &Query::new("nope"));
    assert_eq!(total, 0);
}

#[test]
fn an_admin_sees_the_whole_app_and_may_narrow_by_owner() {
    let store = store();
    let admin = Caller::admin("root");
    let (total, page) = ids(&store, &admin, &Query::builder("a").limit(2).build());
    assert_eq!((total, page), (15, vec!["j-14".into(), "j-13".into()]));
    let (total, page) = ids(
        &store,
        &admin,
        &Query::builder("a").owner("bob").limit(1).build(),
    );
    assert_eq!((total, page), (5, vec!["j-14".into()]));
    let (total, _) = ids(&store, &admin, &Query::builder("a").owner("nobody").build());
    assert_eq!(total, 0);
    // The owner filter never widens beyond the app.
    let (total, _) = ids(&store, &admin, &Query::builder("b").owner("bob").build());
    assert_eq!(total, 0);
}

#[test]
fn a_user_naming_another_owner_is_denied() {
    let store = store();
    let err = store
        .describe(
            &Caller::user("ann"),
            &Query::builder("a").owner("bob").build(),
        )
        .unwrap_err();
    assert_eq!(err.ret_code(), 1400);
    assert_eq!(
        err.kind(),
        &ErrorKind::PermissionDenied {
            caller: "ann".into(),
            owner: "bob".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "PermissionDenied, user [ann] may only list its own jobs, not those of owner [bob]"
    );
    // Naming itself is fine.
    let (total, _) = ids(
        &store,
        &Caller::user("ann"),
        &Query::builder("a").owner("ann").build(),
    );
    assert_eq!(total, 10);
}

#[test]
fn ids_not_in_scope_fail_with_2100_naming_all_of_them() {
    let store = store();
    let ann = Caller::user("ann");
    let query = Query::builder("a")
        .job_id("j-1")
        .job_id("j-10") // Bob's: invisible to Ann
        .job_id("j-missing")
        .job_id("j-20") // another app
        .job_id("j-missing")
        .status(Status::Working) // filters do not hide missing ids
        .build();
    let err = store.describe(&ann, &query).unwrap_err();
    assert_eq!(err.ret_code(), 2100);
    assert_eq!(
        err.kind(),
        &ErrorKind::JobsNotFound {
            job_ids: vec!["j-10".into(), "j-missing".into(), "j-20".into()]
        }
    );
    assert_eq!(
        err.to_string(),
        "ResourceNotFound, jobs [j-10, j-missing, j-20] not found"
    );
    // Another owner's id answers exactly like an id that does not exist.
    let theirs = store.describe(&ann, &Query::builder("a").job_id("j-10").build());
    let nobody = store.describe(&ann, &Query::builder("a").job_id("j-99").build());
    assert_eq!(
        theirs.unwrap_err().to_string().replace("j-10", "ID"),
        nobody.unwrap_err().to_string().replace("j-99", "ID")
    );
}

#[test]
fn ids_in_scope_that_filters_drop_are_simply_not_returned() {
    let store = store();
    let query = Query::builder("a")
        .job_id("j-3")
        .job_id("j-2")
        .job_id("j-3")
        .job_id("j-5")
        .build();
    let (total, page) = ids(&store, &Caller::user("ann"), &query);
    assert_eq!(
        (total, page),
        (3, vec!["j-5".into(), "j-3".into(), "j-2".into()])
    );
    let (total, page) = ids(
        &store,
        &Caller::user("ann"),
        &query.to_builder().job_action("Stop").build(),
    );
    assert_eq!((total, page), (2, vec!["j-5".into(), "j-3".into()]));
}

#[test]
fn action_and_cluster_filters() {
    let store = store();
    let ann = Caller::user("ann");
    let (total, page) = ids(
        &store,
        &ann,
        &Query::builder("a").job_action("Start").limit(2).build(),
    );
    assert_eq!((total, page), (5, vec!["j-8".into(), "j-6".into()]));
    // cl-2 appears in resource_ids of j-2, j-5, j-8 and in resources of j-4.
    let (total, page) = ids(&store, &ann, &Query::builder("a").cluster("cl-2").build());
    assert_eq!(total, 4);
    assert_eq!(page, ["j-8", "j-5", "j-4", "j-2"]);
    let (total, page) = ids(
        &store,
        &ann,
        &Query::builder("a")
            .cluster("cl-2")
            .job_action("Start")
            .order(Order::OldestFirst)
            .build(),
    );
    assert_eq!(
        (total, page),
        (3, vec!["j-2".into(), "j-4".into(), "j-8".into()])
    );
    let (total, _) = ids(
        &store,
        &ann,
        &Query::builder("a").cluster("vol-nope").build(),
    );
    assert_eq!(total, 0);
    let (total, _) = ids(
        &store,
        &ann,
        &Query::builder("a").job_action("Nope").build(),
    );
    assert_eq!(total, 0);
    // Bob has no Start jobs of his own in app a... all of his are RunJob.
    let (total, _) = ids(
        &store,
        &Caller::user("bob"),
        &Query::builder("a").job_action("Start").build(),
    );
    assert_eq!(total, 0);
}

#[test]
fn limit_is_capped_at_100_and_zero_counts_only() {
    let mut store = JobStore::new();
    for i in 0..150 {
        store.insert(job(&format!("j-{i}"), "a", "u", i)).unwrap();
    }
    let u = Caller::user("u");
    let (total, page) = ids(&store, &u, &Query::builder("a").limit(1000).build());
    assert_eq!((total, page.len()), (150, 100));
    let (total, page) = ids(&store, &u, &Query::builder("a").limit(0).build());
    assert_eq!((total, page.len()), (150, 0));
    let (total, page) = ids(&store, &u, &Query::new("a"));
    assert_eq!((total, page.len()), (150, 20));
    let (total, page) = ids(&store, &u, &Query::builder("a").offset(140).build());
    assert_eq!((total, page.len()), (150, 10));
    let (total, page) = ids(&store, &u, &Query::builder("a").offset(u64::MAX).build());
    assert_eq!((total, page.len()), (150, 0));
    let (total, page) = ids(
        &store,
        &u,
        &Query::builder("a")
            .job_action("RunJob")
            .offset(u64::MAX)
            .build(),
    );
    assert_eq!((total, page.len()), (150, 0));
    // The plans that sort their candidates (listed ids, a cluster's
    // postings) count only too, in either order and deep.
    let mut store = JobStore::new();
    for i in 0..150 {
        let mut job = job(&format!("j-{i}"), "a", "u", i);
        job.resource_ids = "cl-1".into();
        store.insert(job).unwrap();
    }
    let listed = (0..30).fold(Query::builder("a"), |q, i| q.job_id(format!("j-{i}")));
    let cluster = Query::builder("a").cluster("cl-1");
    for (query, want) in [(listed, 30u64), (cluster, 150)] {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            for (offset, limit) in [(0, 0), (5, 0), (0, 3), (want - 1, 3)] {
                let q = query
                    .clone()
                    .order(order)
                    .offset(offset)
                    .limit(limit)
                    .build();
                let (total, page) = ids(&store, &u, &q);
                assert_eq!(total, want, "{q}");
                assert_eq!(page.len() as u64, limit.min(want - offset), "{q}");
            }
        }
    }
}

#[test]
fn equal_times_are_ordered_by_insertion_later_first() {
    let mut store = JobStore::new();
    for id in ["j-a", "j-b", "j-c"] {
        store.insert(job(id, "a", "u", 7)).unwrap();
    }
    store.insert(job("j-old", "a", "u", 1)).unwrap();
    let u = Caller::user("u");
    let (_, newest) = ids(&store, &u, &Query::new("a"));
    assert_eq!(newest, ["j-c", "j-b", "j-a", "j-old"]);
    let (_, oldest) = ids(
        &store,
        &u,
        &Query::builder("a").order(Order::OldestFirst).build(),
    );
    assert_eq!(oldest, ["j-old", "j-a", "j-b", "j-c"]);
    let (_, by_action) = ids(
        &store,
        &u,
        &Query::builder("a").job_action("RunJob").build(),
    );
    assert_eq!(by_action, newest);
}

#[test]
fn empty_values_in_a_typed_query_are_refused() {
    let store = store();
    let u = Caller::user("ann");
    let cases = [
        (
            Query::new(""),
            "ParameterError, invalid value [] for parameter [app]: must not be empty",
        ),
        (
            Query::builder("a").job_id("j-1").job_id("").build(),
            "ParameterError, invalid value [] for parameter [jobs.2]: must not be empty",
        ),
        (
            Query::builder("a").job_action("").build(),
            "ParameterError, invalid value [] for parameter [job_action]: must not be empty",
        ),
        (
            Query::builder("a").owner("").build(),
            "ParameterError, invalid value [] for parameter [owner]: must not be empty",
        ),
        (
            Query::builder("a").cluster("").build(),
            "ParameterError, invalid value [] for parameter [cluster]: must not be empty",
        ),
    ];
    for (query, message) in cases {
        let err = store.describe(&u, &query).unwrap_err();
        assert_eq!(err.ret_code(), 1100);
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn faults_are_reported_1100_then_1400_then_2100() {
    let store = store();
    let ann = Caller::user("ann");
    let all_three = Query::builder("a")
        .owner("bob")
        .job_id("j-missing")
        .cluster("")
        .build();
    assert_eq!(
        store.describe(&ann, &all_three).unwrap_err().ret_code(),
        1100
    );
    let two = Query::builder("a").owner("bob").job_id("j-missing").build();
    assert_eq!(store.describe(&ann, &two).unwrap_err().ret_code(), 1400);
}

#[test]
fn status_time_order_and_status_filters_combine() {
    let mut store = JobStore::new();
    for i in 0..6 {
        store
            .insert(Job::new(
                format!("j-{i}"),
                "a",
                "u",
                "X",
                Status::Pending,
                crate::at(i),
            ))
            .unwrap();
    }
    store
        .set_status("j-0", Status::Working, crate::at(30))
        .unwrap();
    store
        .set_status("j-2", Status::Working, crate::at(20))
        .unwrap();
    store.fail("j-4", crate::at(25), "E1").unwrap();
    let u = Caller::user("u");
    let query = Query::builder("a")
        .status(Status::Working)
        .status(Status::Failed)
        .sort_key(SortKey::StatusTime)
        .build();
    let (total, page) = ids(&store, &u, &query);
    assert_eq!(
        (total, page),
        (3, vec!["j-0".into(), "j-4".into(), "j-2".into()])
    );
    let (_, page) = ids(
        &store,
        &u,
        &query
            .to_builder()
            .order(Order::OldestFirst)
            .offset(1)
            .build(),
    );
    assert_eq!(page, ["j-4", "j-0"]);
    let (total, page) = ids(
        &store,
        &u,
        &Query::builder("a")
            .status(Status::Pending)
            .offset(1)
            .build(),
    );
    assert_eq!((total, page), (3, vec!["j-3".into(), "j-1".into()]));
}

/// SPEC §10 on the wire: `after` starts the page after a job in view (of
/// any filter), `start_time`/`end_time` bound the sort key's time, and
/// `total_count` counts the window whatever `after` says.
#[test]
fn after_and_windows_on_the_wire() {
    let store = store();
    let ann = Caller::user("ann");
    let asked = |request: &str| ids(&store, &ann, &request.parse::<Query>().unwrap());
    // Ann's jobs j-0..j-9 were created at seconds 0..9.
    assert_eq!(
        asked("app=a&after=j-6&limit=3"),
        (10, vec!["j-5".into(), "j-4".into(), "j-3".into()])
    );
    assert_eq!(
        asked("app=a&after=j-6&reverse=0&offset=1&limit=2"),
        (10, vec!["j-8".into(), "j-9".into()])
    );
    // The job named need not pass the filters: j-6 is a Start job.
    assert_eq!(
        asked("app=a&job_action=Stop&after=j-6&limit=2"),
        (5, vec!["j-5".into(), "j-3".into()])
    );
    // A window: seconds 2 to 6 (start inclusive, end exclusive).
    let window = "start_time=2018-03-04T05:38:00Z&end_time=2018-03-04T05:38:04Z";
    assert_eq!(
        asked(&format!("app=a&{window}")),
        (
            4,
            vec!["j-5".into(), "j-4".into(), "j-3".into(), "j-2".into()]
        )
    );
    assert_eq!(
        asked(&format!("app=a&{window}&after=j-4")),
        (4, vec!["j-3".into(), "j-2".into()])
    );
    assert_eq!(
        asked(&format!("app=a&{window}&cluster=cl-2&reverse=0")),
        (3, vec!["j-2".into(), "j-4".into(), "j-5".into()])
    );
    assert_eq!(
        asked("app=a&start_time=2018-03-04T05:38:05Z&jobs.1=j-1&jobs.2=j-8"),
        (1, vec!["j-8".into()])
    );
    // after names a job out of view: 2100, with the missing jobs.n.
    let err = store
        .describe(&ann, &"app=a&after=j-10".parse::<Query>().unwrap())
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::JobsNotFound {
            job_ids: vec!["j-10".into()]
        }
    );
    let json = store.describe_json(&ann, "app=a&jobs.1=j-none&after=j-20");
    assert_eq!(
        json,
        r#"{"ret_code":2100,"message":"ResourceNotFound, jobs [j-none, j-20] not found"}"#
    );
    let json = store.describe_json(&ann, "app=zzz&after=j-1");
    assert!(json.starts_with(r#"{"ret_code":2100,"#), "{json}");
}

/// A plan says, in one line, the index, the order, the statuses counted,
/// the window and how it is applied, the cursor, and what it scans and
/// sorts; the page carries the plan that answered it.
#[test]
fn a_plan_names_its_window_its_cursor_and_what_it_reads() {
    let store = store();
    let ann = Caller::user("ann");
    let window = "start_time=2018-03-04T05:38:00Z&end_time=2018-03-04T05:38:04.5Z";
    for (request, want) in [
        (
            format!("app=a&status.1=pending&{window}&after=j-4"),
            "the owner's ordered index: total_count from its counts, the page by rank; \
             by create_time newest first; counts pending; \
             window [2018-03-04T05:38:00Z, 2018-03-04T05:38:04.500Z) counted by rank; \
             after j-4; scans 0, sorts at most 0",
        ),
        (
            format!("app=a&job_action=Stop&{window}&reverse=0&sort_key=status_time"),
            // The action's 5 jobs are fewer than the owner's 10; 2 lie in
            // the window.
            "walk the action's ordered index (2 jobs) in the order asked for, keeping the jobs \
             that meet every filter; by status_time oldest first; \
             counts pending+working+failed+successful; \
             window [2018-03-04T05:38:00Z, 2018-03-04T05:38:04.500Z) walked; scans 2, sorts at most 0",
        ),
        (
            "app=a&cluster=cl-2&end_time=2018-03-04T05:38:03Z".to_owned(),
            "filter the cluster's 4 jobs, then order what is left; by create_time newest first; \
             counts pending+working+failed+successful; \
             window [-inf, 2018-03-04T05:38:03Z) as a filter; scans 4, sorts at most 4",
        ),
        (
            "app=a&jobs.1=j-1&jobs.2=j-1".to_owned(),
            "look up each of the 2 listed ids; by create_time newest first; \
             counts pending+working+failed+successful; scans 2, sorts at most 2",
        ),
    ] {
        let query: Query = request.parse().unwrap();
        let plan = store.explain(&ann, &query).unwrap();
        assert_eq!(plan.to_string(), want, "{request}");
        assert_eq!(
            store.describe(&ann, &query).unwrap().plan(),
            &plan,
            "{request}"
        );
    }
}
