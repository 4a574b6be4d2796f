//! joblog side by side with `sqlite` and `naive` (`joblog_bench::peers`)
//! on the benchmark data set, in one criterion run.
//!
//! `cargo bench --bench engines`; `JOBLOG_BENCH_SIZES=10000,100000` picks the
//! job counts (default 10k, 100k and 1M). Every group first checks that all
//! engines give the same `total_count` and page, and each timed loop checks
//! the count it got, so a wrong answer cannot win.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput,
    measurement::WallTime,
};
use joblog::chrono::{self, DateTime, Utc};
use joblog::{Applied, Caller, Event, Job, JobStore, Query, Status};
use joblog_bench::dataset;
use joblog_bench::peers::{self, BTree, Naive, Sqlite};

/// A named query and who asks it.
struct Ask {
    name: &'static str,
    caller: Caller,
    query: Query,
}

fn sizes() -> Vec<usize> {
    std::env::var("JOBLOG_BENCH_SIZES")
        .ok()
        .map(|sizes| {
            sizes
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000])
}

/// The same jobs in every engine.
struct World {
    n: usize,
    store: JobStore,
    naive: Naive,
    sqlite: Sqlite,
    btree: BTree,
}

impl World {
    fn new(n: usize) -> World {
        let jobs = dataset::jobs(n);
        let mut store = JobStore::new();
        for job in jobs.iter().cloned() {
            store
                .insert(job)
                .expect("generated jobs are valid and distinct");
        }
        let mut sqlite = Sqlite::new();
        sqlite.insert_all(&jobs);
        World {
            n,
            store,
            btree: BTree::new(&jobs),
            naive: Naive { jobs },
            sqlite,
        }
    }

    fn total(&self, caller: &Caller, query: &Query) -> u64 {
        self.store
            .describe(caller, query)
            .expect("valid query")
            .total_count()
    }

    /// The benchmark queries, on the largest app.
    fn asks(&self) -> Vec<Ask> {
        let app = dataset::app(0);
        let admin = Caller::admin("usr-root");
        let successful = || Query::builder(&app).status(Status::Successful);
        let total_successful = self.total(&admin, &successful().build());
        let three = || {
            Query::builder(&app)
                .status(Status::Pending)
                .status(Status::Working)
                .status(Status::Failed)
        };
        let middle = self.total(&admin, &three().build()) / 2;
        let of_app: Vec<&Job> = self
            .naive
            .jobs
            .iter()
            .filter(|job| job.app == app)
            .collect();
        let mut ids = Query::builder(&app);
        for job in of_app.iter().step_by((of_app.len() / 20).max(1)).take(20) {
            ids = ids.job_id(&job.job_id);
        }
        let newest = of_app.last().expect("app 0 has jobs");
        let newest_owner = &newest.owner;
        let user = Caller::user(newest_owner.clone());
        let by_admin = |name, query: joblog::QueryBuilder| Ask {
            name,
            caller: admin.clone(),
            query: query.build(),
        };
        let by_user = |name, query: joblog::QueryBuilder| Ask {
            name,
            caller: user.clone(),
            query: query.build(),
        };
        // Filters that other tenants' jobs must not make expensive: the
        // newest job's action and its first cluster.
        let action = || Query::builder(&app).job_action(&newest.job_action);
        let cluster = newest.involved_resources()[0].to_owned();
        let of_cluster = || Query::builder(&app).cluster(&cluster);
        let last_page = |caller: &Caller, query: joblog::QueryBuilder| {
            let total = self.total(caller, &query.clone().build());
            query.offset(total.saturating_sub(20))
        };
        // SPEC §10: a window from the middle of the app, a tenth of its
        // span, with one status; a step of an `after` walk deep in the log.
        let (mid, end) = (of_app[of_app.len() / 2], of_app[of_app.len() * 6 / 10]);
        let window = || {
            successful()
                .start_time(mid.create_time)
                .end_time(end.create_time)
        };
        let deep = of_app[of_app.len() / 10];
        vec![
            by_admin("first_page", successful()),
            by_admin(
                "deep_page",
                successful().offset(total_successful.saturating_sub(20)),
            ),
            by_admin("rare_status", Query::builder(&app).status(Status::Pending)),
            by_admin("three_status", three().offset(middle)),
            by_admin("ids", ids),
            by_admin("count_only", Query::builder(&app).limit(0)),
            by_user("user_first_page", Query::builder(&app)),
            by_admin("action_first_page", action()),
            by_admin("action_deep_page", last_page(&admin, action())),
            by_user("user_action_first_page", action()),
            by_user("user_action_deep_page", last_page(&user, action())),
            by_admin("cluster_first_page", of_cluster()),
            by_admin("cluster_past_end", of_cluster().offset(1_000_000_000)),
            by_user("user_cluster_first_page", of_cluster()),
            by_admin("window_first_page", window()),
            by_admin("window_count_only", window().limit(0)),
            by_user("user_window_first_page", window()),
            by_admin("after_deep_step", Query::builder(&app).after(&deep.job_id)),
        ]
    }

