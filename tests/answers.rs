//! Answers end to end with the real binary: a capacity search on the simulator (whose
//! capacity is computable), repeats, SLO columns in results and export, and the
//! significance-aware `compare` with its regression gate on hand-built result files.

mod support;

use llm_inf_bench::sim::SimProfile;
use predicates::prelude::*;
use serde_json::Value;
use support::{Sandbox, PROMPTS};

/// TPOT ≈ 1 + 10·(c − 1) ms: 31 ms at c = 4, 41 ms at c = 5. A p50 TPOT limit of 36 ms puts
/// the capacity at 4 with a wide margin on both sides.
const STEEP_SIM: &str = "    seed: 11\n    max_num_seqs: 64\n    decode_step_ms: 1.0\n    decode_step_ms_per_seq: 10.0\n    prefill_ms_per_token: 0.0\n    base_ttft_ms: 1.0\n";
const TPOT_LIMIT: f64 = 36.0;

fn search_config(extra: &str) -> String {
    format!(
        r#"name: "cap"
model:
  name: "sim/tiny"
framework: vllm
infrastructure:
  provider: simulated
  cost_per_hr: 2.0
  simulation:
{STEEP_SIM}
workload:
  type: concurrent
  concurrency: 1
  requests:
    source: prompts.jsonl
    count: 8
  parameters:
    max_tokens: 12
    ignore_eos: true
metrics:
  collect_gpu_metrics: false
  output_dir: results
slo:
  tpot_ms: {{p: 50, max: {TPOT_LIMIT}}}
{extra}"#
    )
}

const SEARCH: &str = "search:\n  over: concurrency\n  min: 1\n  max: 16\n  precision: 0.05\n";

fn steep_profile() -> SimProfile {
    SimProfile {
        max_num_seqs: 64,
        decode_step_ms: 1.0,
        decode_step_ms_per_seq: 10.0,
        ..SimProfile::default()
    }
}

/// Run the search of `cfg` (named `cap`); its stdout and the search summary file.
fn run_search_of(sb: &Sandbox, cfg: &std::path::Path) -> (String, Value) {
    let out = sb.cmd().arg("run").arg(cfg).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let summary = std::fs::read_dir(sb.results())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("cap-search-"))
        })
        .expect("a <name>-search-<timestamp>.json file");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    (stdout, summary)
}

/// Run the search in a fresh sandbox; returns the sandbox, stdout and the summary file.
fn run_search() -> (Sandbox, String, Value) {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let cfg = sb.write("exp.yaml", &search_config(SEARCH));
    let (stdout, summary) = run_search_of(&sb, &cfg);
    (sb, stdout, summary)
}

fn probe_result(sb: &Sandbox, probe: &Value) -> Value {
    let file = probe["result"].as_str().unwrap();
    serde_json::from_str(&std::fs::read_to_string(sb.results().join(file)).unwrap()).unwrap()
}

#[test]
fn capacity_search_on_the_simulator_finds_the_computable_capacity() {
    let (sb, stdout, summary) = run_search();
    let answer = summary["answer"].as_f64().expect("an answer");
    assert_eq!(
        answer as usize,
        steep_profile().max_concurrency_for_tpot(TPOT_LIMIT),
        "{summary:#}"
    );
    let probes = summary["probes"].as_array().unwrap();
    // The answer's own probe met the SLO (and its result file says so) ...
    let own = probes
        .iter()
        .rfind(|p| p["value"].as_f64() == Some(answer))
        .unwrap();
    assert_eq!(own["met"], true);
    let own_result = probe_result(&sb, own);
    assert_eq!(own_result["summary"]["slo"]["all_met"], true);
    assert_eq!(own_result["metadata"]["sweep"]["values"]["concurrency"], 4);
    assert!(own["result"].as_str().unwrap().starts_with("cap-c4-"));
    // ... and a larger probe failed it.
    let larger_failed = probes
        .iter()
        .find(|p| p["value"].as_f64().unwrap() > answer && p["met"] == false)
        .expect("a failing probe above the answer");
    assert_eq!(
        probe_result(&sb, larger_failed)["summary"]["slo"]["all_met"],
        false
    );
    // Every smaller probe met it.
    assert!(probes
        .iter()
        .filter(|p| p["value"].as_f64().unwrap() < answer)
        .all(|p| p["met"] == true));
    assert!(
        stdout.contains("max concurrency 4 meets p50 TPOT ≤ 36 ms → "),
        "{stdout}"
    );
    assert!(stdout.contains("per million output tokens"), "{stdout}");
    // Probe results have the cost block (cost_per_hr from the config).
    assert_eq!(own_result["metadata"]["cost_per_hr"], 2.0);
    assert!(own_result["summary"]["cost"]["per_million_output_tokens"].is_number());
}

