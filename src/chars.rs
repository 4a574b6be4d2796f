//! Character classes: what an id may not hold, and what a message must
//! escape when it quotes a value.

use std::borrow::Cow;

/// Whitespace, control, invisible or bidirectional-control: what no id
/// may hold.
pub(crate) fn is_blank(c: char) -> bool {
    c.is_whitespace() || c.is_control() || is_invisible(c)
}

/// Invisible format and bidirectional-control characters: they let two
/// ids that print alike differ, or reorder what a log line shows.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// Whether serde_json escapes a byte inside a string: `"`, `\` and the
/// controls below U+0020 (never DEL, `/` or anything beyond ASCII).
fn escaped_in_json(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// `text` as written inside a JSON string, byte for byte as serde_json
/// writes it: `\"`, `\\`, `\b`, `\t`, `\n`, `\f`, `\r`, and `\u00xx`
/// (lower-case hex) for the other controls. Borrowed when nothing needs
/// escaping.
pub(crate) fn json_escaped(text: &str) -> Cow<'_, str> {
    let len = escaped_len(text);
    if len == text.len() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(len);
    push_escaped(&mut out, text);
    Cow::Owned(out)
}

/// Whether any byte of `text` is escaped in JSON (answers check every
/// short field of every job).
pub(crate) fn needs_json_escape(text: &str) -> bool {
    !every_byte(text.as_bytes(), |byte| !escaped_in_json(byte))
}

/// Whether every byte of `bytes` passes `test`: checked 16 bytes at a
/// time without an early exit inside a piece, which the compiler turns into vector
/// compares, the last 16 again where they overlap the ones before; a
/// shorter text as two pieces of 8 (or 4) that overlap. Short ids and
/// names are most of what a job holds, and a loop with an early exit
/// costs several instructions a byte.
#[inline(always)]
pub(crate) fn every_byte(bytes: &[u8], test: impl Fn(u8) -> bool) -> bool {
    let len = bytes.len();
    match len {
        16.. => {
            let mut chunks = bytes.chunks_exact(16);
            chunks.by_ref().all(|chunk| all_of::<16>(chunk, &test))
                && (chunks.remainder().is_empty() || all_of::<16>(&bytes[len - 16..], &test))
        }
        8.. => all_of::<8>(&bytes[..8], &test) && all_of::<8>(&bytes[len - 8..], &test),
        4.. => all_of::<4>(&bytes[..4], &test) && all_of::<4>(&bytes[len - 4..], &test),
        _ => bytes.iter().all(|&byte| test(byte)),
    }
}

/// Whether every byte of `chunk`, `N` of them, passes `test`, with no
/// early exit.
#[inline(always)]
fn all_of<const N: usize>(chunk: &[u8], test: &impl Fn(u8) -> bool) -> bool {
    let chunk: &[u8; N] = chunk.try_into().unwrap_or(&[0; N]);
    chunk.iter().fold(true, |all, &byte| all & test(byte))
}

/// Appends `text` as written inside a JSON string (see [`json_escaped`]).
pub(crate) fn push_json_escaped(out: &mut String, text: &str) {
    if !needs_json_escape(text) {
        out.push_str(text);
        return;
    }
    push_escaped(out, text);
}

/// Text whose length is known before it is written, so what joins
/// several is allocated once, at its size.
pub(crate) trait Written {
    /// The length of what [`Written::write`] appends.
    fn len(&self) -> usize;
    /// Appends the text.
    fn write(&self, out: &mut String);
}

impl Written for &str {
    fn len(&self) -> usize {
        str::len(self)
    }

    fn write(&self, out: &mut String) {
        out.push_str(self);
    }
}

/// A part of a record's text: already in the form the store keeps (read
/// from a snapshot, say), or a value to write in that form, with the
/// length it will have, counted first. So a record's text is allocated
/// once, at its size, and each part written straight into it.
#[derive(Clone, Debug)]
pub(crate) enum Deferred<'a, T> {
    Ready(Cow<'a, str>),
    Later { value: T, len: usize },
}

/// What a [`Deferred`] part writes when it is not ready.
pub(crate) trait WriteInto {
    fn write_into(&self, out: &mut String);
}

impl<T: WriteInto> Written for Deferred<'_, T> {
    fn len(&self) -> usize {
        match self {
            Deferred::Ready(text) => text.len(),
            Deferred::Later { len, .. } => *len,
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Deferred::Ready(text) => out.push_str(text),
            Deferred::Later { value, .. } => value.write_into(out),
        }
    }
}

