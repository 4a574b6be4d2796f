//! Partitions on NATS JetStream (SPEC §12): the writer that publishes each
//! change event before applying it, the replicas that follow the stream,
//! and the snapshot files they restart from.
//!
//! One stream, [`STREAM`], holds every partition's events, each on its own
//! subject, `joblog.events.<count>.<partition>` (the number of partitions
//! is in the subject, so a process started with another count reads
//! nothing it would misplace), one JSON event a message. A message's id
//! (`Nats-Msg-Id`) is `<count>.<partition>-<revision>`: the revision,
//! qualified as the subject is because JetStream drops duplicates across the whole
//! stream, so a retried publish of an event is stored once. Every publish
//! also says which stream sequence it expects the subject to end at
//! (`Nats-Expected-Last-Subject-Sequence`), so two writers of one
//! partition cannot interleave: the one behind is refused, and re-reads.
//!
//! A partition's events are consecutive revisions in stream order (the
//! message id and the expected sequence see to it), so a replica applies
//! each message as the next revision and stops at anything else: a gap,
//! an event it already has from another history (a reset stream, a
//! snapshot of another stream), an insert of another partition's app.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use joblog::chrono::{DateTime, Utc};
use joblog::{Applied, Change, Event, Job, JobStore, Status};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::partition::{Partitions, partition_of};

/// The JetStream stream of every partition's events.
pub const STREAM: &str = "JOBLOG";
/// The subjects of the stream.
const SUBJECTS: &str = "joblog.events.>";
/// How long a writer tries to publish one event (through reconnects and
/// a restart of the server) before it gives up on the change.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long JetStream remembers a message id: four times as long as a
/// writer retries (each attempt's own wait included), so a retry is always
/// recognised.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How often an idle follower looks at the clock for a timed snapshot.
const TICK: Duration = Duration::from_millis(500);

/// The subject of a partition's events.
pub fn subject(count: u32, partition: u32) -> String {
    format!("joblog.events.{count}.{partition}")
}

/// The message id of a partition's event: unique in the whole stream
/// (the count too, as in the subject).
pub fn message_id(count: u32, partition: u32, revision: u64) -> String {
    format!("{count}.{partition}-{revision}")
}

/// Pauses between attempts that grow from 50 ms to 2 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(Duration::from_millis(50))
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(2));
    }
}

/// A partition's store, and the stream sequence of the last event applied
/// to it (0 before the first).
pub struct Replica {
    pub store: JobStore,
    pub sequence: u64,
}

impl Replica {
    pub fn empty() -> Replica {
        Replica {
            store: JobStore::new(),
            sequence: 0,
        }
    }
}

/// One partition served: its replica behind a lock (readers share it; an
/// event takes it alone, one event at a time), the revision applied, for
/// queries that wait for a `min_revision`, and why it stopped following
/// its events, if it did.
pub struct Shard {
    pub partition: u32,
    count: u32,
    replica: RwLock<Replica>,
    applied: watch::Sender<u64>,
    stopped: Mutex<Option<String>>,
}

impl Shard {
    /// Partition `partition` of `count`.
    pub fn new(partition: u32, count: u32, replica: Replica) -> Shard {
        let (applied, _) = watch::channel(replica.store.revision());
        Shard {
            partition,
            count,
            replica: RwLock::new(replica),
            applied,
            stopped: Mutex::new(None),
        }
    }

