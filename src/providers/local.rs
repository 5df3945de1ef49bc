//! The local provider: "provisioning" runs the framework's server as a child process on this
//! machine, with the same command template as a RunPod pod (`runpod::templates`), and waits
//! until it answers its health check. Teardown stops the whole process group (vLLM runs its
//! engine in a separate process): SIGTERM, then SIGKILL after a grace period. Costs nothing.
//!
//! The server's stdout and stderr go to a log file beside the results; while waiting, its
//! latest line is the status shown to the user, and if the process exits before it is healthy
//! the run fails at once with the log's last lines instead of waiting out the timeout.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::local_scratch::Scratch;
use super::runpod::templates::{server_command, LaunchCommand};
use super::{Provider, ProviderError, ServerHandle};
use crate::config::{Experiment, Framework};
use crate::events::{Event, EventSink};
use crate::redact::redact_args;
use crate::runners::{health, HealthProgress, RunnerError};

/// How long teardown waits after SIGTERM before SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// How often the child and its health endpoint are checked while starting.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long one health probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Log lines quoted in the error when the server exits early.
const TAIL_LINES: usize = 20;

pub struct LocalProvider {
    log_path: PathBuf,
    /// `--keep-server`: leave the server running when this value is dropped.
    keep_server: bool,
    grace: Duration,
    child: Option<tokio::process::Child>,
    /// Process group of the server (= its pid); `Some` while any member may be alive.
    pgid: Option<i32>,
    /// SGLang's private temp folder and shared-memory files, removed after it stops.
    scratch: Option<Scratch>,
    /// The key the server was started with (`--api-key`), for the runner.
    api_key: Option<crate::redact::Secret>,
}

impl LocalProvider {
    /// `log_path`: where the server's output goes (`<output_dir>/<run id>-server.log`).
    pub fn new(log_path: PathBuf, keep_server: bool) -> Self {
        Self {
            log_path,
            keep_server,
            grace: DEFAULT_GRACE,
            child: None,
            pgid: None,
            scratch: None,
            api_key: None,
        }
    }

    /// Change the SIGTERM → SIGKILL grace period.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The server's process group id, while it runs.
    pub fn process_group(&self) -> Option<i32> {
        self.pgid
    }

