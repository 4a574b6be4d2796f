//! What the programs share: a store from `--jobs` and `--events` files (or
//! the demonstration data), every bad line named by `file:line`.
//!
//! Included by path (`#[path]`) by the example and the `serve` member, the
//! way the data set is.

// Shared by programs that each use what they need.
#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::process::ExitCode;

use joblog::{Applied, Event, Job, JobStore};

use crate::dataset;

/// How many jobs the built-in demonstration data holds.
pub const DEMO_JOBS: usize = 100_000;

/// The non-blank lines of a file (`-`: standard input), each with its
/// `file:line` for messages.
pub fn lines(path: &str) -> Result<impl Iterator<Item = Result<(String, String), String>>, String> {
    let reader: Box<dyn BufRead> = if path == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        let file = File::open(path).map_err(|err| format!("{path}: {err}"))?;
        Box::new(BufReader::new(file))
    };
    let path = path.to_owned();
    Ok(reader
        .lines()
        .enumerate()
        .filter_map(move |(number, line)| {
            let at = format!("{path}:{}", number + 1);
            match line {
                Err(err) => Some(Err(format!("{at}: {err}"))),
                Ok(line) if number == 0 && line.starts_with('\u{FEFF}') => Some(Err(format!(
                    "{at}: the file starts with a UTF-8 byte order mark (BOM); \
                 save it as UTF-8 without one"
                ))),
                Ok(line) if line.trim().is_empty() => None,
                Ok(line) => Some(Ok((at, line))),
            }
        }))
}

/// Reads job records, one JSON object a line, inserting each in turn.
fn load(store: &mut JobStore, path: &str) -> Result<(), String> {
    for line in lines(path)? {
        let (at, line) = line?;
        let job: Job = serde_json::from_str(&line).map_err(|err| format!("{at}: {err}"))?;
        store.insert(job).map_err(|err| format!("{at}: {err}"))?;
    }
    Ok(())
}

/// Reads change events, one JSON object a line, applying each in turn;
/// an event already applied is skipped.
fn replay(store: &mut JobStore, path: &str) -> Result<(), String> {
    for line in lines(path)? {
        let (at, line) = line?;
        let event = event(&at, &line)?;
        apply(store, &at, &event)?;
    }
    Ok(())
}

/// One line of an events file read as an event.
pub fn event(at: &str, line: &str) -> Result<Event, String> {
    serde_json::from_str(line).map_err(|err| format!("{at}: {err}"))
}

/// Applies an event read at `at`; one already applied is skipped.
pub fn apply(store: &mut JobStore, at: &str, event: &Event) -> Result<(), String> {
    let _: Applied = store.apply(event).map_err(|err| format!("{at}: {err}"))?;
    Ok(())
}

/// The store a command line names: the jobs, then the events; or the
/// demonstration data when neither is given.
pub fn build(jobs: Option<&str>, events: Option<&str>) -> Result<JobStore, String> {
    if jobs.is_none() && events.is_none() {
        return JobStore::from_jobs(dataset::jobs(DEMO_JOBS))
            .map_err(|err| format!("the demonstration data: {err}"));
    }
    let mut store = JobStore::new();
    if let Some(path) = jobs {
        load(&mut store, path)?;
    }
    if let Some(path) = events {
        replay(&mut store, path)?;
    }
    Ok(store)
}

/// A parsed command line, or what the program does instead: `Ok(None)`
/// prints the usage and succeeds, an error is shown with the usage and
/// exits 2.
pub fn options<T>(
    parsed: Result<Option<T>, String>,
    program: &str,
    usage: &str,
) -> Result<T, ExitCode> {
    match parsed {
        Ok(Some(options)) => Ok(options),
        Ok(None) => {
            println!("{usage}");
            Err(ExitCode::SUCCESS)
        }
        Err(problem) => {
            eprintln!("{program}: {problem}\n\n{usage}");
            Err(ExitCode::from(2))
        }
    }
}
