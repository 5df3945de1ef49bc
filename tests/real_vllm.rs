//! End to end against the REAL vLLM OpenAI server (CPU build, tiny random model), driving the
//! real binary. Ignored by plain `cargo test`: `.ci/real-vllm.sh` installs vLLM, builds the
//! model and runs `cargo test --test real_vllm -- --ignored --test-threads=1` with
//!   REAL_VLLM_VENV   the venv holding `bin/vllm` (scripts/real-vllm/setup.sh)
//!   REAL_VLLM_MODEL  the model folder (make_tiny_model.py)
//!   REAL_VLLM_MARK   optional: a tag put in every server's environment, to find leftovers
//! Each test starts at most one server (~40–80 s on 2 cores); run them one at a time (each
//! server takes ~4.4 GB of RAM).
#![cfg(target_os = "linux")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::real_server::{
    self, check_multi_turn, check_requests, env_path, figure, free_port, results_named, run_timed,
    yaml_env, ManualProcess, PROMPTS, SERVED,
};
use support::{f64_at, Sandbox};

const MARK_VAR: &str = "REAL_VLLM_MARK";

struct Env {
    vllm: PathBuf,
    model: PathBuf,
    mark: String,
}

fn env() -> Env {
    let vllm = env_path("REAL_VLLM_VENV", ".ci/real-vllm.sh").join("bin/vllm");
    let model = env_path("REAL_VLLM_MODEL", ".ci/real-vllm.sh");
    assert!(vllm.exists(), "{} missing", vllm.display());
    real_server::assert_model(&model);
    let mark = real_server::mark(MARK_VAR);
    Env { vllm, model, mark }
}

/// The environment every vLLM server gets (see scripts/real-vllm/README.md).
fn server_env(e: &Env) -> Vec<(&'static str, String)> {
    vec![
        ("VLLM_CPU_KVCACHE_SPACE", "1".into()),
        ("HF_HUB_OFFLINE", "1".into()),
        ("TRANSFORMERS_OFFLINE", "1".into()),
        ("VLLM_NO_USAGE_STATS", "1".into()),
        ("DO_NOT_TRACK", "1".into()),
        (MARK_VAR, e.mark.clone()),
    ]
}

/// The environment, a sandbox and in it a config for `provider: local` running the real
/// vLLM; `workload` is the YAML of the workload section's body.
fn local_setup(name: &str, workload: &str) -> (Env, Sandbox, PathBuf) {
    local_setup_with_args(name, "", workload)
}

/// [`local_setup`] with `extra` (`a, b, `) put first in `infrastructure.local.args`.
fn local_setup_with_args(name: &str, extra: &str, workload: &str) -> (Env, Sandbox, PathBuf) {
    let e = env();
    let sb = Sandbox::new();
    let cfg = local_config_with_args(&sb, &e, name, extra, workload);
    (e, sb, cfg)
}

/// The config of [`local_setup_with_args`].
fn local_config_with_args(
    sb: &Sandbox,
    e: &Env,
    name: &str,
    extra: &str,
    workload: &str,
) -> PathBuf {
    real_server::write_config(
        sb,
        name,
        &format!(
            r#"name: {name}
model: {{name: {model}}}
framework: vllm
framework_options: {{max_model_len: 1024, enable_prefix_caching: true}}
infrastructure:
  provider: local
  local:
    executable: {vllm}
    args: [{extra}--served-model-name, {SERVED}, --dtype, bfloat16, --max-num-seqs, "16", --enforce-eager]
    env: {{{env}}}
    startup_timeout_s: 400
workload:
{workload}
metrics: {{sample_interval_ms: 100, output_dir: results}}
"#,
            model = e.model.display(),
            vllm = e.vllm.display(),
            env = yaml_env(&server_env(e)),
        ),
    )
}

/// Run the binary; panics with its output unless it exits 0. Returns stdout.
fn run_ok(sb: &Sandbox, e: &Env, args: &[&str]) -> String {
    let (code, stdout, stderr) = run_timed(sb, &[(MARK_VAR, e.mark.as_ref())], args);
    assert_eq!(
        code,
        Some(0),
        "`{}` failed:\n{stderr}\n{stdout}",
        args.join(" ")
    );
    stdout
}

