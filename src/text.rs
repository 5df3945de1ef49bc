//! Text from outside (servers, result files, the RunPod catalog) made safe to print: terminal
//! escape sequences and control characters are removed, so a hostile model id, error body or
//! run name cannot clear the screen, move the cursor, retitle the window or hide text.

use std::borrow::Cow;

/// One line of text: escape sequences and control characters dropped, line breaks and tabs
/// turned into spaces.
pub fn printable(text: &str) -> Cow<'_, str> {
    clean(text, false)
}

/// Like [`printable`] but keeps `\n`, for multi-line messages (an error and its causes).
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    clean(text, true)
}

/// Bidirectional overrides and isolates: invisible, they reorder what the reader sees.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn clean(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' | '\r' | '\t' => out.push(' '),
            '\u{1b}' => match chars.next() {
                // CSI: parameters up to a final byte in @..~
                Some('[') => skip_csi(&mut chars),
                // OSC / DCS / SOS / PM / APC: a string up to BEL or ST (ESC \).
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                _ => {} // a two-character escape: both dropped
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('@'..='~').contains(&c) {
            break;
        }
    }
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(printable("Qwen/Qwen3-0.6B ü"), Cow::Borrowed(_)));
    }

    #[test]
    fn escapes_and_controls_are_removed() {
        assert_eq!(printable("a\u{1b}[2J\u{1b}[31mred\u{1b}[0m"), "ared");
        assert_eq!(printable("x\u{1b}]0;pwned\u{7}y"), "xy");
        assert_eq!(printable("x\u{1b}]8;;http://e\u{1b}\\link"), "xlink");
        assert_eq!(printable("bell\u{7}\u{8}\u{0}\u{7f}\u{9b}1Aok"), "bellok");
        assert_eq!(printable("two\nlines\r\tend"), "two lines  end");
        assert_eq!(printable("a\u{202e}gnp.exe"), "agnp.exe");
        assert_eq!(printable("cut\u{1b}"), "cut");
    }

    #[test]
    fn multi_line_keeps_newlines_only() {
        assert_eq!(
            printable_lines("error\n  caused by: \u{1b}[1Kx\r"),
            "error\n  caused by: x "
        );
    }
}