    fn spawn(&mut self, exp: &Experiment, port: u16) -> Result<LaunchCommand, ProviderError> {
        let mut command = local_command(exp, port);
        self.api_key =
            super::server_key::server_api_key(&mut command.args).map_err(ProviderError::ApiKey)?;
        if let Some(dir) = self.log_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| ProviderError::Io {
                what: format!("cannot create {}", dir.display()),
                source,
            })?;
        }
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|source| ProviderError::Io {
                what: format!("cannot open the server log {}", self.log_path.display()),
                source,
            })?;
        // The command line heads the log so a failed start can be reproduced by hand.
        let _ = writeln!(log, "$ {}", redact_args(&command.argv()).join(" "));
        let log_err = log.try_clone().map_err(|source| ProviderError::Io {
            what: "cannot share the server log".into(),
            source,
        })?;
        let scratch =
            Scratch::for_framework(exp.framework).map_err(|source| ProviderError::Io {
                what: "cannot create a temp folder for the server".into(),
                source,
            })?;
        let mut cmd = tokio::process::Command::new(&command.program);
        if let Some(s) = &scratch {
            cmd.env("TMPDIR", s.path());
        }
        self.scratch = scratch;
        cmd.args(&command.args)
            .envs(exp.infrastructure.local.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        #[cfg(unix)]
        {
            // Its own process group, so one signal reaches the server and its workers, and a
            // Ctrl-C in the terminal reaches only us (we stop the server in order).
            cmd.process_group(0);
            #[cfg(target_os = "linux")]
            if !self.keep_server {
                die_with_parent(&mut cmd);
            }
        }
        let child = cmd.spawn().map_err(|source| ProviderError::Launch {
            program: command.program.clone(),
            framework: exp.framework.as_str(),
            source,
        })?;
        self.pgid = child.id().map(|pid| pid as i32);
        self.child = Some(child);
        Ok(command)
    }

    /// Wait until the health endpoint answers 200 (`runners::health`, the engine's own
    /// loop), failing at once when the process exits; the status shown while waiting is the
    /// server's latest log line.
    async fn wait_healthy(
        &mut self,
        framework: Framework,
        base_url: &str,
        timeout: Duration,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<(), ProviderError> {
        let url = format!("{base_url}{}", health_path(framework));
        let client = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .build()
            .map_err(ProviderError::HttpClient)?;
        let log_path = self.log_path.clone();
        let latest = std::sync::Mutex::new(String::from("starting"));
        let on_wait = |p: HealthProgress| {
            let line = latest_line(&log_path);
            events.send(Event::Waiting {
                elapsed: p.elapsed,
                status: line.clone(),
            });
            if let Ok(mut l) = latest.lock() {
                *l = line;
            }
        };
        let health = health::wait_healthy(
            &client,
            &url,
            POLL_INTERVAL,
            PROBE_TIMEOUT,
            timeout,
            None,
            cancel,
            &on_wait,
        );
        let exited = exit_of(self.child.as_mut());
        let outcome = tokio::select! {
            biased;
            status = exited => Err(status),
            r = health => Ok(r),
        };
        match outcome {
            Err(status) => Err(ProviderError::ServerExited {
                framework: framework.as_str(),
                status,
                log: self.log_path.clone(),
                tail: tail_lines(&self.log_path, TAIL_LINES).join("\n"),
            }),
            Ok(r) => r.map_err(|e| {
                let last_status = latest.into_inner().unwrap_or_default();
                self.not_started(framework, e, last_status)
            }),
        }
    }

    /// The health wait's end without a healthy server: cancelled, or out of time.
    fn not_started(
        &self,
        framework: Framework,
        e: RunnerError,
        last_status: String,
    ) -> ProviderError {
        let waited = match e {
            RunnerError::Cancelled => return ProviderError::Cancelled,
            RunnerError::HealthTimeout { waited_s, .. } => Duration::from_secs_f64(waited_s),
            _ => Duration::ZERO,
        };
        ProviderError::Timeout {
            what: format!(
                "the local {framework} server (log: {})",
                self.log_path.display()
            ),
            waited,
            last_status,
        }
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &'static str {
        "local"
    }

    fn how_to_stop(&self) -> String {
        match self.pgid {
            // The server runs in a process group of its own (its workers too).
            Some(pgid) => format!("stop it with `kill -TERM -- -{pgid}` (its process group)"),
            None => "no local server process is running".to_string(),
        }
    }

    async fn provision(
        &mut self,
        experiment: &Experiment,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<ServerHandle, ProviderError> {
        let port = free_port().map_err(|source| ProviderError::Io {
            what: "cannot find a free port on 127.0.0.1".into(),
            source,
        })?;
        let command = self.spawn(experiment, port)?;
        events.info(format!(
            "Started `{}` (pid {}); log: {}",
            redact_args(&command.argv()).join(" "),
            self.pgid.unwrap_or_default(),
            self.log_path.display()
        ));
        let base_url = format!("http://127.0.0.1:{port}");
        self.wait_healthy(
            experiment.framework,
            &base_url,
            experiment.infrastructure.local.startup_timeout,
            events,
            cancel,
        )
        .await?;
        if let (Some(s), Some(pgid)) = (self.scratch.as_mut(), self.pgid) {
            s.note_shared_memory(pgid);
        }
        let infra = &experiment.infrastructure;
        Ok(ServerHandle {
            base_url,
            gpu_type: infra.gpu_type.clone(),
            gpu_count: infra.gpu_type.as_ref().map(|_| infra.gpu_count),
            cost_per_hr: Some(0.0),
            server_log: Some(self.log_path.clone()),
            served_model: served_model_name(&command.args),
            api_key: self.api_key.clone(),
            healthy: true,
            ..ServerHandle::default()
        })
    }

    async fn teardown(&mut self, events: &EventSink) -> Result<(), ProviderError> {
        let Some(pgid) = self.pgid else {
            return Ok(());
        };
        // Already gone (it exited during startup): signal nothing, the pgid may be reused.
        if self.wait_group_gone(pgid, Duration::ZERO).await {
            self.pgid = None;
            self.remove_scratch();
            return Ok(());
        }
        if let Some(s) = self.scratch.as_mut() {
            s.note_shared_memory(pgid);
        }
        signal_group(pgid, Signal::Term);
        if !self.wait_group_gone(pgid, self.grace).await {
            events.warn(format!(
                "The local server did not stop within {} s of SIGTERM; killing it",
                self.grace.as_secs()
            ));
            signal_group(pgid, Signal::Kill);
            if !self.wait_group_gone(pgid, Duration::from_secs(5)).await {
                return Err(ProviderError::Teardown {
                    what: format!("the local server (process group {pgid})"),
                    message: format!("still running after SIGKILL; run `kill -9 -- -{pgid}`"),
                });
            }
        }
        self.pgid = None;
        self.child = None;
        self.remove_scratch();
        events.info("Local server stopped");
        Ok(())
    }
}

impl LocalProvider {
    fn remove_scratch(&mut self) {
        if let Some(s) = self.scratch.take() {
            s.remove();
        }
    }

    /// Reap the leader and poll until no live process is left in the group.
    async fn wait_group_gone(&mut self, pgid: i32, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    self.child = None;
                }
            }
            // The leader stays a zombie until reaped, which keeps its pid (= the pgid) from
            // being reused, so the group check below cannot see a stranger's group.
            if self.child.is_none() && !group_alive(pgid) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for LocalProvider {
    /// Last resort (a panic, an early return that skipped teardown): never leave a server.
    fn drop(&mut self) {
        if let (Some(pgid), false) = (self.pgid, self.keep_server) {
            let leader_reaped = self
                .child
                .as_mut()
                .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))));
            if !leader_reaped || group_alive(pgid) {
                signal_group(pgid, Signal::Kill);
            }
        }
        match (self.scratch.take(), self.keep_server) {
            (Some(s), true) => s.keep(),
            (Some(s), false) => s.remove(),
            (None, _) => {}
        }
    }
}

