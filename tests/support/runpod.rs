//! A fake RunPod REST v2 API for tests: axum on 127.0.0.1:0, pods in memory, every call
//! recorded, scripted failures. Also (`schema`): a CreatePodRequest schema check against the
//! real OpenAPI document.

pub mod schema;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Notify;

use llm_inf_bench::providers::runpod::{RetryPolicy, RunpodSettings};

/// What the next `POST /v2/pods` does.
#[derive(Debug, Clone)]
pub enum CreateScript {
    Created,
    NoCapacity,
    Unauthorized,
    NoBalance,
    Forbidden,
    Invalid,
    RateLimited {
        retry_after: &'static str,
    },
    /// 500 and no pod.
    ServerError,
    /// 500 but the pod exists (and bills).
    ServerErrorAfterCreate,
    /// Signal `create_seen`, wait for `release`, then create.
    HangThenCreate,
}

/// How a pod's status evolves with each `GET /v2/pods/{id}`.
#[derive(Debug, Clone, Copy)]
pub enum Lifecycle {
    RunningAfter(u32),
    /// RUNNING (after its first poll) only once at least this many pods have been alive at
    /// the same time: a test of parallel pods cannot pass by running them one by one.
    RunningOncePeak(usize),
    NeverRunning,
    ErrorAfter(u32),
}

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Option<Value>,
    pub auth: Option<String>,
}

#[derive(Debug, Clone)]
struct FakePod {
    id: String,
    request: Value,
    polls: u32,
    created_at: String,
}

#[derive(Debug)]
struct Inner {
    key: String,
    pods: BTreeMap<String, FakePod>,
    calls: Vec<Call>,
    create_script: VecDeque<CreateScript>,
    lifecycle: Lifecycle,
    terminate_fails: bool,
    /// DELETE waits for `release_terminate` before answering.
    terminate_hangs: bool,
    /// (pod id, status) for every `GET /v2/pods/{id}` answered, in order.
    served: Vec<(String, &'static str)>,
    /// Ids of every pod ever created (through the API or `add_pod`).
    created: Vec<String>,
    next_id: u32,
    /// Most pods alive (created, not terminated) at once.
    peak_alive: usize,
    /// Creates for a GPU id containing one of these answer "no instances available".
    no_capacity: Vec<String>,
}

#[derive(Clone)]
struct AppState {
    inner: Arc<Mutex<Inner>>,
    create_seen: Arc<Notify>,
    release: Arc<Notify>,
    delete_seen: Arc<Notify>,
    delete_release: Arc<Notify>,
    pod_created: Arc<Notify>,
}

pub struct FakeRunpod {
    pub url: String,
    state: AppState,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeRunpod {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeRunpod {
    pub async fn start(key: &str) -> Self {
        let state = AppState {
            inner: Arc::new(Mutex::new(Inner {
                key: key.to_string(),
                pods: BTreeMap::new(),
                calls: Vec::new(),
                create_script: VecDeque::new(),
                lifecycle: Lifecycle::RunningAfter(2),
                terminate_fails: false,
                terminate_hangs: false,
                served: Vec::new(),
                created: Vec::new(),
                next_id: 1,
                peak_alive: 0,
                no_capacity: Vec::new(),
            })),
            create_seen: Arc::new(Notify::new()),
            release: Arc::new(Notify::new()),
            delete_seen: Arc::new(Notify::new()),
            delete_release: Arc::new(Notify::new()),
            pod_created: Arc::new(Notify::new()),
        };
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, state, server }
    }

    /// Settings pointing at this fake, with millisecond retries.
    pub fn settings(&self, key: &str) -> RunpodSettings {
        let mut s = RunpodSettings::new(key);
        s.api_url = self.url.clone();
        s.proxy_url_template = "http://proxy.test/{pod_id}/{port}".into();
        s.retry = RetryPolicy::fast();
        s
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.state.inner.lock().unwrap())
    }

    pub fn script_create(&self, script: Vec<CreateScript>) {
        self.with(|i| i.create_script = script.into())
    }

    pub fn set_lifecycle(&self, l: Lifecycle) {
        self.with(|i| i.lifecycle = l)
    }

    /// Every create for a GPU whose id contains `gpu` answers 400 "no instances available".
    pub fn no_capacity_for(&self, gpu: &str) {
        self.with(|i| i.no_capacity.push(gpu.to_string()))
    }

    /// The most pods that were alive at the same time.
    pub fn peak_alive(&self) -> usize {
        self.with(|i| i.peak_alive)
    }

    pub fn fail_terminate(&self, fail: bool) {
        self.with(|i| i.terminate_fails = fail)
    }

    /// Make `DELETE /v2/pods/{id}` wait for `release_terminate` (signalling `terminate_seen`).
    pub fn hang_terminate(&self, hang: bool) {
        self.with(|i| i.terminate_hangs = hang)
    }

