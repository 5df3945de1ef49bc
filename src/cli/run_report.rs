//! After a run: the summaries on stdout, what went wrong on stderr, and the exit code.
//!
//! Exit codes: 1 when a result `failed`, or is `partial` because a circuit breaker stopped
//! it, when a result could not be written, when teardown failed, or on any other error; 130
//! when interrupted; 0 otherwise (per-request errors alone give a warning). A closed stdout
//! (`run … | head`) never hides the stderr part nor changes the code.

use std::io::{self, Write};
use std::path::Path;

use super::answers::RunAnswers;
use super::{exit, CliError, Globals};
use crate::output::{self, errors::distinct_errors, style::Style};
use crate::results::result::{RunResult, RunStatus};
use crate::run::{RunError, RunOutcome, SavedRun, UnsavedResult};
use crate::text::printable;

/// How a run ended.
pub struct Ran {
    pub outcome: RunOutcome,
    pub error: Option<RunError>,
}

pub fn report(
    ran: Ran,
    answers: &RunAnswers,
    output_dir: &Path,
    shown: &[f64],
    globals: &Globals,
) -> Result<u8, CliError> {
    let printed = print_results(&ran, answers, output_dir, shown, globals.style);
    let mut err = io::stderr().lock();
    let style = globals.err_style;
    let code = match &ran.error {
        None => judge_results(&ran.outcome, answers.search.is_some(), style, &mut err),
        Some(RunError::Interrupted) => {
            let n = ran.outcome.saved.len();
            let _ = writeln!(
                err,
                "Interrupted: {n} result file(s) saved with every completed request; `llm-inf-bench list` shows the command that resumes the run."
            );
            exit::INTERRUPTED
        }
        Some(RunError::ResultNotSaved(unsaved)) => {
            let _ = write_unsaved(unsaved, style, &mut err);
            exit::FAILURE
        }
        Some(_) => exit::FAILURE,
    };
    let code = match &ran.outcome.teardown_error {
        Some(teardown) => {
            let _ = write_teardown_failure(teardown, style, &mut err);
            exit::FAILURE
        }
        None => code,
    };
    drop(err);
    match (printed, ran.error) {
        (Err(e), _) if !is_closed_pipe(&e) => Err(e),
        (_, Some(error)) if !handled(&error) => Err(CliError::Run(error)),
        _ => Ok(code),
    }
}

/// Errors `report` has explained itself (the rest go to `main` with their cause chain).
fn handled(error: &RunError) -> bool {
    matches!(error, RunError::Interrupted | RunError::ResultNotSaved(_))
}

fn is_closed_pipe(e: &CliError) -> bool {
    super::caused_by_closed_pipe(e)
}

/// One panel per result (a search prints its probe table instead), an unsaved result too,
/// then the search / repeat summaries.
fn print_results(
    ran: &Ran,
    answers: &RunAnswers,
    output_dir: &Path,
    shown: &[f64],
    style: Style,
) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    if answers.search.is_none() {
        for saved in &ran.outcome.saved {
            print_panel(&saved.result, shown, style, &mut out)?;
        }
    }
    if let Some(RunError::ResultNotSaved(unsaved)) = &ran.error {
        print_panel(&unsaved.result, shown, style, &mut out)?;
    }
    // A sweep: one row per swept value, read back from disk (resumed iterations included).
    let saved = ran.outcome.saved.iter().map(|s| &s.result);
    if answers.search.is_none() && answers.repeat <= 1 {
        if let Some((id, runs)) = crate::results::groups::sweep_after_run(saved, output_dir) {
            output::sweep_table::render_after_run(&id, &runs, style, &mut out)?;
        }
    }
    answers.report(&ran.outcome, output_dir, style, &mut out)?;
    out.flush()?;
    Ok(())
}

/// The run id and status, why it stopped early, the summary, the failures by kind.
pub fn print_panel(
    r: &RunResult,
    shown: &[f64],
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let id = printable(&r.run_id);
    writeln!(out, "\n{}  ({})", style.bold(&id), r.status.as_str())?;
    if let Some(reason) = &r.metadata.stopped_early {
        let label = style.dim(&format!("{:<16}", "Stopped early"));
        writeln!(out, "  {label}{}", style.red(&printable(reason)))?;
    }
    output::summary::render_summary_with(&r.summary, None, style, shown, out)?;
    output::errors::render_errors(&r.requests, style, out)
}

/// The exit code the saved results call for, with the reasons (or a warning) on `err`.
fn judge_results(outcome: &RunOutcome, search: bool, style: Style, err: &mut dyn Write) -> u8 {
    // A capacity search drives probes past capacity on purpose: failures there are data.
    if search {
        return exit::SUCCESS;
    }
    let verdict = judge(&outcome.saved);
    for line in &verdict.failing {
        let _ = writeln!(err, "{}", style.red(&format!("error: {line}")));
    }
    if !verdict.failing.is_empty() {
        return exit::FAILURE;
    }
    if verdict.failed_requests > 0 {
        let _ = writeln!(
            err,
            "{}",
            style.yellow(&format!(
                "warning: {} request(s) failed (the run went on; see Failures above)",
                verdict.failed_requests
            ))
        );
    }
    exit::SUCCESS
}

