//! The dry-run plan: what would run, on what, and what it would cost per hour.

use std::io::{self, Write};

use chrono::NaiveDate;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use crate::config::{CloudType, Experiment, Iteration, ProviderKind, WorkloadKind, WorkloadSpec};
use crate::providers::runpod::pricing::{PriceTable, STALE_AFTER_DAYS};
use crate::text::printable;

/// Write the plan of `exp` (expanded into `iterations`) as a table, followed by warnings.
pub fn render_plan(
    exp: &Experiment,
    iterations: &[Iteration],
    prices: &PriceTable,
    today: NaiveDate,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec!["Plan", ""]);
    let rows = server_rows(exp)
        .into_iter()
        .chain(workload_rows(exp, iterations))
        .chain(cost_rows(exp, prices));
    for (label, value) in rows {
        table.add_row(vec![label, value]);
    }
    writeln!(out, "{table}")?;
    plan_warnings(exp, prices, today, out)
}

type Row = (String, String);

fn row(label: &str, value: String) -> Row {
    (label.to_string(), value)
}

/// Name, model, framework, provider and GPU.
fn server_rows(exp: &Experiment) -> Vec<Row> {
    let infra = &exp.infrastructure;
    let model = match &exp.model.quantization {
        Some(q) => format!("{} ({q})", exp.model.name),
        None => exp.model.name.clone(),
    };
    let provider = match infra.provider {
        ProviderKind::Runpod => format!("runpod ({} cloud)", infra.cloud_type.as_str()),
        other => other.as_str().to_string(),
    };
    let gpu = match (&infra.gpu_type, infra.provider) {
        (Some(g), _) => format!("{g} × {}", infra.gpu_count),
        (None, p) => format!("- ({})", p.as_str()),
    };
    // Names come from a file: no control characters on the terminal.
    vec![
        row("Name", printable(&exp.name).into_owned()),
        row("Model", printable(&model).into_owned()),
        row("Framework", exp.framework.to_string()),
        row("Provider", provider),
        row("GPU", gpu),
    ]
}

/// Workload type, requests, prompts, the way requests are sent, timing, generation, sweep.
fn workload_rows(exp: &Experiment, iterations: &[Iteration]) -> Vec<Row> {
    let w = &exp.workload;
    // With a sweep the iterations may run as another type (single is promoted).
    let runs_as = iterations
        .first()
        .map_or(w.kind.name(), |i| i.experiment.workload.kind.name());
    let workload = if runs_as == w.kind.name() {
        runs_as.to_string()
    } else {
        format!("{} → {runs_as} (sweep)", w.kind.name())
    };
    let mut rows = vec![
        row("Workload", workload),
        row("Requests", requests(exp)),
        row("Prompts", w.source.display().to_string()),
    ];
    rows.extend(sending_row(w));
    rows.extend(crate::output::open_loop::timing_rows(&w.timing));
    let eos = if w.params.ignore_eos {
        ", ignore_eos"
    } else {
        ""
    };
    let generation = format!(
        "max_tokens {}, temperature {}{eos}",
        w.params.max_tokens, w.params.temperature
    );
    rows.push(row("Generation", generation));
    if w.sweep.is_some() {
        let lines: Vec<String> = iterations.iter().map(iteration_line).collect();
        rows.push((
            format!("Sweep ({} iterations)", iterations.len()),
            lines.join("\n"),
        ));
    }
    rows
}

/// How requests are sent: batch size, concurrency or arrivals (none for `single`).
fn sending_row(w: &WorkloadSpec) -> Option<Row> {
    let sweep = w.sweep.clone().unwrap_or_default();
    let swept = |values: &[usize], fixed: String| {
        if values.is_empty() {
            fixed
        } else {
            "swept (see below)".to_string()
        }
    };
    Some(match &w.kind {
        WorkloadKind::Single => return None,
        WorkloadKind::Batch { batch_size } => row(
            "Batch size",
            swept(&sweep.batch_size, batch_size.to_string()),
        ),
        WorkloadKind::Concurrent { concurrency } => row(
            "Concurrency",
            swept(&sweep.concurrency, concurrency.to_string()),
        ),
        WorkloadKind::MultiTurn { concurrency, .. } => {
            let text = match &w.timing.conversation_rate {
                Some(r) => crate::output::open_loop::arrivals_text(r, "conversations"),
                None => format!("{concurrency} conversation(s) at once"),
            };
            row("Concurrency", text)
        }
        WorkloadKind::Rate { rate } => {
            let text = if sweep.request_rate.is_empty() {
                crate::output::open_loop::arrivals_text(rate, "requests")
            } else {
                "swept (see below)".to_string()
            };
            row("Arrivals", text)
        }
        WorkloadKind::Trace => row("Arrivals", "trace timestamps (open loop)".to_string()),
    })
}

