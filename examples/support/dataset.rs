//! A deterministic synthetic job log, shaped like a busy control plane's
//! log:
//! - 100 apps of very unequal size (the largest about a fifth of all
//!   jobs), each with its own tenants (the largest 500 of the 1,000
//!   owners, the smallest 5), a few of them busy;
//! - long-lived clusters: one job in about 70 creates a cluster, one in
//!   200 ceases one, and every other job acts on a live cluster, the older
//!   ones far more often, so a busy cluster sees hundreds to thousands of
//!   jobs and a typical one dozens;
//! - skewed actions: starts, stops, resizes and restarts are most jobs;
//!   creates and ceases are rare, as they are in a real log;
//! - the newest jobs (the last 0.5%, at least 10) are the pending and
//!   working ones; the others finished, 6% of them failed with one of a
//!   handful of `error_codes`;
//! - create times one second apart on average with a few percent out of
//!   order, and directives of about 300 bytes.
//!
//! Shared by the example program (its built-in data) and the benchmarks,
//! so both speak of the same jobs. No `rand`: a SplitMix64 stream.

// Each includer uses its own part; the bench crate exports it, the example
// keeps it private.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;

use joblog::chrono::{DateTime, Duration, Utc};
use joblog::{Job, Status};

/// The fixed seed of the data set.
pub const SEED: u64 = 0x6a6f_626c_6f67;
/// How many apps.
pub const APPS: usize = 100;
/// How many owners.
pub const OWNERS: usize = 1_000;
/// The actions jobs are started by.
pub const ACTIONS: [&str; 12] = [
    "CreateCluster",
    "StartClusters",
    "StopClusters",
    "RestartClusters",
    "CeaseResources",
    "ResizeCluster",
    "AddClusterNodes",
    "DeleteClusterNodes",
    "UpgradeClusters",
    "UpdateClusterEnvironment",
    "ChangeClusterVxnet",
    "RunClusterCustomService",
];

/// A SplitMix64 random stream: small, fast and the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Eight base-36 characters naming `n`, scrambled so neighbours differ.
fn name(prefix: &str, n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    // An odd multiplier is a bijection on 2^40, which 36^8 covers.
    let mut x = n.wrapping_mul(0x009e_3779_b97f) & ((1 << 40) - 1);
    let mut out = [b'0'; 8];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(x % 36) as usize];
        x /= 36;
    }
    format!("{prefix}-{}", String::from_utf8_lossy(&out))
}

/// The id of app `i`; app 0, the largest, is the API page's example app.
pub fn app(i: usize) -> String {
    if i == 0 {
        "app-tg3lbp0a".to_owned()
    } else {
        name("app", i as u64 + 1_000)
    }
}

/// The id of owner `i`.
pub fn owner(i: usize) -> String {
    name("usr", i as u64 + 5_000)
}

/// The id of job `i`.
pub fn job_id(i: usize) -> String {
    name("j", i as u64)
}

/// The first create time.
pub fn origin() -> DateTime<Utc> {
    DateTime::from_timestamp(1_520_141_878, 0).unwrap_or_default() // 2018-03-04T05:37:58Z
}

/// Cumulative weights of a Zipf(1) law over the apps: app `i` gets a share
/// of `1/(i+1)`, so app 0 holds about a fifth of all jobs.
fn app_weights() -> Vec<f64> {
    let mut total = 0.0;
    (0..APPS)
        .map(|i| {
            total += 1.0 / (i as f64 + 1.0);
            total
        })
        .collect()
}

/// How many tenants app `a` has: the large apps many, the small a few.
fn tenants(a: usize) -> usize {
    (OWNERS / 2 / (a + 1)).max(5)
}

/// The `k`-th tenant of app `a`; owner 0 is app 0's first (and busiest),
/// the example program's default caller.
fn tenant(a: usize, k: usize) -> usize {
    // 131 is prime to 1,000, so an app's tenants are distinct owners.
    (a * 7_919 + k * 131) % OWNERS
}

/// The actions of jobs on a live cluster, with their weights: starts,
/// stops, resizes and restarts first (creates and ceases come with a
/// cluster's life).
const ACTIONS_ON_LIVE: [(&str, u64); 10] = [
    ("StartClusters", 22),
    ("StopClusters", 21),
    ("ResizeCluster", 14),
    ("RestartClusters", 12),
    ("AddClusterNodes", 7),
    ("DeleteClusterNodes", 6),
    ("UpgradeClusters", 5),
    ("UpdateClusterEnvironment", 5),
    ("RunClusterCustomService", 5),
    ("ChangeClusterVxnet", 3),
];

/// What a failed job's `error_codes` says, with weights.
const ERROR_CODES: [(&str, u64); 7] = [
    ("5000", 30),
    ("5100", 20),
    ("2100", 15),
    ("1400", 10),
    ("2400", 10),
    ("5200", 10),
    ("5300", 5),
];

