//! Sweeps you can read and handy ids, through the real binary on the simulator: the sweep
//! table after a run and in `show <sweep id|name>`, `latest` / `latest~N`, `compare` of N runs
//! and of two sweep names, the plan warnings of `--dry-run`, `--model`, run names, and the
//! README's `--server-url` example run as written.
#![cfg(unix)]

mod support;

use std::path::Path;

use support::process::{signal, spawn, wait_for_line};
use support::sim::SimYaml;
use support::table::rows;
use support::{Sandbox, PROMPTS};

fn sweep_config(sb: &Sandbox, name: &str) -> String {
    let file = format!("{name}.yaml");
    SimYaml::seeded_concurrent(name, "1.0")
        .sweep("concurrency: [1, 2, 4]")
        .count(12)
        .write(sb, &file);
    file
}

fn sweep_id(sb: &Sandbox) -> String {
    let r = &sb.results_json()[0];
    r["metadata"]["sweep"]["id"]
        .as_str()
        .expect("sweep id")
        .to_string()
}

#[test]
fn a_sweep_prints_one_table_and_show_finds_it_by_id_name_and_latest() {
    let sb = Sandbox::new();
    let cfg = sweep_config(&sb, "tbl");
    let run = sb.stdout_of(&["run", &cfg]);
    let id = sweep_id(&sb);
    assert!(run.contains(&format!("Sweep {id}\n")), "{run}");
    let table = &run[run.find(&format!("Sweep {id}")).unwrap()..];
    let t = rows(table);
    assert_eq!(t[0][0], "concurrency");
    assert_eq!(&t[0][1..4], ["req/s", "out tok/s", "TTFT p50"]);
    assert_eq!(t[0].last().unwrap(), "errors");
    let swept: Vec<&str> = t[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(swept, ["1", "2", "4"]);
    assert!(t[1..].iter().all(|r| r.last().unwrap() == "0"), "{table}");

    // The same table from the files: by sweep id and by sweep name.
    for reference in [id.as_str(), "tbl"] {
        let shown = sb.stdout_of(&["show", reference]);
        assert_eq!(rows(&shown), t, "show {reference}:\n{shown}");
    }
    // latest is the last iteration, latest~2 the first.
    let latest = sb.stdout_of(&["show", "latest"]);
    assert!(latest.starts_with("tbl-c4-"), "{latest}");
    let first = sb.stdout_of(&["show", "latest~2"]);
    assert!(first.starts_with("tbl-c1-"), "{first}");
    let out = sb.cmd().args(["show", "latest~3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only 3 runs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // export and report take latest too.
    let csv = sb.stdout_of(&["export", "latest", "--format", "csv"]);
    assert_eq!(csv.lines().count(), 13, "header + 12 requests");
    sb.stdout_of(&["report", "latest~1", "latest", "-o", "r.html"]);
    let html = std::fs::read_to_string(sb.path().join("r.html")).expect("report");
    assert!(html.contains("tbl-c2-") && html.contains("tbl-c4-"));

    // compare of three runs: a column each, deltas against the first, noise marks.
    let cmp = sb.stdout_of(&["compare", "latest~2", "latest~1", "latest"]);
    let c = rows(&cmp);
    assert_eq!(c[0].len(), 6, "{cmp}");
    assert!(
        c[0][1].starts_with("A: tbl-c1-") && c[0][4].starts_with("C: tbl-c4-"),
        "{cmp}"
    );
    let ttft = c
        .iter()
        .find(|r| r[0] == "TTFT p50 (ms)")
        .expect("TTFT row");
    assert!(
        ttft[3].ends_with(" *") || ttft[3].ends_with(" ~"),
        "significance mark on the delta: {ttft:?}"
    );
    assert!(cmp.contains("Deltas against A"), "{cmp}");
}

#[test]
fn compare_of_two_sweep_names_matches_iterations_by_swept_value() {
    let sb = Sandbox::new();
    let cfg = sweep_config(&sb, "base");
    sb.stdout_of(&["run", &cfg, "--name", "before"]);
    sb.stdout_of(&["run", &cfg, "--name", "after"]);
    let cmp = sb.stdout_of(&["compare", "before", "after"]);
    for point in ["concurrency=1", "concurrency=2", "concurrency=4"] {
        assert!(cmp.contains(point), "{point} missing:\n{cmp}");
    }
    assert_eq!(cmp.matches("A: before-").count(), 3, "{cmp}");
    assert_eq!(cmp.matches("B: after-").count(), 3, "{cmp}");
}

/// The example sweep runs long enough per level: its plan has no warnings.
#[test]
fn the_example_sweep_plans_a_steady_state_at_every_level() {
    let sb = Sandbox::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = repo.join("experiments/examples/simulated-concurrency-sweep.yaml");
    let out = sb
        .cmd()
        .args(["run", &example.to_string_lossy(), "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Dry run"), "{text}");
    assert!(!text.contains("warning:"), "{text}");
}

#[test]
fn dry_run_warns_about_a_plan_that_will_not_measure_well() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let cfg = sb.write(
        "warn.yaml",
        r#"name: warn
model: {name: sim/tiny}
framework: vllm
infrastructure: {provider: simulated}
workload:
  type: concurrent
  requests: {source: prompts.jsonl, count: 20}
  parameters: {max_tokens: 8}
  sweep: {concurrency: [4, 64]}
metrics: {output_dir: results}
"#,
    );
    let cfg = cfg.to_string_lossy().to_string();
    let out = sb.cmd().args(["run", &cfg, "--dry-run"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "warning: workload.concurrency: [concurrency=64] 64 is more than the 20 requests"
        ),
        "{text}"
    );
    assert!(text.contains("no steady state"), "{text}");
    // ulimit -n below the concurrency (set for the child only).
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 32 && exec {} run {cfg} --dry-run",
            assert_cmd::cargo::cargo_bin("llm-inf-bench").display()
        ))
        .env("LLM_INF_BENCH_HOME", sb.home())
        .env("NO_COLOR", "1")
        .current_dir(sb.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("64 requests in flight need 64 connections, more than the open-file limit 32 (`ulimit -n`)"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A real run shows the same warnings on stderr before it starts.
    let out = sb.cmd().args(["run", &cfg]).output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let warned = err.find("64 is more than the 20 requests").expect(&err);
    assert!(warned < err.find("[1/4]").expect("phase 1"), "{err}");
}

#[test]
fn run_names_keep_unicode_and_refuse_a_leading_dash() {
    let sb = Sandbox::new();
    let cfg = sweep_config(&sb, "n");
    sb.stdout_of(&["run", &cfg, "--name", "qwen-日本語 ü"]);
    let files = sb.result_files();
    assert_eq!(files.len(), 3);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.starts_with("qwen-日本語-ü-c"), "{name}");
    }
    let out = sb
        .cmd()
        .args(["run", &cfg, "--name=-oops", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--name: '-oops' would make run ids that start with '-'"),
        "{err}"
    );
}

/// The README's "Against a server you already run" commands, exactly as written except the
/// port (0: a free one) and `--output-dir` (the sandbox, not the checkout).
#[test]
fn the_readme_server_url_example_runs_as_written_against_simulate() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).expect("README");
    let section = readme
        .split("# Against a server you already run")
        .nth(1)
        .expect("the README's --server-url example");
    let commands: Vec<&str> = section
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("llm-inf-bench "))
        .collect();
    let simulate = commands
        .iter()
        .find(|c| c.contains(" simulate "))
        .expect("a simulate command");
    let runs: Vec<&&str> = commands.iter().filter(|c| c.contains(" run ")).collect();
    assert!(runs.len() >= 2, "{commands:?}");

    let sb = Sandbox::new();
    let words = |c: &str| -> Vec<String> {
        c.trim_end_matches('&')
            .split_whitespace()
            .skip(1)
            .map(String::from)
            .collect()
    };
    let sim_args: Vec<String> = words(simulate)
        .into_iter()
        .map(|w| if w == "8000" { "0".to_string() } else { w })
        .collect();
    let sim_args: Vec<&str> = sim_args.iter().map(String::as_str).collect();
    let (mut server, rx) = spawn(&sb, &sim_args);
    let line = wait_for_line(&rx, |l| l.contains("listening on"));
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url")
        .trim_end_matches('/')
        .to_string();
    let out_dir = sb.results();
    for run in &runs {
        let mut args: Vec<String> = words(run)
            .into_iter()
            .map(|w| w.replace("http://localhost:8000", &url))
            .collect();
        args.extend(["--output-dir".into(), out_dir.display().to_string()]);
        let out = sb
            .cmd()
            .current_dir(repo)
            .args(&args)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let results = sb.results_json();
    assert_eq!(results.len(), runs.len());
    for r in &results {
        assert_eq!(r["status"], "completed", "{}", r["run_id"]);
        assert_eq!(r["summary"]["failed_requests"], 0);
    }
    signal(&server, libc::SIGINT);
    assert_eq!(server.wait().expect("wait").code(), Some(0));
}

#[test]
fn model_override_names_the_served_model() {
    let sb = Sandbox::new();
    let (mut server, url) = support::process::start_simulator(&sb, "4", "served-name");
    let cfg = sweep_config(&sb, "m");
    // Without the override the simulator answers 404 for sim/tiny; with it every request is ok.
    sb.stdout_of(&["run", &cfg, "--server-url", &url, "--model", "served-name"]);
    for r in sb.results_json() {
        assert_eq!(r["summary"]["failed_requests"], 0);
        assert_eq!(r["experiment"]["model"]["name"], "served-name");
    }
    signal(&server, libc::SIGINT);
    assert_eq!(server.wait().expect("wait").code(), Some(0));
}