/// Stale prices, and a sweep of both concurrency and batch size.
fn plan_warnings(
    exp: &Experiment,
    prices: &PriceTable,
    today: NaiveDate,
    out: &mut dyn Write,
) -> io::Result<()> {
    if exp.infrastructure.provider == ProviderKind::Runpod && prices.is_stale(today) {
        writeln!(
            out,
            "Warning: GPU prices are {} days old (last updated {}, more than {STALE_AFTER_DAYS} days ago); run `llm-inf-bench update-pricing`.",
            prices.age_days(today),
            prices.last_updated
        )?;
    }
    if let Some(s) = &exp.workload.sweep {
        if !s.concurrency.is_empty() && !s.batch_size.is_empty() {
            writeln!(
                out,
                "Note: sweeping both concurrency and batch_size runs each combination as a concurrent workload; batch_size does not change how requests are sent."
            )?;
        }
    }
    Ok(())
}

fn requests(exp: &Experiment) -> String {
    let count = exp.workload.count;
    match &exp.workload.kind {
        WorkloadKind::MultiTurn { conversation, .. } => format!(
            "{count} conversations × {} turns = {} requests",
            conversation.turns,
            count * conversation.turns
        ),
        _ => format!("{count}"),
    }
}

fn iteration_line(it: &Iteration) -> String {
    let mut values: Vec<String> = it.values.iter().map(|(k, v)| format!("{k} {v}")).collect();
    if let Some(r) = it.request_rate {
        values.push(format!("request_rate {r}"));
    }
    format!(
        "{}. {} ({})",
        it.index,
        it.experiment.name,
        values.join(", ")
    )
}

fn cost_rows(exp: &Experiment, prices: &PriceTable) -> Vec<(String, String)> {
    let infra = &exp.infrastructure;
    if infra.provider != ProviderKind::Runpod {
        return vec![(
            "Est. cost".to_string(),
            format!("$0/hr ({}: not applicable)", infra.provider.as_str()),
        )];
    }
    let Some(gpu) = infra.gpu_type.as_deref().and_then(|g| prices.lookup(g)) else {
        return vec![(
            "Est. cost".to_string(),
            "unknown (GPU type not in the price table)".to_string(),
        )];
    };
    let n = f64::from(infra.gpu_count);
    let row = |cloud: CloudType, price: Option<f64>| {
        let chosen = if cloud == infra.cloud_type {
            " (selected)"
        } else {
            ""
        };
        let value = match price {
            Some(p) => format!("${:.2}/hr ({} × ${p:.2}){chosen}", p * n, infra.gpu_count),
            None => format!("not offered{chosen}"),
        };
        (format!("Est. cost {}", cloud.as_str()), value)
    };
    vec![
        row(CloudType::Community, gpu.community),
        row(CloudType::Secure, gpu.secure),
        (
            "Prices".to_string(),
            format!(
                "{} table, last updated {}",
                prices.source, prices.last_updated
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sweep::iterations;
    use crate::config::test_support::Fixture;

    fn plan(edits: &[(&str, &str)], today: NaiveDate) -> String {
        let exp = Fixture::new()
            .load_with(edits)
            .unwrap_or_else(|e| panic!("{e}"));
        let its = iterations(&exp);
        let mut out = Vec::new();
        render_plan(&exp, &its, &PriceTable::builtin(), today, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn fresh() -> NaiveDate {
        PriceTable::builtin().last_updated
    }

    #[test]
    fn runpod_plan_shows_gpu_and_costs_times_gpu_count() {
        let text = plan(&[("infrastructure.gpu_count", "2")], fresh());
        assert!(text.contains("A100-80GB × 2"), "{text}");
        // A100-80GB: 1.19 community, 1.64 secure per GPU.
        assert!(text.contains("$2.38/hr (2 × $1.19) (selected)"), "{text}");
        assert!(text.contains("$3.28/hr (2 × $1.64)"), "{text}");
        assert!(
            text.contains("builtin table, last updated 2026-11-01"),
            "{text}"
        );
        assert!(!text.contains("Warning"), "{text}");
    }

    #[test]
    fn stale_prices_warn() {
        let today = fresh() + chrono::Duration::days(45);
        let text = plan(&[], today);
        assert!(
            text.contains("Warning: GPU prices are 45 days old"),
            "{text}"
        );
    }

    #[test]
    fn simulated_costs_nothing() {
        let text = plan(
            &[
                ("infrastructure.provider", "simulated"),
                ("infrastructure.gpu_type", "~"),
            ],
            fresh() + chrono::Duration::days(400),
        );
        assert!(text.contains("$0/hr (simulated: not applicable)"), "{text}");
        assert!(text.contains("- (simulated)"), "{text}");
        assert!(!text.contains("Warning"), "{text}");
    }

    #[test]
    fn multi_turn_requests_and_sweep_iterations() {
        let text = plan(
            &[
                ("workload.type", "multi_turn"),
                ("workload.conversation.turns", "3"),
                ("workload.conversation.user_messages", "[a, b]"),
            ],
            fresh(),
        );
        assert!(
            text.contains("5 conversations × 3 turns = 15 requests"),
            "{text}"
        );
        let text = plan(&[("workload.sweep.concurrency", "[1, 4]")], fresh());
        assert!(text.contains("single → concurrent (sweep)"), "{text}");
        assert!(text.contains("Sweep (2 iterations)"), "{text}");
        assert!(text.contains("1. t-c1 (concurrency 1)"), "{text}");
        assert!(text.contains("2. t-c4 (concurrency 4)"), "{text}");
    }
}
