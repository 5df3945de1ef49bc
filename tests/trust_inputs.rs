//! Text and files from outside cannot take over the terminal or the memory: control characters
//! in model ids, error bodies and result files never reach the output, and input files are
//! bounded (a device, a folder or a file over the cap is refused at once, also in --dry-run).

mod support;

use std::path::Path;
use std::time::Duration;

use support::sandbox::ran;
use support::stream_server::{Reply, Schedule, Script, StreamServer};
use support::{Sandbox, PROMPTS};

/// Sets the window title, clears the screen, rings the bell.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{7}";
/// A bound for a process that would otherwise hang; no test asserts how fast anything is.
const GUARD: Duration = Duration::from_secs(60);

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "control characters in {what}: {text:?}"
    );
}

fn config(sb: &Sandbox, source: &str, extra: &str) -> std::path::PathBuf {
    sb.write("prompts.jsonl", PROMPTS);
    sb.write(
        "exp.yaml",
        &format!(
            "name: trust\n{extra}model: {{name: test-model}}\nframework: vllm\n\
             infrastructure: {{provider: simulated}}\n\
             workload:\n  type: concurrent\n  concurrency: 2\n  \
             requests: {{source: {source}, count: 4}}\n  parameters: {{max_tokens: 4}}\n\
             metrics: {{sample_interval_ms: 50, output_dir: results}}\n"
        ),
    )
}

#[test]
fn model_ids_from_the_server_reach_the_terminal_without_control_characters() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut script = Script::streaming(Schedule::instant(2));
    script.models = vec![format!("evil{HOSTILE}-model")];
    let (url, _server) = rt.block_on(StreamServer::start(script));
    let sb = Sandbox::new();
    let cfg = config(&sb, "prompts.jsonl", "");
    let out = ran(sb
        .cmd()
        .args(["run", "--server-url", &url])
        .arg(&cfg)
        .timeout(GUARD));
    let stderr = out.stderr.as_str();
    assert_eq!(out.code, Some(1), "{stderr}");
    assert!(stderr.contains("evil]0;pwned-model") || stderr.contains("evil-model"));
    assert_clean("stderr", stderr);
    assert_clean("stdout", &out.stdout);
}

#[test]
fn error_bodies_are_stored_and_shown_without_control_characters() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let script = Script::streaming(Schedule::instant(2)).with_override(
        "capital",
        Reply::Status {
            code: 500,
            body: format!("boom{HOSTILE}"),
        },
    );
    let (url, _server) = rt.block_on(StreamServer::start(script));
    let sb = Sandbox::new();
    let cfg = config(&sb, "prompts.jsonl", "");
    let out = ran(sb
        .cmd()
        .args(["run", "--server-url", &url])
        .arg(&cfg)
        .timeout(GUARD));
    assert_clean("run stderr", &out.stderr);
    assert_clean("run stdout", &out.stdout);
    let result = &sb.results_json()[0];
    let errors: Vec<&str> = result["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["error"].as_str())
        .collect();
    assert!(errors.iter().any(|e| e.contains("boom")), "{errors:?}");
    for e in errors {
        assert_clean("a stored error", e);
    }
}

#[test]
fn run_ids_and_names_from_result_files_are_printed_without_control_characters() {
    let sb = Sandbox::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/python-results/ref-single-20261127-170853.json");
    let mut result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    result["run_id"] = format!("single{HOSTILE}").into();
    result["metadata"]["experiment_name"] = format!("name{HOSTILE}").into();
    result["experiment"]["model"]["name"] = format!("model{HOSTILE}").into();
    sb.write("results/single.json", &result.to_string());
    for args in [
        vec!["list", "--dir", "results"],
        vec!["show", "single", "--dir", "results"],
        vec!["compare", "single", "single", "--dir", "results"],
    ] {
        let out = ran(sb.cmd().args(&args).timeout(GUARD));
        let stdout = out.stdout.as_str();
        assert!(out.success(), "{args:?}: {stdout}");
        assert_clean(&format!("{args:?}"), stdout);
        assert_clean(&format!("{args:?}"), &out.stderr);
    }
}

fn dry_run_fails_with(sb: &Sandbox, cfg: &Path, fragments: &[&str]) {
    let out = ran(sb.cmd().args(["run", "--dry-run"]).arg(cfg).timeout(GUARD));
    let stderr = out.stderr.as_str();
    assert_eq!(out.code, Some(1), "{stderr}");
    for f in fragments {
        assert!(stderr.contains(f), "{f:?} not in: {stderr}");
    }
}

#[cfg(unix)]
#[test]
fn a_device_as_prompt_file_or_extends_is_refused_at_once_in_dry_run() {
    let sb = Sandbox::new();
    let cfg = config(&sb, "/dev/zero", "");
    dry_run_fails_with(&sb, &cfg, &["/dev/zero", "not a regular file"]);
    let cfg = config(&sb, "prompts.jsonl", "extends: /dev/zero\n");
    dry_run_fails_with(&sb, &cfg, &["/dev/zero", "not a regular file"]);
    // The config itself.
    let out = ran(sb
        .cmd()
        .args(["run", "--dry-run", "/dev/zero"])
        .timeout(GUARD));
    let stderr = out.stderr.as_str();
    assert_eq!(out.code, Some(1), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
}

#[test]
fn a_folder_or_a_file_over_the_cap_is_refused_naming_the_cap() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path().join("a-folder")).unwrap();
    let cfg = config(&sb, "a-folder", "");
    dry_run_fails_with(&sb, &cfg, &["a-folder", "not a regular file"]);
    // Sparse: takes no disk space.
    let big = std::fs::File::create(sb.path().join("big.jsonl")).unwrap();
    big.set_len(llm_inf_bench::input_file::MAX_INPUT_BYTES + 1)
        .unwrap();
    let cfg = config(&sb, "big.jsonl", "");
    dry_run_fails_with(&sb, &cfg, &["big.jsonl", "1 GiB"]);
}