#[test]
fn same_seed_gives_the_same_answer() {
    let (_, _, first) = run_search();
    let (_, _, second) = run_search();
    let values = |s: &Value| -> Vec<(f64, bool)> {
        s["probes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["value"].as_f64().unwrap(), p["met"].as_bool().unwrap()))
            .collect()
    };
    assert_eq!(first["answer"], second["answer"]);
    assert_eq!(values(&first), values(&second));
}

#[test]
fn repeat_writes_suffixed_runs_and_a_repeat_set() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let cfg = sb.write("exp.yaml", &search_config(""));
    sb.cmd()
        .args(["run", "--repeat", "3"])
        .arg(&cfg)
        .assert()
        .success()
        .stdout(predicate::str::contains("(95 % CI, n=3)"))
        .stdout(
            predicate::str::is_match(r"TTFT p50 [0-9.]+ ms ± [0-9.]+ \(95 % CI, n=3\)").unwrap(),
        );
    let names: Vec<String> = sb
        .result_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for r in ["cap-r1-", "cap-r2-", "cap-r3-", "cap-repeat-"] {
        assert!(names.iter().any(|n| n.starts_with(r)), "{r} in {names:?}");
    }
    // `list` does not report the repeat-set file as a broken result.
    sb.cmd()
        .args(["list", "--dir", "results"])
        .assert()
        .success()
        .stdout(predicate::str::contains("cap-repeat").not());
    // Export carries the per-request SLO verdict.
    let out = sb
        .cmd()
        .args(["export", "cap-r1", "--format", "csv", "--dir", "results"])
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(csv.lines().next().unwrap().ends_with(",slo_met"));
    assert!(csv.lines().skip(1).all(|l| l.ends_with(",true")), "{csv}");
}

#[test]
fn bad_answer_blocks_fail_validation_with_every_problem() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let cfg = sb.write(
        "exp.yaml",
        &search_config("").replace(
            "slo:\n  tpot_ms: {p: 50, max: 36}\n",
            "slo:\n  ttft: {p: 99, max: 500}\n  tpot_ms: {p: 120, max: 50}\nsearch: {over: concurrency, min: 64, max: 8}\nrepeat: 0\n",
        ),
    );
    sb.cmd()
        .arg("run")
        .arg(&cfg)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "slo.ttft: unknown SLO metric, did you mean 'ttft_ms'?",
        ))
        .stderr(predicate::str::contains(
            "slo.tpot_ms.p: must be a percentile in (0, 100], got 120",
        ))
        .stderr(predicate::str::contains(
            "search.max: must be greater than search.min (64), got 8",
        ))
        .stderr(predicate::str::contains(
            "repeat: must be between 1 and 1000",
        ));
}

// ---- compare on hand-built runs: same server twice, and a server 10 % slower ----

mod built {
    use llm_inf_bench::results::result::*;
    use std::collections::BTreeMap;

