//! The result commands against the Python tool's result files and against files this crate
//! writes: load, list, show, compare, export, round trip.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{Local, TimeZone, Utc};
use llm_inf_bench::cli::args::{CompareArgs, ExportArgs, ExportFormat, ListArgs, ShowArgs};
use llm_inf_bench::cli::results;
use llm_inf_bench::metrics::aggregate::{definitions, summarize, to_result};
use llm_inf_bench::metrics::request::{
    ErrorKind, RequestError, RequestRecord, StreamTimings, TokenCountSource,
};
use llm_inf_bench::output::style::Style;
use llm_inf_bench::results::result::{
    Metadata, RequestResult, RunResult, RunStatus, SCHEMA_VERSION,
};
use llm_inf_bench::results::storage::{self, load_result, new_run_id, write_result};
use serde_json::Value;

const FILES: [&str; 4] = [
    "ref-batch-errors-20261127-171001",
    "ref-concurrent-20261127-170838",
    "ref-multiturn-20261127-170955",
    "ref-single-20261127-170853",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python-results")
}

fn python(id: &str) -> RunResult {
    load_result(&fixtures().join(format!("{id}.json"))).unwrap()
}

fn text(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap()
}

fn cells<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    let row = table
        .lines()
        .find(|l| l.contains(first))
        .unwrap_or_else(|| panic!("no row {first} in\n{table}"));
    row.trim_matches('│').split('┆').map(str::trim).collect()
}

#[test]
fn python_files_load_with_their_numbers() {
    let batch = python(FILES[0]);
    assert_eq!(batch.status, RunStatus::Partial);
    assert_eq!(batch.schema_version, None);
    assert_eq!(
        (batch.summary.total_requests, batch.summary.failed_requests),
        (12, 2)
    );
    assert_eq!(batch.requests.len(), 12);
    assert!(batch.requests[4]
        .error
        .as_deref()
        .unwrap()
        .starts_with("HTTP 500"));
    assert_eq!(batch.requests[4].ttft_ms, None);
    assert_eq!(batch.gpu_metrics, None);

    let concurrent = python(FILES[1]);
    let gpu = concurrent.summary.gpu_summary.as_ref().unwrap();
    assert_eq!(gpu.kv_cache_usage_peak, Some(0.16));
    assert_eq!(gpu.total_samples, 25);
    let metrics = concurrent.gpu_metrics.as_ref().unwrap();
    assert_eq!(
        (metrics.framework.as_str(), metrics.time_series.len()),
        ("vllm", 25)
    );

    let multiturn = python(FILES[2]);
    assert_eq!(multiturn.requests[0].turn_index, Some(0));
    assert_eq!(multiturn.requests[0].conversation_index, Some(0));
    assert_eq!(
        python(FILES[3]).summary.ttft.unwrap().p50,
        85.78932900002201
    );
}