/// Text to write inside a JSON string, escaped.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Escape<'a>(&'a str);

impl WriteInto for Escape<'_> {
    fn write_into(&self, out: &mut String) {
        push_escaped(out, self.0);
    }
}

/// Text as it is written inside a JSON string.
pub(crate) type JsonText<'a> = Deferred<'a, Escape<'a>>;

impl<'a> JsonText<'a> {
    /// `text`, escaped when written (ready as it is when nothing in it
    /// needs escaping).
    pub(crate) fn raw(text: &'a str) -> JsonText<'a> {
        let len = escaped_len(text);
        if len == text.len() {
            Deferred::Ready(Cow::Borrowed(text))
        } else {
            Deferred::Later {
                value: Escape(text),
                len,
            }
        }
    }
}

/// Word-at-a-time byte tests: the high bit of each byte of the answer is
/// set exactly for the bytes that pass (no carry crosses a byte).
mod swar {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;

    /// The bytes JSON escapes inside a string: `"`, `\\` and controls.
    pub(super) fn escaped(word: u64) -> u64 {
        // Each byte's low seven bits, its high bit clear, so a sum never
        // carries into the next byte; the word's own high bits rule out
        // the bytes at or above 0x80, none of which is escaped.
        let low = word & LOW7;
        // Equal to `byte` (ASCII): the low bits match, which leaves
        // `+ LOW7` below 0x80.
        let equal = |byte: u8| !(((low ^ (ONES * u64::from(byte))) + LOW7) | word) & HIGH;
        let controls = !((low + ONES * 0x60) | word) & HIGH;
        equal(b'"') | equal(b'\\') | controls
    }
}

/// By byte: how JSON writes it inside a string: 0 as it is, the letter
/// of its short escape (`\n` for a newline), or `u` for `\u00xx`.
const ESCAPES: [u8; 256] = {
    let mut escapes = [0; 256];
    let mut byte = 0;
    while byte < 0x20 {
        escapes[byte] = b'u';
        byte += 1;
    }
    escapes[0x08] = b'b';
    escapes[0x09] = b't';
    escapes[0x0A] = b'n';
    escapes[0x0C] = b'f';
    escapes[0x0D] = b'r';
    escapes[b'"' as usize] = b'"';
    escapes[b'\\' as usize] = b'\\';
    escapes
};

/// Calls `each` with the words of `bytes`, eight bytes each
/// (little-endian), and how many bytes of each are the text's: the last
/// word is padded with spaces, which JSON writes as they are.
#[inline(always)]
fn for_words(bytes: &[u8], mut each: impl FnMut(u64, usize)) {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in chunks.by_ref() {
        each(u64::from_le_bytes(chunk.try_into().unwrap_or([b' '; 8])), 8);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut last = [b' '; 8];
        last[..tail.len()].copy_from_slice(tail);
        each(u64::from_le_bytes(last), tail.len());
    }
}

/// The length of `text` written inside a JSON string: one byte more for
/// each short escape, five more for each `\u00xx`; [`LANES`] bytes at a
/// time, in a sum the compiler turns into vector compares.
pub(crate) fn escaped_len(text: &str) -> usize {
    /// How many bytes more than itself `byte` takes.
    #[inline(always)]
    fn more(byte: u8) -> u8 {
        let twice = (byte == b'"') | (byte == b'\\');
        let short =
            (byte == 0x08) | (byte == 0x09) | (byte == 0x0A) | (byte == 0x0C) | (byte == 0x0D);
        u8::from(twice | short) + 5 * u8::from((byte < 0x20) & !short)
    }
    let sum = |chunk: &[u8; LANES]| {
        // At most five a byte: 160 fits.
        usize::from(chunk.iter().fold(0u8, |sum, &byte| sum + more(byte)))
    };
    let mut chunks = text.as_bytes().chunks_exact(LANES);
    let mut len = text.len();
    for chunk in chunks.by_ref() {
        len += sum(chunk.try_into().unwrap_or(&[b' '; LANES]));
    }
    // The rest padded with spaces, which take no more.
    let mut last = [b' '; LANES];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    len + sum(&last)
}

/// The most bytes [`push_escaped`] escapes at once: a block ends on a
/// character boundary, at most three bytes past it.
const BLOCK: usize = 256;
/// Room for a block's escaped form (at most six bytes a byte) and a
/// word's store past its end.
const BLOCK_ROOM: usize = 6 * (BLOCK + 3) + 8;

/// Appends the escaped form of `text`, a block at a time through a buffer
/// on the stack: a word without escapes is copied with one store, and in
/// a word with some, the bytes before each escape are (escapes are dense
/// in a JSON directive: one every few bytes).
fn push_escaped(out: &mut String, text: &str) {
    let mut buf = [0u8; BLOCK_ROOM];
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + BLOCK).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let block = text.as_bytes().get(start..end).unwrap_or_default();
        let mut len = 0;
        for_words(block, |word, bytes| {
            len = escape_word(&mut buf, len, word, bytes)
        });
        // The block's own characters, whole, with ASCII escapes between: a
        // failure here is a bug of this function, not of its input, and
        // would leave the record's lengths wrong, so it stops loudly.
        let escaped = std::str::from_utf8(&buf[..len]);
        out.push_str(escaped.expect("joblog bug: an escaped block splits a character"));
        start = end;
    }
}

