//! Shared by the real-engine suites (`tests/real_vllm.rs`, `tests/real_sglang.rs`): the
//! environment the CI scripts hand them, servers started by hand in a process group of their
//! own, the leftover-process check and the checks every real result passes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{f64_at, Sandbox};

/// The served name (`--served-model-name`), what requests must use.
pub const SERVED: &str = "tiny";

/// Short prompts made of the tiny tokenizer's words.
pub const PROMPTS: &str = r#"{"messages": [{"role": "user", "content": "hello world how are you"}]}
{"messages": [{"role": "user", "content": "write a story about the quick brown fox"}]}
{"messages": [{"role": "user", "content": "what is one two three four five"}]}
{"messages": [{"role": "user", "content": "please write about a cat in a tree by the river"}]}
"#;

/// A folder the CI script passes in `name`; panics naming the script when it is not set.
pub fn env_path(name: &str, script: &str) -> PathBuf {
    std::env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{name} is not set: run these tests through {script}"))
}

/// The tag put in every server's environment (`mark_var`), or one for this test process.
pub fn mark(mark_var: &str) -> String {
    std::env::var(mark_var).unwrap_or_else(|_| format!("test-{}", std::process::id()))
}

/// Asserts `model` holds a model (its `config.json`).
pub fn assert_model(model: &Path) {
    assert!(
        model.join("config.json").exists(),
        "{} is not a model",
        model.display()
    );
}

/// `KEY: 'value'` pairs for a YAML flow map (`infrastructure.local.env`).
pub fn yaml_env(env: &[(&'static str, String)]) -> String {
    let pairs: Vec<String> = env.iter().map(|(k, v)| format!("{k}: '{v}'")).collect();
    pairs.join(", ")
}

/// `<name>.yaml` holding `yaml`, beside the `prompts.jsonl` ([`PROMPTS`]) it may read.
pub fn write_config(sb: &Sandbox, name: &str, yaml: &str) -> PathBuf {
    sb.write("prompts.jsonl", PROMPTS);
    sb.write(&format!("{name}.yaml"), yaml)
}

/// A config for `--server-url` or the simulator (no server section of its own).
pub fn url_config(
    sb: &Sandbox,
    name: &str,
    model: &str,
    framework: &str,
    provider: &str,
    workload: &str,
) -> PathBuf {
    write_config(
        sb,
        name,
        &format!(
            "name: {name}\nmodel: {{name: {model}}}\nframework: {framework}\n\
             infrastructure: {{provider: {provider}}}\nworkload:\n{workload}\n\
             metrics: {{sample_interval_ms: 100, output_dir: results}}\n"
        ),
    )
}

/// A server started by a test (for `--server-url`), in its own process group, its output in
/// `log`; the group is stopped on drop.
pub struct ManualProcess {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
    what: &'static str,
    stopped: bool,
}

impl ManualProcess {
    /// Start `cmd` (it must listen on `port`, see `free_port`) and wait up to `limit` for
    /// `GET /health` to answer 200.
    pub fn start(
        mut cmd: Command,
        port: u16,
        log: PathBuf,
        what: &'static str,
        limit: Duration,
    ) -> Self {
        use std::os::unix::process::CommandExt;
        let file = std::fs::File::create(&log).expect("log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        let mut server = Self {
            child,
            port,
            log,
            what,
            stopped: false,
        };
        server.wait_healthy(limit);
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pgid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Poll GET /health (a bounded wait for an external process, not a timing assumption).
    fn wait_healthy(&mut self, limit: Duration) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("{} exited ({status}) while starting:\n{log}", self.what);
            }
            if http_get(self.port, "/health").is_some_and(|(code, _)| code == 200) {
                eprintln!(
                    "  manual {} healthy after {:.0} s",
                    self.what,
                    start.elapsed().as_secs_f64()
                );
                return;
            }
            assert!(
                start.elapsed() < limit,
                "{} not healthy after {limit:?}",
                self.what
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// SIGTERM to the group, up to 15 s for the server and its helpers to go, then SIGKILL.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let pgid = self.pgid();
        // SAFETY: signals to the process group this test created.
        unsafe { libc::killpg(pgid, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Helper processes (a scheduler, a detokenizer) may outlive the API server by a moment.
        while Instant::now() < end && group_alive(pgid) {
            std::thread::sleep(Duration::from_millis(100));
        }
        unsafe { libc::killpg(pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for ManualProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port free at the time of the call.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    unsafe { libc::killpg(pgid, 0) == 0 }
}

/// Status code and body of a plain HTTP/1.0 GET, or None when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// `pid`'s parent, from /proc.
fn parent_of(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1).map(String::from)
}

/// This process and its ancestors (cargo, when the suite passes the mark down).
fn own_lineage() -> Vec<String> {
    let mut ours = vec![std::process::id().to_string()];
    while let Some(parent) = ours.last().and_then(|p| parent_of(p)) {
        if parent == "0" || ours.contains(&parent) {
            break;
        }
        ours.push(parent);
    }
    ours
}

/// Processes still alive (not zombies) that carry `<mark_var>=<mark>`, other than this test
/// and its ancestors.
pub fn leftovers(mark_var: &str, mark: &str) -> Vec<String> {
    let needle = format!("{mark_var}={mark}");
    let ours = own_lineage();
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

/// The results whose run id starts with `prefix`.
pub fn results_named<'a>(results: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    results
        .iter()
        .filter(|r| {
            r["run_id"]
                .as_str()
                .is_some_and(|id| id.starts_with(prefix))
        })
        .collect()
}

/// Run the binary (with `env` added); prints how long it took; (exit code, stdout, stderr).
pub fn run_timed(
    sb: &Sandbox,
    env: &[(&str, &std::ffi::OsStr)],
    args: &[&str],
) -> (Option<i32>, String, String) {
    let started = Instant::now();
    let out = sb
        .cmd()
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run the binary");
    eprintln!(
        "  `{}` took {:.0} s",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What every real result shows: all requests succeeded with exactly `max_tokens` tokens
/// (`ignore_eos`), counted from the usage chunk, and server metrics were scraped. Returns the
/// run id and the requests for the suite's own checks.
pub fn check_requests(r: &Value, max_tokens: u64) -> (&str, &Vec<Value>) {
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
    assert!(f64_at(g, "/kv_cache_usage_peak") > 0.0, "{id}: {g}");
    (id, requests)
}

/// A figure of a result for the one-line summaries (NaN when missing).
pub fn figure(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

/// A multi-turn run on a real server: prefix-cache hits, and later turns carry the earlier
/// ones (their prompts are longer).
pub fn check_multi_turn(r: &Value) {
    let hit = f64_at(r, "/summary/gpu_summary/prefix_cache_hit_rate");
    assert!(hit > 0.0, "no prefix-cache hits on a multi-turn run");
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
