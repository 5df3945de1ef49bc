//! `run` with `search:` or `--repeat`: sets up the capacity search / the repeated iterations
//! before the run, and writes and prints their summaries after it.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::CliError;
use crate::capacity::{probe::SearchSource, repeat};
use crate::config::{Experiment, Iteration};
use crate::output::style::Style;
use crate::results::groups::write_group;
use crate::results::storage;
use crate::run::RunOutcome;

pub struct RunAnswers {
    pub search: Option<Arc<SearchSource>>,
    pub repeat: usize,
    name: String,
}

/// The iterations to run and what to report afterwards. `repeat_flag` is `--repeat`.
pub fn prepare(
    experiment: &Experiment,
    iterations: Vec<Iteration>,
    repeat_flag: Option<usize>,
    run_name: Option<&str>,
    resuming: bool,
) -> Result<(Vec<Iteration>, RunAnswers), CliError> {
    let repeat = repeat_flag.unwrap_or(experiment.answers.repeat);
    let search = SearchSource::new(experiment).map(Arc::new);
    if search.is_some() && repeat > 1 {
        return Err(CliError::Message(
            "--repeat: a capacity search runs each probe once; drop --repeat or the config's `search`".into(),
        ));
    }
    if search.is_some() && resuming {
        return Err(CliError::Message(
            "--resume does not continue a capacity search; start the search again (its finished probes are kept as results)".into(),
        ));
    }
    let iterations = repeat::expand(&iterations, repeat);
    Ok((
        iterations,
        RunAnswers {
            search,
            repeat,
            name: run_name.unwrap_or(&experiment.name).to_string(),
        },
    ))
}

impl RunAnswers {
    /// Write the search / repeat-set summary beside the results and print it.
    pub fn report(
        &self,
        outcome: &RunOutcome,
        output_dir: &Path,
        style: Style,
        out: &mut dyn Write,
    ) -> Result<(), CliError> {
        let now = chrono::Local::now();
        if let Some(search) = &self.search {
            self.report_search(search, outcome, output_dir, now, (style, out))?;
        }
        if self.repeat > 1 && !outcome.saved.is_empty() {
            self.report_repeats(outcome, output_dir, now, (style, out))?;
        }
        Ok(())
    }

    /// The search summary file and its probe lines.
    fn report_search(
        &self,
        search: &SearchSource,
        outcome: &RunOutcome,
        output_dir: &Path,
        now: chrono::DateTime<chrono::Local>,
        (style, out): (Style, &mut dyn Write),
    ) -> Result<(), CliError> {
        let id = storage::new_run_id(&format!("{}-search", self.name), now);
        let file = search.summary(&id, outcome.interrupted);
        let path = write_group(output_dir, &id, &file)?;
        writeln!(out, "\n{}", style.bold("Capacity search"))?;
        for p in &file.probes {
            let verdict = if p.met {
                style.green("meets SLO")
            } else {
                style.red("fails SLO")
            };
            let rerun = if p.rerun { " (re-run)" } else { "" };
            writeln!(
                out,
                "  {:>8}  {verdict}{rerun}  {} tok/s  {}",
                crate::output::style::num3(p.value),
                crate::output::style::num3(p.tokens_per_second),
                p.result
            )?;
        }
        writeln!(out, "{}", style.bold(&file.line))?;
        writeln!(out, "Search summary: {}", path.display())?;
        Ok(())
    }

    /// The repeat-set file and its per-metric lines.
    fn report_repeats(
        &self,
        outcome: &RunOutcome,
        output_dir: &Path,
        now: chrono::DateTime<chrono::Local>,
        (style, out): (Style, &mut dyn Write),
    ) -> Result<(), CliError> {
        let id = storage::new_run_id(&format!("{}-repeat", self.name), now);
        let results: Vec<(String, crate::results::result::RunResult)> = outcome
            .saved
            .iter()
            .map(|s| (s.file_name(), s.result.clone()))
            .collect();
        let file = repeat::summarize(&id, &self.name, self.repeat, &results);
        let path = write_group(output_dir, &id, &file)?;
        writeln!(out, "\n{}", style.bold("Repeat set"))?;
        for set in &file.sets {
            if !set.values.is_empty() {
                let v: Vec<String> = set.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                writeln!(out, "  {}", style.bold(&v.join(", ")))?;
            }
            for m in &set.metrics {
                writeln!(out, "  {}", repeat::describe(m))?;
            }
        }
        writeln!(
            out,
            "Repeat set: {} (compare it with `compare {id} <other>`)",
            path.display()
        )?;
        Ok(())
    }
}
