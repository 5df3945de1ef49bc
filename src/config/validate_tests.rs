//! One test per validation rule: a config breaking only that rule reports exactly its path.

use std::time::Duration;

use super::super::test_support::{Fixture, DELETE};
use super::super::types::*;

fn only(edits: &[(&str, &str)], path: &str) {
    let fx = Fixture::new();
    assert_eq!(fx.issue_paths(edits), vec![path.to_string()], "{edits:?}");
}

fn message(edits: &[(&str, &str)]) -> String {
    Fixture::new().load_with(edits).unwrap_err().to_string()
}

fn ok(edits: &[(&str, &str)]) -> Experiment {
    Fixture::new()
        .load_with(edits)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn valid_base_config_and_defaults() {
    let e = ok(&[]);
    assert_eq!(e.infrastructure.provider, ProviderKind::Runpod);
    assert_eq!(e.infrastructure.gpu_count, 1);
    assert_eq!(e.infrastructure.cloud_type, CloudType::Community);
    assert_eq!(e.workload.kind, WorkloadKind::Single);
    assert_eq!(e.workload.count, 5);
    assert_eq!(e.workload.params.max_tokens, 256);
    assert_eq!(e.workload.params.temperature, 0.7);
    assert!(!e.workload.params.ignore_eos);
    assert_eq!(e.framework_options.gpu_memory_utilization, Some(0.9));
    assert_eq!(e.metrics.sample_interval, Duration::from_millis(100));
    assert!(e.metrics.collect_gpu_metrics);
    assert_eq!(e.metrics.output_dir.to_str(), Some("results/"));
    assert_eq!(
        e.infrastructure.local.startup_timeout,
        Duration::from_secs(600)
    );
    assert!(e.workload.sweep.is_none());
}

#[test]
fn name_is_required() {
    only(&[("name", DELETE)], "name");
    only(&[("name", "'  '")], "name");
}

#[test]
fn max_parallel_pods_without_a_matrix_is_refused() {
    only(&[("max_parallel_pods", "3")], "max_parallel_pods");
    assert!(message(&[("max_parallel_pods", "3")]).contains("only applies to a `matrix:`"));
}

#[test]
fn model_name_is_required() {
    only(&[("model.name", DELETE)], "model.name");
}

#[test]
fn framework_must_be_vllm_or_sglang() {
    only(&[("framework", DELETE)], "framework");
    only(&[("framework", "vlm")], "framework");
    assert!(message(&[("framework", "vlm")]).contains("did you mean 'vllm'?"));
    assert_eq!(ok(&[("framework", "sglang")]).framework, Framework::Sglang);
}

#[test]
fn provider_must_be_known() {
    only(
        &[("infrastructure.provider", "aws")],
        "infrastructure.provider",
    );
    let sim = ok(&[
        ("infrastructure.provider", "simulated"),
        ("infrastructure.gpu_type", DELETE),
    ]);
    assert_eq!(sim.infrastructure.provider, ProviderKind::Simulated);
    assert_eq!(sim.infrastructure.gpu_type, None);
}

#[test]
fn gpu_count_must_be_positive() {
    only(
        &[("infrastructure.gpu_count", "0")],
        "infrastructure.gpu_count",
    );
    only(
        &[("infrastructure.gpu_count", "-2")],
        "infrastructure.gpu_count",
    );
    assert_eq!(
        ok(&[("infrastructure.gpu_count", "4")])
            .infrastructure
            .gpu_count,
        4
    );
}

#[test]
fn runpod_gpu_type_is_required_and_known() {
    only(
        &[("infrastructure.gpu_type", DELETE)],
        "infrastructure.gpu_type",
    );
    only(
        &[("infrastructure.gpu_type", "TPU-v5")],
        "infrastructure.gpu_type",
    );
    let text = message(&[("infrastructure.gpu_type", "TPU-v5")]);
    assert!(
        text.contains("A100-80GB") && text.contains("H100-80GB"),
        "{text}"
    );
    // Case-insensitive names and RunPod ids are accepted.
    ok(&[("infrastructure.gpu_type", "'NVIDIA H100 80GB HBM3'")]);
    ok(&[("infrastructure.gpu_type", "rtx-4090")]);
}

#[test]
fn gpu_type_is_optional_for_local() {
    let e = ok(&[
        ("infrastructure.provider", "local"),
        ("infrastructure.gpu_type", DELETE),
    ]);
    assert_eq!(e.infrastructure.provider, ProviderKind::Local);
}

#[test]
fn cloud_type_must_be_community_or_secure_and_offered() {
    only(
        &[("infrastructure.cloud_type", "private")],
        "infrastructure.cloud_type",
    );
    // L4 is only offered on secure cloud in the built-in table.
    only(
        &[("infrastructure.gpu_type", "L4")],
        "infrastructure.cloud_type",
    );
    let e = ok(&[
        ("infrastructure.gpu_type", "L4"),
        ("infrastructure.cloud_type", "secure"),
    ]);
    assert_eq!(e.infrastructure.cloud_type, CloudType::Secure);
}

#[test]
fn prompt_source_is_required_exists_and_parses() {
    only(
        &[("workload.requests.source", DELETE)],
        "workload.requests.source",
    );
    only(
        &[("workload.requests.source", "missing.jsonl")],
        "workload.requests.source",
    );
    let fx = Fixture::new();
    fx.write(
        "bad.jsonl",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n\nnope\n",
    );
    let err = fx
        .load_with(&[("workload.requests.source", "bad.jsonl")])
        .unwrap_err();
    assert_eq!(err.issues().len(), 1);
    assert_eq!(err.issues()[0].path, "workload.requests.source");
    assert!(err.issues()[0].message.contains("bad.jsonl:3:"), "{err}");
}

#[test]
fn scripted_prompts_only_for_multi_turn() {
    only(
        &[("workload.requests.source", "scripted.jsonl")],
        "workload.requests.source",
    );
}

#[test]
fn count_is_required_and_positive() {
    only(
        &[("workload.requests.count", "0")],
        "workload.requests.count",
    );
    only(
        &[("workload.requests.count", DELETE)],
        "workload.requests.count",
    );
}

#[test]
fn max_tokens_must_be_positive() {
    only(
        &[("workload.parameters.max_tokens", "0")],
        "workload.parameters.max_tokens",
    );
    assert_eq!(
        ok(&[("workload.parameters.max_tokens", "32")])
            .workload
            .params
            .max_tokens,
        32
    );
}

#[test]
fn temperature_must_not_be_negative() {
    only(
        &[("workload.parameters.temperature", "-0.1")],
        "workload.parameters.temperature",
    );
    only(
        &[("workload.parameters.temperature", ".nan")],
        "workload.parameters.temperature",
    );
    assert_eq!(
        ok(&[("workload.parameters.temperature", "0")])
            .workload
            .params
            .temperature,
        0.0
    );
}

#[test]
fn ignore_eos_is_read() {
    assert!(
        ok(&[("workload.parameters.ignore_eos", "true")])
            .workload
            .params
            .ignore_eos
    );
}

#[test]
fn batch_needs_batch_size() {
    only(&[("workload.type", "batch")], "workload.batch_size");
    let text = message(&[("workload.type", "batch")]);
    assert!(text.contains("workload.batch_size: required when workload.type is 'batch'"));
    only(
        &[("workload.type", "batch"), ("workload.batch_size", "0")],
        "workload.batch_size",
    );
    let e = ok(&[("workload.type", "batch"), ("workload.batch_size", "4")]);
    assert_eq!(e.workload.kind, WorkloadKind::Batch { batch_size: 4 });
}

#[test]
fn concurrent_needs_concurrency() {
    only(&[("workload.type", "concurrent")], "workload.concurrency");
    only(
        &[
            ("workload.type", "concurrent"),
            ("workload.concurrency", "0"),
        ],
        "workload.concurrency",
    );
    let e = ok(&[
        ("workload.type", "concurrent"),
        ("workload.concurrency", "8"),
    ]);
    assert_eq!(e.workload.kind, WorkloadKind::Concurrent { concurrency: 8 });
}

#[test]
fn workload_type_must_be_known() {
    only(&[("workload.type", "multiturn")], "workload.type");
    assert!(message(&[("workload.type", "multiturn")]).contains("did you mean 'multi_turn'?"));
}

fn multi_turn(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut edits = vec![
        ("workload.type", "multi_turn"),
        ("workload.conversation.turns", "3"),
        ("workload.conversation.user_messages", "[more, again]"),
    ];
    edits.extend_from_slice(extra);
    edits
}

#[test]
fn multi_turn_needs_conversation_with_turns() {
    only(&[("workload.type", "multi_turn")], "workload.conversation");
    only(
        &multi_turn(&[("workload.conversation.turns", "0")]),
        "workload.conversation.turns",
    );
    only(
        &multi_turn(&[("workload.conversation.turns", DELETE)]),
        "workload.conversation.turns",
    );
    let e = ok(&multi_turn(&[]));
    let WorkloadKind::MultiTurn {
        conversation,
        concurrency,
    } = e.workload.kind
    else {
        panic!()
    };
    assert_eq!(conversation.turns, 3);
    assert_eq!(concurrency, 1);
}

#[test]
fn multi_turn_concurrency_is_optional() {
    let e = ok(&multi_turn(&[("workload.concurrency", "3")]));
    assert!(matches!(
        e.workload.kind,
        WorkloadKind::MultiTurn { concurrency: 3, .. }
    ));
    only(
        &multi_turn(&[("workload.concurrency", "0")]),
        "workload.concurrency",
    );
}

#[test]
fn user_messages_must_cover_follow_ups_for_messages_format() {
    only(
        &multi_turn(&[("workload.conversation.user_messages", "[only-one]")]),
        "workload.conversation.user_messages",
    );
    only(
        &multi_turn(&[("workload.conversation.user_messages", DELETE)]),
        "workload.conversation.user_messages",
    );
    // One turn needs no follow-ups.
    ok(&multi_turn(&[
        ("workload.conversation.turns", "1"),
        ("workload.conversation.user_messages", DELETE),
    ]));
}

#[test]
fn scripted_lines_must_have_enough_turns() {
    // scripted.jsonl: line 1 has 3 turns, line 3 has 2.
    let edits = multi_turn(&[
        ("workload.requests.source", "scripted.jsonl"),
        ("workload.conversation.user_messages", DELETE),
    ]);
    only(&edits, "workload.requests.source");
    assert!(message(&edits).contains("scripted.jsonl:3: script has 2 turns"));
    let mut two = edits.clone();
    two.push(("workload.conversation.turns", "2"));
    ok(&two);
}

#[test]
fn sweep_values_must_be_positive_and_lists_non_empty() {
    only(
        &[("workload.sweep.concurrency", "[1, 0]")],
        "workload.sweep.concurrency",
    );
    only(
        &[("workload.sweep.concurrency", "[]")],
        "workload.sweep.concurrency",
    );
    only(
        &[("workload.sweep.batch_size", "[-1]")],
        "workload.sweep.batch_size",
    );
}

#[test]
fn concurrency_sweep_needs_concurrent_or_single() {
    only(
        &[
            ("workload.type", "batch"),
            ("workload.batch_size", "2"),
            ("workload.sweep.concurrency", "[1, 2]"),
        ],
        "workload.sweep.concurrency",
    );
    // A concurrent workload may take its concurrency from the sweep alone.
    let e = ok(&[
        ("workload.type", "concurrent"),
        ("workload.sweep.concurrency", "[2, 4]"),
    ]);
    assert_eq!(e.workload.kind, WorkloadKind::Concurrent { concurrency: 2 });
}

#[test]
fn batch_sweep_needs_batch_or_single() {
    only(
        &[
            ("workload.type", "concurrent"),
            ("workload.concurrency", "2"),
            ("workload.sweep.batch_size", "[1, 2]"),
        ],
        "workload.sweep.batch_size",
    );
    ok(&[
        ("workload.type", "batch"),
        ("workload.sweep.batch_size", "[2, 4]"),
    ]);
}

#[test]
fn sample_interval_must_be_positive() {
    only(
        &[("metrics.sample_interval_ms", "0")],
        "metrics.sample_interval_ms",
    );
}

#[test]
fn gpu_memory_utilization_in_zero_one() {
    let path = "framework_options.gpu_memory_utilization";
    only(&[(path, "0")], path);
    only(&[(path, "1.5")], path);
    assert_eq!(
        ok(&[(path, "1")]).framework_options.gpu_memory_utilization,
        Some(1.0)
    );
}

#[test]
fn max_model_len_must_be_positive() {
    only(
        &[("framework_options.max_model_len", "0")],
        "framework_options.max_model_len",
    );
}

#[test]
fn local_startup_timeout_must_be_positive() {
    only(
        &[("infrastructure.local.startup_timeout_s", "0")],
        "infrastructure.local.startup_timeout_s",
    );
}

#[test]
fn unknown_keys_are_reported_with_suggestion() {
    only(&[("workload.concurency", "4")], "workload.concurency");
    let text = message(&[("workload.concurency", "4")]);
    assert!(text.contains("workload.concurency: unknown field, did you mean 'concurrency'?"));
}

#[test]
fn wrong_type_is_reported_once() {
    only(
        &[("infrastructure.gpu_count", "two")],
        "infrastructure.gpu_count",
    );
    only(&[("name", "[a, b]")], "name");
}

#[test]
fn all_problems_are_reported_together() {
    let paths = Fixture::new().issue_paths(&[
        ("name", DELETE),
        ("framework", "tgi"),
        ("workload.parameters.max_tokens", "0"),
        ("metrics.sample_interval_ms", "-5"),
        ("workload.typo", "1"),
    ]);
    assert_eq!(paths.len(), 5, "{paths:?}");
}

#[test]
fn resolved_has_every_python_key_and_absolute_source() {
    let e = ok(&[]);
    let resolved = serde_json::to_value(&e.resolved).unwrap();
    // The `experiment` block of tests/fixtures/python-results/ref-concurrent-*.json.
    let python: serde_json::Value = serde_json::from_str(PYTHON_EXPERIMENT).unwrap();
    assert_keys_present(&python, &resolved, "");
    assert_eq!(resolved["infrastructure"]["provider"], "runpod");
    assert_eq!(resolved["infrastructure"]["gpu_count"], 1);
    assert_eq!(resolved["infrastructure"]["cloud_type"], "community");
    assert_eq!(resolved["workload"]["type"], "single");
    assert_eq!(resolved["workload"]["parameters"]["max_tokens"], 256);
    assert_eq!(resolved["workload"]["parameters"]["temperature"], 0.7);
    assert_eq!(resolved["workload"]["batch_size"], serde_json::Value::Null);
    assert_eq!(resolved["framework_options"]["gpu_memory_utilization"], 0.9);
    assert_eq!(resolved["metrics"]["output_dir"], "results/");
    assert_eq!(resolved["metrics"]["sample_interval_ms"], 100);
    assert_eq!(resolved["metrics"]["collect_gpu_metrics"], true);
    let source = resolved["workload"]["requests"]["source"].as_str().unwrap();
    assert!(std::path::Path::new(source).is_absolute());
    assert!(source.ends_with("prompts.jsonl"));
}

const PYTHON_EXPERIMENT: &str = r#"{
  "name": "ref-concurrent", "description": null, "extends": null,
  "model": {"name": "Qwen/Qwen3-0.6B", "quantization": null},
  "framework": "vllm",
  "framework_options": {"max_model_len": null, "gpu_memory_utilization": 0.9, "enable_prefix_caching": null},
  "infrastructure": {"provider": "runpod", "gpu_type": "A100-80GB", "gpu_count": 1},
  "workload": {"type": "concurrent",
    "requests": {"source": "/home/alice/llm-bench/prompts/baseline.jsonl", "count": 40},
    "parameters": {"max_tokens": 32, "temperature": 0.7},
    "batch_size": null, "concurrency": 8, "sweep": null, "conversation": null},
  "metrics": {"collect_gpu_metrics": true, "sample_interval_ms": 100, "output_dir": "results/"}
}"#;