    /// Deterministic noise in [0, 1).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A run of `n` requests whose latencies are `slowdown` times a noisy baseline.
    pub fn run(id: &str, seed: u64, slowdown: f64, sweep: Option<(&str, usize)>) -> RunResult {
        let mut rng = Lcg(seed);
        let n = 200;
        let tokens = 32u64;
        let mut requests = Vec::new();
        for i in 0..n {
            let ttft = 80.0 * slowdown * (0.8 + 0.4 * rng.next());
            let gaps: Vec<f64> = (0..tokens - 1)
                .map(|_| 20.0 * slowdown * (0.9 + 0.2 * rng.next()))
                .collect();
            let e2e = ttft + gaps.iter().sum::<f64>();
            requests.push(RequestResult {
                request_index: i,
                ttft_ms: Some(ttft),
                e2e_latency_ms: Some(e2e),
                inter_token_latencies_ms: gaps,
                prompt_tokens: Some(20),
                completion_tokens: Some(tokens),
                tpot_ms: Some((e2e - ttft) / (tokens - 1) as f64),
                ..Default::default()
            });
        }
        let col = |f: &dyn Fn(&RequestResult) -> Vec<f64>| {
            let mut v: Vec<f64> = requests.iter().flat_map(f).collect();
            Stats::from_values(&mut v)
        };
        // 8 concurrent streams: duration = total e2e / 8.
        let seconds = requests
            .iter()
            .filter_map(|r| r.e2e_latency_ms)
            .sum::<f64>()
            / 8000.0;
        let summary = Summary {
            total_requests: n,
            successful_requests: n,
            total_duration_s: seconds,
            requests_per_second: n as f64 / seconds,
            total_prompt_tokens: 20 * n as u64,
            total_completion_tokens: tokens * n as u64,
            tokens_per_second: (tokens * n as u64) as f64 / seconds,
            ttft: col(&|r| r.ttft_ms.into_iter().collect()),
            e2e_latency: col(&|r| r.e2e_latency_ms.into_iter().collect()),
            tbt: col(&|r| r.inter_token_latencies_ms.clone()),
            tpot: col(&|r| r.tpot_ms.into_iter().collect()),
            ..Summary::default()
        };
        RunResult {
            schema_version: Some(1),
            run_id: id.into(),
            status: RunStatus::Completed,
            experiment: serde_json::json!({"name": id}),
            metadata: Metadata {
                experiment_name: id.into(),
                sweep: sweep.map(|(sweep_id, c)| SweepInfo {
                    index: c,
                    total: 2,
                    values: BTreeMap::from([("concurrency".to_string(), c)]),
                    id: Some(sweep_id.into()),
                    request_rate: None,
                }),
                ..Metadata::default()
            },
            summary,
            requests,
            gpu_metrics: None,
            definitions: None,
        }
    }
}

fn write_run(sb: &Sandbox, r: &llm_inf_bench::results::result::RunResult) {
    sb.write(
        &format!("results/{}.json", r.run_id),
        &serde_json::to_string(r).unwrap(),
    );
}

fn compare(sb: &Sandbox, a: &str, b: &str) -> assert_cmd::assert::Assert {
    sb.cmd()
        .args([
            "compare",
            a,
            b,
            "--dir",
            "results",
            "--fail-on-regression",
            "5%",
        ])
        .assert()
}

#[test]
fn same_server_twice_is_within_noise() {
    let sb = Sandbox::new();
    write_run(&sb, &built::run("base-1", 1, 1.0, None));
    write_run(&sb, &built::run("base-2", 2, 1.0, None));
    let out = compare(&sb, "base-1", "base-2").success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for metric in ["TTFT p50", "E2E p99", "TPOT p50", "TBT p50", "Throughput"] {
        let row = text.lines().find(|l| l.contains(metric)).unwrap();
        assert!(row.contains("within noise"), "{row}\n{text}");
    }
    assert!(text.contains("No regression beyond 5%"), "{text}");
}

