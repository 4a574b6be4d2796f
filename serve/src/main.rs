//! joblog behind a real HTTP server (SPEC §11): axum on tokio, answering
//! `DescribeClusterJobs` on `/iaas/` for callers authenticated as
//! QingCloud's API signature version 1 authenticates them.
//!
//! ```text
//! serve [--listen ADDR] [--jobs FILE] [--events FILE] [--keys FILE]
//! serve --follow NATS_URL --partitions LIST/COUNT [--snapshots DIR] [--listen ADDR] [--keys FILE]
//! serve --publish NATS_URL --partitions LIST/COUNT
//! ```
//!
//! Every API answer, errors included, is HTTP 200 with the API's JSON body
//! (the SDKs read `ret_code` from it). Nothing about a request is answered
//! before it is authenticated. Readers share the store behind a lock;
//! with `--events -` the server applies the events that arrive on standard
//! input while it serves, each under the write lock alone, so a reader
//! waits at most for one event, never for the stream.
//!
//! Beyond one machine (SPEC §12), `--publish` is the writer of some
//! partitions on NATS JetStream, and `--follow` a replica of some: see
//! [`cluster`].

mod cluster;
#[path = "../../examples/support/dataset.rs"]
mod dataset;
#[path = "../../examples/support/files.rs"]
mod files;
mod partition;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration as Wait;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use joblog::chrono::{DateTime, Duration, Utc};
use joblog::signature;
use joblog::{Caller, JobStore};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::cluster::{Replica, Shard, Snapshots, Writer};
use crate::partition::Partitions;

/// The most bytes of a request body or query string.
const MAX_REQUEST: usize = 1 << 20;
/// How far a request's `time_stamp` may be from the server's clock.
const CLOCK_SKEW_MINUTES: i64 = 15;
/// The demonstration key, printed at start when no `--keys` is given.
const DEMO_KEY: &str = "QYDEMOACCESSKEY";
const DEMO_SECRET: &str = "demo-secret-access-key";
/// How long a query with `min_revision` waits for its partition to reach
/// it before it is 5100 (ServerBusy, which the SDKs retry).
const MIN_REVISION_WAIT: Wait = Wait::from_secs(2);
/// The revision an answer reflects, and the partition it came from.
const REVISION_HEADER: HeaderName = HeaderName::from_static("x-joblog-revision");
const PARTITION_HEADER: HeaderName = HeaderName::from_static("x-joblog-partition");

const USAGE: &str = "\
usage: serve [--listen ADDR] [--jobs FILE] [--events FILE] [--keys FILE]
       serve --follow NATS_URL --partitions LIST/COUNT [--snapshots DIR]
             [--snapshot-every N] [--snapshot-seconds T] [--listen ADDR] [--keys FILE]
       serve --publish NATS_URL --partitions LIST/COUNT

