//! How the store keeps a job: compact, with interned names, read through
//! [`JobRef`].
//!
//! A [`Job`] holds a dozen `String`s and two maps; kept as is, the
//! structure alone outweighs the data. A [`Record`] keeps app, owner and
//! action as interned numbers, times as nanoseconds, and every free-text
//! field in one allocation, so a stored job costs little more than its
//! text (and the 43 bytes of JSON between its last parts that an answer
//! copies with them).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use chrono::{DateTime, Utc};
use hashbrown::HashTable;
use indexmap::IndexMap;

use super::head::Head;
use crate::chars::{Written, json_unescaped, needs_json_escape};
use crate::extras::Extras;
use crate::job::{CheckedJob, FieldLens, Job, involved_resources};
use crate::status::Status;
use crate::time::from_nanos;

/// An interned name: an app, owner or action.
pub(super) type Sym = u32;

/// A map keyed by interned names. Syms are small numbers this crate hands
/// out, not input an attacker picks, so a multiplicative hash is safe and
/// much cheaper than SipHash on the insert path.
pub(super) type SymMap<V> = HashMap<Sym, V, BuildHasherDefault<SymHasher>>;

/// Fibonacci hashing of a [`Sym`].
#[derive(Default)]
pub(super) struct SymHasher(u64);

impl Hasher for SymHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u32(u32::from(byte) ^ (self.0 as u32).rotate_left(8));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Names by number and numbers by name, each name held once, with how
/// many uses (a job's app, owner or action) each has.
///
/// Only names of stored jobs are interned (an insert interns after every
/// check passes), and a name whose last use goes is forgotten at once
/// ([`Interner::release`]; its number is handed out again), so the table
/// never holds more than three names a job: its memory follows the jobs,
/// and with fewer than 2^30 jobs a [`Sym`] can never run out.
#[derive(Clone, Debug, Default)]
pub(super) struct Interner {
    /// By symbol; empty for a number not in use.
    names: Vec<Box<str>>,
    /// Uses by symbol; 0 for a number not in use.
    uses: Vec<u32>,
    /// By symbol: whether the name is written inside a JSON string as it
    /// is (nothing in it needs escaping), so an answer copies it.
    plain: Vec<bool>,
    /// Numbers not in use, to hand out again.
    free: Vec<Sym>,
    /// Symbols by the hash of their name, each with the head of its name
    /// (so a probe seldom reads `names`).
    syms: HashTable<(Sym, Head)>,
    /// SipHash with a random key: names come from outside.
    hasher: RandomState,
}

impl Interner {
    pub(super) fn get(&self, name: &str) -> Option<Sym> {
        let names = &self.names;
        let probe = Head::of(name);
        let is = |&(sym, head): &(Sym, Head)| head.is(&probe, || &*names[sym as usize] == name);
        self.syms
            .find(self.hasher.hash_one(name), is)
            .map(|&(sym, _)| sym)
    }

    /// Counts one more use of a symbol in use.
    pub(super) fn use_again(&mut self, sym: Sym) {
        self.uses[sym as usize] += 1;
    }

    /// The symbol of `name`, counting one more use of it.
    pub(super) fn intern(&mut self, name: &str) -> Sym {
        if let Some(sym) = self.get(name) {
            self.use_again(sym);
            return sym;
        }
        let sym = match self.free.pop() {
            Some(sym) => {
                self.names[sym as usize] = name.into();
                self.uses[sym as usize] = 1;
                self.plain[sym as usize] = !needs_json_escape(name);
                sym
            }
            None => {
                // At most three names a stored job, and fewer than 2^30 jobs.
                self.names.push(name.into());
                self.uses.push(1);
                self.plain.push(!needs_json_escape(name));
                (self.names.len() - 1) as Sym
            }
        };
        let (names, hasher) = (&self.names, &self.hasher);
        let rehash = |&(sym, _): &(Sym, Head)| hasher.hash_one(&*names[sym as usize]);
        self.syms
            .insert_unique(hasher.hash_one(name), (sym, Head::of(name)), rehash);
        sym
    }