    /// Panics unless every engine gives the same count and page.
    fn check(&self, ask: &Ask) -> u64 {
        let (name, caller, query) = (ask.name, &ask.caller, &ask.query);
        let page = self.store.describe(caller, query).expect("valid query");
        let ids: Vec<&str> = page.jobs().iter().map(|j| j.job_id()).collect();
        let (naive_total, naive_page) = self.naive.describe(caller, query);
        let naive_ids: Vec<&str> = naive_page.iter().map(|j| j.job_id.as_str()).collect();
        let (btree_total, btree_page) = self.btree.describe(caller, query);
        let btree_ids: Vec<&str> = btree_page.iter().map(|j| j.job_id.as_str()).collect();
        assert_eq!(
            (page.total_count(), &ids),
            (btree_total, &btree_ids),
            "{name}: btree differs"
        );
        let (sqlite_total, sqlite_rows) = self.sqlite.describe(caller, query);
        let sqlite_ids: Vec<&str> = sqlite_rows.iter().map(|r| r.job_id.as_str()).collect();
        assert_eq!(
            (page.total_count(), &ids),
            (naive_total, &naive_ids),
            "{name}: naive differs"
        );
        assert_eq!(
            (page.total_count(), &ids),
            (sqlite_total, &sqlite_ids),
            "{name}: sqlite differs"
        );
        assert!(
            query.limit() == 0 || query.offset() >= page.total_count() || !ids.is_empty(),
            "{name}: an empty page proves little"
        );
        page.total_count()
    }
}

/// A job's text fields, one after the other, in one allocation of their
/// size.
fn copied_text(job: &Job) -> Box<str> {
    let parts = || {
        let ids = job
            .resources
            .iter()
            .flat_map(|(kind, ids)| std::iter::once(kind).chain(ids));
        [
            &job.job_id,
            &job.app,
            &job.owner,
            &job.job_action,
            &job.directive,
            &job.error_codes,
            &job.resource_ids,
        ]
        .into_iter()
        .chain(ids)
        .map(String::as_str)
        .chain([job.extras.as_str()])
    };
    let mut text = String::with_capacity(parts().map(str::len).sum());
    parts().for_each(|part| text.push_str(part));
    text.into_boxed_str()
}

fn new_group<'c>(c: &'c mut Criterion, name: &str, n: usize) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(if n >= 1_000_000 { 10 } else { 20 });
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group
}

/// A group of queries: 30 samples of equal length, so a median holds on a
/// shared, noisy machine (ten samples of one first page spread over 2×).
/// The naive scans at 1M jobs (70–110 ms a query) stretch past the
/// measurement time, by a second or two a group.
fn query_group<'c>(c: &'c mut Criterion, name: &str, n: usize) -> BenchmarkGroup<'c, WallTime> {
    let mut group = new_group(c, name, n);
    group.sample_size(30);
    group.sampling_mode(SamplingMode::Flat);
    group
}

