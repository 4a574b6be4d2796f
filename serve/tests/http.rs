//! `serve` as a process on an ephemeral loopback port, spoken to over
//! plain HTTP/1.1 with requests signed in the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use joblog::chrono::{DateTime, SecondsFormat, Utc};
use joblog::signature::{self, Method};

/// A running `serve`, stopped when dropped.
struct Server {
    child: Child,
    client: Client,
}

/// Speaks HTTP/1.1 to a server's address, one connection a request.
#[derive(Clone)]
struct Client {
    address: String,
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    /// With more arguments, and standard input piped.
    fn start_with(more: &[&str]) -> Server {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let mut child = Command::new(env!("CARGO_BIN_EXE_serve"))
            .args(["--listen", "127.0.0.1:0"])
            .args(["--keys", &format!("{fixtures}/keys.jsonl")])
            .args(["--jobs", &format!("{fixtures}/jobs.jsonl")])
            .args(more)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("piped");
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line).expect("a first line");
        // Whatever it prints later is read, so it never writes to a closed
        // pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let address = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.strip_suffix("/iaas/"))
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_owned();
        Server {
            child,
            client: Client { address },
        }
    }
}

impl Client {
    /// Sends raw HTTP and returns (status, content type, body).
    fn send(&self, request: &[u8]) -> (u16, String, String) {
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
        let content_type = head
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase()
                    .strip_prefix("content-type: ")
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        (status, content_type, body.to_owned())
    }

