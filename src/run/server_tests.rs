//! The load phase waits for health only when no provider already did (one owner per server).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::{example::runpod_experiment, Framework};

const MODEL: &str = "meta-llama/Meta-Llama-3-8B-Instruct";

/// A server answering `/health` (counted) and listing `MODEL`; its base URL and the count.
async fn counting_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new()
        .route(
            "/health",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { "ok" }
            }),
        )
        .route(
            "/v1/models",
            get(|| async { axum::Json(serde_json::json!({"data": [{"id": MODEL}]})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, hits)
}

fn plan() -> ServerPlan {
    ServerPlan {
        experiment: runpod_experiment(Framework::Vllm),
        server_url: None,
        keep_server: false,
        health_timeout: Duration::from_secs(30),
        max_concurrency: 1,
    }
}

async fn health_checks_by_load(healthy: bool) -> usize {
    let (base_url, hits) = counting_server().await;
    let handle = ServerHandle {
        base_url,
        healthy,
        ..ServerHandle::default()
    };
    let cancel = CancellationToken::new();
    load(&plan(), &handle, &EventSink::discard(), &cancel)
        .await
        .expect("loaded");
    hits.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_server_the_provider_saw_healthy_is_not_waited_for_again() {
    assert_eq!(health_checks_by_load(true).await, 0);
}

#[tokio::test]
async fn any_other_server_is_health_checked_by_the_load_phase() {
    assert!(health_checks_by_load(false).await >= 1);
}