    /// Resolves once a hanging DELETE has arrived.
    pub async fn terminate_seen(&self) {
        self.state.delete_seen.notified().await
    }

    /// Let a hanging DELETE go on (answered as usual).
    pub fn release_terminate(&self) {
        self.state.delete_release.notify_one()
    }

    /// Statuses served by `GET /v2/pods/{id}` for `pod_id`, in order.
    pub fn served_statuses(&self, pod_id: &str) -> Vec<&'static str> {
        self.with(|i| {
            i.served
                .iter()
                .filter(|(id, _)| id == pod_id)
                .map(|(_, s)| *s)
                .collect()
        })
    }

    /// Resolves once a pod has been created through the API since the last call (at once if
    /// one already was).
    pub async fn pod_created(&self) {
        self.state.pod_created.notified().await
    }

    /// Ids of every pod ever created, in order.
    pub fn created_pods(&self) -> Vec<String> {
        self.with(|i| i.created.clone())
    }

    /// Put a pod on the "account" directly (not created through the client).
    pub fn add_pod(&self, name: &str) -> String {
        self.with(|i| {
            let id = format!("pod{:04}", i.next_id);
            i.next_id += 1;
            i.created.push(id.clone());
            let request =
                json!({"name": name, "image": "x", "gpu": {"id": "NVIDIA L4", "count": 1}});
            i.pods.insert(
                id.clone(),
                FakePod {
                    id: id.clone(),
                    request,
                    polls: 99,
                    created_at: now(),
                },
            );
            id
        })
    }

    pub fn calls(&self) -> Vec<Call> {
        self.with(|i| i.calls.clone())
    }