/// `run <cfg>`, which must exit 0 and leave no vLLM process behind: its stdout and the
/// result files.
fn run_local(sb: &Sandbox, e: &Env, cfg: &Path) -> (String, Vec<Value>) {
    let stdout = run_ok(sb, e, &["run", cfg.to_str().expect("path")]);
    assert_no_leftovers(e);
    (stdout, sb.results_json())
}

/// The one result of a local run, checked by [`check_result`] and [`check_local`].
fn check_one_local<'a>(sb: &Sandbox, results: &'a [Value], max_tokens: u64) -> &'a Value {
    assert_eq!(results.len(), 1);
    let r = &results[0];
    check_result(r, max_tokens);
    check_local(sb, r);
    r
}

/// What every result must show: all requests succeeded with exactly `max_tokens` tokens
/// (`ignore_eos`), counted from the usage chunk, and server metrics were scraped while busy.
fn check_result(r: &Value, max_tokens: u64) {
    let (id, _) = check_requests(r, max_tokens);
    let g = &r["summary"]["gpu_summary"];
    assert!(f64_at(g, "/active_requests_peak") > 0.0, "{id}: {g}");
    assert_eq!(r["metadata"]["framework"], "vllm");
    eprintln!("  {}", one_line(r));
}

/// TTFT / TPOT / throughput and server metrics in one line (shown with --nocapture).
fn one_line(r: &Value) -> String {
    let s = &r["summary"];
    let g = &s["gpu_summary"];
    let f = figure;
    format!(
        "{}: {} req, TTFT p50 {:.1} ms p95 {:.1} ms, TPOT p50 {:.2} ms, {:.0} tok/s, {:.2} req/s | \
         server: active peak {:.0}, queued peak {:.0}, KV peak {:.4}%, prefix hit {:.1}%, {} samples",
        r["run_id"].as_str().unwrap_or("?"),
        s["total_requests"],
        f(s, "/ttft/p50"),
        f(s, "/ttft/p95"),
        f(s, "/tpot/p50"),
        f(s, "/tokens_per_second"),
        f(s, "/requests_per_second"),
        f(g, "/active_requests_peak"),
        f(g, "/queued_requests_peak"),
        f(g, "/kv_cache_usage_peak") * 100.0,
        f(g, "/prefix_cache_hit_rate") * 100.0,
        g["total_samples"],
    )
}

/// Local-server checks: the result names the provider, a zero cost and the server's log.
fn check_local(sb: &Sandbox, r: &Value) {
    let m = &r["metadata"];
    assert_eq!(m["provider"], "local", "{m}");
    assert_eq!(m["cost_per_hr"], 0.0, "{m}");
    let log = PathBuf::from(m["server_log"].as_str().expect("server_log"));
    let text = std::fs::read_to_string(sb.path().join(&log)).expect("server log");
    assert!(
        text.contains("--served-model-name tiny"),
        "{}",
        log.display()
    );
    assert!(
        text.contains("Application startup complete"),
        "{}",
        log.display()
    );
}

fn assert_no_leftovers(e: &Env) {
    let left = real_server::leftovers(MARK_VAR, &e.mark);
    assert!(left.is_empty(), "vLLM processes survived: {left:#?}");
}

