//! The load benchmark behind the hidden `bench` command: is the client ever the bottleneck?
//!
//! A lean server with an exactly known schedule (`server`) runs in a child process; the real
//! client (runner + workload engine, as `run` uses them) and a lean reference client
//! (`lean`) run against it. Sections: accuracy (measured − truth at several concurrencies),
//! ceiling (chunks/s ingested when whole responses arrive in one write), memory (RSS per
//! in-flight stream, bytes per stored token timing) and start-up time.

pub mod lean;
pub mod measure;
pub mod open_loop;
pub mod server;
pub mod startup;
pub mod vllm_serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::AsyncBufReadExt;

pub use measure::ClientStats;
pub use server::{Lateness, Pace};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The binary to start the server from (and to time start-up of).
    pub exe: PathBuf,
    /// Fewer requests per test (a rough look in a fraction of the time).
    pub quick: bool,
    pub accuracy: bool,
    pub ceiling: bool,
    pub memory: bool,
    pub startup: bool,
    pub open_loop: bool,
}

/// One accuracy test: a schedule at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyRow {
    pub concurrency: usize,
    pub ttft_ms: f64,
    pub itl_ms: f64,
    pub tokens: u32,
    /// Steady-state tokens/s if every stream kept to the schedule.
    pub ideal_tokens_per_s: f64,
    pub loadavg: Option<f64>,
    pub client: ClientStats,
    pub server: Lateness,
    pub lean: ClientStats,
    pub lean_server: Lateness,
}

