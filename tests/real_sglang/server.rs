//! Starting, finding and cleaning up after real SGLang servers (see tests/real_sglang.rs).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The served name (`--served-model-name`), what requests must use.
pub const SERVED: &str = "tiny";

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
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!("{name} is not set: run these tests through .ci/real-sglang.sh")
            })
    };
    let venv = var("REAL_SGLANG_VENV");
    let model = var("REAL_SGLANG_MODEL");
    assert!(
        venv.join("bin/python").exists(),
        "{} has no bin/python",
        venv.display()
    );
    assert!(
        model.join("config.json").exists(),
        "{} is not a model",
        model.display()
    );
    let mark = std::env::var("REAL_SGLANG_MARK")
        .unwrap_or_else(|_| format!("test-{}", std::process::id()));
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
        ("REAL_SGLANG_MARK", e.mark.clone()),
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
    child: Child,
    pub port: u16,
    log: PathBuf,
    tmp: PathBuf,
    /// `/dev/shm/sglang_*` files its processes held open (SGLang never removes them).
    shm: Vec<PathBuf>,
}

impl ManualServer {
    pub fn start(e: &Env, dir: &Path) -> Self {
        use std::os::unix::process::CommandExt;
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = dir.join("manual-sglang.log");
        let tmp = dir.join("manual-sglang-tmp");
        std::fs::create_dir_all(&tmp).expect("tmp");
        let file = std::fs::File::create(&log).expect("log");
        let child = Command::new(e.python())
            .args(["-m", "sglang.launch_server", "--model-path"])
            .arg(&e.model)
            .args(["--served-model-name", SERVED, "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--enable-metrics", "--context-length", "1024"])
            .args(CPU_ARGS)
            .envs(server_env(e))
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .process_group(0)
            .spawn()
            .expect("start sglang");
        let mut server = Self {
            child,
            port,
            log,
            tmp,
            shm: Vec::new(),
        };
        // Generous: a loaded 2-core machine has needed 6 min (1 min when quiet).
        server.wait_healthy(Duration::from_secs(900));
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Poll GET /health (a bounded wait for an external process, not a timing assumption).
    fn wait_healthy(&mut self, limit: Duration) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("sglang exited ({status}) while starting:\n{log}");
            }
            if http_get(self.port, "/health").is_some_and(|(code, _)| code == 200) {
                self.shm = shm_open_in_group(self.child.id() as i32);
                eprintln!(
                    "  manual SGLang healthy after {:.0} s",
                    start.elapsed().as_secs_f64()
                );
                return;
            }
            assert!(
                start.elapsed() < limit,
                "sglang not healthy after {limit:?}"
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

impl Drop for ManualServer {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: signals to the process group this test created.
        unsafe { libc::killpg(pgid, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The scheduler and detokenizer may outlive the API server by a moment.
        while Instant::now() < end && group_alive(pgid) {
            std::thread::sleep(Duration::from_millis(100));
        }
        unsafe { libc::killpg(pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        for f in &self.shm {
            let _ = std::fs::remove_file(f);
        }
        remove_scratch(&self.tmp);
    }
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    unsafe { libc::killpg(pgid, 0) == 0 }
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

/// Status code and body of a plain HTTP/1.0 GET, or None when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// `pid`'s parent, from /proc.
fn parent_of(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1).map(String::from)
}

/// Processes still alive (not zombies) that carry `REAL_SGLANG_MARK=<mark>`, other than this
/// test and its ancestors (cargo, when the suite passes the mark down).
pub fn leftovers(mark: &str) -> Vec<String> {
    let needle = format!("REAL_SGLANG_MARK={mark}");
    let mut ours = vec![std::process::id().to_string()];
    while let Some(parent) = ours.last().and_then(|p| parent_of(p)) {
        if parent == "0" || ours.contains(&parent) {
            break;
        }
        ours.push(parent);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if ours.contains(&pid) || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .unwrap_or("Z");
        if state != "Z" && state != "X" {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(format!(
                "{pid} {}",
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            ));
        }
    }
    found
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
