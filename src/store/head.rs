//! The head of a name, kept beside it in a hash table: a probe compares
//! the bytes the table already holds instead of following a pointer to
//! the name (a cache miss when the name lives among a million jobs'
//! texts), and only a name longer than the head is read where it lives.

/// How many bytes of a name the head holds: enough for every app, owner,
/// action and resource id the API shows (`app-tg3lbp0a`, `CeaseResources`).
const HEAD: usize = 23;

/// A name's length and first [`HEAD`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Head {
    len: u8,
    bytes: [u8; HEAD],
}

/// What a head says of a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Matches {
    /// Not this name.
    No,
    /// This very name: it is short, and the head holds all of it.
    Yes,
    /// Its head and length match; the whole name must be compared.
    Maybe,
}

impl Head {
    pub(super) fn of(name: &str) -> Head {
        let mut bytes = [0; HEAD];
        let len = name.len().min(HEAD);
        bytes[..len].copy_from_slice(&name.as_bytes()[..len]);
        Head {
            // Any length past the head is "long"; the name itself tells.
            len: name.len().min(usize::from(u8::MAX)) as u8,
            bytes,
        }
    }

    /// Whether `name` is the name this is the head of.
    pub(super) fn matches(&self, name: &str) -> Matches {
        let other = Head::of(name);
        if other != *self {
            Matches::No
        } else if name.len() <= HEAD {
            Matches::Yes
        } else {
            Matches::Maybe
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head decides for short names, and sends long ones with the same
    /// start to be compared whole.
    #[test]
    fn a_head_tells_short_names_apart_and_defers_long_ones() {
        let short = Head::of("app-tg3lbp0a");
        assert_eq!(short.matches("app-tg3lbp0a"), Matches::Yes);
        assert_eq!(short.matches("app-tg3lbp0b"), Matches::No);
        assert_eq!(short.matches("app-tg3lbp0"), Matches::No);
        assert_eq!(short.matches("app-tg3lbp0a\0"), Matches::No);
        assert_eq!(Head::of("").matches(""), Matches::Yes);
        assert_eq!(Head::of("").matches("\0"), Matches::No);
        let exact = "a".repeat(HEAD);
        assert_eq!(Head::of(&exact).matches(&exact), Matches::Yes);
        let long = "a".repeat(HEAD + 5);
        let head = Head::of(&long);
        assert_eq!(head.matches(&long), Matches::Maybe);
        assert_eq!(head.matches(&"a".repeat(HEAD + 4)), Matches::No);
        assert_eq!(
            head.matches(&format!("{}b", "a".repeat(HEAD + 4))),
            Matches::Maybe
        );
        let longer = "a".repeat(400);
        assert_eq!(Head::of(&longer).matches(&"a".repeat(300)), Matches::Maybe);
    }
}
