//! What the serve tests share: `serve` as a process on an ephemeral
//! loopback port, spoken to over plain HTTP/1.1 with requests signed in
//! the test.

// Each test file uses what it needs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use joblog::chrono::{DateTime, SecondsFormat, Utc};
use joblog::signature::{self, Method};

/// A running `serve`, stopped when dropped.
pub struct Server {
    pub child: Child,
    pub client: Client,
    /// What it printed before it said where it listens.
    pub preamble: Vec<String>,
}

/// Speaks HTTP/1.1 to a server's address, one connection a request.
#[derive(Clone)]
pub struct Client {
    pub address: String,
}

/// An HTTP answer.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// A header's value (the name in lower case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(": ")?;
            (key.to_ascii_lowercase() == name).then(|| value.to_owned())
        })
    }
}

/// The processes started here, so that a test that runs out of time can
/// stop them before it exits.
static STARTED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn started(child: &Child) {
    STARTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(child.id());
}

fn forget(child: &Child) {
    STARTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .retain(|pid| *pid != child.id());
}

/// Stops a process started here, and forgets it.
fn stop(child: &mut Child) {
    let _ = child.kill();
    // Forgotten before it is reaped, so its number cannot be another
    // process's by the time a watchdog reads the list.
    forget(child);
    let _ = child.wait();
}

/// Bounds a test in time while it is held: a writer or replica that hangs
/// would otherwise hold the test on a pipe for ever. Past `limit`, every
/// process started here and still running is killed and the test process
/// exits, failing.
pub struct Watchdog(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

pub fn watchdog(limit: Duration) -> Watchdog {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = std::sync::Arc::clone(&done);
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if seen.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("the test ran over {limit:?}: stopping its processes");
        let pids = STARTED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for pid in pids.iter() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        std::process::exit(101);
    });
    Watchdog(done)
}

/// The `serve` program: cargo names it to tests; a program beside it
/// (an example) finds it in its target directory.
pub fn serve_binary() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_serve") {
        Some(path) => path.into(),
        None => {
            let me = std::env::current_exe().expect("the running program");
            let profile = me
                .parent()
                .and_then(Path::parent)
                .expect("target/<profile>");
            profile.join("serve")
        }
    }
}

/// `serve` with these arguments, its standard input and output piped, its
/// errors shown.
fn spawn_serve(args: &[&str]) -> Child {
    let child = Command::new(serve_binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve starts");
    started(&child);
    child
}

/// The test keys and jobs.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// With the test keys and jobs, more arguments, and standard input
    /// piped.
    pub fn start_with(more: &[&str]) -> Server {
        let keys = format!("{FIXTURES}/keys.jsonl");
        let jobs = format!("{FIXTURES}/jobs.jsonl");
        let mut args = vec!["--keys", &keys, "--jobs", &jobs];
        args.extend(more);
        Server::spawn(&args)
    }

    /// `serve --listen 127.0.0.1:0` with these arguments, once it says
    /// where it listens.
    pub fn spawn(args: &[&str]) -> Server {
        let mut listen = vec!["--listen", "127.0.0.1:0"];
        listen.extend(args);
        let mut child = spawn_serve(&listen);
        let stdout = child.stdout.take().expect("piped");
        let mut stdout = BufReader::new(stdout);
        let mut preamble = Vec::new();
        let address = loop {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).expect("serve's output");
            assert!(read > 0, "serve exited before listening: {preamble:?}");
            let line = line.trim().to_owned();
            if let Some(address) = line
                .strip_prefix("listening on http://")
                .and_then(|rest| rest.strip_suffix("/iaas/"))
            {
                break address.to_owned();
            }
            preamble.push(line);
        };
        // Whatever it prints later is read, so it never writes to a closed
        // pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Server {
            child,
            client: Client { address },
            preamble,
        }
    }
}