#[test]
#[ignore = "needs the real vLLM: run .ci/real-vllm.sh"]
fn local_concurrent_sweep_then_compare() {
    let (e, sb, cfg) = local_setup(
        "real-sweep",
        "  type: concurrent\n  requests: {source: prompts.jsonl, count: 12}\n  parameters: {max_tokens: 64, ignore_eos: true}\n  sweep: {concurrency: [1, 4]}",
    );
    let (_, results) = run_local(&sb, &e, &cfg);
    assert_eq!(results.len(), 2, "one result per sweep value");
    for r in &results {
        check_result(r, 64);
        check_local(&sb, r);
    }
    let peak = |r: &Value| f64_at(r, "/summary/gpu_summary/active_requests_peak");
    let c4 = results_named(&results, "real-sweep-c4");
    assert_eq!(
        c4.len(),
        1,
        "{:?}",
        results.iter().map(|r| &r["run_id"]).collect::<Vec<_>>()
    );
    assert!(
        peak(c4[0]) > 1.0,
        "concurrency 4 never ran requests together"
    );

    let ids: Vec<&str> = results
        .iter()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    let dir = sb.results();
    let out = run_ok(
        &sb,
        &e,
        &[
            "compare",
            ids[0],
            ids[1],
            "--dir",
            dir.to_str().expect("path"),
        ],
    );
    assert!(out.contains(ids[0]) && out.contains(ids[1]), "{out}");
    assert!(out.contains("TTFT"), "{out}");
}

#[test]
#[ignore = "needs the real vLLM: run .ci/real-vllm.sh"]
fn local_batch() {
    let (e, sb, cfg) = local_setup(
        "real-batch",
        "  type: batch\n  batch_size: 4\n  requests: {source: prompts.jsonl, count: 8}\n  parameters: {max_tokens: 48, ignore_eos: true}",
    );
    let (_, results) = run_local(&sb, &e, &cfg);
    check_one_local(&sb, &results, 48);
}

#[test]
#[ignore = "needs the real vLLM: run .ci/real-vllm.sh"]
fn local_multi_turn_hits_the_prefix_cache() {
    // ~300 tokens shared by every conversation, then each turn resends the whole history:
    // both must be served from vLLM's prefix cache.
    let words = "the quick brown fox jumps over lazy dog benchmark token stream server model";
    let prefix = vec![words; 25].join(" ");
    let (e, sb, cfg) = local_setup(
        "real-multi-turn",
        &format!(
            "  type: multi_turn\n  concurrency: 2\n  requests: {{source: prompts.jsonl, count: 3}}\n  parameters: {{max_tokens: 32, ignore_eos: true}}\n  conversation:\n    turns: 3\n    system_prompt: 'You are a helpful model.'\n    user_messages: ['tell me more about the cat', 'and the dog']\n    shared_prefix: '{prefix}'"
        ),
    );
    let (_, results) = run_local(&sb, &e, &cfg);
    let r = check_one_local(&sb, &results, 32);
    assert_eq!(r["requests"].as_array().map(Vec::len), Some(9));
    check_multi_turn(r);
}

#[test]
#[ignore = "needs the real vLLM: run .ci/real-vllm.sh"]
fn local_server_that_fails_to_start_is_reported_at_once() {
    let (e, sb, cfg) = local_setup(
        "real-bad-flag",
        "  type: single\n  requests: {source: prompts.jsonl, count: 1}\n  parameters: {max_tokens: 4}",
    );
    let text = std::fs::read_to_string(&cfg).expect("config");
    std::fs::write(&cfg, text.replace("--enforce-eager", "--no-such-flag")).expect("write");
    let started = Instant::now();
    let out = sb
        .cmd()
        .env(MARK_VAR, &e.mark)
        .arg("run")
        .arg(&cfg)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "  failed start reported after {:.0} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("exited"), "{stderr}");
    assert!(
        stderr.contains("--no-such-flag"),
        "vLLM's own message expected: {stderr}"
    );
    assert!(sb.result_files().is_empty());
    assert_no_leftovers(&e);
}

/// A vLLM server started by the test (for `--server-url`); stopped with its process group.
struct ManualServer(ManualProcess);

impl ManualServer {
    fn start(e: &Env, dir: &Path) -> Self {
        let port = free_port();
        let mut cmd = Command::new(&e.vllm);
        cmd.arg("serve")
            .arg(&e.model)
            .args(["--served-model-name", SERVED, "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--max-model-len", "1024", "--dtype", "bfloat16"])
            .args(["--max-num-seqs", "16", "--enforce-eager"])
            .envs(server_env(e));
        let log = dir.join("manual-vllm.log");
        Self(ManualProcess::start(
            cmd,
            port,
            log,
            "vLLM",
            Duration::from_secs(400),
        ))
    }