    /// The replica, for reading. A writer that panicked left it as it was.
    pub fn read(&self) -> RwLockReadGuard<'_, Replica> {
        self.replica
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Replica> {
        self.replica
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes a change under the lock, and tells the waiting queries the
    /// revision it leaves (under the lock too, so they see revisions in
    /// order).
    pub fn update<T>(&self, change: impl FnOnce(&mut Replica) -> T) -> T {
        let mut replica = self.write();
        let outcome = change(&mut replica);
        self.applied.send_replace(replica.store.revision());
        outcome
    }

    /// Why the partition stopped following its events, if it did.
    pub fn stopped(&self) -> Option<String> {
        self.stopped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn stop(&self, problem: String) {
        *self
            .stopped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(problem);
    }

    /// Waits until the partition has applied `revision`, for at most
    /// `wait`: the revision it is at, or `Err` with the revision it is at
    /// when the wait ran out.
    pub async fn reach(&self, revision: u64, wait: Duration) -> Result<u64, u64> {
        let mut applied = self.applied.subscribe();
        let reached = tokio::time::timeout(wait, applied.wait_for(|&at| at >= revision)).await;
        let at = match reached {
            Ok(Ok(at)) => *at,
            _ => *self.applied.borrow(),
        };
        // Reached just as the wait ran out: reached.
        if at >= revision { Ok(at) } else { Err(at) }
    }

    /// Applies the event stored at stream sequence `sequence` as the next
    /// revision; one at or below the replica's sequence was applied
    /// before. Anything else is an error naming the partition and the
    /// sequence, and changes nothing.
    fn apply_message(&self, sequence: u64, payload: &[u8]) -> Result<(), String> {
        let at = format!("partition {}, stream sequence {sequence}", self.partition);
        let event: Event =
            serde_json::from_slice(payload).map_err(|err| format!("{at}: not an event: {err}"))?;
        if let Change::Insert { job } = &event.change {
            let home = partition_of(&job.app, self.count);
            if home != self.partition {
                return Err(format!(
                    "{at}: inserts job [{}] of app [{}], which is in partition {home} of {}",
                    job.job_id, job.app, self.count
                ));
            }
        }
        self.update(|replica| {
            if sequence <= replica.sequence {
                return Ok(());
            }
            match replica.store.apply(&event) {
                Ok(Applied::Changed) => {
                    replica.sequence = sequence;
                    Ok(())
                }
                Ok(Applied::AlreadyApplied) => Err(format!(
                    "{at}: holds revision {}, which this partition already has (it is at \
                     revision {}): the stream is not this store's history (a stream made anew, \
                     or a snapshot of another stream)",
                    event.revision,
                    replica.store.revision()
                )),
                Err(err) => Err(format!("{at}: {err}")),
            }
        })
    }
}

/// Connects to a NATS server and makes sure the stream is there with the
/// settings joblog relies on (every process asks for it with the same
/// ones, so whichever comes first makes it). The client reconnects by
/// itself when the connection drops.
pub async fn connect(url: &str) -> Result<jetstream::Context, String> {
    let client = async_nats::connect(url)
        .await
        .map_err(|err| format!("cannot connect to NATS at {url}: {err}"))?;
    let context = jetstream::new(client);
    let stream = context
        .get_or_create_stream(stream::Config {
            name: STREAM.to_owned(),
            subjects: vec![SUBJECTS.to_owned()],
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        })
        .await
        .map_err(|err| format!("cannot open the JetStream stream {STREAM} at {url}: {err}"))?;
    let config = &stream.cached_info().config;
    if config.subjects != [SUBJECTS] || config.duplicate_window < DUPLICATE_WINDOW {
        return Err(format!(
            "the JetStream stream {STREAM} at {url} has subjects {:?} and a duplicate window of \
             {:?}: joblog needs subjects [{SUBJECTS:?}] and a window of at least {:?}",
            config.subjects, config.duplicate_window, DUPLICATE_WINDOW
        ));
    }
    Ok(context)
}

/// The stream, without asking the server for its details.
async fn stream(context: &jetstream::Context) -> Result<stream::Stream<()>, String> {
    context
        .get_stream_no_info(STREAM)
        .await
        .map_err(|err| err.to_string())
}

/// The last stream sequence of a partition's subject (0 when it has no
/// event yet).
async fn last_sequence(context: &jetstream::Context, shard: &Shard) -> Result<u64, String> {
    let subject = subject(shard.count, shard.partition);
    match stream(context)
        .await?
        .get_last_raw_message_by_subject(&subject)
        .await
    {
        Ok(message) => Ok(message.sequence),
        Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(0),
        Err(err) => Err(err.to_string()),
    }
}

/// Why reading a partition's events stopped.
enum Stop {
    /// The connection or the server went away, or messages were lost on
    /// the way: ask again from the last sequence applied.
    Retry(String),
    /// The stream holds what cannot be applied: stop following.
    Fatal(String),
}

/// Where and how often a replica writes its snapshots.
#[derive(Clone)]
pub struct Snapshots {
    pub dir: PathBuf,
    /// After this many events (once caught up)…
    pub every_events: u64,
    /// …or this long after the last one, when anything changed since.
    pub every: Duration,
}

/// A snapshot file: the store, and where in the stream it stands.
#[derive(Serialize)]
struct SnapshotOut<'a> {
    partition: u32,
    partitions: u32,
    sequence: u64,
    store: &'a JobStore,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotIn {
    partition: u32,
    partitions: u32,
    sequence: u64,
    store: JobStore,
}

/// Writes a snapshot file atomically: to a temporary file beside it (named
/// for this process), synced, renamed over the last one, and the directory
/// synced.
pub fn write_snapshot(
    path: &Path,
    partition: u32,
    partitions: u32,
    replica: &Replica,
) -> Result<(), String> {
    let fault = |err: &dyn std::fmt::Display| format!("{}: {err}", path.display());
    let bytes = serde_json::to_vec(&SnapshotOut {
        partition,
        partitions,
        sequence: replica.sequence,
        store: &replica.store,
    })
    .map_err(|err| fault(&err))?;
    let temporary = path.with_extension(format!("json.tmp.{}", std::process::id()));
    let written = fs::File::create(&temporary).and_then(|mut file| {
        file.write_all(&bytes)?;
        file.sync_all()
    });
    written
        .and_then(|()| fs::rename(&temporary, path))
        .and_then(|()| match path.parent() {
            Some(dir) => fs::File::open(dir)?.sync_all(),
            None => Ok(()),
        })
        .map_err(|err| {
            let _ = fs::remove_file(&temporary);
            fault(&err)
        })
}

impl Snapshots {
    fn path(&self, partition: u32) -> PathBuf {
        self.dir.join(format!("partition-{partition}.json"))
    }