/// Writes the escaped form of the first `bytes` bytes of `word` at `len`
/// in `buf`, and says where it ended. `len` is at most six bytes for each
/// byte of the block before, so the stores stay inside `buf`.
#[inline(always)]
fn escape_word(
    buf: &mut [u8; BLOCK_ROOM],
    mut len: usize,
    mut word: u64,
    mut bytes: usize,
) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut found = swar::escaped(word);
    loop {
        buf[len..len + 8].copy_from_slice(&word.to_le_bytes());
        if found == 0 {
            return len + bytes;
        }
        let before = (found.trailing_zeros() / 8) as usize;
        len += before;
        let byte = (word >> (8 * before)) as u8;
        let letter = ESCAPES[usize::from(byte)];
        if letter == b'u' {
            let (high, low) = (HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xF)]);
            buf[len..len + 6].copy_from_slice(&[b'\\', b'u', b'0', b'0', high, low]);
            len += 6;
        } else {
            buf[len..len + 2].copy_from_slice(&[b'\\', letter]);
            len += 2;
        }
        // Past the escaped byte: a shift by 1 to 64 bits, in two steps
        // (one shift of 64 would not be one).
        let used = 8 * before as u32 + 7;
        word = word >> used >> 1;
        found = found >> used >> 1;
        bytes = bytes.saturating_sub(before + 1);
    }
}

/// Whether `text` is some text as [`json_escaped`] writes it: no `"` or
/// control unescaped, and every escape the one serde_json writes for its
/// character (`\"`, `\\`, the short forms, `\u00xx` in lower case for the
/// other controls). What passes reads back with [`json_unescaped`].
///
/// A block of [`LANES`] bytes at a time where it can: a block whose
/// escapes are all single backslashes before a quote or a short letter (a
/// JSON directive's `\"`, a `\n`) is checked in one pass the compiler
/// turns into vector compares ([`escaped_lanes`]); any other block, and
/// the block after one read byte by byte that ended in an escaped
/// backslash, byte by byte.
pub(crate) fn is_json_escaped(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return true;
    }
    // The first character or escape on its own, so that every block has
    // the byte before it.
    let Some(mut at) = escape_step(bytes, 0) else {
        return false;
    };
    // Whether the byte before `at` is a backslash that escapes the byte
    // at `at` (it ends a block that passed).
    let mut carry = false;
    // The last block, padded with spaces (a backslash at the very end then
    // escapes one, and fails); filled once, as the loop ends after it.
    let mut last = [b' '; LANES + 1];
    while at < bytes.len() {
        // The block and the byte before it.
        let window: &[u8; LANES + 1] = match bytes.get(at - 1..at + LANES) {
            Some(window) => window.try_into().unwrap_or(&last),
            None => {
                let rest = bytes.get(at - 1..).unwrap_or_default();
                last[..rest.len()].copy_from_slice(rest);
                &last
            }
        };
        // A backslash before the block escapes its first byte only when
        // the block before passed with it (after a byte-by-byte pass, `at`
        // is where an escape or character starts).
        if (window[0] == b'\\') == carry && escaped_lanes(window) {
            carry = window[LANES] == b'\\';
            at += LANES;
            continue;
        }
        let end = (at + LANES).min(bytes.len());
        at -= usize::from(carry);
        carry = false;
        while at < end {
            match escape_step(bytes, at) {
                Some(next) => at = next,
                None => return false,
            }
        }
    }
    // A block that passed may end in a backslash, which then escapes
    // nothing.
    !carry
}

