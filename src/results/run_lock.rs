//! One process at a time per run: `{run_id}.lock` beside the journal, `flock`ed for as long as
//! a process runs or resumes that run, so a second `--resume` cannot merge the same records
//! twice. The kernel releases an `flock` when its process dies (even `kill -9`), so a lock
//! left by a dead process is simply taken over; the file holds the holder's pid for the
//! message. The lock is released (and its file removed) when the [`RunLock`] is dropped.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

pub const LOCK_SUFFIX: &str = ".lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("run '{run_id}' is already being run or resumed by another process{} (lock {}); wait for it to finish, or stop it, then resume again", holder.map(|p| format!(" (pid {p})")).unwrap_or_default(), path.display())]
    Held {
        run_id: String,
        holder: Option<u32>,
        path: PathBuf,
    },
    #[error("cannot lock run '{run_id}' with {}: {source}", path.display())]
    Io {
        run_id: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held while a process runs or resumes one run. Dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    #[allow(dead_code)] // Holding the open file holds the lock.
    file: File,
}

pub fn lock_path(dir: &Path, run_id: &str) -> PathBuf {
    dir.join(format!("{run_id}{LOCK_SUFFIX}"))
}

/// Whether another process holds `run_id`'s lock now (its run or resume is still going):
/// `Some(pid)` (the pid when the file names one), `None` when nobody does. The probe takes the
/// lock for an instant when it is free, and never creates or removes the file.
pub fn holder(dir: &Path, run_id: &str) -> Option<Option<u32>> {
    let mut file = File::open(lock_path(dir, run_id)).ok()?;
    match try_lock(&file) {
        Ok(false) => Some(read_pid(&mut file)),
        // Free (closing `file` releases it again), or it cannot be told: not running.
        _ => None,
    }
}

impl RunLock {
    /// Take the lock of `run_id` in `dir`, or say which process holds it.
    pub fn acquire(dir: &Path, run_id: &str) -> Result<Self, LockError> {
        let path = lock_path(dir, run_id);
        let io = |source| LockError::Io {
            run_id: run_id.to_string(),
            path: path.clone(),
            source,
        };
        // Another process may remove the file between our open and our flock (it was
        // releasing): then the lock we got is on a file nobody else can find; try again.
        for _ in 0..10 {
            let mut file = open(&path).map_err(io)?;
            if !try_lock(&file).map_err(io)? {
                return Err(LockError::Held {
                    run_id: run_id.to_string(),
                    holder: read_pid(&mut file),
                    path,
                });
            }
            if !same_file(&file, &path) {
                continue;
            }
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            writeln!(file, "{}", std::process::id()).map_err(io)?;
            return Ok(Self { path, file });
        }
        Err(io(std::io::Error::other("the lock file kept changing")))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Remove first, unlock (close) after: nobody can lock the removed file in between
        // and believe they hold the run (they check `same_file`).
        let _ = std::fs::remove_file(&self.path);
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) on a descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(err),
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

/// The file we locked is still the one at `path`.
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path(), "r-1").unwrap();
        let text = std::fs::read_to_string(lock_path(dir.path(), "r-1")).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        // flock is per open file: a second acquire in this process is refused as well.
        match RunLock::acquire(dir.path(), "r-1").unwrap_err() {
            LockError::Held { holder, .. } => assert_eq!(holder, Some(std::process::id())),
            other => panic!("{other}"),
        }
        drop(first);
        assert!(!lock_path(dir.path(), "r-1").exists());
        let again = RunLock::acquire(dir.path(), "r-1").unwrap();
        drop(again);
    }

    #[test]
    fn holder_tells_a_held_lock_from_a_free_or_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(holder(dir.path(), "r"), None, "no lock file");
        let lock = RunLock::acquire(dir.path(), "r").unwrap();
        assert_eq!(holder(dir.path(), "r"), Some(Some(std::process::id())));
        // The probe left the lock with its holder.
        assert!(RunLock::acquire(dir.path(), "r").is_err());
        drop(lock);
        assert_eq!(holder(dir.path(), "r"), None);
        // A file a killed process left (its pid, no flock) is not a running run.
        std::fs::write(lock_path(dir.path(), "r"), "4242\n").unwrap();
        assert_eq!(holder(dir.path(), "r"), None);
        assert!(
            lock_path(dir.path(), "r").exists(),
            "the probe removes nothing"
        );
    }

    #[test]
    fn a_lock_file_nobody_holds_is_taken_over() {
        // What a killed process leaves: the file with its pid, no flock.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(lock_path(dir.path(), "r-1"), "999999999\n").unwrap();
        let lock = RunLock::acquire(dir.path(), "r-1").unwrap();
        let text = std::fs::read_to_string(lock_path(dir.path(), "r-1")).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        drop(lock);
    }
}