    /// The partition's last snapshot, if it has one; one written for
    /// another partition or another number of partitions is refused.
    pub fn load(&self, partition: u32, partitions: &Partitions) -> Result<Option<Replica>, String> {
        let path = self.path(partition);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(format!("{}: {err}", path.display())),
        };
        let snapshot: SnapshotIn = serde_json::from_slice(&bytes)
            .map_err(|err| format!("{}: not a snapshot: {err}", path.display()))?;
        if (snapshot.partition, snapshot.partitions) != (partition, partitions.count()) {
            return Err(format!(
                "{}: a snapshot of partition {} of {}, not of partition {partition} of {}",
                path.display(),
                snapshot.partition,
                snapshot.partitions,
                partitions.count()
            ));
        }
        Ok(Some(Replica {
            store: snapshot.store,
            sequence: snapshot.sequence,
        }))
    }

    /// Writes the shard's snapshot (the store is serialized under the read
    /// lock: readers go on, events wait).
    fn write(&self, shard: &Shard) -> Result<(), String> {
        let replica = shard.read();
        write_snapshot(
            &self.path(shard.partition),
            shard.partition,
            shard.count,
            &replica,
        )
    }
}

/// When a follower last wrote a snapshot, kept across reconnects.
struct SnapshotClock {
    since: u64,
    last: Instant,
}