impl Client {
    /// Sends raw HTTP and returns the answer.
    pub fn answer(&self, request: &[u8]) -> Answer {
        let mut stream = TcpStream::connect(&self.address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // The server may answer and close before it reads a large body.
        let _ = stream.write_all(request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        Answer {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        }
    }

    /// Sends raw HTTP and returns (status, content type, body).
    pub fn send(&self, request: &[u8]) -> (u16, String, String) {
        let answer = self.answer(request);
        let content_type = answer.header("content-type").unwrap_or_default();
        (answer.status, content_type, answer.body)
    }

    pub fn get_answer(&self, query: &str) -> Answer {
        self.answer(
            format!("GET /iaas/?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
    }

    pub fn get(&self, query: &str) -> (u16, String, String) {
        let answer = self.get_answer(query);
        let content_type = answer.header("content-type").unwrap_or_default();
        (answer.status, content_type, answer.body)
    }

    pub fn post(&self, body: &str) -> (u16, String, String) {
        self.send(
            format!(
                "POST /iaas/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A request string signed as the SDKs sign it, at time `at`.
pub fn signed(
    verb: &str,
    key: &str,
    secret: &str,
    params: &[(&str, &str)],
    at: DateTime<Utc>,
) -> String {
    let stamp = at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut all: Vec<(&str, &str)> = params.to_vec();
    all.extend([
        ("access_key_id", key),
        ("signature_method", "HmacSHA256"),
        ("signature_version", "1"),
        ("time_stamp", stamp.as_str()),
    ]);
    let sig = signature::sign(Method::HmacSha256, secret, verb, "/iaas/", &all);
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &all {
        out.append_pair(name, value);
    }
    out.append_pair("signature", &sig);
    out.finish()
}

pub fn now() -> DateTime<Utc> {
    std::time::SystemTime::now().into()
}

pub fn ret_code(body: &str) -> i64 {
    let answer: serde_json::Value = serde_json::from_str(body).expect("JSON");
    answer["ret_code"].as_i64().expect("ret_code")
}

pub const DESCRIBE: (&str, &str) = ("action", "DescribeClusterJobs");

/// A JetStream server on a loopback port, storing in a directory.
pub struct Nats {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl Nats {
    /// On a port the server picks itself (no race with other tests).
    pub fn start(dir: &Path) -> Nats {
        let (child, port) = Nats::spawn(dir, "-1");
        Nats {
            child,
            dir: dir.to_owned(),
            port,
        }
    }

    /// `nats-server` with JetStream, once it says it is ready: the process
    /// and its port.
    pub fn spawn(dir: &Path, port: &str) -> (Child, u16) {
        let mut child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", port, "-sd"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nats-server runs (serve/tests/cluster.sh installs it)");
        started(&child);
        let mut log = BufReader::new(child.stderr.take().expect("piped"));
        let mut port = None;
        let mut seen = Vec::new();
        loop {
            let mut line = String::new();
            let read = log.read_line(&mut line).expect("the server's log");
            assert!(
                read > 0,
                "nats-server stopped before it was ready: {seen:?}"
            );
            if let Some((_, at)) = line.split_once("Listening for client connections on ") {
                port = at.trim().rsplit(':').next().and_then(|p| p.parse().ok());
            }
            if line.contains("Server is ready") {
                break;
            }
            seen.push(line);
        }
        std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
        (child, port.expect("the server says its port"))
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server and starts it again on the same port and store.
    pub fn restart(&mut self) {
        stop(&mut self.child);
        std::thread::sleep(Duration::from_millis(300));
        self.child = Nats::spawn(&self.dir, &self.port.to_string()).0;
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// `serve --publish`: one change a line in, one answer a line out.
pub struct Writer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub ready: String,
}

impl Writer {
    pub fn start(url: &str, partitions: &str) -> Writer {
        let mut child = spawn_serve(&["--publish", url, "--partitions", partitions]);
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut ready = String::new();
        stdout
            .read_line(&mut ready)
            .expect("the writer says it is ready");
        assert!(ready.starts_with("ready: "), "{ready:?}");
        Writer {
            child,
            stdin,
            stdout,
            ready,
        }
    }

    pub fn send(&mut self, change: &Value) -> Value {
        self.send_line(change.to_string().as_bytes())
    }

    /// Sends one line of any bytes (a newline is added) and reads the
    /// answer.
    pub fn send_line(&mut self, bytes: &[u8]) -> Value {
        self.stdin.write_all(bytes).expect("the writer reads");
        self.stdin.write_all(b"\n").expect("the writer reads");
        self.stdin.flush().expect("the writer reads");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the writer answers");
        serde_json::from_str(&line).unwrap_or_else(|err| panic!("{line:?}: {err}"))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
