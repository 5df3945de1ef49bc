//! Proof of concept: stream one chat completion and print each token's arrival offset.
//!
//!   cargo run --example stream_chat -- http://127.0.0.1:8000 sim-model "Tell me a joke"
//!
//! Raw reqwest + eventsource-stream, independent of the framework's runner, so its numbers can
//! be compared with what `llm-inf-bench run` reports.

use std::time::Instant;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(model)) = (args.first(), args.get(1)) else {
        eprintln!("usage: stream_chat <server-url> <model> [prompt]");
        std::process::exit(2);
    };
    let prompt = args
        .get(2)
        .map(String::as_str)
        .unwrap_or("Say hello in five words.");
    let body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 64,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let client = reqwest::Client::new();
    let sent = Instant::now();
    let resp = match client
        .post(format!("{}/v1/chat/completions", url.trim_end_matches('/')))
        .json(&body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("request failed: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "HTTP {} after {:.1} ms",
        resp.status(),
        sent.elapsed().as_secs_f64() * 1e3
    );
    let mut events = resp.bytes_stream().eventsource();
    while let Some(event) = events.next().await {
        let at = sent.elapsed().as_secs_f64() * 1e3;
        let Ok(event) = event else {
            println!("{at:9.2} ms  stream error");
            break;
        };
        if event.data == "[DONE]" {
            println!("{at:9.2} ms  [DONE]");
            break;
        }
        let chunk: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
        let delta = &chunk["choices"][0]["delta"];
        let text = delta["content"]
            .as_str()
            .or_else(|| delta["reasoning_content"].as_str())
            .unwrap_or("");
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            println!("{at:9.2} ms  usage {usage}");
        } else {
            println!("{at:9.2} ms  {text:?}");
        }
    }
}
