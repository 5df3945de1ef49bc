//! A cell's own group files, as a single run writes them: the capacity search summary
//! (`<name>-<cell>-search-<ts>.json`) and the repeat set (`<name>-<cell>-repeat-<ts>.json`),
//! so `compare` works on a cell's answers as on any run's.

use std::path::Path;

use crate::capacity::{probe::SearchSource, repeat};
use crate::results::groups::write_group;
use crate::results::storage;
use crate::run::SavedRun;

/// What a cell's group files need.
pub struct CellAnswers<'a> {
    pub dir: &'a Path,
    pub run_name: &'a str,
    pub repeat: usize,
    pub search: Option<&'a SearchSource>,
    pub saved: &'a [SavedRun],
    pub interrupted: bool,
}

/// Write the files; returns the search answer and a warning per file that could not be
/// written (the results themselves are already saved).
pub fn write(a: CellAnswers<'_>) -> (Option<f64>, Vec<String>) {
    let now = chrono::Local::now();
    let mut warnings = Vec::new();
    let mut answer = None;
    if let Some(search) = a.search {
        let id = storage::new_run_id(&format!("{}-search", a.run_name), now);
        let file = search.summary(&id, a.interrupted);
        answer = file.answer;
        if let Err(e) = write_group(a.dir, &id, &file) {
            warnings.push(format!("cannot write the search summary {id}: {e}"));
        }
    }
    if a.repeat > 1 && !a.saved.is_empty() {
        let id = storage::new_run_id(&format!("{}-repeat", a.run_name), now);
        let results: Vec<_> = a
            .saved
            .iter()
            .map(|s| (s.file_name(), s.result.clone()))
            .collect();
        let file = repeat::summarize(&id, a.run_name, a.repeat, &results);
        if let Err(e) = write_group(a.dir, &id, &file) {
            warnings.push(format!("cannot write the repeat set {id}: {e}"));
        }
    }
    (answer, warnings)
}
