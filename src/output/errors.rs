//! The failed requests of a run, one line per kind of failure: the same error on every request
//! (a prompt longer than the server's context, say) is shown once with how many it hit, not
//! once per request. Messages that differ only in their numbers (token counts) are one kind.

use std::io::{self, Write};

use crate::output::style::Style;
use crate::results::result::RequestResult;

/// Kinds shown; the rest are counted.
const MAX_KINDS: usize = 5;

/// Failed requests grouped by message shape: `(count, first message)`, most frequent first.
pub fn distinct_errors(requests: &[RequestResult]) -> Vec<(usize, String)> {
    let mut groups: Vec<(String, usize, String)> = Vec::new();
    for message in requests.iter().filter_map(|r| r.error.as_deref()) {
        let key = shape(message);
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some(g) => g.1 += 1,
            None => groups.push((key, 1, message.to_string())),
        }
    }
    // Stable: equal counts keep the order they first happened in.
    groups.sort_by_key(|g| std::cmp::Reverse(g.1));
    groups.into_iter().map(|(_, n, m)| (n, m)).collect()
}

/// The message with every run of digits replaced by `#`.
fn shape(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_digits = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

/// `  Failures  3 requests: HTTP 400 …` lines under the summary; nothing when all succeeded.
pub fn render_errors(
    requests: &[RequestResult],
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let groups = distinct_errors(requests);
    for (i, (n, message)) in groups.iter().take(MAX_KINDS).enumerate() {
        let label = if i == 0 { "Failures" } else { "" };
        let what = if *n == 1 { "request" } else { "requests" };
        writeln!(
            out,
            "  {}{}",
            style.dim(&format!("{label:<16}")),
            style.red(&format!("{n} {what}: {message}"))
        )?;
    }
    if groups.len() > MAX_KINDS {
        let rest: usize = groups[MAX_KINDS..].iter().map(|(n, _)| n).sum();
        writeln!(
            out,
            "  {:<16}… and {rest} more failed requests of {} other kinds (see the result file)",
            "",
            groups.len() - MAX_KINDS
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(error: Option<&str>) -> RequestResult {
        RequestResult {
            request_index: 0,
            e2e_latency_ms: Some(1.0),
            inter_token_latencies_ms: vec![],
            error: error.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn the_same_error_with_other_numbers_is_shown_once() {
        let a = "HTTP 400 BadRequestError: Requested token count exceeds the model's maximum \
                 context length of 1024 tokens. You requested a total of 1219 tokens";
        let b = "HTTP 400 BadRequestError: Requested token count exceeds the model's maximum \
                 context length of 1024 tokens. You requested a total of 1300 tokens";
        let rows = [
            row(Some(a)),
            row(None),
            row(Some(b)),
            row(Some("HTTP 500: x")),
            row(Some(a)),
        ];
        let groups = distinct_errors(&rows);
        assert_eq!(
            groups,
            vec![(3, a.to_string()), (1, "HTTP 500: x".to_string())]
        );
        let mut out = Vec::new();
        render_errors(&rows, Style::PLAIN, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("maximum context length").count(), 1, "{text}");
        assert!(
            text.contains("Failures        3 requests: HTTP 400"),
            "{text}"
        );
        assert!(text.contains("1 request: HTTP 500: x"), "{text}");
    }

    #[test]
    fn nothing_when_all_succeeded_and_a_cap_on_kinds() {
        let mut out = Vec::new();
        render_errors(&[row(None)], Style::PLAIN, &mut out).unwrap();
        assert!(out.is_empty());
        let kinds = ["a", "b", "c", "d", "e", "f", "g"];
        let rows: Vec<RequestResult> = kinds.iter().map(|k| row(Some(k))).collect();
        render_errors(&rows, Style::PLAIN, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("2 more failed requests of 2 other kinds"),
            "{text}"
        );
    }
}
