//! An in-process dashboard on 127.0.0.1:0 with its own configs and results folders, plus a
//! small WebSocket client. Shared by the API and browser tests.

pub mod webdriver;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use llm_inf_bench::output::dashboard::{self, DashboardConfig};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// Long enough for a simulated run on a loaded 2-core machine; only a hang reaches it.
const MSG_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Dash {
    pub addr: SocketAddr,
    pub token: String,
    pub root: tempfile::TempDir,
    pub results: PathBuf,
    client: reqwest::Client,
}

fn prompts() -> String {
    format!("{}/prompts/baseline.jsonl", env!("CARGO_MANIFEST_DIR"))
}

/// Configs the tests use: a quick simulated run, a slow one (to stop), a paid one, a broken one,
/// and a simulated sweep.
fn write_configs(dir: &std::path::Path, results: &std::path::Path) {
    let sim = |name: &str, count: u32, max_tokens: u32, extra: &str| {
        format!(
            "name: {name}\nmodel:\n  name: m\nframework: vllm\ninfrastructure:\n  provider: simulated\n  simulation:\n    seed: 1\n{extra}workload:\n  type: concurrent\n  concurrency: 4\n  requests:\n    source: {}\n    count: {count}\n  parameters:\n    max_tokens: {max_tokens}\nmetrics:\n  sample_interval_ms: 100\n  output_dir: {}\n",
            prompts(),
            results.display()
        )
    };
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sim.yaml"), sim("sim", 12, 8, "")).unwrap();
    std::fs::write(
        dir.join("slow.yaml"),
        sim("slow", 400, 64, "    decode_step_ms: 20.0\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("live.yaml"),
        sim("live", 160, 24, "    decode_step_ms: 8.0\n"),
    )
    .unwrap();
    std::fs::write(dir.join("broken.yaml"), "name: [unclosed\n").unwrap();
    std::fs::write(
        dir.join("paid.yaml"),
        format!(
            "name: paid\nmodel:\n  name: meta-llama/Meta-Llama-3-8B-Instruct\nframework: vllm\ninfrastructure:\n  provider: runpod\n  gpu_type: A100-80GB\n  gpu_count: 2\nworkload:\n  type: single\n  requests:\n    source: {}\n    count: 1000\n  parameters:\n    max_tokens: 1024\n",
            prompts()
        ),
    )
    .unwrap();
    let sweep = sim("sweep", 24, 16, "    max_num_seqs: 4\n").replace(
        "  concurrency: 4\n",
        "  concurrency: 1\n  sweep:\n    concurrency: [1, 4, 16]\n",
    );
    std::fs::write(dir.join("sub/sweep.yaml"), sweep).unwrap();
}

impl Dash {
    pub async fn start() -> Dash {
        let root = tempfile::tempdir().unwrap();
        let experiments = root.path().join("experiments");
        let results = root.path().join("results");
        write_configs(&experiments, &results);
        let token = dashboard::security::new_token().unwrap();
        let (app, _state) = dashboard::router(DashboardConfig {
            results_dir: results.clone(),
            experiments_dir: experiments,
            token: token.clone(),
            factory: llm_inf_bench::cli::dashboard::provider_factory(results.clone()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Dash {
            addr,
            token,
            root,
            results,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, token: Option<&str>) -> String {
        match token {
            Some(t) => format!("ws://{}/ws?token={t}", self.addr),
            None => format!("ws://{}/ws", self.addr),
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(&self.token)
    }
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Ws(Stream);

impl Ws {
    /// Connect with the token and the page's own Origin.
    pub async fn connect(d: &Dash) -> Ws {
        let origin = format!("http://{}", d.addr);
        Ws::connect_with(d, d.ws_url(Some(&d.token)), Some(&origin))
            .await
            .unwrap_or_else(|code| panic!("WebSocket refused: {code}"))
    }

    /// `Err(status)` when the upgrade is refused.
    pub async fn connect_with(_d: &Dash, url: String, origin: Option<&str>) -> Result<Ws, u16> {
        let mut req = url.into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((s, _)) => Ok(Ws(s)),
            Err(tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("WebSocket: {e}"),
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.0
            .send(tungstenite::Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(MSG_TIMEOUT, self.0.next())
                .await
                .expect("no WebSocket message in time")
                .expect("WebSocket closed")
                .expect("WebSocket error");
            if let tungstenite::Message::Text(t) = msg {
                return serde_json::from_str(&t).unwrap();
            }
        }
    }

    /// The next message of one of `types` (others are skipped).
    pub async fn next_of(&mut self, types: &[&str]) -> Value {
        loop {
            let m = self.next().await;
            if types.iter().any(|t| m["type"] == *t) {
                return m;
            }
        }
    }

    /// Every message of `run` up to and including its `done` phase.
    pub async fn until_done(&mut self, run: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let m = self.next().await;
            let done = m["type"] == "phase" && m["phase"] == "done" && m["run_id"] == run;
            if m["run_id"] == run || m["type"] == "log" {
                out.push(m);
            }
            if done {
                return out;
            }
        }
    }
}

impl Dash {
    /// GET `path` (with the token) and parse the JSON answer.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.get(path).send().await.expect("request sent");
        response.json().await.expect("a JSON answer")
    }
}

/// The HTTP status of `request` (sent, the body ignored).
pub async fn status(request: reqwest::RequestBuilder) -> u16 {
    request
        .send()
        .await
        .expect("request sent")
        .status()
        .as_u16()
}