    /// Counts one use of `sym` fewer; the name is forgotten with its last.
    pub(super) fn release(&mut self, sym: Sym) {
        let uses = &mut self.uses[sym as usize];
        *uses -= 1;
        if *uses > 0 {
            return;
        }
        let name = std::mem::take(&mut self.names[sym as usize]);
        let hash = self.hasher.hash_one(&*name);
        if let Ok(entry) = self.syms.find_entry(hash, |&(held, _)| held == sym) {
            entry.remove();
        }
        self.free.push(sym);
    }

    /// The name of a symbol this interner handed out.
    pub(super) fn name(&self, sym: Sym) -> &str {
        &self.names[sym as usize]
    }

    /// Whether the name of `sym` needs no escaping inside a JSON string.
    pub(super) fn is_plain(&self, sym: Sym) -> bool {
        self.plain[sym as usize]
    }

    /// How many names are held.
    pub(super) fn len(&self) -> usize {
        self.names.len() - self.free.len()
    }

    /// How many numbers were handed out (held names and free numbers).
    pub(super) fn capacity(&self) -> usize {
        self.names.len()
    }

    /// Checks the uses counted against the jobs (`uses`, by symbol): a
    /// name is held exactly while it has uses, and found by its name.
    pub(super) fn check(&self, uses: &[u32]) -> Result<(), String> {
        if uses != self.uses {
            return Err("name use counts differ from the jobs'".to_owned());
        }
        for (sym, (name, &used)) in self.names.iter().zip(uses).enumerate() {
            let sym = sym as Sym;
            let found = self.get(name);
            if used > 0 && found != Some(sym) {
                return Err(format!("name {name} is used but not found"));
            }
            if used > 0 && self.plain[sym as usize] == needs_json_escape(name) {
                return Err(format!("name {name} is marked plain wrongly"));
            }
            if used == 0 && (!name.is_empty() || !self.free.contains(&sym)) {
                return Err(format!("name {name} ({sym}) is held but no job uses it"));
            }
        }
        if self.syms.len() != self.len() {
            return Err(format!(
                "{} names hashed, {} held",
                self.syms.len(),
                self.len()
            ));
        }
        Ok(())
    }

    /// Starts a renumbering: the names given to [`Renumbering::keep`] are
    /// kept, numbered from 0 in the order first kept, and every other name
    /// is forgotten when [`Renumbering::finish`] replaces this table.
    pub(super) fn renumber(&self) -> Renumbering<'_> {
        Renumbering {
            old: self,
            new: Interner::default(),
            to: vec![None; self.names.len()],
        }
    }
}

/// A renumbering of an [`Interner`] in progress.
pub(super) struct Renumbering<'a> {
    old: &'a Interner,
    new: Interner,
    to: Vec<Option<Sym>>,
}

impl Renumbering<'_> {
    /// The new number of a name in use, counting the use.
    pub(super) fn keep(&mut self, sym: Sym) -> Sym {
        let (old, new) = (self.old, &mut self.new);
        match self.to[sym as usize] {
            Some(to) => {
                new.uses[to as usize] += 1;
                to
            }
            None => *self.to[sym as usize].insert(new.intern(old.name(sym))),
        }
    }

    /// The new table, and old numbers to new (`None` for a name no longer
    /// used).
    pub(super) fn finish(self) -> (Interner, Renumbered) {
        (self.new, Renumbered { to: self.to })
    }
}

/// Where each job or name went when the store was renumbered: old number
/// → new.
pub(super) struct Renumbered {
    /// `None` for one not kept.
    pub(super) to: Vec<Option<u32>>,
}

impl Renumbered {
    pub(super) fn get(&self, old: u32) -> Option<u32> {
        self.to.get(old as usize).copied().flatten()
    }

    /// The entries of a map keyed by old numbers that are kept, under
    /// their new numbers, each value passed through `keep` (which may drop
    /// it too); the map comes out no larger than what it holds.
    pub(super) fn rekey<V>(&self, map: &mut SymMap<V>, mut keep: impl FnMut(&mut V) -> bool) {
        *map = map
            .drain()
            .filter_map(|(old, mut value)| {
                let new = self.get(old)?;
                keep(&mut value).then_some((new, value))
            })
            .collect();
    }
}

