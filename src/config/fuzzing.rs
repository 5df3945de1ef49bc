//! Entry point over config loading for fuzzing and corpus replay (`fuzz/`,
//! `tests/fuzz_corpus_replay.rs`). Not a stable API.

use std::path::Path;

use super::ConfigError;
use crate::providers::runpod::pricing::PriceTable;

/// Write `data` to `file` and load it as an experiment; when it loads, also expand the sweep,
/// hash the resolved config (as the run journal does) and render the dry-run plan.
pub fn load_bytes(file: &Path, data: &[u8]) -> Result<usize, ConfigError> {
    std::fs::write(file, data).map_err(|source| ConfigError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let prices = PriceTable::builtin();
    let exp = super::load_with(file, &prices)?;
    let iterations = super::sweep::iterations(&exp);
    assert!(
        !iterations.is_empty(),
        "a config has at least one iteration"
    );
    let resolved = serde_json::to_value(&exp.resolved).expect("a resolved config serializes");
    let _ = crate::results::journal::config_hash(&resolved);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let mut plan = Vec::new();
    crate::output::plan::render_plan(&exp, &iterations, &prices, today, &mut plan)
        .expect("writing to memory cannot fail");
    Ok(iterations.len())
}

/// Lay out a fuzzing workspace in `into`: the repository's `prompts/` and `experiments/base/`
/// copied beside `experiments/examples/`, so seeds taken from `experiments/examples` find their
/// prompt files and parents. Returns the config file path to pass to [`load_bytes`].
pub fn prepare_workspace(repo: &Path, into: &Path) -> std::io::Result<std::path::PathBuf> {
    fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let target = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy_dir(&entry.path(), &target)?;
            } else {
                std::fs::copy(entry.path(), target)?;
            }
        }
        Ok(())
    }
    copy_dir(&repo.join("prompts"), &into.join("prompts"))?;
    copy_dir(
        &repo.join("experiments/base"),
        &into.join("experiments/base"),
    )?;
    let examples = into.join("experiments/examples");
    std::fs::create_dir_all(&examples)?;
    Ok(examples.join("fuzz.yaml"))
}
