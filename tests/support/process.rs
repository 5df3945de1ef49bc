//! A running binary whose stdout and stderr lines arrive on a channel.
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

/// Wait for the `Run id <id>` progress line; the id.
pub fn wait_for_run_id(rx: &mpsc::Receiver<String>) -> String {
    let line = wait_for_line(rx, |l| l.trim().starts_with("Run id "));
    line.trim().trim_start_matches("Run id ").to_string()
}

/// `run <cfg>` killed with SIGKILL once a progress line contains `at`; the run's id (its
/// journal and a lock file nobody holds stay).
pub fn killed_mid_run(sb: &Sandbox, cfg: &str, at: &str) -> String {
    let (mut child, rx) = spawn(sb, &["run", cfg]);
    let id = wait_for_run_id(&rx);
    wait_for_line(&rx, |l| l.contains(at));
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
    child.wait().expect("wait");
    id
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
