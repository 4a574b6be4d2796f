//! Model-based property tests: random stores built from random inserts,
//! status changes and prunes (valid and invalid), random queries over every
//! filter, each answer compared with a plain `Vec` model; the invariant
//! checker after every operation; the paging laws.

use chrono::{DateTime, Utc};
use joblog::{Caller, ErrorKind, Job, JobStore, Order, Query, SortKey, Status};
use proptest::prelude::*;

use crate::{at, naive};

const APPS: [&str; 3] = ["app-a", "app-b", "app-c"];
const OWNERS: [&str; 4] = ["usr-0", "usr-1", "usr-2", "usr-3"];
const ACTIONS: [&str; 3] = ["StartClusters", "StopClusters", "CeaseResources"];
const CLUSTERS: [&str; 4] = ["cl-0", "cl-1", "cl-2", "cl-3"];

fn status(i: u8) -> Status {
    Status::ALL[usize::from(i % 4)]
}

#[derive(Clone, Debug)]
enum Op {
    Insert {
        id: u16,
        app: u8,
        owner: u8,
        action: u8,
        status: u8,
        create: i64,
        /// Seconds from create to status time; negative makes it invalid.
        delay: i64,
        /// Bits: which clusters in `resource_ids`, which in `resources`.
        clusters: u8,
        error_codes: bool,
        empty_owner: bool,
    },
    SetStatus {
        id: u16,
        status: u8,
        at: i64,
    },
    Fail {
        id: u16,
        at: i64,
    },
    /// `prune_finished`, or with a limit `prune_finished_at_most`.
    Prune {
        before: i64,
        limit: Option<usize>,
    },
    Query(QuerySpec),
}

#[derive(Clone, Debug)]
struct QuerySpec {
    caller: u8,
    admin: bool,
    app: u8,
    ids: Vec<u8>,
    statuses: Vec<u8>,
    action: Option<u8>,
    owner: Option<u8>,
    cluster: Option<u8>,
    status_time: bool,
    reverse: bool,
    /// `after`: a job id index.
    after: Option<u16>,
    /// `start_time` and `end_time`, in seconds from `at(0)`.
    window: (Option<i64>, Option<i64>),
    offset: u64,
    limit: u64,
}

fn job_id(i: u16) -> String {
    format!("j-{i:02}")
}

/// An owner index past the list names a user with no jobs.
fn owner_name(i: u8) -> String {
    OWNERS
        .get(usize::from(i))
        .map_or_else(|| format!("usr-{i}"), |s| (*s).to_owned())
}

impl QuerySpec {
    fn caller(&self) -> Caller {
        let name = owner_name(self.caller);
        if self.admin {
            Caller::admin(name)
        } else {
            Caller::user(name)
        }
    }

    /// The `owner` filter; 255 stands for the caller itself.
    fn owner_filter(&self) -> Option<String> {
        self.owner
            .map(|o| owner_name(if o == 255 { self.caller } else { o }))
    }

    fn query(&self) -> Query {
        let app = APPS
            .get(usize::from(self.app))
            .copied()
            .unwrap_or("app-none");
        let mut query = Query::builder(app)
            .sort_key(if self.status_time {
                SortKey::StatusTime
            } else {
                SortKey::CreateTime
            })
            .order(if self.reverse {
                Order::NewestFirst
            } else {
                Order::OldestFirst
            })
            .offset(self.offset)
            .limit(self.limit);
        for &id in &self.ids {
            query = query.job_id(job_id(u16::from(id)));
        }
        for &s in &self.statuses {
            query = query.status(status(s));
        }
        if let Some(a) = self.action {
            query = query.job_action(ACTIONS[usize::from(a)]);
        }
        if let Some(owner) = self.owner_filter() {
            query = query.owner(owner);
        }
        if let Some(c) = self.cluster {
            query = query.cluster(CLUSTERS[usize::from(c)]);
        }
        if let Some(id) = self.after {
            query = query.after(job_id(id));
        }
        if let Some(start) = self.window.0 {
            query = query.start_time(at(start));
        }
        if let Some(end) = self.window.1 {
            query = query.end_time(at(end));
        }
        query.build()
    }
}

