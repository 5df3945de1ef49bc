//! Prometheus text exposition format (version 0.0.4, plus the OpenMetrics bits servers mix in).
//!
//! Tolerant by design: a bad line is counted in [`Exposition::skipped_lines`] and skipped, never
//! an error, and no input (however malformed) can panic the parser. The parser only ever slices
//! the text at positions of ASCII bytes it found itself, which are always char boundaries, and
//! uses `str::get` so a mistake would show up as a skipped line, not a panic.

use std::borrow::Cow;
use std::collections::HashMap;

/// The `# TYPE` of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
    /// OpenMetrics types and anything else a server may write.
    Other,
}

impl MetricType {
    fn from_token(token: &str) -> MetricType {
        let is = |name: &str| token.eq_ignore_ascii_case(name);
        if is("counter") {
            MetricType::Counter
        } else if is("gauge") {
            MetricType::Gauge
        } else if is("histogram") {
            MetricType::Histogram
        } else if is("summary") {
            MetricType::Summary
        } else if is("untyped") || is("unknown") {
            MetricType::Untyped
        } else {
            MetricType::Other
        }
    }
}

/// One sample line: `name{labels} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// In the order written, values unescaped.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// As written: milliseconds in the Prometheus format, seconds in OpenMetrics.
    pub timestamp: Option<f64>,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed `/metrics` body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    /// Family name (as in `# TYPE <family> <type>`) → type.
    pub types: HashMap<String, MetricType>,
    /// Lines that were neither blank, a comment nor a valid sample.
    pub skipped_lines: usize,
}

/// Cumulative histogram buckets of one family, summed over all its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `(le, cumulative count)`, sorted by `le`; the last is normally `+Inf`.
    pub buckets: Vec<(f64, f64)>,
    pub sum: Option<f64>,
    pub count: Option<f64>,
}

impl Exposition {
    /// All samples whose name is exactly `name`.
    pub fn samples_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The value of the first sample named exactly `name`.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.samples_named(name).next().map(|s| s.value)
    }

    /// Sum over all series named `name`, ignoring NaN/±Inf; None when no finite sample exists.
    pub fn sum(&self, name: &str) -> Option<f64> {
        let mut found = false;
        let total = self
            .samples_named(name)
            .filter(|s| s.value.is_finite())
            .inspect(|_| found = true)
            .map(|s| s.value)
            .sum();
        found.then_some(total)
    }

    /// Mean over all series named `name`, ignoring NaN/±Inf.
    pub fn mean(&self, name: &str) -> Option<f64> {
        let (sum, n) = self
            .samples_named(name)
            .filter(|s| s.value.is_finite())
            .fold((0.0, 0usize), |(sum, n), s| (sum + s.value, n + 1));
        (n > 0).then(|| sum / n as f64)
    }

    /// The declared type of a family (`# TYPE` line), by family name.
    pub fn metric_type(&self, family: &str) -> Option<MetricType> {
        self.types.get(family).copied()
    }

    /// Buckets, sum and count of a histogram family, summed across series (engines, ranks…).
    /// None when the family has no `_bucket` samples.
    pub fn histogram(&self, family: &str) -> Option<Histogram> {
        let bucket_name = format!("{family}_bucket");
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        for s in self.samples_named(&bucket_name) {
            let Some(le) = s.label("le").and_then(parse_value) else {
                continue;
            };
            match buckets.iter_mut().find(|(b, _)| *b == le) {
                Some((_, count)) => *count += s.value,
                None => buckets.push((le, s.value)),
            }
        }
        if buckets.is_empty() {
            return None;
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Histogram {
            buckets,
            sum: self.sum(&format!("{family}_sum")),
            count: self.sum(&format!("{family}_count")),
        })
    }
}

/// Parses a whole body, keeping every sample.
pub fn parse(text: &str) -> Exposition {
    parse_filtered(text, |_| true)
}

/// Parses a whole body but keeps (allocates) only samples whose name `keep` accepts; other lines
/// are still validated and counted. The scraper uses this to skip the hundreds of series it
/// never reads.
pub fn parse_filtered(text: &str, mut keep: impl FnMut(&str) -> bool) -> Exposition {
    let mut out = Exposition::default();
    let mut labels: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    for raw in text.split('\n') {
        let line = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if !parse_comment(comment, &mut out.types) {
                out.skipped_lines += 1;
            }
            continue;
        }
        labels.clear();
        match parse_sample_line(line, &mut labels) {
            Some(parsed) if keep(&parsed.name) => out.samples.push(Sample {
                name: parsed.name.into_owned(),
                labels: labels
                    .drain(..)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
                value: parsed.value,
                timestamp: parsed.timestamp,
            }),
            Some(_) => {}
            None => out.skipped_lines += 1,
        }
    }
    out
}

/// Records `# TYPE` lines. Returns false for a malformed `TYPE` line; any other comment
/// (`HELP`, `EOF`, `UNIT`, free text) is fine.
fn parse_comment(comment: &str, types: &mut HashMap<String, MetricType>) -> bool {
    let mut tokens = comment.split_ascii_whitespace();
    if tokens.next() != Some("TYPE") {
        return true;
    }
    match (tokens.next(), tokens.next()) {
        (Some(family), Some(kind)) => {
            types.insert(family.to_string(), MetricType::from_token(kind));
            true
        }
        _ => false,
    }
}

struct ParsedLine<'a> {
    name: Cow<'a, str>,
    value: f64,
    timestamp: Option<f64>,
}

