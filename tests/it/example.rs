//! The example program, run as a process.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The built example: `cargo test` builds examples next to the test binary.
fn describe() -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path: PathBuf = dir
        .join("examples")
        .join(format!("describe{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "describe"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    Command::new(path)
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = describe();
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        // A program that refuses its command line exits without reading
        // its input: a broken pipe then is no failure.
        if let Err(err) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
        }
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

const RECORDS: &str = r#"{"job_id":"j-1","app":"app-1","owner":"usr-1","job_action":"StartClusters","status":"successful","create_time":"2018-03-04T05:37:58Z","status_time":"2018-03-04T05:38:05Z","resource_ids":"cl-1","resources":{"clusters":["cl-1"]}}

{"job_id":"j-2","app":"app-1","owner":"usr-2","job_action":"StopClusters","status":"pending","create_time":"2018-03-04T05:39:00Z"}
"#;

/// The README's first command, and the numbers the README says it prints.
const README_QUERY: &str = "app=app-tg3lbp0a&status.1=successful&limit=1";

fn total_count(args: &[&str]) -> u64 {
    let out = run(args, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    answer["total_count"].as_u64().unwrap()
}

#[test]
fn the_built_in_data_answers_the_readme_query() {
    let readme = include_str!("../../README.md");
    assert!(readme.contains(&format!("--example describe -- '{README_QUERY}'")));
    let out = run(&[README_QUERY], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1);
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["ret_code"], 0);
    let jobs = answer["job_set"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["status"], "successful");
    // The README's folded answer starts as this one does.
    let job_id = jobs[0]["job_id"].as_str().unwrap();
    assert!(readme.contains(&format!(r#""job_id":"{job_id}""#)));
    // The default caller sees only its own jobs; an administrator all.
    let owner = jobs[0]["owner"].as_str().unwrap();
    let own = answer["total_count"].as_u64().unwrap();
    let admin = total_count(&["--admin", README_QUERY]);
    let every = total_count(&["--admin", "app=app-tg3lbp0a&limit=0"]);
    let sentence = format!(
        "The default caller `{owner}` sees only its own {own} successful jobs of the\n\
         app; add `--admin` to see all {} successful jobs of the app ({} jobs\n\
         of every status).",
        thousands(admin),
        thousands(every)
    );
    assert!(
        readme.contains(&sentence),
        "the README should say:\n{sentence}"
    );
    assert!(own < admin && admin < every);
}

/// `17172` as `17,172`, the way the README writes numbers.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[test]
fn a_jobs_file_and_a_caller() {
    let dir = std::env::temp_dir().join(format!("joblog-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jobs.jsonl");
    std::fs::write(&file, RECORDS).unwrap();
    let file = file.to_str().unwrap();
    let out = run(&["--jobs", file, "--caller", "usr-1", "app=app-1"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["total_count"], 1);
    assert_eq!(answer["job_set"][0]["job_id"], "j-1");
    let out = run(
        &["--jobs", "-", "--admin", "--caller", "root", "app=app-1"],
        Some(RECORDS),
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["total_count"], 2);
    assert_eq!(answer["job_set"][0]["job_id"], "j-2");
}

#[test]
fn a_bad_request_answers_json_and_exits_1() {
    let out = run(&["app=app-tg3lbp0a&status.1=bogus"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "{\"ret_code\":1100,\"message\":\"ParameterError, invalid value [bogus] for parameter \
         [status.1]: must be one of pending, working, failed, successful\"}\n"
    );
    let out = run(
        &["--jobs", "-", "--caller", "usr-1", "app=app-1&owner=usr-2"],
        Some(RECORDS),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("{\"ret_code\":1400,"));
}

#[test]
fn a_bad_jobs_file_names_file_and_line_and_exits_2() {
    let bad = RECORDS.replace("\"usr-2\"", "\"usr 2\"");
    let out = run(&["--jobs", "-", "app=app-1"], Some(&bad));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing is answered");
    assert_eq!(
        text(&out.stderr),
        "describe: -:3: ParameterError, invalid value [usr 2] for field [owner]: \
         must not contain whitespace or control characters\n"
    );
    let out = run(&["--jobs", "-", "app=app-1"], Some("{\"job_id\":\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("describe: -:1: EOF while parsing"),
        "{}",
        text(&out.stderr)
    );
    let dup = format!("{RECORDS}{}", RECORDS.lines().next().unwrap());
    let out = run(&["--jobs", "-", "app=app-1"], Some(&dup));
    assert_eq!(
        text(&out.stderr),
        "describe: -:4: ParameterError, job [j-1] already exists\n"
    );
    let out = run(
        &["--jobs", "-", "app=app-1"],
        Some(&format!("\u{FEFF}{RECORDS}")),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "describe: -:1: the file starts with a UTF-8 byte order mark (BOM); \
         save it as UTF-8 without one\n"
    );
    let out = run(&["--jobs", "/nonexistent/jobs.jsonl", "app=app-1"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("describe: /nonexistent/jobs.jsonl: "));
}

#[test]
fn a_bad_command_line_exits_2() {
    for (args, problem) in [
        (&[][..], "describe: missing QUERY"),
        (&["a=1", "b=2"][..], "describe: give exactly one QUERY"),
        (&["--jobs"][..], "describe: --jobs needs a value"),
        (
            &["--bogus", "app=a"][..],
            "describe: unknown option --bogus",
        ),
    ] {
        let out = run(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).starts_with(&format!("{problem}\n\nusage: describe")),
            "{args:?}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = run(&["--help"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("usage: describe"));
}

#[test]
fn options_take_the_usual_forms() {
    let dir = std::env::temp_dir().join(format!("joblog-forms-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jobs.jsonl");
    std::fs::write(&file, RECORDS).unwrap();
    let file = file.to_str().unwrap();
    let spaced = run(&["--jobs", file, "--caller", "usr-1", "app=app-1"], None);
    assert_eq!(spaced.status.code(), Some(0), "{}", text(&spaced.stderr));
    assert!(text(&spaced.stdout).contains(r#""total_count":1,"#));
    let jobs = format!("--jobs={file}");
    for args in [
        &[jobs.as_str(), "--caller=usr-1", "app=app-1"][..],
        &["--caller=usr-1", jobs.as_str(), "--", "app=app-1"][..],
    ] {
        let out = run(args, None);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(out.stdout, spaced.stdout, "{args:?}");
    }
    // After `--` everything is the QUERY, even what looks like an option.
    let out = run(&[jobs.as_str(), "--", "--admin"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "{\"ret_code\":1100,\"message\":\"ParameterError, missing required parameter [app]\"}\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_non_utf8_argument_exits_2_with_a_message() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let bad = OsStr::from_bytes(b"app=\xff");
    let out = describe().arg(bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("describe: QUERY is not valid UTF-8: app=\u{FFFD}\n"),
        "{}",
        text(&out.stderr)
    );
    let out = describe()
        .arg("--caller")
        .arg(bad)
        .arg("app=a")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("describe: --caller is not valid UTF-8: "));
}

/// Change events for the jobs of `RECORDS` (revisions 1 and 2).
const EVENTS: &str = r#"{"revision":3,"event":"status","job_id":"j-2","status":"working","at":"2018-03-04T05:40:00Z"}
{"revision":3,"event":"status","job_id":"j-2","status":"working","at":"2018-03-04T05:40:00Z"}

{"revision":4,"event":"status","job_id":"j-2","status":"failed","at":"2018-03-04T05:41:00Z","error_codes":"1400"}"#;

/// Writes `text` to a file of its own and returns its path.
fn file_with(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("joblog-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn events_apply_after_the_jobs_and_repeats_are_skipped() {
    let events = file_with("events.jsonl", EVENTS);
    let out = run(
        &[
            "--jobs",
            "-",
            "--events",
            &events,
            "--admin",
            "app=app-1&status.1=failed",
        ],
        Some(RECORDS),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["total_count"], 1);
    assert_eq!(answer["job_set"][0]["job_id"], "j-2");
    assert_eq!(answer["job_set"][0]["error_codes"], "1400");
    assert_eq!(answer["job_set"][0]["status_time"], "2018-03-04T05:41:00Z");

    // Events alone: the store is built from them.
    let inserts: String = RECORDS
        .lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(i, record)| {
            format!(
                "{{\"revision\":{},\"event\":\"insert\",\"job\":{record}}}\n",
                i + 1
            )
        })
        .collect();
    let out = run(
        &["--events", "-", "--admin", "app=app-1&status.1=working"],
        Some(&format!("{inserts}{}", EVENTS.lines().next().unwrap())),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["total_count"], 1);
    assert_eq!(answer["job_set"][0]["job_id"], "j-2");
    std::fs::remove_file(events).unwrap();
}

#[test]
fn a_bad_events_file_names_file_and_line_and_exits_2() {
    let first = EVENTS.lines().next().unwrap();
    for (name, events, problem) in [
        (
            "gap.jsonl",
            EVENTS.replace("\"revision\":4", "\"revision\":6"),
            ":4: InternalError, event 6 is not the next one: the store is at revision 3, \
             so events 4 to 5 are missing\n",
        ),
        (
            "diverged.jsonl",
            first.replace("j-2", "j-1"),
            ":1: InternalError, event 3 diverges from this store: it moves job [j-1] to working, \
             which is successful here and cannot become working\n",
        ),
        (
            "bad-line.jsonl",
            format!("{first}\n{{\"revision\":4,\"event\":\"status\"}}"),
            ":2: a status event needs `job_id`\n",
        ),
    ] {
        let path = file_with(name, &events);
        let out = run(
            &["--jobs", "-", "--events", &path, "app=app-1"],
            Some(RECORDS),
        );
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(out.stdout.is_empty(), "{name}: nothing is answered");
        assert_eq!(
            text(&out.stderr),
            format!("describe: {path}{problem}"),
            "{name}"
        );
        std::fs::remove_file(path).unwrap();
    }
    let out = run(
        &["--jobs", "-", "--events", "-", "app=app-1"],
        Some(RECORDS),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .starts_with("describe: only one of --jobs and --events can read standard input\n"),
        "{}",
        text(&out.stderr)
    );
}

/// The README's paging section: each command prints the answer shown
/// under it, and the `after` walk it tells of is what the program gives.
#[test]
fn the_readme_paging_examples_print_what_it_shows() {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("### Paging under writes")
        .expect("a paging section");
    let section = &readme[start..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];
    let lines: Vec<&str> = section.lines().collect();
    let mut checked = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("cargo run --release --example describe -- ") else {
            continue;
        };
        let (admin, query) = match rest.strip_prefix("--admin ") {
            Some(query) => (true, query),
            None => (false, rest),
        };
        let query = query.trim_matches('\'');
        // The answer is the line after the next ```json.
        let shown = lines[i..]
            .iter()
            .skip_while(|line| **line != "```json")
            .nth(1)
            .expect("an answer under the command");
        let args: Vec<&str> = if admin {
            vec!["--admin", query]
        } else {
            vec![query]
        };
        let out = run(&args, None);
        assert_eq!(text(&out.stdout).trim_end(), *shown, "{rest}");
        checked += 1;
    }
    assert_eq!(checked, 3);
    // The walk with after, as the section tells it.
    let ids = |query: &str| -> (u64, Vec<String>) {
        let out = run(&[query], None);
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ids = answer["job_set"]
            .as_array()
            .unwrap()
            .iter()
            .map(|job| job["job_id"].as_str().unwrap().to_owned())
            .collect();
        (answer["total_count"].as_u64().unwrap(), ids)
    };
    let (total, first) = ids("app=app-tg3lbp0a&limit=2");
    let last = &first[1];
    let (again, next) = ids(&format!("app=app-tg3lbp0a&limit=2&after={last}"));
    assert_eq!(total, again);
    let sentence = format!(
        "`j-6a46p1uy`, and `app=app-tg3lbp0a&limit=2&after={last}` goes on with\n  `{}` and `{}`, `total_count` {total} both times.",
        next[0], next[1]
    );
    assert!(
        readme.contains(&format!("ends with\n  {sentence}")) || readme.contains(&sentence),
        "the README should say:\n{sentence}"
    );
    assert_eq!(last, "j-6a46p1uy");
}
