//! Crash and resume through the real binary: `kill -9` mid-run loses no completed request; the
//! journal stays, `list` shows the run as interrupted with its resume command, and
//! `run <config> --resume <run-id>` finishes it with every request exactly once.
#![cfg(unix)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc;

use support::process::{spawn, wait_for_line};
use support::sim::SimYaml;
use support::table::rows;
use support::Sandbox;

/// Start `run <config>` (a path relative to the sandbox); output lines arrive on the channel.
fn spawn_run(sb: &Sandbox, cfg: &Path) -> (Child, mpsc::Receiver<String>) {
    let cfg = cfg
        .strip_prefix(sb.path())
        .expect("a config in the sandbox")
        .to_string_lossy()
        .to_string();
    spawn(sb, &["run", &cfg])
}

fn kill9(child: &mut Child) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    assert_eq!(rc, 0);
    let status = child.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
}

fn journals(sb: &Sandbox) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(sb.results())
        .expect("results dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".journal.jsonl"))
        .collect();
    out.sort();
    out
}

/// The one journal, and the run id its name carries.
fn the_journal(sb: &Sandbox) -> (PathBuf, String) {
    let js = journals(sb);
    assert_eq!(js.len(), 1, "one journal after the crash: {js:?}");
    let name = js[0].file_name().unwrap().to_string_lossy().to_string();
    let id = name.trim_end_matches(".journal.jsonl").to_string();
    (js[0].clone(), id)
}

fn journal_records(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .expect("journal")
        .lines()
        .filter(|l| l.contains(r#""type":"record""#))
        .count()
}

/// `list` names the interrupted run and prints the exact command that resumes it.
fn assert_listed_as_interrupted(sb: &Sandbox, run_id: &str, cfg_name: &str) {
    let text = sb.stdout_of(&["list", "--dir", "results"]);
    assert!(text.contains("Interrupted runs"), "{text}");
    assert!(text.contains(&format!("{run_id}  interrupted")), "{text}");
    let expected = format!("resume: llm-inf-bench run {cfg_name} --resume {run_id}");
    assert!(text.contains(&expected), "{expected:?} not in\n{text}");
}

fn resume(sb: &Sandbox, cfg_name: &str, run_id: &str) -> std::process::Output {
    sb.cmd()
        .args(["run", cfg_name, "--resume", run_id])
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .expect("resume")
}

fn result_files(sb: &Sandbox) -> BTreeMap<String, serde_json::Value> {
    sb.result_files()
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect()
}

/// Every request index 0..n appears exactly once, every request succeeded.
fn assert_each_index_once(result: &serde_json::Value, n: usize) {
    let reqs = result["requests"].as_array().expect("requests");
    let mut seen = vec![0usize; n];
    for r in reqs {
        let i = r["request_index"].as_u64().expect("index") as usize;
        assert!(i < n, "index {i} out of range");
        seen[i] += 1;
        assert!(r["error"].is_null(), "{r}");
    }
    let wrong: Vec<_> = seen.iter().enumerate().filter(|(_, &c)| c != 1).collect();
    assert!(wrong.is_empty(), "indices not seen exactly once: {wrong:?}");
    assert_eq!(result["summary"]["successful_requests"], n);
    assert_eq!(result["status"], "completed");
}

fn ts(v: &serde_json::Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("time: {v}")))
        .expect("RFC 3339 time")
}

/// `crash`: `count` requests two at a time (`sweep`: the body of a `sweep:` map, or empty).
fn concurrent_config(sb: &Sandbox, file: &str, count: usize, sweep: &str) -> PathBuf {
    SimYaml::new("crash")
        .simulation("seed: 3, decode_step_ms: 2.0, base_ttft_ms: 2.0")
        .workload("type: concurrent, concurrency: 2")
        .sweep(sweep)
        .count(count)
        .parameters("max_tokens: 10, ignore_eos: true")
        .metrics("sample_interval_ms: 100, output_dir: results")
        .write(sb, file)
}