Answers DescribeClusterJobs on http://ADDR/iaas/ (GET or form POST); a
query may carry min_revision=R to be answered once its app's partition has
applied revision R (5100 after 2 s); every answer says its revision in the
X-Joblog-Revision header.

  --listen ADDR  where to listen (default 127.0.0.1:7878; port 0 picks one)
  --jobs FILE    job records, one JSON object a line (revisions 1 to n)
  --events FILE  change events, one JSON object a line, after the jobs;
                 '-' follows standard input while serving, each event
                 applied as it arrives; without --jobs and --events,
                 100,000 demonstration jobs
  --keys FILE    access keys, one JSON object a line:
                 {\"access_key_id\":…,\"secret_access_key\":…,\"user_id\":…,\"admin\":false}
                 without it, one demonstration key, printed at start
  --follow URL   a replica: follow the partitions' events on the NATS
                 JetStream server at URL, from their last snapshots
  --publish URL  the writer: read changes on standard input, one JSON
                 object a line, publish each event to URL, then apply it;
                 print {\"partition\":…,\"revision\":…,\"changed\":…} or
                 {\"error\":…} for each
  --partitions LIST/COUNT
                 the partitions served of how many (0,2-3/4 or all/4); an
                 app's partition is FNV-1a 64 of its id, modulo COUNT
  --snapshots DIR  where a replica keeps a snapshot of each partition,
                 written every N events (--snapshot-every, default 10000)
                 or T seconds (--snapshot-seconds, default 60)";

struct Options {
    listen: Option<String>,
    jobs: Option<String>,
    events: Option<String>,
    keys: Option<String>,
    follow: Option<String>,
    publish: Option<String>,
    partitions: Option<String>,
    snapshots: Option<String>,
    snapshot_every: Option<String>,
    snapshot_seconds: Option<String>,
}

/// What the command line asks the program to be.
enum Mode {
    /// One store, from files or the demonstration data.
    Single,
    /// A replica of some partitions.
    Follow {
        url: String,
        partitions: Partitions,
        snapshots: Option<Snapshots>,
    },
    /// The writer of some partitions.
    Publish { url: String, partitions: Partitions },
}

impl Options {
    fn mode(&self) -> Result<Mode, String> {
        let only = |name: &str, given: bool, with: &str| {
            if given {
                Err(format!("{name} is only for {with}"))
            } else {
                Ok(())
            }
        };
        let cluster = self.follow.is_some() || self.publish.is_some();
        if self.follow.is_some() && self.publish.is_some() {
            return Err("--follow and --publish are two programs: give one".to_owned());
        }
        only(
            "--partitions",
            self.partitions.is_some() && !cluster,
            "--follow and --publish",
        )?;
        only(
            "--snapshots",
            self.snapshots.is_some() && self.follow.is_none(),
            "--follow",
        )?;
        only(
            "--snapshot-every",
            self.snapshot_every.is_some() && self.snapshots.is_none(),
            "--snapshots",
        )?;
        only(
            "--snapshot-seconds",
            self.snapshot_seconds.is_some() && self.snapshots.is_none(),
            "--snapshots",
        )?;
        if !cluster {
            return Ok(Mode::Single);
        }
        if self.jobs.is_some() || self.events.is_some() {
            return Err(
                "--jobs and --events are for a single store: a replica reads \
                        its partitions' events from the stream"
                    .to_owned(),
            );
        }
        let partitions = self
            .partitions
            .as_deref()
            .ok_or("--follow and --publish need --partitions LIST/COUNT")?
            .parse()?;
        if let Some(url) = &self.publish {
            only("--keys", self.keys.is_some(), "--follow and a single store")?;
            only(
                "--listen",
                self.listen.is_some(),
                "--follow and a single store",
            )?;
            return Ok(Mode::Publish {
                url: url.clone(),
                partitions,
            });
        }
        let number = |name: &str, value: &Option<String>, default: u64| match value {
            None => Ok(default),
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name} must be a whole number above 0, not {text:?}")),
        };
        let snapshots = match &self.snapshots {
            None => None,
            Some(dir) => Some(Snapshots {
                dir: dir.into(),
                every_events: number("--snapshot-every", &self.snapshot_every, 10_000)?,
                every: Wait::from_secs(number("--snapshot-seconds", &self.snapshot_seconds, 60)?),
            }),
        };
        Ok(Mode::Follow {
            url: self.follow.clone().unwrap_or_default(),
            partitions,
            snapshots,
        })
    }
}

/// Reads the command line; `Ok(None)` asks for the usage.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Option<Options>, String> {
    use lexopt::prelude::*;
    let mut listen = None;
    let mut jobs = None;
    let mut events = None;
    let mut keys = None;
    let mut follow = None;
    let mut publish = None;
    let mut partitions = None;
    let mut snapshots = None;
    let mut snapshot_every = None;
    let mut snapshot_seconds = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|err| err.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long(
                name @ ("listen" | "jobs" | "events" | "keys" | "follow" | "publish" | "partitions"
                | "snapshots" | "snapshot-every" | "snapshot-seconds"),
            ) => {
                let slot = match name {
                    "listen" => &mut listen,
                    "jobs" => &mut jobs,
                    "events" => &mut events,
                    "keys" => &mut keys,
                    "follow" => &mut follow,
                    "publish" => &mut publish,
                    "partitions" => &mut partitions,
                    "snapshots" => &mut snapshots,
                    "snapshot-every" => &mut snapshot_every,
                    _ => &mut snapshot_seconds,
                };
                let name = format!("--{name}");
                let value = parser
                    .value()
                    .map_err(|_| format!("{name} needs a value"))?
                    .into_string()
                    .map_err(|_| format!("{name} is not valid UTF-8"))?;
                if slot.replace(value).is_some() {
                    return Err(format!("{name} is given more than once"));
                }
            }
            Long(option) => return Err(format!("unknown option --{option}")),
            Short(option) => return Err(format!("unknown option -{option}")),
            Value(value) => {
                return Err(format!("unexpected argument {}", value.to_string_lossy()));
            }
        }
    }
    Ok(Some(Options {
        listen,
        jobs,
        events,
        keys,
        follow,
        publish,
        partitions,
        snapshots,
        snapshot_every,
        snapshot_seconds,
    }))
}