#[test]
fn ten_percent_slower_server_is_a_significant_regression() {
    let sb = Sandbox::new();
    write_run(&sb, &built::run("base-1", 1, 1.0, None));
    write_run(&sb, &built::run("slow-1", 2, 1.1, None));
    let out = compare(&sb, "base-1", "slow-1").code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let row = text.lines().find(|l| l.contains("TTFT p50")).unwrap();
    assert!(row.contains("significant (p="), "{row}");
    assert!(
        text.contains("REGRESSION: TTFT p50 (ms) is") && text.contains("(threshold 5%)"),
        "{text}"
    );
    assert!(text.contains("REGRESSION: Throughput (tok/s) is"), "{text}");
    // Without the gate the same comparison succeeds; a 20 % threshold is not crossed.
    sb.cmd()
        .args(["compare", "base-1", "slow-1", "--dir", "results"])
        .assert()
        .success();
    sb.cmd()
        .args(["compare", "base-1", "slow-1", "--dir", "results"])
        .args(["--fail-on-regression", "20%"])
        .assert()
        .success();
}

#[test]
fn sweeps_compare_curve_to_curve_by_swept_value() {
    let sb = Sandbox::new();
    write_run(&sb, &built::run("a-c1-x", 1, 1.0, Some(("sweepA", 1))));
    write_run(&sb, &built::run("a-c8-x", 2, 1.0, Some(("sweepA", 8))));
    // B's iterations in another order, and only c8 slower.
    write_run(&sb, &built::run("b-c8-x", 3, 1.1, Some(("sweepB", 8))));
    write_run(&sb, &built::run("b-c1-x", 4, 1.0, Some(("sweepB", 1))));
    let out = compare(&sb, "sweepA", "sweepB").code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("concurrency=1") && text.contains("concurrency=8"),
        "{text}"
    );
    assert!(
        text.contains("REGRESSION: [concurrency=8] TTFT p50"),
        "{text}"
    );
    assert!(!text.contains("REGRESSION: [concurrency=1]"), "{text}");
}

/// `search.over: request_rate` on the open-loop workload: each probe is a `rate` run at the
/// probed rate (`-r<rate>` files), and the answer met the SLO while a higher rate failed it.
#[test]
fn request_rate_search_probes_the_open_loop_workload() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let cfg =
        search_config("search:\n  over: request_rate\n  min: 8\n  max: 512\n  precision: 0.25\n")
            .replace(
                "  type: concurrent\n  concurrency: 1\n",
                "  type: rate\n  request_rate: 8\n  arrival: constant\n",
            );
    let cfg = sb.write("exp.yaml", &cfg);
    let (stdout, summary) = run_search_of(&sb, &cfg);
    let answer = summary["answer"].as_f64().expect("an answer");
    let probes = summary["probes"].as_array().unwrap();
    let own = probes
        .iter()
        .rfind(|p| p["value"].as_f64() == Some(answer))
        .unwrap();
    let own_result = probe_result(&sb, own);
    assert_eq!(own_result["summary"]["slo"]["all_met"], true);
    assert_eq!(own_result["metadata"]["sweep"]["request_rate"], answer);
    assert!(
        own["result"].as_str().unwrap().starts_with("cap-r"),
        "{own}"
    );
    // Every request of the probe was scheduled at the probed rate.
    let offsets: Vec<f64> = own_result["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["scheduled_offset_ms"].as_f64())
        .collect();
    assert_eq!(offsets.len(), 8, "{own_result}");
    assert!(
        (offsets[1] - offsets[0] - 1000.0 / answer).abs() < 0.01,
        "{offsets:?}"
    );
    assert!(probes
        .iter()
        .any(|p| p["value"].as_f64().unwrap() > answer && p["met"] == false));
    assert!(probes
        .iter()
        .filter(|p| p["value"].as_f64().unwrap() < answer)
        .all(|p| p["met"] == true));
    assert!(stdout.contains("max request rate"), "{stdout}");
}
