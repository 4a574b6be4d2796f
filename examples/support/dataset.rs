//! A deterministic synthetic job log, shaped like a busy control plane's
//! log: 100 apps of very unequal size (the largest about a fifth of
//! all jobs), 1,000 owners, statuses about 90% successful, 6% failed, 3%
//! working and 1% pending, a dozen actions, create times one second apart
//! on average with a few percent out of order, directives of about 300
//! bytes, and one to three clusters per job (each cluster belongs to one
//! app and owner).
//!
//! Shared by the example program (its built-in data) and the benchmarks,
//! so both speak of the same jobs. No `rand`: a SplitMix64 stream.

// Each includer uses its own part; the bench crate exports it, the example
// keeps it private.
#![allow(dead_code, unreachable_pub)]

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

/// How many clusters each owner has in each app: a cluster lives long and
/// sees many jobs (create, start, stop, resize, upgrade, …).
const CLUSTERS_PER_OWNER: u64 = 3;

fn cluster(app: usize, owner: usize, k: u64) -> String {
    name(
        "cl",
        ((app * OWNERS + owner) as u64) * CLUSTERS_PER_OWNER + k + 10_000_000,
    )
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

/// `n` jobs, the same for the same `n`, in insertion order.
pub fn jobs(n: usize) -> Vec<Job> {
    let mut rng = Rng::new(SEED);
    let weights = app_weights();
    let sum = weights[APPS - 1];
    let apps: Vec<String> = (0..APPS).map(app).collect();
    let owners: Vec<String> = (0..OWNERS).map(owner).collect();
    (0..n)
        .map(|i| {
            let pick = rng.next_u64() as f64 / u64::MAX as f64 * sum;
            let app_index = weights.partition_point(|&w| w < pick).min(APPS - 1);
            let owner_index = rng.below(OWNERS as u64) as usize;
            let owner = &owners[owner_index];
            let action = ACTIONS[rng.below(ACTIONS.len() as u64) as usize];
            let status = match rng.below(100) {
                0 => Status::Pending,
                1..=3 => Status::Working,
                4..=9 => Status::Failed,
                _ => Status::Successful,
            };
            let mut seconds = i as i64;
            if rng.below(100) < 3 {
                seconds -= rng.below(600) as i64; // a late arrival
            }
            let created = origin() + Duration::seconds(seconds);
            let mut job = Job::new(
                job_id(i),
                apps[app_index].clone(),
                owner.clone(),
                action,
                status,
                created,
            );
            if status != Status::Pending {
                job.status_time = created + Duration::milliseconds(1 + rng.below(120_000) as i64);
            }
            if status == Status::Failed {
                job.error_codes = "5000".to_owned();
            }
            // A cluster belongs to one app and one owner, who runs many
            // jobs on each of their few clusters.
            let first = rng.below(CLUSTERS_PER_OWNER);
            let ids: Vec<String> = (0..1 + rng.below(3))
                .map(|k| cluster(app_index, owner_index, (first + k) % CLUSTERS_PER_OWNER))
                .collect();
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
