//! Any bytes as a change log or a snapshot: the first byte picks which.
//!
//! - Events: JSON lines read as events and applied to an empty store; a
//!   line that does not read is skipped. Applying never panics, a refusal
//!   changes nothing, and the store stays exact.
//! - Snapshot: JSON or postcard read as a store; a store that reads back
//!   is exact, writes the same snapshot again, and comes back the same
//!   through the other format.
#![no_main]

use joblog::{Event, JobStore};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => events(data),
        1 => {
            if let Ok(store) = serde_json::from_slice::<JobStore>(data) {
                exact(&store);
                let json = serde_json::to_string(&store).unwrap();
                let back: JobStore = serde_json::from_str(&json).unwrap();
                assert_eq!(serde_json::to_string(&back).unwrap(), json);
                // And through the binary form, which keeps the directive
                // escaped: the same store comes back.
                let bytes = postcard::to_allocvec(&store).unwrap();
                let binary: JobStore = postcard::from_bytes(&bytes).unwrap();
                assert_eq!(serde_json::to_string(&binary).unwrap(), json);
            }
        }
        _ => {
            if let Ok(store) = postcard::from_bytes::<JobStore>(data) {
                exact(&store);
                let bytes = postcard::to_allocvec(&store).unwrap();
                let back: JobStore = postcard::from_bytes(&bytes).unwrap();
                assert_eq!(postcard::to_allocvec(&back).unwrap(), bytes);
                let json = serde_json::to_string(&store).unwrap();
                let text: JobStore = serde_json::from_str(&json).unwrap();
                assert_eq!(postcard::to_allocvec(&text).unwrap(), bytes);
            }
        }
    }
});

fn events(data: &[u8]) {
    let mut store = JobStore::new();
    for line in data.split(|&b| b == b'\n') {
        let Ok(event) = serde_json::from_slice::<Event>(line) else {
            continue;
        };
        let before = (store.revision(), store.len());
        match store.apply(&event) {
            Ok(_) => assert!(store.revision() >= before.0),
            Err(err) => {
                assert_eq!((store.revision(), store.len()), before, "{err}");
                assert!(!err.to_string().is_empty());
            }
        }
    }
    exact(&store);
}

fn exact(store: &JobStore) {
    store.check_invariants().unwrap();
    let json = store.describe_json(&joblog::Caller::admin("root"), "app=app-1&limit=100");
    assert!(json.starts_with('{'));
}
