//! A real cluster (SPEC §12): a NATS JetStream server, one writer and
//! replicas, each its own process on loopback, with the server restarted
//! and a replica killed while changes flow.
//!
//! Needs `nats-server` on the `PATH`, so it is not part of `cargo test
//! --workspace`: `bash serve/tests/cluster.sh` installs the server when it
//! can and runs it (the feature `nats-tests` builds it).

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use joblog::chrono::{DateTime, Utc};
use joblog::{Caller, Job, JobStore, Status};
use serde_json::json;
use support::{DESCRIBE, FIXTURES, Nats, Server, Writer, now, ret_code, signed, watchdog};

/// How long anything in the test may take before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// A scratch directory, emptied first and removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("joblog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A replica of `partitions` on the server at `url`, with its snapshots in
/// `snapshots`.
fn replica(url: &str, partitions: &str, snapshots: &Path) -> Server {
    let keys = format!("{FIXTURES}/keys.jsonl");
    Server::spawn(&[
        "--keys",
        &keys,
        "--follow",
        url,
        "--partitions",
        partitions,
        "--snapshots",
        &snapshots.display().to_string(),
        "--snapshot-every",
        "500",
        "--snapshot-seconds",
        "1",
    ])
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

const APPS: usize = 24;
const OWNERS: [&str; 3] = ["usr-1", "usr-2", "usr-3"];
const ACTIONS: [&str; 4] = ["StartClusters", "StopClusters", "ResizeCluster", "RunJob"];

fn app(n: u64) -> String {
    format!("app-{n:08}")
}

/// What the test knows of every partition: a store built directly from
/// the same changes, and where each live job is.
struct Model {
    stores: HashMap<u32, JobStore>,
    partition_of_app: HashMap<String, u32>,
    partition_of_job: HashMap<String, u32>,
    live: Vec<(String, Status)>,
}

impl Model {
    fn new() -> Model {
        Model {
            stores: HashMap::new(),
            partition_of_app: HashMap::new(),
            partition_of_job: HashMap::new(),
            live: Vec::new(),
        }
    }
}

/// Makes one random change through the writer and the same change on the
/// model, and checks the writer's answer against the model: the partition,
/// the revision, whether it changed anything.
fn change(writer: &mut Writer, model: &mut Model, rng: &mut Rng, n: u64, at: DateTime<Utc>) {
    let roll = rng.below(100);
    if roll < 2 && n > 500 {
        let partition = rng.below(4) as u32;
        let before = at - joblog::chrono::Duration::seconds(3_000);
        let limit = 1 + rng.below(40) as usize;
        let answer = writer.send(&json!({
            "event": "prune", "partition": partition,
            "before": before.to_rfc3339(), "limit": limit,
        }));
        let store = model.stores.entry(partition).or_default();
        let changed = store.prune_finished_at_most(before, limit).is_some();
        let expected =
            json!({"partition": partition, "revision": store.revision(), "changed": changed});
        assert_eq!(answer, expected, "prune {n}");
        return;
    }
    if roll < 50 || model.live.is_empty() {
        let id = format!("j-{n:06}");
        let mut job = Job::new(
            id.clone(),
            app(rng.below(APPS as u64)),
            OWNERS[rng.below(3) as usize],
            ACTIONS[rng.below(4) as usize],
            Status::Pending,
            at,
        );
        job.resource_ids = format!("cl-{:06}", rng.below(500));
        job.directive = format!("{{\"n\":{n},\"say\":\"\\\"quoted\\\" ü\"}}");
        let answer = writer.send(&json!({"event": "insert", "job": job}));
        let partition = answer["partition"]
            .as_u64()
            .unwrap_or_else(|| panic!("{answer}")) as u32;
        let store = model.stores.entry(partition).or_default();
        store
            .insert(job)
            .expect("the model takes what the writer took");
        let expected =
            json!({"partition": partition, "revision": store.revision(), "changed": true});
        assert_eq!(answer, expected, "insert {n}");
        model.partition_of_job.insert(id.clone(), partition);
        let app = model.stores[&partition]
            .get(&id)
            .expect("stored")
            .app()
            .to_owned();
        assert_eq!(
            *model.partition_of_app.entry(app).or_insert(partition),
            partition
        );
        model.live.push((id, Status::Pending));
        return;
    }
    let index = rng.below(model.live.len() as u64) as usize;
    let (id, status) = model.live[index].clone();
    let partition = model.partition_of_job[&id];
    let store = model.stores.get_mut(&partition).expect("its partition");
    let (line, changed) = match status {
        Status::Pending => {
            model.live[index].1 = Status::Working;
            let line = json!({"event": "status", "job_id": id, "status": "working", "at": at.to_rfc3339()});
            (line, store.set_status(&id, Status::Working, at))
        }
        _ if rng.below(10) < 3 => {
            model.live.swap_remove(index);
            let codes = format!("E{}", rng.below(90));
            let line = json!({"event": "status", "job_id": id, "status": "failed", "at": at.to_rfc3339(), "error_codes": codes});
            (line, store.fail(&id, at, &codes))
        }
        _ => {
            model.live.swap_remove(index);
            let line = json!({"event": "status", "job_id": id, "status": "successful", "at": at.to_rfc3339()});
            (line, store.set_status(&id, Status::Successful, at))
        }
    };
    let changed = changed.expect("the model takes the move").is_some();
    let answer = writer.send(&line);
    let expected =
        json!({"partition": partition, "revision": store.revision(), "changed": changed});
    assert_eq!(answer, expected, "status {n}");
}

/// A random query's parameters, and the caller its key stands for.
fn query(rng: &mut Rng) -> (Vec<(String, String)>, &'static str) {
    let mut params = vec![("app".to_owned(), app(rng.below(APPS as u64)))];
    let mut statuses = ["pending", "working", "successful", "failed"].to_vec();
    let keep = rng.below(5) as usize;
    for n in 0..keep.min(4) {
        let status = statuses.swap_remove(rng.below(statuses.len() as u64) as usize);
        params.push((format!("status.{}", n + 1), status.to_owned()));
    }
    if rng.below(4) == 0 {
        params.push(("job_action".into(), ACTIONS[rng.below(4) as usize].into()));
    }
    if rng.below(4) == 0 {
        params.push(("cluster".into(), format!("cl-{:06}", rng.below(500))));
    }
    if rng.below(3) == 0 {
        params.push(("sort_key".into(), "status_time".into()));
    }
    if rng.below(3) == 0 {
        params.push(("reverse".into(), "0".into()));
    }
    params.push(("offset".into(), rng.below(60).to_string()));
    params.push(("limit".into(), rng.below(40).to_string()));
    let key = if rng.below(2) == 0 {
        "QYADMINKEY"
    } else {
        params.push(("owner".into(), "usr-1".into()));
        "QYUSERKEY"
    };
    (params, key)
}

fn caller(key: &str) -> Caller {
    match key {
        "QYADMINKEY" => Caller::admin("usr-root"),
        _ => Caller::user("usr-1"),
    }
}

fn secret(key: &str) -> &'static str {
    match key {
        "QYADMINKEY" => "admin-secret",
        _ => "user-secret",
    }
}