/// Mostly the first app, so pages run deep.
fn app() -> impl Strategy<Value = u8> {
    prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)]
}

fn query_spec() -> impl Strategy<Value = QuerySpec> {
    (
        (
            0u8..5,
            any::<bool>(),
            prop_oneof![8 => app(), 1 => Just(3u8)],
        ),
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(0u8..96, 1..4)],
        prop::collection::vec(0u8..4, 0..3),
        (
            prop::option::of(0u8..3),
            prop_oneof![3 => Just(None), 1 => Just(Some(255u8)), 1 => (0u8..5).prop_map(Some)],
            prop::option::of(0u8..4),
        ),
        (
            any::<bool>(),
            any::<bool>(),
            prop_oneof![3 => 0u64..12, 1 => 0u64..60],
            prop_oneof![3 => 0u64..12, 1 => 0u64..120],
        ),
        (
            prop_oneof![2 => Just(None), 1 => (0u16..96).prop_map(Some)],
            prop::option::of(-2i64..45),
            prop::option::of(-2i64..45),
        ),
    )
        .prop_map(
            |((caller, admin, app), ids, statuses, (action, owner, cluster), rest, paging)| {
                let (status_time, reverse, offset, limit) = rest;
                let (after, start, end) = paging;
                QuerySpec {
                    caller,
                    admin,
                    app,
                    ids,
                    statuses,
                    action,
                    owner,
                    cluster,
                    status_time,
                    reverse,
                    after,
                    window: (start, end),
                    offset,
                    limit,
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (
            (0u16..96, app(), 0u8..4, 0u8..3, 0u8..4),
            (0i64..20, prop_oneof![12 => 0i64..6, 1 => Just(-1i64)], any::<u8>()),
            (prop::bool::weighted(0.05), prop::bool::weighted(0.03)),
        )
            .prop_map(|((id, app, owner, action, status), (create, delay, clusters), (error_codes, empty_owner))| {
                Op::Insert { id, app, owner, action, status, create, delay, clusters, error_codes, empty_owner }
            }),
        3 => (0u16..96, 0u8..4, 0i64..40).prop_map(|(id, status, at)| Op::SetStatus { id, status, at }),
        1 => (0u16..96, 0i64..40).prop_map(|(id, at)| Op::Fail { id, at }),
        1 => (0i64..12, prop::option::of(1usize..6)).prop_map(|(before, limit)| Op::Prune { before, limit }),
        4 => query_spec().prop_map(Op::Query),
    ]
}

fn build_job(op: &Op) -> Option<Job> {
    let Op::Insert {
        id,
        app,
        owner,
        action,
        status: s,
        create,
        delay,
        clusters,
        error_codes,
        empty_owner,
    } = *op
    else {
        return None;
    };
    let owner = if empty_owner {
        String::new()
    } else {
        owner_name(owner)
    };
    let mut job = Job::new(
        job_id(id),
        APPS[usize::from(app)],
        owner,
        ACTIONS[usize::from(action)],
        status(s),
        at(create),
    );
    job.status_time = at(create + delay);
    let words: Vec<&str> = (0..4)
        .filter(|b| clusters & (1 << b) != 0)
        .map(|b| CLUSTERS[b])
        .collect();
    job.resource_ids = words.join(" ");
    let listed: Vec<String> = (0..4)
        .filter(|b| clusters & (1 << (b + 4)) != 0)
        .map(|b| CLUSTERS[b].to_owned())
        .collect();
    if !listed.is_empty() {
        job.resources.insert("clusters".into(), listed);
    }
    if error_codes {
        job.error_codes = "5000".into();
    }
    Some(job)
}

/// The plain, obviously-right model: jobs in insertion order.
#[derive(Default)]
struct Model {
    jobs: Vec<Job>,
}

/// What a refused operation must report, by kind.
#[derive(Debug, PartialEq)]
enum Refusal {
    Invalid,
    Duplicate,
    NotFound,
    Transition,
    Backdated,
}

fn refusal(kind: &ErrorKind) -> Refusal {
    match kind {
        ErrorKind::InvalidField { .. } => Refusal::Invalid,
        ErrorKind::DuplicateJob { .. } => Refusal::Duplicate,
        ErrorKind::JobNotFound { .. } => Refusal::NotFound,
        ErrorKind::InvalidTransition { .. } => Refusal::Transition,
        ErrorKind::StatusTimeBeforeCurrent { .. } => Refusal::Backdated,
        other => panic!("unexpected refusal {other:?}"),
    }
}

fn allowed(from: Status, to: Status) -> bool {
    use Status::*;
    matches!(
        (from, to),
        (Pending, Working | Failed | Successful) | (Working, Failed | Successful)
    )
}

impl Model {
    fn insert(&mut self, job: Job) -> Result<(), Refusal> {
        let invalid = job.owner.is_empty()
            || job.status_time < job.create_time
            || (!job.error_codes.is_empty() && job.status != Status::Failed);
        if invalid {
            return Err(Refusal::Invalid);
        }
        if self.jobs.iter().any(|j| j.job_id == job.job_id) {
            return Err(Refusal::Duplicate);
        }
        self.jobs.push(job);
        Ok(())
    }

    fn change(
        &mut self,
        id: &str,
        to: Status,
        when: DateTime<Utc>,
        codes: &str,
    ) -> Result<(), Refusal> {
        let job = self
            .jobs
            .iter_mut()
            .find(|j| j.job_id == id)
            .ok_or(Refusal::NotFound)?;
        if job.status == to {
            return Ok(());
        }
        if !allowed(job.status, to) {
            return Err(Refusal::Transition);
        }
        if when < job.status_time {
            return Err(Refusal::Backdated);
        }
        job.status = to;
        job.status_time = when;
        if to == Status::Failed {
            job.error_codes = codes.to_owned();
        }
        Ok(())
    }

    /// Drops the finished jobs whose status time is before `before`, or
    /// only the `limit` oldest of them (by status time, then insertion).
    fn prune(&mut self, before: DateTime<Utc>, limit: Option<usize>) -> usize {
        let mut going: Vec<(DateTime<Utc>, usize)> = (self.jobs.iter().enumerate())
            .filter(|(_, j)| j.status.is_finished() && j.status_time < before)
            .map(|(i, j)| (j.status_time, i))
            .collect();
        going.sort();
        going.truncate(limit.unwrap_or(usize::MAX));
        let mut index = 0;
        self.jobs.retain(|_| {
            index += 1;
            !going.iter().any(|&(_, i)| i == index - 1)
        });
        going.len()
    }

    /// (total, ids) or the error kind, from the shared plain model.
    fn describe(&self, spec: &QuerySpec) -> Result<(u64, Vec<String>), ErrorKind> {
        let (total, page) = naive::describe(&self.jobs, &spec.caller(), &spec.query())?;
        Ok((total, page.into_iter().map(|j| j.job_id.clone()).collect()))
    }
}

fn answer(store: &JobStore, spec: &QuerySpec) -> Result<(u64, Vec<String>), ErrorKind> {
    store
        .describe(&spec.caller(), &spec.query())
        .map(|page| {
            (
                page.total_count(),
                page.jobs().iter().map(|j| j.job_id().to_owned()).collect(),
            )
        })
        .map_err(|err| err.into_kind())
}

/// Applies one write to both, checking that they agree; says whether it
/// was refused.
fn write(store: &mut JobStore, model: &mut Model, op: &Op) -> Result<bool, TestCaseError> {
    Ok(match op {
        Op::Insert { .. } => {
            let job = build_job(op).ok_or_else(|| TestCaseError::fail("not an insert"))?;
            let got = store
                .insert(job.clone())
                .map(drop)
                .map_err(|e| refusal(e.kind()));
            let want = model.insert(job);
            prop_assert_eq!(&got, &want);
            got.is_err()
        }
        Op::SetStatus {
            id,
            status: s,
            at: t,
        } => {
            let got = store
                .set_status(&job_id(*id), status(*s), at(*t))
                .map(drop)
                .map_err(|e| refusal(e.kind()));
            let want = model.change(&job_id(*id), status(*s), at(*t), "");
            prop_assert_eq!(&got, &want);
            got.is_err()
        }
        Op::Fail { id, at: t } => {
            let got = store
                .fail(&job_id(*id), at(*t), "E42")
                .map(drop)
                .map_err(|e| refusal(e.kind()));
            let want = model.change(&job_id(*id), Status::Failed, at(*t), "E42");
            prop_assert_eq!(&got, &want);
            got.is_err()
        }
        Op::Prune { before, limit } => {
            let event = match limit {
                None => store.prune_finished(at(*before)),
                Some(limit) => store.prune_finished_at_most(at(*before), *limit),
            };
            prop_assert_eq!(
                event.map_or(0, |event| event.dropped()),
                model.prune(at(*before), *limit)
            );
            false
        }
        Op::Query(_) => return Err(TestCaseError::fail("not a write")),
    })
}

/// Applies one operation to both, checking that they agree.
fn step(store: &mut JobStore, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    let before = crate::dump(store);
    let refused = match op {
        Op::Query(spec) => {
            prop_assert_eq!(answer(store, spec), model.describe(spec), "{:?}", spec);
            plan_is_taken(store, spec)?;
            true // a query changes nothing either
        }
        write_op => write(store, model, write_op)?,
    };
    if let Err(problem) = store.check_invariants() {
        return Err(TestCaseError::fail(format!("after {op:?}: {problem}")));
    }
    let after = crate::dump(store);
    if refused {
        prop_assert_eq!(&after, &before, "a refused operation changed the store");
    }
    prop_assert_eq!(&after, &model.jobs);
    prop_assert_eq!(store.len(), model.jobs.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(256), ..ProptestConfig::default() })]

    /// Sometimes in a store with little room for positions (at least twice
    /// the 96 ids, since a store holds at most half), so inserts renumber
    /// it now and then.
    #[test]
    fn the_store_agrees_with_the_model(
        ops in prop::collection::vec(op(), 1..250),
        positions in prop::option::of(192usize..280),
    ) {
        let mut store = match positions {
            Some(positions) => JobStore::with_position_limit(JobStore::MAX_JOBS, positions),
            None => JobStore::new(),
        };
        let mut model = Model::default();
        for op in &ops {
            step(&mut store, &mut model, op)?;
        }
    }

    #[test]
    fn paging_laws(
        ops in prop::collection::vec(op(), 20..250),
        spec in query_spec(),
        size in 1u64..8,
    ) {
        let mut store = JobStore::new();
        let mut model = Model::default();
        for op in ops.iter().filter(|op| !matches!(op, Op::Query(_))) {
            step(&mut store, &mut model, op)?;
        }
        // Offset paging; `after` has its own walk below.
        let spec = QuerySpec { after: None, ..spec };
        let whole = QuerySpec { offset: 0, limit: 100, ..spec.clone() };
        let Ok((total, all)) = answer(&store, &whole) else {
            return Ok(()); // an error answer has no pages
        };
        let mut joined = Vec::new();
        let mut offset = 0;
        while offset < total + size {
            let page = QuerySpec { offset, limit: size, ..spec.clone() };
            let (page_total, ids) = answer(&store, &page).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            // total_count does not depend on offset or limit.
            prop_assert_eq!(page_total, total);
            // A page is the matching slice of the whole order.
            let slice: Vec<String> = all.iter().skip(offset as usize).take(size as usize).cloned().collect();
            prop_assert_eq!(&ids, &slice);
            joined.extend(ids);
            offset += size;
        }
        // Pages concatenated give the whole order.
        prop_assert_eq!(&joined, &all);
        // Oldest first is exactly the opposite order.
        let (_, mut reversed) = answer(&store, &QuerySpec { reverse: !whole.reverse, ..whole.clone() })
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        reversed.reverse();
        prop_assert_eq!(reversed, all);
    }
}

