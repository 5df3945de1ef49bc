//! `provider: local` without vLLM: a shell script stands in for `vllm serve` and runs the
//! built-in simulator on the port it is given. Proves the launch, the served-name handling,
//! the log file, early failure, the startup timeout, Ctrl-C, and that teardown leaves no
//! process of the server's group behind (including one that ignores SIGTERM).
//! The real vLLM is exercised by `tests/real_vllm.rs`.
#![cfg(target_os = "linux")]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use llm_inf_bench::events::EventSink;
use llm_inf_bench::providers::local::{group_alive, LocalProvider};
use llm_inf_bench::providers::Provider;
use support::{Sandbox, PROMPTS};
use tokio_util::sync::CancellationToken;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("llm-inf-bench")
}

/// Stands in for `vllm serve MODEL --host H --port P ... [--served-model-name NAME]`: prints
/// its arguments, records its pid (and a helper's, which shares its process group), then
/// becomes the simulator serving NAME on P.
const FAKE_VLLM: &str = r#"#!/bin/sh
port=""; name=""; prev=""
for a in "$@"; do
  case "$prev" in --port) port=$a;; --served-model-name) name=$a;; esac
  prev=$a
done
echo "fake server args: $*"
if [ -n "$HELPER_PIDFILE" ]; then
  if [ -n "$HELPER_IGNORES_TERM" ]; then trap '' TERM; fi
  sleep 600 &
  echo $! > "$HELPER_PIDFILE"
  trap - TERM
fi
echo $$ > "$FAKE_PIDFILE"
exec "$SIM_BIN" simulate --port "$port" --model "${name:-sim-model}"
"#;

fn script(sb: &Sandbox, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = sb.write(name, text);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// A local-provider config running `exe`; `extra` is appended to `infrastructure.local`.
fn config(sb: &Sandbox, exe: &Path, extra: &str, timeout_s: u64) -> PathBuf {
    sb.write("prompts.jsonl", PROMPTS);
    sb.write(
        "local.yaml",
        &format!(
            r#"name: local-fake
model: {{name: /models/tiny-dir}}
framework: vllm
infrastructure:
  provider: local
  local:
    executable: {exe}
    startup_timeout_s: {timeout_s}
{extra}
workload:
  type: concurrent
  concurrency: 2
  requests: {{source: prompts.jsonl, count: 6}}
  parameters: {{max_tokens: 8, ignore_eos: true}}
metrics: {{sample_interval_ms: 50, output_dir: results}}
"#,
            exe = exe.display()
        ),
    )
}

/// Whether `pid` is a live process (a zombie counts as gone).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                .unwrap_or("Z");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .expect("pid")
}

/// Wait (bounded) for the kernel to finish killing `pid`: a signal is delivered
/// asynchronously, so this polls the condition rather than sleeping a fixed time.
fn gone_within(pid: i32, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

#[test]
fn local_run_serves_the_renamed_model_logs_and_stops_the_whole_group() {
    let sb = Sandbox::new();
    let exe = script(&sb, "fake-vllm", FAKE_VLLM);
    let pidfile = sb.path().join("server.pid");
    let helper = sb.path().join("helper.pid");
    let extra = format!(
        "    args: [--served-model-name, tiny-fake]\n    env: {{SIM_BIN: {}, FAKE_PIDFILE: {}, HELPER_PIDFILE: {}}}",
        bin().display(),
        pidfile.display(),
        helper.display()
    );
    let cfg = config(&sb, &exe, &extra, 60);
    let out = sb.cmd().arg("run").arg(&cfg).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Local server stopped"), "{stderr}");

    let results = sb.results_json();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["metadata"]["provider"], "local");
    assert_eq!(r["metadata"]["cost_per_hr"], 0.0);
    for q in r["requests"].as_array().expect("requests") {
        assert!(q["error"].is_null(), "{q}");
        assert_eq!(q["completion_tokens"], 8, "{q}");
    }
    // The log holds the exact command: the RunPod template on 127.0.0.1, then local.args.
    let log = PathBuf::from(r["metadata"]["server_log"].as_str().expect("server_log"));
    let log = if log.is_absolute() {
        log
    } else {
        sb.path().join(log)
    };
    assert!(log.starts_with(sb.results()), "{}", log.display());
    let text = std::fs::read_to_string(&log).expect("server log");
    assert!(
        text.contains("fake server args: serve /models/tiny-dir --host 127.0.0.1 --port "),
        "{text}"
    );
    assert!(text.contains("--served-model-name tiny-fake"), "{text}");

    let (server, helper) = (read_pid(&pidfile), read_pid(&helper));
    assert!(!alive(server), "server {server} survived the run");
    assert!(
        !alive(helper),
        "helper {helper} of the server's group survived"
    );
    assert!(!group_alive(server));
}

