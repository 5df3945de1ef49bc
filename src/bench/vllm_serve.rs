//! `vllm bench serve` beside our open-loop rows: the peer's load generator against the same
//! bench server, at the same rates, in the same run. Found at `$LLM_INF_BENCH_VLLM`, else in
//! the real-vLLM venv (`<cache>/vllm-cpu/bin/vllm`, see `scripts/real-vllm/`), else on `PATH`;
//! its tokenizer is the tiny model that `scripts/real-vllm/make_tiny_model.py` builds
//! (`<cache>/tiny-model`). Absent either, the section says why and is skipped.
//!
//! Its figures come from its `--save-result --save-detailed` JSON: per-request send times and
//! TTFTs, reduced with our definitions (achieved rate = (n − 1) / send span; TTFT percentiles
//! over successful requests); its own `request_throughput` (completed / wall time) is kept too.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::server::{Lateness, Pace};
use super::ServerProcess;
use crate::results::result::Stats;

#[derive(Debug, Clone, Serialize)]
pub struct VllmRow {
    pub target_rate: f64,
    pub num_prompts: usize,
    pub completed: usize,
    pub failed: usize,
    /// (n − 1) / (last − first send), as ours.
    pub achieved_rate: f64,
    /// vLLM's own figure: completed / benchmark wall time.
    pub request_throughput: f64,
    pub ttft_ms: Option<Stats>,
    /// The bench server's lateness over this run.
    pub server: Lateness,
    /// The command as run (for the README).
    pub command: String,
}

/// The parts of vLLM's result file used here.
#[derive(Debug, Deserialize)]
struct VllmResult {
    completed: usize,
    #[serde(default)]
    failed: usize,
    request_throughput: f64,
    #[serde(default)]
    ttfts: Vec<f64>,
    #[serde(default)]
    start_times: Vec<f64>,
    #[serde(default)]
    errors: Vec<String>,
}

/// The `vllm` executable and the tokenizer folder, or why `vllm bench serve` cannot run.
pub fn locate() -> Result<(PathBuf, PathBuf), String> {
    let cache = std::env::var_os("LLM_INF_BENCH_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/llm-inf-bench")));
    let explicit = std::env::var_os("LLM_INF_BENCH_VLLM").map(PathBuf::from);
    locate_in(cache, explicit, std::env::var_os("PATH"))
}

/// `locate` with its environment given: the cache folder, `$LLM_INF_BENCH_VLLM`, `$PATH`.
fn locate_in(
    cache: Option<PathBuf>,
    explicit: Option<PathBuf>,
    path: Option<std::ffi::OsString>,
) -> Result<(PathBuf, PathBuf), String> {
    let in_venv = cache.as_ref().map(|c| c.join("vllm-cpu/bin/vllm"));
    let exe = explicit
        .or(in_venv.filter(|p| p.is_file()))
        .or_else(|| on_path("vllm", path?))
        .ok_or(
            "vLLM is not installed (install it with `bash scripts/real-vllm/setup.sh \
             ~/.cache/llm-inf-bench/vllm-cpu`, or set LLM_INF_BENCH_VLLM)",
        )?;
    let tokenizer = cache
        .map(|c| c.join("tiny-model"))
        .filter(|t| t.join("tokenizer.json").is_file())
        .ok_or(
            "no tokenizer for it (build one with `<venv>/bin/python \
             scripts/real-vllm/make_tiny_model.py ~/.cache/llm-inf-bench/tiny-model`)",
        )?;
    Ok((exe, tokenizer))
}

fn on_path(name: &str, path: std::ffi::OsString) -> Option<PathBuf> {
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The arguments of one run: Poisson arrivals at `rate`, `count` prompts of 4 output tokens
/// (the same schedule our rows ask the server for).
fn args(
    base: &str,
    pace: Pace,
    tokenizer: &Path,
    rate: f64,
    count: usize,
    dir: &Path,
) -> Vec<String> {
    let s = |v: &str| v.to_string();
    vec![
        s("bench"),
        s("serve"),
        s("--backend"),
        s("openai-chat"),
        s("--base-url"),
        s(base),
        s("--endpoint"),
        s("/v1/chat/completions"),
        s("--model"),
        pace.model_name(),
        s("--tokenizer"),
        tokenizer.display().to_string(),
        s("--dataset-name"),
        s("random"),
        s("--random-input-len"),
        s("8"),
        s("--random-output-len"),
        super::open_loop::TOKENS.to_string(),
        s("--ignore-eos"),
        s("--request-rate"),
        rate.to_string(),
        s("--burstiness"),
        s("1.0"),
        s("--num-prompts"),
        count.to_string(),
        s("--seed"),
        s("42"),
        s("--disable-tqdm"),
        s("--percentile-metrics"),
        s("ttft"),
        s("--metric-percentiles"),
        s("50,99"),
        s("--save-result"),
        s("--save-detailed"),
        s("--result-dir"),
        dir.display().to_string(),
        s("--result-filename"),
        s("vllm.json"),
    ]
}

/// One `vllm bench serve` run at `rate` for `seconds` against the bench server.
pub(super) async fn row(
    srv: &ServerProcess,
    exe: &Path,
    tokenizer: &Path,
    rate: f64,
    seconds: f64,
) -> Result<VllmRow, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let count = (rate * seconds).ceil() as usize;
    let pace = super::open_loop::pace();
    let args = args(&srv.base, pace, tokenizer, rate, count, dir.path());
    let command = format!("vllm {}", args.join(" "));
    srv.lateness().await;
    let run = tokio::process::Command::new(exe)
        .args(&args)
        .envs([
            ("HF_HUB_OFFLINE", "1"),
            ("TRANSFORMERS_OFFLINE", "1"),
            ("VLLM_NO_USAGE_STATS", "1"),
            ("DO_NOT_TRACK", "1"),
        ])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // Importing vLLM alone takes ~1 min on 2 busy cores.
    let limit = Duration::from_secs_f64(300.0 + 5.0 * seconds);
    let out = tokio::time::timeout(limit, run)
        .await
        .map_err(|_| format!("`{command}` did not finish in {} s", limit.as_secs()))?
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let server = srv.lateness().await;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        return Err(format!(
            "`vllm bench serve` failed ({}): {}",
            out.status,
            crate::text::printable(&tail.into_iter().rev().collect::<Vec<_>>().join(" | "))
        ));
    }
    let file = dir.path().join("vllm.json");
    let text = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let result: VllmResult =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(reduce(result, rate, count, server, command))
}

