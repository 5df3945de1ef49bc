//! The known key tree of an experiment file: unknown keys (with a did-you-mean) and values of
//! the wrong type become issues, and are removed so the rest of the file can still be checked.

use serde_yaml::{Mapping, Value};

use super::error::Issue;
use crate::sim::SimProfile;

/// Expected shape of a value. `null` is accepted everywhere (it means "not set").
enum Node {
    Str,
    Int,
    UInt(u64),
    Float,
    Bool,
    StrList,
    IntList,
    FloatList,
    StrMap,
    /// A string or a list of strings (`parameters.stop`).
    StrOrStrList,
    /// A mapping of names to any values (`parameters.extra_body`, sent verbatim).
    AnyMap,
    Map(Vec<(&'static str, Node)>),
    /// `infrastructure.simulation`: the fields of `SimProfile`, checked by serde itself.
    Sim,
    /// `slo`: metric name → a number (per-request limit) or `{p, max}`.
    Slo,
    /// A mapping checked by its own module (`matrix`: axes of mixed shapes, `matrix.rs`).
    Any,
    /// A token length: a whole number or `{dist, value, mean, std, min, max}`; with `true`,
    /// also a word (`from_dataset`).
    Length(bool),
}

fn length_fields() -> Vec<(&'static str, Node)> {
    vec![
        ("dist", Node::Str),
        ("value", Node::Float),
        ("mean", Node::Float),
        ("std", Node::Float),
        ("min", Node::Int),
        ("max", Node::Int),
    ]
}

fn map(fields: Vec<(&'static str, Node)>) -> Node {
    Node::Map(fields)
}

fn schema() -> Node {
    use Node::*;
    map(vec![
        ("name", Str),
        ("description", Str),
        ("extends", Str),
        (
            "model",
            map(vec![
                ("name", Str),
                ("quantization", Str),
                ("tokenizer", Str),
            ]),
        ),
        ("framework", Str),
        (
            "framework_options",
            map(vec![
                ("max_model_len", UInt(u32::MAX as u64)),
                ("gpu_memory_utilization", Float),
                ("enable_prefix_caching", Bool),
                ("extra_args", StrList),
            ]),
        ),
        (
            "infrastructure",
            map(vec![
                ("provider", Str),
                ("gpu_type", Str),
                ("gpu_count", Int),
                ("cloud_type", Str),
                ("simulation", Sim),
                ("cost_per_hr", Float),
                (
                    "local",
                    map(vec![
                        ("executable", Str),
                        ("args", StrList),
                        ("env", StrMap),
                        ("startup_timeout_s", UInt(u64::MAX)),
                    ]),
                ),
            ]),
        ),
        (
            "workload",
            map(vec![
                ("type", Str),
                ("api", Str),
                (
                    "requests",
                    map(vec![
                        ("source", Str),
                        ("count", Int),
                        ("format", Str),
                        ("output_tokens", Length(true)),
                        ("multi_turn", Bool),
                        ("max_input_tokens", Int),
                        (
                            "synthetic",
                            map(vec![
                                ("input_tokens", Length(false)),
                                ("output_tokens", Length(false)),
                                ("prefix_tokens", Int),
                                ("num_prefixes", Int),
                                ("seed", UInt(u64::MAX)),
                            ]),
                        ),
                    ]),
                ),
                (
                    "trace",
                    map(vec![
                        ("file", Str),
                        ("format", Str),
                        ("time_scale", Float),
                        ("block_size", Int),
                        ("seed", UInt(u64::MAX)),
                    ]),
                ),
                (
                    "parameters",
                    map(vec![
                        ("max_tokens", Int),
                        ("temperature", Float),
                        ("ignore_eos", Bool),
                        ("top_p", Float),
                        ("top_k", Int),
                        ("seed", Int),
                        ("stop", StrOrStrList),
                        ("min_tokens", Int),
                        ("presence_penalty", Float),
                        ("frequency_penalty", Float),
                        ("extra_body", AnyMap),
                    ]),
                ),
                ("batch_size", Int),
                ("concurrency", Int),
                (
                    "sweep",
                    map(vec![
                        ("concurrency", IntList),
                        ("batch_size", IntList),
                        ("request_rate", FloatList),
                    ]),
                ),
                (
                    "conversation",
                    map(vec![
                        ("turns", Int),
                        ("system_prompt", Str),
                        ("user_messages", StrList),
                        ("shared_prefix", Str),
                    ]),
                ),
                ("headers", StrMap),
                ("timeout_s", Float),
                // Open loop, warmup, duration (issue 13).
                ("request_rate", Float),
                ("arrival", Str),
                ("burstiness", Float),
                ("max_concurrency", Int),
                ("seed", UInt(u64::MAX)),
                ("duration_s", Float),
                ("think_time_ms", Float),
                (
                    "warmup",
                    map(vec![("requests", Int), ("duration_s", Float)]),
                ),
            ]),
        ),
        ("slo", Slo),
        (
            "search",
            map(vec![
                ("over", Str),
                ("min", Float),
                ("max", Float),
                ("precision", Float),
            ]),
        ),
        ("repeat", Int),
        ("matrix", Any),
        ("max_parallel_pods", Int),
        (
            "metrics",
            map(vec![
                ("collect_gpu_metrics", Bool),
                ("sample_interval_ms", Int),
                ("output_dir", Str),
            ]),
        ),
    ])
}

/// Field names of `SimProfile`, taken from its serialized default so the list never drifts.
pub(crate) fn sim_keys() -> Vec<String> {
    match serde_yaml::to_value(SimProfile::default()) {
        Ok(Value::Mapping(m)) => m
            .keys()
            .filter_map(|k| k.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// Check a whole document. A non-mapping root is replaced by an empty mapping.
pub(crate) fn check_document(doc: &mut Value, issues: &mut Vec<Issue>) {
    match doc {
        Value::Mapping(_) => check(doc, &schema(), "", issues),
        Value::Null => *doc = Value::Mapping(Mapping::new()),
        _ => {
            issues.push(Issue::new(
                "(root)",
                format!(
                    "an experiment config must be a mapping of fields, found {}",
                    kind_of(doc)
                ),
            ));
            *doc = Value::Mapping(Mapping::new());
        }
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn check(value: &mut Value, node: &Node, path: &str, issues: &mut Vec<Issue>) {
    if value.is_null() {
        return;
    }
    let ok = match node {
        Node::Str => scalar_to_string(value),
        Node::Int => value.as_i64().is_some(),
        Node::UInt(max) => value.as_u64().is_some_and(|n| n <= *max),
        Node::Float => value.is_number(),
        Node::Bool => value.is_bool(),
        Node::StrList | Node::IntList | Node::FloatList => {
            return check_list(value, node, path, issues)
        }
        Node::StrMap => return check_str_map(value, path, issues),
        Node::StrOrStrList => match value {
            Value::Sequence(_) => return check_list(value, &Node::StrList, path, issues),
            _ => scalar_to_string(value),
        },
        Node::AnyMap => matches!(value, Value::Mapping(m) if m.keys().all(Value::is_string)),
        Node::Map(fields) => return check_map(value, fields, path, issues),
        Node::Sim => return check_sim(value, path, issues),
        Node::Any => value.is_mapping(),
        Node::Slo => return check_slo(value, path, issues),
        Node::Length(word) => match value {
            Value::Mapping(_) => return check_map(value, &length_fields(), path, issues),
            Value::String(_) => *word,
            _ => value.as_i64().is_some(),
        },
    };
    if !ok {
        let message = match node {
            Node::Int => whole_number(path, value),
            _ => format!("expected {}, found {}", expected(node), kind_of(value)),
        };
        issues.push(Issue::new(path, message));
        *value = Value::Null;
    }
}

/// A whole-number field given something else, in plain words with its range when known.
fn whole_number(path: &str, value: &Value) -> String {
    let got = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}'"),
        other => kind_of(other),
    };
    if super::ranges::has_range(path) {
        super::ranges::out_of_range(path, got)
    } else {
        format!("must be a whole number, got {got}")
    }
}

/// Numbers and booleans written where text is expected are taken as their text.
fn scalar_to_string(value: &mut Value) -> bool {
    let text = match value {
        Value::String(_) => return true,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return false,
    };
    *value = Value::String(text);
    true
}

fn check_list(value: &mut Value, node: &Node, path: &str, issues: &mut Vec<Issue>) {
    let Value::Sequence(items) = value else {
        issues.push(Issue::new(
            path,
            format!("expected {}, found {}", expected(node), kind_of(value)),
        ));
        *value = Value::Null;
        return;
    };
    let mut bad = false;
    for (i, item) in items.iter_mut().enumerate() {
        let ok = match node {
            Node::IntList => item.as_i64().is_some(),
            Node::FloatList => item.is_number(),
            _ => scalar_to_string(item),
        };
        if !ok {
            let at = format!("{path}[{i}]");
            let message = match node {
                Node::IntList => whole_number(&at, item),
                Node::FloatList => format!("expected a number, found {}", kind_of(item)),
                _ => format!("expected a string, found {}", kind_of(item)),
            };
            issues.push(Issue::new(at, message));
            bad = true;
        }
    }
    if bad {
        *value = Value::Null;
    }
}

fn check_str_map(value: &mut Value, path: &str, issues: &mut Vec<Issue>) {
    let Value::Mapping(m) = value else {
        issues.push(Issue::new(
            path,
            format!(
                "expected a mapping of names to values, found {}",
                kind_of(value)
            ),
        ));
        *value = Value::Null;
        return;
    };
    let mut bad = false;
    for (k, v) in m.iter_mut() {
        let key = key_text(k);
        if !k.is_string() || !scalar_to_string(v) {
            issues.push(Issue::new(
                join(path, &key),
                format!("expected a text value, found {}", kind_of(v)),
            ));
            bad = true;
        }
    }
    if bad {
        *value = Value::Null;
    }
}

fn check_map(
    value: &mut Value,
    fields: &[(&'static str, Node)],
    path: &str,
    issues: &mut Vec<Issue>,
) {
    let Value::Mapping(m) = value else {
        issues.push(Issue::new(
            path,
            format!("expected a mapping, found {}", kind_of(value)),
        ));
        *value = Value::Null;
        return;
    };
    let names: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    let mut unknown = Vec::new();
    for (k, v) in m.iter_mut() {
        let key = key_text(k);
        match fields.iter().find(|(name, _)| k.as_str() == Some(name)) {
            Some((_, node)) => check(v, node, &join(path, &key), issues),
            None => {
                issues.push(unknown_field(&join(path, &key), &key, &names));
                unknown.push(k.clone());
            }
        }
    }
    for k in unknown {
        m.remove(&k);
    }
}

fn check_sim(value: &mut Value, path: &str, issues: &mut Vec<Issue>) {
    let Value::Mapping(m) = value else {
        issues.push(Issue::new(
            path,
            format!("expected a mapping, found {}", kind_of(value)),
        ));
        *value = Value::Null;
        return;
    };
    let known = sim_keys();
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let mut bad = Vec::new();
    for (k, v) in m.iter() {
        let key = key_text(k);
        let field = join(path, &key);
        if !k.as_str().is_some_and(|s| names.contains(&s)) {
            issues.push(unknown_field(&field, &key, &names));
            bad.push(k.clone());
            continue;
        }
        // Deserialize this one field alone (the rest default) to get serde's type message.
        let mut one = Mapping::new();
        one.insert(k.clone(), v.clone());
        if let Err(e) = serde_yaml::from_value::<SimProfile>(Value::Mapping(one)) {
            issues.push(Issue::new(field, e.to_string()));
            bad.push(k.clone());
        }
    }
    for k in bad {
        m.remove(&k);
    }
}

/// `slo`: known metric names only; each a number or a `{p, max}` mapping.
fn check_slo(value: &mut Value, path: &str, issues: &mut Vec<Issue>) {
    let Value::Mapping(m) = value else {
        issues.push(Issue::new(
            path,
            format!(
                "expected a mapping of metric names to limits, found {}",
                kind_of(value)
            ),
        ));
        *value = Value::Null;
        return;
    };
    let names: Vec<&str> = crate::metrics::slo::SloMetric::ALL
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let objective = [("p", Node::Float), ("max", Node::Float)];
    let mut bad = Vec::new();
    for (k, v) in m.iter_mut() {
        let key = key_text(k);
        let field = join(path, &key);
        if !k.as_str().is_some_and(|s| names.contains(&s)) {
            issues.push(match did_you_mean(&key, &names) {
                Some(s) => Issue::new(&field, format!("unknown SLO metric, did you mean '{s}'?")),
                None => Issue::new(
                    &field,
                    format!("unknown SLO metric (known: {})", names.join(", ")),
                ),
            });
            bad.push(k.clone());
            continue;
        }
        match v {
            Value::Number(_) | Value::Null => {}
            Value::Mapping(_) => check_map(v, &objective, &field, issues),
            other => {
                issues.push(Issue::new(
                    &field,
                    format!(
                        "expected a number of ms (a per-request limit) or {{p: <percentile>, max: <ms>}}, found {}",
                        kind_of(other)
                    ),
                ));
                bad.push(k.clone());
            }
        }
    }
    for k in bad {
        m.remove(&k);
    }
}

fn unknown_field(path: &str, key: &str, known: &[&str]) -> Issue {
    match did_you_mean(key, known) {
        Some(s) => Issue::new(path, format!("unknown field, did you mean '{s}'?")),
        None => Issue::new(
            path,
            format!("unknown field (known fields here: {})", known.join(", ")),
        ),
    }
}

/// The known name closest to `key`, when it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(key, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        _ => "<complex key>".to_string(),
    }
}

fn expected(node: &Node) -> &'static str {
    match node {
        Node::Str => "a string",
        Node::Int => "an integer",
        Node::UInt(_) => "a non-negative integer",
        Node::Float => "a number",
        Node::Bool => "true or false",
        Node::StrList => "a list of strings",
        Node::IntList => "a list of integers",
        Node::FloatList => "a list of numbers",
        Node::StrMap | Node::Map(_) | Node::Sim | Node::Slo | Node::Any => "a mapping",
        Node::StrOrStrList => "a string or a list of strings",
        Node::AnyMap => "a mapping of names to values",
        Node::Length(false) => "a whole number or {dist: fixed|uniform|normal, ...}",
        Node::Length(true) => "a whole number, {dist: ...} or from_dataset",
    }
}

pub(crate) fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string '{s}'"),
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues_of(yaml: &str) -> (Value, Vec<Issue>) {
        let mut doc: Value = serde_yaml::from_str(yaml).unwrap();
        let mut issues = Vec::new();
        check_document(&mut doc, &mut issues);
        (doc, issues)
    }

    #[test]
    fn unknown_key_gets_path_and_suggestion() {
        let (doc, issues) = issues_of("workload:\n  concurency: 4\n");
        assert_eq!(
            issues,
            vec![Issue::new(
                "workload.concurency",
                "unknown field, did you mean 'concurrency'?"
            )]
        );
        // Removed so the rest of the document can be deserialized.
        assert!(doc["workload"].get("concurency").is_none());
    }

    #[test]
    fn unknown_key_without_close_match_lists_known_fields() {
        let (_, issues) = issues_of("model:\n  zzz: 1\n");
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "model.zzz");
        assert!(
            issues[0].message.contains("name, quantization"),
            "{}",
            issues[0]
        );
    }

    #[test]
    fn simulation_keys_come_from_sim_profile() {
        let keys = sim_keys();
        assert!(keys.contains(&"max_num_seqs".to_string()));
        let (_, issues) =
            issues_of("infrastructure:\n  simulation:\n    max_num_seq: 8\n    seed: 1\n");
        assert_eq!(
            issues,
            vec![Issue::new(
                "infrastructure.simulation.max_num_seq",
                "unknown field, did you mean 'max_num_seqs'?"
            )]
        );
    }

    #[test]
    fn simulation_value_of_wrong_type_is_reported() {
        let (doc, issues) = issues_of("infrastructure:\n  simulation:\n    seed: abc\n");
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "infrastructure.simulation.seed");
        assert!(doc["infrastructure"]["simulation"].get("seed").is_none());
    }

    #[test]
    fn wrong_types_are_reported_and_cleared() {
        let (doc, issues) = issues_of(
            "infrastructure:\n  gpu_count: two\nworkload:\n  sweep:\n    concurrency: [1, x]\nframework_options:\n  max_model_len: -5\n",
        );
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "infrastructure.gpu_count",
                "workload.sweep.concurrency[1]",
                "framework_options.max_model_len"
            ]
        );
        assert!(doc["infrastructure"]["gpu_count"].is_null());
    }

    #[test]
    fn numbers_where_text_is_expected_become_text() {
        let (doc, issues) = issues_of(
            "name: 2024\ninfrastructure:\n  local:\n    env: {CUDA_VISIBLE_DEVICES: 0}\n    args: [--port, 8000]\n",
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(doc["name"].as_str(), Some("2024"));
        assert_eq!(
            doc["infrastructure"]["local"]["args"][1].as_str(),
            Some("8000")
        );
    }

    #[test]
    fn non_mapping_root_is_an_issue() {
        let (_, issues) = issues_of("- a\n- b\n");
        assert_eq!(issues[0].path, "(root)");
    }
}