    fn url(&self) -> String {
        self.0.url()
    }
}

#[test]
#[ignore = "needs the real vLLM: run .ci/real-vllm.sh"]
fn server_url_single_and_a_wrong_model_name() {
    let e = env();
    let sb = Sandbox::new();
    {
        let server = ManualServer::start(&e, sb.path());
        let url = server.url();
        sb.write("prompts.jsonl", PROMPTS);
        let single = |model: &str| {
            sb.write(
                &format!("single-{model}.yaml"),
                &format!(
                    "name: real-url-single\nmodel: {{name: {model}}}\nframework: vllm\n\
                     infrastructure: {{provider: local}}\n\
                     workload:\n  type: single\n  requests: {{source: prompts.jsonl, count: 6}}\n  \
                     parameters: {{max_tokens: 40, ignore_eos: true}}\n\
                     metrics: {{sample_interval_ms: 100, output_dir: results}}\n"
                ),
            )
        };
        let cfg = single(SERVED);
        run_ok(
            &sb,
            &e,
            &["run", cfg.to_str().expect("path"), "--server-url", &url],
        );
        let results = sb.results_json();
        assert_eq!(results.len(), 1);
        check_result(&results[0], 40);
        assert_eq!(results[0]["metadata"]["provider"], "external");

        // A wrong name: one clear error before any request, naming what is served.
        let wrong = single("no-such-model");
        let out = sb
            .cmd()
            .args(["run", wrong.to_str().expect("path"), "--server-url", &url])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("model `no-such-model` is not served")
                && stderr.contains("it serves: tiny"),
            "{stderr}"
        );
        assert_eq!(
            stderr.matches("error").count(),
            1,
            "one error, not one per request: {stderr}"
        );
        assert_eq!(sb.result_files().len(), 1, "no result for the failed run");

        // And what a request for it gets from vLLM: the 404 body, kept in the record.
        let message = wrong_model_request_error(&url);
        assert!(message.contains("404"), "{message}");
        assert!(message.contains("does not exist"), "{message}");
    }
    assert_no_leftovers(&e);
}

fn wrong_model_request_error(url: &str) -> String {
    use llm_inf_bench::config::{Framework, GenerationParams};
    use llm_inf_bench::runners::{create_runner, ChatMessage, RunnerTimeouts};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let runner = create_runner(
            Framework::Vllm,
            url,
            "no-such-model",
            RunnerTimeouts::for_framework(Framework::Vllm),
            1,
        )
        .expect("runner");
        let params = GenerationParams {
            max_tokens: 4,
            temperature: 0.0,
            ignore_eos: true,
        };
        let outcome = runner
            .chat(
                &[ChatMessage::new("user", "hello")],
                &params,
                false,
                &tokio_util::sync::CancellationToken::new(),
            )
            .await;
        outcome.error.map(|e| e.to_string()).unwrap_or_default()
    })
}

/// Token-exact requests: every successful request's server-counted lengths must equal what it
/// asked for. Returns (exact, total).
fn check_exact_lengths(r: &Value) -> (usize, usize) {
    let requests = r["requests"].as_array().cloned().unwrap_or_default();
    let mut exact = 0;
    for q in &requests {
        assert!(q["error"].is_null(), "request failed: {q}");
        let asked_in = q["requested_input_tokens"]
            .as_u64()
            .expect("requested input");
        let asked_out = q["requested_output_tokens"]
            .as_u64()
            .expect("requested output");
        if q["prompt_tokens"].as_u64() == Some(asked_in)
            && q["completion_tokens"].as_u64() == Some(asked_out)
        {
            exact += 1;
        }
    }
    (exact, requests.len())
}

