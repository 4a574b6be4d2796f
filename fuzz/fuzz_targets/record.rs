//! Any bytes as a JSON job record: parsing never panics, a record is
//! stored exactly when it is valid, and a stored job reads back equal and
//! answers as JSON.
#![no_main]

use joblog::{Caller, Job, JobStore};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(job) = serde_json::from_str::<Job>(text) else {
        return;
    };
    let mut store = JobStore::new();
    let valid = job.validate().is_ok();
    assert_eq!(store.insert(job.clone()).is_ok(), valid);
    if !valid {
        assert!(store.is_empty());
        return;
    }
    store.check_invariants().unwrap();
    assert_eq!(store.get(&job.job_id).unwrap().to_job(), job);
    let request = format!("app={}&jobs.1={}", urlencode(&job.app), urlencode(&job.job_id));
    let json = store.describe_json(&Caller::admin("root"), &request);
    let answer: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(answer["total_count"], 1, "{json}");
});

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}