#[test]
fn python_summaries_are_what_our_percentiles_give_on_their_rows() {
    use llm_inf_bench::results::result::Stats;
    for id in FILES {
        let r = python(id);
        let ok: Vec<&RequestResult> = r.requests.iter().filter(|q| q.error.is_none()).collect();
        let mut ttft: Vec<f64> = ok.iter().filter_map(|q| q.ttft_ms).collect();
        let mut tbt: Vec<f64> = ok
            .iter()
            .flat_map(|q| q.inter_token_latencies_ms.iter().copied())
            .collect();
        for (ours, theirs) in [
            (
                Stats::from_values(&mut ttft).unwrap(),
                r.summary.ttft.unwrap(),
            ),
            (
                Stats::from_values(&mut tbt).unwrap(),
                r.summary.tbt.unwrap(),
            ),
        ] {
            for (a, b) in [
                (ours.p50, theirs.p50),
                (ours.p95, theirs.p95),
                (ours.p99, theirs.p99),
                (ours.mean, theirs.mean),
            ] {
                assert!((a - b).abs() < 1e-9, "{id}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn round_trip_keeps_every_python_field() {
    for id in FILES {
        let path = fixtures().join(format!("{id}.json"));
        let original: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let loaded = load_result(&path).unwrap();
        let json = serde_json::to_string_pretty(&loaded).unwrap();
        let reloaded: RunResult = serde_json::from_str(&json).unwrap();
        assert_eq!(reloaded, loaded, "{id}");
        // Every key the Python tool wrote is still there, with the same number.
        assert_same_fields(&original, &serde_json::from_str(&json).unwrap(), id);
    }
}

fn assert_same_fields(original: &Value, ours: &Value, at: &str) {
    match (original, ours) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let other = b
                    .get(key)
                    .unwrap_or_else(|| panic!("{at}.{key} was dropped"));
                assert_same_fields(value, other, &format!("{at}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same_fields(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(b)) => assert_eq!(a.as_f64(), b.as_f64(), "{at}"),
        // Timestamps are re-encoded (`+00:00` → `Z`); the instant must not change.
        (Value::String(a), Value::String(b)) if a != b => {
            let a = chrono::DateTime::parse_from_rfc3339(a)
                .unwrap_or_else(|_| panic!("{at}: {a} vs {b}"));
            let b = chrono::DateTime::parse_from_rfc3339(b).unwrap();
            assert_eq!(a, b, "{at}");
        }
        (a, b) => assert_eq!(a, b, "{at}"),
    }
}

#[test]
fn list_shows_all_python_runs() {
    let mut out = Vec::new();
    results::list(&ListArgs { dir: None }, &fixtures(), Style::PLAIN, &mut out).unwrap();
    let table = text(out);
    assert_eq!(
        cells(&table, "ref-batch-errors"),
        [
            FILES[0],
            "partial",
            "2026-11-27 17:10:00",
            "10/12",
            "438",
            "39.9ms"
        ]
    );
    assert_eq!(
        cells(&table, "ref-concurrent"),
        [
            FILES[1],
            "completed",
            "2026-11-27 17:08:35",
            "40/40",
            "403",
            "138ms"
        ]
    );
    // Oldest first.
    let order: Vec<usize> = FILES.iter().map(|id| table.find(id).unwrap()).collect();
    assert!(order[1] < order[3] && order[3] < order[2] && order[2] < order[0]);
}

#[test]
fn show_renders_each_python_run() {
    let show = |run: &str| {
        let mut out = Vec::new();
        let args = ShowArgs {
            run: run.into(),
            dir: Some(fixtures()),
            percentiles: None,
        };
        results::show(&args, Path::new("/nonexistent"), Style::PLAIN, &mut out).unwrap();
        text(out)
    };
    let batch = show("batch-errors");
    assert!(
        batch.contains("Requests        12 total, 10 ok, 2 failed"),
        "{batch}"
    );
    assert!(
        batch.contains("Throughput      438 tok/s, 27.4 req/s"),
        "{batch}"
    );
    assert!(
        batch.contains("TTFT            p50=39.9ms p95=49.9ms p99=50.2ms"),
        "{batch}"
    );
    assert!(!batch.contains("Server Metrics"));

    let concurrent = show("ref-concurrent");
    assert!(
        concurrent.contains("Workload        concurrent (count=40, concurrency=8, max_tokens=32")
    );
    assert!(
        concurrent.contains("KV cache        peak=16.0% mean=13.9%"),
        "{concurrent}"
    );
    assert!(
        concurrent.contains("Gen throughput  411 tok/s"),
        "{concurrent}"
    );

    let multiturn = show("multiturn");
    assert!(multiturn.contains("Per turn"), "{multiturn}");
    assert_eq!(cells(&multiturn, "│    3 ┆")[..4], ["3", "3", "3", "103"]);

    let single = show(
        fixtures()
            .join(format!("{}.json", FILES[3]))
            .to_str()
            .unwrap(),
    );
    assert!(single.contains("Latency         p50=555ms"), "{single}");
}

#[test]
fn compare_two_python_runs() {
    let mut out = Vec::new();
    let args = CompareArgs {
        runs: vec!["single".into(), "concurrent".into()],
        dir: Some(fixtures()),
        fail_on_regression: None,
    };
    results::compare(&args, Path::new("."), Style::PLAIN, &mut out).unwrap();
    let table = text(out);
    assert_eq!(
        cells(&table, "Metric")[1..3],
        [format!("A: {}", FILES[3]), format!("B: {}", FILES[1])]
    );
    assert_eq!(
        cells(&table, "Throughput"),
        [
            "Throughput (tok/s)",
            "57.6",
            "403",
            "+345 (+599.1%)",
            "significant (p=1.7e-6)"
        ]
    );
    assert_eq!(
        cells(&table, "TTFT p50")[..4],
        ["TTFT p50 (ms)", "85.8", "138", "+52.5 (+61.2%)"]
    );
    assert!(cells(&table, "TTFT p50")[4].starts_with("significant"));
    assert_eq!(
        cells(&table, "KV cache peak"),
        ["KV cache peak", "2.0%", "16.0%", "+14.0pp (+700.0%)", "-"]
    );
}

#[test]
fn ambiguous_reference_lists_matches() {
    let mut out = Vec::new();
    let args = ShowArgs {
        run: "2026".into(),
        dir: Some(fixtures()),
        percentiles: None,
    };
    let err = results::show(&args, Path::new("."), Style::PLAIN, &mut out).unwrap_err();
    let msg = err.to_string();
    for id in FILES {
        assert!(msg.contains(id), "{msg}");
    }
}

#[test]
fn export_python_run_as_csv_and_jsonl() {
    let mut out = Vec::new();
    let args = ExportArgs {
        run: "batch-errors".into(),
        format: ExportFormat::Csv,
        output: None,
        force: false,
        dir: Some(fixtures()),
    };
    results::export(&args, Path::new("."), &mut out).unwrap();
    let mut reader = csv::Reader::from_reader(out.as_slice());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 12);
    assert_eq!(&rows[0][col("ttft_ms")], "46.78679599999214");
    assert_eq!(&rows[0][col("inter_token_count")], "15");
    assert_eq!(
        rows[0][col("inter_token_latencies_ms")].split(';').count(),
        15
    );
    assert!(rows[4][col("error")].starts_with("HTTP 500: {\"object\""));
    assert_eq!(&rows[4][col("ttft_ms")], "");

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("rows.jsonl");
    let args = ExportArgs {
        run: "multiturn".into(),
        format: ExportFormat::Jsonl,
        output: Some(file.clone()),
        force: false,
        dir: Some(fixtures()),
    };
    let mut out = Vec::new();
    results::export(&args, Path::new("."), &mut out).unwrap();
    assert!(text(out).starts_with(&format!("Exported 12 requests of {}", FILES[2])));
    let lines: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12);
    assert_eq!(lines[5]["run_id"], FILES[2]);
    assert_eq!(lines[5]["request_index"], 5);
    assert!(lines[5]["turn_index"].is_number());
}

#[test]
fn export_never_overwrites_without_force_and_never_a_result_file() {
    let tmp = tempfile::tempdir().unwrap();
    let results_dir = tmp.path().join("results");
    std::fs::create_dir_all(&results_dir).unwrap();
    let result_file = results_dir.join(format!("{}.json", FILES[3]));
    std::fs::copy(fixtures().join(format!("{}.json", FILES[3])), &result_file).unwrap();
    let other_result = results_dir.join(format!("{}.json", FILES[0]));
    std::fs::copy(fixtures().join(format!("{}.json", FILES[0])), &other_result).unwrap();
    let journal = results_dir.join("x-1.journal.jsonl");
    std::fs::write(&journal, "{}\n").unwrap();
    let notes = tmp.path().join("notes.csv");
    std::fs::write(&notes, "keep me").unwrap();
    let export_to = |output: &Path, force: bool| {
        let args = ExportArgs {
            run: "single".into(),
            format: ExportFormat::Csv,
            output: Some(output.to_path_buf()),
            force,
            dir: Some(results_dir.clone()),
        };
        results::export(&args, Path::new("."), &mut Vec::new())
    };

    let err = export_to(&notes, false).unwrap_err().to_string();
    assert!(err.contains("already exists; pass --force"), "{err}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "keep me");
    export_to(&notes, true).unwrap();
    assert!(std::fs::read_to_string(&notes)
        .unwrap()
        .starts_with("run_id,"));

    for precious in [&result_file, &other_result, &journal] {
        let before = std::fs::read(precious).unwrap();
        for force in [false, true] {
            let err = export_to(precious, force).unwrap_err().to_string();
            assert!(err.contains("never overwrites one"), "{err}");
        }
        assert_eq!(std::fs::read(precious).unwrap(), before);
    }
    // A new file is created as usual.
    export_to(&tmp.path().join("new.csv"), false).unwrap();
}

/// A run built by this crate from synthetic records, as the orchestrator will.
fn our_run(dir: &Path) -> PathBuf {
    let at = Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap();
    let records: Vec<RequestRecord> = (0..10)
        .map(|i| RequestRecord {
            request_index: i,
            conversation_index: None,
            turn_index: None,
            started_at: at,
            finished_at: at,
            send_delay_us: 100,
            pacing: Default::default(),
            timings: StreamTimings {
                token_offsets_us: (0..32)
                    .map(|t| 60_000 + i as u32 * 1000 + t * 12_000)
                    .collect(),
                end_us: 60_000 + i as u64 * 1000 + 31 * 12_000 + 500,
                chunk_tokens: Vec::new(),
            },
            prompt_tokens: Some(12),
            completion_tokens: Some(32),
            token_count_source: Some(TokenCountSource::Usage),
            error: (i == 9).then(|| RequestError {
                kind: ErrorKind::Timeout,
                message: "no data for 120 s".into(),
            }),
            requested_input_tokens: None,
            requested_output_tokens: None,
        })
        .collect();
    let summary = summarize(&records, Duration::from_millis(4000));
    let run_id = new_run_id(
        "ours",
        Local.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap(),
    );
    let result = RunResult {
        schema_version: Some(SCHEMA_VERSION),
        run_id,
        status: RunStatus::Partial,
        experiment: serde_json::json!({"name": "ours", "model": {"name": "Qwen/Qwen3-0.6B"}}),
        metadata: Metadata {
            experiment_name: "ours".into(),
            started_at: Some(at),
            finished_at: Some(at),
            ..Metadata::default()
        },
        summary,
        requests: records.iter().map(to_result).collect(),
        gpu_metrics: None,
        definitions: Some(definitions()),
    };
    write_result(dir, &result).unwrap()
}

#[test]
fn compare_python_run_with_ours() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = our_run(tmp.path());
    assert_eq!(ours.file_name().unwrap(), "ours-20261128-090000.json");
    let python_path = fixtures().join(format!("{}.json", FILES[3]));
    let args = CompareArgs {
        runs: vec![python_path.to_str().unwrap().into(), "ours".into()],
        dir: Some(tmp.path().to_path_buf()),
        fail_on_regression: None,
    };
    let mut out = Vec::new();
    results::compare(&args, Path::new("."), Style::PLAIN, &mut out).unwrap();
    let table = text(out);
    // 9 ok × 32 tokens over 4 s; TTFT 60..68 ms → p50 64.
    assert_eq!(cells(&table, "Throughput")[1..3], ["57.6", "72"]);
    assert_eq!(cells(&table, "TTFT p50")[2], "64");
    assert_eq!(cells(&table, "TBT p50")[2], "12");
    assert_eq!(cells(&table, "Errors")[1..], ["0", "1", "+1", "-"]);
    // TPOT only in our file: A shows a dash. (31·12 ms + 0.5 ms) / 31 gaps.
    assert_eq!(cells(&table, "TPOT p50")[1..], ["-", "12.0", "-", "-"]);
    assert_eq!(cells(&table, "KV cache peak")[2], "-");

    // And ours shows and lists like the Python ones.
    let mut out = Vec::new();
    let show = ShowArgs {
        run: "ours".into(),
        dir: None,
        percentiles: None,
    };
    results::show(&show, tmp.path(), Style::PLAIN, &mut out).unwrap();
    let shown = text(out);
    assert!(shown.contains("Errors          timeout=1"), "{shown}");
    assert!(shown.contains("TPOT            p50=12.0ms"), "{shown}");
    let entries = storage::list_results(tmp.path()).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].info.as_ref().unwrap().successful_requests, 9);
}
