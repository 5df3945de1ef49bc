//! One iteration's measurement → its result file (`RunResult`): status, summary, metadata.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::result::SCHEMA_VERSION;
use super::result::{ClientHealth, GpuMetrics, Metadata, RunResult, RunStatus, SweepInfo};
use crate::config::Iteration;
use crate::metrics::aggregate;
use crate::metrics::request::RequestRecord;
use crate::metrics::server_metrics::{self, MetricsDialect};
use crate::providers::ServerHandle;

/// What one iteration measured (earlier records of a resumed iteration included).
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Sorted by `request_index`.
    pub records: Vec<RequestRecord>,
    /// Why the workload stopped before the end (circuit breaker or cancellation).
    pub stopped_early: Option<String>,
    pub gpu_metrics: Option<GpuMetrics>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Wall time of the benchmark (plus the span of earlier records when resumed).
    pub duration: Duration,
    pub client: ClientHealth,
    /// Token-exact workloads: what was asked, completed against the records when built.
    pub tokens: Option<crate::metrics::tokens::TokenSummary>,
}

/// Where and as what the measurement was taken.
pub struct ResultContext<'a> {
    pub run_id: String,
    pub iteration: &'a Iteration,
    pub server: &'a ServerHandle,
    /// The provider kind, or `external` for `--server-url`.
    pub provider: &'a str,
    /// Every time the run was resumed (the latest last).
    pub resumed_at: Option<Vec<DateTime<Utc>>>,
    /// The base run id of the sweep (`metadata.sweep.id`), for curve-to-curve `compare`.
    pub sweep_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot serialize the config")]
pub struct BuildError(#[source] pub serde_json::Error);

/// The result file of one iteration.
pub fn build_result(ctx: ResultContext<'_>, m: Measurement) -> Result<RunResult, BuildError> {
    let exp = &ctx.iteration.experiment;
    let dialect = MetricsDialect::from(exp.framework);
    let mut summary = aggregate::summarize(&m.records, m.duration);
    crate::metrics::open_loop::annotate(&mut summary, &m.records, &exp.workload);
    summary.gpu_summary = m
        .gpu_metrics
        .as_ref()
        .map(|g| server_metrics::summarize(dialect, g));
    summary.tokens = m.tokens.clone().map(|t| {
        let measured = summary
            .gpu_summary
            .as_ref()
            .and_then(|g| g.prefix_cache_hit_rate);
        crate::metrics::tokens::TokenSummary {
            measured_prefix_cache_hit_rate: measured,
            ..t
        }
        .check(&m.records)
    });
    let mut result = RunResult {
        schema_version: Some(SCHEMA_VERSION),
        run_id: ctx.run_id.clone(),
        status: run_status(&m.records, m.stopped_early.is_some()),
        experiment: serde_json::to_value(&exp.resolved).map_err(BuildError)?,
        metadata: metadata(&ctx, &m),
        summary,
        requests: m.records.iter().map(aggregate::to_result).collect(),
        gpu_metrics: m.gpu_metrics,
        definitions: Some(aggregate::definitions()),
    };
    // SLO verdicts, goodput and cost (from `metadata.cost_per_hr`).
    crate::metrics::annotate::annotate(&mut result, exp.answers.slo.as_ref());
    Ok(result)
}

fn metadata(ctx: &ResultContext<'_>, m: &Measurement) -> Metadata {
    let (exp, server, it) = (&ctx.iteration.experiment, ctx.server, ctx.iteration);
    Metadata {
        experiment_name: exp.name.clone(),
        started_at: Some(m.started_at),
        finished_at: Some(m.finished_at),
        server_url: Some(crate::redact::url(&server.base_url)),
        pod_id: server.pod_id.clone(),
        gpu_type: server.gpu_type.clone(),
        gpu_count: server.gpu_count,
        cost_per_hr: crate::metrics::annotate::price(
            exp,
            ctx.provider == "external",
            server.cost_per_hr,
        ),
        tool: Some("llm-inf-bench".into()),
        tool_version: Some(env!("CARGO_PKG_VERSION").into()),
        provider: Some(ctx.provider.to_string()),
        framework: Some(exp.framework.as_str().into()),
        sweep: (it.total > 1).then(|| SweepInfo {
            index: it.index,
            total: it.total,
            values: it
                .values
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<BTreeMap<_, _>>(),
            id: ctx.sweep_id.clone(),
            request_rate: it.request_rate,
        }),
        stopped_early: m.stopped_early.clone(),
        resumed_at: ctx.resumed_at.clone(),
        server_log: server.server_log.as_ref().map(|p| p.display().to_string()),
        client: Some(m.client.clone()),
        matrix: exp.matrix.clone(),
    }
}

/// `completed` when every request succeeded and the run was not cut short; `failed` when none
/// succeeded and some failed (cancelled turns are not failures); `partial` otherwise.
pub fn run_status(records: &[RequestRecord], stopped_early: bool) -> RunStatus {
    let ok = records.iter().filter(|r| r.is_success()).count();
    if ok == 0 && records.iter().any(|r| r.is_failure()) {
        RunStatus::Failed
    } else if ok == records.len() && !stopped_early {
        RunStatus::Completed
    } else {
        RunStatus::Partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::request::{ErrorKind, RequestError, StreamTimings};

    fn record(ok: bool) -> RequestRecord {
        let now = Utc::now();
        RequestRecord {
            pacing: Default::default(),
            requested_input_tokens: None,
            requested_output_tokens: None,
            request_index: 0,
            conversation_index: None,
            turn_index: None,
            started_at: now,
            finished_at: now,
            send_delay_us: 0,
            timings: StreamTimings::default(),
            prompt_tokens: None,
            completion_tokens: Some(1),
            token_count_source: None,
            error: (!ok).then(|| RequestError {
                kind: ErrorKind::Http,
                message: "HTTP 500".into(),
            }),
        }
    }

    #[test]
    fn status_follows_successes_and_early_stops() {
        assert_eq!(run_status(&[record(true)], false), RunStatus::Completed);
        assert_eq!(run_status(&[record(true)], true), RunStatus::Partial);
        assert_eq!(
            run_status(&[record(true), record(false)], false),
            RunStatus::Partial
        );
        assert_eq!(run_status(&[record(false)], false), RunStatus::Failed);
        assert_eq!(run_status(&[], false), RunStatus::Completed);
    }
}