/// Asks a replica, with `min_revision` its partition's revision in the
/// model, until it has caught up (5100 is retried, as the SDKs retry it).
/// The answer must be byte for byte what the model's store says, and say
/// that revision in its header.
fn ask(replica: &Server, model: &Model, params: &[(String, String)], key: &str) {
    let app = &params[0].1;
    let partition = model.partition_of_app[app];
    let store = &model.stores[&partition];
    let wanted = store.revision().to_string();
    let mut all: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    all.push(DESCRIBE);
    all.push(("min_revision", &wanted));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let request = signed("GET", key, secret(key), &all, now());
        let answer = replica.client.get_answer(&request);
        assert_eq!(answer.status, 200, "{}", answer.body);
        if ret_code(&answer.body) == 5100 && Instant::now() < deadline {
            continue;
        }
        let expected = store.describe_json(&caller(key), &request);
        assert_eq!(answer.body, expected, "{request}");
        assert_eq!(
            answer.header("x-joblog-partition"),
            Some(partition.to_string())
        );
        assert_eq!(answer.header("x-joblog-revision"), Some(wanted));
        return;
    }
}

/// The cluster test of the issue: 20,000 changes across four partitions
/// through one writer to two replicas; one replica killed and restarted
/// from its snapshots, the server restarted, and at the end both replicas
/// answer 1,000 queries byte for byte as stores built directly from the
/// same changes.
#[test]
fn replicas_follow_the_writer_through_restarts() {
    const CHANGES: u64 = 20_000;
    let _watchdog = watchdog(Duration::from_secs(300));
    let scratch = Scratch::new("cluster");
    let mut nats = Some(Nats::start(&scratch.0.join("nats")));
    let mut restarting = None;
    let server =
        |nats: &Option<Nats>| -> String { nats.as_ref().expect("the server is back").url() };
    let mut writer = Writer::start(&server(&nats), "all/4");
    assert_eq!(
        writer.ready,
        "ready: partitions 0 at revision 0 (stream sequence 0), 1 at revision 0 (stream \
         sequence 0), 2 at revision 0 (stream sequence 0), 3 at revision 0 (stream sequence 0)\n"
    );
    let a = replica(&server(&nats), "all/4", &scratch.0.join("a"));
    let mut b = Some(replica(&server(&nats), "all/4", &scratch.0.join("b")));
    let mut model = Model::new();
    let mut rng = Rng(14);
    let start: DateTime<Utc> = "2018-03-04T00:00:00Z".parse().unwrap();
    for n in 0..CHANGES {
        let at =
            start + joblog::chrono::Duration::milliseconds(1_000 * n as i64 + 7 * (n % 13) as i64);
        change(&mut writer, &mut model, &mut rng, n, at);
        if n % 2_000 == 1_999 {
            // Read-your-writes: the replica answers at least at the
            // writer's revision, and that is exactly the model's answer.
            let (params, key) = query(&mut rng);
            ask(&a, &model, &params, key);
        }
        match n {
            8_000 => drop(b.take()), // killed, mid-stream
            // Killed and started again while the writes go on: they wait
            // for it, and are published once.
            12_000 => {
                let mut running = nats.take().expect("the server");
                restarting = Some(std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    running.restart();
                    running
                }));
            }
            12_500 => {
                nats = restarting
                    .take()
                    .map(|thread| thread.join().expect("restarted"))
            }
            14_000 => {
                let restarted = replica(&server(&nats), "all/4", &scratch.0.join("b"));
                for partition in 0..4 {
                    let line = &restarted.preamble[partition];
                    let prefix = format!("partition {partition}: from its snapshot at revision ");
                    let revision: u64 = line
                        .strip_prefix(&prefix)
                        .and_then(|rest| rest.split(' ').next())
                        .and_then(|revision| revision.parse().ok())
                        .unwrap_or_else(|| panic!("not from a snapshot: {line}"));
                    assert!(revision > 0, "{line}");
                }
                b = Some(restarted);
            }
            _ => {}
        }
    }
    let b = b.expect("b is back");
    assert_eq!(model.stores.len(), 4, "every partition was written");
    assert_eq!(model.partition_of_app.len(), APPS, "every app was written");
    for (params, key) in (0..1_000).map(|_| query(&mut rng)) {
        for replica in [&a, &b] {
            ask(replica, &model, &params, key);
        }
    }
    // Every app's partition, on both replicas, at the writer's revision.
    for app in model.partition_of_app.keys() {
        let params = [
            ("app".to_owned(), app.clone()),
            ("limit".to_owned(), "0".to_owned()),
        ];
        for replica in [&a, &b] {
            ask(replica, &model, &params, "QYADMINKEY");
        }
    }
    drop(writer);
}

