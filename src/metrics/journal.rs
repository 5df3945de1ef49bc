//! Write-ahead journal: every completed request is appended (one JSON line, flushed) as it
//! completes, so a crash (even `kill -9`) loses nothing and `run --resume <run-id>` can
//! continue. Removed once the run finishes (normally or interrupted with its partial results
//! saved).
//!
//! Lines: a `header` (run id, config hash, resolved config, iteration count), then per sweep
//! iteration `iteration` (start), `record`s, and `iteration_done` (its result file written).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::request::RequestRecord;

pub const JOURNAL_SUFFIX: &str = ".journal.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write the journal {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the journal {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no journal for run '{run_id}' in {dir} (see `llm-inf-bench list` for interrupted runs)"
    )]
    NotFound { run_id: String, dir: PathBuf },
    #[error("{path}: not a journal (line 1 has no header)")]
    NoHeader { path: PathBuf },
    #[error("the config changed since run '{run_id}' started (hash {then} → {now}); resume needs the same config")]
    ConfigChanged {
        run_id: String,
        then: String,
        now: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Header {
        run_id: String,
        config_hash: String,
        config: serde_json::Value,
        iterations: usize,
        started_at: chrono::DateTime<chrono::Utc>,
    },
    Iteration {
        index: usize,
    },
    Record {
        iteration: usize,
        #[serde(flatten)]
        record: RequestRecord,
    },
    IterationDone {
        index: usize,
        result: String,
    },
}

