//! Result files on disk (SPEC §8): naming, atomic no-clobber writes, loading, listing, and
//! resolving the `<run>` argument of `show` / `compare` / `export`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, Utc};
use serde::Deserialize;

use crate::results::result::{Metadata, RunResult, RunStatus, Summary};

/// Enough suffixes for any real collision; past this something else is wrong.
const MAX_SUFFIX: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot create results folder {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write result file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode the result as JSON: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("every name from {}.json to -{MAX_SUFFIX} is taken in {}; move old results away", run_id, dir.display())]
    NoFreeName { dir: PathBuf, run_id: String },
    #[error("cannot read result file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid result file: {message} (line {line}, column {column})", path.display())]
    Parse {
        path: PathBuf,
        message: String,
        line: usize,
        column: usize,
    },
    #[error("cannot list results folder {}: {source}", dir.display())]
    ListDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("no run matches '{reference}': it is not a file, and no result id in {} contains it; run `llm-inf-bench list --dir {}` to see the runs", dir.display(), dir.display())]
    NotFound { reference: String, dir: PathBuf },
    #[error("'{reference}' needs more runs than {} has (only {count} runs); run `llm-inf-bench list --dir {}` to see them", dir.display(), dir.display())]
    NotEnoughRuns {
        reference: String,
        count: usize,
        dir: PathBuf,
    },
    #[error("'{reference}' matches {} runs: {}; give more of the run id", matches.len(), matches.join(", "))]
    Ambiguous {
        reference: String,
        matches: Vec<String>,
    },
}

/// Test hook: the time run ids are made from (`YYYYMMDD-HHMMSS`, local), so tests can start
/// two runs "in the same second". Not for normal use.
pub const ID_TIME_ENV: &str = "LLM_INF_BENCH_ID_TIME";
/// Test hook: writing a result file fails as on a full disk (ENOSPC). Not for normal use.
pub const FAIL_WRITE_ENV: &str = "LLM_INF_BENCH_FAIL_RESULT_WRITE";

/// The time new run ids are made from: now, or the [`ID_TIME_ENV`] hook.
pub fn id_time() -> DateTime<Local> {
    std::env::var(ID_TIME_ENV)
        .ok()
        .and_then(|v| chrono::NaiveDateTime::parse_from_str(&v, "%Y%m%d-%H%M%S").ok())
        .and_then(|t| t.and_local_timezone(Local).earliest())
        .unwrap_or_else(Local::now)
}

/// `{name}-{YYYYMMDD-HHMMSS}` in local time (SPEC §8). Characters that do not belong in a
/// file name (path separators, characters Windows forbids, control characters, whitespace)
/// become `-`, so the id is always one plain file; letters of any script are kept.
pub fn new_run_id(name: &str, now: DateTime<Local>) -> String {
    format!("{}-{}", file_safe_name(name), now.format("%Y%m%d-%H%M%S"))
}

/// The id of one iteration of the run `run_id` (a sweep names each iteration): `name` with
/// the run's own time stamp and collision suffix, so every file of a run carries its id.
pub fn iteration_run_id(name: &str, run_id: &str) -> String {
    match id_stamp(run_id) {
        Some(stamp) => format!("{}{stamp}", file_safe_name(name)),
        None => format!("{}-{run_id}", file_safe_name(name)),
    }
}

/// `-YYYYMMDD-HHMMSS[-N]` at the end of a run id.
fn id_stamp(run_id: &str) -> Option<&str> {
    // Where `-YYYYMMDD-HHMMSS` starts, when `s` ends with one.
    let time_at = |s: &str| -> Option<usize> {
        let start = s.len().checked_sub(16)?;
        let t = s.get(start..)?.as_bytes();
        let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
        (t[0] == b'-' && t[9] == b'-' && digits(&t[1..9]) && digits(&t[10..])).then_some(start)
    };
    if let Some(start) = time_at(run_id) {
        return Some(&run_id[start..]);
    }
    let (head, n) = run_id.rsplit_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    time_at(head).map(|start| &run_id[start..])
}

