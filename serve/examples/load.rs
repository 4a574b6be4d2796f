//! A load check of `serve` on the demonstration data: first-page requests
//! over loopback from a few keep-alive clients for a bounded time, with
//! requests per second and p50/p99 latency, beside the library's own
//! `describe_json` for the same request, so the HTTP layer's cost shows.
//!
//! ```text
//! cargo run --release -p joblog-serve --bin serve &
//! cargo run --release -p joblog-serve --example load -- [ADDR] [SECONDS] [CLIENTS]
//! ```

#[path = "../../examples/support/dataset.rs"]
mod dataset;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use joblog::chrono::{DateTime, SecondsFormat, Utc};
use joblog::signature::{self, Method};
use joblog::{Caller, JobStore};

const QUERY: [(&str, &str); 3] = [
    ("action", "DescribeClusterJobs"),
    ("app", "app-tg3lbp0a"),
    ("limit", "20"),
];

/// A first-page request signed with the demonstration key, now.
fn request() -> String {
    let now: DateTime<Utc> = std::time::SystemTime::now().into();
    let stamp = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut params: Vec<(&str, &str)> = QUERY.to_vec();
    params.extend([
        ("access_key_id", "QYDEMOACCESSKEY"),
        ("signature_method", "HmacSHA256"),
        ("signature_version", "1"),
        ("time_stamp", stamp.as_str()),
    ]);
    let sig = signature::sign(
        Method::HmacSha256,
        "demo-secret-access-key",
        "GET",
        "/iaas/",
        &params,
    );
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &params {
        out.append_pair(name, value);
    }
    out.append_pair("signature", &sig);
    format!("GET /iaas/?{} HTTP/1.1\r\nHost: load\r\n\r\n", out.finish())
}

/// Sends requests on one connection until `until`; the latencies.
fn client(address: &str, until: Instant) -> Vec<Duration> {
    let stream = TcpStream::connect(address).expect("serve is listening");
    stream.set_nodelay(true).expect("nodelay");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut latencies = Vec::new();
    // Signed once a second: the signature is the client's cost, not the
    // server's.
    let mut signed = (Instant::now(), request());
    while Instant::now() < until {
        if signed.0.elapsed() > Duration::from_secs(1) {
            signed = (Instant::now(), request());
        }
        let start = Instant::now();
        writer.write_all(signed.1.as_bytes()).expect("write");
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read");
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length: ") {
                length = value.trim().parse().expect("a length");
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        latencies.push(start.elapsed());
        assert!(
            body.starts_with(br#"{"action":"DescribeClusterJobsResponse""#),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    latencies
}

fn main() {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:7878".to_owned());
    let seconds: u64 = args.next().map_or(10, |s| s.parse().expect("SECONDS"));
    let clients: usize = args.next().map_or(2, |s| s.parse().expect("CLIENTS"));
    let until = Instant::now() + Duration::from_secs(seconds);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let address = address.clone();
            std::thread::spawn(move || client(&address, until))
        })
        .collect();
    let mut latencies: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("a client"))
        .collect();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "http: {} requests in {seconds} s from {clients} clients: {:.0} requests/s, p50 {:?}, p99 {:?}",
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        at(0.5),
        at(0.99)
    );
    // The library alone, on the same data and request.
    let store = JobStore::from_jobs(dataset::jobs(100_000)).expect("the demonstration data");
    let caller = Caller::user(dataset::owner(0));
    let text = "action=DescribeClusterJobs&app=app-tg3lbp0a&limit=20";
    let mut times: Vec<Duration> = (0..2_000)
        .map(|_| {
            let start = Instant::now();
            let json = store.describe_json(&caller, text);
            let took = start.elapsed();
            assert!(json.len() > 100);
            took
        })
        .collect();
    times.sort();
    println!(
        "library: describe_json median {:?} (p99 {:?})",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
}