/// Publishes a message on a subject as a process other than a writer
/// would: to show what the expected last sequence guards against.
fn publish_foreign(url: &str, subject: &str, id: &str, payload: String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let client = async_nats::connect(url).await.expect("connects");
        let context = async_nats::jetstream::new(client);
        let message = async_nats::jetstream::message::PublishMessage::build()
            .payload(payload.into_bytes().into())
            .message_id(id);
        let ack = context.send_publish(subject.to_owned(), message).await;
        ack.expect("sent").await.expect("stored");
    });
}

/// The partition of an app, as the README documents it: FNV-1a 64 of its
/// id, modulo the count (written again here, from the documentation).
fn documented_partition(app: &str, count: u64) -> u64 {
    let hash = app.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    hash % count
}

/// Two writers of one partition cannot interleave: the one that is behind
/// is refused, re-reads, and its change goes through when sent again
/// (both ways: its revision is already in the stream, or the stream moved
/// on under another message id). Two writers sending the very same event
/// store it once, and both say so. A replica of other partitions refuses
/// the partition's app, naming it; one of the partition answers as a
/// store of the same changes.
#[test]
fn a_second_writer_is_refused_and_rereads() {
    let _watchdog = watchdog(Duration::from_secs(120));
    let scratch = Scratch::new("writers");
    let nats = Nats::start(&scratch.0.join("nats"));
    let mut first = Writer::start(&nats.url(), "all/4");
    let mut second = Writer::start(&nats.url(), "all/4");
    let at: DateTime<Utc> = "2018-03-04T05:37:58Z".parse().unwrap();
    let job = |id: &str, app: &str| Job::new(id, app, "usr-1", "RunJob", Status::Pending, at);
    let ours = app(1);
    let partition = documented_partition(&ours, 4);
    let elsewhere = (2..)
        .map(app)
        .find(|other| documented_partition(other, 4) != partition)
        .expect("an app of another partition");
    let insert = |id: &str, app: &str| json!({"event": "insert", "job": job(id, app)});
    let written = |partition: u64, revision: u64| json!({"partition": partition, "revision": revision, "changed": true});
    let again = |revision: u64| {
        format!("re-read to revision {revision}: nothing was changed, send the change again")
    };
    assert_eq!(first.send(&insert("j-1", &ours)), written(partition, 1));
    // The second writer still thinks the partition is empty: its event of
    // revision 1 is not the one the stream has.
    assert_eq!(
        second.send(&insert("j-2", &ours)),
        json!({"error": format!(
            "partition {partition} was written by another writer (revision 1 is already in the \
             stream, at sequence 1); {}",
            again(1)
        )})
    );
    assert_eq!(second.send(&insert("j-2", &ours)), written(partition, 2));
    // The very same event from both: stored once, taken by both.
    let home = documented_partition(&elsewhere, 4);
    assert_eq!(first.send(&insert("j-9", &elsewhere)), written(home, 1));
    assert_eq!(second.send(&insert("j-9", &elsewhere)), written(home, 1));
    let status = json!({
        "event": "status", "job_id": "j-1", "status": "working", "at": "2018-03-04T05:38:00Z"
    });
    // The first writer is behind now, and re-reads to revision 2.
    let answer = first.send(&status);
    assert_eq!(
        answer["error"]
            .as_str()
            .map(|error| error.ends_with(&again(2))),
        Some(true),
        "{answer}"
    );
    // Another process appends revision 3 under its own message id: the
    // first writer, at revision 2, is refused by the expected sequence.
    let foreign = json!({"revision": 3, "event": "insert", "job": job("j-x", &ours)});
    let subject = format!("joblog.events.4.{partition}");
    publish_foreign(&nats.url(), &subject, "not-a-writer", foreign.to_string());
    assert_eq!(
        first.send(&status),
        json!({"error": format!(
            "partition {partition} was written by another writer (its events no longer end at \
             stream sequence 2); {}",
            again(3)
        )})
    );
    assert_eq!(first.send(&status), written(partition, 4));
    // Lines that are no change are answered, and the writer goes on.
    assert_eq!(
        first.send_line(b"{\"event\":\"\xff\"}"),
        json!({"error": "the line is not UTF-8"})
    );
    let huge = vec![b' '; (2 << 20) + 10];
    assert_eq!(
        first.send_line(&huge),
        json!({"error": "a change is at most 2097152 bytes"})
    );
    // A replica of the other partitions refuses the app, in a 200 answer.
    let others: Vec<String> = (0..4)
        .filter(|&p| p != partition)
        .map(|p| p.to_string())
        .collect();
    let served = format!("{}/4", others.join(","));
    let other = replica(&nats.url(), &served, &scratch.0.join("r"));
    let request = signed(
        "GET",
        "QYADMINKEY",
        "admin-secret",
        &[DESCRIBE, ("app", &ours)],
        now(),
    );
    let answer = other.client.get_answer(&request);
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("x-joblog-partition"),
        Some(partition.to_string())
    );
    assert_eq!(answer.header("x-joblog-revision"), None);
    assert_eq!(
        answer.body,
        json!({
            "message": format!(
                "ParameterError, app [{ours}] is in partition {partition} of 4, which this \
                 replica does not serve (it serves {served}): ask a replica of partition \
                 {partition}"
            ),
            "ret_code": 1100,
        })
        .to_string()
    );
    // A replica of the partition catches up from the start: the four
    // events, in the stream's order.
    let mut model = Model::new();
    let store = model.stores.entry(partition as u32).or_default();
    for id in ["j-1", "j-2", "j-x"] {
        store.insert(job(id, &ours)).unwrap();
    }
    let working = "2018-03-04T05:38:00Z".parse().unwrap();
    store.set_status("j-1", Status::Working, working).unwrap();
    model
        .partition_of_app
        .insert(ours.clone(), partition as u32);
    let own = replica(&nats.url(), &format!("{partition}/4"), &scratch.0.join("s"));
    ask(&own, &model, &[("app".to_owned(), ours)], "QYADMINKEY");
}
