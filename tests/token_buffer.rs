//! The per-request token-timing buffer is sized for `max_tokens` while streaming and trimmed
//! when the request ends: a reply that stops early keeps no reserve (<= 8 bytes per token).

mod support;

use std::time::Duration;

use llm_inf_bench::config::{Framework, GenerationParams};
use llm_inf_bench::runners::{create_runner, ChatMessage, RunnerTimeouts};
use support::stream_server::{Schedule, Script, StreamServer};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn early_stop_keeps_at_most_8_bytes_per_stored_token() {
    let schedule = Schedule::new(Duration::ZERO, Duration::ZERO, 5);
    let (base, _server) = StreamServer::start(Script::streaming(schedule)).await;
    let timeouts = RunnerTimeouts::for_framework(Framework::Vllm);
    let runner = create_runner(Framework::Vllm, &base, "test-model", timeouts, 4).unwrap();
    let params = GenerationParams {
        max_tokens: 1024,
        temperature: 0.0,
        ignore_eos: false,
    };
    let msgs = [ChatMessage::new("user", "hi")];
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        runner.chat(&msgs, &params, false, &CancellationToken::new()),
    )
    .await
    .expect("chat hung");
    assert_eq!(out.error, None);
    let offsets = &out.timings.token_offsets_us;
    assert_eq!(offsets.len(), 5);
    let bytes = offsets.capacity() * std::mem::size_of::<u32>();
    assert!(
        bytes <= 8 * offsets.len(),
        "{bytes} bytes kept for {} token timings",
        offsets.len()
    );
}
