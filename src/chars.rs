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
    if !needs_json_escape(text) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(escape_bytes(text))
}

/// Whether any byte of `text` is escaped in JSON: checked 16 bytes at a
/// time without an early exit, which the compiler turns into vector
/// compares (answers check every short field of every job).
pub(crate) fn needs_json_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut chunks = bytes.chunks_exact(16);
    let found = chunks.by_ref().any(|chunk| {
        chunk
            .iter()
            .fold(false, |seen, &byte| seen | escaped_in_json(byte))
    });
    found || chunks.remainder().iter().any(|&byte| escaped_in_json(byte))
}

/// Appends `text` as written inside a JSON string (see [`json_escaped`]).
pub(crate) fn push_json_escaped(out: &mut String, text: &str) {
    if !needs_json_escape(text) {
        out.push_str(text);
        return;
    }
    out.push_str(&escape_bytes(text));
}

/// The escaped form, built byte by byte (escapes are dense in a JSON
/// directive: a slice copy for each run between them costs more).
fn escape_bytes(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = Vec::with_capacity(text.len() + text.len() / 4 + 8);
    for &byte in text.as_bytes() {
        if !escaped_in_json(byte) {
            bytes.push(byte);
            continue;
        }
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            0x0C => b'f',
            b'\r' => b'r',
            _ => {
                bytes.extend_from_slice(b"\\u00");
                bytes.push(HEX[usize::from(byte >> 4)]);
                bytes.push(HEX[usize::from(byte & 0xF)]);
                continue;
            }
        };
        bytes.extend_from_slice(&[b'\\', short]);
    }
    // Only ASCII was added between the input's own characters.
    String::from_utf8(bytes).unwrap_or_default()
}

/// Whether `text` is some text as [`json_escaped`] writes it: no `"` or
/// control unescaped, and every escape the one serde_json writes for its
/// character (`\"`, `\\`, the short forms, `\u00xx` in lower case for the
/// other controls). What passes reads back with [`json_unescaped`].
pub(crate) fn is_json_escaped(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        at += 1;
        if byte != b'\\' {
            if byte < 0x20 || byte == b'"' {
                return false;
            }
            continue;
        }
        match bytes.get(at) {
            Some(b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r') => at += 1,
            Some(b'u') => {
                let control = match bytes.get(at + 1..at + 5) {
                    Some([b'0', b'0', high @ (b'0' | b'1'), low]) => {
                        let low = match low {
                            b'0'..=b'9' => low - b'0',
                            b'a'..=b'f' => low - b'a' + 10,
                            _ => return false,
                        };
                        ((high - b'0') << 4) | low
                    }
                    _ => return false,
                };
                // Those with a short form are written short.
                if matches!(control, 0x08 | 0x09 | 0x0A | 0x0C | 0x0D) {
                    return false;
                }
                at += 5;
            }
            _ => return false,
        }
    }
    true
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
        /// Exactly the escaped forms pass: any text's, and no other.
        #[test]
        fn the_escaped_form_is_recognized(
            text in "(\\PC|[\\x00-\\x1f\"\\\\/\\x7f\u{2028}é])*",
            other in "(\\\\(u00[01][0-9a-fA-F]|u[0-9a-fA-F]{0,4}|.)|[a\"\\x00-\\x1f])*",
        ) {
            prop_assert!(is_json_escaped(&json_escaped(&text)));
            let canonical = serde_json::from_str::<String>(&format!("\"{other}\""))
                .is_ok_and(|read| json_escaped(&read) == other);
            prop_assert_eq!(is_json_escaped(&other), canonical, "{:?}", other);
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
    }
}