/// One stored job: 64 bytes plus one allocation holding its text.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Record {
    /// Nanoseconds since the epoch.
    pub(super) create_time: i64,
    /// Nanoseconds since the epoch.
    pub(super) status_time: i64,
    /// `job_id`, `directive` as written inside a JSON string (escaped, so
    /// answers copy it), `error_codes`, `resource_ids`, `resources` as
    /// JSON and `extras` as JSON, one after the other, each followed by
    /// its [`GLUE`]; `lens` cuts it.
    text: Box<str>,
    pub(super) app: Sym,
    pub(super) owner: Sym,
    pub(super) action: Sym,
    lens: FieldLens,
    pub(super) status: Status,
    /// Whether `job_id`, `error_codes` and `resource_ids` need no escaping
    /// inside a JSON string, so an answer copies them as they are.
    pub(super) plain: bool,
}

/// A record's text cut into its parts: where each starts and ends, found
/// in one pass over the lengths, and each part sliced only when asked for.
#[derive(Clone, Copy)]
pub(crate) struct TextParts<'a> {
    text: &'a str,
    /// By [`Part`]: where it starts and ends in `text`.
    bounds: [(usize, usize); 6],
}

impl<'a> TextParts<'a> {
    /// The part itself.
    fn part(&self, part: Part) -> &'a str {
        let (start, end) = self.bounds[part as usize];
        // The lengths were taken from these very strings when they were
        // joined, and the glue is ASCII, so the cuts fall on boundaries.
        self.text.get(start..end).unwrap_or("")
    }

    /// Every part, in the order of [`Part`].
    fn all(&self) -> [&'a str; 6] {
        [
            Part::JobId,
            Part::Directive,
            Part::ErrorCodes,
            Part::ResourceIds,
            Part::Resources,
            Part::Extras,
        ]
        .map(|part| self.part(part))
    }

    pub(crate) fn job_id(&self) -> &'a str {
        self.part(Part::JobId)
    }

    pub(crate) fn directive_json(&self) -> &'a str {
        self.part(Part::Directive)
    }

    pub(crate) fn error_codes(&self) -> &'a str {
        self.part(Part::ErrorCodes)
    }

    pub(crate) fn resource_ids(&self) -> &'a str {
        self.part(Part::ResourceIds)
    }

    /// From `error_codes` to the end of the job's `job_set` element, as an
    /// answer writes it when `error_codes` and `resource_ids` need no
    /// escaping: `…","resource_ids":"…","resources":…,"extras":…}`.
    pub(crate) fn error_codes_on(&self) -> &'a str {
        let (start, _) = self.bounds[Part::ErrorCodes as usize];
        self.text.get(start..).unwrap_or("")
    }

    /// From the end of `resource_ids` to the end of the element:
    /// `","resources":…,"extras":…}`.
    pub(crate) fn after_resource_ids(&self) -> &'a str {
        let (_, end) = self.bounds[Part::ResourceIds as usize];
        self.text.get(end..).unwrap_or("")
    }
}

/// What an answer writes between `error_codes` and `resource_ids`.
pub(crate) const RESOURCE_IDS_KEY: &str = r#"","resource_ids":""#;

/// What [`Record::text`] keeps after each of its parts, in the order of
/// [`Part`]: from `error_codes` on, the JSON an answer writes between them
/// and to the end of the job's element, so an answer copies the end of
/// the element as one piece ([`TextParts::error_codes_on`]). It costs
/// 43 bytes a job.
const GLUE: [&str; 6] = [
    "",
    "",
    RESOURCE_IDS_KEY,
    r#"","resources":"#,
    r#","extras":"#,
    "}",
];

// An answer writes what goes between the id, the directive and
// `error_codes` itself: the text keeps nothing there.
const _: () =
    assert!(GLUE[Part::JobId as usize].is_empty() && GLUE[Part::Directive as usize].is_empty());