/// Byte cursor over one line. Every position it stops at is either the line's end or the
/// position of an ASCII byte, so `get(a..b)` between such positions always succeeds.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, mut pred: impl FnMut(u8, bool) -> bool) -> Option<&'a str> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if !pred(b, self.pos == start) {
                break;
            }
            self.pos += 1;
        }
        self.text.get(start..self.pos)
    }

    /// A non-empty run up to the next blank or the line's end.
    fn token(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b != b' ' && b != b'\t') {
            self.pos += 1;
        }
        // Stops only at an ASCII blank or the end, both char boundaries.
        self.text.get(start..self.pos).filter(|t| !t.is_empty())
    }

    /// A `"…"` string with `\\`, `\"` and `\n` escapes; borrowed unless it had escapes.
    fn quoted(&mut self) -> Option<Cow<'a, str>> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.pos;
        let mut owned: Option<String> = None;
        let mut chunk_start = start;
        loop {
            match self.peek()? {
                b'"' => {
                    let tail = self.text.get(chunk_start..self.pos)?;
                    self.pos += 1;
                    return Some(match owned {
                        Some(mut s) => {
                            s.push_str(tail);
                            Cow::Owned(s)
                        }
                        None => Cow::Borrowed(tail),
                    });
                }
                b'\\' => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(self.text.get(chunk_start..self.pos)?);
                    self.pos += 1;
                    match self.peek()? {
                        b'n' => s.push('\n'),
                        b'\\' => s.push('\\'),
                        b'"' => s.push('"'),
                        // Unknown escape: keep it literally; the next byte may start a
                        // multi-byte char, so copy from here rather than pushing a byte.
                        _ => {
                            s.push('\\');
                            chunk_start = self.pos;
                            continue;
                        }
                    }
                    self.pos += 1;
                    chunk_start = self.pos;
                }
                _ => self.pos += 1,
            }
        }
    }
}

fn is_name_byte(b: u8, first: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':' || (!first && b.is_ascii_digit())
}

fn is_label_byte(b: u8, first: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || (!first && b.is_ascii_digit())
}

fn parse_sample_line<'a>(
    line: &'a str,
    labels: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
) -> Option<ParsedLine<'a>> {
    let mut cur = Cursor { text: line, pos: 0 };
    let mut name: Option<Cow<'a, str>> = cur
        .take_while(is_name_byte)
        .filter(|n| !n.is_empty())
        .map(Cow::Borrowed);
    let mut blank = cur.skip_blanks();
    if cur.eat(b'{') {
        parse_labels(&mut cur, &mut name, labels)?;
        blank = cur.skip_blanks();
    }
    let name = name?;
    if !blank {
        return None;
    }
    let value = parse_value(cur.token()?)?;
    cur.skip_blanks();
    let mut timestamp = None;
    match cur.peek() {
        None => {}
        // OpenMetrics exemplar after the value: ignored.
        Some(b'#') => {}
        Some(_) => {
            timestamp = Some(parse_timestamp(cur.token()?)?);
            cur.skip_blanks();
            if !matches!(cur.peek(), None | Some(b'#')) {
                return None;
            }
        }
    }
    Some(ParsedLine {
        name,
        value,
        timestamp,
    })
}

/// Inside `{…}`: `label="value"` pairs separated by commas (a trailing comma is allowed), and
/// the Prometheus 3 form where a lone quoted string is the metric name.
fn parse_labels<'a>(
    cur: &mut Cursor<'a>,
    name: &mut Option<Cow<'a, str>>,
    labels: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
) -> Option<()> {
    loop {
        cur.skip_blanks();
        if cur.eat(b'}') {
            return Some(());
        }
        let key: Cow<'a, str> = if cur.peek() == Some(b'"') {
            cur.quoted()?
        } else {
            Cow::Borrowed(cur.take_while(is_label_byte).filter(|k| !k.is_empty())?)
        };
        cur.skip_blanks();
        if cur.eat(b'=') {
            cur.skip_blanks();
            let value = cur.quoted()?;
            labels.push((key, value));
        } else if name.is_none() {
            *name = Some(key);
        } else {
            return None;
        }
        cur.skip_blanks();
        if cur.eat(b',') {
            continue;
        }
        if cur.eat(b'}') {
            return Some(());
        }
        return None;
    }
}

/// A sample value: decimal or exponent notation, `NaN`, `+Inf`/`-Inf`, and the C runtime's
/// `nan`, `-nan`, `-nan(ind)` spellings some servers print.
pub fn parse_value(token: &str) -> Option<f64> {
    let unsigned = token
        .strip_prefix('+')
        .or_else(|| token.strip_prefix('-'))
        .unwrap_or(token);
    let negative = token.starts_with('-');
    let nan_call = unsigned
        .get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("nan("))
        && unsigned.ends_with(')');
    if unsigned.eq_ignore_ascii_case("nan") || nan_call {
        return Some(f64::NAN);
    }
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    // Only plain decimal syntax from here: refuse anything Rust's parser would read but a
    // number in this format cannot be (there is none today, the check keeps it that way).
    if !unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    token.parse::<f64>().ok()
}

fn parse_timestamp(token: &str) -> Option<f64> {
    if let Ok(ms) = token.parse::<i64>() {
        return Some(ms as f64);
    }
    token.parse::<f64>().ok().filter(|t| t.is_finite())
}

#[cfg(test)]
mod tests;
