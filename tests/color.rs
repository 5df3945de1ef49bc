//! Colour follows the stream it is written to: stdout and stderr decide for themselves
//! (terminal or not), `NO_COLOR` and `--color` apply to both, and log lines obey too.
#![cfg(unix)]

mod support;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use support::sim::SimYaml;
use support::Sandbox;

const ESC: &str = "\x1b[";

/// A pseudo-terminal: (master, slave).
fn pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors we then own; null name/termios/winsize are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "openpty failed");
    // SAFETY: both descriptors are open and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Run `run <config>` with stdout on a terminal (when `stdout_tty`) and stderr on a pipe.
/// Returns (stdout text, stderr text).
fn run(sb: &Sandbox, extra: &[&str], env: &[(&str, &str)], stdout_tty: bool) -> (String, String) {
    let cfg = sb.path().join("exp.yaml");
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("llm-inf-bench"));
    cmd.arg("run")
        .arg(&cfg)
        .args(extra)
        .env("LLM_INF_BENCH_HOME", sb.home())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("RUST_LOG")
        .current_dir(sb.path())
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let master = if stdout_tty {
        let (master, slave) = pty();
        cmd.stdout(Stdio::from(slave));
        Some(master)
    } else {
        cmd.stdout(Stdio::piped());
        None
    };
    // `cmd` holds the slave until dropped: the reader sees the end once the child exits.
    let mut child = cmd.spawn().expect("spawn");
    drop(cmd);
    let reader = master.map(|m| {
        std::thread::spawn(move || {
            let mut f = std::fs::File::from(m);
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            // On Linux the master reads EIO once the slave side is closed.
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            out
        })
    });
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    let mut out = Vec::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_end(&mut out).expect("read stdout");
    }
    let status = child.wait().expect("wait");
    if let Some(r) = reader {
        out = r.join().expect("pty reader");
    }
    let out = String::from_utf8_lossy(&out).into_owned();
    assert!(status.success(), "run failed:\n{err}\n{out}");
    (out, err)
}

fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    SimYaml::new("color-test")
        .simulation("decode_step_ms: 0.5, base_ttft_ms: 1.0")
        .write(&sb, "exp.yaml");
    sb
}

#[test]
fn redirected_stderr_gets_no_colour_while_a_terminal_stdout_does() {
    let sb = sandbox();
    // -vv: log lines (tracing) go to stderr as well as progress.
    let (out, err) = run(&sb, &["-vv"], &[], true);
    assert!(err.contains("[1/4]"), "{err}");
    assert!(err.contains("DEBUG"), "no log line in: {err}");
    assert!(
        !err.contains(ESC),
        "escape codes in a redirected stderr:\n{err:?}"
    );
    assert!(out.contains(ESC), "a terminal stdout is coloured: {out:?}");
}

#[test]
fn log_lines_on_a_pipe_have_no_colour() {
    let sb = sandbox();
    let (out, err) = run(&sb, &["-vv"], &[], false);
    assert!(err.contains("DEBUG"), "{err}");
    assert!(!err.contains(ESC), "{err:?}");
    assert!(!out.contains(ESC), "{out:?}");
}

#[test]
fn no_color_and_color_flag_are_respected() {
    let sb = sandbox();
    let (out, err) = run(&sb, &[], &[("NO_COLOR", "1")], true);
    assert!(!out.contains(ESC), "NO_COLOR ignored on stdout: {out:?}");
    assert!(!err.contains(ESC), "{err:?}");
    let (out, err) = run(&sb, &["-vv", "--color", "never"], &[], true);
    assert!(!out.contains(ESC) && !err.contains(ESC), "{out:?}\n{err:?}");
    let (out, err) = run(&sb, &["-vv", "--color", "always"], &[], false);
    assert!(out.contains(ESC), "--color always on stdout: {out:?}");
    assert!(err.contains(ESC), "--color always on stderr: {err:?}");
}