/// Reads a partition's events after the replica's sequence and applies
/// them: until stream sequence `until` when given, else for ever, writing
/// snapshots as `snapshots` asks.
async fn read_events(
    context: &jetstream::Context,
    shard: &Arc<Shard>,
    until: Option<u64>,
    mut snapshots: Option<(&Snapshots, &mut SnapshotClock)>,
) -> Result<(), Stop> {
    let retry = |err: &dyn std::fmt::Display| Stop::Retry(err.to_string());
    let from = shard.read().sequence;
    if until.is_some_and(|until| from >= until) {
        return Ok(());
    }
    let consumer = stream(context)
        .await
        .map_err(Stop::Retry)?
        .create_consumer(consumer::pull::Config {
            filter_subject: subject(shard.count, shard.partition),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: from + 1,
            },
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .map_err(|err| retry(&err))?;
    // Short pulls with a heartbeat each second: a pull that stalls (the
    // client's default waits 30 s to say so) is found within two seconds,
    // and asked again.
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(1000)
        .expires(Duration::from_secs(5))
        .heartbeat(Duration::from_secs(1))
        .messages()
        .await
        .map_err(|err| retry(&err))?;
    // A consumer numbers what it delivers 1, 2, …: a number skipped is a
    // message lost on a reconnect, which a new consumer delivers again.
    let mut delivered = 0;
    loop {
        let mut pending = 0;
        if let Ok(next) = tokio::time::timeout(TICK, messages.next()).await {
            let message = match next {
                None => return Err(Stop::Retry("the message stream ended".to_owned())),
                Some(Err(err)) => return Err(retry(&err)),
                Some(Ok(message)) => message,
            };
            let info = message.info().map_err(|err| retry(&*err))?;
            if info.consumer_sequence != delivered + 1 {
                let what = if info.consumer_sequence > delivered {
                    "some were lost on the way"
                } else {
                    "out of order"
                };
                return Err(Stop::Retry(format!(
                    "message {} came after message {delivered}: {what}",
                    info.consumer_sequence
                )));
            }
            delivered = info.consumer_sequence;
            pending = info.pending;
            let sequence = info.stream_sequence;
            shard
                .apply_message(sequence, &message.payload)
                .map_err(Stop::Fatal)?;
            if until.is_some_and(|until| sequence >= until) {
                return Ok(());
            }
            if let Some((_, clock)) = snapshots.as_mut() {
                clock.since += 1;
            }
        }
        if let Some((snapshots, clock)) = snapshots.as_mut() {
            // By count only once caught up: a replica reading a long
            // stream would otherwise write the whole store again and again.
            let due = (clock.since >= snapshots.every_events && pending == 0)
                || (clock.since > 0 && clock.last.elapsed() >= snapshots.every);
            if due {
                let (shard, snapshots) = (Arc::clone(shard), (*snapshots).clone());
                let written = tokio::task::spawn_blocking(move || snapshots.write(&shard)).await;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(problem)) => eprintln!("serve: cannot write a snapshot: {problem}"),
                    Err(err) => eprintln!("serve: the snapshot writer failed: {err}"),
                }
                clock.since = 0;
                clock.last = Instant::now();
            }
        }
    }
}

/// Checks that the stream reaches as far as the replica already is: a
/// stream that ends before is not the one its snapshot came from.
async fn reaches(context: &jetstream::Context, shard: &Shard) -> Result<(), Stop> {
    let last = last_sequence(context, shard).await.map_err(Stop::Retry)?;
    let at = shard.read().sequence;
    if last < at {
        return Err(Stop::Fatal(format!(
            "partition {}: the stream ends at sequence {last}, before this store (at stream \
             sequence {at}): it is not the stream the store came from",
            shard.partition
        )));
    }
    Ok(())
}

/// Follows a partition's events for as long as the process runs: through
/// lost connections and server restarts (each time from the last sequence
/// applied). An event that cannot be applied stops it, said on standard
/// error and by [`Shard::stopped`]; the replica goes on answering at the
/// revision it reached.
pub async fn follow(context: jetstream::Context, shard: Arc<Shard>, snapshots: Option<Snapshots>) {
    let mut clock = SnapshotClock {
        since: 0,
        last: Instant::now(),
    };
    let mut backoff = Backoff::new();
    let mut failed_at = None;
    loop {
        let outcome = match reaches(&context, &shard).await {
            Ok(()) => {
                let snapshots = snapshots.as_ref().map(|snapshots| (snapshots, &mut clock));
                read_events(&context, &shard, None, snapshots).await
            }
            Err(stop) => Err(stop),
        };
        match outcome {
            Ok(()) => return,
            Err(Stop::Fatal(problem)) => {
                eprintln!(
                    "serve: partition {} stopped following the stream: {problem}",
                    shard.partition
                );
                shard.stop(problem);
                return;
            }
            Err(Stop::Retry(problem)) => {
                // Said once for each place it gets stuck at.
                let at = shard.read().sequence;
                if failed_at != Some(at) {
                    eprintln!(
                        "serve: partition {}: following again after stream sequence {at} \
                         ({problem})",
                        shard.partition
                    );
                    failed_at = Some(at);
                    backoff = Backoff::new();
                }
                backoff.wait().await;
            }
        }
    }
}

