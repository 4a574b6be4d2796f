//! The head of a name, kept beside it in a hash table: a probe compares
//! the bytes the table already holds instead of following a pointer to
//! the name (a cache miss when the name lives among a million jobs'
//! texts), and only a name longer than the head is read where it lives.

/// How many bytes of a name the head holds: enough for every app, owner,
/// action and resource id the API shows (`app-tg3lbp0a`, `CeaseResources`).
const HEAD: usize = 23;

/// A name's length (in the lowest byte) and first [`HEAD`] bytes, little
/// endian, as three words. A head is made from loads of the name into
/// registers, never by copying a few bytes onto the stack and reading
/// them back in wider loads, which the processor cannot forward from the
/// stores (a stall of a dozen cycles on every lookup). Packed to four
/// bytes, so a table entry of a symbol and a head takes 28 bytes.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
pub(super) struct Head {
    words: [u64; 3],
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        let (ours, theirs) = (self.words, other.words);
        ours == theirs
    }
}

impl Eq for Head {}

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
        let bytes = name.as_bytes();
        // Any length past the head is "long"; the name itself tells.
        let len = name.len().min(usize::from(u8::MAX)) as u64;
        Head {
            words: [
                len | load(bytes, 0, 7) << 8,
                load(bytes, 7, 8),
                load(bytes, 15, 8),
            ],
        }
    }

    /// The length the head holds (255 for any longer).
    fn len(&self) -> usize {
        let words = self.words;
        (words[0] & 0xff) as usize
    }

    /// Whether the name `probe` is the head of (made once for a lookup,
    /// whatever the number of entries it is held against) is the name this
    /// is the head of.
    pub(super) fn matches(&self, probe: &Head) -> Matches {
        if probe != self {
            Matches::No
        } else if probe.len() <= HEAD {
            Matches::Yes
        } else {
            Matches::Maybe
        }
    }

    /// Whether this is the head of the name `probe` is the head of, where
    /// `whole` compares the names themselves, asked only when the head
    /// cannot tell.
    pub(super) fn is(&self, probe: &Head, whole: impl FnOnce() -> bool) -> bool {
        match self.matches(probe) {
            Matches::No => false,
            Matches::Yes => true,
            Matches::Maybe => whole(),
        }
    }
}

/// Up to `n` (at most 8) bytes of `bytes` from `from`, little endian, the
/// rest zero: one load where eight bytes are there, and byte by byte into
/// a register at the end of a name.
fn load(bytes: &[u8], from: usize, n: usize) -> u64 {
    debug_assert!((1..=8).contains(&n), "a load of {n} bytes");
    let rest = bytes.get(from..).unwrap_or_default();
    let keep = u64::MAX >> (64 - 8 * n as u32);
    match rest.get(..8) {
        Some(word) => u64::from_le_bytes(word.try_into().unwrap_or([0; 8])) & keep,
        None => {
            let mut word = 0;
            for (at, &byte) in rest.iter().take(n).enumerate() {
                word |= u64::from(byte) << (8 * at);
            }
            word
        }
    }
}

/// Names seen lately, each in the slot a cheap hash of it (and of a tag
/// beside it, such as the app of a resource id) picks, with a number: a
/// build finds most of its apps, owners, actions and resource ids here,
/// without a SipHash and a probe of a large table. A slot holds the last
/// name that came to it, so a miss costs what the table costs, as it
/// would without the cache: input that picks colliding names gains
/// nothing.
pub(super) struct Recent {
    /// (head, tag, number); a power of two of them.
    slots: Vec<Option<(Head, u32, u32)>>,
}

impl Recent {
    /// The fewest slots, as a power of two.
    pub(super) const MIN_BITS: u32 = 6;
    /// The most: 4,096 slots, 144 KiB.
    const MAX_BITS: u32 = 12;

    /// A cache of `2^bits` slots.
    pub(super) fn new(bits: u32) -> Recent {
        Recent {
            slots: vec![None; 1 << bits.clamp(Recent::MIN_BITS, Recent::MAX_BITS)],
        }
    }

    /// How many slots it has.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Doubles the slots (up to the most), emptied.
    pub(super) fn grow(&mut self) {
        let bits = self.slots.len().trailing_zeros() + 1;
        if bits <= Recent::MAX_BITS {
            *self = Recent::new(bits);
        }
    }

    fn slot(&self, name: &str, tag: u32) -> usize {
        let bytes = name.as_bytes();
        let first = load(bytes, 0, 8);
        let last = load(bytes, bytes.len().saturating_sub(8), 8);
        let mixed = (first ^ last.rotate_left(29) ^ (u64::from(tag) << 32 | bytes.len() as u64))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (mixed >> 32) as usize & (self.slots.len() - 1)
    }

    /// The number held for `name` under `tag`, if its slot holds them.
    pub(super) fn get(&self, name: &str, tag: u32) -> Option<u32> {
        match self.slots[self.slot(name, tag)] {
            Some((head, held, number))
                if held == tag && head.matches(&Head::of(name)) == Matches::Yes =>
            {
                Some(number)
            }
            _ => None,
        }
    }

