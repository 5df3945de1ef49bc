//! The one owner of a run's journal: opened (or reopened for `--resume`) once, appended to by
//! the run and its collector, removed when every result file is written. A new run also holds
//! the run's lock (`run_lock`) so it cannot be resumed while it still runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::journal::{self, JournalError, JournalState, JournalWriter, Line};
use super::run_lock::{LockError, RunLock};
use super::storage;
use crate::events::EventSink;
use crate::metrics::request::RequestRecord;

/// A new run's journal header: what `--resume` checks and shows.
pub struct NewJournal<'a> {
    pub dir: &'a Path,
    /// The base run id wanted; a `-N` suffix is added when it is taken.
    pub run_id: &'a str,
    pub config: serde_json::Value,
    pub iterations: usize,
    pub resume_args: Vec<String>,
    /// The names of the run's result files (one per sweep iteration): an id whose result
    /// file names are taken is taken too.
    pub result_names: Vec<String>,
}

/// A run's journal. Cheap to clone; writes are serialized by a lock that is never taken on
/// a request task (only by the run and the collector).
#[derive(Clone)]
pub struct RunJournal {
    inner: Arc<Inner>,
    run_id: String,
    /// Every time the run was resumed (this one last); `None` for a new run.
    resumed_at: Option<Vec<DateTime<Utc>>>,
    resume_args: Vec<String>,
}

struct Inner {
    writer: Mutex<JournalWriter>,
    failures: Mutex<WriteFailures>,
    events: EventSink,
    /// Released with the last clone (after `finish`, or when the run ends with an error).
    _lock: Option<RunLock>,
}

/// Failed appends (a full disk fails every one of them): the first is reported at once,
/// the rest are counted and reported once, collapsed.
#[derive(Default)]
struct WriteFailures {
    first: Option<String>,
    count: usize,
}

impl RunJournal {
    /// Create a new run's journal, header first, and take the run's lock.
    pub fn create(new: NewJournal<'_>, events: EventSink) -> Result<Self, JournalError> {
        let taken = |id: &str| {
            new.result_names.iter().any(|name| {
                let file = format!("{}.json", storage::iteration_run_id(name, id));
                new.dir.join(file).exists()
            })
        };
        let (run_id, mut writer) = JournalWriter::create_unless(new.dir, new.run_id, &taken)?;
        let lock = match RunLock::acquire(new.dir, &run_id) {
            Ok(lock) => lock,
            Err(e) => {
                let path = writer.path().to_path_buf();
                let _ = writer.remove();
                return Err(lock_error(&path, e));
            }
        };
        writer.append(&Line::Header {
            run_id: run_id.clone(),
            config_hash: journal::config_hash(&new.config),
            config: new.config,
            iterations: new.iterations,
            started_at: Utc::now(),
            resume_args: new.resume_args.clone(),
        })?;
        tracing::debug!("journal: {}", writer.path().display());
        Ok(Self::with(
            writer,
            run_id,
            None,
            new.resume_args,
            Some(lock),
            events,
        ))
    }

    /// Reopen an interrupted run's journal and note this resume. The caller holds the run's
    /// lock (taken before anything was provisioned, see [`lock_for_resume`]).
    pub fn resume(
        dir: &Path,
        state: &JournalState,
        events: EventSink,
    ) -> Result<Self, JournalError> {
        let mut writer = JournalWriter::open(&journal::journal_path(dir, &state.run_id))?;
        let now = Utc::now();
        writer.append(&Line::Resumed { at: now })?;
        let mut resumed_at = state.resumed_at.clone();
        resumed_at.push(now);
        let args = state.resume_args.clone();
        Ok(Self::with(
            writer,
            state.run_id.clone(),
            Some(resumed_at),
            args,
            None,
            events,
        ))
    }

