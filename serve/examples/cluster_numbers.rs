//! The numbers of the cluster (SPEC §12) on this machine: the lag from a
//! change to its answer on a replica, how fast a replica catches up from
//! an empty store beside the library's own apply, and the restart of a
//! replica from a snapshot of a million jobs.
//!
//! Needs `nats-server` on the `PATH` and a release build of `serve`:
//!
//! ```text
//! cargo build --release -p joblog-serve
//! cargo run --release -p joblog-serve --example cluster_numbers [-- EVENTS [SNAPSHOT_JOBS]]
//! ```

#[path = "../../examples/support/dataset.rs"]
mod dataset;
#[path = "../tests/support/mod.rs"]
mod support;
// The replica's own snapshot writer, so the file is the one it reads.
#[allow(dead_code, unreachable_pub)]
#[path = "../src/cluster.rs"]
mod cluster;
#[allow(dead_code, unreachable_pub)]
#[path = "../src/partition.rs"]
mod partition;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use joblog::chrono::{DateTime, Utc};
use joblog::{Event, Job, JobStore, Status};
use serde_json::json;
use support::{DESCRIBE, FIXTURES, Nats, Server, Writer, now, ret_code, signed};

const APPS: u64 = 24;

fn app(n: u64) -> String {
    format!("app-{n:08}")
}

/// A replica of `partitions`, from no snapshot.
fn replica(nats: &Nats, partitions: &str, more: &[&str]) -> Server {
    let keys = format!("{FIXTURES}/keys.jsonl");
    let url = format!("nats://127.0.0.1:{}", nats.port);
    let mut args = vec![
        "--keys",
        &keys,
        "--follow",
        &url,
        "--partitions",
        partitions,
    ];
    args.extend(more);
    Server::spawn(&args)
}

/// Asks a replica for `app` at `revision`, retrying 5100, until answered.
fn wait_for(replica: &Server, app: &str, revision: u64) {
    let revision = revision.to_string();
    let params = [
        DESCRIBE,
        ("app", app),
        ("limit", "1"),
        ("min_revision", &revision),
    ];
    loop {
        let request = signed("GET", "QYADMINKEY", "admin-secret", &params, now());
        let answer = replica.client.get_answer(&request);
        match ret_code(&answer.body) {
            0 => return,
            5100 => continue,
            _ => panic!("{}", answer.body),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let last = sorted.len().saturating_sub(1);
    sorted
        .get((last as f64 * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

fn insert(n: u64, at: DateTime<Utc>) -> Job {
    let mut job = Job::new(
        format!("j-{n:08}"),
        app(n % APPS),
        "usr-1",
        "StartClusters",
        Status::Pending,
        at,
    );
    job.resource_ids = format!("cl-{:06}", n % 5_000);
    job
}

fn main() {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().map_or(100_000, |n| n.parse().expect("EVENTS"));
    let snapshot_jobs: usize = args
        .next()
        .map_or(1_000_000, |n| n.parse().expect("SNAPSHOT_JOBS"));
    let scratch = std::env::temp_dir().join(format!("joblog-numbers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("a scratch directory");
    let start: DateTime<Utc> = "2018-03-04T00:00:00Z".parse().unwrap();

    // 1. Lag: a change sent to the writer, until a replica answers a query
    //    that asks for its revision.
    let nats = Nats::start(&scratch.join("nats"));
    let mut writer = Writer::start(&nats.url(), "all/4");
    let first = replica(&nats, "all/4", &[]);
    let mut local: HashMap<u32, JobStore> = HashMap::new();
    let mut written: Vec<(u32, Event)> = Vec::new();
    let (mut acked, mut visible) = (Vec::new(), Vec::new());
    let mut last = HashMap::new();
    for n in 0..events {
        let job = insert(n, start + joblog::chrono::Duration::seconds(n as i64));
        let sent = Instant::now();
        let answer = writer.send(&json!({"event": "insert", "job": job}));
        let took = sent.elapsed();
        let partition = answer["partition"].as_u64().expect("a partition") as u32;
        let revision = answer["revision"].as_u64().expect("a revision");
        last.insert(partition, (app(n % APPS), revision));
        if n < 2_000 {
            wait_for(&first, &app(n % APPS), revision);
            acked.push(took);
            visible.push(sent.elapsed());
        }
        let event = local
            .entry(partition)
            .or_default()
            .insert(job)
            .expect("the same insert");
        assert_eq!(event.revision, revision);
        written.push((partition, event));
    }
    acked.sort();
    visible.sort();
    println!("lag over {} changes, one at a time:", acked.len());
    println!(
        "  change to the writer's answer (published, acknowledged, applied): p50 {:?}, p99 {:?}",
        percentile(&acked, 0.5),
        percentile(&acked, 0.99)
    );
    println!(
        "  change to its answer on a replica (min_revision over HTTP): p50 {:?}, p99 {:?}",
        percentile(&visible, 0.5),
        percentile(&visible, 0.99)
    );

    // 2. Catch-up: a new replica from an empty store, to every partition's
    //    last revision; beside it, the library applying the same events.
    let began = Instant::now();
    let snapshots = scratch.join("catch-up");
    let second = replica(
        &nats,
        "all/4",
        &["--snapshots", &snapshots.display().to_string()],
    );
    for (app, revision) in last.values() {
        wait_for(&second, app, *revision);
    }
    let caught_up = began.elapsed();
    let began = Instant::now();
    let mut stores: HashMap<u32, JobStore> = HashMap::new();
    for (partition, event) in &written {
        let _ = stores
            .entry(*partition)
            .or_default()
            .apply(event)
            .expect("applies");
    }
    let applied = began.elapsed();
    println!(
        "catch-up of {events} events from an empty store, snapshots on: {:.0} events/s over \
         JetStream ({caught_up:?}, process start included); the library applies the same events at \
         {:.0} events/s ({applied:?})",
        events as f64 / caught_up.as_secs_f64(),
        events as f64 / applied.as_secs_f64()
    );
    drop((first, second, writer, nats));

    // 3. Restart from a snapshot of a million jobs (a partition of one).
    let nats = Nats::start(&scratch.join("nats-restart"));
    let snapshots = scratch.join("snapshots");
    std::fs::create_dir_all(&snapshots).expect("the snapshot directory");
    let store = JobStore::from_jobs(dataset::jobs(snapshot_jobs)).expect("the data set");
    let file = snapshots.join("partition-0.json");
    let replica_of = cluster::Replica { store, sequence: 0 };
    cluster::write_snapshot(&file, 0, 1, &replica_of).expect("the snapshot is written");
    let size = std::fs::metadata(&file).map_or(0, |meta| meta.len());
    drop(replica_of);
    let began = Instant::now();
    let restarted = replica(
        &nats,
        "0/1",
        &["--snapshots", &snapshots.display().to_string()],
    );
    let listening = began.elapsed();
    println!(
        "restart from a snapshot of {snapshot_jobs} jobs ({:.0} MB of JSON): listening after \
         {listening:?}; {}",
        size as f64 / 1e6,
        restarted.preamble.join("; ")
    );
    drop((restarted, nats));
    let _ = std::fs::remove_dir_all(&scratch);
}
