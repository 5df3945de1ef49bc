//! End to end against the REAL SGLang 0.5.23 server (CPU, tiny random model), driving the real
//! binary. Ignored by plain `cargo test`: `.ci/real-sglang.sh` installs SGLang
//! (scripts/real-sglang/setup.sh), builds the model and runs
//! `cargo test --test real_sglang -- --ignored --test-threads=1` with
//!   REAL_SGLANG_VENV   the venv holding SGLang
//!   REAL_SGLANG_MODEL  the model folder (scripts/real-vllm/make_tiny_model.py)
//!   REAL_SGLANG_MARK   optional: a tag put in every server's environment, to find leftovers
//! A server is healthy ~1 min after launch on 2 cores, so the suite starts two: one through
//! `provider: local` (the concurrent sweep: provisioning, health, teardown, cleanup), one by
//! hand for `--server-url` (single, batch, multi-turn, the model check and error messages).
#![cfg(target_os = "linux")]

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::real_server::{
    check_multi_turn, check_requests, figure, results_named, run_timed, write_config,
};
use support::sglang_server::{
    env, leftovers, server_env, sglang_shm_files, Env, ManualServer, CPU_ARGS, MARK_VAR, SERVED,
};
use support::{f64_at, Sandbox};

/// The concurrent sweep of the local-provider test; the vLLM run it is compared with uses it too.
const SWEEP: &str = "  type: concurrent\n  requests: {source: prompts.jsonl, count: 8}\n  parameters: {max_tokens: 32, ignore_eos: true}\n  sweep: {concurrency: [1, 4]}";

/// A config for `provider: local` running the real SGLang; `workload` is the YAML of the
/// workload section's body.
fn local_config(sb: &Sandbox, e: &Env, name: &str, workload: &str) -> PathBuf {
    let args: Vec<String> = ["--served-model-name", SERVED]
        .iter()
        .chain(CPU_ARGS)
        .map(|a| format!("'{a}'"))
        .collect();
    write_config(
        sb,
        name,
        &format!(
            r#"name: {name}
model: {{name: {model}}}
framework: sglang
framework_options: {{max_model_len: 1024}}
infrastructure:
  provider: local
  local:
    executable: {python}
    args: [{args}]
    env: {{{env}}}
    startup_timeout_s: 900
workload:
{workload}
metrics: {{sample_interval_ms: 100, output_dir: results}}
"#,
            model = e.model.display(),
            python = e.python().display(),
            args = args.join(", "),
            env = support::real_server::yaml_env(&server_env(e)),
        ),
    )
}

/// A config for `--server-url` (the server is already running).
fn url_config(sb: &Sandbox, name: &str, model: &str, workload: &str) -> PathBuf {
    support::real_server::url_config(sb, name, model, "sglang", "local", workload)
}

/// Run the binary; panics with its output unless it exits 0. Returns stdout.
fn run_ok(sb: &Sandbox, e: &Env, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(sb, e, args);
    assert_eq!(
        code,
        Some(0),
        "`{}` failed:\n{stderr}\n{stdout}",
        args.join(" ")
    );
    stdout
}

/// Run the binary with the sandbox's temp folder; (exit code, stdout, stderr).
fn run(sb: &Sandbox, e: &Env, args: &[&str]) -> (Option<i32>, String, String) {
    let tmp = sb.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    run_timed(
        sb,
        &[(MARK_VAR, e.mark.as_ref()), ("TMPDIR", tmp.as_os_str())],
        args,
    )
}

