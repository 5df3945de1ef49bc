//! The metrics scraper against an in-process `/metrics` server that misbehaves on cue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use llm_inf_bench::metrics::server_metrics::{summarize, MetricsDialect};
use llm_inf_bench::runners::scrape::{spawn_scraper, spawn_scraper_with, ScrapeOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Guards against a hung test only; nothing asserts on elapsed time.
const GUARD: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
enum Reply {
    Body(String),
    Status(u16),
    /// Never answers; reports its arrival.
    Hang,
}

struct Script {
    replies: Vec<Reply>,
    hits: AtomicUsize,
    hung: mpsc::UnboundedSender<usize>,
}

async fn metrics(State(script): State<Arc<Script>>) -> Response {
    let i = script.hits.fetch_add(1, Ordering::SeqCst);
    let reply = script
        .replies
        .get(i)
        .or(script.replies.last())
        .cloned()
        .unwrap_or(Reply::Status(404));
    match reply {
        Reply::Body(body) => body.into_response(),
        Reply::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Reply::Hang => {
            let _ = script.hung.send(i);
            std::future::pending::<Response>().await
        }
    }
}

/// Serves `replies` in order (the last one repeats); returns the base URL and a receiver told
/// whenever a hanging reply starts.
async fn serve(replies: Vec<Reply>) -> (String, mpsc::UnboundedReceiver<usize>) {
    let (hung, hung_rx) = mpsc::unbounded_channel();
    let script = Arc::new(Script {
        replies,
        hits: AtomicUsize::new(0),
        hung,
    });
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hung_rx)
}

fn vllm_body(running: u32, generated: u32) -> Reply {
    Reply::Body(format!(
        "# TYPE vllm:num_requests_running gauge\n\
         vllm:num_requests_running{{engine=\"0\",model_name=\"m\"}} {running}.0\n\
         # TYPE vllm:generation_tokens_total counter\n\
         vllm:generation_tokens_total{{engine=\"0\",model_name=\"m\"}} {generated}.0\n\
         vllm:generation_tokens_created{{engine=\"0\",model_name=\"m\"}} 1.7e+09\n"
    ))
}

fn fast(timeout: Duration) -> ScrapeOptions {
    ScrapeOptions {
        timeout,
        ..ScrapeOptions::new(Duration::from_millis(10))
    }
}

