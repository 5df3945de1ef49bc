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
        match token.to_ascii_lowercase().as_str() {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" | "unknown" => MetricType::Untyped,
            _ => MetricType::Other,
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
    let lower = unsigned.to_ascii_lowercase();
    if lower == "nan" || (lower.starts_with("nan(") && lower.ends_with(')')) {
        return Some(f64::NAN);
    }
    if lower == "inf" || lower == "infinity" {
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
mod tests {
    use super::*;

    fn one(line: &str) -> Sample {
        let e = parse(line);
        assert_eq!(e.skipped_lines, 0, "line rejected: {line:?}");
        assert_eq!(e.samples.len(), 1, "{line:?}");
        e.samples.into_iter().next().unwrap()
    }

    fn rejected(line: &str) {
        let e = parse(line);
        assert!(e.samples.is_empty(), "accepted {line:?}: {:?}", e.samples);
        assert_eq!(e.skipped_lines, 1, "{line:?}");
    }

    #[test]
    fn plain_and_labelled_samples() {
        let s = one("vllm:num_requests_running 3");
        assert_eq!(
            (s.name.as_str(), s.value),
            ("vllm:num_requests_running", 3.0)
        );
        assert!(s.labels.is_empty());
        let s = one(r#"vllm:kv{engine="0",model_name="m"} 0.25"#);
        assert_eq!(s.label("engine"), Some("0"));
        assert_eq!(s.label("model_name"), Some("m"));
        assert_eq!(s.label("missing"), None);
        // Any label order, blanks around tokens, trailing comma, space before the brace.
        let s = one("m { b = \"2\" , a=\"1\", } 1");
        assert_eq!(
            s.labels,
            vec![("b".into(), "2".into()), ("a".into(), "1".into())]
        );
        assert_eq!(one("m{} 1").labels, vec![]);
    }

    #[test]
    fn escaped_label_values() {
        let s = one(r#"m{a="say \"hi\"",b="back\\slash",c="two\nlines",d="x,y=z}",e="\q"} 1"#);
        assert_eq!(s.label("a"), Some(r#"say "hi""#));
        assert_eq!(s.label("b"), Some(r"back\slash"));
        assert_eq!(s.label("c"), Some("two\nlines"));
        assert_eq!(s.label("d"), Some("x,y=z}"));
        assert_eq!(s.label("e"), Some(r"\q"));
        let s = one("m{a=\"h\u{e9}llo \u{1F600}\\\u{e9}\"} 1");
        assert_eq!(s.label("a"), Some("h\u{e9}llo \u{1F600}\\\u{e9}"));
    }

    #[test]
    fn quoted_metric_name_inside_braces() {
        let s = one(r#"{"my.metric", a="1"} 2"#);
        assert_eq!(s.name, "my.metric");
        assert_eq!(s.label("a"), Some("1"));
    }

    #[test]
    fn special_values() {
        assert!(one("m NaN").value.is_nan());
        assert!(one("m nan").value.is_nan());
        assert!(one("m -nan").value.is_nan());
        assert!(one("m -nan(ind)").value.is_nan());
        assert_eq!(one("m +Inf").value, f64::INFINITY);
        assert_eq!(one("m Inf").value, f64::INFINITY);
        assert_eq!(one("m -Inf").value, f64::NEG_INFINITY);
        assert_eq!(one("m 1.7e+09").value, 1.7e9);
        assert_eq!(one("m 5.453083e+06").value, 5_453_083.0);
        assert_eq!(one("m -2.5E-3").value, -0.0025);
        assert_eq!(one("m .5").value, 0.5);
        for bad in [
            "m 0x10",
            "m one",
            "m 1,5",
            "m",
            "m{a=\"1\"}",
            "m 1e",
            "m --1",
        ] {
            rejected(bad);
        }
    }

    #[test]
    fn timestamps_and_trailing_tokens() {
        let s = one("m{a=\"1\"} 2 1712345678901");
        assert_eq!((s.value, s.timestamp), (2.0, Some(1_712_345_678_901.0)));
        assert_eq!(one("m 2 -5").timestamp, Some(-5.0));
        assert_eq!(one("m 2 1712345678.5").timestamp, Some(1_712_345_678.5));
        assert_eq!(one("m 2").timestamp, None);
        // OpenMetrics exemplar is ignored.
        let s = one(r#"m_bucket{le="1"} 3 # {trace_id="abc"} 0.5"#);
        assert_eq!(s.value, 3.0);
        rejected("m 2 123 extra");
        rejected("m 2 notatime");
        rejected("m 2 NaN");
    }

    #[test]
    fn malformed_lines_are_counted_and_skipped() {
        for bad in [
            "1metric 1",
            "m{a=1} 1",
            "m{a=\"1\" 1",
            "m{a=\"1\"b=\"2\"} 1",
            "m{a=\"unterminated} 1",
            "m{a=\"x\\",
            "m{=\"1\"} 1",
            "m-x 1",
            "m{\"n1\",\"n2\"} 1",
            "{} 1",
        ] {
            rejected(bad);
        }
        let e = parse("# TYPE\n# TYPE only_name\n");
        assert_eq!(e.skipped_lines, 2);
    }

    #[test]
    fn comments_types_crlf_and_blank_lines() {
        let body = "# HELP a_total Help with \\ and \"quotes\"\r\n# TYPE a_total counter\r\n\
                    a_total 1\r\n\r\n   \r\n# free comment\n# TYPE g gauge\n\tg 2\n# EOF\n";
        let e = parse(body);
        assert_eq!(e.skipped_lines, 0);
        assert_eq!(e.samples.len(), 2);
        assert_eq!(e.value("a_total"), Some(1.0));
        assert_eq!(e.value("g"), Some(2.0));
        assert_eq!(e.metric_type("a_total"), Some(MetricType::Counter));
        assert_eq!(e.metric_type("g"), Some(MetricType::Gauge));
        assert_eq!(e.metric_type("nope"), None);
    }

    #[test]
    fn histogram_and_created_series() {
        let body = r#"# TYPE t histogram
t_bucket{engine="0",le="0.1"} 1
t_bucket{engine="0",le="1.0"} 3
t_bucket{engine="0",le="+Inf"} 4
t_bucket{le="0.1",engine="1"} 2
t_bucket{le="1.0",engine="1"} 2
t_bucket{le="+Inf",engine="1"} 5
t_sum{engine="0"} 2.5
t_sum{engine="1"} 1.5
t_count{engine="0"} 4
t_count{engine="1"} 5
# TYPE t_created gauge
t_created{engine="0"} 1.7957996197226481e+09
"#;
        let e = parse(body);
        assert_eq!(e.skipped_lines, 0);
        assert_eq!(e.metric_type("t"), Some(MetricType::Histogram));
        let h = e.histogram("t").unwrap();
        assert_eq!(
            h.buckets,
            vec![(0.1, 3.0), (1.0, 5.0), (f64::INFINITY, 9.0)]
        );
        assert_eq!((h.sum, h.count), (Some(4.0), Some(9.0)));
        assert_eq!(e.value("t_created"), Some(1.7957996197226481e9));
        assert!(e.histogram("t_created").is_none());
    }

    #[test]
    fn lookup_helpers_skip_non_finite_values() {
        let e = parse("x{e=\"0\"} 1\nx{e=\"1\"} NaN\nx{e=\"2\"} 3\ny NaN\n");
        assert_eq!(e.sum("x"), Some(4.0));
        assert_eq!(e.mean("x"), Some(2.0));
        assert_eq!(e.sum("y"), None);
        assert_eq!(e.mean("y"), None);
        assert_eq!(e.sum("x_total"), None);
        assert_eq!(e.samples_named("x").count(), 3);
    }

    #[test]
    fn filter_keeps_only_wanted_names_but_still_counts_bad_lines() {
        let e = parse_filtered("a 1\nb 2\nbad line here\n", |n| n == "b");
        assert_eq!(e.samples.len(), 1);
        assert_eq!(e.value("b"), Some(2.0));
        assert_eq!(e.skipped_lines, 1);
    }

    #[test]
    fn empty_and_garbage_input() {
        assert_eq!(parse(""), Exposition::default());
        assert_eq!(parse("\n\r\n  \n"), Exposition::default());
        let e =
            parse("<html><body>502 Bad Gateway</body></html>\nok 1\n\u{0}\u{fffd}\u{1F600} 1\n");
        assert_eq!(e.samples.len(), 1);
        assert_eq!(e.skipped_lines, 2);
        // A body cut in the middle of a line (size cap) loses only that line.
        let e = parse("a 1\nb{x=\"1");
        assert_eq!((e.samples.len(), e.skipped_lines), (1, 1));
    }

    /// Deterministic fuzzing: random bytes (lossily decoded, as the scraper does) and random
    /// splices of a real-looking body must never panic.
    #[test]
    fn never_panics_on_random_input() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet: &[u8] = b"{}\",=\\# \t\r\nabcxyz_:019.eE+-NaInf()le\xc3\xa9\xff\x00";
        let template =
            "# TYPE vllm:x counter\nvllm:x_total{engine=\"0\",le=\"+Inf\"} 1.7e+09 123\n";
        for round in 0..3000 {
            let len = (next() % 200) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if round % 2 == 0 {
                        alphabet[(r % alphabet.len() as u64) as usize]
                    } else {
                        r as u8
                    }
                })
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            let e = parse(&text);
            assert!(e.samples.len() + e.skipped_lines <= text.split('\n').count());
            // Splice random text into a valid body at a random char boundary.
            let cut = template
                .char_indices()
                .map(|(i, _)| i)
                .nth((next() % template.len() as u64) as usize)
                .unwrap_or(0);
            let spliced = format!("{}{}{}", &template[..cut], text, &template[cut..]);
            let _ = parse(&spliced);
        }
    }
}
