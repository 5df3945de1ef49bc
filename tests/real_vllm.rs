//! End to end against the REAL vLLM OpenAI server (CPU build, tiny random model), driving the
//! real binary. Ignored by plain `cargo test`: `.ci/real-vllm.sh` installs vLLM, builds the
//! model and runs `cargo test --test real_vllm -- --ignored --test-threads=1` with
//!   REAL_VLLM_VENV   the venv holding `bin/vllm` (scripts/real-vllm/setup.sh)
//!   REAL_VLLM_MODEL  the model folder (make_tiny_model.py)
//!   REAL_VLLM_MARK   optional: a tag put in every server's environment, to find leftovers
//! Each test starts at most one server (~40–80 s on 2 cores); run them one at a time (each
//! server takes ~4.4 GB of RAM).
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{f64_at, Sandbox};
use serde_json::Value;

/// The served name (`--served-model-name`), what requests must use.
const SERVED: &str = "tiny";

struct Env {
    vllm: PathBuf,
    model: PathBuf,
    mark: String,
}

fn env() -> Env {
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!("{name} is not set: run these tests through .ci/real-vllm.sh")
            })
    };
    let vllm = var("REAL_VLLM_VENV").join("bin/vllm");
    let model = var("REAL_VLLM_MODEL");
    assert!(vllm.exists(), "{} missing", vllm.display());
    assert!(
        model.join("config.json").exists(),
        "{} is not a model",
        model.display()
    );
    let mark =
        std::env::var("REAL_VLLM_MARK").unwrap_or_else(|_| format!("test-{}", std::process::id()));
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
        ("REAL_VLLM_MARK", e.mark.clone()),
    ]
}

/// Short prompts made of the tiny tokenizer's words.
const PROMPTS: &str = r#"{"messages": [{"role": "user", "content": "hello world how are you"}]}
{"messages": [{"role": "user", "content": "write a story about the quick brown fox"}]}
{"messages": [{"role": "user", "content": "what is one two three four five"}]}
{"messages": [{"role": "user", "content": "please write about a cat in a tree by the river"}]}
"#;

/// A config for `provider: local` running the real vLLM; `workload` is the YAML of the
/// workload section's body.
fn local_config(sb: &Sandbox, e: &Env, name: &str, workload: &str) -> PathBuf {
    local_config_with_args(sb, e, name, "", workload)
}

/// [`local_config`] with `extra` (`a, b, `) put first in `infrastructure.local.args`.
fn local_config_with_args(
    sb: &Sandbox,
    e: &Env,
    name: &str,
    extra: &str,
    workload: &str,
) -> PathBuf {
    sb.write("prompts.jsonl", PROMPTS);
    let env: Vec<String> = server_env(e)
        .into_iter()
        .map(|(k, v)| format!("{k}: '{v}'"))
        .collect();
    sb.write(
        &format!("{name}.yaml"),
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
            env = env.join(", "),
        ),
    )
}

/// Run the binary; panics with its output unless it exits 0. Returns stdout.
fn run_ok(sb: &Sandbox, e: &Env, args: &[&str]) -> String {
    let started = Instant::now();
    let out = sb
        .cmd()
        .env("REAL_VLLM_MARK", &e.mark)
        .args(args)
        .output()
        .expect("run the binary");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "`{}` failed ({}):\n{stderr}\n{stdout}",
        args.join(" "),
        out.status
    );
    eprintln!(
        "  `{}` took {:.0} s",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
    stdout
}

/// What every result must show: all requests succeeded with exactly `max_tokens` tokens
/// (`ignore_eos`), counted from the usage chunk, and server metrics were scraped while busy.
fn check_result(r: &Value, max_tokens: u64) {
    let id = r["run_id"].as_str().unwrap_or("?");
    assert_eq!(r["status"], "completed", "{id}: {}", r["summary"]);
    let requests = r["requests"].as_array().expect("requests");
    assert!(!requests.is_empty(), "{id}: no requests");
    for q in requests {
        assert!(q["error"].is_null(), "{id}: {q}");
        assert_eq!(
            q["completion_tokens"], max_tokens,
            "{id}: ignore_eos not honoured: {q}"
        );
        assert_eq!(q["token_count_source"], "usage", "{id}: {q}");
        assert!(q["prompt_tokens"].as_u64().unwrap_or(0) > 0, "{id}: {q}");
        assert!(f64_at(q, "/ttft_ms") > 0.0, "{id}: {q}");
        assert!(
            f64_at(q, "/e2e_latency_ms") >= f64_at(q, "/ttft_ms"),
            "{id}: {q}"
        );
    }
    let s = &r["summary"];
    assert_eq!(s["failed_requests"], 0, "{id}");
    assert_eq!(
        s["total_completion_tokens"],
        max_tokens * requests.len() as u64,
        "{id}"
    );
    let g = &s["gpu_summary"];
    assert!(f64_at(g, "/total_samples") > 0.0, "{id}: {g}");
    assert!(f64_at(g, "/active_requests_peak") > 0.0, "{id}: {g}");
    assert!(f64_at(g, "/kv_cache_usage_peak") > 0.0, "{id}: {g}");
    assert_eq!(r["metadata"]["framework"], "vllm");
    eprintln!("  {}", one_line(r));
}