/// One of `choices`, by weight.
fn weighted<'a>(rng: &mut Rng, choices: &[(&'a str, u64)]) -> &'a str {
    let total: u64 = choices.iter().map(|(_, weight)| weight).sum();
    let mut pick = rng.below(total);
    for &(choice, weight) in choices {
        if pick < weight {
            return choice;
        }
        pick -= weight;
    }
    choices[0].0
}

/// A number in `0..n`, small ones far more likely (the square of a
/// uniform draw): the oldest clusters and first tenants are the busiest.
fn skewed(rng: &mut Rng, n: usize) -> usize {
    let u = rng.next_u64() as f64 / u64::MAX as f64;
    ((u * u * n as f64) as usize).min(n.saturating_sub(1))
}

/// A cluster: it lives in one app and belongs to one owner.
struct Cluster {
    id: String,
    app: usize,
    owner: usize,
}

/// `n` jobs, the same for the same `n`, in insertion order.
pub fn jobs(n: usize) -> Vec<Job> {
    let mut rng = Rng::new(SEED);
    let weights = app_weights();
    let sum = weights[APPS - 1];
    let apps: Vec<String> = (0..APPS).map(app).collect();
    let owners: Vec<String> = (0..OWNERS).map(owner).collect();
    let mut clusters: Vec<Cluster> = Vec::new();
    // Live clusters, oldest first but for the holes ceases leave, and
    // the live clusters of each (app, owner).
    let mut live: Vec<usize> = Vec::new();
    let mut of_tenant: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    let in_flight = (n / 200).max(10);
    (0..n)
        .map(|i| {
            let roll = rng.below(1_000);
            let (action, cluster) = if live.is_empty() || roll < 14 {
                let pick = rng.next_u64() as f64 / u64::MAX as f64 * sum;
                let app = weights.partition_point(|&w| w < pick).min(APPS - 1);
                let owner = tenant(app, skewed(&mut rng, tenants(app)));
                let id = clusters.len();
                clusters.push(Cluster {
                    id: name("cl", id as u64 + 10_000_000),
                    app,
                    owner,
                });
                live.push(id);
                of_tenant.entry((app, owner)).or_default().push(id);
                ("CreateCluster", id)
            } else if roll < 19 && live.len() > 10 {
                let at = rng.below(live.len() as u64) as usize;
                let id = live.swap_remove(at);
                let cluster = &clusters[id];
                if let Some(theirs) = of_tenant.get_mut(&(cluster.app, cluster.owner)) {
                    theirs.retain(|&other| other != id);
                }
                ("CeaseResources", id)
            } else {
                let id = live[skewed(&mut rng, live.len())];
                (weighted(&mut rng, &ACTIONS_ON_LIVE), id)
            };
            let Cluster { app, owner, .. } = clusters[cluster];
            // Now and then an action on several of the owner's clusters.
            let mut ids = vec![clusters[cluster].id.clone()];
            if action.ends_with("Clusters") && rng.below(100) < 5 {
                let theirs = of_tenant.get(&(app, owner)).map_or(&[][..], Vec::as_slice);
                for &other in theirs.iter().filter(|&&other| other != cluster).take(2) {
                    ids.push(clusters[other].id.clone());
                }
            }
            let status = if n - 1 - i < in_flight {
                if rng.below(100) < 40 {
                    Status::Pending
                } else {
                    Status::Working
                }
            } else if rng.below(100) < 6 {
                Status::Failed
            } else {
                Status::Successful
            };
            let mut seconds = i as i64;
            if rng.below(100) < 3 {
                seconds -= rng.below(600) as i64; // a late arrival
            }
            let created = origin() + Duration::seconds(seconds);
            let owner = &owners[owner];
            let mut job = Job::new(
                job_id(i),
                apps[app].clone(),
                owner.clone(),
                action,
                status,
                created,
            );
            job.status_time = match status {
                Status::Pending => created,
                Status::Working => created + Duration::milliseconds(rng.below(5_000) as i64),
                _ => created + Duration::milliseconds(1 + rng.below(120_000) as i64),
            };
            if status == Status::Failed {
                job.error_codes = weighted(&mut rng, &ERROR_CODES).to_owned();
            }
            job.resource_ids = ids.join(" ");
            job.directive = directive(owner, action, created, &ids);
            job.resources.insert("clusters".to_owned(), ids);
            job
        })
        .collect()
}

/// A directive shaped like the API page's example, about 300 bytes.
fn directive(owner: &str, action: &str, created: DateTime<Utc>, ids: &[String]) -> String {
    let ids = serde_json::to_string(ids).unwrap_or_default();
    let expires = joblog::format_timestamp(created + Duration::seconds(60));
    format!(
        r#"{{"sender":{{"lang":"en","user_id":"{owner}","console_id":"qingcloud","root_user_id":"{owner}","role":"user","privilege":1,"channel":"api"}},"zone":"pek3a","expires":"{expires}","action":"{action}","clusters":{ids},"resource_ids":{ids}}}"#
    )
}