    fn get(&self, query: &str) -> (u16, String, String) {
        self.send(
            format!("GET /iaas/?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
    }

    fn post(&self, body: &str) -> (u16, String, String) {
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request string signed as the SDKs sign it, at time `at`.
fn signed(
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

fn now() -> DateTime<Utc> {
    std::time::SystemTime::now().into()
}

fn ret_code(body: &str) -> i64 {
    let answer: serde_json::Value = serde_json::from_str(body).expect("JSON");
    answer["ret_code"].as_i64().expect("ret_code")
}

const DESCRIBE: (&str, &str) = ("action", "DescribeClusterJobs");

#[test]
fn signed_requests_are_answered_and_the_rest_refused_in_the_body() {
    let server = Server::start();
    let query = signed(
        "GET",
        "QYUSERKEY",
        "user-secret",
        &[DESCRIBE, ("app", "app-1"), ("limit", "2")],
        now(),
    );
    let (status, content_type, body) = server.client.get(&query);
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["ret_code"], 0);
    // usr-1 owns 20 of the 30 jobs; newest first.
    assert_eq!(answer["total_count"], 20);
    assert_eq!(answer["job_set"][0]["job_id"], "j-29");
    let form = signed(
        "POST",
        "QYADMINKEY",
        "admin-secret",
        &[DESCRIBE, ("app", "app-1"), ("limit", "0")],
        now(),
    );
    let (status, _, body) = server.client.post(&form);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["total_count"],
        30
    );
    // A GET signature does not sign a POST.
    let (_, _, body) = server.client.post(&query);
    assert_eq!(ret_code(&body), 1200);
    // Wrong secret, unknown key, no signature: 1200, in a 200 answer.
    for query in [
        signed(
            "GET",
            "QYUSERKEY",
            "wrong",
            &[DESCRIBE, ("app", "app-1")],
            now(),
        ),
        signed(
            "GET",
            "QYNOKEY",
            "user-secret",
            &[DESCRIBE, ("app", "app-1")],
            now(),
        ),
        "action=DescribeClusterJobs&app=app-1&access_key_id=QYUSERKEY".to_owned(),
    ] {
        let (status, content_type, body) = server.client.get(&query);
        assert_eq!(
            (status, content_type.as_str(), ret_code(&body)),
            (200, "application/json", 1200),
            "{body}"
        );
    }
    // An old time_stamp: 1300.
    let old = "2018-03-04T05:37:58Z".parse().unwrap();
    let (_, _, body) = server.client.get(&signed(
        "GET",
        "QYUSERKEY",
        "user-secret",
        &[DESCRIBE, ("app", "app-1")],
        old,
    ));
    assert_eq!(ret_code(&body), 1300);
    assert!(body.contains("MessageExpired"), "{body}");
    // Parameters are looked at only once authenticated.
    let bad = signed(
        "GET",
        "QYUSERKEY",
        "wrong",
        &[DESCRIBE, ("app", "app-1"), ("limit", "x")],
        now(),
    );
    assert_eq!(ret_code(&server.client.get(&bad).2), 1200);
    let bad = signed(
        "GET",
        "QYUSERKEY",
        "user-secret",
        &[DESCRIBE, ("app", "app-1"), ("limit", "x")],
        now(),
    );
    assert_eq!(ret_code(&server.client.get(&bad).2), 1100);
    let other = signed(
        "GET",
        "QYUSERKEY",
        "user-secret",
        &[("action", "DescribeInstances")],
        now(),
    );
    let (_, _, body) = server.client.get(&other);
    assert_eq!(ret_code(&body), 1100);
    assert!(body.contains("DescribeInstances"), "{body}");
}

#[test]
fn a_body_that_is_not_utf8_is_first_of_all_not_authenticated() {
    let server = Server::start();
    let mut request = b"POST /iaas/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
        Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1\r\n\r\n"
        .to_vec();
    request.push(0xFF);
    let (status, _, body) = server.client.send(&request);
    assert_eq!((status, ret_code(&body)), (200, 1200), "{body}");
}

#[test]
fn http_limits_paths_and_methods() {
    let server = Server::start();
    let big = "a".repeat((1 << 20) + 1);
    let (status, _, _) = server.client.post(&big);
    assert_eq!(status, 413);
    // A query string is held to 64 KiB by the HTTP layer.
    let long = format!("action=DescribeClusterJobs&app={}", "a".repeat(70_000));
    let (status, _, _) = server.client.get(&long);
    assert_eq!(status, 414);
    let (status, _, _) = server
        .client
        .send(b"GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 404);
    let (status, _, _) = server
        .client
        .send(b"PUT /iaas/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status, 405);
}

#[test]
fn readers_are_answered_side_by_side() {
    let server = Server::start();
    let readers: Vec<_> = (0..8)
        .map(|i| {
            let probe = server.client.clone();
            std::thread::spawn(move || {
                for offset in 0..20 {
                    let limit = (1 + (i + offset) % 5).to_string();
                    let offset = offset.to_string();
                    let query = signed(
                        "GET",
                        "QYADMINKEY",
                        "admin-secret",
                        &[
                            DESCRIBE,
                            ("app", "app-1"),
                            ("offset", &offset),
                            ("limit", &limit),
                        ],
                        now(),
                    );
                    let (status, _, body) = probe.get(&query);
                    assert_eq!((status, ret_code(&body)), (200, 0));
                    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(answer["total_count"], 30);
                }
            })
        })
        .collect();
    for reader in readers {
        reader.join().expect("a reader");
    }
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let mut server = Server::start();
    let (status, _, _) = server.client.get("action=DescribeClusterJobs&app=app-1");
    assert_eq!(status, 200);
    let pid = server.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = server.child.wait().expect("serve exits");
    assert!(status.success(), "{status:?}");
}

/// With `--events -`, events arriving on standard input are applied while
/// readers read: every answer is a state the log went through (its count
/// never goes back), and the last one has every insert.
#[test]
fn readers_read_while_events_arrive() {
    const INSERTS: usize = 300;
    let mut server = Server::start_with(&["--events", "-"]);
    let mut stdin = server.child.stdin.take().expect("piped");
    let count = |client: &Client| -> u64 {
        let query = signed(
            "GET",
            "QYADMINKEY",
            "admin-secret",
            &[DESCRIBE, ("app", "app-1"), ("limit", "1")],
            now(),
        );
        let (status, _, body) = client.get(&query);
        assert_eq!((status, ret_code(&body)), (200, 0), "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        answer["total_count"].as_u64().unwrap()
    };
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let client = server.client.clone();
            std::thread::spawn(move || {
                // Read until every insert is seen, each count no lower
                // than the one before.
                let mut last = 30;
                for _ in 0..5_000 {
                    let seen = count(&client);
                    assert!(
                        (last..=30 + INSERTS as u64).contains(&seen),
                        "{last} then {seen}"
                    );
                    last = seen;
                    if seen == 30 + INSERTS as u64 {
                        break;
                    }
                }
                last
            })
        })
        .collect();
    // The jobs file made revisions 1 to 30; each insert is the next,
    // written a few at a time while the readers read.
    for i in 0..INSERTS {
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let line = format!(
            r#"{{"revision":{},"event":"insert","job":{{"job_id":"late-{i}","app":"app-1","owner":"usr-1","job_action":"RunJob","status":"pending","create_time":"2018-03-05T00:00:00Z"}}}}"#,
            31 + i
        );
        writeln!(stdin, "{line}").expect("serve reads its input");
    }
    stdin.flush().unwrap();
    for reader in readers {
        let last = reader.join().expect("a reader");
        assert_eq!(last, 30 + INSERTS as u64, "a reader saw every insert");
    }
    let mut seen = 0;
    for _ in 0..200 {
        seen = count(&server.client);
        if seen == 30 + INSERTS as u64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(seen, 30 + INSERTS as u64);
}