/// Every file under `dir`, recursively, as text.
fn texts_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(texts_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

#[test]
fn secrets_in_local_args_and_env_reach_no_file_log_or_output() {
    const ARG_SECRET: &str = "sk-ARGSECRET-1234567890";
    const ENV_SECRET: &str = "hf_ENVSECRET_1234567890";
    let sb = Sandbox::new();
    // The fake server does not print its arguments: what it prints itself is its business.
    let exe = script(
        &sb,
        "quiet-vllm",
        &FAKE_VLLM.replace("echo \"fake server args: $*\"\n", ""),
    );
    let extra = format!(
        "    args: [--served-model-name, tiny-fake, --api-key, {ARG_SECRET}, --hf-token={ARG_SECRET}]\n    env: {{SIM_BIN: {}, FAKE_PIDFILE: {}, HF_TOKEN: {ENV_SECRET}}}",
        bin().display(),
        sb.path().join("server.pid").display(),
    );
    let cfg = config(&sb, &exe, &extra, 60);

    let dry = sb
        .cmd()
        .args(["run", "--dry-run"])
        .arg(&cfg)
        .output()
        .unwrap();
    let dry_out = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success(), "{dry_out}");
    assert!(dry_out.contains("Executable: "), "{dry_out}");
    assert!(
        dry_out.contains("--api-key *** --hf-token=***"),
        "{dry_out}"
    );

    let out = sb.cmd().arg("run").arg(&cfg).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let mut texts = vec![
        (PathBuf::from("dry-run stdout"), dry_out.to_string()),
        (
            PathBuf::from("stdout"),
            String::from_utf8_lossy(&out.stdout).into(),
        ),
        (PathBuf::from("stderr"), stderr.to_string()),
    ];
    let files = texts_under(&sb.results());
    assert!(files.len() >= 2, "a result and the server log: {files:?}");
    texts.extend(files);
    for (name, text) in &texts {
        for secret in ["ARGSECRET", "ENVSECRET"] {
            assert!(
                !text.contains(secret),
                "{secret} in {}:\n{text}",
                name.display()
            );
        }
    }
    // Redacted, not dropped: the result still says a key was passed.
    let result = &sb.results_json()[0];
    let local = &result["experiment"]["infrastructure"]["local"];
    assert_eq!(local["env"]["HF_TOKEN"], "***", "{local}");
    assert_eq!(local["args"][3], "***", "{local}");
}

#[test]
fn a_server_that_exits_fails_the_run_at_once_with_its_log() {
    let sb = Sandbox::new();
    let exe = script(
        &sb,
        "dying-vllm",
        "#!/bin/sh\necho 'loading...'\necho 'vllm: error: unrecognized arguments: --bogus' >&2\nexit 2\n",
    );
    // A long timeout: the test would hang if the exit were not noticed.
    let cfg = config(&sb, &exe, "", 600);
    let out = sb.cmd().arg("run").arg(&cfg).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("exited (exit status: 2)"), "{stderr}");
    assert!(stderr.contains("before it became healthy"), "{stderr}");
    assert!(
        stderr.contains("unrecognized arguments: --bogus"),
        "{stderr}"
    );
    assert!(stderr.contains("loading..."), "{stderr}");
    assert!(sb.result_files().is_empty());
}

#[test]
fn startup_timeout_fails_and_stops_the_server() {
    let sb = Sandbox::new();
    let pidfile = sb.path().join("server.pid");
    let exe = script(
        &sb,
        "silent-vllm",
        &format!(
            "#!/bin/sh\necho $$ > {}\necho 'still compiling'\nexec sleep 600\n",
            pidfile.display()
        ),
    );
    let cfg = config(&sb, &exe, "", 1);
    let out = sb.cmd().arg("run").arg(&cfg).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not start within 1 s"), "{stderr}");
    assert!(stderr.contains("still compiling"), "{stderr}");
    let pid = read_pid(&pidfile);
    assert!(!alive(pid), "the server {pid} survived a failed start");
}

