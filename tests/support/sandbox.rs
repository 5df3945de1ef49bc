//! A scratch folder for driving the real binary, the prompts most tests use, and JSON helpers.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A scratch folder with its own app dir (LLM_INF_BENCH_HOME) and results dir.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    pub fn results(&self) -> PathBuf {
        self.path().join("results")
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    /// `<name>.yaml` holding `yaml`, beside the `prompts.jsonl` (`PROMPTS`) it may read.
    pub fn config(&self, name: &str, yaml: &str) -> PathBuf {
        self.write("prompts.jsonl", PROMPTS);
        self.write(&format!("{name}.yaml"), yaml)
    }

    /// The binary with a private app dir, no colour, no RunPod key from the environment.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("llm-inf-bench").expect("binary");
        cmd.env("LLM_INF_BENCH_HOME", self.home())
            .env("NO_COLOR", "1")
            .env_remove("RUNPOD_API_KEY")
            .env_remove("RUNPOD_API_URL")
            .env_remove("RUNPOD_PROXY_URL")
            .env_remove("LLM_INF_BENCH_SERVER_API_KEY")
            .env_remove("OPENAI_API_KEY")
            .current_dir(self.path());
        cmd
    }

    /// The binary's stdout for `args`; panics with its stderr unless it succeeds.
    pub fn stdout_of(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("run");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?} failed: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// Result files written so far, sorted by name.
    pub fn result_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.results())
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    pub fn results_json(&self) -> Vec<serde_json::Value> {
        self.result_files()
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).expect("read result");
                serde_json::from_str(&text).expect("result JSON")
            })
            .collect()
    }
}

/// Ten varied prompts in the messages format.
pub const PROMPTS: &str = r#"{"messages": [{"role": "user", "content": "What is the capital of France?"}]}
{"messages": [{"role": "user", "content": "Explain how a hash map works in two sentences."}]}
{"messages": [{"role": "user", "content": "Write a haiku about autumn rain."}]}

{"messages": [{"role": "user", "content": "If a train leaves at 3pm going 60 mph, how far has it gone by 5pm?"}]}
{"messages": [{"role": "user", "content": "Write a Rust function that reverses a string."}]}
"#;

pub fn f64_at(v: &serde_json::Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(|x| x.as_f64())
        .unwrap_or_else(|| panic!("{pointer} missing in {v}"))
}

/// A loopback URL nothing listens on (a port bound, then released).
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// A finished run of the binary: its exit code and output as text.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Run `cmd` to the end and keep its output as text.
pub fn ran(cmd: &mut Command) -> Ran {
    let out = cmd.output().expect("run the binary");
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