/// What the saved results of a finished (not interrupted) run say about it.
#[derive(Debug, Default, PartialEq)]
pub struct Verdict {
    /// One line per result that fails the run: `failed`, or stopped by a circuit breaker.
    pub failing: Vec<String>,
    /// Failed requests in the other results.
    pub failed_requests: usize,
}

pub fn judge(saved: &[SavedRun]) -> Verdict {
    let mut verdict = Verdict::default();
    for SavedRun { result: r, .. } in saved {
        let id = printable(&r.run_id).into_owned();
        let stopped = r.metadata.stopped_early.as_deref();
        let why = match (r.status, stopped) {
            (RunStatus::Failed, _) => format!("{id} failed: no request succeeded"),
            (RunStatus::Partial, Some(reason)) => format!("{id} stopped early: {reason}"),
            _ => {
                verdict.failed_requests += r.summary.failed_requests;
                continue;
            }
        };
        let dominant = distinct_errors(&r.requests)
            .into_iter()
            .next()
            .map(|(n, message)| format!("; most frequent error ({n} requests): {message}"))
            .unwrap_or_default();
        verdict
            .failing
            .push(printable(&format!("{why}{dominant}")).into_owned());
    }
    verdict
}

/// The write error, and how the journal gets the run back.
fn write_unsaved(u: &UnsavedResult, style: Style, err: &mut dyn Write) -> io::Result<()> {
    let id = printable(&u.result.run_id);
    let cause = super::format_error(&u.source);
    writeln!(
        err,
        "{}",
        style.red(&format!(
            "error: the result of {id} could not be saved: {cause}"
        ))
    )?;
    writeln!(
        err,
        "The summary above is what was measured. The journal {} keeps every request that \
         could be written to it.",
        u.journal.display()
    )?;
    if u.journal_failures > 0 {
        writeln!(
            err,
            "{} journal write(s) failed as well: those requests are not in the journal and are \
             measured again when the run is resumed.",
            u.journal_failures
        )?;
    }
    writeln!(
        err,
        "Free some space (or fix the folder's permissions), then finish the run with:\n  {}",
        printable(&u.resume_command)
    )
}

/// Always on stderr, whatever happened to stdout: a server may still be costing money.
fn write_teardown_failure(teardown: &str, style: Style, err: &mut dyn Write) -> io::Result<()> {
    // `teardown` ends with the command that stops that very server.
    let msg = format!(
        "TEARDOWN FAILED: {}\nIt may be costing money until it is stopped.",
        crate::text::printable_lines(teardown)
    );
    writeln!(err, "{}", style.red(&msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::result::{Metadata, RequestResult, Summary};

    fn saved(status: RunStatus, stopped: Option<&str>, errors: &[&str]) -> SavedRun {
        let requests = errors
            .iter()
            .map(|e| {
                let row = serde_json::json!({"request_index": 0, "error": e});
                serde_json::from_value::<RequestResult>(row).unwrap()
            })
            .collect();
        SavedRun {
            path: "r.json".into(),
            result: RunResult {
                schema_version: Some(1),
                run_id: "r-1".into(),
                status,
                experiment: serde_json::Value::Null,
                metadata: Metadata {
                    stopped_early: stopped.map(str::to_string),
                    ..Metadata::default()
                },
                summary: Summary {
                    failed_requests: errors.len(),
                    ..Summary::default()
                },
                requests,
                gpu_metrics: None,
                definitions: None,
            },
        }
    }

    #[test]
    fn a_breaker_or_a_failed_result_fails_the_run_with_its_reason_and_dominant_error() {
        let nofile = "out of file descriptors: raise `ulimit -n`";
        let v = judge(&[saved(
            RunStatus::Partial,
            Some("circuit breaker: 10 of 20 requests failed"),
            &[nofile, nofile, "HTTP 500"],
        )]);
        assert_eq!(v.failing.len(), 1);
        assert!(v.failing[0].contains("circuit breaker: 10 of 20"), "{v:?}");
        assert!(v.failing[0].contains("(2 requests): out of file descriptors: raise `ulimit -n`"));
        let v = judge(&[saved(RunStatus::Failed, None, &["HTTP 500"])]);
        assert!(v.failing[0].contains("no request succeeded"), "{v:?}");
    }

    #[test]
    fn per_request_errors_alone_are_a_warning() {
        let v = judge(&[
            saved(RunStatus::Completed, None, &[]),
            saved(RunStatus::Partial, None, &["HTTP 500", "HTTP 500"]),
        ]);
        assert_eq!(
            v,
            Verdict {
                failing: Vec::new(),
                failed_requests: 2
            }
        );
    }
}
