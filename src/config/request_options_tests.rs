//! `workload.parameters` sampling options, `extra_body`, `headers`, `timeout_s`.

use std::time::Duration;

use serde_json::json;

use super::super::test_support::Fixture;

fn issues(edits: &[(&str, &str)]) -> Vec<String> {
    Fixture::new().issue_paths(edits)
}

fn message(edits: &[(&str, &str)]) -> String {
    Fixture::new().load_with(edits).unwrap_err().to_string()
}

#[test]
fn sampling_options_and_extra_body_reach_the_request_body() {
    let e = Fixture::new()
        .load_with(&[
            ("workload.parameters.top_p", "0.9"),
            ("workload.parameters.top_k", "20"),
            ("workload.parameters.seed", "7"),
            ("workload.parameters.stop", "['###', 'END']"),
            ("workload.parameters.min_tokens", "4"),
            ("workload.parameters.presence_penalty", "0.5"),
            ("workload.parameters.frequency_penalty", "-0.5"),
            (
                "workload.parameters.extra_body",
                "{repetition_penalty: 1.1, chat_template_kwargs: {enable_thinking: false}}",
            ),
            ("workload.timeout_s", "2.5"),
            (
                "workload.headers",
                "{X-Team: bench, Authorization: Bearer abc}",
            ),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    let r = &e.request;
    assert_eq!(r.min_tokens, Some(4));
    assert_eq!(
        serde_json::Value::Object(r.body.clone()),
        json!({
            "top_p": 0.9, "top_k": 20, "seed": 7, "presence_penalty": 0.5,
            "frequency_penalty": -0.5, "stop": ["###", "END"], "repetition_penalty": 1.1,
            "chat_template_kwargs": {"enable_thinking": false}
        })
    );
    assert_eq!(r.timeout, Some(Duration::from_millis(2500)));
    assert_eq!(r.headers.len(), 2);
    assert!(r.api_key.is_none(), "a key never comes from the file");
    // The stored config keeps the options, but not the Authorization value.
    let stored = serde_json::to_string(&e.resolved).unwrap();
    assert!(!stored.contains("Bearer abc"), "{stored}");
    assert!(stored.contains("X-Team") && stored.contains("bench"));
    assert!(stored.contains("repetition_penalty") && stored.contains("\"top_k\":20"));
}

#[test]
fn a_single_stop_string_is_sent_as_a_string() {
    let e = Fixture::new()
        .load_with(&[("workload.parameters.stop", "\"\\n\\n\"")])
        .unwrap();
    assert_eq!(e.request.body["stop"], json!("\n\n"));
    assert!(Fixture::new()
        .load_with(&[])
        .unwrap()
        .request
        .body
        .is_empty());
}

#[test]
fn out_of_range_options_are_each_reported_with_the_range() {
    let got = issues(&[
        ("workload.parameters.top_p", "0"),
        ("workload.parameters.top_k", "-2"),
        ("workload.parameters.presence_penalty", "2.5"),
        ("workload.parameters.frequency_penalty", "-3"),
        ("workload.parameters.min_tokens", "300"),
        ("workload.parameters.stop", "['']"),
        ("workload.timeout_s", "0"),
    ]);
    let want = [
        "workload.parameters.min_tokens",
        "workload.parameters.top_p",
        "workload.parameters.top_k",
        "workload.parameters.presence_penalty",
        "workload.parameters.frequency_penalty",
        "workload.parameters.stop",
        "workload.timeout_s",
    ];
    for w in want {
        assert!(got.contains(&w.to_string()), "{w} missing from {got:?}");
    }
    assert_eq!(got.len(), want.len(), "{got:?}");
    let msg = message(&[("workload.parameters.min_tokens", "300")]);
    assert!(msg.contains("between 0 and max_tokens (256)"), "{msg}");
    let msg = message(&[("workload.parameters.top_p", "1.5")]);
    assert!(msg.contains("above 0 and at most 1, got 1.5"), "{msg}");
}

#[test]
fn extra_body_may_not_set_what_the_tool_or_a_parameter_sets() {
    let got = issues(&[(
        "workload.parameters.extra_body",
        "{stream: false, top_p: 0.5, logprobs: 2}",
    )]);
    assert_eq!(
        got,
        vec![
            "workload.parameters.extra_body.stream",
            "workload.parameters.extra_body.top_p"
        ]
    );
    let msg = message(&[("workload.parameters.extra_body", "{model: x}")]);
    assert!(msg.contains("remove it from extra_body"), "{msg}");
    let got = issues(&[("workload.parameters.extra_body", "{n: 2}")]);
    assert_eq!(got, vec!["workload.parameters.extra_body.n"]);
    let got = issues(&[("workload.parameters.extra_body", "[1, 2]")]);
    assert_eq!(got, vec!["workload.parameters.extra_body"]);
}

#[test]
fn headers_are_checked_for_names_and_control_characters() {
    let got = issues(&[(
        "workload.headers",
        "{'Bad Name': x, X-Ok: \"a\\nb\", Host: h, X-Fine: 'v'}",
    )]);
    assert_eq!(
        got,
        vec![
            "workload.headers.Bad Name",
            "workload.headers.Host",
            "workload.headers.X-Ok"
        ]
    );
    let msg = message(&[("workload.headers", "{X-Ok: \"a\\rb\"}")]);
    assert!(
        msg.contains("newline or another control character"),
        "{msg}"
    );
    let got = issues(&[("workload.headers", "{X-List: [1]}")]);
    assert_eq!(got, vec!["workload.headers.X-List"]);
}

#[test]
fn secret_looking_header_values_are_hidden_in_the_stored_config() {
    let e = Fixture::new()
        .load_with(&[(
            "workload.headers",
            "{X-Api-Key: k1, Cookie: c1, X-Auth-Token: t1, X-Trace: keep}",
        )])
        .unwrap();
    let stored = serde_json::to_string(&e.resolved).unwrap();
    for secret in ["k1", "c1", "t1"] {
        assert!(!stored.contains(&format!("\"{secret}\"")), "{stored}");
    }
    assert!(stored.contains("\"keep\""));
    // The runner still gets the real values.
    assert!(e
        .request
        .headers
        .contains(&("X-Api-Key".into(), "k1".into())));
}