#[derive(Debug, Clone, Serialize)]
pub struct CeilingRow {
    pub streams: usize,
    pub tokens_per_response: u32,
    pub loadavg: Option<f64>,
    pub client: ClientStats,
    pub lean: ClientStats,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryRow {
    pub streams: usize,
    /// `max_tokens` of each request, and the tokens each reply had before it stopped.
    pub max_tokens: u32,
    pub reply_tokens: u32,
    pub bytes_per_stream: f64,
    pub bytes_per_token_timing: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BenchReport {
    pub cores: usize,
    pub nofile_limit: Option<u64>,
    pub accuracy: Vec<AccuracyRow>,
    pub ceiling: Option<CeilingRow>,
    pub memory: Option<MemoryRow>,
    pub startup: Option<startup::Startup>,
    pub open_loop: Vec<open_loop::OpenLoopRow>,
    /// `vllm bench serve` at the open-loop rates against the same server, when installed.
    pub vllm_serve: Vec<vllm_serve::VllmRow>,
    /// Why `vllm bench serve` did not run (not installed, no tokenizer).
    pub vllm_skipped: Option<String>,
    /// Sections that could not run, with the reason.
    pub errors: Vec<String>,
}

/// The bench server child process; killed when dropped.
struct ServerProcess {
    _child: tokio::process::Child,
    addr: SocketAddr,
    base: String,
    stats: reqwest::Client,
}

impl ServerProcess {
    async fn start(exe: &PathBuf) -> Result<Self, String> {
        let mut child = tokio::process::Command::new(exe)
            .args(["bench", "--serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the bench server ({}): {e}", exe.display()))?;
        let stdout = child.stdout.take().ok_or("bench server has no stdout")?;
        let mut line = String::new();
        tokio::io::BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .map_err(|e| format!("bench server did not start: {e}"))?;
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("bench server said {line:?} instead of its address"))?;
        Ok(Self {
            _child: child,
            addr,
            base: format!("http://{addr}"),
            stats: reqwest::Client::new(),
        })
    }

    /// The server's lateness since the last call (and reset it).
    async fn lateness(&self) -> Lateness {
        let got = self
            .stats
            .get(format!("{}/stats", self.base))
            .send()
            .await
            .ok();
        match got {
            Some(r) => r.json().await.unwrap_or_default(),
            None => Lateness::default(),
        }
    }
}

/// The 1-minute load average (how busy the machine was; numbers are noisy above ~1).
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// (concurrency, ttft ms, itl ms, tokens, requests, quick requests)
const ACCURACY: [(usize, u64, u64, u32, usize, usize); 3] = [
    (1, 80, 15, 32, 20, 8),
    (128, 80, 15, 32, 128 * 6, 128 * 2),
    (1024, 80, 50, 32, 1024 * 3, 1024),
];

async fn accuracy_row(
    srv: &ServerProcess,
    lean_pool: &mut Vec<tokio::net::TcpStream>,
    case: (usize, u64, u64, u32, usize, usize),
    quick: bool,
) -> Result<AccuracyRow, String> {
    let (concurrency, ttft, itl, tokens, full, short) = case;
    let total = if quick { short } else { full };
    let pace = Pace::Scheduled {
        ttft: Duration::from_millis(ttft),
        itl: Duration::from_millis(itl),
    };
    let loadavg = loadavg();
    let runner = measure::runner(&srv.base, pace, concurrency)?;
    // A warm-up round opens the pooled connections (as a long run amortises them).
    measure::real_client(&runner, tokens, concurrency, concurrency).await;
    srv.lateness().await;
    let (client, _) = measure::real_client(&runner, tokens, concurrency, total).await;
    let server = srv.lateness().await;
    drop(runner);
    lean_pool.clear();
    measure::lean_client(srv.addr, lean_pool, pace, tokens, concurrency, concurrency).await;
    srv.lateness().await;
    let lean = measure::lean_client(srv.addr, lean_pool, pace, tokens, concurrency, total).await;
    let lean_server = srv.lateness().await;
    lean_pool.clear();
    let e2e_ms = (ttft + itl * u64::from(tokens - 1)) as f64;
    Ok(AccuracyRow {
        concurrency,
        ttft_ms: ttft as f64,
        itl_ms: itl as f64,
        tokens,
        ideal_tokens_per_s: concurrency as f64 * f64::from(tokens) / (e2e_ms / 1000.0),
        loadavg,
        client,
        server,
        lean,
        lean_server,
    })
}

async fn ceiling_row(
    srv: &ServerProcess,
    lean_pool: &mut Vec<tokio::net::TcpStream>,
    quick: bool,
) -> Result<CeilingRow, String> {
    let (streams, tokens) = (64usize, 1024u32);
    let total = if quick { streams * 2 } else { streams * 10 };
    let loadavg = loadavg();
    let runner = measure::runner(&srv.base, Pace::Burst, streams)?;
    measure::real_client(&runner, tokens, streams, streams).await;
    let (client, _) = measure::real_client(&runner, tokens, streams, total).await;
    drop(runner);
    lean_pool.clear();
    measure::lean_client(srv.addr, lean_pool, Pace::Burst, tokens, streams, streams).await;
    let lean = measure::lean_client(srv.addr, lean_pool, Pace::Burst, tokens, streams, total).await;
    lean_pool.clear();
    srv.lateness().await;
    Ok(CeilingRow {
        streams,
        tokens_per_response: tokens,
        loadavg,
        client,
        lean,
    })
}

/// Run the chosen sections. Memory runs first, before other tests leave freed memory behind
/// that would hide what new streams cost.
pub async fn run(opts: &BenchOptions, nofile_limit: Option<u64>) -> BenchReport {
    let mut report = BenchReport {
        cores: measure::cores(),
        nofile_limit,
        ..BenchReport::default()
    };
    let srv = match ServerProcess::start(&opts.exe).await {
        Ok(s) => s,
        Err(e) => {
            report.errors.push(e);
            return report;
        }
    };
    let mut lean_pool = Vec::new();
    if opts.memory {
        memory_section(&srv, &mut report).await;
    }
    if opts.accuracy {
        accuracy_section(&srv, &mut lean_pool, opts.quick, &mut report).await;
    }
    if opts.ceiling {
        match ceiling_row(&srv, &mut lean_pool, opts.quick).await {
            Ok(row) => report.ceiling = Some(row),
            Err(e) => report.errors.push(format!("ceiling: {e}")),
        }
    }
    if opts.open_loop {
        open_loop_section(&srv, opts.quick, &mut report).await;
    }
    drop(srv);
    if opts.startup {
        startup_section(opts, &mut report).await;
    }
    report
}

/// RSS per in-flight stream.
async fn memory_section(srv: &ServerProcess, report: &mut BenchReport) {
    // 1024 streams even with --quick: what a stream costs shows at scale.
    let n = 1024;
    // Warm up: runtime threads, allocator arenas, the first connections.
    let _ = measure::memory_per_stream(&srv.base, 64, Duration::from_millis(200)).await;
    match measure::memory_per_stream(&srv.base, n, Duration::from_secs(2)).await {
        Ok((bytes, per_token)) => {
            report.memory = Some(MemoryRow {
                streams: n,
                max_tokens: measure::MEMORY_MAX_TOKENS,
                reply_tokens: measure::MEMORY_REPLY_TOKENS,
                bytes_per_stream: bytes,
                bytes_per_token_timing: per_token,
            })
        }
        Err(e) => report.errors.push(format!("memory: {e}")),
    }
    srv.lateness().await;
}

/// One accuracy row per `ACCURACY` case; fills in the memory section's bytes per token
/// timing when the memory run could not measure it.
async fn accuracy_section(
    srv: &ServerProcess,
    lean_pool: &mut Vec<tokio::net::TcpStream>,
    quick: bool,
    report: &mut BenchReport,
) {
    for case in ACCURACY {
        match accuracy_row(srv, lean_pool, case, quick).await {
            Ok(row) => report.accuracy.push(row),
            Err(e) => report.errors.push(format!("accuracy c={}: {e}", case.0)),
        }
    }
    let per_token = report
        .accuracy
        .iter()
        .find_map(|r| r.client.bytes_per_token_timing);
    if let (Some(m), Some(b)) = (report.memory.as_mut(), per_token) {
        m.bytes_per_token_timing.get_or_insert(b);
    }
}

/// Each open-loop rate under both pacer clocks, then `vllm bench serve` at the same rates.
async fn open_loop_section(srv: &ServerProcess, quick: bool, report: &mut BenchReport) {
    use crate::config::PacerClock;
    for (rate, full, short) in open_loop::OPEN_LOOP {
        let seconds = if quick { short } else { full };
        for clock in [PacerClock::Thread, PacerClock::Tokio] {
            match open_loop::row(srv, rate, seconds, clock).await {
                Ok(row) => report.open_loop.push(row),
                Err(e) => report.errors.push(format!("open loop {rate}/s: {e}")),
            }
        }
    }
    vllm_rows(srv, quick, report).await;
}

/// Start-up time of `--help` and `run --dry-run` (after the server is gone).
async fn startup_section(opts: &BenchOptions, report: &mut BenchReport) {
    let exe = opts.exe.clone();
    let runs = if opts.quick { 5 } else { 21 };
    match tokio::task::spawn_blocking(move || startup::measure(&exe, runs)).await {
        Ok(Ok(s)) => report.startup = Some(s),
        Ok(Err(e)) => report.errors.push(format!("startup: {e}")),
        Err(e) => report.errors.push(format!("startup: {e}")),
    }
}

/// `vllm bench serve` at each open-loop rate, or why it cannot run.
async fn vllm_rows(srv: &ServerProcess, quick: bool, report: &mut BenchReport) {
    let (exe, tokenizer) = match vllm_serve::locate() {
        Ok(found) => found,
        Err(why) => {
            report.vllm_skipped = Some(why);
            return;
        }
    };
    for (rate, full, short) in open_loop::OPEN_LOOP {
        let seconds = if quick { short } else { full };
        match vllm_serve::row(srv, &exe, &tokenizer, rate, seconds).await {
            Ok(row) => report.vllm_serve.push(row),
            Err(e) => report
                .errors
                .push(format!("vllm bench serve {rate}/s: {e}")),
        }
    }
}

/// The server half (`bench --serve`): a listener on loopback; serve it with `server::serve`.
pub async fn bind_server() -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
