//! Character classes: what an id may not hold, and what a message must
//! escape when it quotes a value.

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