/// One line of a keys file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyLine {
    access_key_id: String,
    secret_access_key: String,
    user_id: String,
    #[serde(default)]
    admin: bool,
}

/// A key's secret and the caller it stands for.
struct Key {
    secret: String,
    caller: Caller,
}

fn read_keys(path: &str) -> Result<HashMap<String, Key>, String> {
    let file = std::fs::File::open(path).map_err(|err| format!("{path}: {err}"))?;
    let mut keys = HashMap::new();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let at = format!("{path}:{}", number + 1);
        let line = line.map_err(|err| format!("{at}: {err}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let key: KeyLine = serde_json::from_str(&line).map_err(|err| format!("{at}: {err}"))?;
        let caller = if key.admin {
            Caller::admin(key.user_id)
        } else {
            Caller::user(key.user_id)
        };
        let entry = Key {
            secret: key.secret_access_key,
            caller,
        };
        if keys.insert(key.access_key_id.clone(), entry).is_some() {
            return Err(format!(
                "{at}: access key [{}] is given twice",
                key.access_key_id
            ));
        }
    }
    Ok(keys)
}

/// What the HTTP side answers from: the keys, and a shard for each
/// partition served (one of one for a single store), in partition order.
struct Served {
    keys: HashMap<String, Key>,
    partitions: Partitions,
    shards: Vec<Arc<Shard>>,
}

impl Served {
    /// The shard of a request's app, or its partition and why it is not
    /// here. A request without an app goes to the first shard, which says
    /// what is missing.
    fn shard(&self, pairs: &[(String, String)]) -> Result<&Arc<Shard>, (u32, String)> {
        let Some((_, app)) = pairs.iter().find(|(name, _)| name == "app") else {
            return Ok(&self.shards[0]);
        };
        let (partition, served) = self.partitions.locate(app);
        let index = self.partitions.served().binary_search(&partition);
        match index {
            Ok(index) if served => Ok(&self.shards[index]),
            _ => Err((
                partition,
                refusal(
                    1100,
                    &format!(
                        "ParameterError, app [{app}] is in partition {partition} of {}, which \
                     this replica does not serve (it serves {}): ask a replica of partition \
                     {partition}",
                        self.partitions.count(),
                        self.partitions
                    ),
                ),
            )),
        }
    }
}

/// A whole number written in decimal digits only (no sign).
fn digits(value: &str) -> Option<Option<u64>> {
    let plain = !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit());
    plain.then(|| value.parse().ok()).flatten().map(Some)
}

/// A request's `min_revision` (an extension: answer once the partition has
/// applied it), or the error body.
fn min_revision(pairs: &[(String, String)]) -> Result<Option<u64>, String> {
    let mut given = pairs.iter().filter(|(name, _)| name == "min_revision");
    match (given.next(), given.next()) {
        (None, _) => Ok(None),
        (Some((_, value)), None) => digits(value).ok_or_else(|| {
            refusal(
                1100,
                &format!(
                    "ParameterError, min_revision must be a revision (a whole number from 0), \
                     not [{value}]"
                ),
            )
        }),
        (Some(_), Some(_)) => Err(refusal(
            1100,
            "ParameterError, min_revision takes one value",
        )),
    }
}

/// The API's JSON error body.
fn refusal(ret_code: i32, message: &str) -> String {
    serde_json::json!({ "ret_code": ret_code, "message": message }).to_string()
}

