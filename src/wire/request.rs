//! The request string: `application/x-www-form-urlencoded` into a
//! [`Query`] and back.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::error::{Error, ErrorKind};
use crate::query::{Order, Param, Query, SortKey};
use crate::status::Status;
use crate::time::{format_precise, parse_timestamp};

/// The action this crate answers.
pub(crate) const ACTION: &str = "DescribeClusterJobs";

/// Which value of a parameter: `None` for a scalar or an unsuffixed list
/// value, `Some(n)` for `name.n`.
type Slot = (Param, Option<u64>);

/// Classifies a parameter name: a known parameter (with its list index),
/// `Ok(None)` for a name this call ignores, or why a known name's suffix is
/// wrong. A scalar with a list suffix (`owner.1`) is refused rather than
/// ignored: ignoring it would silently widen the answer it meant to narrow.
fn classify(name: &str) -> Result<Option<Slot>, String> {
    if let Some(param) = Param::named(name) {
        return Ok(Some((param, None)));
    }
    // Names are short: a loop beats a memchr call.
    let Some(dot) = name.bytes().position(|b| b == b'.') else {
        return Ok(None);
    };
    let (base, suffix) = (
        name.get(..dot).unwrap_or(name),
        name.get(dot + 1..).unwrap_or(""),
    );
    match Param::named(base) {
        Some(param) if param.is_list() => {
            let canonical = suffix.bytes().all(|b| b.is_ascii_digit()) && !suffix.starts_with('0');
            match suffix.parse::<u64>() {
                Ok(index) if canonical && index > 0 => Ok(Some((param, Some(index)))),
                _ => Err(format!(
                    "a list parameter is numbered {base}.1, {base}.2, …: its suffix must be a \
                     positive decimal integer without leading zeros"
                )),
            }
        }
        Some(_) => Err(format!(
            "{base} takes one value: send it as {base}, without a list suffix"
        )),
        None => Ok(None),
    }
}

/// The `name=value` pairs of an `application/x-www-form-urlencoded`
/// string, in order: split on `&` (empty pieces skipped) and the first
/// `=`, each side as written and whether it holds a `+` or `%` that
/// [`decode`] reads (`+` as a space and `%XX` as a byte).
fn pairs(input: &str) -> impl Iterator<Item = (&str, &str, [bool; 2])> {
    let bytes = input.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        // One pass: where the piece ends, where its first `=` is, and
        // whether each side has anything to decode.
        while at < bytes.len() {
            let start = at;
            let mut end = bytes.len();
            let mut eq = None;
            let mut coded = [false; 2];
            let mut from = start;
            while let Some(stop) = next_stop(bytes, from) {
                match bytes[stop] {
                    b'&' => {
                        end = stop;
                        break;
                    }
                    b'=' if eq.is_none() => eq = Some(stop),
                    b'=' => {}
                    _ => coded[usize::from(eq.is_some())] = true,
                }
                from = stop + 1;
            }
            at = end + 1;
            if end == start {
                continue;
            }
            let (name, value) = match eq {
                Some(eq) => (start..eq, eq + 1..end),
                None => (start..end, end..end),
            };
            // The cuts are at ASCII bytes, so on character boundaries.
            let part = |range| input.get(range).unwrap_or_default();
            return Some((part(name), part(value), coded));
        }
        None
    })
}

/// The bytes the scan of a request stops at: `&` ends a piece, the first
/// `=` ends its name, `%` and `+` are decoded.
const STOP_BYTES: [u8; 4] = [b'&', b'=', b'%', b'+'];

/// Where the first of [`STOP_BYTES`] is in `bytes` from `from` on: eight
/// bytes at a time, as a request's pieces are a few words long.
fn next_stop(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each byte of `word` that equals `byte`, and perhaps
    // of bytes after it (a borrow), never before: the lowest bit set is
    // the first match.
    let matches = |word: u64, byte: u8| {
        let diff = word ^ (ONES * u64::from(byte));
        diff.wrapping_sub(ONES) & !diff & HIGHS
    };
    let rest = bytes.get(from..)?;
    let mut words = rest.chunks_exact(8);
    let mut seen = 0;
    for chunk in words.by_ref() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let found = STOP_BYTES
            .into_iter()
            .fold(0, |found, byte| found | matches(word, byte));
        if found != 0 {
            return Some(from + seen + found.trailing_zeros() as usize / 8);
        }
        seen += 8;
    }
    let tail = words.remainder();
    let at = tail.iter().position(|byte| STOP_BYTES.contains(byte))?;
    Some(from + seen + at)
}

/// One decoded part of a pair: the text, and whether it was valid UTF-8.
type Decoded<'a> = (Cow<'a, str>, bool);

/// Decodes `raw`, which holds a `%` or `+` only if `coded`: its text and
/// whether its bytes were UTF-8 (if not, the text is the lossy reading,
/// fit only to be quoted in an error).
#[inline]
fn decode(raw: &str, coded: bool) -> Decoded<'_> {
    if coded {
        decode_escapes(raw)
    } else {
        (Cow::Borrowed(raw), true)
    }
}

