//! Harness for driving the real binary against the fake RunPod API (used by
//! `tests/runpod_e2e.rs`): a tokio runtime in the test process hosts the fake API and the
//! pod's "server" (the simulator, or something that never becomes healthy); the binary gets
//! both through `RUNPOD_API_URL` / `RUNPOD_PROXY_URL`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;

use llm_inf_bench::config::Framework;
use llm_inf_bench::providers::runpod::Ledger;
use llm_inf_bench::sim::{SimProfile, SimServer};

use super::runpod::FakeRunpod;
use super::Sandbox;

/// A recognisable fake key: it must never show up in any output or file.
pub const KEY: &str = "rpa_E2E_SECRET_KEY_0123456789";
pub const MODEL: &str = "meta-llama/Meta-Llama-3-8B-Instruct";

/// What answers at the pod's proxy URL.
pub enum PodServer {
    /// The simulated vLLM server serving `MODEL`.
    Sim(SimProfile),
    /// Nothing listens: every connection is refused.
    Refusing,
    /// A server answering 503 to everything, forever.
    Unavailable,
}

pub struct World {
    pub sb: Sandbox,
    pub fake: FakeRunpod,
    pub proxy_url: String,
    /// Kept alive for the test (dropping it stops the server).
    _sim: Option<SimServer>,
    extra: Option<tokio::task::JoinHandle<()>>,
    /// Last: dropped after the servers running on it.
    pub rt: tokio::runtime::Runtime,
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(t) = self.extra.take() {
            t.abort();
        }
    }
}

impl World {
    pub fn new() -> Self {
        Self::with(PodServer::Sim(SimProfile::default()))
    }