/// Every key of the Python tool's `experiment` block is present in ours.
fn assert_keys_present(python: &serde_json::Value, ours: &serde_json::Value, path: &str) {
    if let serde_json::Value::Object(m) = python {
        for (k, v) in m {
            let p = format!("{path}.{k}");
            let Some(o) = ours.get(k) else {
                panic!("missing key {p} in {ours}")
            };
            if v.is_object() && o.is_object() {
                assert_keys_present(v, o, &p);
            }
        }
    }
}

#[test]
fn resolved_fills_simulation_profile_for_simulated() {
    let e = ok(&[
        ("infrastructure.provider", "simulated"),
        ("infrastructure.simulation.max_num_seqs", "4"),
    ]);
    assert_eq!(e.infrastructure.simulation.max_num_seqs, 4);
    let sim = e.resolved.infrastructure.unwrap().simulation.unwrap();
    assert_eq!(sim.max_num_seqs, 4);
    assert_eq!(sim.seed, crate::sim::SimProfile::default().seed);
}

#[test]
fn simulation_profile_is_range_checked_at_validation() {
    let fx = Fixture::new();
    let paths = fx.issue_paths(&[
        ("infrastructure.provider", "simulated"),
        ("infrastructure.simulation.decode_step_ms", "1e300"),
        ("infrastructure.simulation.error_rate", "2.0"),
    ]);
    assert_eq!(
        paths,
        [
            "infrastructure.simulation.decode_step_ms",
            "infrastructure.simulation.error_rate"
        ]
    );
    let text = message(&[
        ("infrastructure.provider", "simulated"),
        ("infrastructure.simulation.base_ttft_ms", "1e300"),
    ]);
    assert!(text.contains("one hour"), "{text}");
}