/// One line a writer reads: a change, as an event without its revision
/// (the writer gives it one). A prune names its partition; an insert goes
/// to its app's, a status change to its job's. The line is read twice, for
/// its kind and then whole (a job's `extras` are kept as written, which
/// needs the text itself, not a buffered copy).
#[derive(Deserialize)]
struct Kind {
    event: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Insert {
    #[serde(rename = "event")]
    _event: String,
    job: Box<Job>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    #[serde(rename = "event")]
    _event: String,
    job_id: String,
    status: Status,
    at: String,
    #[serde(default)]
    error_codes: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Prune {
    #[serde(rename = "event")]
    _event: String,
    partition: u32,
    before: String,
    #[serde(default)]
    limit: Option<usize>,
}

enum Request {
    Insert(Insert),
    Status(StatusChange),
    Prune(Prune),
}

impl Request {
    fn read(line: &str) -> Result<Request, String> {
        let fault = |err: serde_json::Error| format!("not a change: {err}");
        let kind: Kind = serde_json::from_str(line).map_err(fault)?;
        match kind.event.as_str() {
            "insert" => serde_json::from_str(line).map(Request::Insert),
            "status" => serde_json::from_str(line).map(Request::Status),
            "prune" => serde_json::from_str(line).map(Request::Prune),
            other => {
                return Err(format!(
                    "not a change: `event` is insert, status or prune, not {other:?}"
                ));
            }
        }
        .map_err(fault)
    }
}

/// A time of a change, read as every time in joblog is read.
fn time(field: &str, text: &str) -> Result<DateTime<Utc>, String> {
    joblog::parse_timestamp(text).map_err(|err| format!("`{field}`: {err}"))
}

/// Which of `shards` a change goes to (by index), and the change. Job ids
/// are unique across the partitions of one writer, so a status change
/// finds its job's.
fn route(
    partitions: &Partitions,
    shards: &[Arc<Shard>],
    line: &str,
) -> Result<(usize, Change), String> {
    let owned = || format!("the partitions this writer owns ({partitions})");
    let holding = |job_id: &str| {
        shards
            .iter()
            .position(|shard| shard.read().store.get(job_id).is_some())
    };
    let index_of = |partition: u32| shards.iter().position(|shard| shard.partition == partition);
    match Request::read(line)? {
        Request::Insert(Insert { job, .. }) => {
            let (partition, served) = partitions.locate(&job.app);
            let index = index_of(partition).filter(|_| served).ok_or_else(|| {
                format!(
                    "app [{}] is in partition {partition}, not in {}",
                    job.app,
                    owned()
                )
            })?;
            if let Some(other) = holding(&job.job_id)
                && other != index
            {
                return Err(format!(
                    "job [{}] is already in partition {}: job ids are unique across partitions",
                    job.job_id, shards[other].partition
                ));
            }
            Ok((index, Change::Insert { job }))
        }
        Request::Status(StatusChange {
            job_id,
            status,
            at,
            error_codes,
            ..
        }) => {
            let at = time("at", &at)?;
            let index =
                holding(&job_id).ok_or_else(|| format!("job [{job_id}] is not in {}", owned()))?;
            let change = Change::Status {
                job_id,
                status,
                at,
                error_codes,
            };
            Ok((index, change))
        }
        Request::Prune(Prune {
            partition,
            before,
            limit,
            ..
        }) => {
            let before = time("before", &before)?;
            let index = index_of(partition)
                .ok_or_else(|| format!("partition {partition} is not one of {}", owned()))?;
            let change = Change::Prune {
                before,
                limit,
                dropped: 0,
            };
            Ok((index, change))
        }
    }
}

/// What a writer did with a change.
#[derive(Serialize, Debug)]
pub struct Written {
    pub partition: u32,
    /// The partition's revision after the change (read-your-writes: ask a
    /// replica for `min_revision` this).
    pub revision: u64,
    /// Whether it changed anything (a no-op makes no event).
    pub changed: bool,
}

/// Why a publish did not land.
enum Refused {
    /// Another writer got there first.
    Lost(String),
    /// The log did not answer in time: the event may be stored or not.
    Unanswered(String),
    /// The log will never take it.
    Never(String),
}

/// The writer of some partitions: it holds their stores (caught up from
/// the stream when it starts), checks each change against them, publishes
/// the event and only then applies it.
pub struct Writer {
    context: jetstream::Context,
    partitions: Partitions,
    shards: Vec<Arc<Shard>>,
    /// By shard: a publish went unanswered, so the stream may hold more
    /// than the store; it is read again before the next change.
    unsure: Vec<AtomicBool>,
}

impl Writer {
    /// A writer of `partitions`, caught up with what the stream holds.
    pub async fn open(
        context: jetstream::Context,
        partitions: Partitions,
    ) -> Result<Writer, String> {
        let count = partitions.count();
        let shards: Vec<Arc<Shard>> = partitions
            .served()
            .iter()
            .map(|&partition| Arc::new(Shard::new(partition, count, Replica::empty())))
            .collect();
        let writer = Writer {
            context,
            partitions,
            unsure: shards.iter().map(|_| AtomicBool::new(false)).collect(),
            shards,
        };
        for shard in &writer.shards {
            writer.catch_up(shard).await?;
        }
        Ok(writer)
    }

    /// Each partition's (partition, revision, stream sequence).
    pub fn positions(&self) -> Vec<(u32, u64, u64)> {
        let position = |shard: &Arc<Shard>| {
            let replica = shard.read();
            (shard.partition, replica.store.revision(), replica.sequence)
        };
        self.shards.iter().map(position).collect()
    }

    /// Reads what the stream holds of a partition beyond the store. It
    /// gives up only after [`PUBLISH_TIMEOUT`] without progress, however
    /// long the partition takes to read.
    async fn catch_up(&self, shard: &Arc<Shard>) -> Result<(), String> {
        let mut backoff = Backoff::new();
        let mut since = Instant::now();
        let mut at = shard.read().sequence;
        loop {
            let attempt = async {
                reaches(&self.context, shard).await?;
                let last = last_sequence(&self.context, shard)
                    .await
                    .map_err(Stop::Retry)?;
                read_events(&self.context, shard, Some(last), None).await
            };
            let problem = match tokio::time::timeout(PUBLISH_TIMEOUT, attempt).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(Stop::Fatal(fatal))) => return Err(fatal),
                Ok(Err(Stop::Retry(retry))) => retry,
                Err(_) => "reading took a while".to_owned(),
            };
            let now_at = shard.read().sequence;
            if now_at > at {
                (at, since) = (now_at, Instant::now());
            } else if since.elapsed() >= PUBLISH_TIMEOUT {
                return Err(format!(
                    "partition {}: the stream gave nothing more for {} s, after stream sequence \
                     {at} ({problem})",
                    shard.partition,
                    PUBLISH_TIMEOUT.as_secs()
                ));
            }
            backoff.wait().await;
        }
    }

