//! Prints one table of a benchmark run at one size: each benchmark's
//! median for joblog and each peer, the ratios, and every target of
//! SPEC §8 and the performance issue as met or missed. `bench/compare`
//! runs the benchmarks and then this.
//!
//! ```text
//! compare_table CRITERION_DIR SIZE [MEMORY_OUTPUT]
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

/// A benchmark's median in nanoseconds, and how many elements one
/// iteration handles (for a throughput).
struct Measured {
    median_ns: f64,
    elements: Option<u64>,
}

/// `group → engine → measurement`, for one size.
type Runs = BTreeMap<String, BTreeMap<String, Measured>>;

fn read_runs(dir: &Path, size: &str, runs: &mut Runs) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let new = path.join("new");
        let (bench, estimates) = (new.join("benchmark.json"), new.join("estimates.json"));
        if bench.is_file() && estimates.is_file() {
            let read = |file: &Path| -> Result<serde_json::Value, String> {
                let text = std::fs::read_to_string(file)
                    .map_err(|err| format!("{}: {err}", file.display()))?;
                serde_json::from_str(&text).map_err(|err| format!("{}: {err}", file.display()))
            };
            let (bench, estimates) = (read(&bench)?, read(&estimates)?);
            if bench["value_str"] != size {
                continue;
            }
            let (Some(group), Some(median_ns)) = (
                bench["group_id"].as_str(),
                estimates["median"]["point_estimate"].as_f64(),
            ) else {
                return Err(format!("{}: not a criterion result", new.display()));
            };
            // A benchmark of no engine (the hostile sizes, named by their
            // parameter alone) is not compared.
            let Some(engine) = bench["function_id"].as_str() else {
                continue;
            };
            let elements = bench["throughput"]["Elements"].as_u64();
            runs.entry(group.to_owned()).or_default().insert(
                engine.to_owned(),
                Measured {
                    median_ns,
                    elements,
                },
            );
        } else {
            read_runs(&path, size, runs)?;
        }
    }
    Ok(())
}

fn time(ns: f64) -> String {
    match ns {
        ns if ns >= 1e9 => format!("{:.2} s", ns / 1e9),
        ns if ns >= 1e6 => format!("{:.1} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.1} µs", ns / 1e3),
        ns => format!("{ns:.0} ns"),
    }
}

fn ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.2}×")
    }
}