fn describe(c: &mut Criterion, world: &World) {
    let n = world.n;
    for ask in world.asks() {
        let total = world.check(&ask);
        let mut group = query_group(c, &format!("describe/{}", ask.name), n);
        group.bench_function(BenchmarkId::new("joblog", n), |b| {
            b.iter(|| {
                let page = world.store.describe(&ask.caller, black_box(&ask.query));
                assert_eq!(page.as_ref().map(|p| p.total_count()), Ok(total));
                page
            })
        });
        group.bench_function(BenchmarkId::new("sqlite", n), |b| {
            b.iter(|| {
                let answer = world.sqlite.describe(&ask.caller, black_box(&ask.query));
                assert_eq!(answer.0, total);
                answer
            })
        });
        group.bench_function(BenchmarkId::new("btree", n), |b| {
            b.iter(|| {
                let answer = world.btree.describe(&ask.caller, black_box(&ask.query));
                assert_eq!(answer.0, total);
                answer
            })
        });
        group.bench_function(BenchmarkId::new("naive", n), |b| {
            b.iter(|| {
                let answer = world.naive.describe(&ask.caller, black_box(&ask.query));
                assert_eq!(answer.0, total);
                answer
            })
        });
        group.finish();
    }
}

/// The whole wire path: parse a request string, answer, write the JSON.
fn wire(c: &mut Criterion, world: &World) {
    let n = world.n;
    let app = dataset::app(0);
    let request = format!(
        "action=DescribeClusterJobs&app={app}&status.1=successful&limit=20&zone=pek3a\
         &access_key_id=QYACCESSKEYIDEXAMPLE&signature_method=HmacSHA256&version=1"
    );
    let admin = Caller::admin("usr-root");
    // The peers answer the parsed request, as a service built on them would.
    let sqlite_json = |request: &str| {
        let query: Query = request.parse().expect("valid request");
        let (total, rows) = world.sqlite.describe(&admin, &query);
        peers::response_json(total, rows.iter().map(peers::element).collect())
    };
    let naive_json = |request: &str| {
        let query: Query = request.parse().expect("valid request");
        let (total, jobs) = world.naive.describe(&admin, &query);
        peers::response_json(total, jobs.into_iter().map(peers::job_element).collect())
    };
    let ours = world.store.describe_json(&admin, &request);
    assert!(ours.contains("\"job_id\""));
    assert_eq!(ours, sqlite_json(&request), "wire: sqlite differs");
    assert_eq!(ours, naive_json(&request), "wire: naive differs");
    let mut group = query_group(c, "describe/wire", n);
    group.bench_function(BenchmarkId::new("joblog", n), |b| {
        b.iter(|| {
            let json = world.store.describe_json(&admin, black_box(&request));
            assert_eq!(json.len(), ours.len());
            json
        })
    });
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter(|| sqlite_json(black_box(&request)))
    });
    group.bench_function(BenchmarkId::new("naive", n), |b| {
        b.iter(|| naive_json(black_box(&request)))
    });
    group.finish();
}

/// Times a SQLite write inside a transaction that is rolled back after
/// timing, so every iteration starts from the same table.
fn rolled_back(sqlite: &Sqlite, iters: u64, work: impl Fn(&Sqlite)) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        sqlite.db.execute_batch("BEGIN").expect("begin");
        let start = Instant::now();
        work(sqlite);
        spent += start.elapsed();
        sqlite.db.execute_batch("ROLLBACK").expect("rollback");
    }
    spent
}