/// `run_id`, or `run_id-2`, `-3`, … : the first with no result file in `dir` yet.
pub fn free_run_id(dir: &Path, run_id: &str) -> String {
    (1..=MAX_SUFFIX)
        .map(|n| suffixed(run_id, n))
        .find(|id| !dir.join(format!("{id}.json")).exists())
        .unwrap_or_else(|| run_id.to_string())
}

fn suffixed(run_id: &str, n: usize) -> String {
    if n == 1 {
        run_id.to_string()
    } else {
        format!("{run_id}-{n}")
    }
}

fn file_safe_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            let invalid = c.is_control()
                || c.is_whitespace()
                || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|');
            if invalid {
                '-'
            } else {
                c
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    if safe.is_empty() { "run" } else { safe }.to_string()
}

/// Writes `{dir}/{run_id}.json` (pretty JSON), creating `dir`. Never overwrites: when the name
/// is taken, `-2`, `-3`, … is appended to both the file name and the `run_id` inside. Atomic:
/// a temp file in the same folder is written, fsynced and renamed without clobbering, so a
/// reader never sees half a file. Returns the path written.
pub fn write_result(dir: &Path, result: &RunResult) -> Result<PathBuf, StorageError> {
    write_result_as(dir, &mut result.clone())
}

/// [`write_result`], leaving in `result.run_id` the id it was written under (the file name),
/// so what is printed afterwards is what `list` shows.
pub fn write_result_as(dir: &Path, result: &mut RunResult) -> Result<PathBuf, StorageError> {
    fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let base_id = result.run_id.clone();
    for n in 1..=MAX_SUFFIX {
        let run_id = suffixed(&base_id, n);
        let path = dir.join(format!("{run_id}.json"));
        if path.exists() {
            continue;
        }
        if std::env::var_os(FAIL_WRITE_ENV).is_some() {
            let source = std::io::Error::from_raw_os_error(28); // ENOSPC
            return Err(StorageError::Write { path, source });
        }
        result.run_id = run_id;
        match persist_new(dir, &path, result) {
            Ok(()) => return Ok(path),
            // Another writer took the name between the check and the rename: next suffix.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                result.run_id = base_id;
                return Err(StorageError::Write { path, source });
            }
        }
    }
    result.run_id = base_id.clone();
    Err(StorageError::NoFreeName {
        dir: dir.to_path_buf(),
        run_id: base_id,
    })
}

