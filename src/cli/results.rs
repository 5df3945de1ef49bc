//! The result commands: `list`, `show`, `compare`, `export` (also under `results …`).
//! Each resolves its arguments, loads files through `metrics::storage` and renders via `output`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::cli::args::{CompareArgs, ExportArgs, ExportFormat, ListArgs, ShowArgs};
use crate::output::export::{self, ExportError};
use crate::output::results as results_out;
use crate::output::style::Style;
use crate::results::result::RunResult;
use crate::results::storage::{self, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("{} already exists; pass --force to overwrite it, or choose another file with -o", path.display())]
    ExportExists { path: PathBuf },
    #[error("{} is a result file or a run journal; export never overwrites one, even with --force; choose another file with -o", path.display())]
    ExportOverResult { path: PathBuf },
    #[error("cannot create export file {}: {source}", path.display())]
    CreateExport {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a folder: no results to list there (check --dir)", path.display())]
    NoSuchDir { path: PathBuf },
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

fn dir<'a>(arg: &'a Option<PathBuf>, default_dir: &'a Path) -> &'a Path {
    arg.as_deref().unwrap_or(default_dir)
}

fn load(reference: &str, dir: &Path) -> Result<(PathBuf, RunResult), StorageError> {
    let path = storage::resolve_run(reference, dir)?;
    let result = storage::load_result(&path)?;
    Ok((path, result))
}

pub fn list(
    args: &ListArgs,
    default_dir: &Path,
    style: Style,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let dir = dir(&args.dir, default_dir);
    // A folder named on the command line must exist (a typo is not "no runs yet").
    if args.dir.is_some() && !dir.is_dir() {
        return Err(ReportError::NoSuchDir {
            path: dir.to_path_buf(),
        });
    }
    let entries = storage::list_results(dir)?;
    results_out::render_list(&entries, dir, style, out)?;
    // A journal whose run still holds its lock belongs to a run going on now, not to an
    // interrupted one: listed apart, without a resume command.
    let mut running = Vec::new();
    let mut interrupted = Vec::new();
    for (path, state) in crate::results::journal::list(dir) {
        match state {
            Ok(s) => match crate::results::run_lock::holder(dir, &s.run_id) {
                Some(pid) => running.push((s, pid)),
                None => interrupted.push((path, Ok(s))),
            },
            Err(e) => interrupted.push((path, Err(e))),
        }
    }
    results_out::render_running(&running, style, out)?;
    results_out::render_interrupted(&interrupted, style, out)?;
    Ok(())
}

pub fn show(
    args: &ShowArgs,
    default_dir: &Path,
    style: Style,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let dir = dir(&args.dir, default_dir);
    if let Some((path, file)) = crate::matrix::summary::find(&args.run, dir) {
        return Ok(crate::output::matrix::render_show(
            &file, &path, style, out,
        )?);
    }
    let path = match storage::resolve_run(&args.run, dir) {
        Ok(path) => path,
        Err(e @ (StorageError::NotFound { .. } | StorageError::Ambiguous { .. })) => {
            // A sweep id or name: the table of its iterations.
            let Some(id) = crate::results::groups::find_sweep(&args.run, dir)? else {
                return Err(e.into());
            };
            let runs = crate::results::groups::sweep_runs(&id, dir)?;
            let members: Vec<&RunResult> = runs.iter().collect();
            crate::output::sweep_table::render_sweep_table(&id, &members, style, out)?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let result = storage::load_result(&path)?;
    let shown = super::args::Percentiles::shown(args.percentiles.as_ref());
    results_out::render_show_with(&result, &path, style, shown, out)?;
    render_experiment(&result.experiment, style, out)?;
    Ok(())
}

/// The whole resolved experiment the run used, as YAML (secrets were redacted when saved).
fn render_experiment(
    experiment: &serde_json::Value,
    style: Style,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    if experiment.is_null() {
        return Ok(());
    }
    let yaml = serde_yaml::to_string(experiment).unwrap_or_else(|e| format!("({e})\n"));
    writeln!(out, "\n{}", style.bold("Experiment (resolved)"))?;
    for line in crate::text::printable_lines(&yaml).lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

/// Returns whether the regression gate tripped (`--fail-on-regression`).
pub fn compare(
    args: &CompareArgs,
    default_dir: &Path,
    style: Style,
    out: &mut dyn Write,
) -> Result<bool, ReportError> {
    let dir = dir(&args.dir, default_dir);
    let groups = args
        .runs
        .iter()
        .map(|r| crate::results::groups::resolve(r, dir))
        .collect::<Result<Vec<_>, _>>()?;
    let regressions =
        crate::output::compare::render_many(&groups, args.fail_on_regression, style, out)?;
    if let Some(t) = args.fail_on_regression {
        if regressions.is_empty() {
            writeln!(out, "No regression beyond {t}%: no run is significantly worse than A on any headline metric.")?;
        }
        for r in &regressions {
            writeln!(
                out,
                "{}",
                style.red(&format!("REGRESSION: {r} (threshold {t}%)"))
            )?;
        }
    }
    Ok(!regressions.is_empty())
}

/// The export file, created new; an existing one only with `force`, and never when it holds
/// results: the run's own file, any result file, or a journal.
fn create_export_file(path: &Path, result_path: &Path, force: bool) -> Result<File, ReportError> {
    let create_err = |source| ReportError::CreateExport {
        path: path.to_path_buf(),
        source,
    };
    if path.symlink_metadata().is_ok() {
        if holds_results(path, result_path) {
            return Err(ReportError::ExportOverResult {
                path: path.to_path_buf(),
            });
        }
        if !force {
            return Err(ReportError::ExportExists {
                path: path.to_path_buf(),
            });
        }
        return File::create(path).map_err(create_err);
    }
    // create_new: a file that appeared since the check is not overwritten either.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => ReportError::ExportExists {
                path: path.to_path_buf(),
            },
            _ => create_err(source),
        })
}

fn holds_results(path: &Path, result_path: &Path) -> bool {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    same(path, result_path)
        || name.is_some_and(|n| n.ends_with(crate::results::journal::JOURNAL_SUFFIX))
        || (path.extension().is_some_and(|e| e == "json") && storage::load_result(path).is_ok())
}

/// Writes the rows to `args.output` (then says so on `out`) or, without one, to `out`.
pub fn export(
    args: &ExportArgs,
    default_dir: &Path,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let (source, result) = load(&args.run, dir(&args.dir, default_dir))?;
    let write = |sink: &mut dyn Write| match args.format {
        ExportFormat::Csv => export::write_csv(&result, sink),
        ExportFormat::Jsonl => export::write_jsonl(&result, sink),
    };
    match &args.output {
        None => write(out)?,
        Some(path) => {
            let file = create_export_file(path, &source, args.force)?;
            let mut sink = BufWriter::new(file);
            write(&mut sink)?;
            sink.flush()?;
            writeln!(
                out,
                "Exported {} requests of {} to {}",
                result.requests.len(),
                result.run_id,
                path.display()
            )?;
        }
    }
    Ok(())
}