/// A store built from random writes (the queries among them skipped).
fn store_from(ops: &[Op]) -> Result<JobStore, TestCaseError> {
    let mut store = JobStore::new();
    let mut model = Model::default();
    for op in ops.iter().filter(|op| !matches!(op, Op::Query(_))) {
        step(&mut store, &mut model, op)?;
    }
    Ok(store)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(128), ..ProptestConfig::default() })]

    #[test]
    fn a_user_never_receives_another_owners_job(
        ops in prop::collection::vec(op(), 20..200),
        spec in query_spec(),
    ) {
        let store = store_from(&ops)?;
        let spec = QuerySpec { admin: false, ..spec };
        let caller = spec.caller();
        let query = spec.query();
        if let Ok(page) = store.describe(&caller, &query) {
            for job in page.jobs() {
                prop_assert_eq!(job.owner(), caller.user_id());
                prop_assert_eq!(job.app(), query.app());
            }
        }
    }

    #[test]
    fn another_owners_job_answers_like_a_missing_one(
        ops in prop::collection::vec(op(), 20..200),
        caller in 0u8..5,
    ) {
        let store = store_from(&ops)?;
        let caller = Caller::user(owner_name(caller));
        let hidden: Vec<_> = store.iter().filter(|job| job.owner() != caller.user_id()).take(5).collect();
        for job in hidden {
            let theirs = store.describe_json(&caller, &format!("app={}&jobs.1={}", job.app(), job.job_id()));
            let missing = store.describe_json(&caller, &format!("app={}&jobs.1=j-none", job.app()));
            prop_assert_eq!(theirs.replace(job.job_id(), "ID"), missing.replace("j-none", "ID"));
            prop_assert!(theirs.starts_with("{\"ret_code\":2100,"), "{}", theirs);
        }
    }

    #[test]
    fn an_administrators_owner_filter_never_widens_beyond_the_app(
        ops in prop::collection::vec(op(), 20..200),
        spec in query_spec(),
        owner in 0u8..5,
    ) {
        let store = store_from(&ops)?;
        let spec = QuerySpec { admin: true, owner: Some(owner), ..spec };
        let query = spec.query();
        if let Ok(page) = store.describe(&spec.caller(), &query) {
            for job in page.jobs() {
                prop_assert_eq!(job.app(), query.app());
                prop_assert_eq!(job.owner(), owner_name(owner));
            }
        }
    }
}

