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
    let e = parse("<html><body>502 Bad Gateway</body></html>\nok 1\n\u{0}\u{fffd}\u{1F600} 1\n");
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
    let template = "# TYPE vllm:x counter\nvllm:x_total{engine=\"0\",le=\"+Inf\"} 1.7e+09 123\n";
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
