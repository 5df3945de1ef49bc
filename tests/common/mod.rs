//! Helpers shared by the binary-level integration tests.
#![allow(dead_code)]

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

/// The real-server captures and reference results kept in the repository (`tests/fixtures`).
pub fn shared_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn f64_at(v: &serde_json::Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(|x| x.as_f64())
        .unwrap_or_else(|| panic!("{pointer} missing in {v}"))
}

/// A running binary whose stdout and stderr lines arrive on a channel.
#[cfg(unix)]
pub mod process {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;

    use super::Sandbox;

    /// Start the binary in the sandbox with piped output.
    pub fn spawn(sb: &Sandbox, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("llm-inf-bench"))
            .args(args)
            .env("LLM_INF_BENCH_HOME", sb.home())
            .env("NO_COLOR", "1")
            .current_dir(sb.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let (tx, rx) = mpsc::channel();
        let streams: [Option<Box<dyn std::io::Read + Send>>; 2] = [
            child.stderr.take().map(|s| Box::new(s) as _),
            child.stdout.take().map(|s| Box::new(s) as _),
        ];
        for stream in streams.into_iter().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        (child, rx)
    }

    /// Block until a line matches (no sleeps: the process's own output is the clock).
    pub fn wait_for_line(rx: &mpsc::Receiver<String>, what: impl Fn(&str) -> bool) -> String {
        loop {
            match rx.recv() {
                Ok(line) if what(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("process output ended before the expected line"),
            }
        }
    }

    pub fn signal(child: &Child, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// `simulate --port 0` serving `model`; returns the process and its base URL.
    pub fn start_simulator(sb: &Sandbox, seed: &str, model: &str) -> (Child, String) {
        let (child, rx) = spawn(
            sb,
            &["simulate", "--port", "0", "--seed", seed, "--model", model],
        );
        let line = wait_for_line(&rx, |l| l.contains("listening on"));
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("url in the banner")
            .to_string();
        (child, url)
    }
}
