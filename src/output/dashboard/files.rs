//! The folders the dashboard reads: experiment configs and result files. Every name that comes
//! from a request is confined to its folder (`../`, absolute paths and symlinks out → `None`,
//! which the API answers with 404).

use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::results::result::{Metadata, RunStatus, Summary};

/// Every `*.yaml` / `*.yml` under `root`, sorted: `[{name, path, relative}]`.
pub fn list_configs(root: &Path) -> Vec<Value> {
    let mut found = Vec::new();
    walk(root, &mut found, 0);
    found.sort();
    found
        .into_iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(root).ok()?.to_string_lossy().into_owned();
            let name = p.file_stem()?.to_string_lossy().into_owned();
            Some(json!({"name": name, "path": p.display().to_string(), "relative": rel}))
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 8 {
        return;
    }
    let Ok(read) = fs::read_dir(dir) else { return };
    for entry in read.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, out, depth + 1);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// A config named by the page: relative to `root` (or starting with `root` as listed).
pub fn resolve_config(root: &Path, given: &str) -> Option<PathBuf> {
    let given = Path::new(given);
    let rel = given.strip_prefix(root).unwrap_or(given);
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    let path = root.join(rel);
    let canonical = path.canonicalize().ok()?;
    let inside = canonical.starts_with(root.canonicalize().ok()?);
    let yaml = canonical
        .extension()
        .is_some_and(|e| e == "yaml" || e == "yml");
    (inside && yaml && canonical.is_file()).then_some(path)
}

/// A result file named by its id (file name without `.json`), never outside `dir`.
pub fn resolve_result(dir: &Path, id: &str) -> Option<PathBuf> {
    let plain = !id.is_empty()
        && !id.starts_with('.')
        && !id.contains(['/', '\\', '\0'])
        && !id.contains("..");
    if !plain {
        return None;
    }
    let path = dir.join(format!("{id}.json"));
    let canonical = path.canonicalize().ok()?;
    (canonical.starts_with(dir.canonicalize().ok()?) && canonical.is_file()).then_some(path)
}

/// The head of a result file (its requests are skipped, not built).
#[derive(Deserialize)]
struct Head {
    run_id: String,
    status: RunStatus,
    #[serde(default)]
    experiment: Value,
    metadata: Metadata,
    summary: Summary,
}

/// `[{id, run_id, status, experiment, metadata, summary}]`, oldest first; unreadable files
/// are listed with an `error`.
pub fn list_results(dir: &Path) -> Vec<Value> {
    let Ok(entries) = crate::results::storage::list_results(dir) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .map(|e| {
            let head = fs::read_to_string(&e.path)
                .map_err(|err| err.to_string())
                .and_then(|t| serde_json::from_str::<Head>(&t).map_err(|err| err.to_string()));
            match head {
                Ok(h) => json!({
                    "id": e.id, "run_id": h.run_id, "status": h.status.as_str(),
                    "experiment": h.experiment, "metadata": h.metadata, "summary": h.summary,
                }),
                Err(error) => json!({"id": e.id, "error": error}),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_leave_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("experiments");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/a.yaml"), "name: a").unwrap();
        fs::write(dir.path().join("secret.yaml"), "x").unwrap();
        assert!(resolve_config(&root, "sub/a.yaml").is_some());
        assert!(resolve_config(&root, &format!("{}/sub/a.yaml", root.display())).is_some());
        for bad in [
            "../secret.yaml",
            "sub/../../secret.yaml",
            "/etc/passwd",
            "sub",
        ] {
            assert!(resolve_config(&root, bad).is_none(), "{bad}");
        }
        fs::write(dir.path().join("r.json"), "{}").unwrap();
        for bad in ["../r", "..", "", ".hidden", "a/b"] {
            assert!(resolve_result(&root, bad).is_none(), "{bad}");
        }
    }
}
