//! Handy run references: `latest` is the newest readable run of the results folder,
//! `latest~N` the one N runs before it (like git's `HEAD~N`). `storage::resolve_run` asks
//! here first, so every command that takes a run id (`show`, `compare`, `export`, `report`)
//! accepts them.

use std::path::{Path, PathBuf};

use crate::results::storage::{self, StorageError};

const LATEST: &str = "latest";

/// `Some(n)` when `reference` is `latest` (0) or `latest~n`; `None` for anything else.
pub fn parse_latest(reference: &str) -> Option<usize> {
    let rest = reference.strip_prefix(LATEST)?;
    if rest.is_empty() {
        return Some(0);
    }
    let n = rest.strip_prefix('~')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// The result file `reference` names when it is `latest` / `latest~N`; `Ok(None)` when it is
/// another kind of reference. Newest means latest `metadata.started_at` (ties: the larger id).
pub fn resolve_latest(reference: &str, dir: &Path) -> Result<Option<PathBuf>, StorageError> {
    let Some(back) = parse_latest(reference) else {
        return Ok(None);
    };
    // Oldest first; unreadable files (no start time) are not runs to pick.
    let runs: Vec<PathBuf> = storage::list_results(dir)?
        .into_iter()
        .filter(|e| e.info.as_ref().is_ok_and(|i| i.started.is_some()))
        .map(|e| e.path)
        .collect();
    match runs.len().checked_sub(back + 1) {
        Some(i) => Ok(Some(runs[i].clone())),
        None => Err(StorageError::NotEnoughRuns {
            reference: reference.to_string(),
            count: runs.len(),
            dir: dir.to_path_buf(),
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::result::{Metadata, RunResult, RunStatus, Summary};
    use chrono::TimeZone;

    fn write(dir: &Path, id: &str, minute: u32) {
        storage::write_result(dir, &result_at(id, minute)).unwrap();
    }

    /// An empty completed result `id` that started at 2026-01-01 00:`minute` UTC.
    pub(crate) fn result_at(id: &str, minute: u32) -> RunResult {
        RunResult {
            schema_version: Some(1),
            run_id: id.into(),
            status: RunStatus::Completed,
            experiment: serde_json::json!({}),
            metadata: Metadata {
                started_at: Some(
                    chrono::Utc
                        .with_ymd_and_hms(2026, 1, 1, 0, minute, 0)
                        .unwrap(),
                ),
                ..Metadata::default()
            },
            summary: Summary::default(),
            requests: Vec::new(),
            gpu_metrics: None,
            definitions: None,
        }
    }

    #[test]
    fn parses_latest_and_steps_back() {
        assert_eq!(parse_latest("latest"), Some(0));
        assert_eq!(parse_latest("latest~1"), Some(1));
        assert_eq!(parse_latest("latest~12"), Some(12));
        for other in [
            "latest~",
            "latest~x",
            "latest-run",
            "latest~-1",
            "late",
            "my-latest",
        ] {
            assert_eq!(parse_latest(other), None, "{other}");
        }
    }

    #[test]
    fn latest_is_by_start_time_not_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        // Names sort the other way round from the start times.
        write(tmp.path(), "a-newest", 30);
        write(tmp.path(), "b-middle", 20);
        write(tmp.path(), "c-oldest", 10);
        std::fs::write(tmp.path().join("broken.json"), "{").unwrap();
        let id = |r: &str| {
            let path = resolve_latest(r, tmp.path()).unwrap().unwrap();
            path.file_stem().unwrap().to_string_lossy().into_owned()
        };
        assert_eq!(id("latest"), "a-newest");
        assert_eq!(id("latest~1"), "b-middle");
        assert_eq!(id("latest~2"), "c-oldest");
        assert_eq!(resolve_latest("b-middle", tmp.path()).unwrap(), None);
        let err = resolve_latest("latest~3", tmp.path()).unwrap_err();
        assert!(err.to_string().contains("only 3 runs"), "{err}");
        // The same through the one resolver every command uses.
        let via_storage = storage::resolve_run("latest~1", tmp.path()).unwrap();
        assert!(via_storage.ends_with("b-middle.json"));
    }
}
