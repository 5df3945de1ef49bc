//! Start-up time of the binary: `--help` and a `run --dry-run` of a small simulated config.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Startup {
    pub help_ms_median: f64,
    pub help_ms_min: f64,
    pub dry_run_ms_median: f64,
    pub dry_run_ms_min: f64,
}

const CONFIG: &str = "name: bench-dry-run\nmodel:\n  name: m\nframework: vllm\n\
infrastructure:\n  provider: simulated\nworkload:\n  type: concurrent\n  concurrency: 8\n  \
requests:\n    source: prompts.jsonl\n    count: 100\n  parameters:\n    max_tokens: 64\n";

const PROMPTS: &str = "{\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}\n";

/// Median and best of `runs` launches of `exe` with `args`; fails if any launch fails.
fn time_runs(exe: &Path, args: &[&str], home: &Path, runs: usize) -> Result<(f64, f64), String> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        let status = Command::new(exe)
            .args(args)
            .env("LLM_INF_BENCH_HOME", home)
            .current_dir(home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        times.push(t0.elapsed());
        if !status.success() {
            return Err(format!("`{}` exited with {status}", args.join(" ")));
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok((ms(times[times.len() / 2]), ms(times[0])))
}

pub fn measure(exe: &Path, runs: usize) -> Result<Startup, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).map_err(|e| format!("cannot write {name}: {e}"))
    };
    write("bench.yaml", CONFIG)?;
    write("prompts.jsonl", PROMPTS)?;
    let (help_med, help_min) = time_runs(exe, &["--help"], dir.path(), runs)?;
    let (dry_med, dry_min) = time_runs(exe, &["run", "--dry-run", "bench.yaml"], dir.path(), runs)?;
    Ok(Startup {
        help_ms_median: help_med,
        help_ms_min: help_min,
        dry_run_ms_median: dry_med,
        dry_run_ms_min: dry_min,
    })
}
