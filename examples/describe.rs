//! Answers one `DescribeClusterJobs` request from the command line.
//!
//! ```text
//! cargo run --release --example describe -- [--jobs FILE] [--events FILE] [--caller USER] [--admin] 'QUERY'
//! ```
//!
//! Prints the answer JSON on one line; exits 0 when `ret_code` is 0, 1 when
//! it is not, and 2 when the command line, the jobs file or the events
//! file cannot be used.

#[path = "support/dataset.rs"]
mod dataset;
#[path = "support/files.rs"]
mod files;

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use joblog::Caller;

const USAGE: &str = "\
usage: describe [--jobs FILE] [--events FILE] [--caller USER] [--admin] 'QUERY'

Answers one DescribeClusterJobs request and prints the JSON answer.

  QUERY          the request string, e.g. 'app=app-tg3lbp0a&status.1=pending&limit=5'
  --jobs FILE    job records, one JSON object a line ('-' for standard input);
                 (revisions 1 to n); without it and --events, 100,000
                 built-in demonstration jobs
  --events FILE  change events, one JSON object a line ('-' for standard
                 input), applied in order after the jobs; repeated events
                 are skipped
  --caller USER  the caller's user id (default: a user owning demonstration jobs)
  --admin        the caller is an administrator (sees every job of the app)

Exit status: 0 answered, 1 answered with an error (ret_code != 0),
2 the command line, the jobs file or the events file could not be used
(a bad line, a refused record, a gap or a divergence in the events).";

struct Options {
    jobs: Option<String>,
    events: Option<String>,
    caller: String,
    admin: bool,
    query: String,
}

/// Reads the command line; `Ok(None)` asks for the usage.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Option<Options>, String> {
    use lexopt::prelude::*;

    let mut jobs = None;
    let mut events = None;
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
            Long(name @ ("jobs" | "events" | "caller")) => {
                let slot = match name {
                    "jobs" => &mut jobs,
                    "events" => &mut events,
                    _ => &mut caller,
                };
                let name = format!("--{name}");
                let value = parser
                    .value()
                    .map_err(|_| format!("{name} needs a value"))?;
                let value = text(&name, value)?;
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
    if jobs.as_deref() == Some("-") && events.as_deref() == Some("-") {
        return Err("only one of --jobs and --events can read standard input".to_owned());
    }
    Ok(Some(Options {
        jobs,
        events,
        caller: caller.unwrap_or_else(|| dataset::owner(0)),
        admin,
        query,
    }))
}

fn main() -> ExitCode {
    let options = match files::options(parse_args(std::env::args_os().skip(1)), "describe", USAGE) {
        Ok(options) => options,
        Err(code) => return code,
    };
    let store = match files::build(options.jobs.as_deref(), options.events.as_deref()) {
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