/// Decodes `+` and `%XX` in `raw`.
fn decode_escapes(raw: &str) -> Decoded<'_> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = match bytes[i] {
            b'+' => b' ',
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(high), Some(low)) => {
                    i += 2;
                    (high * 16 + low) as u8
                }
                _ => b'%',
            },
            other => other,
        };
        out.push(byte);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(text) => (Cow::Owned(text), true),
        Err(err) => (
            Cow::Owned(String::from_utf8_lossy(err.as_bytes()).into_owned()),
            false,
        ),
    }
}

/// The parameters a request gave so far, to refuse one given twice: a bit
/// per parameter for the unnumbered, and the numbered in a short list
/// that becomes a hash set once it is long, so a request of many `jobs.n`
/// stays linear in its length.
struct Given {
    unnumbered: u32,
    numbered: [(Param, u64); Given::SHORT],
    /// How many of `numbered` are given.
    len: usize,
    many: HashSet<(Param, u64)>,
}

// One bit per parameter.
const _: () = assert!(Param::ALL.len() <= 32);

impl Given {
    /// The most numbered parameters searched one by one.
    const SHORT: usize = 16;

    fn new() -> Given {
        Given {
            unnumbered: 0,
            numbered: [(Param::Jobs, 0); Given::SHORT],
            len: 0,
            many: HashSet::new(),
        }
    }

    /// Counts `slot` as given; says whether it was not given before.
    fn insert(&mut self, (param, index): Slot) -> bool {
        let Some(index) = index else {
            let bit = 1 << param as u32;
            let new = self.unnumbered & bit == 0;
            self.unnumbered |= bit;
            return new;
        };
        if self.len < Given::SHORT {
            let (given, free) = self.numbered.split_at_mut(self.len);
            if given.contains(&(param, index)) {
                return false;
            }
            free[0] = (param, index);
            self.len += 1;
            return true;
        }
        if self.many.is_empty() {
            self.many.extend(self.numbered);
        }
        self.many.insert((param, index))
    }
}

/// Reads a decimal integer that fits in 64 bits (signed or unsigned).
fn integer(name: &str, value: &str) -> Result<i128, Error> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid_parameter(
            name,
            value,
            "must be a decimal integer",
        ));
    }
    value
        .parse::<i128>()
        .ok()
        .filter(|n| (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(n))
        .ok_or_else(|| Error::invalid_parameter(name, value, "must fit in 64 bits"))
}

/// Reads a count: an integer of 0 or more.
fn count(name: &str, value: &str) -> Result<u64, Error> {
    u64::try_from(integer(name, value)?)
        .map_err(|_| Error::invalid_parameter(name, value, "must be 0 or more"))
}

/// Reads a window's time as records' times are read.
fn time(value: &str) -> Result<DateTime<Utc>, String> {
    parse_timestamp(value)
        .map_err(|err| format!("must be an RFC 3339 time such as 2018-03-04T05:37:58Z ({err})"))
}

