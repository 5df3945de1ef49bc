//! Issue 11 item 4: the run id printed, the result file's id and name, the journal's id and
//! `list` agree — also when ids collide (two runs in the same second, repeated sweep values)
//! and after `--resume` (a resumed run keeps its id).
#![cfg(unix)]

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::process::killed_mid_run;
use support::sim::SimYaml;
use support::Sandbox;

/// The hook that fixes the time run ids are made from: both runs start "in the same second".
const ID_TIME: (&str, &str) = ("LLM_INF_BENCH_ID_TIME", "20261202-010203");

/// `file`: a run of `count` requests; `sweep`: the body of a sweep (empty: none).
fn config(sb: &Sandbox, file: &str, count: usize, sweep: &str) -> std::path::PathBuf {
    SimYaml::seeded_concurrent("ids", "2.0")
        .workload("type: concurrent, concurrency: 2")
        .sweep(sweep)
        .count(count)
        .write(sb, file)
}

/// `  Run id <id>` from the progress output: the run's (and its journal's) id.
fn printed_run_id(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Run id "))
        .unwrap_or_else(|| panic!("no run id line in\n{stderr}"))
        .to_string()
}

/// The ids of the result panels on stdout (`<id>  (<status>)`).
fn panel_ids(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.ends_with("(completed)") || l.ends_with("(partial)"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn result_id(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["run_id"].as_str().unwrap().to_string()
}

fn list(sb: &Sandbox) -> String {
    sb.stdout_of(&["list", "--dir", "results"])
}

fn run_in(sb: &Sandbox, args: &[&str]) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("llm-inf-bench"))
        .args(args)
        .env("LLM_INF_BENCH_HOME", sb.home())
        .env("NO_COLOR", "1")
        .env(ID_TIME.0, ID_TIME.1)
        .current_dir(sb.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn two_runs_started_in_the_same_second_keep_one_id_each_everywhere() {
    let sb = Sandbox::new();
    config(&sb, "ids.yaml", 20, "");
    let a = run_in(&sb, &["run", "ids.yaml"]);
    let b = run_in(&sb, &["run", "ids.yaml"]);
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let listed = list(&sb);
    let mut ids = Vec::new();
    for out in &outputs {
        let (stdout, stderr) = text(out);
        assert!(out.status.success(), "{stderr}");
        let id = printed_run_id(&stderr);
        assert!(id.starts_with("ids-20261202-010203"), "{id}");
        assert_eq!(panel_ids(&stdout), std::slice::from_ref(&id), "{stdout}");
        let file = sb.results().join(format!("{id}.json"));
        assert_eq!(result_id(&file), id);
        assert!(listed.contains(&id), "{id} not in\n{listed}");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "each run has its own id");
    assert_eq!(sb.result_files().len(), 2);
}

#[test]
fn a_second_run_in_the_same_second_does_not_reuse_a_finished_runs_id() {
    let sb = Sandbox::new();
    config(&sb, "ids.yaml", 4, "");
    let first = text(
        &run_in(&sb, &["run", "ids.yaml"])
            .wait_with_output()
            .unwrap(),
    );
    let second = text(
        &run_in(&sb, &["run", "ids.yaml"])
            .wait_with_output()
            .unwrap(),
    );
    let (a, b) = (printed_run_id(&first.1), printed_run_id(&second.1));
    assert_ne!(a, b);
    assert_eq!(panel_ids(&second.0), std::slice::from_ref(&b));
    assert_eq!(result_id(&sb.results().join(format!("{b}.json"))), b);
}

#[test]
fn a_sweep_with_repeated_values_prints_the_ids_it_writes() {
    let sb = Sandbox::new();
    config(&sb, "sweep.yaml", 4, "concurrency: [2, 2]");
    // Twice in the same second: the second sweep's names collide with the first's.
    for _ in 0..2 {
        let out = run_in(&sb, &["run", "sweep.yaml"])
            .wait_with_output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        let run_id = printed_run_id(&stderr);
        let panels = panel_ids(&stdout);
        assert_eq!(panels.len(), 2, "{stdout}");
        assert_ne!(panels[0], panels[1]);
        let listed = list(&sb);
        for id in &panels {
            let path = sb.results().join(format!("{id}.json"));
            assert_eq!(result_id(&path), *id, "file name and id agree");
            assert!(listed.contains(id.as_str()), "{id} not in\n{listed}");
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(
                v["metadata"]["sweep"]["id"],
                run_id.as_str(),
                "the run's id"
            );
        }
    }
    assert_eq!(sb.result_files().len(), 4);
}

#[test]
fn a_resumed_run_keeps_its_id() {
    let sb = Sandbox::new();
    config(&sb, "crash.yaml", 300, "");
    let id = killed_mid_run(&sb, "crash.yaml", "60/300");
    let journal = sb.results().join(format!("{id}.journal.jsonl"));
    assert!(journal.exists(), "the journal is named by the printed id");
    assert!(list(&sb).contains(&format!("--resume {id}")));

    let out = sb
        .cmd()
        .args(["run", "crash.yaml", "--resume", &id])
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(printed_run_id(&stderr), id);
    assert_eq!(panel_ids(&stdout), std::slice::from_ref(&id));
    let files = sb.result_files();
    assert_eq!(files, [sb.results().join(format!("{id}.json"))]);
    assert_eq!(result_id(&files[0]), id);
    assert!(list(&sb).contains(&id));
}
