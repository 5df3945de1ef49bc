//! Issue 11 items 5 and 7: a result that cannot be written (a full disk, injected with the
//! storage and journal test hooks) still prints its summary, keeps the journal and says how
//! to finish the run; nothing measured is dropped silently; repeated identical warnings are
//! collapsed. One run is run or resumed by one process at a time (a lock beside the journal).
#![cfg(unix)]

mod support;

use std::process::Output;

use support::process::{killed_mid_run, spawn, wait_for_line, wait_for_run_id};
use support::sim::SimYaml;
use support::Sandbox;

const FAIL_RESULT: &str = "LLM_INF_BENCH_FAIL_RESULT_WRITE";
const FAIL_JOURNAL_AFTER: &str = "LLM_INF_BENCH_FAIL_JOURNAL_AFTER";

fn config(sb: &Sandbox, count: usize) {
    SimYaml::seeded_concurrent("rec", "2.0")
        .workload("type: concurrent, concurrency: 2")
        .count(count)
        .write(sb, "exp.yaml");
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `run` of 20 requests in a new sandbox with the failure hooks `env` set.
fn run_20_with(env: &[(&str, &str)]) -> (Sandbox, Output) {
    let sb = Sandbox::new();
    config(&sb, 20);
    let out = sb
        .cmd()
        .args(["run", "exp.yaml"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (sb, out)
}

/// The `llm-inf-bench run … --resume <id>` line the error gives, as arguments.
fn resume_args(stderr: &str) -> Vec<String> {
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("llm-inf-bench run ") && l.contains("--resume"))
        .unwrap_or_else(|| panic!("no resume command in\n{stderr}"));
    line.split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect()
}

fn journals(sb: &Sandbox) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(sb.results())
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".journal.jsonl"))
                .collect()
        })
        .unwrap_or_default()
}

/// Every index 0..n once.
fn assert_all_requests(result: &serde_json::Value, n: usize) {
    let mut seen: Vec<u64> = result["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_index"].as_u64().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, (0..n as u64).collect::<Vec<_>>());
}

#[test]
fn a_full_disk_keeps_the_summary_and_the_journal_and_says_how_to_resume() {
    let (sb, out) = run_20_with(&[(FAIL_RESULT, "1")]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The summary of what was measured is still printed.
    assert!(stdout.contains("Summary"), "{stdout}");
    assert!(stdout.contains("20 total, 20 ok"), "{stdout}");
    assert!(stderr.contains("could not be saved"), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(sb.result_files().is_empty());
    let kept = journals(&sb);
    assert_eq!(kept.len(), 1, "the journal stays");
    let journal_name = kept[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        stderr.contains(&journal_name),
        "names the journal: {stderr}"
    );

    // The command it gives finishes the run, with every request, under the same id.
    let args = resume_args(&stderr);
    let id = args.last().unwrap().clone();
    let out = sb.cmd().args(&args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let results = sb.results_json();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["run_id"], id.as_str());
    assert_all_requests(&results[0], 20);
    assert!(journals(&sb).is_empty());
}

#[test]
fn journal_write_failures_are_said_once_collapsed_and_lose_nothing() {
    // The header, the iteration line and one record fit; everything after fails.
    let (sb, out) = run_20_with(&[(FAIL_JOURNAL_AFTER, "3")]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("cannot write the journal"))
        .collect();
    assert_eq!(
        said.len(),
        2,
        "first failure, then one collapsed line:\n{stderr}"
    );
    assert!(said[1].contains("(repeated 20 times)"), "{stderr}");
    // The result file still holds every request.
    assert_all_requests(&sb.results_json()[0], 20);
}

#[test]
fn a_full_disk_everywhere_says_what_the_journal_misses_and_resume_measures_it_again() {
    let (sb, out) = run_20_with(&[(FAIL_RESULT, "1"), (FAIL_JOURNAL_AFTER, "5")]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("journal write(s) failed as well"),
        "{stderr}"
    );
    assert!(stderr.contains("measured again"), "{stderr}");
    let out = sb.cmd().args(resume_args(&stderr)).output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert_all_requests(&sb.results_json()[0], 20);
}

#[test]
fn a_second_resume_of_one_run_is_refused_and_a_dead_holders_lock_is_taken_over() {
    let sb = Sandbox::new();
    config(&sb, 300);
    let id = killed_mid_run(&sb, "exp.yaml", "60/300");
    let lock = sb.results().join(format!("{id}.lock"));
    assert!(
        lock.exists(),
        "kill -9 leaves the lock file (its holder is dead)"
    );

    let (mut first, rx) = spawn(&sb, &["run", "exp.yaml", "--resume", &id]);
    wait_for_line(&rx, |l| l.contains("Resuming"));
    let second = sb
        .cmd()
        .args(["run", "exp.yaml", "--resume", &id])
        .output()
        .unwrap();
    let (_, stderr) = text(&second);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    let holder = format!("pid {}", first.id());
    assert!(stderr.contains("already being run or resumed"), "{stderr}");
    assert!(stderr.contains(&holder), "{stderr}");
    assert!(
        !stderr.contains("Provisioning"),
        "refused before provisioning"
    );

    assert!(first.wait().unwrap().success());
    drop(rx);
    assert!(!lock.exists(), "released when the resume ends");
    let results = sb.results_json();
    assert_eq!(results.len(), 1);
    assert_all_requests(&results[0], 300);
}

#[test]
fn a_run_still_going_cannot_be_resumed() {
    let sb = Sandbox::new();
    config(&sb, 300);
    let (mut child, rx) = spawn(&sb, &["run", "exp.yaml"]);
    let id = wait_for_run_id(&rx);
    let out = sb
        .cmd()
        .args(["run", "exp.yaml", "--resume", &id])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already being run or resumed"), "{stderr}");
    // `list` shows it as going on, with no resume command, while it runs.
    let listed = sb.stdout_of(&["list", "--dir", "results"]);
    assert!(listed.contains("Runs still going"), "{listed}");
    assert!(
        listed.contains(&format!("{id}  running (pid {})", child.id())),
        "{listed}"
    );
    assert!(!listed.contains("resume:"), "{listed}");
    support::process::signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
}
