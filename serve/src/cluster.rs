//! Partitions on NATS JetStream (SPEC §12): the writer that publishes each
//! change event before applying it, the replicas that follow the stream,
//! and the snapshot files they restart from.
//!
//! One stream, [`STREAM`], holds every partition's events, each on its own
//! subject (`joblog.events.<partition>`), one JSON event a message. A
//! message's id (`Nats-Msg-Id`) is `<partition>-<revision>`: the revision,
//! qualified by the partition because JetStream drops duplicates across the
//! whole stream, so a retried publish of an event is stored once. Every
//! publish also says which stream sequence it expects the partition's
//! subject to end at (`Nats-Expected-Last-Subject-Sequence`), so two
//! writers of one partition cannot interleave: the second is refused, and
//! re-reads.

use std::fs;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use joblog::chrono::{DateTime, Utc};
use joblog::{Change, Event, Job, JobStore, Status};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::partition::Partitions;

/// The JetStream stream of every partition's events.
pub const STREAM: &str = "JOBLOG";
/// How long a writer tries to publish one event (through reconnects and
/// a restart of the server) before it gives up on the change.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a follower waits after a lost connection before it asks again.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How often an idle follower looks at the clock for a timed snapshot.
const TICK: Duration = Duration::from_millis(500);

/// The subject of a partition's events.
pub fn subject(partition: u32) -> String {
    format!("joblog.events.{partition}")
}

/// The message id of a partition's event: unique in the whole stream.
pub fn message_id(partition: u32, revision: u64) -> String {
    format!("{partition}-{revision}")
}

/// A partition's store, and the stream sequence of the last event applied
/// to it (0 before the first).
pub struct Replica {
    pub store: JobStore,
    pub sequence: u64,
}

/// One partition served: its replica behind a lock (readers share it; an
/// event takes it alone, one event at a time), and the revision applied,
/// for queries that wait for a `min_revision`.
pub struct Shard {
    pub partition: u32,
    replica: RwLock<Replica>,
    applied: watch::Sender<u64>,
}

