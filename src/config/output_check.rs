//! Output problems found before anything is provisioned (and in `--dry-run`): an output folder
//! that is a file or cannot be written, and a run name too long for a file name. Otherwise
//! they would surface only when the journal or the result is written, after a paid server
//! was started and the benchmark ran.

use std::path::Path;

use super::error::Issue;
use super::{Experiment, Iteration};
use crate::results::storage;

/// Longest file name (bytes) on the usual filesystems (ext4, APFS, NTFS: 255).
pub const MAX_FILE_NAME: usize = 255;

/// The longest name a run writes: `{run_id}-{N}.journal.jsonl` (N up to 1000 when ids collide).
const LONGEST_SUFFIX: &str = "-1000.journal.jsonl";

/// Where the output goes and what names the run's files get.
pub struct OutputTarget<'a> {
    pub dir: &'a Path,
    /// How the user set the folder (`--output-dir` or `metrics.output_dir`), for the message.
    pub dir_field: &'a str,
    /// `--name`, replacing the config's name in run ids.
    pub run_name: Option<&'a str>,
}

/// Every problem with writing this run's files, empty when there is none. Creates nothing but
/// a probe file that is removed at once.
pub fn check_output(
    experiment: &Experiment,
    iterations: &[Iteration],
    target: &OutputTarget,
) -> Vec<Issue> {
    let mut issues = Vec::new();
    if let Some(problem) = dir_problem(target.dir) {
        issues.push(Issue::new(target.dir_field, problem));
    }
    let name_field = if target.run_name.is_some() {
        "--name"
    } else {
        "name"
    };
    let base = target.run_name.unwrap_or(&experiment.name);
    let problem = dash_problem(base)
        .or_else(|| name_problem(&longest_run_name(experiment, iterations, target)));
    if let Some(problem) = problem {
        issues.push(Issue::new(name_field, problem));
    }
    issues
}

/// The longest run name of the run (sweep iterations add `-c4`-like suffixes).
fn longest_run_name(experiment: &Experiment, iterations: &[Iteration], t: &OutputTarget) -> String {
    let base = t.run_name.unwrap_or(&experiment.name);
    iterations
        .iter()
        .map(|it| {
            let suffix = it
                .experiment
                .name
                .strip_prefix(experiment.name.as_str())
                .unwrap_or("");
            format!("{base}{suffix}")
        })
        .max_by_key(String::len)
        .unwrap_or_else(|| base.to_string())
}

/// `-x-2026…` would read as an option wherever the id is typed (`show`, `--resume`).
fn dash_problem(name: &str) -> Option<String> {
    let id = storage::new_run_id(name, chrono::Local::now());
    id.starts_with('-').then(|| {
        format!(
            "'{name}' would make run ids that start with '-' (read as an option by `show`, \
             `compare`, `--resume`); start the name with a letter or digit"
        )
    })
}

fn name_problem(name: &str) -> Option<String> {
    let id = storage::new_run_id(name, chrono::Local::now());
    let longest = id.len() + LONGEST_SUFFIX.len();
    if longest <= MAX_FILE_NAME {
        return None;
    }
    let spare = longest - MAX_FILE_NAME;
    let allowed = name.len().saturating_sub(spare);
    Some(format!(
        "too long for a file name: the run's files would be named like `{id}{LONGEST_SUFFIX}` \
         ({longest} bytes; the limit is {MAX_FILE_NAME}); use a name of at most {allowed} \
         characters"
    ))
}

/// Why files cannot be written into `dir` (created if missing), or `None`.
fn dir_problem(dir: &Path) -> Option<String> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Some(format!(
            "{shown} is a file, not a folder; choose another output folder"
        ));
    }
    // The folder itself, or the nearest existing parent it would be created in.
    let existing = dir
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("."));
    let existing = if existing.as_os_str().is_empty() {
        Path::new(".")
    } else {
        existing
    };
    if !existing.is_dir() {
        return Some(format!(
            "cannot create {shown}: {} is a file, not a folder",
            existing.display()
        ));
    }
    // Permission bits do not tell (root, ACLs, read-only mounts): try to create a file.
    match tempfile::Builder::new()
        .prefix(".llm-inf-bench-probe-")
        .tempfile_in(existing)
    {
        Ok(_probe) => None,
        Err(e) if existing == dir => Some(format!(
            "{shown} is not writable ({e}); fix its permissions or choose another output folder"
        )),
        Err(e) => Some(format!(
            "cannot create {shown}: {} is not writable ({e}); choose another output folder",
            existing.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_not_an_output_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("results");
        std::fs::write(&file, "x").unwrap();
        let problem = dir_problem(&file).unwrap();
        assert!(problem.contains("is a file"), "{problem}");
        let below = dir_problem(&file.join("sub")).unwrap();
        assert!(below.contains("is a file"), "{below}");
    }

    #[test]
    fn a_missing_folder_in_a_writable_parent_is_fine_and_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a/b");
        assert_eq!(dir_problem(&out), None);
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_unwritable_folder_is_reported() {
        // /proc refuses new files even to root.
        let problem = dir_problem(Path::new("/proc/llm-inf-bench-results")).unwrap();
        assert!(problem.contains("not writable"), "{problem}");
    }

    #[test]
    fn names_that_make_ids_starting_with_a_dash_are_refused() {
        for bad in ["-x", "--fast", "../x", " -y"] {
            let problem = dash_problem(bad).unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(problem.contains("start with '-'"), "{problem}");
        }
        for good in ["x-", "日本語", "a-b", ".hidden"] {
            assert_eq!(dash_problem(good), None, "{good}");
        }
    }

    #[test]
    fn long_names_are_reported_with_the_allowed_length() {
        assert_eq!(name_problem("short"), None);
        let problem = name_problem(&"n".repeat(250)).unwrap();
        assert!(problem.contains("the limit is 255"), "{problem}");
        let allowed: usize = problem
            .rsplit("at most ")
            .next()
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        assert_eq!(name_problem(&"n".repeat(allowed)), None);
        assert!(name_problem(&"n".repeat(allowed + 1)).is_some());
    }
}