/// Parses a request string into a query, through [`Query::builder`].
pub(crate) fn parse(input: &str) -> Result<Query, Error> {
    let mut query = Query::builder("");
    let mut app_given = false;
    let mut seen = Given::new();
    let mut job_ids: Vec<(Option<u64>, String)> = Vec::new();
    for (name, raw_value, coded) in pairs(input) {
        let (name, _) = decode(name, coded[0]);
        let slot = match classify(&name) {
            Ok(Some(slot)) => Ok(slot),
            Ok(None) => continue,
            Err(reason) => Err(reason),
        };
        // A value is decoded only for a parameter this call reads.
        let (value, utf8) = decode(raw_value, coded[1]);
        let slot = match slot {
            Ok(slot) => slot,
            Err(reason) => return Err(Error::invalid_parameter(name, &value, reason)),
        };
        // A value that is not UTF-8 must never alias a stored id as U+FFFD.
        if !utf8 {
            return Err(Error::invalid_parameter(
                name,
                &value,
                "must be UTF-8 once its %XX escapes are decoded",
            ));
        }
        if !seen.insert(slot) {
            return Err(Error::new(ErrorKind::RepeatedParameter {
                parameter: name.into_owned(),
            }));
        }
        if value.is_empty() {
            return Err(Error::invalid_parameter(name, "", "must not be empty"));
        }
        let invalid = |reason: String| Error::invalid_parameter(&*name, &value, reason);
        let (param, index) = slot;
        query = match param {
            Param::Action if value != ACTION => {
                return Err(invalid(format!("must be {ACTION}")));
            }
            Param::Action => query,
            Param::App => {
                app_given = true;
                query.app(value.into_owned())
            }
            Param::Jobs => {
                job_ids.push((index, value.into_owned()));
                query
            }
            Param::Status => query.status(
                value
                    .parse::<Status>()
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            Param::Verbose if integer(&name, &value)? != 0 => {
                return Err(invalid("only verbose=0 is supported".to_owned()));
            }
            Param::Verbose => query,
            Param::Offset => query.offset(count(&name, &value)?),
            Param::Limit => query.limit(count(&name, &value)?),
            Param::JobAction => query.job_action(value.into_owned()),
            Param::Owner => query.owner(value.into_owned()),
            Param::Cluster => query.cluster(value.into_owned()),
            Param::SortKey => query.sort_key(
                value
                    .parse::<SortKey>()
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            Param::Reverse => match Order::from_reverse_flag(integer(&name, &value)?) {
                Some(order) => query.order(order),
                None => return Err(invalid("must be 0 or 1".to_owned())),
            },
            Param::After => query.after(value.into_owned()),
            Param::StartTime => query.start_time(time(&value).map_err(invalid)?),
            Param::EndTime => query.end_time(time(&value).map_err(invalid)?),
        };
    }
    if !app_given {
        return Err(Error::new(ErrorKind::MissingParameter {
            parameter: Param::App.name().to_owned(),
        }));
    }
    // List values in index order; an unsuffixed value (`None`) first.
    job_ids.sort_by_key(|&(index, _)| index);
    for (_, job_id) in job_ids {
        query = query.job_id(job_id);
    }
    // What only the whole query can tell (a window that ends before it
    // starts) is refused here too, not first when it is answered.
    let query = query.build();
    query.check()?;
    Ok(query)
}

/// Parses a request string, as [`JobStore::describe_request`] does.
///
/// ```
/// use joblog::{Query, Status};
///
/// let query: Query = "action=DescribeClusterJobs&app=app-tg3lbp0a&status.1=pending&limit=5&zone=pek3a"
///     .parse()?;
/// assert_eq!(query, Query::builder("app-tg3lbp0a").status(Status::Pending).limit(5).build());
///
/// let err = "app=app-1&status.1=bogus".parse::<Query>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "ParameterError, invalid value [bogus] for parameter [status.1]: \
///      must be one of pending, working, failed, successful"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`JobStore::describe_request`]: crate::JobStore::describe_request
impl FromStr for Query {
    type Err = Error;

    fn from_str(input: &str) -> Result<Query, Error> {
        parse(input)
    }
}

/// Prints the request string that asks this query, with the official SDKs'
/// list encoding (`jobs.1=…&jobs.2=…`); it parses back to an equal query.
///
/// ```
/// use joblog::{Query, Status};
///
/// let query = Query::builder("app-1").job_id("j-1").status(Status::Failed).offset(20).build();
/// assert_eq!(
///     query.to_string(),
///     "action=DescribeClusterJobs&app=app-1&jobs.1=j-1&status.1=failed\
///      &sort_key=create_time&reverse=1&offset=20&limit=20"
/// );
/// assert_eq!(query.to_string().parse::<Query>()?, query);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = form_urlencoded::Serializer::new(String::new());
        out.append_pair(Param::Action.name(), ACTION);
        out.append_pair(Param::App.name(), self.app());
        for (i, id) in self.job_ids().iter().enumerate() {
            out.append_pair(&Param::Jobs.numbered(i + 1), id);
        }
        for (i, status) in self.statuses().enumerate() {
            out.append_pair(&Param::Status.numbered(i + 1), status.as_str());
        }
        for (param, value) in self.filters() {
            if let Some(value) = value {
                out.append_pair(param.name(), value);
            }
        }
        out.append_pair(Param::SortKey.name(), self.sort_key().as_str());
        out.append_pair(Param::Reverse.name(), self.order().reverse_flag());
        if let Some(after) = self.after() {
            out.append_pair(Param::After.name(), after);
        }
        for (param, time) in self.window() {
            if let Some(time) = time {
                out.append_pair(param.name(), &format_precise(time));
            }
        }
        out.append_pair(Param::Offset.name(), &self.offset().to_string());
        out.append_pair(Param::Limit.name(), &self.limit().to_string());
        f.write_str(&out.finish())
    }
}

/// A query serializes as its request string, the form it has on the wire.
impl serde::Serialize for Query {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A query deserializes from a request string, with the rules of `FromStr`.
impl<'de> serde::Deserialize<'de> for Query {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Query, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::{decode, decode_escapes, pairs};
    use proptest::prelude::*;

    proptest! {
        /// The one-pass scan cuts a request as splitting it on `&`
        /// (skipping empty pieces), each piece on its first `=`, and
        /// decoding both sides does.
        #[test]
        fn the_scan_cuts_as_splitting_does(input in "[ab&=%+2Fé.$'*<>%,]{0,40}") {
            let split: Vec<_> = input
                .split('&')
                .filter(|piece| !piece.is_empty())
                .map(|piece| {
                    let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
                    (decode_escapes(name), decode_escapes(value))
                })
                .collect();
            let scanned: Vec<_> = pairs(&input)
                .map(|(name, value, coded)| (decode(name, coded[0]), decode(value, coded[1])))
                .collect();
            prop_assert_eq!(scanned, split);
        }
    }
}
