//! Snapshots (SPEC §9) and building a store whole: exact round trips in
//! JSON and postcard, and every corrupt snapshot refused.

use joblog::{Caller, Job, JobStore, Status};
use proptest::prelude::*;

use crate::events::primary_history;
use crate::{at, dump, job};

/// Whether two stores are the same to every reader: jobs in order,
/// revision, invariants, and answers (ties included) to many queries.
fn same(a: &JobStore, b: &JobStore) -> Result<(), TestCaseError> {
    b.check_invariants().map_err(TestCaseError::fail)?;
    prop_assert_eq!(a.revision(), b.revision());
    prop_assert_eq!(dump(a), dump(b));
    let admin = Caller::admin("root");
    for owner in 0..6 {
        for extra in [
            "",
            "&sort_key=status_time&reverse=0",
            "&status.1=pending&status.2=failed",
        ] {
            let request = format!(
                "app=app-1&owner=usr-{owner}&offset={}&limit=50{extra}",
                owner * 7
            );
            prop_assert_eq!(
                a.describe_json(&admin, &request),
                b.describe_json(&admin, &request)
            );
        }
    }
    Ok(())
}

fn json_round_trip(store: &JobStore) -> JobStore {
    serde_json::from_str(&serde_json::to_string(store).unwrap()).unwrap()
}

fn postcard_round_trip(store: &JobStore) -> JobStore {
    postcard::from_bytes(&postcard::to_allocvec(store).unwrap()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(16), ..ProptestConfig::default() })]

    /// A snapshot taken at any point, read back (JSON or postcard), plus
    /// the events after it, equals the primary.
    #[test]
    fn a_snapshot_plus_the_later_events_equals_the_primary(
        creates in prop::collection::vec((any::<u8>(), 0u8..4, 0u16..3000), 500..3000),
        moves in prop::collection::vec((any::<u16>(), 0u8..4, 0u16..4000), 0..2000),
        prunes in prop::collection::vec(0u16..4000, 1..20),
        cut in any::<prop::sample::Index>(),
    ) {
        let (primary, events) = primary_history(&creates, &moves, &prunes);
        same(&primary, &json_round_trip(&primary))?;
        same(&primary, &postcard_round_trip(&primary))?;
        let cut = cut.index(events.len() + 1);
        let mut early = JobStore::new();
        for event in &events[..cut] {
            let _ = early.apply(event).map_err(|err| TestCaseError::fail(err.to_string()))?;
        }
        for mut restored in [json_round_trip(&early), postcard_round_trip(&early)] {
            same(&early, &restored)?;
            for event in &events[cut..] {
                let _ = restored.apply(event).map_err(|err| TestCaseError::fail(err.to_string()))?;
            }
            same(&primary, &restored)?;
        }
    }

    /// Building whole gives the store inserting one by one gives.
    #[test]
    fn building_whole_equals_inserting_one_by_one(
        creates in prop::collection::vec((any::<u8>(), 0u8..4, 0u16..3000), 0..3000),
    ) {
        let (one_by_one, events) = primary_history(&creates, &[], &[]);
        let jobs = events.into_iter().filter_map(|event| match event.change {
            joblog::Change::Insert { job } => Some(*job),
            _ => None,
        });
        same(&one_by_one, &JobStore::from_jobs(jobs).map_err(|err| TestCaseError::fail(err.to_string()))?)?;
    }
}

#[test]
fn times_keep_every_digit_and_ties_their_order() {
    let t = at(0) + chrono::Duration::nanoseconds(123_456_789);
    let mut store = JobStore::new();
    for i in 0..5 {
        let mut tie = job(&format!("j-{i}"), "app-1", "usr-1", 0);
        tie.create_time = t;
        tie.status_time = t;
        store.insert(tie).unwrap();
    }
    let _ = store.set_status("j-2", Status::Working, t).unwrap();
    for back in [json_round_trip(&store), postcard_round_trip(&store)] {
        same(&store, &back).unwrap();
        assert_eq!(back.get("j-3").unwrap().create_time(), t);
        let page = back
            .describe(&Caller::user("usr-1"), &joblog::Query::new("app-1"))
            .unwrap();
        let ids: Vec<&str> = page.jobs().iter().map(|job| job.job_id()).collect();
        assert_eq!(ids, ["j-4", "j-3", "j-2", "j-1", "j-0"]);
    }
}