/// TTFT / TPOT / throughput and server metrics in one line (shown with --nocapture).
fn one_line(r: &Value) -> String {
    let s = &r["summary"];
    let g = &s["gpu_summary"];
    let f = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_f64).unwrap_or(f64::NAN);
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

/// `pid`'s parent, from /proc.
fn parent_of(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1).map(String::from)
}

/// Processes still alive (not zombies) that carry `REAL_VLLM_MARK=<mark>`, other than this
/// test and its ancestors (cargo, when the suite passes the mark down).
fn leftovers(mark: &str) -> Vec<String> {
    let needle = format!("REAL_VLLM_MARK={mark}");
    let mut ours = vec![std::process::id().to_string()];
    while let Some(parent) = ours.last().and_then(|p| parent_of(p)) {
        if parent == "0" || ours.contains(&parent) {
            break;
        }
        ours.push(parent);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if ours.contains(&pid) || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .unwrap_or("Z");
        if state != "Z" && state != "X" {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(format!(
                "{pid} {}",
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            ));
        }
    }
    found
}

fn assert_no_leftovers(e: &Env) {
    let left = leftovers(&e.mark);
    assert!(left.is_empty(), "vLLM processes survived: {left:#?}");
}

fn result_named<'a>(results: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    results
        .iter()
        .filter(|r| {
            r["run_id"]
                .as_str()
                .is_some_and(|id| id.starts_with(prefix))
        })
        .collect()
}

#[test]
#[ignore = "needs the real vLLM: run .ci/real-vllm.sh"]
fn local_concurrent_sweep_then_compare() {
    let e = env();
    let sb = Sandbox::new();
    let cfg = local_config(
        &sb,
        &e,
        "real-sweep",
        "  type: concurrent\n  requests: {source: prompts.jsonl, count: 12}\n  parameters: {max_tokens: 64, ignore_eos: true}\n  sweep: {concurrency: [1, 4]}",
    );
    run_ok(&sb, &e, &["run", cfg.to_str().expect("path")]);
    assert_no_leftovers(&e);
    let results = sb.results_json();
    assert_eq!(results.len(), 2, "one result per sweep value");
    for r in &results {
        check_result(r, 64);
        check_local(&sb, r);
    }
    let peak = |r: &Value| f64_at(r, "/summary/gpu_summary/active_requests_peak");
    let c4 = result_named(&results, "real-sweep-c4");
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
    let e = env();
    let sb = Sandbox::new();
    let cfg = local_config(
        &sb,
        &e,
        "real-batch",
        "  type: batch\n  batch_size: 4\n  requests: {source: prompts.jsonl, count: 8}\n  parameters: {max_tokens: 48, ignore_eos: true}",
    );
    run_ok(&sb, &e, &["run", cfg.to_str().expect("path")]);
    assert_no_leftovers(&e);
    let results = sb.results_json();
    assert_eq!(results.len(), 1);
    check_result(&results[0], 48);
    check_local(&sb, &results[0]);
}