/// How many bytes [`is_json_escaped`] checks at once.
const LANES: usize = 32;

/// Whether the last [`LANES`] bytes of `window` are escaped text in which
/// every backslash is single and escapes a quote or a short letter, given
/// that `window[0]` is a backslash exactly when it escapes the byte after
/// it: no control, every quote escaped, and nothing else escaped. A
/// backslash escaped, or one before `u`, fails, and is left to
/// [`escape_step`].
#[inline(always)]
fn escaped_lanes(window: &[u8; LANES + 1]) -> bool {
    let mut bad = false;
    for lane in 0..LANES {
        let (before, byte) = (window[lane], window[lane + 1]);
        let quote = byte == b'"';
        let escaped = before == b'\\';
        let letter = matches!(byte, b'b' | b't' | b'n' | b'f' | b'r');
        bad |= (byte < 0x20) | (quote & !escaped) | (escaped & !(quote | letter));
    }
    !bad
}

/// Checks the character or escape at `at` of an escaped text, and says
/// where the next one starts; `None` if it is not in the escaped form.
fn escape_step(bytes: &[u8], at: usize) -> Option<usize> {
    let byte = *bytes.get(at)?;
    if byte != b'\\' {
        return (byte >= 0x20 && byte != b'"').then_some(at + 1);
    }
    match bytes.get(at + 1)? {
        b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r' => Some(at + 2),
        b'u' => {
            let control = match bytes.get(at + 2..at + 6)? {
                [b'0', b'0', high @ (b'0' | b'1'), low] => {
                    let low = match low {
                        b'0'..=b'9' => low - b'0',
                        b'a'..=b'f' => low - b'a' + 10,
                        _ => return None,
                    };
                    ((high - b'0') << 4) | low
                }
                _ => return None,
            };
            // Those with a short form are written short.
            (!matches!(control, 0x08 | 0x09 | 0x0A | 0x0C | 0x0D)).then_some(at + 6)
        }
        _ => None,
    }
}