/// Streams the JSON straight into the temp file (a large result is never held in memory a
/// second time as text).
fn persist_new(dir: &Path, path: &Path, result: &RunResult) -> std::io::Result<()> {
    // Hidden and not `.json`, so `list` never shows a temp file left by a crash.
    let mut tmp = tempfile::Builder::new()
        .prefix(".result-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    {
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, tmp.as_file_mut());
        serde_json::to_writer_pretty(&mut w, result).map_err(std::io::Error::from)?;
        w.write_all(b"\n")?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map_err(|e| e.error)?;
    // Make the rename itself durable; best effort (not possible on every platform).
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Loads a result file written by this tool or the Python one.
pub fn load_result(path: &Path) -> Result<RunResult, StorageError> {
    let text = fs::read_to_string(path).map_err(|source| StorageError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// What `list` shows about one readable result file.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub run_id: String,
    pub status: RunStatus,
    pub name: String,
    pub started: Option<DateTime<Utc>>,
    pub total_requests: usize,
    pub successful_requests: usize,
    pub tokens_per_second: f64,
    pub ttft_p50_ms: Option<f64>,
    /// `metadata.sweep.id`: the sweep this run is an iteration of.
    pub sweep_id: Option<String>,
}

/// One `*.json` file of the results folder; `info` is the reason when it could not be read.
#[derive(Debug)]
pub struct ResultEntry {
    /// File name without `.json` (what `<run>` resolution matches against).
    pub id: String,
    pub path: PathBuf,
    pub info: Result<RunInfo, String>,
}

/// The head of a result file: the `requests` array is skipped, not built.
#[derive(Deserialize)]
struct Head {
    run_id: String,
    status: RunStatus,
    metadata: Metadata,
    summary: Summary,
}

/// All result files of `dir`, oldest first (unreadable ones last, reported not fatal).
/// A missing folder is an empty list.
pub fn list_results(dir: &Path) -> Result<Vec<ResultEntry>, StorageError> {
    let mut entries: Vec<ResultEntry> = result_files(dir)?
        .into_iter()
        .map(|(id, path)| {
            let info = fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| parse::<Head>(&path, &text).map_err(|e| e.to_string()))
                .map(|head| RunInfo {
                    run_id: head.run_id,
                    status: head.status,
                    name: head.metadata.experiment_name,
                    started: head.metadata.started_at,
                    total_requests: head.summary.total_requests,
                    successful_requests: head.summary.successful_requests,
                    tokens_per_second: head.summary.tokens_per_second,
                    ttft_p50_ms: head.summary.ttft.map(|s| s.p50),
                    sweep_id: head.metadata.sweep.and_then(|s| s.id),
                });
            ResultEntry { id, path, info }
        })
        // Repeat-set and search files sit beside the results; they are not runs.
        .filter(|e| e.info.is_ok() || !is_group_file(&e.path))
        .collect();
    entries.sort_by(|a, b| {
        let key = |e: &ResultEntry| {
            let started = e.info.as_ref().ok().map(|i| i.started);
            (started.is_none(), started.flatten())
        };
        key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
    });
    Ok(entries)
}

/// A repeat-set or capacity-search summary (`"kind": …` at the top).
fn is_group_file(path: &Path) -> bool {
    #[derive(Deserialize)]
    struct Kind {
        kind: String,
    }
    fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<Kind>(&t).ok())
        .is_some_and(|k| matches!(k.kind.as_str(), "repeat_set" | "capacity_search" | "matrix"))
}

/// `(id, path)` of every visible `*.json` file in `dir`, sorted by id.
fn result_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, StorageError> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StorageError::ListDir {
                dir: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut files = Vec::new();
    for entry in read.flatten() {
        let path = entry.path();
        let is_json = path.extension().is_some_and(|e| e == "json");
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if is_json && !stem.starts_with('.') && path.is_file() {
            files.push((stem.to_string(), path));
        }
    }
    files.sort();
    Ok(files)
}