// A request cannot change the store: `describe_json` and
// `describe_request` take `&JobStore`, which the compiler enforces, so no
// test is needed (or could fail) for it.

proptest! {
    /// The model reads queries through `Query`'s getters, so the builder
    /// and the getters are checked here against the spec that built them.
    #[test]
    fn a_built_query_reads_back_what_was_set(spec in query_spec()) {
        let query = spec.query();
        let app = APPS.get(usize::from(spec.app)).copied().unwrap_or("app-none");
        prop_assert_eq!(query.app(), app);
        let ids: Vec<String> = spec.ids.iter().map(|&id| job_id(u16::from(id))).collect();
        prop_assert_eq!(query.job_ids(), &ids[..]);
        let mut statuses: Vec<Status> = spec.statuses.iter().map(|&s| status(s)).collect();
        statuses.sort();
        statuses.dedup();
        prop_assert_eq!(query.statuses().collect::<Vec<_>>(), statuses);
        prop_assert_eq!(query.job_action(), spec.action.map(|a| ACTIONS[usize::from(a)]));
        prop_assert_eq!(query.owner().map(str::to_owned), spec.owner_filter());
        prop_assert_eq!(query.cluster(), spec.cluster.map(|c| CLUSTERS[usize::from(c)]));
        let key = if spec.status_time { SortKey::StatusTime } else { SortKey::CreateTime };
        prop_assert_eq!(query.sort_key(), key);
        let order = if spec.reverse { Order::NewestFirst } else { Order::OldestFirst };
        prop_assert_eq!(query.order(), order);
        prop_assert_eq!((query.offset(), query.limit()), (spec.offset, spec.limit));
        prop_assert_eq!(query.page_limit(), spec.limit.min(100));
        prop_assert_eq!(query.after().map(str::to_owned), spec.after.map(job_id));
        prop_assert_eq!(query.start_time(), spec.window.0.map(at));
        prop_assert_eq!(query.end_time(), spec.window.1.map(at));
        // The wire string round-trips: Display, then FromStr; a window
        // that ends before it starts is refused as it is read.
        let wire = query.to_string();
        let parsed = wire.parse::<Query>();
        match spec.window {
            (Some(start), Some(end)) if start >= end => {
                prop_assert_eq!(parsed.map_err(|e| e.ret_code()), Err(1100), "{}", wire);
            }
            _ => prop_assert_eq!(parsed.map_err(|e| e.to_string()), Ok(query), "{}", wire),
        }
    }
}