fn reduce(r: VllmResult, rate: f64, count: usize, server: Lateness, command: String) -> VllmRow {
    let ok = |i: usize| r.errors.get(i).is_none_or(|e| e.is_empty());
    let mut ttft: Vec<f64> = (0..r.ttfts.len())
        .filter(|&i| ok(i) && r.ttfts[i] > 0.0)
        .map(|i| r.ttfts[i] * 1000.0)
        .collect();
    let mut starts = r.start_times.clone();
    starts.sort_by(f64::total_cmp);
    let achieved_rate = match (starts.first(), starts.last()) {
        (Some(a), Some(b)) if b > a => (starts.len() - 1) as f64 / (b - a),
        _ => 0.0,
    };
    VllmRow {
        target_rate: rate,
        num_prompts: count,
        completed: r.completed,
        failed: r.failed,
        achieved_rate,
        request_throughput: r.request_throughput,
        ttft_ms: crate::results::result::Stats::from_values(&mut ttft),
        server,
        command,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_vllm_detailed_result_with_our_definitions() {
        // Trimmed from a real `--save-result --save-detailed` file of vLLM 0.32.0.
        let json = r#"{"duration": 3.1, "completed": 3, "failed": 1,
            "request_throughput": 0.97, "ttfts": [0.006, 0.0, 0.008, 0.010],
            "start_times": [100.0, 100.5, 101.0, 101.5],
            "errors": ["", "Bad Request", "", ""], "median_ttft_ms": 8.0}"#;
        let r: VllmResult = serde_json::from_str(json).unwrap();
        let row = reduce(r, 2.0, 4, Lateness::default(), "vllm bench serve".into());
        assert_eq!((row.completed, row.failed, row.num_prompts), (3, 1, 4));
        assert!((row.achieved_rate - 2.0).abs() < 1e-9);
        assert!((row.request_throughput - 0.97).abs() < 1e-9);
        let t = row.ttft_ms.unwrap();
        assert!((t.p50 - 8.0).abs() < 1e-9 && (t.min - 6.0).abs() < 1e-9);
    }

    #[test]
    fn locates_the_venv_and_tiny_model_or_says_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().to_path_buf();
        let none = locate_in(Some(cache.clone()), None, None).unwrap_err();
        assert!(none.starts_with("vLLM is not installed"), "{none}");
        std::fs::create_dir_all(cache.join("vllm-cpu/bin")).unwrap();
        std::fs::write(cache.join("vllm-cpu/bin/vllm"), "").unwrap();
        let no_tok = locate_in(Some(cache.clone()), None, None).unwrap_err();
        assert!(no_tok.starts_with("no tokenizer"), "{no_tok}");
        std::fs::create_dir_all(cache.join("tiny-model")).unwrap();
        std::fs::write(cache.join("tiny-model/tokenizer.json"), "{}").unwrap();
        let (exe, tok) = locate_in(Some(cache.clone()), None, None).unwrap();
        assert_eq!(exe, cache.join("vllm-cpu/bin/vllm"));
        assert_eq!(tok, cache.join("tiny-model"));
        // An explicit path wins; else one on PATH when the venv has none.
        let (exe, _) = locate_in(Some(cache.clone()), Some("/x/vllm".into()), None).unwrap();
        assert_eq!(exe, PathBuf::from("/x/vllm"));
        std::fs::remove_file(cache.join("vllm-cpu/bin/vllm")).unwrap();
        let path = std::env::join_paths([dir.path().join("nothing"), cache.join("bin2")]).unwrap();
        std::fs::create_dir_all(cache.join("bin2")).unwrap();
        std::fs::write(cache.join("bin2/vllm"), "").unwrap();
        let (exe, _) = locate_in(Some(cache.clone()), None, Some(path)).unwrap();
        assert_eq!(exe, cache.join("bin2/vllm"));
    }

    #[test]
    fn the_command_asks_for_the_bench_schedule_at_the_rate() {
        let pace = super::super::open_loop::pace();
        let a = args(
            "http://127.0.0.1:9",
            pace,
            Path::new("/t"),
            1000.0,
            20000,
            Path::new("/d"),
        );
        let joined = a.join(" ");
        assert!(joined.starts_with("bench serve --backend openai-chat"));
        assert!(joined.contains("--request-rate 1000 "));
        assert!(joined.contains("--num-prompts 20000 "));
        assert!(joined.contains(&format!("--model {} ", pace.model_name())));
        assert!(joined.contains("--save-detailed"));
    }
}