/// The parts of [`Record::text`], in order.
#[derive(Clone, Copy)]
enum Part {
    JobId,
    Directive,
    ErrorCodes,
    ResourceIds,
    Resources,
    Extras,
}

impl Record {
    /// Packs a checked job under its interned names.
    pub(super) fn new(checked: &CheckedJob<'_>, app: Sym, owner: Sym, action: Sym) -> Record {
        let job = &checked.fields;
        let extras = &*job.extras;
        let parts: [&dyn Written; 6] = [
            &job.job_id,
            &job.directive_json,
            &job.error_codes,
            &job.resource_ids,
            &job.resources,
            &extras,
        ];
        let mut record = Record {
            create_time: job.create_time,
            status_time: job.status_time,
            text: concat(parts),
            app,
            owner,
            action,
            lens: checked.lens,
            status: job.status,
            plain: false,
        };
        record.plain = record.plain_parts();
        record
    }

    /// Everything but the interned names, which only mean something within
    /// one store.
    fn content(&self) -> (Status, i64, i64, &str, FieldLens) {
        (
            self.status,
            self.create_time,
            self.status_time,
            &self.text,
            self.lens,
        )
    }

    /// The text cut into its parts.
    fn parts(&self) -> TextParts<'_> {
        let lens = self.lens;
        let lens = [
            usize::from(lens.job_id),
            lens.directive as usize,
            usize::from(lens.error_codes),
            usize::from(lens.resource_ids),
            lens.resources as usize,
        ];
        let mut bounds = [(0, 0); 6];
        let mut start = 0;
        for (at, len) in lens.into_iter().enumerate() {
            bounds[at] = (start, start + len);
            start += len + GLUE[at].len();
        }
        let extras = Part::Extras as usize;
        let end = self.text.len().saturating_sub(GLUE[extras].len());
        bounds[extras] = (start.min(end), end);
        TextParts {
            text: &self.text,
            bounds,
        }
    }

    fn part(&self, part: Part) -> &str {
        self.parts().part(part)
    }

    /// The job's id.
    pub(super) fn job_id(&self) -> &str {
        self.part(Part::JobId)
    }

    /// Replaces `error_codes` (of length `len`, checked by the caller),
    /// keeping the other parts.
    pub(super) fn set_error_codes(&mut self, error_codes: &str, len: u16) {
        let mut parts = self.parts().all();
        parts[Part::ErrorCodes as usize] = error_codes;
        self.text = concat(written(&parts));
        self.lens.error_codes = len;
        self.plain = self.plain_parts();
    }

    /// Whether the text is its parts joined as [`concat()`] joins them, each
    /// followed by its [`GLUE`] (which answers copy as they are).
    pub(super) fn text_is_joined(&self) -> bool {
        *concat(written(&self.parts().all())) == *self.text
    }

    /// Whether the parts [`Record::plain`] speaks of need no escaping.
    pub(super) fn plain_parts(&self) -> bool {
        let parts = self.parts();
        [parts.job_id(), parts.error_codes(), parts.resource_ids()]
            .into_iter()
            .all(|text| !needs_json_escape(text))
    }

    /// Every resource id the job involves, as [`Job::involved_resources`]
    /// lists them.
    pub(super) fn involved_resources(&self) -> Vec<String> {
        let listed: IndexMap<String, Vec<String>> = reparse(self.part(Part::Resources));
        let listed = listed.values().flatten().map(String::as_str);
        involved_resources(self.part(Part::ResourceIds), listed)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}

/// The parts one after the other, each followed by its [`GLUE`], in one
/// allocation.
fn concat(parts: [&dyn Written; 6]) -> Box<str> {
    let glue: usize = GLUE.iter().map(|glue| glue.len()).sum();
    let len = parts.iter().map(|part| part.len()).sum::<usize>() + glue;
    let mut text = String::with_capacity(len);
    for (part, glue) in parts.into_iter().zip(GLUE) {
        part.write(&mut text);
        text.push_str(glue);
    }
    debug_assert_eq!(text.len(), len, "a part's length was miscounted");
    text.into_boxed_str()
}