/// What every result must show: all requests succeeded with exactly `max_tokens` tokens
/// (`ignore_eos`), counted from the usage chunk, with the tokens each chunk carried adding up
/// to that count, and the server metrics scraped while busy.
fn check_result(r: &Value, max_tokens: u64) {
    let (id, requests) = check_requests(r, max_tokens);
    for q in requests {
        // One count per text chunk; one gap per pair of chunks.
        let counts: Vec<u64> = q["chunk_tokens"]
            .as_array()
            .unwrap_or_else(|| panic!("{id}: no chunk_tokens: {q}"))
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        let gaps = q["inter_token_latencies_ms"].as_array().map_or(0, Vec::len);
        assert_eq!(counts.len(), gaps + 1, "{id}: {q}");
        assert!(counts.iter().all(|&n| n >= 1), "{id}: {q}");
        assert!(counts.iter().sum::<u64>() <= max_tokens, "{id}: {q}");
        assert!(counts.iter().sum::<u64>() >= max_tokens / 2, "{id}: {q}");
    }
    let g = &r["summary"]["gpu_summary"];
    // One short request at a time can fall between two scrapes; every other run overlaps them.
    if !id.starts_with("sglang-single") {
        assert!(f64_at(g, "/active_requests_peak") > 0.0, "{id}: {g}");
    }
    assert!(f64_at(g, "/generation_throughput") > 0.0, "{id}: {g}");
    assert_eq!(r["metadata"]["framework"], "sglang");
    assert_eq!(r["gpu_metrics"]["framework"], "sglang");
    let defs = &r["definitions"];
    assert!(
        defs["chunk_tokens"]
            .as_str()
            .is_some_and(|d| d.contains("per-token")),
        "{id}: {defs}"
    );
    eprintln!("  {}", one_line(r));
}

