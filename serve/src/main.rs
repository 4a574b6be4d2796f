//! joblog behind a real HTTP server (SPEC §11): axum on tokio, answering
//! `DescribeClusterJobs` on `/iaas/` for callers authenticated as
//! QingCloud's API signature version 1 authenticates them.
//!
//! ```text
//! serve [--listen ADDR] [--jobs FILE] [--events FILE] [--keys FILE]
//! ```
//!
//! Every API answer, errors included, is HTTP 200 with the API's JSON body
//! (the SDKs read `ret_code` from it). Nothing about a request is answered
//! before it is authenticated. Readers share the store behind a lock;
//! with `--events -` the server applies the events that arrive on standard
//! input while it serves, each under the write lock alone, so a reader
//! waits at most for one event, never for the stream.

#[path = "../../examples/support/dataset.rs"]
mod dataset;
#[path = "../../examples/support/files.rs"]
mod files;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use joblog::chrono::{DateTime, Duration, Utc};
use joblog::signature;
use joblog::{Caller, JobStore};
use serde::Deserialize;

/// The most bytes of a request body or query string.
const MAX_REQUEST: usize = 1 << 20;
/// How far a request's `time_stamp` may be from the server's clock.
const CLOCK_SKEW_MINUTES: i64 = 15;
/// The demonstration key, printed at start when no `--keys` is given.
const DEMO_KEY: &str = "QYDEMOACCESSKEY";
const DEMO_SECRET: &str = "demo-secret-access-key";

const USAGE: &str = "\
usage: serve [--listen ADDR] [--jobs FILE] [--events FILE] [--keys FILE]

Answers DescribeClusterJobs on http://ADDR/iaas/ (GET or form POST).

  --listen ADDR  where to listen (default 127.0.0.1:7878; port 0 picks one)
  --jobs FILE    job records, one JSON object a line (revisions 1 to n)
  --events FILE  change events, one JSON object a line, after the jobs;
                 '-' follows standard input while serving, each event
                 applied as it arrives; without --jobs and --events,
                 100,000 demonstration jobs
  --keys FILE    access keys, one JSON object a line:
                 {\"access_key_id\":…,\"secret_access_key\":…,\"user_id\":…,\"admin\":false}
                 without it, one demonstration key, printed at start";

struct Options {
    listen: String,
    jobs: Option<String>,
    events: Option<String>,
    keys: Option<String>,
}

/// Reads the command line; `Ok(None)` asks for the usage.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Option<Options>, String> {
    use lexopt::prelude::*;
    let mut listen = None;
    let mut jobs = None;
    let mut events = None;
    let mut keys = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|err| err.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long(name @ ("listen" | "jobs" | "events" | "keys")) => {
                let slot = match name {
                    "listen" => &mut listen,
                    "jobs" => &mut jobs,
                    "events" => &mut events,
                    _ => &mut keys,
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
        listen: listen.unwrap_or_else(|| "127.0.0.1:7878".to_owned()),
        jobs,
        events,
        keys,
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

struct Served {
    store: RwLock<JobStore>,
    keys: HashMap<String, Key>,
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
    let store = match served.store.read() {
        Ok(store) => store,
        // A writer that panicked left the store as it was: reads go on.
        Err(poisoned) => poisoned.into_inner(),
    };
    json(store.describe_json(&caller, &request))
}

/// Applies the change events that arrive on standard input, one at a
/// time, each under the write lock for only as long as it takes: readers
/// wait at most for one event, never for the stream. A bad line, a gap or
/// a divergence stops the following (the store keeps what it applied),
/// named `-:line` on standard error.
fn follow_stdin(served: &Served) {
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
            let mut store = match served.store.write() {
                Ok(store) => store,
                Err(poisoned) => poisoned.into_inner(),
            };
            files::apply(&mut store, &at, &event)
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
    let options = match files::options(parse_args(std::env::args_os().skip(1)), "serve", USAGE) {
        Ok(options) => options,
        Err(code) => return code,
    };
    // `--events -` is followed while serving; a file is read at start.
    let follow = options.events.as_deref() == Some("-");
    let events = options.events.as_deref().filter(|_| !follow);
    let built = if follow && options.jobs.is_none() {
        Ok(JobStore::new()) // the events alone make the store
    } else {
        files::build(options.jobs.as_deref(), events)
    };
    let store = match built {
        Ok(store) => store,
        Err(problem) => {
            eprintln!("serve: {problem}");
            return ExitCode::from(2);
        }
    };
    let keys = match &options.keys {
        Some(path) => match read_keys(path) {
            Ok(keys) => keys,
            Err(problem) => {
                eprintln!("serve: {problem}");
                return ExitCode::from(2);
            }
        },
        None => HashMap::from([(
            DEMO_KEY.to_owned(),
            Key {
                secret: DEMO_SECRET.to_owned(),
                caller: Caller::user(dataset::owner(0)),
            },
        )]),
    };
    let demo = options.keys.is_none();
    let served = Arc::new(Served {
        store: RwLock::new(store),
        keys,
    });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("serve: cannot start the runtime: {err}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&options.listen).await {
            Ok(listener) => listener,
            Err(err) => {
                eprintln!("serve: cannot listen on {}: {err}", options.listen);
                return ExitCode::from(2);
            }
        };
        let address = listener
            .local_addr()
            .map_or_else(|_| options.listen.clone(), |address| address.to_string());
        println!("listening on http://{address}/iaas/");
        if demo {
            println!(
                "demonstration key: access_key_id={DEMO_KEY} secret_access_key={DEMO_SECRET} \
                 (user {})",
                dataset::owner(0)
            );
        }
        if follow {
            let served = Arc::clone(&served);
            std::thread::spawn(move || follow_stdin(&served));
        }
        let app = Router::new()
            .route("/iaas/", get(iaas).post(iaas))
            .layer(DefaultBodyLimit::max(MAX_REQUEST))
            .with_state(served);
        match axum::serve(listener, app)
            .with_graceful_shutdown(shutdown())
            .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("serve: {err}");
                ExitCode::from(2)
            }
        }
    })
}