    /// Makes one change (a line of JSON): checks it, publishes its event,
    /// applies it. A change that fails its checks, or that the log refuses,
    /// changes nothing.
    pub async fn write(&self, line: &str) -> Result<Written, String> {
        // A partition whose last publish went unanswered is read again
        // first: routing looks at every partition's jobs.
        for (shard, unsure) in self.shards.iter().zip(&self.unsure) {
            if unsure.load(Ordering::Relaxed) {
                self.catch_up(shard).await?;
                unsure.store(false, Ordering::Relaxed);
            }
        }
        let (index, change) = route(&self.partitions, &self.shards, line)?;
        let shard = &self.shards[index];
        let partition = shard.partition;
        let (prepared, expected) = {
            let replica = shard.read();
            (replica.store.prepare(change), replica.sequence)
        };
        let Some(event) = prepared.map_err(|err| err.to_string())? else {
            let revision = shard.read().store.revision();
            return Ok(Written {
                partition,
                revision,
                changed: false,
            });
        };
        let payload = serde_json::to_vec(&event).map_err(|err| err.to_string())?;
        // What replicas will read is what was checked, or nothing is sent.
        match serde_json::from_slice::<Event>(&payload) {
            Ok(back) if back == event => {}
            Ok(_) => return Err("the change does not read back as it was written".to_owned()),
            Err(err) => return Err(format!("the change does not read back: {err}")),
        }
        let revision = event.revision;
        match self.publish(partition, revision, &payload, expected).await {
            Ok(sequence) => {
                if let Err(problem) = shard.apply_message(sequence, &payload) {
                    self.unsure[index].store(true, Ordering::Relaxed);
                    return Err(format!(
                        "partition {partition}: revision {revision} was published at stream \
                         sequence {sequence} but not applied ({problem}); the writer reads the \
                         partition again before its next change"
                    ));
                }
                Ok(Written {
                    partition,
                    revision,
                    changed: true,
                })
            }
            Err(Refused::Lost(why)) => {
                self.catch_up(shard).await?;
                Err(format!(
                    "partition {partition} was written by another writer ({why}); re-read to \
                     revision {}: nothing was changed, send the change again",
                    shard.read().store.revision()
                ))
            }
            Err(Refused::Unanswered(why)) => {
                self.unsure[index].store(true, Ordering::Relaxed);
                Err(format!(
                    "partition {partition}: the event log did not confirm revision {revision} \
                     within {} s ({why}); it may have stored it, so the writer reads the \
                     partition again before its next change: send this one again only if the \
                     partition is still at revision {}",
                    PUBLISH_TIMEOUT.as_secs(),
                    revision - 1
                ))
            }
            Err(Refused::Never(why)) => Err(format!(
                "partition {partition}: the event log refused revision {revision} ({why}): \
                 nothing was changed"
            )),
        }
    }