impl Shard {
    pub fn new(partition: u32, replica: Replica) -> Shard {
        let (applied, _) = watch::channel(replica.store.revision());
        Shard {
            partition,
            replica: RwLock::new(replica),
            applied,
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

    /// Makes a change under the lock, then tells the waiting queries the
    /// revision it leaves.
    pub fn update<T>(&self, change: impl FnOnce(&mut Replica) -> T) -> T {
        let mut replica = self.write();
        let outcome = change(&mut replica);
        let revision = replica.store.revision();
        drop(replica);
        self.applied.send_replace(revision);
        outcome
    }

    /// Waits until the partition has applied `revision`, for at most
    /// `wait`: the revision it is at, or `Err` with the revision it is at
    /// when the wait ran out.
    pub async fn reach(&self, revision: u64, wait: Duration) -> Result<u64, u64> {
        let mut applied = self.applied.subscribe();
        let reached = tokio::time::timeout(wait, applied.wait_for(|&at| at >= revision)).await;
        match reached {
            Ok(Ok(at)) => Ok(*at),
            _ => Err(*self.applied.borrow()),
        }
    }

    /// Applies the event stored at stream sequence `sequence`; one at or
    /// below the replica's sequence is skipped, as is an event the store
    /// already has. A message that is not an event, a gap or a divergence
    /// is an error naming the partition and the sequence.
    fn apply_message(&self, sequence: u64, payload: &[u8]) -> Result<(), String> {
        let at = format!("partition {}, stream sequence {sequence}", self.partition);
        let event: Event =
            serde_json::from_slice(payload).map_err(|err| format!("{at}: not an event: {err}"))?;
        self.update(|replica| {
            if sequence <= replica.sequence {
                return Ok(());
            }
            let _ = replica
                .store
                .apply(&event)
                .map_err(|err| format!("{at}: {err}"))?;
            replica.sequence = sequence;
            Ok(())
        })
    }
}

/// Connects to a NATS server and makes sure the stream is there (every
/// process asks for it with the same settings, so whichever comes first
/// makes it). The client reconnects by itself when the connection drops.
pub async fn connect(url: &str) -> Result<jetstream::Context, String> {
    let client = async_nats::connect(url)
        .await
        .map_err(|err| format!("cannot connect to NATS at {url}: {err}"))?;
    let context = jetstream::new(client);
    context
        .get_or_create_stream(stream::Config {
            name: STREAM.to_owned(),
            subjects: vec!["joblog.events.*".to_owned()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|err| format!("cannot open the JetStream stream {STREAM} at {url}: {err}"))?;
    Ok(context)
}

/// Why reading a partition's events stopped.
enum Stop {
    /// The connection or the server went away: ask again.
    Retry(String),
    /// The stream holds what cannot be applied: stop following.
    Fatal(String),
}

/// Where and how often a replica writes its snapshots.
#[derive(Clone)]
pub struct Snapshots {
    pub dir: PathBuf,
    /// After this many events…
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

    /// Writes the shard's snapshot atomically: to a temporary file, synced,
    /// then renamed over the last one.
    fn write(&self, shard: &Shard, partitions: u32) -> Result<(), String> {
        let path = self.path(shard.partition);
        let bytes = {
            let replica = shard.read();
            serde_json::to_vec(&SnapshotOut {
                partition: shard.partition,
                partitions,
                sequence: replica.sequence,
                store: &replica.store,
            })
            .map_err(|err| format!("{}: {err}", path.display()))?
        };
        let temporary = path.with_extension("json.tmp");
        let written = fs::File::create(&temporary).and_then(|mut file| {
            file.write_all(&bytes)?;
            file.sync_all()
        });
        written
            .and_then(|()| fs::rename(&temporary, &path))
            .map_err(|err| format!("{}: {err}", path.display()))
    }
}

/// The last stream sequence of a partition's subject (0 when it has no
/// event yet).
async fn last_sequence(context: &jetstream::Context, partition: u32) -> Result<u64, String> {
    let stream = context
        .get_stream_no_info(STREAM)
        .await
        .map_err(|err| err.to_string())?;
    match stream
        .get_last_raw_message_by_subject(&subject(partition))
        .await
    {
        Ok(message) => Ok(message.sequence),
        Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(0),
        Err(err) => Err(err.to_string()),
    }
}

/// Reads a partition's events after the replica's sequence and applies
/// them: until stream sequence `until` when given, else for ever, writing
/// snapshots as `snapshots` asks.
async fn read_events(
    context: &jetstream::Context,
    shard: &Arc<Shard>,
    until: Option<u64>,
    snapshots: Option<(&Snapshots, u32)>,
) -> Result<(), Stop> {
    let retry = |err: &dyn std::fmt::Display| Stop::Retry(err.to_string());
    let from = shard.read().sequence;
    if until.is_some_and(|until| from >= until) {
        return Ok(());
    }
    let stream = context
        .get_stream_no_info(STREAM)
        .await
        .map_err(|err| retry(&err))?;
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: subject(shard.partition),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: from + 1,
            },
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .map_err(|err| retry(&err))?;
    let mut messages = consumer.messages().await.map_err(|err| retry(&err))?;
    let mut since_snapshot = 0u64;
    let mut last_snapshot = Instant::now();
    loop {
        let next = tokio::time::timeout(TICK, messages.next()).await;
        if let Ok(next) = next {
            let message = match next {
                None => return Err(Stop::Retry("the message stream ended".to_owned())),
                Some(Err(err)) => return Err(retry(&err)),
                Some(Ok(message)) => message,
            };
            let sequence = message.info().map_err(|err| retry(&*err))?.stream_sequence;
            shard
                .apply_message(sequence, &message.payload)
                .map_err(Stop::Fatal)?;
            since_snapshot += 1;
            if until.is_some_and(|until| sequence >= until) {
                return Ok(());
            }
        }
        if let Some((snapshots, partitions)) = snapshots {
            let due = since_snapshot >= snapshots.every_events
                || (since_snapshot > 0 && last_snapshot.elapsed() >= snapshots.every);
            if due {
                let (shard, snapshots) = (Arc::clone(shard), snapshots.clone());
                let written =
                    tokio::task::spawn_blocking(move || snapshots.write(&shard, partitions)).await;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(problem)) => eprintln!("serve: cannot write a snapshot: {problem}"),
                    Err(err) => eprintln!("serve: the snapshot writer failed: {err}"),
                }
                since_snapshot = 0;
                last_snapshot = Instant::now();
            }
        }
    }
}

/// Follows a partition's events for as long as the process runs: through
/// lost connections and server restarts (each time from the last sequence
/// applied). An event that cannot be applied stops it, said on standard
/// error; the replica goes on answering at the revision it reached.
pub async fn follow(
    context: jetstream::Context,
    shard: Arc<Shard>,
    snapshots: Option<Snapshots>,
    partitions: u32,
) {
    loop {
        let snapshots = snapshots.as_ref().map(|snapshots| (snapshots, partitions));
        match read_events(&context, &shard, None, snapshots).await {
            Ok(()) => return,
            Err(Stop::Fatal(problem)) => {
                eprintln!(
                    "serve: partition {} stopped following the stream: {problem}",
                    shard.partition
                );
                return;
            }
            Err(Stop::Retry(problem)) => {
                eprintln!(
                    "serve: partition {}: following again after stream sequence {} ({problem})",
                    shard.partition,
                    shard.read().sequence
                );
                tokio::time::sleep(RETRY_PAUSE).await;
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
    /// The log did not take it in time.
    Unavailable(String),
}

/// The writer of some partitions: it holds their stores (caught up from
/// the stream when it starts), checks each change against them, publishes
/// the event and only then applies it.
pub struct Writer {
    context: jetstream::Context,
    partitions: Partitions,
    shards: Vec<Arc<Shard>>,
}

fn time(field: &str, text: &str) -> Result<DateTime<Utc>, String> {
    text.parse()
        .map_err(|err| format!("`{field}` must be an RFC 3339 time ({err})"))
}

impl Writer {
    /// A writer of `partitions`, caught up with what the stream holds.
    pub async fn open(
        context: jetstream::Context,
        partitions: Partitions,
    ) -> Result<Writer, String> {
        let shards = partitions
            .served()
            .iter()
            .map(|&partition| {
                let replica = Replica {
                    store: JobStore::new(),
                    sequence: 0,
                };
                Arc::new(Shard::new(partition, replica))
            })
            .collect();
        let writer = Writer {
            context,
            partitions,
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

    /// Reads what the stream holds of a partition beyond the store.
    async fn catch_up(&self, shard: &Arc<Shard>) -> Result<(), String> {
        let deadline = Instant::now() + PUBLISH_TIMEOUT;
        loop {
            let outcome = match last_sequence(&self.context, shard.partition).await {
                Ok(last) => read_events(&self.context, shard, Some(last), None).await,
                Err(problem) => Err(Stop::Retry(problem)),
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(Stop::Fatal(problem)) => return Err(problem),
                Err(Stop::Retry(problem)) if Instant::now() >= deadline => {
                    return Err(format!(
                        "partition {}: cannot read the stream: {problem}",
                        shard.partition
                    ));
                }
                Err(Stop::Retry(_)) => tokio::time::sleep(RETRY_PAUSE).await,
            }
        }
    }

    fn shard(&self, partition: u32) -> Option<&Arc<Shard>> {
        self.shards
            .iter()
            .find(|shard| shard.partition == partition)
    }

    /// Which partition a change goes to, and the change.
    fn route(&self, line: &str) -> Result<(&Arc<Shard>, Change), String> {
        let request = Request::read(line)?;
        let owned = || format!("the partitions this writer owns ({})", self.partitions);
        match request {
            Request::Insert(Insert { job, .. }) => {
                let (partition, served) = self.partitions.locate(&job.app);
                if !served {
                    return Err(format!(
                        "app [{}] is in partition {partition}, not in {}",
                        job.app,
                        owned()
                    ));
                }
                if let Some(other) = self
                    .shards
                    .iter()
                    .find(|shard| shard.read().store.get(&job.job_id).is_some())
                    && other.partition != partition
                {
                    return Err(format!(
                        "job [{}] is already in partition {}: job ids are unique across partitions",
                        &job.job_id, other.partition
                    ));
                }
                let shard = self.shard(partition).ok_or_else(owned)?;
                Ok((shard, Change::Insert { job }))
            }
            Request::Status(StatusChange {
                job_id,
                status,
                at,
                error_codes,
                ..
            }) => {
                let at = time("at", &at)?;
                let shard = self
                    .shards
                    .iter()
                    .find(|shard| shard.read().store.get(&job_id).is_some())
                    .ok_or_else(|| format!("job [{job_id}] is not in {}", owned()))?;
                let change = Change::Status {
                    job_id,
                    status,
                    at,
                    error_codes,
                };
                Ok((shard, change))
            }
            Request::Prune(Prune {
                partition,
                before,
                limit,
                ..
            }) => {
                let before = time("before", &before)?;
                let shard = self
                    .shard(partition)
                    .ok_or_else(|| format!("partition {partition} is not one of {}", owned()))?;
                let change = Change::Prune {
                    before,
                    limit,
                    dropped: 0,
                };
                Ok((shard, change))
            }
        }
    }

    /// Makes one change (a line of JSON): checks it, publishes its event,
    /// applies it. A change that fails its checks, or that the log does not
    /// take, changes nothing.
    pub async fn write(&self, line: &str) -> Result<Written, String> {
        let (shard, change) = self.route(line)?;
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
        match self
            .publish(partition, event.revision, &payload, expected)
            .await
        {
            Ok(sequence) => {
                shard.apply_message(sequence, &payload)?;
                Ok(Written {
                    partition,
                    revision: event.revision,
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
            Err(Refused::Unavailable(why)) => Err(format!(
                "partition {partition}: the event log did not take revision {} within {} s \
                 ({why}): nothing was changed, send the change again",
                event.revision,
                PUBLISH_TIMEOUT.as_secs()
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
        loop {
            let message = PublishMessage::build()
                .payload(payload.to_vec().into())
                .message_id(message_id(partition, revision))
                .expected_last_subject_sequence(expected);
            let acked = match self.context.send_publish(subject(partition), message).await {
                Ok(ack) => ack.await,
                Err(err) => Err(err),
            };
            let problem = match acked {
                Ok(ack) if !ack.duplicate => return Ok(ack.sequence),
                // The id is in the stream: this event, sent before (its
                // answer lost), or another writer's event of the same
                // revision.
                Ok(ack) => match self.stored(ack.sequence).await {
                    Ok(stored) if stored == payload => return Ok(ack.sequence),
                    Ok(_) => {
                        return Err(Refused::Lost(format!(
                            "revision {revision} is already in the stream, at sequence {}",
                            ack.sequence
                        )));
                    }
                    Err(problem) => problem,
                },
                Err(err) if err.kind() == PublishErrorKind::WrongLastSequence => {
                    return Err(Refused::Lost(format!(
                        "its stream no longer ends at sequence {expected}"
                    )));
                }
                Err(err) => err.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(Refused::Unavailable(problem));
            }
            eprintln!(
                "serve: partition {partition}: publishing revision {revision} again ({problem})"
            );
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// The payload the stream holds at a sequence.
    async fn stored(&self, sequence: u64) -> Result<Vec<u8>, String> {
        let stream = self
            .context
            .get_stream_no_info(STREAM)
            .await
            .map_err(|err| err.to_string())?;
        let message = stream
            .get_raw_message(sequence)
            .await
            .map_err(|err| err.to_string())?;
        Ok(message.payload.to_vec())
    }
}
