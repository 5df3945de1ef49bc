//! The one owner of a run's journal: opened (or reopened for `--resume`) once, appended to by
//! the run and its collector, removed when every result file is written.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::journal::{self, JournalError, JournalState, JournalWriter, Line};
use crate::metrics::request::RequestRecord;

/// A new run's journal header: what `--resume` checks and shows.
pub struct NewJournal<'a> {
    pub dir: &'a Path,
    /// The base run id wanted; a `-N` suffix is added when it is taken.
    pub run_id: &'a str,
    pub config: serde_json::Value,
    pub iterations: usize,
    pub resume_args: Vec<String>,
}

/// A run's journal. Cheap to clone; writes are serialized by a lock that is never taken on
/// a request task (only by the run and the collector).
#[derive(Clone)]
pub struct RunJournal {
    writer: Arc<Mutex<JournalWriter>>,
    run_id: String,
    /// Every time the run was resumed (this one last); `None` for a new run.
    resumed_at: Option<Vec<DateTime<Utc>>>,
}

impl RunJournal {
    /// Create a new run's journal, header first.
    pub fn create(new: NewJournal<'_>) -> Result<Self, JournalError> {
        let (run_id, mut writer) = JournalWriter::create(new.dir, new.run_id)?;
        writer.append(&Line::Header {
            run_id: run_id.clone(),
            config_hash: journal::config_hash(&new.config),
            config: new.config,
            iterations: new.iterations,
            started_at: Utc::now(),
            resume_args: new.resume_args,
        })?;
        tracing::debug!("journal: {}", writer.path().display());
        Ok(Self::with(writer, run_id, None))
    }

    /// Reopen an interrupted run's journal and note this resume.
    pub fn resume(dir: &Path, state: &JournalState) -> Result<Self, JournalError> {
        let mut writer = JournalWriter::open(&journal::journal_path(dir, &state.run_id))?;
        let now = Utc::now();
        writer.append(&Line::Resumed { at: now })?;
        let mut resumed_at = state.resumed_at.clone();
        resumed_at.push(now);
        Ok(Self::with(writer, state.run_id.clone(), Some(resumed_at)))
    }

    fn with(writer: JournalWriter, run_id: String, resumed_at: Option<Vec<DateTime<Utc>>>) -> Self {
        Self {
            writer: Arc::new(Mutex::new(writer)),
            run_id,
            resumed_at,
        }
    }

    /// The run id the journal is named after.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn resumed_at(&self) -> Option<Vec<DateTime<Utc>>> {
        self.resumed_at.clone()
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

    /// Every result is written: remove the journal. Only the last clone removes it.
    pub fn finish(self) -> Result<(), JournalError> {
        match Arc::try_unwrap(self.writer).map(Mutex::into_inner) {
            Ok(Ok(writer)) => writer.remove(),
            _ => Ok(()),
        }
    }

    /// A failed write is logged, not fatal: the measurement itself is still kept in memory.
    fn append(&self, line: &Line) {
        match self.writer.lock() {
            Ok(mut writer) => {
                if let Err(e) = writer.append(line) {
                    tracing::warn!("{e}");
                }
            }
            Err(_) => tracing::warn!("journal unavailable after a panic"),
        }
    }
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
