//! Write-ahead journal: every completed request is appended (one JSON line, flushed) as it
//! completes, so a crash (even `kill -9`) loses nothing and `run --resume <run-id>` can
//! continue. Removed once the run finishes; kept after Ctrl-C (so the stopped iteration can be
//! resumed).
//!
//! Lines: a `header` (run id, config hash, resolved config, iteration count, the `run`
//! arguments that resume it), then per sweep iteration `iteration` (start), `record`s, and
//! `iteration_done` (its result file written) or `iteration_interrupted` (Ctrl-C: its partial
//! file); `resumed` each time the run is resumed.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::metrics::request::RequestRecord;

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
    #[error("the config changed since run '{run_id}' started (hash {then} → {now}); resume needs the same config: undo the change, or start a new run without --resume")]
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
        /// `llm-inf-bench run` arguments (config path, flags) that continue this run, before
        /// `--resume <run-id>`. Never holds a secret (URLs are redacted).
        #[serde(default)]
        resume_args: Vec<String>,
    },
    Resumed {
        at: chrono::DateTime<chrono::Utc>,
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
    /// Ctrl-C stopped the iteration: its partial result is saved, its records stay for
    /// `--resume`, which replaces that file with the whole iteration's.
    IterationInterrupted {
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

/// Appends lines, each handed to the OS as written (a killed process loses none of them).
pub struct JournalWriter {
    path: PathBuf,
    file: File,
    /// Lines this writer may still write before failing (the [`FAIL_AFTER_ENV`] hook).
    budget: Option<usize>,
}

/// Test hook: a journal writer fails every line after this many, as on a full disk (ENOSPC).
/// Not for normal use.
pub const FAIL_AFTER_ENV: &str = "LLM_INF_BENCH_FAIL_JOURNAL_AFTER";

fn write_budget() -> Option<usize> {
    std::env::var(FAIL_AFTER_ENV).ok()?.parse().ok()
}

/// Most `-N` suffixes tried for a new journal's run id.
const MAX_SUFFIX: usize = 1000;

impl JournalWriter {
    /// Create the journal of a new run in `dir`. Another run may have started in the same second
    /// with the same name: then the id gets a `-2`, `-3`… suffix. Returns the run id used.
    pub fn create(dir: &Path, run_id: &str) -> Result<(String, Self), JournalError> {
        Self::create_unless(dir, run_id, &|_| false)
    }

    /// [`JournalWriter::create`], also skipping ids for which `taken` says a file of that
    /// run exists already (a sweep's results carry the run's time stamp in their own names).
    pub fn create_unless(
        dir: &Path,
        run_id: &str,
        taken: &dyn Fn(&str) -> bool,
    ) -> Result<(String, Self), JournalError> {
        std::fs::create_dir_all(dir).map_err(|source| JournalError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut last_err = None;
        for n in 1..=MAX_SUFFIX {
            let id = if n == 1 {
                run_id.to_string()
            } else {
                format!("{run_id}-{n}")
            };
            let path = journal_path(dir, &id);
            // A finished run of that id left its result file: the id is taken too.
            if dir.join(format!("{id}.json")).exists() || taken(&id) {
                continue;
            }
            match private_new_file(&path) {
                Ok(file) => {
                    let budget = write_budget();
                    return Ok((id, Self { path, file, budget }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(source) => return Err(JournalError::Write { path, source }),
            }
        }
        Err(JournalError::Write {
            path: journal_path(dir, run_id),
            source: last_err.unwrap_or_else(|| std::io::Error::other("no free journal name")),
        })
    }

    /// Reopen an existing journal for appending (resume). A torn last line (the write a crash
    /// cut) is ended first, so the next line does not run into it.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let err = |source| JournalError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        if !ends_with_newline(&mut file).map_err(err)? {
            file.write_all(b"\n").map_err(err)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            budget: write_budget(),
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
        if let Some(budget) = self.budget.as_mut() {
            if *budget == 0 {
                return Err(JournalError::Write {
                    path: self.path.clone(),
                    source: std::io::Error::from_raw_os_error(28), // ENOSPC
                });
            }
            *budget -= 1;
        }
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

/// A new file only its owner can read (0600), like result files: a journal holds the run's
/// config and every reply's timing.
fn private_new_file(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.append(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// An empty file counts as ending with a newline (nothing to end).
fn ends_with_newline(file: &mut File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// What a journal says about an unfinished run.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalState {
    pub run_id: String,
    pub config_hash: String,
    pub config: serde_json::Value,
    pub iterations: usize,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// `run` arguments before `--resume` (see [`Line::Header`]).
    pub resume_args: Vec<String>,
    /// Earlier resumes of this run.
    pub resumed_at: Vec<chrono::DateTime<chrono::Utc>>,
    /// Iterations whose result file was written (1-based index → file).
    pub finished: BTreeMap<usize, String>,
    /// Records of unfinished iterations, by iteration; a request index appears once.
    pub records: BTreeMap<usize, Vec<RequestRecord>>,
    /// Partial result files saved when Ctrl-C stopped an iteration (index → file).
    pub interrupted: BTreeMap<usize, String>,
}

impl JournalState {
    pub fn completed_requests(&self) -> usize {
        self.records.values().map(Vec::len).sum()
    }

    /// The command that continues this run.
    pub fn resume_command(&self) -> String {
        resume_command(&self.resume_args, &self.run_id)
    }
}

/// `llm-inf-bench run <resume_args> --resume <run_id>`, quoted for a shell.
pub fn resume_command(resume_args: &[String], run_id: &str) -> String {
    let mut parts = vec!["llm-inf-bench".to_string(), "run".to_string()];
    if resume_args.is_empty() {
        parts.push("<config>".into());
    }
    parts.extend(resume_args.iter().map(|a| shell_quote(a)));
    parts.push("--resume".into());
    parts.push(shell_quote(run_id));
    parts.join(" ")
}

/// `arg` as one shell word (single-quoted when it holds anything but safe characters).
fn shell_quote(arg: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// Read a journal. A torn (unparseable) line — the last write of a crash — is skipped.
pub fn read(path: &Path) -> Result<JournalState, JournalError> {
    let file = File::open(path).map_err(|source| JournalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Split on bytes, not `lines()`: a torn line may end inside a UTF-8 character, and must
    // not stop the lines after it (a resumed run appends there) from being read.
    let mut lines = BufReader::new(file).split(b'\n');
    let mut state = state_from_header(lines.next(), path)?;
    let mut by_index: BTreeMap<usize, BTreeMap<usize, RequestRecord>> = BTreeMap::new();
    for line in lines {
        let line = line.map_err(|source| JournalError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Line>(&line) {
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
            Ok(Line::IterationInterrupted { index, result }) => {
                state.interrupted.insert(index, result);
            }
            Ok(Line::Resumed { at }) => state.resumed_at.push(at),
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

/// The state a journal starts from: its header line, nothing measured yet.
fn state_from_header(
    first: Option<std::io::Result<Vec<u8>>>,
    path: &Path,
) -> Result<JournalState, JournalError> {
    let header = first
        .and_then(|l| l.ok())
        .and_then(|l| serde_json::from_slice::<Line>(&l).ok());
    let Some(Line::Header {
        run_id,
        config_hash,
        config,
        iterations,
        started_at,
        resume_args,
    }) = header
    else {
        return Err(JournalError::NoHeader {
            path: path.to_path_buf(),
        });
    };
    Ok(JournalState {
        run_id,
        config_hash,
        config,
        iterations,
        started_at,
        resume_args,
        resumed_at: Vec::new(),
        finished: BTreeMap::new(),
        records: BTreeMap::new(),
        interrupted: BTreeMap::new(),
    })
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
            pacing: Default::default(),
            timings: StreamTimings {
                token_offsets_us: vec![100, 200],
                end_us: 250,
                chunk_tokens: Vec::new(),
            },
            prompt_tokens: Some(4),
            completion_tokens: Some(2),
            token_count_source: None,
            error: None,
            requested_input_tokens: None,
            requested_output_tokens: None,
        }
    }

    #[test]
    fn round_trip_skips_torn_line_and_finished_iterations() {
        let dir = tempfile::tempdir().unwrap();
        let (id, mut w) = JournalWriter::create(dir.path(), "r-1").unwrap();
        assert_eq!(id, "r-1");
        let path = w.path().to_path_buf();
        let config = serde_json::json!({"name": "r"});
        w.append(&Line::Header {
            run_id: "r-1".into(),
            config_hash: config_hash(&config),
            config: config.clone(),
            iterations: 2,
            started_at: chrono::Utc::now(),
            resume_args: vec!["exp.yaml".into()],
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
        // Cut inside a multi-byte character: not even UTF-8.
        f.write_all(b"{\"type\":\"record\",\"error\":\"\xe2\x86")
            .unwrap();
        drop(f);
        // Resuming ends the torn line before appending, so the new line is whole.
        let mut w = JournalWriter::open(&path).unwrap();
        let at = chrono::Utc::now();
        w.append(&Line::Resumed { at }).unwrap();
        w.append(&Line::Record {
            iteration: 2,
            record: record(2),
        })
        .unwrap();
        drop(w);

        let state = read(&path).unwrap();
        assert_eq!(state.run_id, "r-1");
        assert_eq!(state.config_hash, config_hash(&config));
        assert_eq!(state.finished.get(&1).map(String::as_str), Some("a.json"));
        assert_eq!(state.records.get(&1), None);
        assert_eq!(state.records[&2].len(), 3);
        assert_eq!(state.resumed_at, vec![at]);
        assert_eq!(
            state.resume_command(),
            "llm-inf-bench run exp.yaml --resume r-1"
        );
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
    fn a_second_run_in_the_same_second_gets_its_own_journal() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _wa) = JournalWriter::create(dir.path(), "exp-1").unwrap();
        let (b, _wb) = JournalWriter::create(dir.path(), "exp-1").unwrap();
        assert_eq!(a, "exp-1");
        assert_eq!(b, "exp-1-2");
        assert_eq!(list(dir.path()).len(), 2);
        // A finished run's result file holds its id as well.
        std::fs::write(dir.path().join("exp-1-3.json"), "{}").unwrap();
        let (c, _wc) = JournalWriter::create(dir.path(), "exp-1").unwrap();
        assert_eq!(c, "exp-1-4");
    }

    #[cfg(unix)]
    #[test]
    fn journals_are_private_like_results() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (_, w) = JournalWriter::create(dir.path(), "exp-1").unwrap();
        let mode = std::fs::metadata(w.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn resume_command_quotes_odd_arguments() {
        let state = JournalState {
            run_id: "r".into(),
            config_hash: String::new(),
            config: serde_json::Value::Null,
            iterations: 1,
            started_at: chrono::Utc::now(),
            resume_args: vec!["my exp's.yaml".into(), "--output-dir".into(), "out".into()],
            resumed_at: Vec::new(),
            finished: BTreeMap::new(),
            records: BTreeMap::new(),
            interrupted: BTreeMap::new(),
        };
        assert_eq!(
            state.resume_command(),
            "llm-inf-bench run 'my exp'\\''s.yaml' --output-dir out --resume r"
        );
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