/// The server command with `local.executable` as the program and `local.args` appended.
pub fn local_command(exp: &Experiment, port: u16) -> LaunchCommand {
    let mut command = server_command(exp, "127.0.0.1", port);
    let local = &exp.infrastructure.local;
    if let Some(exe) = &local.executable {
        command.program = exe.display().to_string();
    }
    command.args.extend(local.args.iter().cloned());
    command
}

/// The name the server answers to when its arguments rename the model
/// (`--served-model-name NAME` or `--served-model-name=NAME`; the last one wins, as in
/// argparse; with several names the first is used).
pub fn served_model_name(args: &[String]) -> Option<String> {
    const FLAG: &str = "--served-model-name";
    let mut found = None;
    for (i, a) in args.iter().enumerate() {
        if a == FLAG {
            found = args.get(i + 1).filter(|v| !v.starts_with("--")).cloned();
        } else if let Some(v) = a.strip_prefix(FLAG).and_then(|r| r.strip_prefix('=')) {
            found = Some(v.to_string());
        }
    }
    found
}

fn health_path(framework: Framework) -> &'static str {
    match framework {
        Framework::Vllm => crate::runners::vllm::flavor().health_path,
        Framework::Sglang => crate::runners::sglang::flavor().health_path,
    }
}

/// A port the OS considers free right now (bound to 127.0.0.1:0 and released).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Resolves when the child exits (never when there is none or it cannot be waited for).
async fn exit_of(child: Option<&mut tokio::process::Child>) -> std::process::ExitStatus {
    match child {
        Some(child) => match child.wait().await {
            Ok(status) => status,
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// The server's latest log line, the status shown while it starts.
fn latest_line(log: &Path) -> String {
    tail_lines(log, 1)
        .pop()
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "starting".to_string())
}

/// The last `n` non-empty lines of a log file, without terminal escapes; reads only its end.
pub fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    const WINDOW: u64 = 16 * 1024;
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(WINDOW);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<String> = text
        .lines()
        .skip(usize::from(start > 0)) // the first line may be cut
        .map(strip_escapes)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let keep = lines.len().saturating_sub(n);
    lines.drain(..keep);
    lines
}

/// Remove ANSI colour sequences and other control characters.
fn strip_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // CSI: parameters until a final byte in @..~
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if c == '\r' {
            out.clear(); // a progress bar redraw: keep what was drawn last
        } else if !c.is_control() || c == '\t' {
            out.push(c);
        }
    }
    out.trim_end().to_string()
}

#[derive(Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