/// SHA-256 of the resolved config's canonical JSON.
pub fn config_hash(config: &serde_json::Value) -> String {
    let digest = Sha256::digest(config.to_string().as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

pub fn journal_path(dir: &Path, run_id: &str) -> PathBuf {
    dir.join(format!("{run_id}{JOURNAL_SUFFIX}"))
}

/// Appends lines, each flushed to the OS as written.
pub struct JournalWriter {
    path: PathBuf,
    file: File,
}

impl JournalWriter {
    /// Create a new journal, or reopen an existing one for appending (resume).
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let err = |source| JournalError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&mut self, line: &Line) -> Result<(), JournalError> {
        let mut text = serde_json::to_string(line).map_err(|e| JournalError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        text.push('\n');
        // One write per line: a crash leaves at most one torn last line, skipped on read.
        self.file
            .write_all(text.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|source| JournalError::Write {
                path: self.path.clone(),
                source,
            })
    }

    /// The run finished and its result files are written: the journal is no longer needed.
    pub fn remove(self) -> Result<(), JournalError> {
        drop(self.file);
        std::fs::remove_file(&self.path).map_err(|source| JournalError::Write {
            path: self.path,
            source,
        })
    }
}

/// What a journal says about an unfinished run.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalState {
    pub run_id: String,
    pub config_hash: String,
    pub config: serde_json::Value,
    pub iterations: usize,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Iterations whose result file was written (1-based index → file).
    pub finished: BTreeMap<usize, String>,
    /// Records of unfinished iterations, by iteration; a request index appears once.
    pub records: BTreeMap<usize, Vec<RequestRecord>>,
}

impl JournalState {
    pub fn completed_requests(&self) -> usize {
        self.records.values().map(Vec::len).sum()
    }
}

/// Read a journal. A torn (unparseable) line — the last write of a crash — is skipped.
pub fn read(path: &Path) -> Result<JournalState, JournalError> {
    let file = File::open(path).map_err(|source| JournalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut lines = BufReader::new(file).lines();
    let header = lines
        .next()
        .and_then(|l| l.ok())
        .and_then(|l| serde_json::from_str::<Line>(&l).ok());
    let Some(Line::Header {
        run_id,
        config_hash,
        config,
        iterations,
        started_at,
    }) = header
    else {
        return Err(JournalError::NoHeader {
            path: path.to_path_buf(),
        });
    };
    let mut state = JournalState {
        run_id,
        config_hash,
        config,
        iterations,
        started_at,
        finished: BTreeMap::new(),
        records: BTreeMap::new(),
    };
    let mut by_index: BTreeMap<usize, BTreeMap<usize, RequestRecord>> = BTreeMap::new();
    for line in lines.map_while(Result::ok) {
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Record { iteration, record }) => {
                by_index
                    .entry(iteration)
                    .or_default()
                    .insert(record.request_index, record);
            }
            Ok(Line::IterationDone { index, result }) => {
                state.finished.insert(index, result);
                by_index.remove(&index);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(
                "{}: skipping an unreadable journal line: {e}",
                path.display()
            ),
        }
    }
    state.records = by_index
        .into_iter()
        .map(|(it, recs)| (it, recs.into_values().collect()))
        .collect();
    Ok(state)
}

/// Journals of unfinished runs in `dir`.
pub fn list(dir: &Path) -> Vec<(PathBuf, Result<JournalState, JournalError>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(JOURNAL_SUFFIX))
        })
        .collect();
    paths.sort();
    paths.into_iter().map(|p| (p.clone(), read(&p))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::request::StreamTimings;

    fn record(i: usize) -> RequestRecord {
        let now = chrono::Utc::now();
        RequestRecord {
            request_index: i,
            conversation_index: None,
            turn_index: None,
            started_at: now,
            finished_at: now,
            send_delay_us: 3,
            timings: StreamTimings {
                token_offsets_us: vec![100, 200],
                end_us: 250,
            },
            prompt_tokens: Some(4),
            completion_tokens: Some(2),
            token_count_source: None,
            error: None,
        }
    }

    #[test]
    fn round_trip_skips_torn_line_and_finished_iterations() {
        let dir = tempfile::tempdir().unwrap();
        let path = journal_path(dir.path(), "r-1");
        let mut w = JournalWriter::open(&path).unwrap();
        let config = serde_json::json!({"name": "r"});
        w.append(&Line::Header {
            run_id: "r-1".into(),
            config_hash: config_hash(&config),
            config: config.clone(),
            iterations: 2,
            started_at: chrono::Utc::now(),
        })
        .unwrap();
        w.append(&Line::Iteration { index: 1 }).unwrap();
        w.append(&Line::Record {
            iteration: 1,
            record: record(0),
        })
        .unwrap();
        w.append(&Line::IterationDone {
            index: 1,
            result: "a.json".into(),
        })
        .unwrap();
        w.append(&Line::Iteration { index: 2 }).unwrap();
        w.append(&Line::Record {
            iteration: 2,
            record: record(0),
        })
        .unwrap();
        w.append(&Line::Record {
            iteration: 2,
            record: record(1),
        })
        .unwrap();
        // A duplicate (e.g. written twice around a crash) counts once.
        w.append(&Line::Record {
            iteration: 2,
            record: record(1),
        })
        .unwrap();
        drop(w);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"type\":\"record\",\"iter").unwrap();

        let state = read(&path).unwrap();
        assert_eq!(state.run_id, "r-1");
        assert_eq!(state.config_hash, config_hash(&config));
        assert_eq!(state.finished.get(&1).map(String::as_str), Some("a.json"));
        assert_eq!(state.records.get(&1), None);
        assert_eq!(state.records[&2].len(), 2);
        assert_eq!(
            state.records[&2][1],
            record(1).clone_with_same_times(&state.records[&2][1])
        );
        assert_eq!(list(dir.path()).len(), 1);
    }

    impl RequestRecord {
        fn clone_with_same_times(&self, other: &RequestRecord) -> RequestRecord {
            RequestRecord {
                started_at: other.started_at,
                finished_at: other.finished_at,
                ..self.clone()
            }
        }
    }

    #[test]
    fn hash_changes_with_config() {
        let a = config_hash(&serde_json::json!({"count": 1}));
        let b = config_hash(&serde_json::json!({"count": 2}));
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn missing_header_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.journal.jsonl");
        std::fs::write(&path, "garbage\n").unwrap();
        assert!(matches!(read(&path), Err(JournalError::NoHeader { .. })));
    }
}