    pub fn calls_to(&self, method: &str, path_prefix: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.path.starts_with(path_prefix))
            .collect()
    }

    pub fn create_bodies(&self) -> Vec<Value> {
        self.calls_to("POST", "/v2/pods")
            .into_iter()
            .filter(|c| c.path == "/v2/pods")
            .filter_map(|c| c.body)
            .collect()
    }

    /// Ids of pods that exist (not terminated).
    pub fn live_pods(&self) -> Vec<String> {
        self.with(|i| i.pods.keys().cloned().collect())
    }

    /// Resolves once a `HangThenCreate` create request has arrived.
    pub async fn create_seen(&self) {
        self.state.create_seen.notified().await
    }

    /// Let a hanging create finish.
    pub fn release_create(&self) {
        self.state.release.notify_one()
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

fn problem(status: u16, title: &str, detail: &str, errors: Option<Vec<&str>>) -> Response {
    let mut body = json!({"title": title, "status": status, "detail": detail});
    if let Some(e) = errors {
        body["errors"] = json!(e);
    }
    let code = StatusCode::from_u16(status).unwrap();
    (
        code,
        [("content-type", "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn pod_json(p: &FakePod, status: &str) -> Value {
    let r = &p.request;
    let gpu = r
        .get("gpu")
        .cloned()
        .unwrap_or(json!({"id": "NVIDIA L4", "count": 1}));
    let count = gpu["count"].as_f64().unwrap_or(1.0);
    json!({
        "id": p.id, "name": r["name"], "image": r["image"], "args": r.get("args").cloned().unwrap_or(json!("")),
        "disk": r.get("disk").cloned().unwrap_or(json!(50)), "ports": r.get("ports").cloned().unwrap_or(json!([])),
        "env": r.get("env").cloned().unwrap_or(json!({})), "registry": null, "status": status,
        "actions": ["stop", "terminate"], "mounts": {}, "gpu": gpu,
        "cloud": r.get("cloud").cloned().unwrap_or(json!("SECURE")), "dataCenterId": "US-KS-2",
        "cudaVersion": "12.8", "ssh": {"proxy": null, "direct": null}, "template": null,
        "cost": if status == "RUNNING" { 1.25 * count } else { 0.0 }, "locked": false,
        "globalNetworking": {"enabled": false},
        "runtime": if status == "RUNNING" { json!({"uptime": 1}) } else { Value::Null },
        "createdAt": p.created_at, "startedAt": null,
    })
}

fn status_of(p: &FakePod, l: Lifecycle, peak: usize) -> &'static str {
    match l {
        Lifecycle::RunningAfter(n) if p.polls >= n => "RUNNING",
        Lifecycle::RunningOncePeak(n) if p.polls >= 1 && peak >= n => "RUNNING",
        Lifecycle::ErrorAfter(n) if p.polls >= n => "ERROR",
        _ if p.polls == 0 => "PROVISIONING",
        _ => "STARTING",
    }
}

async fn handle(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body_json: Option<Value> = serde_json::from_slice(&body).ok();
    let script = {
        let mut i = st.inner.lock().unwrap();
        i.calls.push(Call {
            method: method.to_string(),
            path: path.clone(),
            body: body_json.clone(),
            auth: auth.clone(),
        });
        if auth.as_deref() != Some(&format!("Bearer {}", i.key)) {
            return problem(401, "Unauthorized", "invalid bearer token", None);
        }
        if method == Method::POST && path == "/v2/pods" {
            let gpu = body_json
                .as_ref()
                .and_then(|b| b["gpu"]["id"].as_str())
                .unwrap_or_default();
            if i.no_capacity.iter().any(|g| gpu.contains(g.as_str())) {
                CreateScript::NoCapacity
            } else {
                i.create_script.pop_front().unwrap_or(CreateScript::Created)
            }
        } else {
            CreateScript::Created
        }
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["v2", "pods"]) => create(&st, script, body_json.unwrap_or(Value::Null)).await,
        ("GET", ["v2", "pods"]) => {
            let i = st.inner.lock().unwrap();
            let pods: Vec<Value> =
                i.pods.values().map(|p| pod_json(p, status_of(p, i.lifecycle, i.peak_alive))).collect();
            axum::Json(json!({ "pods": pods })).into_response()
        }
        ("GET", ["v2", "pods", id]) => {
            let mut guard = st.inner.lock().unwrap();
            let i = &mut *guard;
            let (l, peak) = (i.lifecycle, i.peak_alive);
            match i.pods.get_mut(*id) {
                Some(p) => {
                    let status = status_of(p, l, peak);
                    let v = pod_json(p, status);
                    p.polls += 1;
                    i.served.push((id.to_string(), status));
                    axum::Json(v).into_response()
                }
                None => problem(404, "Not Found", "pod not found", None),
            }
        }
        ("DELETE", ["v2", "pods", id]) => {
            let hang = st.inner.lock().unwrap().terminate_hangs;
            if hang {
                st.delete_seen.notify_one();
                st.delete_release.notified().await;
            }
            let mut i = st.inner.lock().unwrap();
            if i.terminate_fails {
                return problem(500, "Internal Server Error", "terminate failed upstream", None);
            }
            match i.pods.remove(*id) {
                Some(_) => StatusCode::NO_CONTENT.into_response(),
                None => problem(404, "Not Found", "pod not found", None),
            }
        }
        ("GET", ["v2", "catalog", "gpus"]) => axum::Json(json!({"gpus": [
            {"id": "NVIDIA A100 80GB PCIe", "name": "A100 PCIe", "pool": "AMPERE_80", "manufacturer": "NVIDIA",
             "memory": 80, "secure": true, "community": true,
             "price": {"secure": 1.5, "community": 1.1}, "maxCount": {"secure": 8, "community": 8}},
            {"id": "NVIDIA RTX PRO 6000", "name": "RTX PRO 6000", "pool": null, "manufacturer": "NVIDIA",
             "memory": 96, "secure": true, "community": false,
             "price": {"secure": 1.8, "community": 0.0}, "maxCount": {"secure": 8, "community": 0}}
        ]}))
        .into_response(),
        _ => problem(404, "Not Found", "no such route", None),
    }
}

async fn create(st: &AppState, script: CreateScript, body: Value) -> Response {
    let insert = |st: &AppState| {
        let mut i = st.inner.lock().unwrap();
        let id = format!("pod{:04}", i.next_id);
        i.next_id += 1;
        i.created.push(id.clone());
        let p = FakePod {
            id: id.clone(),
            request: body.clone(),
            polls: 0,
            created_at: now(),
        };
        let v = pod_json(&p, "PROVISIONING");
        i.pods.insert(id, p);
        i.peak_alive = i.peak_alive.max(i.pods.len());
        st.pod_created.notify_one();
        v
    };
    match script {
        CreateScript::Created => (StatusCode::CREATED, axum::Json(insert(st))).into_response(),
        CreateScript::HangThenCreate => {
            st.create_seen.notify_one();
            st.release.notified().await;
            (StatusCode::CREATED, axum::Json(insert(st))).into_response()
        }
        CreateScript::NoCapacity => problem(
            400,
            "Bad Request",
            "There are no longer any instances available with the requested specifications.",
            None,
        ),
        CreateScript::Unauthorized => problem(401, "Unauthorized", "invalid api key", None),
        CreateScript::NoBalance => problem(402, "Payment Required", "insufficient balance", None),
        CreateScript::Forbidden => problem(403, "Forbidden", "pool not accessible", None),
        CreateScript::Invalid => problem(
            422,
            "Unprocessable Entity",
            "Request validation failed.",
            Some(vec![
                "$.disk: must be >= 1",
                "$: additional properties 'bogus' not allowed",
            ]),
        ),
        CreateScript::RateLimited { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("retry-after", retry_after),
                ("content-type", "application/problem+json"),
            ],
            r#"{"title":"Too Many Requests","status":429,"detail":"slow down"}"#,
        )
            .into_response(),
        CreateScript::ServerError => problem(500, "Internal Server Error", "upstream failed", None),
        CreateScript::ServerErrorAfterCreate => {
            insert(st);
            problem(500, "Internal Server Error", "upstream failed", None)
        }
    }
}
