//! The shared client's gate against a local HTTP server: calls in flight are bounded, a 429
//! pauses every call for its `Retry-After`, creates are spaced. Timing checks are lower bounds
//! only (never "faster than").

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use tokio::sync::Notify;

use super::*;
use crate::providers::runpod::model::{Cloud, CreateGpu};

struct Server {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    arrived: Notify,
    released: tokio::sync::Semaphore,
    /// (path, arrival) of every call.
    log: Mutex<Vec<(String, Instant)>>,
    /// Answer the first call to this path with 429 `Retry-After: 0.3`.
    limit_path: Mutex<Option<String>>,
    hold: std::sync::atomic::AtomicBool,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            arrived: Notify::new(),
            released: tokio::sync::Semaphore::new(0),
            log: Mutex::new(Vec::new()),
            limit_path: Mutex::new(None),
            hold: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

async fn start(server: Arc<Server>) -> RunpodClient {
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let s = Arc::clone(&server);
        async move {
            let path = uri.path().to_string();
            s.log.lock().unwrap().push((path.clone(), Instant::now()));
            if s.limit_path
                .lock()
                .unwrap()
                .take_if(|p| *p == path)
                .is_some()
            {
                s.arrived.notify_one();
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "0.3")],
                    "slow down",
                )
                    .into_response();
            }
            let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            s.max_in_flight.fetch_max(now, Ordering::SeqCst);
            s.arrived.notify_one();
            if s.hold.load(Ordering::SeqCst) {
                let _ = s.released.acquire().await.map(|p| p.forget());
            }
            s.in_flight.fetch_sub(1, Ordering::SeqCst);
            let id = path.rsplit('/').next().unwrap_or_default().to_string();
            axum::Json(serde_json::json!({"id": id, "name": "n", "status": "RUNNING"}))
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut settings = RunpodSettings::new("rpa_TEST");
    settings.api_url = url;
    settings.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
    };
    RunpodClient::new(&settings).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_never_exceed_the_limit() {
    let server = Arc::new(Server::default());
    server.hold.store(true, Ordering::SeqCst);
    let client = start(Arc::clone(&server)).await;
    let calls: Vec<_> = (0..10)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move { c.get_pod(&format!("p{i}")).await })
        })
        .collect();
    while server.in_flight.load(Ordering::SeqCst) < MAX_CONCURRENT_CALLS {
        server.arrived.notified().await;
    }
    // The limit is reached and the other calls wait for a permit, not at the server.
    assert_eq!(client.gate.calls.available_permits(), 0);
    server.released.add_permits(10);
    for c in calls {
        c.await.unwrap().unwrap();
    }
    assert_eq!(server.log.lock().unwrap().len(), 10);
    assert_eq!(
        server.max_in_flight.load(Ordering::SeqCst),
        MAX_CONCURRENT_CALLS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_pauses_every_call_of_the_shared_client() {
    let server = Arc::new(Server::default());
    *server.limit_path.lock().unwrap() = Some("/v2/pods/a".into());
    let client = start(Arc::clone(&server)).await;
    let c = client.clone();
    let first = tokio::spawn(async move { c.get_pod("a").await });
    server.arrived.notified().await;
    let t429 = server.log.lock().unwrap()[0].1;
    // Once the client has read the 429 (its pause is set) …
    for spins in 0.. {
        if client.gate.paused_until().is_some() {
            break;
        }
        assert!(spins < 10_000_000, "the 429 never paused the client");
        tokio::task::yield_now().await;
    }
    // … another call of the shared client, started after the 429, waits out the same pause.
    client.get_pod("b").await.unwrap();
    assert_eq!(first.await.unwrap().unwrap().id, "a");
    let log = server.log.lock().unwrap().clone();
    assert_eq!(log.len(), 3, "a (429), a again, b");
    for (path, at) in &log[1..] {
        assert!(
            *at - t429 >= Duration::from_millis(250),
            "{path} sent {:?} after the 429",
            *at - t429
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_are_spaced() {
    let server = Arc::new(Server::default());
    let client = start(Arc::clone(&server)).await;
    let request = || CreatePodRequest {
        name: "n".into(),
        image: "i".into(),
        args: None,
        gpu: CreateGpu {
            id: "NVIDIA L4".into(),
            count: 1,
        },
        cloud: Cloud::Secure,
        disk: 10,
        ports: vec![],
        env: Default::default(),
    };
    let cancel = CancellationToken::new();
    let (r1, r2, other) = (request(), request(), client.clone());
    let (a, b) = tokio::join!(
        client.create_pod(&r1, &cancel),
        other.create_pod(&r2, &cancel)
    );
    a.unwrap();
    b.unwrap();
    let log = server.log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    // Spacing: CREATE_SPACING × base delay (100 ms) = 200 ms.
    assert!(log[1].1 - log[0].1 >= Duration::from_millis(150));
    // A create cancelled while it waits for its slot is never sent.
    cancel.cancel();
    let late = client.create_pod(&request(), &cancel).await;
    assert!(matches!(late, Err(RunpodError::Cancelled)), "{late:?}");
    assert_eq!(server.log.lock().unwrap().len(), 2);
}