/// Plain parts, to join with [`concat()`].
fn written<'a>(parts: &'a [&str; 6]) -> [&'a dyn Written; 6] {
    parts.each_ref().map(|part| part as &dyn Written)
}

/// A stored job, borrowed from the [`JobStore`].
///
/// Read its fields with the accessors; [`JobRef::to_job`] makes an owned
/// [`Job`].
///
/// ```
/// use joblog::{Job, JobStore, Status};
///
/// let mut store = JobStore::new();
/// let at = "2018-03-04T05:37:58Z".parse()?;
/// let mut job = Job::new("j-1", "app-1", "usr-1", "StartClusters", Status::Pending, at);
/// job.resource_ids = "cl-1".to_owned();
/// store.insert(job.clone())?;
/// let stored = store.get("j-1").expect("just inserted");
/// assert_eq!(stored.owner(), "usr-1");
/// assert_eq!(stored.resource_ids(), "cl-1");
/// assert_eq!(stored.to_job(), job);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`JobStore`]: crate::JobStore
#[derive(Clone, Copy)]
pub struct JobRef<'a> {
    record: &'a Record,
    names: &'a Interner,
}

impl<'a> JobRef<'a> {
    pub(super) fn new(record: &'a Record, names: &'a Interner) -> JobRef<'a> {
        JobRef { record, names }
    }

    /// The job id.
    pub fn job_id(&self) -> &'a str {
        self.record.job_id()
    }

    /// The app the job belongs to.
    pub fn app(&self) -> &'a str {
        self.names.name(self.record.app)
    }

    /// The user id that triggered the job.
    pub fn owner(&self) -> &'a str {
        self.names.name(self.record.owner)
    }

    /// The API action that started the job.
    pub fn job_action(&self) -> &'a str {
        self.names.name(self.record.action)
    }

    /// The job's status.
    pub fn status(&self) -> Status {
        self.record.status
    }

    /// The action's request, an opaque string.
    ///
    /// The store keeps it as an answer writes it (escaped inside a JSON
    /// string), so this is borrowed when it holds nothing JSON escapes (no
    /// `"`, `\` or control), and unescaped into a new string otherwise.
    pub fn directive(&self) -> Cow<'a, str> {
        json_unescaped(self.directive_json())
    }

    /// Whether `job_id`, `owner`, `job_action`, `error_codes` and
    /// `resource_ids` are written inside a JSON string as they are.
    pub(crate) fn is_plain(&self) -> bool {
        self.record.plain
            && self.names.is_plain(self.record.owner)
            && self.names.is_plain(self.record.action)
    }

    /// The length of all its text fields and names together, and of the
    /// JSON its text keeps between them.
    pub(crate) fn text_len(&self) -> usize {
        self.record.text.len() + self.owner().len() + self.job_action().len()
    }

    /// The text fields at once, cheaper than one accessor each.
    pub(crate) fn text_parts(&self) -> TextParts<'a> {
        self.record.parts()
    }

    /// `directive` as written inside a JSON string.
    pub(crate) fn directive_json(&self) -> &'a str {
        self.record.part(Part::Directive)
    }

    /// When the job was created.
    pub fn create_time(&self) -> DateTime<Utc> {
        from_nanos(self.record.create_time)
    }

    /// When the status last changed.
    pub fn status_time(&self) -> DateTime<Utc> {
        from_nanos(self.record.status_time)
    }

    /// `create_time` and `status_time` in nanoseconds since the epoch, as
    /// the store keeps them.
    pub(crate) fn nanos(&self) -> (i64, i64) {
        (self.record.create_time, self.record.status_time)
    }

    /// Empty unless the job failed.
    pub fn error_codes(&self) -> &'a str {
        self.record.part(Part::ErrorCodes)
    }

    /// The ids of the resources involved, separated by one space.
    pub fn resource_ids(&self) -> &'a str {
        self.record.part(Part::ResourceIds)
    }

    /// `resources` as compact JSON, key order kept.
    pub fn resources_json(&self) -> &'a str {
        self.record.part(Part::Resources)
    }

    /// `extras` as compact JSON, key order kept.
    pub fn extras_json(&self) -> &'a str {
        self.record.part(Part::Extras)
    }

    /// `resources` as a map: parsed from its JSON on every call, so it
    /// allocates; [`JobRef::resources_json`] is the cheap read.
    pub fn to_resources(&self) -> IndexMap<String, Vec<String>> {
        reparse(self.resources_json())
    }

    /// `extras`, an owned copy of its text; [`JobRef::extras_json`] is the
    /// cheap read.
    pub fn to_extras(&self) -> Extras {
        Extras::trusted(self.extras_json())
    }

    /// An owned copy of the job.
    pub fn to_job(&self) -> Job {
        Job {
            status: self.status(),
            job_id: self.job_id().to_owned(),
            app: self.app().to_owned(),
            directive: self.directive().into_owned(),
            job_action: self.job_action().to_owned(),
            create_time: self.create_time(),
            owner: self.owner().to_owned(),
            status_time: self.status_time(),
            error_codes: self.error_codes().to_owned(),
            resource_ids: self.resource_ids().to_owned(),
            resources: self.to_resources(),
            extras: self.to_extras(),
        }
    }
}