fn json(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Authenticates a request: its key, its signature, its times. The
/// caller of the key, or the error body.
fn authenticate(served: &Served, verb: &str, pairs: &[(String, String)]) -> Result<Caller, String> {
    let params: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut ids = params.iter().filter(|(name, _)| *name == "access_key_id");
    let id = match (ids.next(), ids.next()) {
        (Some((_, id)), None) => *id,
        _ => {
            return Err(refusal(
                1200,
                "AuthenticationFailed, the request needs exactly one [access_key_id]",
            ));
        }
    };
    let Some(key) = served.keys.get(id) else {
        return Err(refusal(
            1200,
            &format!("AuthenticationFailed, access key [{id}] is not known"),
        ));
    };
    let checked = signature::verify(&key.secret, verb, "/iaas/", &params).and_then(|()| {
        let now: DateTime<Utc> = std::time::SystemTime::now().into();
        signature::check_time(&params, now, Duration::minutes(CLOCK_SKEW_MINUTES))
    });
    match checked {
        Ok(()) => Ok(key.caller.clone()),
        Err(err) => Err(refusal(err.ret_code(), &err.to_string())),
    }
}

async fn iaas(
    State(served): State<Arc<Served>>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    // The request's bytes: a POST's form body, a GET's query string (which
    // the HTTP layer already holds to 64 KiB).
    let request: Vec<u8> = if method == Method::POST {
        body.to_vec()
    } else {
        query.unwrap_or_default().into_bytes()
    };
    if request.len() > MAX_REQUEST {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request over 1 MiB").into_response();
    }
    // Authenticated first, from the bytes as they are: nothing about the
    // request (not even that it is not UTF-8) is answered before.
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&request)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let caller = match authenticate(&served, method.as_str(), &pairs) {
        Ok(caller) => caller,
        Err(body) => return json(body),
    };
    let Ok(request) = String::from_utf8(request) else {
        return json(refusal(1100, "ParameterError, the request is not UTF-8"));
    };
    let shard = match served.shard(&pairs) {
        Ok(shard) => shard,
        // Misdirected: a request this replica cannot answer, whoever asks.
        Err((partition, body)) => return answer(body, partition, None),
    };
    let wanted = match min_revision(&pairs) {
        Ok(wanted) => wanted,
        Err(body) => return answer(body, shard.partition, Some(shard.read().store.revision())),
    };
    // A partition that stopped following will not get there: no wait.
    let wait = if shard.stopped().is_some() {
        std::time::Duration::ZERO
    } else {
        MIN_REVISION_WAIT
    };
    if let Some(wanted) = wanted
        && let Err(at) = shard.reach(wanted, wait).await
    {
        // A partition that stopped following will not get there: say why.
        let body = match shard.stopped() {
            Some(problem) => refusal(
                5000,
                &format!(
                    "InternalError, partition {} stopped following its events at revision \
                     {at}, below min_revision {wanted}: {problem}",
                    shard.partition
                ),
            ),
            None => refusal(
                5100,
                &format!(
                    "ServerBusy, partition {} is at revision {at}, below min_revision \
                     {wanted}, after waiting {} s: retry",
                    shard.partition,
                    MIN_REVISION_WAIT.as_secs()
                ),
            ),
        };
        return answer(body, shard.partition, Some(at));
    }
    let (body, revision) = {
        let replica = shard.read();
        let store = &replica.store;
        (store.describe_json(&caller, &request), store.revision())
    };
    answer(body, shard.partition, Some(revision))
}

/// An API answer (HTTP 200, errors too) with the partition it is about and
/// the revision it reflects, when it reflects one.
fn answer(body: String, partition: u32, revision: Option<u64>) -> Response {
    let mut response = json(body);
    let headers = response.headers_mut();
    headers.insert(PARTITION_HEADER, partition.into());
    if let Some(revision) = revision {
        headers.insert(REVISION_HEADER, revision.into());
    }
    response
}

