//! Heap bytes per job: joblog's store, the naive `Vec`, and SQLite's pages,
//! on the same benchmark data. `cargo bench --bench memory`
//! (`JOBLOG_BENCH_SIZES` as for the engines bench).

#[path = "../../tests/support/counting.rs"]
mod counting;

use counting::held;
use joblog::JobStore;
use joblog_bench::{dataset, peers};

fn main() {
    let sizes: Vec<usize> = std::env::var("JOBLOG_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    println!("memory/bytes_per_job   joblog    naive   sqlite  (joblog/sqlite)");
    for n in sizes {
        let jobs = dataset::jobs(n);
        let mut sqlite = peers::Sqlite::new();
        sqlite.insert_all(&jobs);
        let pages: i64 = sqlite
            .db
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .expect("page_count");
        let page_size: i64 = sqlite
            .db
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .expect("page_size");
        let sqlite_bytes = (pages * page_size) as f64 / n as f64;
        drop(sqlite);

        let start = held();
        let naive = jobs.clone();
        let naive_bytes = (held() - start) as f64 / n as f64;
        drop(naive);

        let start = held();
        let mut store = JobStore::new();
        for job in jobs.iter().cloned() {
            store.insert(job).expect("valid");
        }
        let joblog_bytes = (held() - start) as f64 / n as f64;
        assert_eq!(store.len(), n);
        println!(
            "memory/bytes_per_job/{n:<8} {joblog_bytes:>7.0} {naive_bytes:>8.0} {sqlite_bytes:>8.0}  ({:.2})",
            joblog_bytes / sqlite_bytes
        );
    }
}