#[cfg(unix)]
fn signal_group(pgid: i32, signal: Signal) {
    let sig = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    if pgid > 1 {
        // SAFETY: killpg(2) has no memory effects; pgid is a group we created (> 1).
        unsafe {
            libc::killpg(pgid, sig);
        }
    }
}

#[cfg(not(unix))]
fn signal_group(_pgid: i32, _signal: Signal) {}

/// Whether any live (non-zombie) process is in group `pgid`. On Linux /proc is read because
/// orphaned workers that died may stay zombies forever when PID 1 does not reap (containers).
#[cfg(target_os = "linux")]
pub fn group_alive(pgid: i32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return killpg_probe(pgid);
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .any(|stat| {
            // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next().unwrap_or("Z");
            let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
            pgrp == Some(pgid) && state != "Z" && state != "X"
        })
}

#[cfg(all(unix, not(target_os = "linux")))]
pub fn group_alive(pgid: i32) -> bool {
    killpg_probe(pgid)
}

#[cfg(unix)]
fn killpg_probe(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    pgid > 1 && unsafe { libc::killpg(pgid, 0) } == 0
}

#[cfg(not(unix))]
pub fn group_alive(_pgid: i32) -> bool {
    false
}

/// Linux: the server gets SIGTERM if this process dies without tearing down (e.g. SIGKILL).
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut tokio::process::Command) {
    // SAFETY: getpid before fork; in the child only async-signal-safe calls (prctl, getppid,
    // raise). The parent check closes the race where the parent died before prctl.
    let parent = unsafe { libc::getpid() };
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::raise(libc::SIGTERM);
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProviderKind;
    use crate::providers::runpod::templates::tests::experiment;

    #[test]
    fn how_to_stop_names_the_servers_process_group() {
        let mut p = LocalProvider::new(PathBuf::from("server.log"), true);
        assert!(p.how_to_stop().contains("no local server"));
        p.pgid = Some(4242);
        assert_eq!(
            p.how_to_stop(),
            "stop it with `kill -TERM -- -4242` (its process group)"
        );
    }

    fn local_exp(framework: Framework) -> Experiment {
        let mut e = experiment(framework);
        e.infrastructure.provider = ProviderKind::Local;
        e.infrastructure.gpu_type = None;
        e
    }

    #[test]
    fn command_uses_the_template_with_local_overrides() {
        let mut e = local_exp(Framework::Vllm);
        e.model.name = "/models/tiny".into();
        let c = local_command(&e, 4242);
        assert_eq!(c.program, "vllm");
        assert_eq!(
            c.args.join(" "),
            "serve /models/tiny --host 127.0.0.1 --port 4242"
        );
        e.infrastructure.local.executable = Some("/venv/bin/vllm".into());
        e.infrastructure.local.args = vec!["--served-model-name".into(), "tiny".into()];
        let c = local_command(&e, 1);
        assert_eq!(c.program, "/venv/bin/vllm");
        assert_eq!(c.args.last().map(String::as_str), Some("tiny"));
        assert_eq!(served_model_name(&c.args).as_deref(), Some("tiny"));

        let c = local_command(&local_exp(Framework::Sglang), 7);
        assert_eq!(c.program, "python3");
        assert_eq!(
            c.args[..2],
            ["-m".to_string(), "sglang.launch_server".into()]
        );
    }

    #[test]
    fn served_model_name_forms() {
        let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(served_model_name(&v("serve m --port 1")), None);
        assert_eq!(
            served_model_name(&v("serve m --served-model-name=a")).as_deref(),
            Some("a")
        );
        assert_eq!(
            served_model_name(&v("--served-model-name a b --served-model-name c")).as_deref(),
            Some("c")
        );
        assert_eq!(served_model_name(&v("--served-model-name --x")), None);
    }

    #[test]
    fn tail_reads_last_lines_without_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let mut text = String::new();
        for i in 0..3000 {
            text.push_str(&format!("\u{1b}[32mINFO\u{1b}[0m line {i}\n\n"));
        }
        text.push_str("Loading 10%\rLoading 100%\n");
        std::fs::write(&p, text).unwrap();
        let t = tail_lines(&p, 3);
        assert_eq!(t, vec!["INFO line 2998", "INFO line 2999", "Loading 100%"]);
        assert!(tail_lines(&dir.path().join("missing"), 3).is_empty());
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
