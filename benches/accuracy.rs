//! How far the runner's measurements are from the truth: a scripted server streams a known
//! schedule (TTFT 80 ms, ITL 15 ms, 32 tokens) and we print measured p50 minus scripted value
//! at concurrency 1, 32 and 256. Run with `cargo bench --bench accuracy`.
//!
//! The server runs on its own runtime thread so its work does not share the client's workers.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use llm_inf_bench::config::{Framework, GenerationParams};
use llm_inf_bench::runners::{create_runner, ChatMessage, RunnerTimeouts};
use support::stream_server::{Schedule, Script, StreamServer};
use tokio_util::sync::CancellationToken;

const TTFT_MS: f64 = 80.0;
const ITL_MS: f64 = 15.0;
const TOKENS: usize = 32;

fn start_server(ttft_ms: f64, itl_ms: f64) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let schedule = Schedule::new(
                Duration::from_secs_f64(ttft_ms / 1000.0),
                Duration::from_secs_f64(itl_ms / 1000.0),
                TOKENS,
            );
            let (base, _handle) = StreamServer::start(Script::streaming(schedule)).await;
            tx.send(base).expect("send base url");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("server started")
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn measure(base: &str, concurrency: usize, rounds: usize, truth: (f64, f64)) {
    let (truth_ttft, truth_itl) = truth;
    let timeouts = RunnerTimeouts::for_framework(Framework::Vllm);
    let runner =
        create_runner(Framework::Vllm, base, "test-model", timeouts, concurrency).expect("runner");
    let params = GenerationParams {
        max_tokens: TOKENS as u32,
        temperature: 0.0,
        ignore_eos: true,
    };
    let (mut ttft, mut tbt, mut e2e) = (Vec::new(), Vec::new(), Vec::new());
    let mut failed = 0;
    // One warm-up round opens the pooled connections.
    for round in 0..=rounds {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (runner, params) = (runner.clone(), params.clone());
            set.spawn(async move {
                let msgs = [ChatMessage::new("user", "hello")];
                runner
                    .chat(&msgs, &params, false, &CancellationToken::new())
                    .await
            });
        }
        while let Some(out) = set.join_next().await {
            let out = out.expect("task");
            if round == 0 {
                continue;
            }
            if out.error.is_some() {
                failed += 1;
                continue;
            }
            ttft.extend(out.timings.ttft_ms());
            tbt.extend(out.timings.inter_token_ms());
            e2e.push(out.timings.e2e_ms());
        }
    }
    let truth_e2e = truth_ttft + truth_itl * (TOKENS - 1) as f64;
    println!(
        "{concurrency:>5} {:>9} {:>7} {:>+12.3} {:>+12.3} {:>+12.3}",
        e2e.len(),
        failed,
        p50(ttft) - truth_ttft,
        p50(tbt) - truth_itl,
        p50(e2e) - truth_e2e,
    );
}

fn main() {
    let base = start_server(TTFT_MS, ITL_MS);
    // Same stream with no delays: what the loopback round trip alone costs, so the rest of
    // the delta above can be told apart (the server's 1 ms timer granularity).
    let instant = start_server(0.0, 0.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    println!(
        "truth: TTFT {TTFT_MS} ms, ITL {ITL_MS} ms, {TOKENS} tokens (p50 measured - truth, ms)"
    );
    println!(" conc  requests  failed    TTFT delta    TBT delta    E2E delta");
    rt.block_on(async {
        for (concurrency, rounds) in [(1, 20), (32, 4), (256, 2)] {
            measure(&base, concurrency, rounds, (TTFT_MS, ITL_MS)).await;
        }
        println!("baseline with no scripted delays (truth 0):");
        measure(&instant, 1, 20, (0.0, 0.0)).await;
    });
}