    fn with(
        writer: JournalWriter,
        run_id: String,
        resumed_at: Option<Vec<DateTime<Utc>>>,
        resume_args: Vec<String>,
        lock: Option<RunLock>,
        events: EventSink,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                failures: Mutex::new(WriteFailures::default()),
                events,
                _lock: lock,
            }),
            run_id,
            resumed_at,
            resume_args,
        }
    }

    /// The run id the journal is named after.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The journal file.
    pub fn path(&self) -> PathBuf {
        match self.inner.writer.lock() {
            Ok(w) => w.path().to_path_buf(),
            Err(e) => e.into_inner().path().to_path_buf(),
        }
    }

    /// The command that continues this run from its journal.
    pub fn resume_command(&self) -> String {
        journal::resume_command(&self.resume_args, &self.run_id)
    }

    pub fn resumed_at(&self) -> Option<Vec<DateTime<Utc>>> {
        self.resumed_at.clone()
    }

    /// How many lines could not be written (their records are only in memory).
    pub fn failed_writes(&self) -> usize {
        self.inner.failures.lock().map(|f| f.count).unwrap_or(0)
    }

    pub fn iteration_started(&self, index: usize) {
        self.append(&Line::Iteration { index });
    }

    pub fn iteration_done(&self, index: usize, result: &Path) {
        self.append(&Line::IterationDone {
            index,
            result: result.display().to_string(),
        });
    }

    /// Ctrl-C stopped iteration `index`; its partial result is `result` (see
    /// [`Line::IterationInterrupted`]).
    pub fn iteration_interrupted(&self, index: usize, result: &Path) {
        self.append(&Line::IterationInterrupted {
            index,
            result: result.display().to_string(),
        });
    }

    /// A callback journaling each record of `iteration` (for the workload's collector).
    pub fn recorder(&self, iteration: usize) -> Box<dyn FnMut(&RequestRecord) + Send> {
        let journal = self.clone();
        Box::new(move |record| {
            journal.append(&Line::Record {
                iteration,
                record: record.clone(),
            })
        })
    }

    /// Say once how many more writes failed the same way as the first (reported at once).
    pub fn report_failures(&self) {
        let Ok(mut f) = self.inner.failures.lock() else {
            return;
        };
        if let (Some(first), n) = (f.first.take(), f.count) {
            if n > 1 {
                self.inner.events.warn(collapsed(&first, n));
            }
        }
    }

    /// Every result is written: remove the journal. Only the last clone removes it.
    pub fn finish(self) -> Result<(), JournalError> {
        self.report_failures();
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => match inner.writer.into_inner() {
                Ok(writer) => writer.remove(),
                Err(_) => Ok(()),
            },
            Err(_) => Ok(()),
        }
    }

    /// A failed write is reported, not fatal: the measurement itself is still kept in memory.
    fn append(&self, line: &Line) {
        let result = match self.inner.writer.lock() {
            Ok(mut writer) => writer.append(line).map_err(|e| e.to_string()),
            Err(_) => Err("journal unavailable after a panic".to_string()),
        };
        if let Err(message) = result {
            let Ok(mut f) = self.inner.failures.lock() else {
                return;
            };
            f.count += 1;
            if f.first.is_none() {
                self.inner.events.warn(format!(
                    "{message}; the run goes on, its requests are kept in memory for the result file"
                ));
                f.first = Some(message);
            }
        }
    }
}

/// `message (repeated N times)`.
pub fn collapsed(message: &str, times: usize) -> String {
    format!("{message} (repeated {times} times)")
}

fn lock_error(journal: &Path, e: LockError) -> JournalError {
    JournalError::Write {
        path: journal.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// The run's lock for `--resume`: refused while another process runs or resumes it.
pub fn lock_for_resume(run_id: &str, dir: &Path) -> Result<RunLock, LockError> {
    RunLock::acquire(dir, run_id)
}

/// The journal of `run_id` in `dir`, checked against the config being run now
/// (`config`: the resolved experiment as JSON).
pub fn load_for_resume(
    run_id: &str,
    dir: &Path,
    config: &serde_json::Value,
) -> Result<JournalState, JournalError> {
    let path = journal::journal_path(dir, run_id);
    if !path.exists() {
        return Err(JournalError::NotFound {
            run_id: run_id.to_string(),
            dir: dir.to_path_buf(),
        });
    }
    let state = journal::read(&path)?;
    let now = journal::config_hash(config);
    if now != state.config_hash {
        return Err(JournalError::ConfigChanged {
            run_id: run_id.to_string(),
            then: state.config_hash.clone(),
            now,
        });
    }
    Ok(state)
}
