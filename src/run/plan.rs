//! Phases 3 and 4 of a whole plan: every sweep iteration measured, built into a result file
//! and saved, with the journal kept up to date so an interrupted run can be resumed.

use std::time::Instant;

use super::bench::{Bench, IterationOptions};
use super::{resume, RunError, RunPlan, SavedRun, UnsavedResult};
use crate::config::{Experiment, Iteration};
use crate::events::{Event, EventSink, Phase};
use crate::results::build::{build_result, ResultContext};
use crate::results::run_journal::{NewJournal, RunJournal};
use crate::results::storage;

pub(super) async fn run_plan(plan: RunPlan, bench: Bench) -> Result<(), RunError> {
    let events = bench.events().clone();
    let started = Instant::now();
    events.send(Event::PhaseStarted(Phase::Benchmark));
    let journal = open_journal(&plan, &events)?;
    // The id `--resume`, the journal, the result files and `list` all use.
    events.info(format!("Run id {}", journal.run_id()));
    for iteration in &plan.iterations {
        if bench.cancel_token().is_cancelled() {
            break;
        }
        if let Some(done) = finished_before(&plan, iteration) {
            events.send(Event::IterationAlreadyDone {
                index: iteration.index,
                total: iteration.total,
                result: done.to_string(),
            });
            continue;
        }
        events.send(Event::IterationStarted {
            index: iteration.index,
            total: iteration.total,
            values: iteration
                .values
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        });
        if let Some(saved) = run_iteration(&plan, iteration, &bench, &journal).await? {
            record_saved(&plan, iteration, &bench, &journal, &saved);
        }
    }
    // Ctrl-C: the journal stays so `--resume` continues at the iteration it stopped in.
    // Otherwise every iteration's result is written: the journal is done.
    if !bench.cancel_token().is_cancelled() {
        if let Err(e) = journal.finish() {
            events.warn(e.to_string());
        }
    }
    events.send(Event::PhaseFinished {
        phase: Phase::Benchmark,
        elapsed: started.elapsed(),
    });
    events.send(Event::PhaseStarted(Phase::Collect));
    events.send(Event::PhaseFinished {
        phase: Phase::Collect,
        elapsed: std::time::Duration::ZERO,
    });
    Ok(())
}

/// The journal marks `saved` done (or interrupted, on Ctrl-C); a partial file of an earlier
/// session for this iteration goes.
fn record_saved(
    plan: &RunPlan,
    iteration: &Iteration,
    bench: &Bench,
    journal: &RunJournal,
    saved: &SavedRun,
) {
    if bench.cancel_token().is_cancelled() {
        journal.iteration_interrupted(iteration.index, &saved.path);
    } else {
        journal.iteration_done(iteration.index, &saved.path);
    }
    // The new file holds every request of a partial one an earlier session saved.
    resume::drop_replaced_partial(
        plan.resume.as_ref(),
        iteration.index,
        &saved.path,
        bench.events(),
    );
}

/// Measure one iteration, build its result and save it. `None` when interrupted before any
/// request completed (nothing to save).
async fn run_iteration(
    plan: &RunPlan,
    iteration: &Iteration,
    bench: &Bench,
    journal: &RunJournal,
) -> Result<Option<SavedRun>, RunError> {
    let kind = &iteration.experiment.workload.kind;
    journal.iteration_started(iteration.index);
    let earlier = plan
        .resume
        .as_ref()
        .and_then(|r| r.records.get(&iteration.index))
        .map(|records| resume::kept_records(kind, records))
        .unwrap_or_default();
    let options = IterationOptions {
        already_done: resume::done_units(kind, &earlier),
        earlier,
        on_record: Some(journal.recorder(iteration.index)),
    };
    let Some(measured) = bench
        .measure(iteration, options, bench.cancel_token())
        .await?
    else {
        return Ok(None);
    };
    // The run's id (the journal's), with the iteration's name: one id per file, decided
    // before the result is built so the summary shows the id the file gets.
    let name = run_name(plan, &iteration.experiment);
    let run_id = storage::iteration_run_id(&name, journal.run_id());
    let context = ResultContext {
        run_id: storage::free_run_id(&plan.output_dir, &run_id),
        iteration,
        server: &bench.server().handle,
        provider: &bench.server().provider_label,
        resumed_at: journal.resumed_at(),
        sweep_id: Some(journal.run_id().to_string()),
    };
    let result = build_result(context, measured)?;
    bench.events().send(Event::IterationSummary {
        index: iteration.index,
        total: iteration.total,
        run_id: result.run_id.clone(),
        status: result.status,
        summary: Box::new(result.summary.clone()),
    });
    save(plan, iteration, bench, journal, result).map(Some)
}

/// Write the result; when that fails the run ends with the result and how to resume it (the
/// journal stays).
fn save(
    plan: &RunPlan,
    iteration: &Iteration,
    bench: &Bench,
    journal: &RunJournal,
    result: crate::results::result::RunResult,
) -> Result<SavedRun, RunError> {
    let at = (iteration.index, iteration.total);
    bench
        .try_save(&plan.output_dir, result, at)
        .map_err(|(result, source)| {
            journal.report_failures();
            RunError::ResultNotSaved(Box::new(UnsavedResult {
                result: *result,
                source,
                journal: journal.path(),
                resume_command: journal.resume_command(),
                journal_failures: journal.failed_writes(),
            }))
        })
}

/// `--resume`: the result file of an iteration finished before the interruption.
fn finished_before<'a>(plan: &'a RunPlan, iteration: &Iteration) -> Option<&'a String> {
    plan.resume
        .as_ref()
        .and_then(|r| r.finished.get(&iteration.index))
}

/// A new run creates its journal (header first); a resumed one appends to its own.
fn open_journal(plan: &RunPlan, events: &EventSink) -> Result<RunJournal, RunError> {
    if let Some(state) = &plan.resume {
        return Ok(RunJournal::resume(&plan.output_dir, state, events.clone())?);
    }
    let config = serde_json::to_value(&plan.experiment.resolved)
        .map_err(crate::results::build::BuildError)?;
    Ok(RunJournal::create(
        NewJournal {
            dir: &plan.output_dir,
            run_id: &plan.base_run_id(),
            config,
            iterations: plan.iterations.len(),
            resume_args: plan.resume_args.clone(),
            result_names: plan
                .iterations
                .iter()
                .map(|it| run_name(plan, &it.experiment))
                .collect(),
        },
        events.clone(),
    )?)
}

/// The name in the run id: `--name` replaces the config's name, keeping a sweep suffix.
fn run_name(plan: &RunPlan, exp: &Experiment) -> String {
    match &plan.run_name {
        Some(name) => {
            let suffix = exp
                .name
                .strip_prefix(plan.experiment.name.as_str())
                .unwrap_or("");
            format!("{name}{suffix}")
        }
        None => exp.name.clone(),
    }
}