    /// Publishes an event, retrying through lost connections with the same
    /// message id (so a publish that landed but whose answer was lost is
    /// stored once): the stream sequence it landed at.
    async fn publish(
        &self,
        partition: u32,
        revision: u64,
        payload: &[u8],
        expected: u64,
    ) -> Result<u64, Refused> {
        let deadline = Instant::now() + PUBLISH_TIMEOUT;
        let mut backoff = Backoff::new();
        loop {
            let message = PublishMessage::build()
                .payload(payload.to_vec().into())
                .message_id(message_id(self.partitions.count(), partition, revision))
                .expected_last_subject_sequence(expected);
            let subject = subject(self.partitions.count(), partition);
            let acked = match self.context.send_publish(subject, message).await {
                Ok(ack) => ack.await,
                Err(err) => Err(err),
            };
            let problem = match acked {
                Ok(ack) if !ack.duplicate => return Ok(ack.sequence),
                // The id is in the stream: this event, sent before (its
                // answer lost), or another writer's event of the same
                // revision.
                Ok(ack) => match self.stored(partition, ack.sequence).await {
                    Ok(stored) if stored == payload => return Ok(ack.sequence),
                    Ok(_) => {
                        return Err(Refused::Lost(format!(
                            "revision {revision} is already in the stream, at sequence {}",
                            ack.sequence
                        )));
                    }
                    Err(problem) => problem,
                },
                Err(err) => match err.kind() {
                    PublishErrorKind::WrongLastSequence => {
                        return Err(Refused::Lost(format!(
                            "its events no longer end at stream sequence {expected}"
                        )));
                    }
                    PublishErrorKind::MaxPayloadExceeded => {
                        return Err(Refused::Never(err.to_string()));
                    }
                    _ => err.to_string(),
                },
            };
            if Instant::now() >= deadline {
                return Err(Refused::Unanswered(problem));
            }
            eprintln!(
                "serve: partition {partition}: publishing revision {revision} again ({problem})"
            );
            backoff.wait().await;
        }
    }