/// One job of a large store: (app, owner, action, status, create second,
/// status delay, cluster bits). Create times repeat and come out of order,
/// so entries land inside chunks, not only at their ends.
type BulkJob = (u8, u8, u8, u8, u16, u8, u8);

/// A store and its model holding a bulk data set.
fn bulk_store(jobs: &[BulkJob]) -> Result<(JobStore, Model), TestCaseError> {
    let mut store = JobStore::new();
    let mut model = Model::default();
    for (i, job) in jobs.iter().enumerate() {
        bulk_write(&mut store, &mut model, &bulk_insert(i, job))?;
    }
    Ok((store, model))
}

/// The insert of job `i` of a bulk data set.
fn bulk_insert(i: usize, &(app, owner, action, s, create, delay, clusters): &BulkJob) -> Op {
    Op::Insert {
        id: i as u16,
        app,
        owner,
        action,
        status: s,
        create: i64::from(create),
        delay: i64::from(delay),
        clusters,
        error_codes: false,
        empty_owner: false,
    }
}

fn bulk_job() -> impl Strategy<Value = BulkJob> {
    // Mostly pending, so a window of status changes can empty chunks.
    let status = prop_oneof![9 => Just(0u8), 1 => 0u8..4];
    (
        app(),
        0u8..4,
        0u8..3,
        status,
        0u16..1500,
        0u8..30,
        any::<u8>(),
    )
}