/// TTFT / TPOT / throughput and server metrics in one line (shown with --nocapture).
fn one_line(r: &Value) -> String {
    let s = &r["summary"];
    let g = &s["gpu_summary"];
    let f = figure;
    let requests = r["requests"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let chunks: usize = requests
        .iter()
        .filter_map(|q| q["chunk_tokens"].as_array().map(Vec::len))
        .sum();
    let tokens = s["total_completion_tokens"].as_u64().unwrap_or(0);
    format!(
        "{}: {} req, {tokens} tokens in {chunks} chunks, TTFT p50 {:.1} ms p95 {:.1} ms, \
         TPOT p50 {:.2} ms, TBT p50 {:.2} ms, {:.0} tok/s, {:.2} req/s | server: active peak \
         {:.0}, queued peak {:.0}, KV peak {:.4}%, prefix hit {:.1}%, gen {:.0} tok/s, {} samples",
        r["run_id"].as_str().unwrap_or("?"),
        s["total_requests"],
        f(s, "/ttft/p50"),
        f(s, "/ttft/p95"),
        f(s, "/tpot/p50"),
        f(s, "/tbt/p50"),
        f(s, "/tokens_per_second"),
        f(s, "/requests_per_second"),
        f(g, "/active_requests_peak"),
        f(g, "/queued_requests_peak"),
        f(g, "/kv_cache_usage_peak") * 100.0,
        f(g, "/prefix_cache_hit_rate") * 100.0,
        f(g, "/generation_throughput"),
        g["total_samples"],
    )
}

/// Nothing the servers of this test left: processes, shared memory, sockets.
fn assert_nothing_left(sb: &Sandbox, e: &Env, shm_before: &[String]) {
    let left = leftovers(&e.mark);
    assert!(left.is_empty(), "SGLang processes survived: {left:#?}");
    let new: Vec<String> = sglang_shm_files()
        .into_iter()
        .filter(|f| !shm_before.contains(f))
        .collect();
    assert!(new.is_empty(), "SGLang left /dev/shm files: {new:?}");
    let tmp: Vec<PathBuf> = std::fs::read_dir(sb.path().join("tmp"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(tmp.is_empty(), "left in the temp folder: {tmp:?}");
}

fn result_named<'a>(results: &'a [Value], prefix: &str) -> &'a Value {
    let found = results_named(results, prefix);
    assert_eq!(found.len(), 1, "{prefix}: {results:?}");
    found[0]
}

#[test]
#[ignore = "needs the real SGLang: run .ci/real-sglang.sh"]
fn local_provider_concurrent_sweep_then_compare_with_vllm() {
    let e = env();
    let sb = Sandbox::new();
    let shm_before = sglang_shm_files();
    let cfg = local_config(&sb, &e, "sglang-sweep", SWEEP);
    run_ok(&sb, &e, &["run", cfg.to_str().expect("path")]);
    assert_nothing_left(&sb, &e, &shm_before);
    let results = sb.results_json();
    assert_eq!(results.len(), 2, "one result per sweep value");
    for r in &results {
        check_result(r, 32);
        let m = &r["metadata"];
        assert_eq!(m["provider"], "local", "{m}");
        assert_eq!(m["cost_per_hr"], 0.0, "{m}");
        let log = PathBuf::from(m["server_log"].as_str().expect("server_log"));
        let text = std::fs::read_to_string(sb.path().join(&log)).expect("server log");
        assert!(text.contains("sglang.launch_server"), "{}", log.display());
        assert!(
            text.contains("--served-model-name tiny"),
            "{}",
            log.display()
        );
        assert!(text.contains("--context-length 1024"), "{}", log.display());
        assert!(text.contains("The server is fired up"), "{}", log.display());
    }
    let c4 = result_named(&results, "sglang-sweep-c4");
    assert!(
        f64_at(c4, "/summary/gpu_summary/active_requests_peak") > 1.0,
        "concurrency 4 never ran requests together"
    );
    // Several tokens in one chunk happen on the real server (its detokenizer holds back
    // incomplete UTF-8, and greedy decoding makes the same text every time): tokens are
    // counted from usage, gaps per chunk, and chunk_tokens says which chunk carried more.
    let chunks: usize = c4["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| q["chunk_tokens"].as_array().map(Vec::len))
        .sum();
    eprintln!("  c4: 256 tokens arrived in {chunks} text chunks");
    assert!(chunks < 256, "no chunk carried several tokens");

    // The same workload on vLLM (the built-in simulator), then `compare` across frameworks.
    let vllm =
        support::real_server::url_config(&sb, "vllm-sweep", "tiny", "vllm", "simulated", SWEEP);
    run_ok(&sb, &e, &["run", vllm.to_str().expect("path")]);
    let results = sb.results_json();
    let v4 = result_named(&results, "vllm-sweep-c4");
    assert_eq!(v4["metadata"]["framework"], "vllm");
    let (a, b) = (
        c4["run_id"].as_str().expect("id"),
        v4["run_id"].as_str().expect("id"),
    );
    let dir = sb.results();
    let out = run_ok(
        &sb,
        &e,
        &["compare", a, b, "--dir", dir.to_str().expect("path")],
    );
    assert!(out.contains(a) && out.contains(b), "{out}");
    assert!(out.contains("TTFT") && out.contains("TPOT"), "{out}");
    assert!(out.contains("sglang") && out.contains("vllm"), "{out}");
    eprintln!("{out}");
}

#[test]
#[ignore = "needs the real SGLang: run .ci/real-sglang.sh"]
fn server_url_single_batch_multi_turn_model_check_and_errors() {
    let e = env();
    let sb = Sandbox::new();
    let shm_before = sglang_shm_files();
    {
        let server = ManualServer::start(&e, sb.path());
        let url = server.url();
        let run_url = |cfg: &PathBuf| {
            run_ok(
                &sb,
                &e,
                &["run", cfg.to_str().expect("path"), "--server-url", &url],
            );
        };

        // Single.
        let single = url_config(
            &sb,
            "sglang-single",
            SERVED,
            "  type: single\n  requests: {source: prompts.jsonl, count: 3}\n  parameters: {max_tokens: 24, ignore_eos: true}",
        );
        run_url(&single);
        // Batch.
        let batch = url_config(
            &sb,
            "sglang-batch",
            SERVED,
            "  type: batch\n  batch_size: 3\n  requests: {source: prompts.jsonl, count: 6}\n  parameters: {max_tokens: 24, ignore_eos: true}",
        );
        run_url(&batch);
        // Multi-turn: ~300 tokens shared by every conversation, and each turn resends the whole
        // history: both are served from SGLang's radix cache.
        let words = "the quick brown fox jumps over lazy dog benchmark token stream server model";
        let prefix = vec![words; 25].join(" ");
        let multi = url_config(
            &sb,
            "sglang-multi-turn",
            SERVED,
            &format!(
                "  type: multi_turn\n  concurrency: 2\n  requests: {{source: prompts.jsonl, count: 2}}\n  parameters: {{max_tokens: 16, ignore_eos: true}}\n  conversation:\n    turns: 3\n    system_prompt: 'You are a helpful model.'\n    user_messages: ['tell me more about the cat', 'and the dog']\n    shared_prefix: '{prefix}'"
            ),
        );
        run_url(&multi);

        let results = sb.results_json();
        assert_eq!(results.len(), 3);
        for (prefix, max_tokens, n) in [
            ("sglang-single", 24, 3),
            ("sglang-batch", 24, 6),
            ("sglang-multi-turn", 16, 6),
        ] {
            let r = result_named(&results, prefix);
            check_result(r, max_tokens);
            assert_eq!(r["metadata"]["provider"], "external");
            assert_eq!(r["requests"].as_array().map(Vec::len), Some(n), "{prefix}");
        }
        let r = result_named(&results, "sglang-multi-turn");
        check_multi_turn(r);

        wrong_model_name(&sb, &e, &url);
        context_length_error(&sb, &e, &url);
    }
    assert_nothing_left(&sb, &e, &shm_before);
}

/// SGLang answers a request for any model name, so the model check (via /v1/models and
/// /model_info) is what stops a mislabelled run: one clear error before any request.
fn wrong_model_name(sb: &Sandbox, e: &Env, url: &str) {
    let before = sb.result_files().len();
    let wrong = url_config(
        sb,
        "sglang-wrong-model",
        "no-such-model",
        "  type: single\n  requests: {source: prompts.jsonl, count: 2}\n  parameters: {max_tokens: 8, ignore_eos: true}",
    );
    let (code, _, stderr) = run(
        sb,
        e,
        &["run", wrong.to_str().expect("path"), "--server-url", url],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("model `no-such-model` is not served")
            && stderr.contains("it serves: tiny"),
        "{stderr}"
    );
    assert!(
        stderr.contains("answers requests for any model name"),
        "{stderr}"
    );
    assert_eq!(
        sb.result_files().len(),
        before,
        "no result for the failed run"
    );
    // What the check guards against: the request itself succeeds.
    let outcome = chat(url, "no-such-model", "hello", 4);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.completion_tokens, Some(4));
}

/// A prompt longer than the context: SGLang's flat 400, shown as one clear message (not the
/// raw JSON, not once per request).
fn context_length_error(sb: &Sandbox, e: &Env, url: &str) {
    let long = vec!["the quick brown fox jumps over the lazy dog"; 200].join(" ");
    sb.write(
        "long.jsonl",
        &format!("{{\"messages\": [{{\"role\": \"user\", \"content\": \"{long}\"}}]}}\n"),
    );
    let cfg = sb.write(
        "sglang-too-long.yaml",
        "name: sglang-too-long\nmodel: {name: tiny}\nframework: sglang\n\
         infrastructure: {provider: local}\nworkload:\n  type: single\n  \
         requests: {source: long.jsonl, count: 3}\n  parameters: {max_tokens: 16, ignore_eos: true}\n\
         metrics: {sample_interval_ms: 100, output_dir: results}\n",
    );
    let (code, stdout, stderr) = run(
        sb,
        e,
        &["run", cfg.to_str().expect("path"), "--server-url", url],
    );
    let all = format!("{stdout}\n{stderr}");
    eprintln!("{all}");
    // Every request failed: exit 1 (issue 11 item 12), the error once on each stream.
    assert_eq!(code, Some(1), "{all}");
    for text in [&stdout, &stderr] {
        assert_eq!(
            text.matches("context length (1024 tokens)").count(),
            1,
            "one message for the three failures: {all}"
        );
    }
    assert!(all.contains("3 requests"), "{all}");
    assert!(all.contains("HTTP 400"), "{all}");
    assert!(!all.contains("\"object\""), "raw JSON shown: {all}");
    let results = sb.results_json();
    let r = result_named(&results, "sglang-too-long");
    assert_eq!(r["summary"]["failed_requests"], 3);
    let q = &r["requests"][0];
    assert_eq!(q["error_kind"], "http", "{q}");
    let message = q["error"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("HTTP 400 BadRequestError: The input (")
            && message.contains("is longer than the model's context length (1024 tokens)"),
        "{message}"
    );
}

/// One chat completion through the library's runner.
fn chat(
    url: &str,
    model: &str,
    text: &str,
    max_tokens: u32,
) -> llm_inf_bench::runners::ChatOutcome {
    use llm_inf_bench::config::{Framework, GenerationParams};
    use llm_inf_bench::runners::{create_runner, ChatMessage, RunnerTimeouts};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let runner = create_runner(
            Framework::Sglang,
            url,
            model,
            RunnerTimeouts::for_framework(Framework::Sglang),
            1,
        )
        .expect("runner");
        let params = GenerationParams {
            max_tokens,
            temperature: 0.0,
            ignore_eos: true,
        };
        runner
            .chat(
                &[ChatMessage::new("user", text)],
                &params,
                false,
                &tokio_util::sync::CancellationToken::new(),
            )
            .await
    })
}