/// Applies the change events that arrive on standard input, one at a
/// time, each under the write lock for only as long as it takes: readers
/// wait at most for one event, never for the stream. A bad line, a gap or
/// a divergence stops the following (the store keeps what it applied),
/// named `-:line` on standard error.
fn follow_stdin(shard: &Shard) {
    let lines = match files::lines("-") {
        Ok(lines) => lines,
        Err(problem) => {
            eprintln!("serve: {problem}");
            return;
        }
    };
    for line in lines {
        let applied = line.and_then(|(at, line)| {
            let event = files::event(&at, &line)?;
            shard.update(|replica| files::apply(&mut replica.store, &at, &event))
        });
        if let Err(problem) = applied {
            eprintln!("serve: stopped following the events: {problem}");
            return;
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

fn main() -> ExitCode {
    let parsed = parse_args(std::env::args_os().skip(1)).and_then(|options| {
        options
            .map(|options| options.mode().map(|mode| (options, mode)))
            .transpose()
    });
    let (options, mode) = match files::options(parsed, "serve", USAGE) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("serve: cannot start the runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let outcome = match mode {
        Mode::Publish { url, partitions } => runtime.block_on(publish(&url, partitions)),
        mode => runtime.block_on(serve(options, mode)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("serve: {problem}");
            ExitCode::from(2)
        }
    }
}

/// The most bytes of one change the writer reads.
const MAX_CHANGE: usize = 2 << 20;

/// Reads one line into `line`, keeping at most [`MAX_CHANGE`] bytes of it
/// (the rest is read and dropped): `None` at the end of the input, else
/// whether the line was kept whole.
async fn read_change(
    input: &mut (impl tokio::io::AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> Result<Option<bool>, String> {
    let fault = |err: std::io::Error| format!("standard input: {err}");
    line.clear();
    let read = (&mut *input)
        .take(MAX_CHANGE as u64 + 1)
        .read_until(b'\n', line)
        .await
        .map_err(fault)?;
    if read == 0 {
        return Ok(None);
    }
    let whole = line.ends_with(b"\n") || line.len() <= MAX_CHANGE;
    let mut rest = Vec::new();
    while !whole && !rest.ends_with(b"\n") {
        rest.clear();
        let more = (&mut *input)
            .take(1 << 16)
            .read_until(b'\n', &mut rest)
            .await
            .map_err(fault)?;
        if more == 0 {
            break;
        }
    }
    Ok(Some(whole))
}

/// The writer: one change a line on standard input, one answer a line on
/// standard output, until the input ends.
async fn publish(url: &str, partitions: Partitions) -> Result<(), String> {
    let context = cluster::connect(url).await?;
    let writer = Writer::open(context, partitions).await?;
    let positions: Vec<String> = writer
        .positions()
        .iter()
        .map(|(partition, revision, sequence)| {
            format!("{partition} at revision {revision} (stream sequence {sequence})")
        })
        .collect();
    let mut out = tokio::io::stdout();
    let say = |line: String| format!("{line}\n").into_bytes();
    let io = |err: std::io::Error| format!("standard output: {err}");
    out.write_all(&say(format!("ready: partitions {}", positions.join(", "))))
        .await
        .map_err(io)?;
    out.flush().await.map_err(io)?;
    let mut input = tokio::io::BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        let whole = match read_change(&mut input, &mut line).await? {
            None => break,
            Some(whole) => whole,
        };
        let text = std::str::from_utf8(&line);
        let outcome = match text {
            _ if !whole => Err(format!("a change is at most {MAX_CHANGE} bytes")),
            Err(_) => Err("the line is not UTF-8".to_owned()),
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => writer.write(text.trim_end()).await,
        };
        let answer = match outcome {
            Ok(written) => serde_json::to_string(&written).map_err(|err| err.to_string())?,
            Err(problem) => serde_json::json!({ "error": problem }).to_string(),
        };
        out.write_all(&say(answer)).await.map_err(io)?;
        out.flush().await.map_err(io)?;
    }
    Ok(())
}

/// The HTTP side: a single store, or a replica of some partitions.
async fn serve(options: Options, mode: Mode) -> Result<(), String> {
    let keys = match &options.keys {
        Some(path) => read_keys(path)?,
        None => HashMap::from([(
            DEMO_KEY.to_owned(),
            Key {
                secret: DEMO_SECRET.to_owned(),
                caller: Caller::user(dataset::owner(0)),
            },
        )]),
    };
    // `--events -` is followed while serving; a file is read at start.
    let stdin = options.events.as_deref() == Some("-");
    let (partitions, shards, follow) = match mode {
        Mode::Follow {
            url,
            partitions,
            snapshots,
        } => {
            if let Some(snapshots) = &snapshots {
                std::fs::create_dir_all(&snapshots.dir)
                    .map_err(|err| format!("{}: {err}", snapshots.dir.display()))?;
            }
            let mut shards = Vec::new();
            for &partition in partitions.served() {
                let started = std::time::Instant::now();
                let loaded = match &snapshots {
                    Some(snapshots) => snapshots.load(partition, &partitions)?,
                    None => None,
                };
                match &loaded {
                    Some(replica) => println!(
                        "partition {partition}: from its snapshot at revision {} (stream \
                         sequence {}, {} jobs, read in {} ms)",
                        replica.store.revision(),
                        replica.sequence,
                        replica.store.len(),
                        started.elapsed().as_millis()
                    ),
                    None => println!("partition {partition}: from the start of the stream"),
                }
                let replica = loaded.unwrap_or_else(Replica::empty);
                let count = partitions.count();
                shards.push(Arc::new(Shard::new(partition, count, replica)));
            }
            let context = cluster::connect(&url).await?;
            (partitions, shards, Some((context, snapshots)))
        }
        _ => {
            let events = options.events.as_deref().filter(|_| !stdin);
            let store = if stdin && options.jobs.is_none() {
                JobStore::new() // the events alone make the store
            } else {
                files::build(options.jobs.as_deref(), events)?
            };
            let replica = Replica { store, sequence: 0 };
            (
                Partitions::single(),
                vec![Arc::new(Shard::new(0, 1, replica))],
                None,
            )
        }
    };
    let listen = options.listen.as_deref().unwrap_or("127.0.0.1:7878");
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|err| format!("cannot listen on {listen}: {err}"))?;
    let address = listener
        .local_addr()
        .map_or_else(|_| listen.to_owned(), |address| address.to_string());
    println!("listening on http://{address}/iaas/");
    if options.keys.is_none() {
        println!(
            "demonstration key: access_key_id={DEMO_KEY} secret_access_key={DEMO_SECRET} \
             (user {})",
            dataset::owner(0)
        );
    }
    if stdin {
        let shard = Arc::clone(&shards[0]);
        std::thread::spawn(move || follow_stdin(&shard));
    }
    if let Some((context, snapshots)) = follow {
        for shard in &shards {
            tokio::spawn(cluster::follow(
                context.clone(),
                Arc::clone(shard),
                snapshots.clone(),
            ));
        }
    }
    let served = Arc::new(Served {
        keys,
        partitions,
        shards,
    });
    let app = Router::new()
        .route("/iaas/", get(iaas).post(iaas))
        .layer(DefaultBodyLimit::max(MAX_REQUEST))
        .with_state(served);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(args: &[&str]) -> Result<Mode, String> {
        let options = parse_args(args.iter().map(OsString::from))?.expect("options");
        options.mode()
    }

    fn refused(args: &[&str]) -> String {
        match mode(args) {
            Ok(_) => panic!("{args:?} was taken"),
            Err(problem) => problem,
        }
    }

    #[test]
    fn the_modes_read_from_the_command_line() {
        assert!(matches!(mode(&[]), Ok(Mode::Single)));
        let Ok(Mode::Follow {
            url,
            partitions,
            snapshots: Some(snapshots),
        }) = mode(&[
            "--follow",
            "nats://x:4222",
            "--partitions",
            "1,3/4",
            "--snapshots",
            "/tmp/s",
            "--snapshot-every",
            "7",
        ])
        else {
            panic!("not a replica");
        };
        assert_eq!(url, "nats://x:4222");
        assert_eq!(partitions.served(), [1, 3]);
        assert_eq!((snapshots.every_events, snapshots.every.as_secs()), (7, 60));
        assert!(matches!(
            mode(&["--publish", "nats://x", "--partitions", "all/2"]),
            Ok(Mode::Publish { .. })
        ));
    }

    #[test]
    fn conflicting_modes_say_what_is_wrong() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--follow", "u", "--publish", "u", "--partitions", "all/1"],
                "--follow and --publish are two programs: give one",
            ),
            (
                &["--partitions", "all/1"],
                "--partitions is only for --follow and --publish",
            ),
            (
                &[
                    "--publish",
                    "u",
                    "--partitions",
                    "all/1",
                    "--snapshots",
                    "d",
                ],
                "--snapshots is only for --follow",
            ),
            (
                &[
                    "--follow",
                    "u",
                    "--partitions",
                    "all/1",
                    "--snapshot-every",
                    "3",
                ],
                "--snapshot-every is only for --snapshots",
            ),
            (
                &[
                    "--follow",
                    "u",
                    "--partitions",
                    "all/1",
                    "--snapshot-seconds",
                    "3",
                ],
                "--snapshot-seconds is only for --snapshots",
            ),
            (
                &["--follow", "u"],
                "--follow and --publish need --partitions LIST/COUNT",
            ),
            (
                &["--follow", "u", "--partitions", "all/1", "--jobs", "f"],
                "--jobs and --events are for a single store: a replica reads its partitions' \
                 events from the stream",
            ),
            (
                &["--publish", "u", "--partitions", "all/1", "--keys", "k"],
                "--keys is only for --follow and a single store",
            ),
            (
                &["--publish", "u", "--partitions", "all/1", "--listen", "x:1"],
                "--listen is only for --follow and a single store",
            ),
            (
                &[
                    "--follow",
                    "u",
                    "--partitions",
                    "all/1",
                    "--snapshots",
                    "d",
                    "--snapshot-every",
                    "0",
                ],
                "--snapshot-every must be a whole number above 0, not \"0\"",
            ),
            (
                &["--follow", "u", "--partitions", "1/1"],
                "--partitions \"1/1\": \"1\" is not a partition of 1 (they are 0 to 0)",
            ),
        ];
        for (args, message) in cases {
            assert_eq!(refused(args), *message, "{args:?}");
        }
    }
}