/// Offsets over the whole range: small, across the store, just past the
/// end, and near `u64::MAX`.
fn any_offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0u64..40,
        3 => 0u64..5_000,
        1 => (u64::MAX - 64)..=u64::MAX,
        1 => any::<u64>(),
    ]
}

fn large_query() -> impl Strategy<Value = QuerySpec> {
    let time = || prop::option::of(-5i64..2100);
    (
        query_spec(),
        any_offset(),
        prop_oneof![0u64..30, 0u64..150],
        (prop::option::of(0u16..4000), time(), time()),
    )
        .prop_map(|(spec, offset, limit, (after, start, end))| QuerySpec {
            offset,
            limit,
            after,
            window: (start, end),
            ..spec
        })
}

/// Applies writes to store and model, comparing each result; the full
/// comparison (invariants, dump) runs once per phase, not per write, so a
/// store of thousands stays cheap to check.
fn bulk_write(store: &mut JobStore, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    write(store, model, op).map(drop)
}

fn check_phase(
    store: &JobStore,
    model: &Model,
    queries: &[QuerySpec],
) -> Result<(), TestCaseError> {
    store.check_invariants().map_err(TestCaseError::fail)?;
    prop_assert_eq!(&crate::dump(store), &model.jobs);
    for spec in queries {
        prop_assert_eq!(answer(store, spec), model.describe(spec), "{:?}", spec);
        plan_is_taken(store, spec)?;
    }
    Ok(())
}

