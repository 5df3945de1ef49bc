//! Starting, finding and cleaning up after real SGLang servers (see tests/real_sglang.rs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use super::real_server::SERVED;
use super::real_server::{self, env_path, free_port, ManualProcess};

/// Where every SGLang server's environment carries this test's mark.
pub const MARK_VAR: &str = "REAL_SGLANG_MARK";

pub struct Env {
    pub venv: PathBuf,
    pub model: PathBuf,
    pub mark: String,
}

impl Env {
    pub fn python(&self) -> PathBuf {
        self.venv.join("bin/python")
    }
}

pub fn env() -> Env {
    let venv = env_path("REAL_SGLANG_VENV", ".ci/real-sglang.sh");
    let model = env_path("REAL_SGLANG_MODEL", ".ci/real-sglang.sh");
    assert!(
        venv.join("bin/python").exists(),
        "{} has no bin/python",
        venv.display()
    );
    real_server::assert_model(&model);
    let mark = real_server::mark(MARK_VAR);
    Env { venv, model, mark }
}

/// The environment every SGLang server gets (scripts/real-sglang/README.md): CPU mode, offline.
/// `REAL_SGLANG_MARK` finds survivors (not an `SGL_`/`SGLANG_` name: SGLang reads those).
pub fn server_env(e: &Env) -> Vec<(&'static str, String)> {
    vec![
        ("SGLANG_USE_CPU_ENGINE", "1".into()),
        ("HF_HUB_OFFLINE", "1".into()),
        ("TRANSFORMERS_OFFLINE", "1".into()),
        ("DO_NOT_TRACK", "1".into()),
        (MARK_VAR, e.mark.clone()),
    ]
}

/// The CPU flags (after `--model-path`, host and port).
pub const CPU_ARGS: &[&str] = &[
    "--device",
    "cpu",
    "--attention-backend",
    "torch_native",
    "--max-total-tokens",
    "32768",
    "--max-running-requests",
    "16",
    "--disable-overlap-schedule",
];

/// An SGLang server started by the test (for `--server-url`); stopped with its process group.
/// Its sockets go into `tmp` (a private TMPDIR), removed with the shared-memory files SGLang
/// names after them.
pub struct ManualServer {
    process: ManualProcess,
    tmp: PathBuf,
    /// `/dev/shm/sglang_*` files its processes held open (SGLang never removes them).
    shm: Vec<PathBuf>,
}

impl ManualServer {
    pub fn start(e: &Env, dir: &Path) -> Self {
        let port = free_port();
        let tmp = dir.join("manual-sglang-tmp");
        std::fs::create_dir_all(&tmp).expect("tmp");
        let mut cmd = Command::new(e.python());
        cmd.args(["-m", "sglang.launch_server", "--model-path"])
            .arg(&e.model)
            .args(["--served-model-name", SERVED, "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--enable-metrics", "--context-length", "1024"])
            .args(CPU_ARGS)
            .envs(server_env(e))
            .env("TMPDIR", &tmp);
        let log = dir.join("manual-sglang.log");
        // Generous: a loaded 2-core machine has needed 6 min (1 min when quiet).
        let process = ManualProcess::start(cmd, port, log, "SGLang", Duration::from_secs(900));
        let shm = shm_open_in_group(process.pgid());
        Self { process, tmp, shm }
    }

    pub fn url(&self) -> String {
        self.process.url()
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }
}

impl Drop for ManualServer {
    fn drop(&mut self) {
        self.process.stop();
        for f in &self.shm {
            let _ = std::fs::remove_file(f);
        }
        remove_scratch(&self.tmp);
    }
}

/// Remove SGLang's leftovers of a server whose TMPDIR was `tmp`: its sockets and the
/// `/dev/shm/sglang_loads_<socket name>_<digest>.shm` files named after them.
pub fn remove_scratch(tmp: &Path) {
    for name in shm_named_after(tmp) {
        let _ = std::fs::remove_file(Path::new("/dev/shm").join(name));
    }
    let _ = std::fs::remove_dir_all(tmp);
}

/// Names of `/dev/shm` files named after an entry of `tmp` (see `load_snapshot.shm_path_for`).
pub fn shm_named_after(tmp: &Path) -> Vec<String> {
    let sockets: Vec<String> = std::fs::read_dir(tmp)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    sglang_shm_files()
        .into_iter()
        .filter(|f| {
            sockets
                .iter()
                .any(|s| f.starts_with(&format!("sglang_loads_{s}_")))
        })
        .collect()
}

/// `/dev/shm/sglang_*` file names.
pub fn sglang_shm_files() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sglang_"))
        .collect();
    out.sort();
    out
}

/// Processes still alive that carry this test's mark (see `real_server::leftovers`).
pub fn leftovers(mark: &str) -> Vec<String> {
    real_server::leftovers(MARK_VAR, mark)
}

/// `/dev/shm/sglang_*` files held open by processes of group `pgid` (their names carry a random
/// id, so the open file descriptors are what ties them to a server).
fn shm_open_in_group(pgid: i32) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let group = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(2))
            .and_then(|g| g.parse::<i32>().ok());
        if group != Some(pgid) {
            continue;
        }
        for fd in std::fs::read_dir(entry.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let name = target.file_name().map(|n| n.to_string_lossy().into_owned());
                if target.starts_with("/dev/shm")
                    && name.is_some_and(|n| n.starts_with("sglang_"))
                    && !out.contains(&target)
                {
                    out.push(target);
                }
            }
        }
    }
    out
}
