//! The result commands: `list`, `show`, `compare`, `export` (also under `results …`).
//! Each resolves its arguments, loads files through `metrics::storage` and renders via `output`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::cli::args::{CompareArgs, ExportArgs, ExportFormat, ListArgs, ShowArgs};
use crate::output::export::{self, ExportError};
use crate::output::style::Style;
use crate::output::{compare as compare_out, results as results_out};
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

pub fn compare(
    args: &CompareArgs,
    default_dir: &Path,
    style: Style,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let dir = dir(&args.dir, default_dir);
    let (_, a) = load(&args.a, dir)?;
    let (_, b) = load(&args.b, dir)?;
    compare_out::render_compare(&a, &b, style, out)?;
    Ok(())
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