#[test]
fn kill_9_then_resume_keeps_every_request_exactly_once() {
    let sb = Sandbox::new();
    let cfg = concurrent_config(&sb, "crash.yaml", 300, "");
    let (mut child, rx) = spawn_run(&sb, &cfg);
    // Progress lines (no terminal) come every 10 %.
    wait_for_line(&rx, |l| l.contains("60/300"));
    kill9(&mut child);

    let (journal, run_id) = the_journal(&sb);
    assert!(run_id.starts_with("crash-"), "{run_id}");
    let saved = journal_records(&journal);
    assert!(saved >= 60, "journal holds the completed requests: {saved}");
    assert!(sb.result_files().is_empty(), "no result file after kill -9");
    assert_listed_as_interrupted(&sb, &run_id, "crash.yaml");

    let out = resume(&sb, "crash.yaml", &run_id);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Resuming"), "{stderr}");
    let results = result_files(&sb);
    assert_eq!(results.len(), 1, "{:?}", results.keys());
    let r = results.values().next().unwrap();
    assert_each_index_once(r, 300);
    let resumed = r["metadata"]["resumed_at"].as_array().expect("resumed_at");
    assert_eq!(resumed.len(), 1);
    assert!(
        journals(&sb).is_empty(),
        "the journal is removed once finished"
    );
    // The started_at is the original start, before the resume.
    assert!(ts(&r["metadata"]["started_at"]) < ts(&resumed[0]));
}

#[test]
fn a_sweep_resumes_only_the_unfinished_iterations() {
    let sb = Sandbox::new();
    let cfg = concurrent_config(&sb, "sweep.yaml", 150, "concurrency: [1, 2]");
    let (mut child, rx) = spawn_run(&sb, &cfg);
    // Iteration 1 is saved, then iteration 2 makes some progress.
    wait_for_line(&rx, |l| l.contains("Saved"));
    wait_for_line(&rx, |l| l.contains("30/150"));
    kill9(&mut child);
    let first = result_files(&sb);
    assert_eq!(first.len(), 1, "iteration 1 was saved before the crash");
    let (_, run_id) = the_journal(&sb);
    assert_listed_as_interrupted(&sb, &run_id, "sweep.yaml");
    let list = sb
        .cmd()
        .args(["list", "--dir", "results"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("1/2 iteration(s) done"));

    let out = resume(&sb, "sweep.yaml", &run_id);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Iteration 1/2 already finished"),
        "{stderr}"
    );
    let all = result_files(&sb);
    assert_eq!(all.len(), 2, "{:?}", all.keys());
    // Iteration 1's file is untouched; iteration 2 is complete and marked as resumed.
    for (name, r) in &first {
        assert_eq!(&all[name], r, "iteration 1 was not run again");
        assert!(r["metadata"]["resumed_at"].is_null());
    }
    let second = all
        .iter()
        .find(|(name, _)| !first.contains_key(*name))
        .map(|(_, r)| r)
        .unwrap();
    assert_eq!(second["metadata"]["sweep"]["index"], 2);
    assert_each_index_once(second, 150);
    assert!(second["metadata"]["resumed_at"].is_array());
}

/// Ctrl-C (not only a crash) mid-sweep: the partial result is saved, the journal stays, and
/// `--resume` continues at the interrupted iteration; afterwards each iteration is present
/// once (the partial file is replaced by the whole iteration's).
#[test]
fn sigint_mid_sweep_then_resume_continues_at_the_interrupted_iteration() {
    let sb = Sandbox::new();
    let sweep = "concurrency: [1, 2, 2]";
    let cfg = concurrent_config(&sb, "sweep.yaml", 150, sweep);
    let (mut child, rx) = spawn_run(&sb, &cfg);
    wait_for_line(&rx, |l| l.contains("Saved"));
    wait_for_line(&rx, |l| l.contains("30/150"));
    support::process::signal(&child, libc::SIGINT);
    assert_eq!(child.wait().expect("wait").code(), Some(130));
    let first = result_files(&sb);
    assert_eq!(
        first.len(),
        2,
        "iteration 1 and the partial iteration 2: {:?}",
        first.keys()
    );
    let partial: Vec<&String> = first
        .iter()
        .filter(|(_, r)| r["status"] == "partial")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(partial.len(), 1, "{:?}", first.keys());
    let (journal, run_id) = the_journal(&sb);
    assert!(std::fs::read_to_string(&journal)
        .unwrap()
        .contains(r#""type":"iteration_interrupted""#));
    assert_listed_as_interrupted(&sb, &run_id, "sweep.yaml");

    let out = resume(&sb, "sweep.yaml", &run_id);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Iteration 1/3 already finished"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Iteration 2/3 already finished"),
        "{stderr}"
    );
    // The sweep table covers every iteration, also the one finished before the interrupt.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let table = stdout
        .split(&format!("Sweep {run_id}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no sweep table in\n{stdout}"));
    let swept: Vec<String> = rows(table)
        .into_iter()
        .skip(1)
        .filter_map(|r| r.into_iter().next())
        .collect();
    assert_eq!(swept, ["1", "2", "2"], "{table}");
    let all = result_files(&sb);
    // The resumed run keeps its id: the partial file is either gone or now holds the whole
    // iteration; no partial result is left.
    if let Some(replaced) = all.get(partial[0]) {
        assert_eq!(
            replaced["status"], "completed",
            "the partial file is replaced"
        );
    }
    assert!(
        all.values().all(|r| r["status"] == "completed"),
        "{:?}",
        all.keys()
    );
    let mut by_index: BTreeMap<u64, usize> = BTreeMap::new();
    for r in all.values() {
        let index = r["metadata"]["sweep"]["index"]
            .as_u64()
            .expect("sweep index");
        *by_index.entry(index).or_default() += 1;
        assert_each_index_once(r, 150);
    }
    assert_eq!(
        by_index,
        BTreeMap::from([(1, 1), (2, 1), (3, 1)]),
        "{:?}",
        all.keys()
    );
    assert!(
        journals(&sb).is_empty(),
        "the journal is removed once finished"
    );
}

