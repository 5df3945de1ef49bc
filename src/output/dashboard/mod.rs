//! `llm-inf-bench dashboard`: one page, a JSON API and a WebSocket, served by axum on
//! 127.0.0.1. Routes and message shapes are the Python tool's (`GET /api/configs`, …, `WS /ws`),
//! with extra fields where ours has more. Every request passes [`security::guard`].

pub mod files;
pub mod live;
pub mod runs;
pub mod security;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use self::live::Hub;
use self::runs::{ProviderFactory, StartRequest};
use crate::output::page::{self, data::ChartData};

/// What the server needs; the CLI fills it.
pub struct DashboardConfig {
    pub results_dir: PathBuf,
    pub experiments_dir: PathBuf,
    pub token: String,
    pub factory: ProviderFactory,
}

#[derive(Clone)]
pub struct AppState {
    results_dir: Arc<PathBuf>,
    experiments_dir: Arc<PathBuf>,
    pub hub: Arc<Hub>,
}

/// The router with every route behind the security guard. Needs a Tokio runtime (the run
/// worker is spawned).
pub fn router(cfg: DashboardConfig) -> (Router, AppState) {
    let state = AppState {
        results_dir: Arc::new(cfg.results_dir.clone()),
        experiments_dir: Arc::new(cfg.experiments_dir),
        hub: Hub::new(cfg.results_dir, cfg.factory),
    };
    let token = Arc::new(cfg.token);
    let app = Router::new()
        .route("/", get(index))
        .route("/api/configs", get(configs))
        .route("/api/configs/preview", get(preview))
        .route("/api/results", get(results))
        .route("/api/results/{run_id}", get(result))
        .route("/api/status", get(status))
        .route("/api/runs", post(start_run))
        .route("/api/runs/{run_id}/stop", post(stop_run))
        .route("/ws", get(ws))
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(token, security::guard));
    (app, state)
}

async fn index() -> Response {
    let html = page::render(page::Mode::Dashboard, "llm-inf-bench dashboard", None);
    ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": format!("{what} not found")})),
    )
        .into_response()
}

async fn configs(State(s): State<AppState>) -> Json<Vec<Value>> {
    Json(files::list_configs(&s.experiments_dir))
}

#[derive(Deserialize)]
struct PathQuery {
    path: String,
}