/// The plan `explain` names is the one `describe` took: the page's plan,
/// whose scans were counted while answering, is equal to it.
fn plan_is_taken(store: &JobStore, spec: &QuerySpec) -> Result<(), TestCaseError> {
    let (caller, query) = (spec.caller(), spec.query());
    match (
        store.describe(&caller, &query),
        store.explain(&caller, &query),
    ) {
        (Ok(page), Ok(plan)) => prop_assert_eq!(page.plan(), &plan, "{}", query),
        (Err(_), _) => {}
        (Ok(_), Err(err)) => return Err(TestCaseError::fail(format!("explain refused: {err}"))),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(24), ..ProptestConfig::default() })]

    /// Stores of thousands of jobs (many 512-entry chunks, so chunk splits,
    /// merges and the count tree are reached), with status changes and
    /// prunes between phases, and offsets over the whole `u64` range.
    #[test]
    fn large_stores_agree_with_the_model(
        jobs in prop::collection::vec(bulk_job(), 1_000..4_000),
        changes in prop::collection::vec((any::<u16>(), 0u8..4, 0u16..1600), 0..1_500),
        window in (0u16..1500, 100u16..700),
        before in 0u16..1600,
        step in prop::option::of((50usize..800, any::<bool>())),
        late in prop::collection::vec(bulk_job(), 0..600),
        queries in prop::collection::vec(large_query(), 12..24),
    ) {
        let mut store = JobStore::new();
        let mut model = Model::default();
        let insert = bulk_insert;
        for (i, job) in jobs.iter().enumerate() {
            bulk_write(&mut store, &mut model, &insert(i, job))?;
        }
        check_phase(&store, &model, &queries)?;
        // Every unfinished job whose status time lies in the window moves
        // past the end: the chunks that held them shrink and merge.
        let (from, width) = window;
        let (from, to) = (at(i64::from(from)), at(i64::from(from) + i64::from(width)));
        let moving: Vec<String> = model
            .jobs
            .iter()
            .filter(|job| !job.status.is_finished() && (from..to).contains(&job.status_time))
            .map(|job| job.job_id.clone())
            .collect();
        for id in &moving {
            let got = store.set_status(id, Status::Working, at(2_000)).map(drop).map_err(|e| refusal(e.kind()));
            prop_assert_eq!(got, model.change(id, Status::Working, at(2_000), ""));
        }
        check_phase(&store, &model, &queries)?;
        for &(which, s, t) in &changes {
            let id = which % jobs.len() as u16;
            let op = Op::SetStatus { id, status: s, at: i64::from(t) };
            bulk_write(&mut store, &mut model, &op)?;
        }
        check_phase(&store, &model, &queries)?;
        // All at once, or in bounded steps (then memory given back or not).
        let before = at(i64::from(before));
        let dropped = match step {
            None => store.prune_finished(before).map_or(0, |event| event.dropped()),
            Some((limit, shrink)) => {
                let mut dropped = 0;
                while let Some(event) = store.prune_finished_at_most(before, limit) {
                    prop_assert!(event.dropped() <= limit);
                    dropped += event.dropped();
                }
                if shrink {
                    store.shrink_to_fit();
                }
                dropped
            }
        };
        prop_assert_eq!(dropped, model.prune(before, None));
        check_phase(&store, &model, &queries)?;
        for (i, job) in late.iter().enumerate() {
            bulk_write(&mut store, &mut model, &insert(jobs.len() + i, job))?;
        }
        check_phase(&store, &model, &queries)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(48), ..ProptestConfig::default() })]

    /// SPEC §10: walking a log newest first by `create_time`, each page
    /// starting after the last job of the one before, while newer jobs
    /// arrive between pages, returns every job that was there at the start
    /// exactly once, in order; then the walk ends. Thousands of jobs, pages
    /// of 1 to 100, with any status filter and caller.
    #[test]
    fn walking_with_after_sees_every_job_once_while_jobs_arrive(
        jobs in prop::collection::vec(bulk_job(), 1_000..3_000),
        arrivals in prop::collection::vec(bulk_job(), 0..400),
        spec in query_spec(),
        size in 1u64..=100,
        reverse in any::<bool>(),
    ) {
        let (mut store, mut model) = bulk_store(&jobs)?;
        let spec = QuerySpec {
            ids: Vec::new(),
            status_time: false,
            reverse,
            after: None,
            window: (None, None),
            offset: 0,
            limit: size,
            ..spec
        };
        // Every match at the start, in order, by offset pages of 100.
        let mut want: Vec<String> = Vec::new();
        loop {
            let page = QuerySpec { offset: want.len() as u64, limit: 100, ..spec.clone() };
            let Ok((total, ids)) = model.describe(&page) else {
                return Ok(()); // a refused query has no pages
            };
            want.extend(ids);
            if want.len() as u64 >= total {
                break;
            }
        }
        let mut walked: Vec<String> = Vec::new();
        let mut arriving = arrivals.iter().enumerate();
        // Arrivals are newer than every job there (created after the last
        // one): newest first they land before the walk's position, oldest
        // first after every job that was there.
        loop {
            let mut query = spec.query().to_builder();
            if let Some(last) = walked.last() {
                query = query.after(last.as_str());
            }
            let page = store
                .describe(&spec.caller(), &query.build())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let ids: Vec<String> = page.jobs().iter().map(|job| job.job_id().to_owned()).collect();
            let done = ids.is_empty() || walked.len() + ids.len() >= want.len();
            walked.extend(ids);
            if done {
                break;
            }
            // A few newer jobs arrive before the next page.
            for _ in 0..3 {
                if let Some((i, job)) = arriving.next() {
                    let late = (job.0, job.1, job.2, job.3, 1900 + job.4 % 100, job.5, job.6);
                    bulk_write(&mut store, &mut model, &bulk_insert(jobs.len() + i, &late))?;
                }
            }
        }
        walked.truncate(want.len());
        prop_assert_eq!(walked, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(32), ..ProptestConfig::default() })]

    /// What a walk with `after` by `status_time` promises while statuses
    /// change between pages (a change moves the job to the newest end):
    /// newest first, no job comes twice and every job whose status did not
    /// change comes once (one that changed may be missed: it moved past
    /// the walk); oldest first, every job comes at least once and one whose
    /// status did not change exactly once (one that changed may come again
    /// at the end).
    #[test]
    fn walking_by_status_time_while_statuses_change(
        jobs in prop::collection::vec(bulk_job(), 1_000..2_500),
        moves in prop::collection::vec(any::<u16>(), 0..300),
        size in 1u64..=100,
        reverse in any::<bool>(),
    ) {
        let (mut store, _) = bulk_store(&jobs)?;
        let start: Vec<String> = store.iter().map(|job| job.job_id().to_owned()).collect();
        let admin = Caller::admin("root");
        let query = Query::builder(APPS[0])
            .sort_key(SortKey::StatusTime)
            .order(if reverse { Order::NewestFirst } else { Order::OldestFirst })
            .limit(size)
            .build();
        let in_app: std::collections::HashSet<String> = store
            .iter()
            .filter(|job| job.app() == APPS[0])
            .map(|job| job.job_id().to_owned())
            .collect();
        let mut walked: Vec<String> = Vec::new();
        let mut moved: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut pending_moves = moves.iter();
        let mut now = 3_000;
        // A walk ends on an empty page; oldest first, moved jobs come again,
        // so bound it by the jobs plus every move.
        for _ in 0..(in_app.len() + moves.len() + 2) {
            let mut next = query.to_builder();
            if let Some(last) = walked.last() {
                next = next.after(last.as_str());
            }
            let page = store.describe(&admin, &next.build()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if page.jobs().is_empty() {
                break;
            }
            walked.extend(page.jobs().iter().map(|job| job.job_id().to_owned()));
            // Up to two jobs change status before the next page.
            for &which in pending_moves.by_ref().take(2) {
                let id = &start[usize::from(which) % start.len()];
                // The cursor's own move moves the walk with it (documented
                // apart); the promise is about the other jobs.
                if walked.last() == Some(id) {
                    continue;
                }
                now += 1;
                let status = store.get(id).map(|job| job.status());
                let to = match status {
                    Some(Status::Pending) => Status::Working,
                    Some(Status::Working) => Status::Successful,
                    _ => continue,
                };
                store.set_status(id, to, at(now)).map_err(|e| TestCaseError::fail(e.to_string()))?;
                moved.insert(id.clone());
            }
        }
        let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for id in &walked {
            *seen.entry(id.as_str()).or_default() += 1;
        }
        prop_assert!(walked.iter().all(|id| in_app.contains(id)));
        for id in &in_app {
            let times = seen.get(id.as_str()).copied().unwrap_or(0);
            if !moved.contains(id) {
                prop_assert_eq!(times, 1, "{} did not move", id);
            } else if reverse {
                prop_assert!(times <= 1, "{} came {} times newest first", id, times);
            } else {
                prop_assert!(times >= 1, "{} was missed oldest first", id);
            }
        }
    }
}
