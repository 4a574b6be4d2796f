//! Answers one `DescribeClusterJobs` request from the command line.
//!
//! ```text
//! cargo run --release --example describe -- [--jobs FILE] [--caller USER] [--admin] 'QUERY'
//! ```
//!
//! Prints the answer JSON on one line; exits 0 when `ret_code` is 0, 1 when
//! it is not, and 2 when the command line or the jobs file cannot be used.

#[path = "support/dataset.rs"]
mod dataset;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::process::ExitCode;

use joblog::{Caller, Job, JobStore};

/// How many jobs the built-in demonstration data holds.
const DEMO_JOBS: usize = 100_000;

const USAGE: &str = "\
usage: describe [--jobs FILE] [--caller USER] [--admin] 'QUERY'

Answers one DescribeClusterJobs request and prints the JSON answer.

  QUERY          the request string, e.g. 'app=app-tg3lbp0a&status.1=pending&limit=5'
  --jobs FILE    job records, one JSON object a line ('-' for standard input);
                 without it, 100,000 built-in demonstration jobs
  --caller USER  the caller's user id (default: a user owning demonstration jobs)
  --admin        the caller is an administrator (sees every job of the app)

Exit status: 0 answered, 1 answered with an error (ret_code != 0),
2 the command line or the jobs file could not be used.";

struct Options {
    jobs: Option<String>,
    caller: String,
    admin: bool,
    query: String,
}

/// Reads the command line; `Ok(None)` asks for the usage.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Option<Options>, String> {
    use lexopt::prelude::*;

    let mut jobs = None;
    let mut caller = None;
    let mut admin = false;
    let mut query = None;
    let mut parser = lexopt::Parser::from_args(args);
    let text = |what: &str, value: OsString| {
        value
            .into_string()
            .map_err(|value| format!("{what} is not valid UTF-8: {}", value.to_string_lossy()))
    };
    while let Some(arg) = parser.next().map_err(|err| err.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("admin") => admin = true,
            Long(name @ ("jobs" | "caller")) => {
                let name = format!("--{name}");
                let value = parser
                    .value()
                    .map_err(|_| format!("{name} needs a value"))?;
                let value = text(&name, value)?;
                let slot = if name == "--jobs" {
                    &mut jobs
                } else {
                    &mut caller
                };
                if slot.replace(value).is_some() {
                    return Err(format!("{name} is given more than once"));
                }
            }
            Value(value) => {
                if query.replace(text("QUERY", value)?).is_some() {
                    return Err("give exactly one QUERY".to_owned());
                }
            }
            Long(option) => return Err(format!("unknown option --{option}")),
            Short(option) => return Err(format!("unknown option -{option}")),
        }
    }
    let query = query.ok_or("missing QUERY")?;
    Ok(Some(Options {
        jobs,
        caller: caller.unwrap_or_else(|| dataset::owner(0)),
        admin,
        query,
    }))
}

/// Reads job records, one JSON object a line; blank lines are skipped.
fn load(path: &str) -> Result<JobStore, String> {
    let reader: Box<dyn BufRead> = if path == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        let file = File::open(path).map_err(|err| format!("{path}: {err}"))?;
        Box::new(BufReader::new(file))
    };
    let mut store = JobStore::new();
    for (number, line) in reader.lines().enumerate() {
        let at = format!("{path}:{}", number + 1);
        let line = line.map_err(|err| format!("{at}: {err}"))?;
        if number == 0 && line.starts_with('\u{FEFF}') {
            return Err(format!(
                "{at}: the file starts with a UTF-8 byte order mark (BOM); \
                 save it as UTF-8 without one"
            ));
        }
        if line.trim().is_empty() {
            continue;
        }
        let job: Job = serde_json::from_str(&line).map_err(|err| format!("{at}: {err}"))?;
        store.insert(job).map_err(|err| format!("{at}: {err}"))?;
    }
    Ok(store)
}

fn demo() -> Result<JobStore, String> {
    let mut store = JobStore::new();
    for job in dataset::jobs(DEMO_JOBS) {
        store
            .insert(job)
            .map_err(|err| format!("the demonstration data: {err}"))?;
    }
    Ok(store)
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("describe: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let store = match options.jobs.as_deref().map_or_else(demo, load) {
        Ok(store) => store,
        Err(problem) => {
            eprintln!("describe: {problem}");
            return ExitCode::from(2);
        }
    };
    let caller = if options.admin {
        Caller::admin(options.caller)
    } else {
        Caller::user(options.caller)
    };
    let (json, ok) = match store.describe_request(&caller, &options.query) {
        Ok(page) => (serde_json::to_string(&page), true),
        Err(err) => (serde_json::to_string(&err), false),
    };
    let json = match json {
        Ok(json) => json,
        Err(err) => {
            eprintln!("describe: cannot write the answer: {err}");
            return ExitCode::from(2);
        }
    };
    let mut stdout = io::stdout().lock();
    if writeln!(stdout, "{json}").is_err() {
        return ExitCode::from(2);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