#[tokio::test]
async fn records_samples_and_errors_and_stops_while_a_scrape_hangs() {
    let (url, mut hung) = serve(vec![
        vllm_body(1, 0),
        Reply::Status(500),
        vllm_body(2, 10),
        Reply::Body("<html>not metrics</html>\n\u{0}\u{fffd}garbage {{{ 1 2 3".into()),
        vllm_body(3, 30),
        Reply::Hang,
    ])
    .await;
    // A long deadline: if stop() waited for the hanging scrape, the guard would trip.
    let handle = spawn_scraper_with(
        &url,
        MetricsDialect::Vllm,
        fast(Duration::from_secs(120)),
        CancellationToken::new(),
    );
    tokio::time::timeout(GUARD, hung.recv()).await.unwrap();
    let metrics = tokio::time::timeout(GUARD, handle.stop()).await.unwrap();

    assert_eq!(metrics.framework, "vllm");
    assert_eq!(metrics.sample_interval_ms, 10);
    // The abandoned scrape is neither a sample nor an error.
    assert_eq!(metrics.total_scrapes, 5);
    assert_eq!(metrics.scrape_errors, 2);
    let running: Vec<_> = metrics
        .time_series
        .iter()
        .map(|s| s.active_requests)
        .collect();
    assert_eq!(running, vec![Some(1.0), Some(2.0), Some(3.0)]);
    let ts: Vec<f64> = metrics.time_series.iter().map(|s| s.timestamp).collect();
    assert!(ts[0] >= 0.0 && ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
    let throughput: Vec<_> = metrics
        .time_series
        .iter()
        .map(|s| s.generation_throughput)
        .collect();
    assert_eq!(throughput[0], None);
    assert!(throughput[1].is_some_and(|t| t > 0.0));
    assert!(throughput[2].is_some_and(|t| t > 0.0));

    let summary = summarize(MetricsDialect::Vllm, &metrics);
    assert_eq!((summary.total_samples, summary.scrape_errors), (3, 2));
    assert_eq!(summary.active_requests_peak, Some(3.0));
    assert_eq!(summary.active_requests_mean, Some(2.0));
    assert!(summary.generation_throughput.is_some_and(|t| t > 0.0));
}

#[tokio::test]
async fn a_hanging_scrape_times_out_as_an_error_and_scraping_goes_on() {
    let (url, _hung) = serve(vec![Reply::Hang]).await;
    let handle = spawn_scraper_with(
        &url,
        MetricsDialect::Sglang,
        fast(Duration::from_millis(50)),
        CancellationToken::new(),
    );
    let mut status = handle.status();
    tokio::time::timeout(GUARD, status.wait_for(|s| s.scrape_errors >= 3))
        .await
        .unwrap()
        .unwrap();
    let metrics = handle.stop().await;
    assert_eq!(metrics.framework, "sglang");
    assert!(metrics.time_series.is_empty());
    assert!(metrics.scrape_errors >= 3);
    assert_eq!(metrics.total_scrapes, metrics.scrape_errors);
}

#[tokio::test]
async fn refused_connections_oversized_and_wrong_bodies_count_as_errors() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let (big, _h1) = serve(vec![Reply::Body(format!(
        "vllm:num_requests_running 1\n{}",
        "x 1\n".repeat(1000)
    ))])
    .await;
    // A valid SGLang body read as vLLM carries none of vLLM's metrics.
    let (wrong, _h2) = serve(vec![Reply::Body(
        "sglang:num_running_reqs{model_name=\"m\"} 4\n".into(),
    )])
    .await;
    let tight = ScrapeOptions {
        max_body_bytes: 1024,
        ..fast(Duration::from_secs(5))
    };
    for (url, options) in [
        (closed, fast(Duration::from_secs(5))),
        (big, tight),
        (wrong, tight),
    ] {
        let handle = spawn_scraper_with(
            &url,
            MetricsDialect::Vllm,
            options,
            CancellationToken::new(),
        );
        let mut status = handle.status();
        tokio::time::timeout(GUARD, status.wait_for(|s| s.scrape_errors >= 2))
            .await
            .unwrap()
            .unwrap();
        let metrics = handle.stop().await;
        assert!(metrics.time_series.is_empty(), "{url}");
        assert_eq!(metrics.total_scrapes, metrics.scrape_errors, "{url}");
    }
}

#[tokio::test]
async fn the_callers_token_stops_it_and_status_shows_the_latest_sample() {
    let (url, _hung) = serve(vec![vllm_body(1, 5), vllm_body(2, 6), vllm_body(4, 9)]).await;
    let run = CancellationToken::new();
    let handle = spawn_scraper(
        &format!("{url}/"),
        MetricsDialect::Vllm,
        Duration::from_millis(10),
        run.clone(),
    );
    let mut status = handle.status();
    let latest = tokio::time::timeout(GUARD, status.wait_for(|s| s.total_scrapes >= 4))
        .await
        .unwrap()
        .unwrap()
        .latest
        .clone()
        .unwrap();
    assert_eq!(latest.active_requests, Some(4.0));
    run.cancel();
    // The task ends on its own: the status sender is dropped.
    tokio::time::timeout(GUARD, async { while status.changed().await.is_ok() {} })
        .await
        .unwrap();
    let metrics = handle.stop().await;
    assert!(metrics.time_series.len() >= 4);
    assert_eq!(metrics.scrape_errors, 0);
    assert_eq!(metrics.total_scrapes, metrics.time_series.len());
    assert_eq!(metrics.time_series[0].generation_tokens_total, Some(5.0));
}
