//! `serve` as a process on an ephemeral loopback port, spoken to over
//! plain HTTP/1.1 with requests signed in the test.

mod support;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use support::{Client, DESCRIBE, Server, now, ret_code, signed};

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

/// Every answer says the revision it reflects; `min_revision` waits for
/// it (here: for an event on standard input), and refuses after 2 s.
#[test]
fn min_revision_waits_for_the_revision_and_answers_say_theirs() {
    let mut server = Server::start_with(&["--events", "-"]);
    let query = |extra: &[(&str, &str)]| {
        let mut params = vec![DESCRIBE, ("app", "app-1"), ("limit", "0")];
        params.extend(extra);
        signed("GET", "QYADMINKEY", "admin-secret", &params, now())
    };
    let answer = server.client.get_answer(&query(&[]));
    assert_eq!(ret_code(&answer.body), 0);
    // The jobs file makes revisions 1 to 30.
    assert_eq!(answer.header("x-joblog-revision").as_deref(), Some("30"));
    assert_eq!(answer.header("x-joblog-partition").as_deref(), Some("0"));
    let answer = server.client.get_answer(&query(&[("min_revision", "30")]));
    assert_eq!(ret_code(&answer.body), 0);
    let answer = server.client.get_answer(&query(&[("min_revision", "31")]));
    assert_eq!(
        answer.body,
        r#"{"message":"ServerBusy, partition 0 is at revision 30, below min_revision 31, after waiting 2 s: retry","ret_code":5100}"#
    );
    for (value, message) in [
        (
            "x",
            "ParameterError, min_revision must be a revision (a whole number from 0), not [x]",
        ),
        (
            "-1",
            "ParameterError, min_revision must be a revision (a whole number from 0), not [-1]",
        ),
        (
            "+5",
            "ParameterError, min_revision must be a revision (a whole number from 0), not [+5]",
        ),
    ] {
        let answer = server.client.get_answer(&query(&[("min_revision", value)]));
        assert_eq!(ret_code(&answer.body), 1100);
        assert!(answer.body.contains(message), "{}", answer.body);
    }
    let twice = query(&[("min_revision", "1"), ("min_revision", "2")]);
    let answer = server.client.get_answer(&twice);
    assert!(
        answer
            .body
            .contains("ParameterError, min_revision takes one value"),
        "{}",
        answer.body
    );
    // A query that waits is answered as soon as its revision is applied.
    let client = server.client.clone();
    let waiting = query(&[("min_revision", "31")]);
    let reader = std::thread::spawn(move || client.get_answer(&waiting));
    std::thread::sleep(Duration::from_millis(300));
    let mut stdin = server.child.stdin.take().expect("piped");
    writeln!(
        stdin,
        r#"{{"revision":31,"event":"insert","job":{{"job_id":"late","app":"app-1","owner":"usr-1","job_action":"RunJob","status":"pending","create_time":"2018-03-05T00:00:00Z"}}}}"#
    )
    .unwrap();
    stdin.flush().unwrap();
    let answer = reader.join().expect("the reader");
    assert_eq!(ret_code(&answer.body), 0, "{}", answer.body);
    assert_eq!(answer.header("x-joblog-revision").as_deref(), Some("31"));
    let total: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(total["total_count"], 31);
}