#[test]
fn the_json_form_is_revision_and_jobs() {
    let mut store = JobStore::new();
    let mut first = job("j-1", "app-1", "usr-1", 0);
    first.extras = r#"{"n":1E2}"#.parse().unwrap();
    first
        .resources
        .insert("clusters".into(), vec!["cl-1".into()]);
    store.insert(first).unwrap();
    let _ = store.fail("j-1", at(1), "E1").unwrap();
    assert_eq!(
        serde_json::to_string(&store).unwrap(),
        r#"{"revision":2,"jobs":[{"job_id":"j-1","app":"app-1","owner":"usr-1","job_action":"RunJob","status":"failed","create_time_ns":1520141878000000000,"status_time_ns":1520141879000000000,"directive":"","error_codes":"E1","resource_ids":"","resources":{"clusters":["cl-1"]},"extras":{"n":1E2}}]}"#
    );
}

/// A snapshot of two jobs, as JSON text.
fn two_jobs() -> String {
    let mut store = JobStore::new();
    store.insert(job("j-1", "app-1", "usr-1", 0)).unwrap();
    store.insert(job("j-2", "app-1", "usr-1", 1)).unwrap();
    serde_json::to_string(&store).unwrap()
}

#[test]
fn a_corrupt_snapshot_is_refused_saying_which_job_and_why() {
    let good = two_jobs();
    for (bad, why) in [
        (
            good.replace("j-2", "j-1"),
            "snapshot job 2: ParameterError, job [j-1] already exists",
        ),
        (
            good.replacen("pending", "done", 1),
            "snapshot job 1: unknown variant `done`",
        ),
        (
            good.replacen(
                "\"status_time_ns\":1520141878",
                "\"status_time_ns\":1420141878",
                1,
            ),
            "snapshot job 1: ParameterError, invalid value [2015-01-01T19:51:18Z] for field [status_time]: must not be before create_time",
        ),
        (
            good.replace(r#""revision":2"#, r#""revision":1"#),
            "snapshot revision 1 is below the 2 jobs it holds",
        ),
        (
            good.replace(r#""revision":2"#, r#""revision":18446744073709551615"#),
            "snapshot revision 18446744073709551615 is beyond any a store can reach (2^63 - 1)",
        ),
        (
            good.replacen("\"usr-1\"", "\"\"", 1),
            "snapshot job 1: ParameterError, invalid value [] for field [owner]: must not be empty",
        ),
        (
            good.replacen(r#""extras":{}"#, r#""extras":{"a":1,"a":2}"#, 1),
            "snapshot job 1: ParameterError, invalid value [a] for field [extras]: the key appears twice in one object",
        ),
        (
            good.replacen(r#""resources":{}"#, r#""resources":{"c":["x y"]}"#, 1),
            "snapshot job 1: ParameterError, invalid value [x y] for field [resources]: must not contain whitespace or control characters",
        ),
        (
            good.replacen(r#""directive":"","#, "", 1),
            "snapshot job 1: missing field `directive`",
        ),
        (
            good.replace(r#","jobs":"#, r#","jobs":[],"jobs":"#),
            "duplicate field `jobs`",
        ),
        (
            good[..good.len() / 2].to_owned(),
            "snapshot job 1: EOF while parsing",
        ),
    ] {
        let err = serde_json::from_str::<JobStore>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(why), "{bad}\n{err}");
    }
    // Binary: every truncation is refused, none panics.
    let bytes = postcard::to_allocvec(&serde_json::from_str::<JobStore>(&good).unwrap()).unwrap();
    for len in 0..bytes.len() {
        assert!(
            postcard::from_bytes::<JobStore>(&bytes[..len]).is_err(),
            "{len}"
        );
    }
    let store: JobStore = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(store.len(), 2);
}

#[test]
fn building_whole_refuses_the_first_bad_job() {
    let jobs = vec![job("j-1", "a", "u", 0), job("j-1", "a", "u", 1)];
    let err = JobStore::from_jobs(jobs).unwrap_err();
    assert_eq!(err.to_string(), "ParameterError, job [j-1] already exists");
    let mut bad = job("j-2", "a", "u", 0);
    bad.error_codes = "E".into();
    let err = JobStore::from_jobs([job("j-1", "a", "u", 0), bad]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ParameterError, invalid value [E] for field [error_codes]: must be empty unless the job failed"
    );
    let empty = JobStore::from_jobs(Vec::<Job>::new()).unwrap();
    assert_eq!((empty.len(), empty.revision()), (0, 0));
}

/// Ids are gathered at the end of a build, yet what is refused is still
/// the first job in order that an insert would refuse: among thousands,
/// the earliest repeat, and a repeat before a job with a bad field (or a
/// bad field before a repeat).
#[test]
fn building_whole_reports_the_first_refusal_in_order() {
    let many = |repeats: &[(usize, usize)]| -> Vec<Job> {
        let mut jobs: Vec<Job> = (0..5000)
            .map(|i| job(&format!("j-{i}"), "a", "u", i as i64))
            .collect();
        for &(at, of) in repeats {
            jobs[at].job_id = format!("j-{of}");
        }
        jobs
    };
    let failed = |mut job: Job| {
        job.error_codes = "E".into();
        job
    };
    let err = JobStore::from_jobs(many(&[(4000, 10), (3000, 20), (4500, 4499)])).unwrap_err();
    assert_eq!(err.to_string(), "ParameterError, job [j-20] already exists");
    let mut jobs = many(&[(3000, 20)]);
    jobs[3500] = failed(jobs[3500].clone());
    let err = JobStore::from_jobs(&jobs).unwrap_err();
    assert_eq!(err.to_string(), "ParameterError, job [j-20] already exists");
    let mut jobs = many(&[(3000, 20)]);
    jobs[2500] = failed(jobs[2500].clone());
    let err = JobStore::from_jobs(&jobs).unwrap_err();
    assert!(err.to_string().contains("for field [error_codes]"), "{err}");
    // Ids that differ in their last byte only are no repeat.
    let store = JobStore::from_jobs(many(&[])).unwrap();
    assert_eq!(store.len(), 5000);
    assert_eq!(store.check_invariants(), Ok(()));

    // A snapshot names the repeat's place, before a later bad job or a
    // revision below its jobs.
    let mut three = JobStore::new();
    for i in 1..=3 {
        three
            .insert(job(&format!("j-{i}"), "app-1", "usr-1", i))
            .unwrap();
    }
    let text = serde_json::to_string(&three).unwrap();
    let repeated = text.replacen("\"j-3\"", "\"j-1\"", 1);
    for (bad, why) in [
        (
            repeated.clone(),
            "snapshot job 3: ParameterError, job [j-1] already exists",
        ),
        (
            repeated.replace(r#""revision":3"#, r#""revision":1"#),
            "snapshot job 3: ParameterError, job [j-1] already exists",
        ),
        (
            repeated.replacen(r#"]}"#, r#",{"job_id":"j-9"}]}"#, 1),
            "snapshot job 3: ParameterError, job [j-1] already exists",
        ),
        (
            repeated.replacen(r#""revision":3,"#, "", 1),
            "snapshot job 3: ParameterError, job [j-1] already exists",
        ),
        (
            format!("{},\"jobs\":[]}}", &repeated[..repeated.len() - 1]),
            "snapshot job 3: ParameterError, job [j-1] already exists",
        ),
        (
            format!("{},\"revision\":3}}", &repeated[..repeated.len() - 1]),
            "snapshot job 3: ParameterError, job [j-1] already exists",
        ),
        (
            text.replacen("\"j-3\"", "\"j-1\"", 1)
                .replacen("\"j-2\"", "\"\"", 1),
            "snapshot job 2: ParameterError, invalid value [] for field [job_id]: must not be empty",
        ),
    ] {
        let err = serde_json::from_str::<JobStore>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(why), "{bad}\n{err}");
    }
}

/// A job with awkward text everywhere and `resources` in one of the shapes
/// a snapshot reader tells apart: none, plain kinds, a kind that needs
/// escaping, empty lists, and more kinds than the quick reader takes.
fn awkward_snapshot_job(n: usize) -> impl Strategy<Value = Job> {
    (crate::wire::awkward_job(n), 0usize..5, 0usize..40).prop_map(|(mut job, shape, kinds)| {
        // Ids of their own, so the resource index must take them from
        // `resources` (those of `resource_ids` would hide a lost one).
        let ids: Vec<String> = job
            .resource_ids
            .split(' ')
            .filter(|id| !id.is_empty())
            .map(|id| format!("{id}-r"))
            .collect();
        job.resources.clear();
        match shape {
            0 => {}
            1 => drop(job.resources.insert("clusters".into(), ids)),
            2 => drop(job.resources.insert("clu\"sters\\".into(), ids)),
            3 => {
                job.resources.insert("clusters".into(), Vec::new());
                job.resources.insert("nodes".into(), ids);
            }
            _ => {
                for kind in 0..kinds {
                    job.resources.insert(format!("kind-{kind}"), ids.clone());
                }
            }
        }
        job
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(32), ..ProptestConfig::default() })]

    /// Awkward text survives both formats exactly: escapes and controls in
    /// the directive, every shape of `resources`, any `extras`.
    #[test]
    fn awkward_jobs_round_trip(
        jobs in (1usize..200).prop_flat_map(|n| (0..n).map(awkward_snapshot_job).collect::<Vec<_>>()),
    ) {
        let store = JobStore::from_jobs(jobs.clone()).unwrap();
        for back in [json_round_trip(&store), postcard_round_trip(&store)] {
            same(&store, &back)?;
            for job in &jobs {
                prop_assert_eq!(back.get(&job.job_id).map(|got| got.to_job()), Some(job.clone()));
            }
        }
    }
}

#[test]
fn a_directive_reads_in_any_json_escaping_and_only_its_own_form_in_binary() {
    let mut store = JobStore::new();
    let mut first = job("j-1", "app-1", "usr-1", 0);
    first.directive = "{\"a\":\"\u{1}/é\"}".into();
    store.insert(first).unwrap();
    let json = serde_json::to_string(&store).unwrap();
    assert!(
        json.contains(r#""directive":"{\"a\":\"\u0001/é\"}""#),
        "{json}"
    );
    // Another writer's escaping: `\/`, `\u0041` for A, upper-case hex.
    let other = json.replace(r#"\u0001/é"#, r#"\u0001\/\u00e9\u0041"#);
    let back: JobStore = serde_json::from_str(&other).unwrap();
    let mut same_text = job("j-1", "app-1", "usr-1", 0);
    same_text.directive = "{\"a\":\"\u{1}/éA\"}".into();
    let expected = JobStore::from_jobs([same_text]).unwrap();
    let admin = Caller::admin("root");
    assert_eq!(
        back.describe_json(&admin, "app=app-1"),
        expected.describe_json(&admin, "app=app-1")
    );
    // Binary carries the escaped form itself; any other is refused.
    let bytes = postcard::to_allocvec(&store).unwrap();
    let at = bytes
        .windows(3)
        .position(|window| window == br#"\"a"#)
        .unwrap();
    let mut bad = bytes.clone();
    bad[at..at + 3].copy_from_slice(br#""aa"#);
    // (postcard keeps no message; the words are tested beside the reader.)
    assert!(postcard::from_bytes::<JobStore>(&bad).is_err());
    assert!(postcard::from_bytes::<JobStore>(&bytes).is_ok());
}

/// Names past the head a hash table keeps beside them (23 bytes), two
/// sharing all of it, names past 255 bytes, a resource id in two apps and
/// one spelled as an app: building whole gives what inserting one by one
/// gives, job for job and answer for answer.
#[test]
fn building_whole_tells_long_and_shared_names_apart() {
    let head = "x".repeat(23);
    let long = "y".repeat(300);
    let apps = [
        format!("{head}-app-a"),
        format!("{head}-app-b"),
        format!("{long}1"),
        format!("{long}2"),
    ];
    let owners: Vec<String> = (0..5).map(|i| format!("{head}-usr-{i}")).collect();
    let actions = [
        format!("{head}Start"),
        format!("{head}Stop"),
        format!("{long}Act"),
    ];
    let resources = [
        "cl-shared".to_owned(),
        apps[1].clone(),
        format!("{head}-cl-1"),
        format!("{head}-cl-2"),
        format!("{long}cl"),
    ];
    let jobs: Vec<Job> = (0..3000)
        .map(|i| {
            let mut job = job(
                &format!("j-{i}"),
                &apps[i % 4],
                &owners[i * 7 % 5],
                i as i64 / 3,
            );
            job.job_action = actions[i * 5 % 3].clone();
            job.resource_ids = format!("{} {}", resources[i % 5], resources[i * 3 % 5]);
            if i % 5 == i * 3 % 5 {
                job.resource_ids = resources[i % 5].clone();
            }
            job
        })
        .collect();
    let mut one_by_one = JobStore::new();
    for job in &jobs {
        one_by_one.insert(job.clone()).unwrap();
    }
    let built = JobStore::from_jobs(&jobs).unwrap();
    assert_eq!(built.check_invariants(), Ok(()));
    assert_eq!(built.revision(), one_by_one.revision());
    assert_eq!(dump(&built), dump(&one_by_one));
    // And both are the jobs given, each name its own.
    assert_eq!(dump(&built), jobs);
    let ids = |store: &JobStore, caller: &Caller, query: &joblog::Query| {
        let page = store.describe(caller, query).unwrap();
        let ids: Vec<String> = page
            .jobs()
            .iter()
            .map(|job| job.job_id().to_owned())
            .collect();
        (page.total_count(), ids)
    };
    let mut nonempty = 0;
    for app in &apps {
        for caller in std::iter::once(Caller::admin("root")).chain(owners.iter().map(Caller::user))
        {
            let mut queries = vec![joblog::Query::builder(app).limit(100).build()];
            queries.extend(
                actions
                    .iter()
                    .map(|action| joblog::Query::builder(app).job_action(action).build()),
            );
            queries.extend(
                resources
                    .iter()
                    .map(|id| joblog::Query::builder(app).cluster(id).build()),
            );
            for query in &queries {
                let answer = ids(&built, &caller, query);
                nonempty += usize::from(answer.0 > 0);
                assert_eq!(answer, ids(&one_by_one, &caller, query), "{app} {query:?}");
            }
        }
    }
    // The filters pick real jobs, not only empty pages alike: as many as
    // the jobs given hold.
    assert!(nonempty > 100, "{nonempty}");
    let admin = Caller::admin("root");
    for app in &apps {
        for id in &resources {
            let given = jobs
                .iter()
                .filter(|job| job.app == *app && job.resource_ids.split(' ').any(|held| held == id))
                .count();
            let query = joblog::Query::builder(app).cluster(id).limit(0).build();
            assert_eq!(
                built.describe(&admin, &query).unwrap().total_count(),
                given as u64,
                "{app} {id}"
            );
        }
    }
}
