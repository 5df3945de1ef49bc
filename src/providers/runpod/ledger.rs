//! `pods.json` in the app directory: every pod this tool created and has not yet seen
//! terminated, so `server status`, `server stop` and `doctor` find leftovers after a crash.
//!
//! Writes are atomic (temp file + rename in the same directory) and serialised between
//! processes with an advisory lock, so two runs at once never lose each other's entries. A
//! missing file is an empty ledger; a corrupt one is set aside (never silently overwritten)
//! and reported.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const LEDGER_FILE: &str = "pods.json";

/// One pod started by this tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodRecord {
    pub pod_id: String,
    pub name: String,
    pub run_name: String,
    pub created_at: DateTime<Utc>,
    /// RunPod's GPU id (e.g. `NVIDIA A100 80GB PCIe`).
    pub gpu_type: String,
    pub cost_per_hr: Option<f64>,
    /// The API root it was created through (so a fake's pods are not confused with real ones).
    pub api_url: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LedgerFile {
    #[serde(default)]
    pods: Vec<PodRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot {action} the pod ledger {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the pod ledger {} is unreadable ({message}); check it for pods still running on RunPod", path.display())]
    Corrupt { path: PathBuf, message: String },
}

/// What a write had to say besides success: a corrupt ledger that was set aside.
pub type LedgerNote = Option<String>;

#[derive(Debug, Clone)]
pub struct Ledger {
    path: PathBuf,
}

impl Ledger {
    /// The ledger in `app_dir` (`<app_dir>/pods.json`).
    pub fn new(app_dir: &Path) -> Self {
        Self {
            path: app_dir.join(LEDGER_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All records; a missing file is empty, a corrupt one an error (callers report it).
    pub fn load(&self) -> Result<Vec<PodRecord>, LedgerError> {
        let _lock = self.lock()?;
        self.read().map(|f| f.pods)
    }

    /// Add or replace (by pod id) a record.
    pub fn record(&self, rec: PodRecord) -> Result<LedgerNote, LedgerError> {
        self.update(|pods| {
            pods.retain(|p| p.pod_id != rec.pod_id);
            pods.push(rec);
        })
    }

    /// Remove a pod; `Ok` also when it was not recorded.
    pub fn remove(&self, pod_id: &str) -> Result<LedgerNote, LedgerError> {
        self.update(|pods| pods.retain(|p| p.pod_id != pod_id))
    }

    fn update(&self, change: impl FnOnce(&mut Vec<PodRecord>)) -> Result<LedgerNote, LedgerError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io("create the directory of", e))?;
        let _lock = self.lock()?;
        let (mut file, note) = match self.read() {
            Ok(f) => (f, None),
            Err(LedgerError::Corrupt { message, .. }) => {
                let aside = self.path.with_extension(format!(
                    "json.corrupt-{}",
                    Utc::now().format("%Y%m%dT%H%M%S")
                ));
                std::fs::rename(&self.path, &aside).map_err(|e| self.io("set aside", e))?;
                let note = format!(
                    "pod ledger {} was unreadable ({message}); moved it to {} and started a new \
                     one — check that file for pods still running",
                    self.path.display(),
                    aside.display()
                );
                tracing::warn!("{note}");
                (LedgerFile::default(), Some(note))
            }
            Err(e) => return Err(e),
        };
        change(&mut file.pods);
        let json = serde_json::to_vec_pretty(&file).map_err(|e| LedgerError::Corrupt {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| self.io("write", e))?;
        tmp.write_all(&json)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| self.io("write", e))?;
        tmp.persist(&self.path)
            .map_err(|e| self.io("replace", e.error))?;
        Ok(note)
    }

    fn read(&self) -> Result<LedgerFile, LedgerError> {
        match std::fs::read(&self.path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(LedgerFile::default()),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| LedgerError::Corrupt {
                path: self.path.clone(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LedgerFile::default()),
            Err(e) => Err(self.io("read", e)),
        }
    }

    /// Exclusive advisory lock on `pods.json.lock` for the guard's lifetime (no-op where the
    /// lock file cannot be created, e.g. a read-only directory with no ledger yet).
    fn lock(&self) -> Result<Option<FileLock>, LedgerError> {
        let lock_path = self.path.with_extension("json.lock");
        match OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
        {
            Ok(f) => FileLock::acquire(f)
                .map(Some)
                .map_err(|e| self.io("lock", e)),
            Err(_) => Ok(None),
        }
    }

    fn io(&self, action: &'static str, source: std::io::Error) -> LedgerError {
        LedgerError::Io {
            action,
            path: self.path.clone(),
            source,
        }
    }
}

/// Held `flock`; released when the file closes.
struct FileLock(#[allow(dead_code)] File);

impl FileLock {
    #[cfg(unix)]
    fn acquire(file: File) -> std::io::Result<Self> {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a file descriptor we own for the guard's lifetime.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            Ok(Self(file))
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    #[cfg(not(unix))]
    fn acquire(file: File) -> std::io::Result<Self> {
        Ok(Self(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str) -> PodRecord {
        PodRecord {
            pod_id: id.into(),
            name: format!("llm-inf-bench-{id}"),
            run_name: id.into(),
            created_at: Utc::now(),
            gpu_type: "NVIDIA L4".into(),
            cost_per_hr: Some(0.43),
            api_url: "http://x".into(),
        }
    }

    #[test]
    fn record_remove_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path());
        assert!(l.load().unwrap().is_empty());
        l.record(rec("a")).unwrap();
        l.record(rec("b")).unwrap();
        l.record(rec("a")).unwrap();
        let ids: Vec<_> = l.load().unwrap().into_iter().map(|r| r.pod_id).collect();
        assert_eq!(ids, ["b", "a"]);
        l.remove("a").unwrap();
        l.remove("zzz").unwrap();
        assert_eq!(l.load().unwrap().len(), 1);
    }

    #[test]
    fn corrupt_ledger_is_reported_and_set_aside_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path());
        std::fs::write(l.path(), "{not json").unwrap();
        assert!(matches!(l.load(), Err(LedgerError::Corrupt { .. })));
        let note = l.record(rec("a")).unwrap();
        assert!(note.unwrap().contains("corrupt-"));
        assert_eq!(l.load().unwrap().len(), 1);
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().contains("corrupt"));
        assert!(aside);
    }
}