#[test]
fn a_missing_executable_says_what_to_do() {
    let sb = Sandbox::new();
    let cfg = config(&sb, Path::new("/nonexistent/bin/vllm"), "", 5);
    let out = sb.cmd().arg("run").arg(&cfg).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot start `/nonexistent/bin/vllm`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("infrastructure.local.executable"),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_while_the_server_loads_stops_it() {
    let sb = Sandbox::new();
    let exe = script(
        &sb,
        "slow-vllm",
        "#!/bin/sh\necho 'loading weights'\nexec sleep 600\n",
    );
    let cfg = config(&sb, &exe, "", 600);
    let mut child = Command::new(bin())
        .arg("run")
        .arg(&cfg)
        .env("LLM_INF_BENCH_HOME", sb.home())
        .env("NO_COLOR", "1")
        .current_dir(sb.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    // "Started `...` (pid N); log: ..." — N is also the server's process group.
    let started = lines
        .by_ref()
        .find(|l| l.contains("Started `"))
        .expect("start line");
    let pid: i32 = started
        .split("(pid ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {started}"));
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let rest: Vec<String> = lines.collect();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("Local server stopped")),
        "{rest:?}"
    );
    assert!(
        !group_alive(pid),
        "the server's group {pid} survived Ctrl-C"
    );
}

fn load(cfg: &Path) -> llm_inf_bench::config::Experiment {
    let prices = llm_inf_bench::providers::runpod::pricing::PriceTable::builtin();
    llm_inf_bench::config::load_with(cfg, &prices).expect("config")
}

/// Provision through the library with a helper that ignores SIGTERM in the server's group.
async fn provision_stubborn(sb: &Sandbox) -> (LocalProvider, i32, i32) {
    let exe = script(sb, "fake-vllm", FAKE_VLLM);
    let pidfile = sb.path().join("server.pid");
    let helper = sb.path().join("helper.pid");
    let extra = format!(
        "    env: {{SIM_BIN: {}, FAKE_PIDFILE: {}, HELPER_PIDFILE: {}, HELPER_IGNORES_TERM: '1'}}",
        bin().display(),
        pidfile.display(),
        helper.display()
    );
    let exp = load(&config(sb, &exe, &extra, 60));
    let mut provider = LocalProvider::new(sb.results().join("server.log"), false)
        .with_grace(Duration::from_millis(300));
    let handle = provider
        .provision(&exp, &EventSink::discard(), &CancellationToken::new())
        .await
        .expect("provision");
    assert!(handle.base_url.starts_with("http://127.0.0.1:"));
    assert_eq!(handle.cost_per_hr, Some(0.0));
    let (server, helper) = (read_pid(&pidfile), read_pid(&helper));
    assert_eq!(provider.process_group(), Some(server));
    assert!(alive(helper));
    (provider, server, helper)
}

#[tokio::test]
async fn teardown_kills_a_worker_that_ignores_sigterm() {
    let sb = Sandbox::new();
    let (mut provider, server, helper) = provision_stubborn(&sb).await;
    provider
        .teardown(&EventSink::discard())
        .await
        .expect("teardown");
    assert!(!alive(server));
    assert!(
        !alive(helper),
        "SIGKILL after the grace period must reach it"
    );
    assert!(!group_alive(server));
    assert_eq!(provider.process_group(), None);
    // Idempotent.
    provider
        .teardown(&EventSink::discard())
        .await
        .expect("second teardown");
}

#[tokio::test]
async fn dropping_the_provider_kills_the_group() {
    let sb = Sandbox::new();
    let (provider, server, helper) = provision_stubborn(&sb).await;
    drop(provider);
    assert!(
        gone_within(server, Duration::from_secs(10)),
        "server {server} survived the drop"
    );
    assert!(
        gone_within(helper, Duration::from_secs(10)),
        "helper {helper} survived the drop"
    );
}
