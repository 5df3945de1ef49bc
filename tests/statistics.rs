//! Issue 19's statistics through the binary: every latency metric of the result file has
//! p90, p99_9 and std beside the Python tool's keys (checked against the file's own rows with
//! an independent NumPy-rule implementation), total tokens/s is there, and `--percentiles`
//! chooses what `run` and `show` print.

mod support;

use serde_json::Value;
use support::{Sandbox, PROMPTS};

const CONFIG: &str = "name: stats\nmodel:\n  name: sim-model\nframework: vllm\n\
infrastructure:\n  provider: simulated\n  simulation: {decode_step_ms: 0.5}\n\
workload:\n  type: concurrent\n  concurrency: 3\n  requests:\n    source: prompts.jsonl\n    \
count: 20\n  parameters:\n    max_tokens: 24\n\
metrics:\n  collect_gpu_metrics: false\n  output_dir: results\n";

/// NumPy's default percentile, written out again: index p/100·(n−1), linear between ranks.
fn numpy_percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let index = p / 100.0 * (v.len() - 1) as f64;
    let lo = index.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (v[hi] - v[lo]) * (index - lo as f64)
}

fn population_std(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64()
        .is_some_and(|a| (a - b).abs() <= 1e-6 * b.abs().max(1.0))
}

#[test]
fn every_latency_metric_has_p90_p99_9_and_std_and_percentiles_choose_the_printout() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let cfg = sb.write("exp.yaml", CONFIG);
    let out = sb
        .cmd()
        .args(["run", "--percentiles", "50,90,99,99.9"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ttft_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("TTFT"))
        .unwrap();
    for part in ["p50=", "p90=", "p99=", "p99.9=", "mean=", "std="] {
        assert!(ttft_line.contains(part), "{ttft_line}");
    }
    assert!(!ttft_line.contains("p95="), "{ttft_line}");
    assert!(stdout.contains("tok/s in+out"), "{stdout}");

    let result = &sb.results_json()[0];
    let summary = &result["summary"];
    let rows: Vec<&Value> = result["requests"].as_array().unwrap().iter().collect();
    let column = |key: &str| -> Vec<f64> { rows.iter().filter_map(|r| r[key].as_f64()).collect() };
    for (metric, values) in [
        ("ttft", column("ttft_ms")),
        ("e2e_latency", column("e2e_latency_ms")),
        ("tpot", column("tpot_ms")),
    ] {
        let s = &summary[metric];
        assert!(values.len() >= 20, "{metric}");
        for (key, p) in [
            ("p50", 50.0),
            ("p90", 90.0),
            ("p95", 95.0),
            ("p99", 99.0),
            ("p99_9", 99.9),
        ] {
            let want = numpy_percentile(&values, p);
            assert!(close(&s[key], want), "{metric}.{key}: {} vs {want}", s[key]);
        }
        assert!(close(&s["std"], population_std(&values)), "{metric}.std");
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(close(&s["min"], min) && s["max"].as_f64() >= s["p99_9"].as_f64());
    }
    for key in ["p90", "p99_9", "std"] {
        assert!(summary["tbt"][key].is_number(), "tbt.{key}");
    }
    let tokens = summary["total_prompt_tokens"].as_f64().unwrap()
        + summary["total_completion_tokens"].as_f64().unwrap();
    let seconds = summary["total_duration_s"].as_f64().unwrap();
    assert!(close(&summary["total_tokens_per_second"], tokens / seconds));

    let run_id = result["run_id"].as_str().unwrap();
    let shown = sb
        .cmd()
        .args(["show", run_id, "--dir", "results", "--percentiles", "99.9"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("Latency"))
        .unwrap();
    assert!(line.contains("p99.9=") && !line.contains("p50="), "{line}");

    let bad = sb
        .cmd()
        .args(["show", run_id, "--dir", "results", "--percentiles", "75"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a stored percentile"));
}