async fn preview(State(s): State<AppState>, Query(q): Query<PathQuery>) -> Response {
    let Some(path) = files::resolve_config(&s.experiments_dir, &q.path) else {
        return not_found("config");
    };
    match tokio::task::spawn_blocking(move || runs::preview(&path)).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(error)) => {
            (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn results(State(s): State<AppState>) -> Response {
    let dir = Arc::clone(&s.results_dir);
    match tokio::task::spawn_blocking(move || files::list_results(&dir)).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

/// The whole result file plus `chart`: the columns the page draws.
async fn result(State(s): State<AppState>, UrlPath(id): UrlPath<String>) -> Response {
    let Some(path) = files::resolve_result(&s.results_dir, &id) else {
        return not_found("result");
    };
    let loaded = tokio::task::spawn_blocking(move || {
        let r = crate::results::storage::load_result(&path).map_err(|e| e.to_string())?;
        let chart = ChartData::from_result(&r);
        let mut v = serde_json::to_value(&r).map_err(|e| e.to_string())?;
        v["chart"] = serde_json::to_value(chart).map_err(|e| e.to_string())?;
        v["id"] = json!(id);
        Ok::<Value, String>(v)
    })
    .await;
    match loaded {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(error)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": error })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn status(State(s): State<AppState>) -> Json<Value> {
    Json(s.hub.status())
}

#[derive(Debug, Deserialize)]
struct StartBody {
    config_path: String,
    #[serde(default)]
    server_url: Option<String>,
    #[serde(default)]
    run_name: Option<String>,
    #[serde(default)]
    confirm: bool,
}

/// `start_experiment` → a queued run, or why not.
fn start(s: &AppState, body: StartBody) -> Result<Value, (StatusCode, Value)> {
    let Some(path) = files::resolve_config(&s.experiments_dir, &body.config_path) else {
        return Err((
            StatusCode::NOT_FOUND,
            json!({"type": "error", "message": format!("config not found: {}", body.config_path)}),
        ));
    };
    let blank = |o: Option<String>| o.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let req = StartRequest {
        config_path: path,
        config_label: body.config_path,
        server_url: blank(body.server_url),
        run_name: blank(body.run_name),
        confirm: body.confirm,
    };
    s.hub.start(req).map_err(|e| {
        let code = if e["type"] == "confirm_required" {
            StatusCode::CONFLICT
        } else {
            StatusCode::BAD_REQUEST
        };
        (code, e)
    })
}

async fn start_run(State(s): State<AppState>, Json(body): Json<StartBody>) -> Response {
    let state = s.clone();
    match tokio::task::spawn_blocking(move || start(&state, body)).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err((code, v))) => (code, Json(v)).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn stop_run(State(s): State<AppState>, UrlPath(id): UrlPath<String>) -> Response {
    match s.hub.stop(&id) {
        Ok(v) => Json(v).into_response(),
        Err(v) => (StatusCode::NOT_FOUND, Json(v)).into_response(),
    }
}

async fn ws(State(s): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| session(s, socket))
}

/// One tab: replay of the active run, then live messages; commands from the page.
async fn session(s: AppState, mut socket: WebSocket) {
    use std::sync::atomic::Ordering;
    s.hub.clients.fetch_add(1, Ordering::Relaxed);
    let (replay, mut rx) = s.hub.subscribe();
    let hello = json!({"type": "hello", "status": s.hub.status()}).to_string();
    let mut ok = socket.send(Message::Text(hello.into())).await.is_ok();
    for text in replay {
        if !ok {
            break;
        }
        ok = socket.send(Message::Text(text.into())).await.is_ok();
    }
    if ok {
        let done = json!({"type": "replay_done"}).to_string();
        ok = socket.send(Message::Text(done.into())).await.is_ok();
    }
    while ok {
        tokio::select! {
            msg = rx.recv() => match msg {
                Ok(text) => ok = socket.send(Message::Text(text.into())).await.is_ok(),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let warn = json!({"type": "log", "level": "warning", "message": format!("{n} live messages skipped (slow tab); reload to redraw"), "timestamp": chrono::Utc::now().to_rfc3339()});
                    ok = socket.send(Message::Text(warn.to_string().into())).await.is_ok();
                }
                Err(_) => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let reply = command(&s, &text).await;
                    ok = socket.send(Message::Text(reply.to_string().into())).await.is_ok();
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    s.hub.clients.fetch_sub(1, Ordering::Relaxed);
}

/// `start_experiment` / `stop_experiment` from the page; the reply goes to that tab only
/// (every tab hears the run itself).
async fn command(s: &AppState, text: &str) -> Value {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return json!({"type": "error", "message": "not JSON"});
    };
    match v["type"].as_str() {
        Some("start_experiment") => {
            let Ok(body) = serde_json::from_value::<StartBody>(v.clone()) else {
                return json!({"type": "error", "message": "start_experiment needs config_path"});
            };
            let state = s.clone();
            match tokio::task::spawn_blocking(move || start(&state, body)).await {
                Ok(Ok(v)) => v,
                Ok(Err((_, v))) => v,
                Err(e) => json!({"type": "error", "message": e.to_string()}),
            }
        }
        Some("stop_experiment") => match v["run_id"].as_str() {
            Some(id) => s.hub.stop(id).unwrap_or_else(|e| e),
            None => json!({"type": "error", "message": "stop_experiment needs run_id"}),
        },
        Some("ping") => json!({"type": "pong"}),
        _ => json!({"type": "error", "message": "unknown command"}),
    }
}