    /// The payload the stream holds at a sequence, when it is on the
    /// partition's subject (else none: another partition's event).
    async fn stored(&self, partition: u32, sequence: u64) -> Result<Vec<u8>, String> {
        let message = stream(&self.context)
            .await?
            .get_raw_message(sequence)
            .await
            .map_err(|err| err.to_string())?;
        let ours = message.subject.as_str() == subject(self.partitions.count(), partition);
        Ok(if ours {
            message.payload.to_vec()
        } else {
            Vec::new()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("joblog-unit-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn insert(id: &str, app: &str) -> String {
        format!(
            r#"{{"event":"insert","job":{{"job_id":"{id}","app":"{app}","owner":"usr-1","job_action":"RunJob","status":"pending","create_time":"2018-03-04T05:37:58Z"}}}}"#
        )
    }

    /// An app of each partition of `count`.
    fn app_in(partition: u32, count: u32) -> String {
        (0..)
            .map(|n| format!("app-{n}"))
            .find(|app| partition_of(app, count) == partition)
            .unwrap()
    }

    #[test]
    fn snapshots_come_back_and_refuse_another_partition() {
        let dir = scratch("snapshots");
        let snapshots = Snapshots {
            dir: dir.clone(),
            every_events: 1,
            every: Duration::from_secs(1),
        };
        let four: Partitions = "all/4".parse().unwrap();
        assert!(snapshots.load(1, &four).unwrap().is_none());
        let shard = Shard::new(1, 4, Replica::empty());
        let line = insert("j-1", &app_in(1, 4));
        let (_, change) = route(
            &four,
            &[Arc::new(Shard::new(1, 4, Replica::empty()))],
            &line,
        )
        .expect("routed");
        let event = shard.read().store.prepare(change).unwrap().unwrap();
        shard
            .apply_message(7, &serde_json::to_vec(&event).unwrap())
            .unwrap();
        snapshots.write(&shard).unwrap();
        let back = snapshots.load(1, &four).unwrap().expect("a snapshot");
        assert_eq!((back.sequence, back.store.revision()), (7, 1));
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        let eight: Partitions = "all/8".parse().unwrap();
        let path = dir.join("partition-1.json");
        assert_eq!(
            snapshots.load(1, &eight).err(),
            Some(format!(
                "{}: a snapshot of partition 1 of 4, not of partition 1 of 8",
                path.display()
            ))
        );
        fs::write(&path, b"{\"partition\":1").unwrap();
        let err = snapshots.load(1, &four).err().expect("refused");
        assert!(
            err.starts_with(&format!("{}: not a snapshot: EOF", path.display())),
            "{err}"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_replica_applies_only_the_next_revision_of_its_own_partition() {
        let shard = Shard::new(0, 2, Replica::empty());
        let ours = app_in(0, 2);
        let mut primary = JobStore::new();
        let job = |id: &str, app: &str| {
            let at = "2018-03-04T05:37:58Z".parse().unwrap();
            Job::new(id, app, "usr-1", "RunJob", Status::Pending, at)
        };
        let first = primary.insert(job("j-1", &ours)).unwrap();
        let bytes = |event: &Event| serde_json::to_vec(event).unwrap();
        assert_eq!(
            shard.apply_message(3, b"{}").unwrap_err(),
            "partition 0, stream sequence 3: not an event: missing field `revision` at line 1 \
             column 2"
        );
        shard.apply_message(3, &bytes(&first)).unwrap();
        // Delivered again at the same sequence: skipped.
        shard.apply_message(3, &bytes(&first)).unwrap();
        // The same revision again, further on: another history.
        assert_eq!(
            shard.apply_message(5, &bytes(&first)).unwrap_err(),
            "partition 0, stream sequence 5: holds revision 1, which this partition already has \
             (it is at revision 1): the stream is not this store's history (a stream made anew, \
             or a snapshot of another stream)"
        );
        let theirs = app_in(1, 2);
        let foreign = primary.insert(job("j-2", &theirs)).unwrap();
        assert_eq!(
            shard.apply_message(6, &bytes(&foreign)).unwrap_err(),
            format!(
                "partition 0, stream sequence 6: inserts job [j-2] of app [{theirs}], which is \
                 in partition 1 of 2"
            )
        );
        assert_eq!(
            (shard.read().sequence, shard.read().store.revision()),
            (3, 1)
        );
    }

    #[test]
    fn changes_are_routed_or_refused_saying_why() {
        let two: Partitions = "0/2".parse().unwrap();
        let shards = [Arc::new(Shard::new(0, 2, Replica::empty()))];
        let ours = app_in(0, 2);
        let theirs = app_in(1, 2);
        let (index, _) = route(&two, &shards, &insert("j-1", &ours)).unwrap();
        assert_eq!(index, 0);
        let refused = |line: &str| route(&two, &shards, line).err().unwrap();
        assert_eq!(
            refused(&insert("j-1", &theirs)),
            format!(
                "app [{theirs}] is in partition 1, not in the partitions this writer owns (0/2)"
            )
        );
        assert_eq!(
            refused(
                r#"{"event":"status","job_id":"j-9","status":"working","at":"2018-03-04T05:38:00Z"}"#
            ),
            "job [j-9] is not in the partitions this writer owns (0/2)"
        );
        assert_eq!(
            refused(r#"{"event":"prune","partition":1,"before":"2018-03-04T05:38:00Z"}"#),
            "partition 1 is not one of the partitions this writer owns (0/2)"
        );
        assert_eq!(
            refused(r#"{"event":"cancel"}"#),
            "not a change: `event` is insert, status or prune, not \"cancel\""
        );
        assert_eq!(
            refused(r#"{"event":"prune","partition":0,"before":"2018-03-04T05:37:60Z"}"#),
            "`before`: a leap second (:60) can only be 23:59:60 UTC"
        );
        assert!(refused("[").starts_with("not a change: EOF"));
        assert!(
            refused(r#"{"event":"prune","partition":0,"before":"2018-03-04T05:38:00Z","x":1}"#)
                .starts_with("not a change: unknown field `x`")
        );
    }
}
