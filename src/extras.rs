//! A job's `extras`: a free-form JSON object, kept as the text it was
//! written in.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer, ser::Error as _};
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind};

/// How deep `extras` may nest (the object itself is level 1): deep enough
/// for any real document, and far from the depth where reading or writing
/// it would exhaust a stack.
pub const MAX_EXTRAS_DEPTH: usize = 64;

/// A job's `extras`: a JSON object, kept as the text it was written in.
///
/// Numbers stay as written (`18446744073709551616`, `1E2` and `0.1` are
/// not rewritten), keys stay in their order, and whitespace between tokens
/// is dropped, so the text reads back exactly and goes on the wire as it
/// came. It is never parsed into a value, so its numbers cannot round and
/// no feature of `serde_json` is needed to keep its order. (It is read once
/// to be checked, so a number beyond the range of an `f64`, such as
/// `1e400`, is refused, as `serde_json` refuses it.)
///
/// Every `Extras` is checked when it is made: a JSON object, no key twice in
/// one object, at most [`MAX_EXTRAS_DEPTH`] levels deep. Make one with
/// [`Extras::parse`] (or [`str::parse`]), from a `serde_json` object with
/// `TryFrom`, or by deserializing a job; it serializes as the object
/// itself. Deserializing captures the raw text, which `serde_json`
/// supports (from text and from a `serde_json::Value`); formats that carry
/// no JSON text can hold [`Extras::as_str`] instead.
///
/// ```
/// use joblog::Extras;
///
/// let extras: Extras = r#"{ "quota": 18446744073709551616, "ratio": 1E2 }"#.parse()?;
/// assert_eq!(extras.as_str(), r#"{"quota":18446744073709551616,"ratio":1E2}"#);
///
/// let err = Extras::parse(r#"{"zone":"pek3","zone":"sh1"}"#).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "ParameterError, invalid value [zone] for field [extras]: \
///      the key appears twice in one object"
/// );
/// # Ok::<(), joblog::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Extras {
    /// Compact JSON text that passed every check.
    text: Box<str>,
}

impl Extras {
    /// The empty object, `{}`.
    pub fn new() -> Extras {
        Extras::trusted("{}")
    }

    /// Checks `text` and keeps it, without the whitespace between tokens.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidField`] naming `extras` when `text` is not
    /// valid JSON or not one object, a key appears twice in one object (the message quotes
    /// the key), or it nests deeper than [`MAX_EXTRAS_DEPTH`].
    pub fn parse(text: &str) -> Result<Extras, Error> {
        let mut problem = None;
        let mut reader = serde_json::Deserializer::from_str(text);
        let read = Check {
            depth: 1,
            problem: &mut problem,
        }
        .deserialize(&mut reader)
        .and_then(|()| reader.end());
        match (read, problem) {
            (Ok(()), _) => Ok(Extras::trusted(&compact(text))),
            (Err(_), Some(Problem::DuplicateKey(key))) => {
                Err(invalid(&key, "the key appears twice in one object"))
            }
            (Err(_), Some(Problem::TooDeep)) => Err(invalid(
                "…",
                &format!("must not nest deeper than {MAX_EXTRAS_DEPTH} levels"),
            )),
            (Err(_), Some(Problem::NotObject)) => Err(invalid("…", "must be a JSON object")),
            (Err(err), None) => Err(invalid("…", &format!("must be valid JSON: {err}"))),
        }
    }

    /// Text the store checked when it took it in.
    pub(crate) fn trusted(text: &str) -> Extras {
        Extras { text: text.into() }
    }

    /// The object as compact JSON text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the object has no keys.
    pub fn is_empty(&self) -> bool {
        &*self.text == "{}"
    }
}

impl Default for Extras {
    fn default() -> Extras {
        Extras::new()
    }
}

impl fmt::Debug for Extras {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Extras").field(&self.as_str()).finish()
    }
}

/// The compact JSON text.
impl fmt::Display for Extras {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Extras {
    type Err = Error;

    fn from_str(text: &str) -> Result<Extras, Error> {
        Extras::parse(text)
    }
}

/// The object as `serde_json` writes it (which orders keys as that map
/// does), checked for depth.
impl TryFrom<&serde_json::Map<String, serde_json::Value>> for Extras {
    type Error = Error;

    fn try_from(object: &serde_json::Map<String, serde_json::Value>) -> Result<Extras, Error> {
        let text = serde_json::to_string(object)
            .map_err(|err| invalid("…", &format!("cannot be written as JSON: {err}")))?;
        Extras::parse(&text)
    }
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for Extras {
    type Error = Error;

    fn try_from(object: serde_json::Map<String, serde_json::Value>) -> Result<Extras, Error> {
        Extras::try_from(&object)
    }
}

impl Serialize for Extras {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        raw_json(self.as_str())
            .map_err(S::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Extras {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Extras, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Extras::parse(raw.get()).map_err(de::Error::custom)
    }
}

/// JSON text the crate checked, as `serde_json` writes raw text.
pub(crate) fn raw_json(text: &str) -> Result<&RawValue, serde_json::Error> {
    serde_json::from_str(text)
}

fn invalid(value: &str, reason: &str) -> Error {
    Error::new(ErrorKind::InvalidField {
        field: "extras",
        value: value.to_owned(),
        reason: reason.to_owned(),
    })
}

/// Why a well-formed JSON text was refused.
enum Problem {
    NotObject,
    DuplicateKey(String),
    TooDeep,
}

/// Walks one JSON value at `depth` without building it, noting the first
/// problem; at the top (depth 1) only an object is taken.
struct Check<'p> {
    depth: usize,
    problem: &'p mut Option<Problem>,
}

impl Check<'_> {
    fn fail<E: de::Error>(&mut self, problem: Problem) -> E {
        *self.problem = Some(problem);
        E::custom("refused")
    }

    /// The check of a value inside this array or object.
    fn child(&mut self) -> Check<'_> {
        Check {
            depth: self.depth + 1,
            problem: self.problem,
        }
    }

    /// Opens an array or object at this depth, refusing one level too
    /// deep before reading anything inside it.
    fn open<E: de::Error>(&mut self) -> Result<(), E> {
        if self.depth > MAX_EXTRAS_DEPTH {
            return Err(self.fail(Problem::TooDeep));
        }
        Ok(())
    }

    fn scalar<E: de::Error>(&mut self) -> Result<(), E> {
        if self.depth == 1 {
            Err(self.fail(Problem::NotObject))
        } else {
            Ok(())
        }
    }
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(mut self, _: bool) -> Result<(), E> {
        self.scalar()
    }

    fn visit_i64<E: de::Error>(mut self, _: i64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_u64<E: de::Error>(mut self, _: u64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_f64<E: de::Error>(mut self, _: f64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_str<E: de::Error>(mut self, _: &str) -> Result<(), E> {
        self.scalar()
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.scalar()?;
        self.open()?;
        while seq.next_element_seed(self.child())?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.open()?;
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if keys.contains(&key) {
                return Err(self.fail(Problem::DuplicateKey(key)));
            }
            keys.insert(key);
            map.next_value_seed(self.child())?;
        }
        Ok(())
    }
}

/// Well-formed JSON text without the whitespace between its tokens.
fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::compact;

    #[test]
    fn compact_keeps_strings_and_drops_the_rest() {
        assert_eq!(
            compact("{ \"a b\" :\t[ 1 ,\n\"\\\" x\" ] }"),
            "{\"a b\":[1,\"\\\" x\"]}"
        );
    }
}
