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
    #[error("cannot create export file {}: {source}", path.display())]
    CreateExport {
        path: PathBuf,
        source: std::io::Error,
    },
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
    let entries = storage::list_results(dir)?;
    results_out::render_list(&entries, dir, style, out)?;
    results_out::render_interrupted(&crate::results::journal::list(dir), style, out)?;
    Ok(())
}

pub fn show(
    args: &ShowArgs,
    default_dir: &Path,
    style: Style,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let (path, result) = load(&args.run, dir(&args.dir, default_dir))?;
    results_out::render_show(&result, &path, style, out)?;
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
    let a = crate::results::groups::resolve(&args.a, dir)?;
    let b = crate::results::groups::resolve(&args.b, dir)?;
    let regressions =
        crate::output::verdicts::render_groups(&a, &b, args.fail_on_regression, style, out)?;
    if let Some(t) = args.fail_on_regression {
        if regressions.is_empty() {
            writeln!(out, "No regression beyond {t}%: B is not significantly worse than A on any headline metric.")?;
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

/// Writes the rows to `args.output` (then says so on `out`) or, without one, to `out`.
pub fn export(
    args: &ExportArgs,
    default_dir: &Path,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let (_, result) = load(&args.run, dir(&args.dir, default_dir))?;
    let write = |sink: &mut dyn Write| match args.format {
        ExportFormat::Csv => export::write_csv(&result, sink),
        ExportFormat::Jsonl => export::write_jsonl(&result, sink),
    };
    match &args.output {
        None => write(out)?,
        Some(path) => {
            let file = File::create(path).map_err(|source| ReportError::CreateExport {
                path: path.clone(),
                source,
            })?;
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