impl fmt::Debug for JobRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobRef")
            .field("job_id", &self.job_id())
            .field("app", &self.app())
            .field("owner", &self.owner())
            .field("job_action", &self.job_action())
            .field("status", &self.status())
            .field("create_time", &self.create_time())
            .field("status_time", &self.status_time())
            .field("error_codes", &self.error_codes())
            .field("resource_ids", &self.resource_ids())
            .field("resources", &self.resources_json())
            .field("extras", &self.extras_json())
            .field("directive", &self.directive())
            .finish()
    }
}

impl PartialEq for JobRef<'_> {
    fn eq(&self, other: &JobRef<'_>) -> bool {
        self.app() == other.app()
            && self.owner() == other.owner()
            && self.job_action() == other.job_action()
            && self.record.content() == other.record.content()
    }
}

/// Reads back JSON the store wrote from a value of the same type.
///
/// serde_json writes `resources` (string lists) in a form it reads back,
/// so a failure here is a bug in this crate, never a consequence of input.
fn reparse<T: serde::de::DeserializeOwned>(json: &str) -> T {
    match serde_json::from_str(json) {
        Ok(value) => value,
        Err(err) => panic!("joblog bug: stored JSON does not read back ({err}): {json}"),
    }
}

#[cfg(test)]
impl Record {
    /// Changes one byte of the glue after `resource_ids`, the lengths
    /// kept, for tests of the checks that read the text.
    pub(super) fn break_glue_for_test(&mut self) {
        self.text = self
            .text
            .replace(r#""resources":"#, r#""resourcez":"#)
            .into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record's text is its parts, each followed by its glue, after an
    /// insert and after a failure rewrites `error_codes`; a text whose glue
    /// is changed is caught.
    #[test]
    fn the_text_is_its_parts_and_their_glue() {
        let at = chrono::DateTime::UNIX_EPOCH;
        let mut job = Job::new("j-1", "a", "u", "RunJob", Status::Pending, at);
        job.resource_ids = "cl-1 cl-2".into();
        let checked = job.check().expect("valid job");
        let mut record = Record::new(&checked, 0, 0, 0);
        assert!(record.text_is_joined());
        let parts = record.parts();
        assert_eq!(
            parts.error_codes_on(),
            r#"","resource_ids":"cl-1 cl-2","resources":{},"extras":{}}"#
        );
        assert_eq!(
            parts.after_resource_ids(),
            r#"","resources":{},"extras":{}}"#
        );
        record.set_error_codes("E42", 3);
        assert!(record.text_is_joined());
        assert_eq!(
            (record.part(Part::ErrorCodes), record.job_id()),
            ("E42", "j-1")
        );
        record.break_glue_for_test();
        assert!(!record.text_is_joined());
    }
}