#[test]
#[ignore = "needs the real vLLM: run .ci/real-vllm.sh"]
fn local_completions_synthetic_prompts_are_token_exact() {
    // The tokenizer is the model folder's own tokenizer.json (model.name is that folder).
    let (e, sb, cfg) = local_setup(
        "real-synthetic",
        "  type: concurrent\n  concurrency: 4\n  api: completions\n  requests:\n    count: 24\n    synthetic:\n      input_tokens: {dist: normal, mean: 200, std: 50, min: 50, max: 400}\n      output_tokens: 32\n      seed: 7",
    );
    let (_, results) = run_local(&sb, &e, &cfg);
    let r = &results[0];
    let (exact, total) = check_exact_lengths(r);
    eprintln!("  synthetic completions: {exact}/{total} requests token-exact");
    assert_eq!((exact, total), (24, 24));
    assert_eq!(r["summary"]["tokens"]["input_exact"], 24);
    assert_eq!(r["summary"]["tokens"]["output_exact"], 24);
}

#[test]
#[ignore = "needs the real vLLM: run .ci/real-vllm.sh"]
fn local_trace_replay_is_exact_and_hits_the_prefix_cache() {
    let trace =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/traces/mooncake-small.jsonl");
    // block_size 64: the longest prompt (10 blocks) plus its output fits the 1024 context.
    let (e, sb, cfg) = local_setup(
        "real-trace",
        &format!(
            "  type: trace\n  api: completions\n  trace: {{file: '{}', format: mooncake, time_scale: 0.5, block_size: 64}}",
            trace.display()
        ),
    );
    let (_, results) = run_local(&sb, &e, &cfg);
    let r = &results[0];
    let (exact, total) = check_exact_lengths(r);
    let ideal = f64_at(r, "/summary/tokens/ideal_block_reuse_ratio");
    let hit = f64_at(r, "/summary/gpu_summary/prefix_cache_hit_rate");
    eprintln!(
        "  trace replay: {exact}/{total} token-exact; ideal block reuse {:.1}%, measured prefix-cache hit rate {:.1}%",
        ideal * 100.0,
        hit * 100.0
    );
    assert_eq!(exact, total);
    assert!(total >= 20);
    assert!(
        hit > 0.0,
        "no prefix-cache hits on a trace with shared blocks"
    );
}

/// Issue 19: a local vLLM started with a bare `--api-key` gets a key the tool generates, and
/// the run sends it (vLLM guards every `/v1` route with it) together with the sampling
/// options, `extra_body`, headers and a whole-request timeout. The key is in no file.
#[test]
#[ignore = "needs the real vLLM: run .ci/real-vllm.sh"]
fn local_server_with_a_generated_api_key_and_request_options() {
    let (e, sb, cfg) = local_setup_with_args(
        "real-secured",
        "--api-key, ",
        "  type: concurrent\n  concurrency: 2\n  requests: {source: prompts.jsonl, count: 6}\n  \
         parameters: {max_tokens: 32, ignore_eos: true, seed: 5, top_p: 0.9, top_k: 20, \
         min_tokens: 8, presence_penalty: 0.1, frequency_penalty: 0.1, \
         extra_body: {repetition_penalty: 1.05}}\n  headers: {X-Bench: real}\n  timeout_s: 300",
    );
    let (stdout, results) = run_local(&sb, &e, &cfg);
    let r = check_one_local(&sb, &results, 32);
    for key in ["p90", "p99_9", "std"] {
        assert!(r["summary"]["ttft"][key].is_number(), "ttft.{key}");
    }
    let log = sb
        .path()
        .join(r["metadata"]["server_log"].as_str().expect("log"));
    let log = std::fs::read_to_string(log).expect("server log");
    // Our command line hides the key; vLLM's own argument log shows it was given one.
    assert!(log.contains("--api-key ***"), "command line in the log");
    assert!(
        log.contains("'api_key': '***'"),
        "vLLM started without a key"
    );
    let written = std::fs::read_dir(sb.results())
        .expect("results")
        .flatten()
        .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default())
        .collect::<String>();
    assert!(!written.contains("Bearer") && !stdout.contains("Bearer"));
    let params = &r["experiment"]["workload"]["parameters"];
    assert_eq!(params["extra_body"]["repetition_penalty"], 1.05);
}