/// A target's line: what, the number, met or missed.
fn verdict(what: &str, number: String, met: bool) -> String {
    let outcome = if met { "met" } else { "MISSED" };
    format!("| {what} | {number} | {outcome} |")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(size)) = (args.first(), args.get(1)) else {
        eprintln!("usage: compare_table CRITERION_DIR SIZE [MEMORY_OUTPUT]");
        return ExitCode::from(2);
    };
    let mut runs = Runs::new();
    if let Err(problem) = read_runs(Path::new(dir), size, &mut runs) {
        eprintln!("compare_table: {problem}");
        return ExitCode::from(2);
    }
    if runs.is_empty() {
        eprintln!("compare_table: no results at size {size} under {dir}");
        return ExitCode::from(2);
    }
    let peers = ["sqlite", "btree", "naive"];
    println!("Medians at {size} jobs (criterion):\n");
    println!(
        "| benchmark | joblog | sqlite | btree | naive | sqlite ÷ joblog | btree ÷ joblog | naive ÷ joblog |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (group, engines) in &runs {
        for (engine, ours) in engines
            .iter()
            .filter(|(engine, _)| engine.starts_with("joblog"))
        {
            let name = match engine.strip_prefix("joblog") {
                Some("") => group.clone(),
                Some(rest) => format!("{group}/{}", rest.trim_start_matches('_')),
                None => continue,
            };
            let cell = |peer: &str| {
                let suffix = engine.strip_prefix("joblog").unwrap_or("");
                engines.get(&format!("{peer}{suffix}"))
            };
            let times: Vec<String> = peers
                .iter()
                .map(|peer| cell(peer).map_or("–".to_owned(), |m| time(m.median_ns)))
                .collect();
            let ratios: Vec<String> = peers
                .iter()
                .map(|peer| {
                    cell(peer).map_or("–".to_owned(), |m| {
                        format!("{:.2}×", m.median_ns / ours.median_ns)
                    })
                })
                .collect();
            println!(
                "| {name} | {} | {} | {} |",
                time(ours.median_ns),
                times.join(" | "),
                ratios.join(" | ")
            );
        }
    }
    println!("\nTargets (SPEC §8 sets them at 1,000,000 jobs):\n");
    println!("| target | measured | |");
    println!("| --- | ---: | --- |");
    let joblog = |group: &str| runs.get(group).and_then(|engines| engines.get("joblog"));
    let peer = |group: &str, peer: &str| runs.get(group).and_then(|engines| engines.get(peer));
    let against = |group: &str, engine: &str, ours: &Measured| {
        peer(group, engine).map(|theirs| theirs.median_ns / ours.median_ns)
    };
    for (group, engines) in &runs {
        let (Some(ours), true) = (engines.get("joblog"), group.starts_with("describe/")) else {
            continue;
        };
        let name = group.trim_start_matches("describe/");
        if let Some(r) = against(group, "sqlite", ours) {
            println!(
                "{}",
                verdict(&format!("{name}: 20× SQLite"), ratio(r), r >= 20.0)
            );
        }
        if let Some(r) = against(group, "naive", ours) {
            println!(
                "{}",
                verdict(&format!("{name}: 1000× naive"), ratio(r), r >= 1000.0)
            );
        }
        if let Some(r) = against(group, "btree", ours) {
            let want = if matches!(name, "deep_page" | "three_status") {
                100.0
            } else {
                1.0
            };
            let label = if want > 1.0 {
                "100× btree"
            } else {
                "even with btree"
            };
            println!(
                "{}",
                verdict(&format!("{name}: {label}"), ratio(r), r >= want)
            );
        }
    }
    if let Some(first) = joblog("describe/first_page") {
        for group in [
            "describe/deep_page",
            "describe/three_status",
            "describe/window_first_page",
        ] {
            if let Some(ours) = joblog(group) {
                let r = ours.median_ns / first.median_ns;
                let what = format!(
                    "{}: at most 2× the first page",
                    group.trim_start_matches("describe/")
                );
                println!("{}", verdict(&what, format!("{r:.2}×"), r <= 2.0));
            }
        }
        if let Some(wire) = joblog("describe/wire") {
            let r = wire.median_ns / first.median_ns;
            println!(
                "{}",
                verdict(
                    "wire: at most 5× the typed first page",
                    format!("{r:.1}×"),
                    r <= 5.0
                )
            );
        }
    }
    let rates = [
        ("ingest/insert", "joblog", 1e6, "inserts one by one: 1M/s"),
        ("ingest/build", "joblog", 3e6, "bulk build: 3M/s"),
        (
            "ingest/build",
            "copy",
            3e6,
            "the floor under it, copying each job's text: 3M/s",
        ),
        (
            "ingest/apply",
            "joblog",
            1e6,
            "events applied to an empty store: 1M/s",
        ),
        ("snapshot", "read_json", 3e6, "snapshot read, JSON: 3M/s"),
        (
            "snapshot",
            "read_postcard",
            3e6,
            "snapshot read, postcard: 3M/s",
        ),
        (
            "ingest/status_change",
            "joblog",
            2e6,
            "status changes: 2M/s",
        ),
    ];
    for (group, engine, want, what) in rates {
        if let Some(m) = peer(group, engine) {
            let elements = m.elements.unwrap_or_else(|| size.parse().unwrap_or(0));
            let rate = elements as f64 / (m.median_ns / 1e9);
            println!("{}", verdict(what, format!("{:.0}/s", rate), rate >= want));
        }
    }
    if let Some(memory) = args.get(2) {
        let text = std::fs::read_to_string(memory).unwrap_or_default();
        let prefix = format!("memory/bytes_per_job/{size}");
        let line = text.lines().find(|line| line.starts_with(&prefix));
        let numbers: Vec<f64> = line
            .map(|line| {
                line[prefix.len()..]
                    .split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if let [ours, _naive, sqlite, ..] = numbers[..] {
            println!(
                "{}",
                verdict(
                    "heap per job no more than SQLite's",
                    format!("{ours:.0} B against {sqlite:.0} B"),
                    ours <= sqlite
                )
            );
        }
    }
    ExitCode::SUCCESS
}