#[test]
#[ignore = "needs the real vLLM: run .ci/real-vllm.sh"]
fn local_multi_turn_hits_the_prefix_cache() {
    let e = env();
    let sb = Sandbox::new();
    // ~300 tokens shared by every conversation, then each turn resends the whole history:
    // both must be served from vLLM's prefix cache.
    let words = "the quick brown fox jumps over lazy dog benchmark token stream server model";
    let prefix = vec![words; 25].join(" ");
    let cfg = local_config(
        &sb,
        &e,
        "real-multi-turn",
        &format!(
            "  type: multi_turn\n  concurrency: 2\n  requests: {{source: prompts.jsonl, count: 3}}\n  parameters: {{max_tokens: 32, ignore_eos: true}}\n  conversation:\n    turns: 3\n    system_prompt: 'You are a helpful model.'\n    user_messages: ['tell me more about the cat', 'and the dog']\n    shared_prefix: '{prefix}'"
        ),
    );
    run_ok(&sb, &e, &["run", cfg.to_str().expect("path")]);
    assert_no_leftovers(&e);
    let results = sb.results_json();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    check_result(r, 32);
    check_local(&sb, r);
    assert_eq!(r["requests"].as_array().map(Vec::len), Some(9));
    let hit = f64_at(r, "/summary/gpu_summary/prefix_cache_hit_rate");
    assert!(hit > 0.0, "no prefix-cache hits on a multi-turn run");
    // Later turns carry the earlier ones: their prompts are longer.
    let prompt = |turn: u64| {
        r["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|q| q["turn_index"] == turn && q["conversation_index"] == 0)
            .filter_map(|q| q["prompt_tokens"].as_u64())
            .next()
            .unwrap_or(0)
    };
    assert!(prompt(2) > prompt(1) && prompt(1) > prompt(0));
}

#[test]
#[ignore = "needs the real vLLM: run .ci/real-vllm.sh"]
fn local_server_that_fails_to_start_is_reported_at_once() {
    let e = env();
    let sb = Sandbox::new();
    let cfg = local_config(
        &sb,
        &e,
        "real-bad-flag",
        "  type: single\n  requests: {source: prompts.jsonl, count: 1}\n  parameters: {max_tokens: 4}",
    );
    let text = std::fs::read_to_string(&cfg).expect("config");
    std::fs::write(&cfg, text.replace("--enforce-eager", "--no-such-flag")).expect("write");
    let started = Instant::now();
    let out = sb
        .cmd()
        .env("REAL_VLLM_MARK", &e.mark)
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
struct ManualServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl ManualServer {
    fn start(e: &Env, dir: &Path) -> Self {
        use std::os::unix::process::CommandExt;
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = dir.join("manual-vllm.log");
        let file = std::fs::File::create(&log).expect("log");
        let child = Command::new(&e.vllm)
            .arg("serve")
            .arg(&e.model)
            .args(["--served-model-name", SERVED, "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--max-model-len", "1024", "--dtype", "bfloat16"])
            .args(["--max-num-seqs", "16", "--enforce-eager"])
            .envs(server_env(e))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .process_group(0)
            .spawn()
            .expect("start vllm");
        let mut server = Self { child, port, log };
        server.wait_healthy(Duration::from_secs(400));
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Poll GET /health (a bounded wait for an external process, not a timing assumption).
    fn wait_healthy(&mut self, limit: Duration) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("vllm exited ({status}) while starting:\n{log}");
            }
            if http_status(self.port, "/health") == Some(200) {
                eprintln!(
                    "  manual vLLM healthy after {:.0} s",
                    start.elapsed().as_secs_f64()
                );
                return;
            }
            assert!(start.elapsed() < limit, "vllm not healthy after {limit:?}");
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

impl Drop for ManualServer {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: signals to the process group this test created.
        unsafe { libc::killpg(pgid, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        unsafe { libc::killpg(pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// The status code of a plain HTTP/1.0 GET, or None when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
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
    let e = env();
    let sb = Sandbox::new();
    // The tokenizer is the model folder's own tokenizer.json (model.name is that folder).
    let cfg = local_config(
        &sb,
        &e,
        "real-synthetic",
        "  type: concurrent\n  concurrency: 4\n  api: completions\n  requests:\n    count: 24\n    synthetic:\n      input_tokens: {dist: normal, mean: 200, std: 50, min: 50, max: 400}\n      output_tokens: 32\n      seed: 7",
    );
    run_ok(&sb, &e, &["run", cfg.to_str().expect("path")]);
    assert_no_leftovers(&e);
    let results = sb.results_json();
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
    let e = env();
    let sb = Sandbox::new();
    let trace =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/traces/mooncake-small.jsonl");
    // block_size 64: the longest prompt (10 blocks) plus its output fits the 1024 context.
    let cfg = local_config(
        &sb,
        &e,
        "real-trace",
        &format!(
            "  type: trace\n  api: completions\n  trace: {{file: '{}', format: mooncake, time_scale: 0.5, block_size: 64}}",
            trace.display()
        ),
    );
    run_ok(&sb, &e, &["run", cfg.to_str().expect("path")]);
    assert_no_leftovers(&e);
    let results = sb.results_json();
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
    let e = env();
    let sb = Sandbox::new();
    let cfg = local_config_with_args(
        &sb,
        &e,
        "real-secured",
        "--api-key, ",
        "  type: concurrent\n  concurrency: 2\n  requests: {source: prompts.jsonl, count: 6}\n  \
         parameters: {max_tokens: 32, ignore_eos: true, seed: 5, top_p: 0.9, top_k: 20, \
         min_tokens: 8, presence_penalty: 0.1, frequency_penalty: 0.1, \
         extra_body: {repetition_penalty: 1.05}}\n  headers: {X-Bench: real}\n  timeout_s: 300",
    );
    let stdout = run_ok(&sb, &e, &["run", cfg.to_str().expect("path")]);
    assert_no_leftovers(&e);
    let results = sb.results_json();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    check_result(r, 32);
    check_local(&sb, r);
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