    /// Holds `number` for `name` under `tag` (if the head holds all of the
    /// name).
    pub(super) fn put(&mut self, name: &str, tag: u32, number: u32) {
        if name.len() <= HEAD {
            let slot = self.slot(name, tag);
            self.slots[slot] = Some((Head::of(name), tag, number));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At every length, and with one byte changed at every place, heads
    /// differ exactly where the names' first bytes or lengths do.
    #[test]
    fn a_head_holds_every_byte_of_its_length() {
        for len in 0..40 {
            let name: String = (0..len)
                .map(|at| char::from(b'a' + at as u8 % 26))
                .collect();
            assert_eq!(Head::of(&name), Head::of(&name.clone()), "{len}");
            assert_ne!(Head::of(&name), Head::of(&format!("{name}a")), "{len}");
            for at in 0..len {
                let mut other = name.clone().into_bytes();
                other[at] = b'#';
                let other = String::from_utf8(other).unwrap();
                let (ours, theirs) = (Head::of(&name), Head::of(&other));
                assert_eq!(ours == theirs, at >= HEAD, "{len} {at}");
                let expected = if at >= HEAD {
                    Matches::Maybe
                } else {
                    Matches::No
                };
                assert_eq!(ours.matches(&theirs), expected, "{len} {at}");
            }
        }
    }

    /// A head decides for short names, and sends long ones with the same
    /// start to be compared whole.
    #[test]
    fn a_head_tells_short_names_apart_and_defers_long_ones() {
        let short = Head::of("app-tg3lbp0a");
        assert_eq!(short.matches(&Head::of("app-tg3lbp0a")), Matches::Yes);
        assert_eq!(short.matches(&Head::of("app-tg3lbp0b")), Matches::No);
        assert_eq!(short.matches(&Head::of("app-tg3lbp0")), Matches::No);
        assert_eq!(short.matches(&Head::of("app-tg3lbp0a\0")), Matches::No);
        assert_eq!(Head::of("").matches(&Head::of("")), Matches::Yes);
        assert_eq!(Head::of("").matches(&Head::of("\0")), Matches::No);
        let exact = "a".repeat(HEAD);
        assert_eq!(Head::of(&exact).matches(&Head::of(&exact)), Matches::Yes);
        let long = "a".repeat(HEAD + 5);
        let head = Head::of(&long);
        assert_eq!(head.matches(&Head::of(&long)), Matches::Maybe);
        assert_eq!(head.matches(&Head::of(&"a".repeat(HEAD + 4))), Matches::No);
        assert_eq!(
            head.matches(&Head::of(&format!("{}b", "a".repeat(HEAD + 4)))),
            Matches::Maybe
        );
        let longer = "a".repeat(400);
        assert_eq!(
            Head::of(&longer).matches(&Head::of(&"a".repeat(300))),
            Matches::Maybe
        );
    }

    /// The cache gives back only the very name it holds under its tag,
    /// keeps the last name of a slot, and holds no name longer than a
    /// head.
    #[test]
    fn recent_names_are_only_ever_the_same_name() {
        let mut recent = Recent::new(10);
        assert_eq!(recent.get("usr-1", 0), None);
        recent.put("usr-1", 0, 7);
        assert_eq!(recent.get("usr-1", 0), Some(7));
        assert_eq!(recent.get("usr-1", 1), None);
        // A tag whose slot is the same: still not the name held.
        let tag = (1..)
            .find(|&tag| recent.slot("usr-1", tag) == recent.slot("usr-1", 0))
            .expect("some tag shares the slot");
        assert_eq!(recent.get("usr-1", tag), None);
        assert_eq!(recent.get("usr-2", 0), None);
        // Two names in one slot: the later one stays.
        let names: Vec<String> = (0..5000).map(|i| format!("usr-{i}")).collect();
        let first = &names[0];
        let other = names[1..]
            .iter()
            .find(|name| recent.slot(name, 0) == recent.slot(first, 0))
            .expect("5000 names in 1024 slots share one");
        recent.put(first, 0, 1);
        recent.put(other, 0, 2);
        assert_eq!(
            (recent.get(first, 0), recent.get(other, 0)),
            (None, Some(2))
        );
        let long = "x".repeat(HEAD + 1);
        recent.put(&long, 0, 3);
        assert_eq!(recent.get(&long, 0), None);
        // Every name finds a slot, short or empty.
        for name in ["", "a", "abcdefgh", "abcdefghi", &long] {
            assert!(recent.slot(name, u32::MAX) < 1024);
        }
        // It grows by doubling, emptied, up to 4,096 slots.
        recent.grow();
        assert_eq!((recent.len(), recent.get(other, 0)), (2048, None));
        recent.grow();
        recent.grow();
        assert_eq!(recent.len(), 4096);
        assert_eq!(Recent::new(0).len(), 64);
    }
}
