//! What a local SGLang server leaves behind, and its removal at teardown. SGLang 0.5 never
//! removes its ZeroMQ sockets and Prometheus multiprocess folder (in the temp folder) nor its
//! `/dev/shm/sglang_loads_<id>.shm` load snapshot, even on a clean SIGTERM; a user running
//! many benchmarks would pile them up. So the server gets a private TMPDIR, removed at the
//! end, and the shared-memory files its processes hold open are noted while it runs and
//! removed once it has stopped. `--keep-server` keeps both.

use std::path::{Path, PathBuf};

use crate::config::Framework;

pub(crate) struct Scratch {
    dir: tempfile::TempDir,
    shm: Vec<PathBuf>,
}

impl Scratch {
    /// A private temp folder for the server, for the frameworks that need one (SGLang).
    pub fn for_framework(framework: Framework) -> std::io::Result<Option<Self>> {
        if framework != Framework::Sglang {
            return Ok(None);
        }
        let dir = tempfile::Builder::new()
            .prefix("llm-inf-bench-sglang-")
            .tempdir()?;
        Ok(Some(Self {
            dir,
            shm: Vec::new(),
        }))
    }

    /// The server's TMPDIR.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Note the `/dev/shm/sglang_*` files open in any process of group `pgid`.
    pub fn note_shared_memory(&mut self, pgid: i32) {
        for file in shm_files_of_group(pgid) {
            if !self.shm.contains(&file) {
                self.shm.push(file);
            }
        }
    }

    /// Remove the noted shared-memory files and the temp folder (call once the server is gone).
    pub fn remove(self) {
        for file in &self.shm {
            let _ = std::fs::remove_file(file);
        }
        // Dropping the TempDir removes the folder and what the server put in it.
        drop(self.dir);
    }

    /// Leave everything in place (`--keep-server`: the server still uses it).
    pub fn keep(self) {
        let _ = self.dir.keep();
    }
}

/// `/dev/shm/sglang_*` files that processes of group `pgid` hold open.
#[cfg(target_os = "linux")]
fn shm_files_of_group(pgid: i32) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in procs.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the `)` that ends the command name: state, ppid, pgrp.
        let in_group = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(2))
            .and_then(|g| g.parse::<i32>().ok())
            == Some(pgid);
        if !in_group {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let is_sglang_shm = target.parent() == Some(Path::new("/dev/shm"))
                && target
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("sglang_"));
            if is_sglang_shm && !out.contains(&target) {
                out.push(target);
            }
        }
    }
    out
}

#[cfg(not(target_os = "linux"))]
fn shm_files_of_group(_pgid: i32) -> Vec<PathBuf> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sglang_gets_a_scratch_folder_and_it_is_removed() {
        assert!(Scratch::for_framework(Framework::Vllm).unwrap().is_none());
        let s = Scratch::for_framework(Framework::Sglang).unwrap().unwrap();
        let dir = s.path().to_path_buf();
        std::fs::write(dir.join("socket"), b"").unwrap();
        s.remove();
        assert!(!dir.exists());
        let s = Scratch::for_framework(Framework::Sglang).unwrap().unwrap();
        let dir = s.path().to_path_buf();
        s.keep();
        assert!(dir.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn shared_memory_held_open_by_the_group_is_noted_and_removed() {
        use std::os::unix::process::CommandExt;
        let name = format!("sglang_loads_test_{}.shm", std::process::id());
        let file = Path::new("/dev/shm").join(&name);
        if std::fs::write(&file, b"x").is_err() {
            return; // no /dev/shm here
        }
        // A process in its own group holding the file open, as SGLang's scheduler does.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec 3<{}; echo ready; read x", file.display()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let pgid = child.id() as i32;
        let mut s = Scratch::for_framework(Framework::Sglang).unwrap().unwrap();
        s.note_shared_memory(pgid);
        drop(child.stdin.take());
        child.wait().unwrap();
        assert_eq!(s.shm, vec![file.clone()]);
        s.remove();
        assert!(!file.exists());
    }
}