#[test]
fn a_changed_config_refuses_to_resume() {
    let sb = Sandbox::new();
    let cfg = concurrent_config(&sb, "crash.yaml", 300, "");
    let (mut child, rx) = spawn_run(&sb, &cfg);
    wait_for_line(&rx, |l| l.contains("30/300"));
    kill9(&mut child);
    let (journal, run_id) = the_journal(&sb);
    let before = std::fs::read(&journal).unwrap();

    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_tokens: 10", "max_tokens: 11");
    std::fs::write(&cfg, text).unwrap();
    let out = resume(&sb, "crash.yaml", &run_id);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("config changed"), "{stderr}");
    assert!(stderr.contains(&run_id), "{stderr}");
    assert!(sb.result_files().is_empty());
    assert_eq!(
        std::fs::read(&journal).unwrap(),
        before,
        "journal untouched"
    );

    // An unknown run id is a clear error too.
    let out = resume(&sb, "crash.yaml", "nope-20200101-000000");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no journal for run 'nope-20200101-000000'"),
        "{stderr}"
    );
}

#[test]
fn multi_turn_resumes_whole_conversations() {
    let sb = Sandbox::new();
    let cfg = SimYaml::new("chat")
        .simulation("seed: 5, decode_step_ms: 2.0, base_ttft_ms: 2.0")
        .workload(
            "type: multi_turn, concurrency: 2, \
             conversation: {turns: 3, user_messages: [\"Go on.\", \"And then?\"]}",
        )
        .count(60)
        .parameters("max_tokens: 8, ignore_eos: true")
        .metrics("sample_interval_ms: 100, output_dir: results")
        .write(&sb, "chat.yaml");
    let (mut child, rx) = spawn_run(&sb, &cfg);
    wait_for_line(&rx, |l| l.contains("36/180"));
    kill9(&mut child);
    let (journal, run_id) = the_journal(&sb);
    assert!(journal_records(&journal) >= 36);
    assert_listed_as_interrupted(&sb, &run_id, "chat.yaml");

    let out = resume(&sb, "chat.yaml", &run_id);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = result_files(&sb);
    assert_eq!(results.len(), 1);
    let r = results.values().next().unwrap();
    assert_each_index_once(r, 180);
    // Each conversation has its turns 0, 1, 2 once, with request_index = conv * 3 + turn.
    let mut turns: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for req in r["requests"].as_array().unwrap() {
        let c = req["conversation_index"].as_u64().expect("conversation");
        let t = req["turn_index"].as_u64().expect("turn");
        assert_eq!(req["request_index"].as_u64(), Some(c * 3 + t));
        turns.entry(c).or_default().push(t);
    }
    assert_eq!(turns.len(), 60);
    for (c, mut ts) in turns {
        ts.sort();
        assert_eq!(ts, vec![0, 1, 2], "conversation {c}");
    }
    // A conversation half done at the crash was run again from its first turn: no conversation
    // mixes turns from before the crash with turns from after the resume.
    let resumed = ts(&r["metadata"]["resumed_at"][0]);
    let mut after: BTreeMap<u64, Vec<bool>> = BTreeMap::new();
    for req in r["requests"].as_array().unwrap() {
        let c = req["conversation_index"].as_u64().unwrap();
        after
            .entry(c)
            .or_default()
            .push(ts(&req["started_at"]) > resumed);
    }
    let mixed: Vec<_> = after
        .iter()
        .filter(|(_, a)| a.iter().any(|x| *x) && !a.iter().all(|x| *x))
        .collect();
    assert!(
        mixed.is_empty(),
        "conversations with turns from both runs: {mixed:?}"
    );
    assert!(
        after.values().any(|a| a[0]),
        "some conversations ran after the resume"
    );
    assert!(
        after.values().any(|a| !a[0]),
        "some were kept from before the crash"
    );
}