fn ingest(c: &mut Criterion, world: &World) {
    let n = world.n;
    let jobs = &world.naive.jobs;

    let mut group = new_group(c, "ingest/insert", n);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::new("joblog", n), |b| {
        b.iter_batched(
            || jobs.clone(),
            |jobs| {
                let mut store = JobStore::new();
                for job in jobs {
                    store.insert(job).expect("valid");
                }
                assert_eq!(store.len(), n);
                store
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter_batched(
            Sqlite::new,
            |mut sqlite| {
                sqlite.insert_all(jobs);
                sqlite
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function(BenchmarkId::new("naive", n), |b| {
        b.iter_batched(
            || jobs.clone(),
            |jobs| {
                let mut naive = Vec::new();
                for job in jobs {
                    naive.push(job);
                }
                naive
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // Replay: the data set's change events (its inserts, as a log holds
    // them) applied to an empty store, as a replica catching up does.
    let mut log = JobStore::new();
    let events: Vec<Event> = jobs
        .iter()
        .map(|job| log.insert(job.clone()).expect("valid"))
        .collect();
    drop(log);
    let mut group = new_group(c, "ingest/apply", n);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::new("joblog", n), |b| {
        b.iter_batched(
            JobStore::new,
            |mut store| {
                for event in &events {
                    let applied = store.apply(event).expect("the next revision");
                    assert_eq!(applied, Applied::Changed);
                }
                assert_eq!(store.len(), n);
                store
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    drop(events);

    // Building whole: every job checked as an insert checks it, the jobs
    // sorted once by each time. From borrowed jobs: the store copies what
    // it keeps, and freeing the batch is its owner's work, not the build's
    // (the store built is dropped off the clock too).
    let mut group = new_group(c, "ingest/build", n);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::new("joblog", n), |b| {
        b.iter_with_large_drop(|| {
            let store = JobStore::from_jobs(jobs).expect("valid");
            assert_eq!(store.len(), n);
            store
        })
    });
    // The floor under any in-memory store that keeps the jobs' text: each
    // job's fields copied into one allocation of their size, nothing
    // checked, escaped, hashed or indexed (and less memory than joblog
    // keeps: no escapes, no JSON between the fields).
    group.bench_function(BenchmarkId::new("copy", n), |b| {
        b.iter_with_large_drop(|| {
            let texts: Vec<Box<str>> = jobs.iter().map(copied_text).collect();
            assert_eq!(texts.len(), n);
            texts
        })
    });
    group.finish();

    // Snapshots: a restart reads one back, fully checked (and keeps it: the
    // store read is dropped off the clock).
    let json = serde_json::to_string(&world.store).expect("snapshot");
    let bytes = postcard::to_allocvec(&world.store).expect("snapshot");
    let mut group = new_group(c, "snapshot", n);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::new("write_json", n), |b| {
        b.iter(|| serde_json::to_string(&world.store).expect("snapshot").len())
    });
    group.bench_function(BenchmarkId::new("read_json", n), |b| {
        b.iter_with_large_drop(|| {
            let store: JobStore = serde_json::from_str(&json).expect("snapshot");
            assert_eq!(store.len(), n);
            store
        })
    });
    group.bench_function(BenchmarkId::new("write_postcard", n), |b| {
        b.iter(|| postcard::to_allocvec(&world.store).expect("snapshot").len())
    });
    group.bench_function(BenchmarkId::new("read_postcard", n), |b| {
        b.iter_with_large_drop(|| {
            let store: JobStore = postcard::from_bytes(&bytes).expect("snapshot");
            assert_eq!(store.len(), n);
            store
        })
    });
    group.finish();
    drop((json, bytes));

    // Status changes: every job starts pending and moves to working.
    let pending: Vec<Job> = jobs
        .iter()
        .map(|job| {
            let mut job = job.clone();
            job.status = Status::Pending;
            job.status_time = job.create_time;
            job.error_codes.clear();
            job
        })
        .collect();
    let changes: Vec<(String, DateTime<Utc>)> = pending
        .iter()
        .map(|job| {
            (
                job.job_id.clone(),
                job.create_time + chrono::Duration::seconds(1),
            )
        })
        .collect();
    let mut base = JobStore::new();
    for job in pending.iter().cloned() {
        base.insert(job).expect("valid");
    }
    let mut sqlite = Sqlite::new();
    sqlite.insert_all(&pending);
    drop(pending);
    let mut group = new_group(c, "ingest/status_change", n);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::new("joblog", n), |b| {
        b.iter_batched(
            || base.clone(),
            |mut store| {
                for (id, at) in &changes {
                    store.set_status(id, Status::Working, *at).expect("allowed");
                }
                store
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter_custom(|iters| {
            rolled_back(&sqlite, iters, |sqlite| {
                for (id, at) in &changes {
                    sqlite.set_status(id, Status::Working, *at);
                }
            })
        })
    });
    group.finish();
    drop((base, sqlite));

    // Retention: drop the finished jobs of the oldest tenth.
    let cutoff = dataset::origin() + chrono::Duration::seconds(n as i64 / 10);
    let dropped = |event: Option<joblog::Event>| event.map_or(0, |event| event.dropped());
    let expected = dropped(world.store.clone().prune_finished(cutoff));
    assert!(expected > 0);
    let finished_before = |job: &Job| job.status.is_finished() && job.status_time < cutoff;
    assert_eq!(jobs.iter().filter(|j| finished_before(j)).count(), expected);
    world.sqlite.db.execute_batch("BEGIN").expect("begin");
    assert_eq!(
        world.sqlite.prune_finished(cutoff),
        expected,
        "sqlite prune differs"
    );
    world.sqlite.db.execute_batch("ROLLBACK").expect("rollback");
    let mut group = new_group(c, "ingest/prune", n);
    group.throughput(Throughput::Elements(expected as u64));
    group.bench_function(BenchmarkId::new("joblog", n), |b| {
        b.iter_batched(
            || world.store.clone(),
            |mut store| {
                assert_eq!(dropped(store.prune_finished(cutoff)), expected);
                store
            },
            BatchSize::PerIteration,
        )
    });
    // The same prune in bounded steps: one step from the full store, and
    // every step of the whole prune (the longest printed, the pause a
    // reader behind the lock can see).
    const STEP: usize = 256;
    group.bench_function(BenchmarkId::new("joblog_one_step_256", n), |b| {
        b.iter_batched(
            || world.store.clone(),
            |mut store| {
                assert_eq!(
                    dropped(store.prune_finished_at_most(cutoff, STEP)),
                    STEP.min(expected)
                );
                store
            },
            BatchSize::PerIteration,
        )
    });
    let mut longest = std::time::Duration::ZERO;
    let mut steps = 0;
    group.bench_function(BenchmarkId::new("joblog_all_steps_256", n), |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                let mut store = world.store.clone();
                let mut left = expected;
                loop {
                    let start = std::time::Instant::now();
                    let event = store.prune_finished_at_most(cutoff, STEP);
                    let took = start.elapsed();
                    total += took;
                    longest = longest.max(took);
                    let Some(event) = event else { break };
                    left -= event.dropped();
                    steps += 1;
                }
                assert_eq!(left, 0);
            }
            total
        })
    });
    if steps > 0 {
        eprintln!("ingest/prune/joblog_all_steps_{STEP}/{n}: longest of {steps} steps {longest:?}");
    }
    // SQLite's `DELETE … LIMIT` equivalent: one step from the full table,
    // and every step of the whole prune, rolled back after timing.
    group.bench_function(BenchmarkId::new("sqlite_one_step_256", n), |b| {
        b.iter_custom(|iters| {
            rolled_back(&world.sqlite, iters, |sqlite| {
                assert_eq!(
                    sqlite.prune_finished_at_most(cutoff, STEP),
                    STEP.min(expected)
                );
            })
        })
    });
    let (mut longest, mut steps) = (std::time::Duration::ZERO, 0);
    group.bench_function(BenchmarkId::new("sqlite_all_steps_256", n), |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                world.sqlite.db.execute_batch("BEGIN").expect("begin");
                let mut left = expected;
                loop {
                    let start = std::time::Instant::now();
                    let gone = world.sqlite.prune_finished_at_most(cutoff, STEP);
                    let took = start.elapsed();
                    total += took;
                    longest = longest.max(took);
                    if gone == 0 {
                        break;
                    }
                    left -= gone;
                    steps += 1;
                }
                world.sqlite.db.execute_batch("ROLLBACK").expect("rollback");
                assert_eq!(left, 0);
            }
            total
        })
    });
    if steps > 0 {
        eprintln!("ingest/prune/sqlite_all_steps_{STEP}/{n}: longest of {steps} steps {longest:?}");
    }
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter_custom(|iters| {
            rolled_back(&world.sqlite, iters, |sqlite| {
                assert_eq!(sqlite.prune_finished(cutoff), expected);
            })
        })
    });
    group.bench_function(BenchmarkId::new("naive", n), |b| {
        b.iter_batched(
            || jobs.clone(),
            |mut naive| {
                naive.retain(|job| !finished_before(job));
                naive
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    for n in sizes() {
        let world = World::new(n);
        describe(&mut c, &world);
        wire(&mut c, &world);
        ingest(&mut c, &world);
    }
    c.final_summary();
}
