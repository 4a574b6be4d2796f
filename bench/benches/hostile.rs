//! Hostile sizes, timed at two sizes each so the growth shows: answering
//! many `jobs.n`, parsing long request strings, and inserting one record
//! with many resource ids.
//! `cargo bench --bench hostile`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use joblog::{Caller, Job, JobStore, MAX_RESOURCES, Status, chrono};

fn store(n: usize) -> JobStore {
    let t0 = chrono::DateTime::from_timestamp(1_520_141_878, 0).unwrap_or_default();
    let mut store = JobStore::new();
    for i in 0..n {
        let at = t0 + chrono::Duration::seconds(i as i64);
        let job = Job::new(
            format!("j-{i}"),
            "app-1",
            "usr-1",
            "RunJob",
            Status::Successful,
            at,
        );
        store.insert(job).expect("valid");
    }
    store
}

fn hostile(c: &mut Criterion) {
    let store = store(10_000);
    let caller = Caller::user("usr-1");
    let mut group = c.benchmark_group("hostile/ids");
    for n in [1_000, 10_000] {
        let mut request = String::from("app=app-1");
        for i in 0..n {
            request.push_str(&format!("&jobs.{}=j-{i}", i + 1));
        }
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| store.describe_json(&caller, black_box(&request)))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("hostile/request_bytes");
    for n in [1 << 16, 1 << 20] {
        let request = format!("app=app-1&signature={}", "y".repeat(n));
        group.throughput(Throughput::Bytes(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| store.describe_json(&caller, black_box(&request)))
        });
    }
    group.finish();
    // One record with many resource ids, up to the limit: the time grows
    // with the ids, not with their square.
    let mut group = c.benchmark_group("hostile/record_resources");
    for n in [MAX_RESOURCES / 4, MAX_RESOURCES] {
        let ids: Vec<String> = (0..n).map(|i| format!("cl-{i:08}")).collect();
        let t0 = chrono::DateTime::from_timestamp(1_520_141_878, 0).unwrap_or_default();
        let mut job = Job::new("j-big", "app-1", "usr-1", "RunJob", Status::Pending, t0);
        job.resource_ids = ids.join(" ");
        job.resources.insert("clusters".to_owned(), ids);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_batched(
                || job.clone(),
                |job| {
                    let mut store = JobStore::new();
                    store.insert(job).expect("at the limit");
                    store
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().sample_size(20).configure_from_args();
    hostile(&mut c);
    c.final_summary();
}