/// The text that [`json_escaped`] escaped, back as it was. Borrowed when
/// nothing was escaped.
pub(crate) fn json_unescaped(escaped: &str) -> Cow<'_, str> {
    if !escaped.contains('\\') {
        return Cow::Borrowed(escaped);
    }
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let (byte, used) = match tail.as_bytes().first() {
            Some(b'"') => (b'"', 1),
            Some(b'\\') => (b'\\', 1),
            Some(b'b') => (0x08, 1),
            Some(b't') => (b'\t', 1),
            Some(b'n') => (b'\n', 1),
            Some(b'f') => (0x0C, 1),
            Some(b'r') => (b'\r', 1),
            // `\u00xx`: a control, the only other escape written.
            _ => match tail
                .get(1..5)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            {
                Some(byte) => (byte, 5),
                None => panic!("joblog bug: stored text has a bad escape: {escaped}"),
            },
        };
        out.push(char::from(byte));
        rest = &tail[used..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Escaping is serde_json's, byte for byte, and undoes itself.
        #[test]
        fn escaping_is_serde_jsons(text in "(\\PC|[\\x00-\\x1f\"\\\\/\\x7f\u{2028}é])*") {
            let escaped = json_escaped(&text);
            let theirs = serde_json::to_string(&text).unwrap();
            prop_assert_eq!(format!("\"{escaped}\""), theirs);
            prop_assert_eq!(json_unescaped(&escaped), text.as_str());
        }
    }

    proptest! {
        /// Counted 32 bytes at a time and written a word at a time in
        /// blocks, the escaped form is the same as one escaped byte by
        /// byte, at every offset of the escapes within a word, a count's
        /// chunk and a block (texts up to about 1,300 bytes, so most cross
        /// a block's end).
        #[test]
        fn escapes_are_counted_and_written_in_blocks(
            text in "([a-z]{0,9}[\x00-\x1f\"\\\\é]?){0,120}",
        ) {
            let by_byte: String = text
                .chars()
                .map(|c| serde_json::to_string(&c.to_string()).unwrap())
                .map(|quoted| quoted[1..quoted.len() - 1].to_owned())
                .collect();
            let raw = JsonText::raw(&text);
            let mut out = String::new();
            raw.write(&mut out);
            prop_assert_eq!(&out, &by_byte);
            prop_assert_eq!(raw.len(), by_byte.len());
            prop_assert_eq!(escaped_len(&text), by_byte.len());
            prop_assert_eq!(matches!(raw, Deferred::Ready(_)), by_byte == text);
        }
    }

    proptest! {
        /// Exactly the escaped forms pass: any text's, and no other.
        #[test]
        fn the_escaped_form_is_recognized(
            text in "(\\PC|[\\x00-\\x1f\"\\\\/\\x7f\u{2028}é])*",
            other in "(\\\\(u00[01][0-9a-fA-F]|u[0-9a-fA-F]{0,4}|[btnfr\"\\\\/u]|.)|[a\"\\x00-\\x1f]|a{1,40})*",
        ) {
            prop_assert!(is_json_escaped(&json_escaped(&text)));
            let canonical = serde_json::from_str::<String>(&format!("\"{other}\""))
                .is_ok_and(|read| json_escaped(&read) == other);
            prop_assert_eq!(is_json_escaped(&other), canonical, "{:?}", other);
        }
    }

    /// Every length, and a failing byte at every place.
    #[test]
    fn every_byte_reads_each_byte_once_or_more() {
        for len in 0..50 {
            let text = vec![b'a'; len];
            assert!(every_byte(&text, |byte| byte == b'a'), "{len}");
            for at in 0..len {
                let mut text = text.clone();
                text[at] = b'"';
                assert!(!every_byte(&text, |byte| byte == b'a'), "{len} {at}");
            }
        }
    }

    /// Escapes that straddle the blocks the check reads, at every offset,
    /// after a block that passed and after one read byte by byte.
    #[test]
    fn escapes_across_blocks_are_read_whole() {
        for (pad, slow) in (0..2 * LANES + 2).flat_map(|pad| [(pad, ""), (pad, r"\\\\")]) {
            let a = format!("{slow}{}", "a".repeat(pad));
            for (tail, good) in [
                (r"\", false),
                (r#"\"aaaaaaaa"#, true),
                (r#"\\\"aaaaaaa"#, true),
                (r#"\\"aaaaaaa"#, false),
                (r"\\\\aaaaaaaa", true),
                (r"\u001faaaaaaaa", true),
                (r"\u0001", true),
                (r"\u000", false),
                (r"\naaaaaaa\", false),
                (r"\qaaaaaaa", false),
                (r#"\n\"\taaaaaaaa"#, true),
                ("\u{1}aaaaaaaa", false),
                ("\u{e9}\\\"aaaaaaaa", true),
            ] {
                // Ending in the tail, and long enough that the check reads
                // blocks past it.
                for after in [String::new(), "a".repeat(LANES)] {
                    let text = format!("{a}{tail}{after}");
                    assert_eq!(is_json_escaped(&text), good, "{text}");
                }
            }
        }
    }

    #[test]
    fn only_serde_jsons_own_escapes_are_its_form() {
        for good in [r"\u001f", r"\u0000", r"\u000b", r#"\b\t\n\f\r\"\\"#, "é/<>"] {
            assert!(is_json_escaped(good), "{good}");
        }
        for bad in [
            r"\u001F", r"\u000a", r"\u0008", r"\u0020", r"\u0041", r"\u00", r"\/", r"\", "\"",
            "\u{1}",
        ] {
            assert!(!is_json_escaped(bad), "{bad}");
        }
    }

    #[test]
    fn every_control_is_escaped_as_serde_json_does() {
        let text: String = (0u8..0x80).map(char::from).collect();
        let escaped = json_escaped(&text);
        assert_eq!(
            format!("\"{escaped}\""),
            serde_json::to_string(&text).unwrap()
        );
        assert_eq!(json_unescaped(&escaped), text);
        assert!(matches!(json_escaped("plain/ü"), Cow::Borrowed("plain/ü")));
        // The densest blocks: every byte six wide, and blocks that end
        // inside a character (pushed past it by one to three bytes, or
        // not at all) at every offset.
        let dense = (0..4).flat_map(|pad| {
            let a = "a".repeat(pad);
            [
                format!("{a}{}", "\u{1}é".repeat(BLOCK)),
                format!("{a}{}", "€\u{1}".repeat(BLOCK)),
                format!("{a}{}", "😀\u{1f}".repeat(BLOCK)),
            ]
        });
        for text in std::iter::once("\u{1}".repeat(2 * BLOCK)).chain(dense) {
            let escaped = json_escaped(&text);
            assert_eq!(
                format!("\"{escaped}\""),
                serde_json::to_string(&text).unwrap()
            );
            assert_eq!(escaped_len(&text), escaped.len());
        }
    }
}