    pub fn with(server: PodServer) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let fake = rt.block_on(FakeRunpod::start(KEY));
        let (proxy_url, sim, extra) = rt.block_on(async {
            match server {
                PodServer::Sim(profile) => {
                    let addr = "127.0.0.1:0".parse().expect("addr");
                    let sim = SimServer::start(Framework::Vllm, profile, MODEL, addr)
                        .await
                        .expect("sim server");
                    (sim.base_url(), Some(sim), None)
                }
                PodServer::Refusing => (super::closed_port_url(), None, None),
                PodServer::Unavailable => {
                    let app = axum::Router::new().fallback(|| async {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "loading model")
                    });
                    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind");
                    let url = format!("http://{}", l.local_addr().expect("addr"));
                    let task = tokio::spawn(async move {
                        let _ = axum::serve(l, app).await;
                    });
                    (url, None, Some(task))
                }
            }
        });
        Self {
            sb: Sandbox::new(),
            fake,
            proxy_url,
            _sim: sim,
            extra,
            rt,
        }
    }

    pub fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LLM_INF_BENCH_HOME", self.sb.home().display().to_string()),
            ("NO_COLOR", "1".into()),
            ("RUNPOD_API_KEY", KEY.into()),
            ("RUNPOD_API_URL", self.fake.url.clone()),
            ("RUNPOD_PROXY_URL", self.proxy_url.clone()),
            ("LLM_INF_BENCH_RUNPOD_POLL_MS", "2".into()),
            ("LLM_INF_BENCH_RUNPOD_FAST_RETRY", "1".into()),
        ]
    }

    /// The binary wired to the fake API and the pod server (stdin is not a terminal).
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = self.sb.cmd();
        cmd.envs(self.envs())
            .env_remove("HF_TOKEN")
            .env_remove("RUST_LOG");
        cmd
    }

    /// Run to the end; returns (exit code, stdout, stderr), and checks the key leaked nowhere.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_with(self.cmd(), args)
    }

    pub fn run_with(&self, mut cmd: assert_cmd::Command, args: &[&str]) -> (i32, String, String) {
        let out = cmd.args(args).output().expect("run the binary");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        self.assert_key_never_leaked(&[&stdout, &stderr]);
        (out.status.code().unwrap_or(-1), stdout, stderr)
    }

    /// Start the binary with piped output (stdin: null) for signal tests.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("llm-inf-bench"))
            .args(args)
            .envs(self.envs())
            .env_remove("HF_TOKEN")
            .env_remove("RUST_LOG")
            .current_dir(self.sb.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let (tx, rx) = mpsc::channel();
        let streams: Vec<Box<dyn std::io::Read + Send>> = vec![
            Box::new(child.stderr.take().expect("stderr")),
            Box::new(child.stdout.take().expect("stdout")),
        ];
        for stream in streams {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Running {
            child,
            rx,
            lines: Vec::new(),
        }
    }

    /// A config for a cheap RunPod run (A100-80GB community, estimate well under $0.50).
    pub fn config(&self, name: &str, count: usize, concurrency: usize) -> PathBuf {
        self.config_on(name, "A100-80GB", 1, count, concurrency, 16)
    }

    pub fn config_on(
        &self,
        name: &str,
        gpu: &str,
        gpu_count: u32,
        count: usize,
        concurrency: usize,
        max_tokens: u32,
    ) -> PathBuf {
        self.runpod_config(
            name,
            &format!(
                r#"framework_options: {{max_model_len: 4096, gpu_memory_utilization: 0.9, enable_prefix_caching: true}}
infrastructure: {{provider: runpod, gpu_type: {gpu}, gpu_count: {gpu_count}, cloud_type: community}}
workload:
  type: concurrent
  concurrency: {concurrency}
  requests: {{source: prompts.jsonl, count: {count}}}
  parameters: {{max_tokens: {max_tokens}, ignore_eos: true}}
metrics: {{collect_gpu_metrics: true, sample_interval_ms: 20, output_dir: results}}
"#
            ),
        )
    }

    /// `<name>.yaml`: the experiment `name` of vLLM serving [`MODEL`], then `rest` (the
    /// other top-level keys).
    pub fn runpod_config(&self, name: &str, rest: &str) -> PathBuf {
        self.sb.config(
            name,
            &format!("name: {name}\nmodel: {{name: \"{MODEL}\"}}\nframework: vllm\n{rest}"),
        )
    }

    pub fn ledger_ids(&self) -> Vec<String> {
        Ledger::new(&self.sb.home())
            .load()
            .expect("ledger readable")
            .into_iter()
            .map(|r| r.pod_id)
            .collect()
    }

    /// Every pod the fake ever created is gone, and the ledger is empty.
    pub fn assert_no_pod_left(&self) {
        assert_eq!(self.fake.live_pods(), Vec::<String>::new(), "live pods");
        assert_eq!(self.ledger_ids(), Vec::<String>::new(), "ledger");
    }

    /// The key is in none of `texts`, no file under the sandbox (results, journal, ledger, app
    /// config, pricing), and no request body the fake received; every call carried it only in
    /// the `Authorization` header.
    pub fn assert_key_never_leaked(&self, texts: &[&str]) {
        for t in texts {
            assert!(!t.contains(KEY), "the API key appears in output:\n{t}");
        }
        for file in files_under(self.sb.path()) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(
                !contains(&bytes, KEY.as_bytes()),
                "the API key appears in {}",
                file.display()
            );
        }
        for call in self.fake.calls() {
            if let Some(body) = &call.body {
                assert!(!body.to_string().contains(KEY), "key in a request body");
            }
            assert!(!call.path.contains(KEY), "key in a URL");
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A running binary whose output lines are collected as they are read.
pub struct Running {
    pub child: Child,
    rx: mpsc::Receiver<String>,
    pub lines: Vec<String>,
}

impl Running {
    /// Block until a line matching `what` arrives (output ending first is a failure).
    pub fn wait_for(&mut self, what: impl Fn(&str) -> bool) -> String {
        loop {
            match self.rx.recv() {
                Ok(line) => {
                    self.lines.push(line.clone());
                    if what(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "output ended before the expected line:\n{}",
                    self.lines.join("\n")
                ),
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Wait for exit and for both pipes to close; returns the status and all output.
    pub fn finish(mut self) -> (ExitStatus, String) {
        let status = self.child.wait().expect("wait");
        while let Ok(line) = self.rx.recv() {
            self.lines.push(line);
        }
        (status, self.lines.join("\n"))
    }
}