/// Resolves `<run>`: a path to an existing file (anywhere) wins; else, among `dir`'s result
/// files, the exact id, then a unique prefix, then a unique substring.
pub fn resolve_run(reference: &str, dir: &Path) -> Result<PathBuf, StorageError> {
    let as_path = Path::new(reference);
    if as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    if let Some(path) = super::ids::resolve_latest(reference, dir)? {
        return Ok(path);
    }
    let files = result_files(dir)?;
    let id = reference.strip_suffix(".json").unwrap_or(reference);
    if let Some((_, path)) = files.iter().find(|(stem, _)| stem == id) {
        return Ok(path.clone());
    }
    let rules: [&dyn Fn(&str) -> bool; 2] = [&|s| s.starts_with(id), &|s| s.contains(id)];
    for matches_rule in rules {
        let hits: Vec<&(String, PathBuf)> = files.iter().filter(|(s, _)| matches_rule(s)).collect();
        match hits.as_slice() {
            [] => continue,
            [(_, path)] => return Ok(path.clone()),
            many => {
                return Err(StorageError::Ambiguous {
                    reference: reference.to_string(),
                    matches: many.iter().map(|(s, _)| s.clone()).collect(),
                })
            }
        }
    }
    Err(StorageError::NotFound {
        reference: reference.to_string(),
        dir: dir.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::result::Stats;
    use chrono::TimeZone;

    fn result(run_id: &str, started_min: u32) -> RunResult {
        RunResult {
            schema_version: Some(1),
            run_id: run_id.to_string(),
            status: RunStatus::Completed,
            experiment: serde_json::json!({"name": "exp"}),
            metadata: Metadata {
                experiment_name: "exp".into(),
                started_at: Some(Utc.with_ymd_and_hms(2026, 1, 2, 3, started_min, 0).unwrap()),
                ..Metadata::default()
            },
            summary: Summary {
                total_requests: 4,
                successful_requests: 3,
                failed_requests: 1,
                tokens_per_second: 12.5,
                ttft: Some(Stats {
                    p50: 40.0,
                    p95: 50.0,
                    p99: 55.0,
                    mean: 42.0,
                    min: 30.0,
                    max: 56.0,
                    ..Default::default()
                }),
                ..Summary::default()
            },
            requests: Vec::new(),
            gpu_metrics: None,
            definitions: None,
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn run_id_uses_local_timestamp() {
        let now = Local.with_ymd_and_hms(2026, 11, 27, 7, 8, 9).unwrap();
        assert_eq!(new_run_id("qwen-tp1", now), "qwen-tp1-20261127-070809");
        assert_eq!(new_run_id("a/b c", now), "a-b-c-20261127-070809");
        assert_eq!(new_run_id("../x", now), "-x-20261127-070809");
        assert_eq!(new_run_id("", now), "run-20261127-070809");
        // Unicode is kept; only characters file names cannot hold are replaced.
        assert_eq!(
            new_run_id("qwen-日本語-ü+é", now),
            "qwen-日本語-ü+é-20261127-070809"
        );
        assert_eq!(
            new_run_id("a:b*c?\"d<e>f|g\\h\tz", now),
            "a-b-c--d-e-f-g-h-z-20261127-070809"
        );
    }

    #[test]
    fn iteration_ids_carry_the_run_stamp_and_suffix() {
        assert_eq!(
            iteration_run_id("s-c2", "s-20261202-053926"),
            "s-c2-20261202-053926"
        );
        assert_eq!(
            iteration_run_id("s c4", "s-20261202-053926-2"),
            "s-c4-20261202-053926-2"
        );
        // An id from elsewhere (no stamp) is kept whole after the name.
        assert_eq!(iteration_run_id("s-c2", "odd"), "s-c2-odd");
        assert_eq!(id_stamp("x-20261202-05392"), None);
        assert_eq!(id_stamp("x-20261202-053926-"), None);
    }

    #[test]
    fn free_run_id_skips_taken_names() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(free_run_id(tmp.path(), "a"), "a");
        write_result(tmp.path(), &result("a", 0)).unwrap();
        write_result(tmp.path(), &result("a", 0)).unwrap();
        assert_eq!(free_run_id(tmp.path(), "a"), "a-3");
    }

    #[test]
    fn write_result_as_reports_the_id_it_wrote() {
        let tmp = tempfile::tempdir().unwrap();
        write_result(tmp.path(), &result("r", 0)).unwrap();
        let mut second = result("r", 0);
        let path = write_result_as(tmp.path(), &mut second).unwrap();
        assert_eq!(second.run_id, "r-2");
        assert_eq!(path, tmp.path().join("r-2.json"));
        assert_eq!(load_result(&path).unwrap().run_id, "r-2");
    }

    #[test]
    fn collisions_get_a_suffix_in_name_and_run_id() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/results");
        let first = write_result(&dir, &result("run-a", 0)).unwrap();
        let second = write_result(&dir, &result("run-a", 0)).unwrap();
        let third = write_result(&dir, &result("run-a", 0)).unwrap();
        assert_eq!(first, dir.join("run-a.json"));
        assert_eq!(second, dir.join("run-a-2.json"));
        assert_eq!(third, dir.join("run-a-3.json"));
        assert_eq!(load_result(&first).unwrap().run_id, "run-a");
        assert_eq!(load_result(&third).unwrap().run_id, "run-a-3");
        // No temp files left behind, and nothing else.
        assert_eq!(names(&dir), ["run-a-2.json", "run-a-3.json", "run-a.json"]);
    }

    #[test]
    fn written_file_is_pretty_and_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let original = result("rt", 1);
        let path = write_result(tmp.path(), &original).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\n  \"schema_version\": 1,\n  \"run_id\": \"rt\""));
        assert_eq!(load_result(&path).unwrap(), original);
    }

    #[test]
    fn load_errors_name_the_file_and_position() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("bad.json");
        fs::write(&path, "{\n  \"run_id\": \"x\",\n  oops\n}").unwrap();
        let msg = load_result(&path).unwrap_err().to_string();
        assert!(msg.contains("bad.json"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        let missing = load_result(&tmp.path().join("nope.json")).unwrap_err();
        assert!(missing.to_string().contains("nope.json"));
    }

    #[test]
    fn list_reports_unreadable_files_without_failing() {
        let tmp = tempfile::tempdir().unwrap();
        write_result(tmp.path(), &result("late", 30)).unwrap();
        write_result(tmp.path(), &result("early", 10)).unwrap();
        fs::write(tmp.path().join("broken.json"), "not json").unwrap();
        fs::write(tmp.path().join("notes.txt"), "ignored").unwrap();
        fs::write(tmp.path().join(".result-x.tmp"), "ignored").unwrap();
        let entries = list_results(tmp.path()).unwrap();
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["early", "late", "broken"]);
        let early = entries[0].info.as_ref().unwrap();
        assert_eq!((early.total_requests, early.successful_requests), (4, 3));
        assert_eq!(early.ttft_p50_ms, Some(40.0));
        assert!(entries[2]
            .info
            .as_ref()
            .unwrap_err()
            .contains("broken.json"));
        assert!(list_results(&tmp.path().join("missing"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn resolves_by_path_id_prefix_and_substring() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for id in [
            "qwen-a-20260101-000000",
            "qwen-b-20260101-000000",
            "llama-20260102-000000",
        ] {
            write_result(dir, &result(id, 0)).unwrap();
        }
        let elsewhere = tempfile::tempdir().unwrap();
        let outside = write_result(elsewhere.path(), &result("other", 0)).unwrap();

        let path_ref = outside.to_str().unwrap();
        assert_eq!(resolve_run(path_ref, dir).unwrap(), outside);
        let exact = dir.join("llama-20260102-000000.json");
        assert_eq!(resolve_run("llama-20260102-000000", dir).unwrap(), exact);
        assert_eq!(
            resolve_run("llama-20260102-000000.json", dir).unwrap(),
            exact
        );
        assert_eq!(resolve_run("llama", dir).unwrap(), exact);
        assert_eq!(
            resolve_run("b-2026", dir).unwrap(),
            dir.join("qwen-b-20260101-000000.json")
        );
        match resolve_run("qwen", dir).unwrap_err() {
            StorageError::Ambiguous { matches, .. } => assert_eq!(
                matches,
                ["qwen-a-20260101-000000", "qwen-b-20260101-000000"]
            ),
            other => panic!("expected ambiguity, got {other}"),
        }
        let msg = resolve_run("20260101", dir).unwrap_err().to_string();
        assert!(
            msg.contains("qwen-a-20260101-000000, qwen-b-20260101-000000"),
            "{msg}"
        );
        let msg = resolve_run("mistral", dir).unwrap_err().to_string();
        assert!(
            msg.contains(&dir.display().to_string()) && msg.contains("list"),
            "{msg}"
        );
    }

    #[test]
    fn exact_id_beats_longer_prefix_matches() {
        let tmp = tempfile::tempdir().unwrap();
        write_result(tmp.path(), &result("run", 0)).unwrap();
        write_result(tmp.path(), &result("run", 0)).unwrap(); // run-2
        assert_eq!(
            resolve_run("run", tmp.path()).unwrap(),
            tmp.path().join("run.json")
        );
    }
}
