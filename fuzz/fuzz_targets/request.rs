//! Any bytes as a request string, against a small fixed store, for a user
//! and an administrator: the answer is always JSON with a `ret_code`, and a
//! success keeps its promises.
#![no_main]

use std::sync::OnceLock;

use joblog::{Caller, Job, JobStore, Status};
use libfuzzer_sys::fuzz_target;

fn store() -> &'static JobStore {
    static STORE: OnceLock<JobStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let mut store = JobStore::new();
        let t0 = chrono::DateTime::from_timestamp(1_520_141_878, 0).unwrap_or_default();
        for i in 0..60i64 {
            let status = Status::ALL[(i % 4) as usize];
            let mut job = Job::new(
                format!("j-{i}"),
                format!("app-{}", i % 3),
                format!("usr-{}", i % 4),
                ["Start", "Stop", "Cease"][(i % 3) as usize],
                status,
                t0 + chrono::Duration::seconds(i / 2),
            );
            job.resource_ids = format!("cl-{}", i % 5);
            if status == Status::Failed {
                job.error_codes = "5000".into();
            }
            store.insert(job).unwrap();
        }
        store
    })
}

fuzz_target!(|data: &[u8]| {
    let request = String::from_utf8_lossy(data);
    for caller in [Caller::user("usr-1"), Caller::admin("root")] {
        let json = store().describe_json(&caller, &request);
        let answer: serde_json::Value = serde_json::from_str(&json).unwrap();
        let code = answer["ret_code"].as_u64().unwrap();
        if code == 0 {
            let total = answer["total_count"].as_u64().unwrap();
            let jobs = answer["job_set"].as_array().unwrap();
            assert!(jobs.len() as u64 <= total.min(100));
            if !caller.is_admin() {
                assert!(jobs.iter().all(|job| job["owner"] == "usr-1"));
            }
        } else {
            assert!([1100, 1400, 2100].contains(&code), "{json}");
        }
    }
});
