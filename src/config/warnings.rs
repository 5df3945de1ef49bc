//! Plan warnings: a valid config that will not measure what its author likely wants. Shown
//! by `--dry-run` and before a real run starts; never an error. Pure: the open-file limit is
//! passed in.

use crate::config::{Experiment, Framework, Iteration, ProviderKind, WorkloadKind};

/// A run shorter than this has no steady state worth reporting (ramp-up and drain dominate).
pub const MIN_STEADY_SECONDS: f64 = 5.0;
/// Fewer requests per in-flight slot than this: most of the run is ramp-up and drain.
pub const MIN_ROUNDS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanWarning {
    /// The config field (or flag) concerned, e.g. `workload.concurrency`.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every warning for `exp` run as `iterations`; `open_file_limit` is `ulimit -n` (soft).
pub fn plan_warnings(
    exp: &Experiment,
    iterations: &[Iteration],
    open_file_limit: Option<u64>,
) -> Vec<PlanWarning> {
    let mut out = Vec::new();
    unused_concurrency(exp, &mut out);
    // Each warning once, labelled with the sweep values it applies to (none: all of them).
    let mut seen: Vec<(PlanWarning, Vec<String>)> = Vec::new();
    for it in iterations {
        for w in iteration_warnings(&it.experiment, open_file_limit) {
            let label = iteration_label(it);
            match seen.iter_mut().find(|(s, _)| *s == w) {
                Some((_, labels)) => labels.push(label),
                None => seen.push((w, vec![label])),
            }
        }
    }
    for (w, labels) in seen {
        let labels: Vec<String> = labels.into_iter().filter(|l| !l.is_empty()).collect();
        let message = if labels.len() == iterations.len() || labels.is_empty() {
            w.message
        } else {
            format!("[{}] {}", labels.join("; "), w.message)
        };
        out.push(PlanWarning { message, ..w });
    }
    out.extend(extra_args_conflicts(exp));
    out
}

fn iteration_label(it: &Iteration) -> String {
    let mut parts: Vec<String> = it.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if let Some(r) = it.request_rate {
        parts.push(format!("request_rate={r}"));
    }
    if it.total <= 1 {
        return String::new();
    }
    parts.join(",")
}

fn warn(out: &mut Vec<PlanWarning>, field: &str, message: String) {
    out.push(PlanWarning {
        field: field.to_string(),
        message,
    });
}

/// `single` and `batch` ignore `workload.concurrency`.
fn unused_concurrency(exp: &Experiment, out: &mut Vec<PlanWarning>) {
    let key = exp.resolved.workload.as_ref().and_then(|w| w.concurrency);
    let Some(c) = key else { return };
    let instead = match exp.workload.kind {
        WorkloadKind::Single => "'single' sends one request at a time",
        WorkloadKind::Batch { .. } => "'batch' sends batch_size requests at a time",
        _ => return,
    };
    warn(
        out,
        "workload.concurrency",
        format!("{c} is ignored: workload.type {instead}; remove the key or use type 'concurrent'"),
    );
}

/// Warnings of one iteration (its swept values applied).
fn iteration_warnings(exp: &Experiment, open_file_limit: Option<u64>) -> Vec<PlanWarning> {
    let mut out = Vec::new();
    let w = &exp.workload;
    let count = w.count;
    let (field, in_flight) = match &w.kind {
        WorkloadKind::Batch { batch_size } => ("workload.batch_size", Some(*batch_size)),
        WorkloadKind::Concurrent { concurrency } => ("workload.concurrency", Some(*concurrency)),
        WorkloadKind::MultiTurn { concurrency, .. } if w.timing.conversation_rate.is_none() => {
            ("workload.concurrency", Some(*concurrency))
        }
        WorkloadKind::Rate { rate } => ("workload.max_concurrency", rate.max_concurrency),
        _ => ("workload.concurrency", None),
    };
    if let Some(n) = in_flight {
        if n > count && !matches!(w.kind, WorkloadKind::Rate { .. }) {
            warn(&mut out, field, format!(
                "{n} is more than the {count} requests (workload.requests.count): at most {count} are ever in flight; raise the count or lower the concurrency"
            ));
        }
        if let Some(limit) = open_file_limit.filter(|l| n as u64 > *l) {
            warn(&mut out, field, format!(
                "{n} requests in flight need {n} connections, more than the open-file limit {limit} (`ulimit -n`): requests past it fail; raise it (`ulimit -n {}`) or lower the concurrency",
                (n as u64 + 64).next_power_of_two()
            ));
        }
    }
    if let Some(w) = too_short(exp, in_flight) {
        out.push(w);
    }
    out
}

/// A run that ends before a steady state: open loop by its schedule, closed loop by its
/// rounds (and, on the simulator, its known speed).
fn too_short(exp: &Experiment, in_flight: Option<usize>) -> Option<PlanWarning> {
    let w = &exp.workload;
    let rate = match &w.kind {
        WorkloadKind::Rate { rate } => Some(rate.request_rate),
        _ => w.timing.conversation_rate.map(|r| r.request_rate),
    };
    if let Some(rate) = rate {
        return open_loop_too_short(exp, rate);
    }
    if w.timing
        .duration
        .is_some_and(|d| d.as_secs_f64() >= MIN_STEADY_SECONDS)
    {
        return None;
    }
    // One request at a time never queues: there is no ramp-up or drain for the run to
    // outlast, so a short `single` run (the smoke test) is not warned about.
    if matches!(w.kind, WorkloadKind::Single) {
        return None;
    }
    closed_loop_too_short(exp, in_flight.unwrap_or(1).max(1))
}

/// An open-loop run (requests or conversations at `rate` per second) scheduled for less
/// than a steady state, by its count or its `duration_s` cap.
fn open_loop_too_short(exp: &Experiment, rate: f64) -> Option<PlanWarning> {
    let w = &exp.workload;
    let by_count = w.count as f64 / rate;
    let cap = w.timing.duration.map(|d| d.as_secs_f64());
    let seconds = cap.map_or(by_count, |d| d.min(by_count));
    if seconds >= MIN_STEADY_SECONDS {
        return None;
    }
    let warning = match cap {
        Some(d) if d < by_count => PlanWarning {
            field: "workload.duration_s".into(),
            message: format!(
                "{d} s is shorter than {MIN_STEADY_SECONDS} s: no steady state; schedule for longer"
            ),
        },
        _ => PlanWarning {
            field: "workload.requests.count".into(),
            message: format!(
                "{} requests at {rate} req/s are sent in {seconds:.1} s, shorter than {MIN_STEADY_SECONDS} s: no steady state; use at least {} requests (or duration_s)",
                w.count,
                (rate * MIN_STEADY_SECONDS * 2.0).ceil()
            ),
        },
    };
    Some(warning)
}

/// A closed-loop run with `slots` requests in flight: too few rounds per slot, or (on the
/// simulator) too little time.
fn closed_loop_too_short(exp: &Experiment, slots: usize) -> Option<PlanWarning> {
    let w = &exp.workload;
    let field = "workload.requests.count";
    let rounds = w.count / slots;
    // More slots than requests already has its own warning.
    if slots > 1 && slots <= w.count && rounds < MIN_ROUNDS {
        return Some(PlanWarning {
            field: field.into(),
            message: format!(
                "{} requests over {slots} in flight is {rounds} round(s) per slot: the run is mostly ramp-up and drain, no steady state; use at least {} requests",
                w.count,
                slots * MIN_ROUNDS * 2
            ),
        });
    }
    let seconds = simulated_seconds(exp, slots)?;
    (seconds < MIN_STEADY_SECONDS).then(|| PlanWarning {
        field: field.into(),
        message: format!(
            "the simulated run takes about {seconds:.1} s, shorter than {MIN_STEADY_SECONDS} s: no steady state; send more requests"
        ),
    })
}

/// The simulator's known speed: rounds of at most `max_num_seqs` sequences, each a TTFT and
/// `max_tokens` decode steps (queueing beyond that only makes the run longer).
fn simulated_seconds(exp: &Experiment, slots: usize) -> Option<f64> {
    if exp.infrastructure.provider != ProviderKind::Simulated {
        return None;
    }
    let p = &exp.infrastructure.simulation;
    let w = &exp.workload;
    let batch = slots.min(p.max_num_seqs.max(1));
    let step_ms = p.decode_step_ms + p.decode_step_ms_per_seq * batch as f64;
    let per_request_ms = p.base_ttft_ms + w.params.max_tokens as f64 * step_ms;
    Some((w.count as f64 / batch as f64).ceil() * per_request_ms / 1000.0)
}

/// Server flags in `framework_options.extra_args` that contradict the ones the config derives.
pub fn extra_args_conflicts(exp: &Experiment) -> Vec<PlanWarning> {
    let args = &exp.framework_options.extra_args;
    let mut out = Vec::new();
    if args.is_empty() || exp.infrastructure.provider == ProviderKind::Simulated {
        return out;
    }
    let vllm = exp.framework == Framework::Vllm;
    let field = "framework_options.extra_args";
    let mut conflict = |flag: &str, given: &str, derived: String| {
        let given = format!("{flag} {given}");
        warn(
            &mut out,
            field,
            format!("{} contradicts {derived}; remove one of them", given.trim()),
        );
    };
    server_size_conflicts(exp, vllm, &mut conflict);
    let enabled = exp.framework_options.enable_prefix_caching;
    prefix_cache_conflicts(args, vllm, enabled, &mut conflict);
    model_conflicts(exp, &mut conflict);
    if let Some((flag, v)) = flag_value(args, &["--port", "--host"]) {
        conflict(
            &flag,
            &v,
            "the host and port this tool chooses and health-checks".into(),
        );
    }
    out
}

/// Tensor parallelism, context length and GPU memory flags against the config's values.
fn server_size_conflicts(
    exp: &Experiment,
    vllm: bool,
    conflict: &mut impl FnMut(&str, &str, String),
) {
    let args = &exp.framework_options.extra_args;
    let o = &exp.framework_options;
    let tp_flags: &[&str] = if vllm {
        &["--tensor-parallel-size", "-tp"]
    } else {
        &["--tp", "--tp-size", "--tensor-parallel-size"]
    };
    let gpus = exp.infrastructure.gpu_count;
    if let Some((flag, v)) = flag_value(args, tp_flags) {
        if v.parse::<u32>().ok() != Some(gpus) {
            conflict(
                &flag,
                &v,
                format!(
                    "infrastructure.gpu_count {gpus} (tensor parallelism is set to the GPU count)"
                ),
            );
        }
    }
    let len_flags: &[&str] = if vllm {
        &["--max-model-len"]
    } else {
        &["--context-length"]
    };
    if let (Some((flag, v)), Some(n)) = (flag_value(args, len_flags), o.max_model_len) {
        if v.parse::<u32>().ok() != Some(n) {
            conflict(&flag, &v, format!("framework_options.max_model_len {n}"));
        }
    }
    let mem_flags: &[&str] = if vllm {
        &["--gpu-memory-utilization"]
    } else {
        &["--mem-fraction-static"]
    };
    if let (Some((flag, v)), Some(f)) = (flag_value(args, mem_flags), o.gpu_memory_utilization) {
        if v.parse::<f64>().ok() != Some(f) {
            conflict(
                &flag,
                &v,
                format!("framework_options.gpu_memory_utilization {f}"),
            );
        }
    }
}

/// Quantization and served-model-name flags against the `model` section.
fn model_conflicts(exp: &Experiment, conflict: &mut impl FnMut(&str, &str, String)) {
    let args = &exp.framework_options.extra_args;
    if let (Some((flag, v)), Some(q)) = (
        flag_value(args, &["--quantization", "-q"]),
        &exp.model.quantization,
    ) {
        if &v != q {
            conflict(&flag, &v, format!("model.quantization {q}"));
        }
    }
    if let Some((flag, v)) = flag_value(args, &["--served-model-name"]) {
        if v != exp.model.name {
            conflict(
                &flag,
                &v,
                format!(
                    "model.name {} (requests name model.name and would get 404)",
                    exp.model.name
                ),
            );
        }
    }
}

fn prefix_cache_conflicts(
    args: &[String],
    vllm: bool,
    enabled: Option<bool>,
    conflict: &mut impl FnMut(&str, &str, String),
) {
    let Some(enabled) = enabled else { return };
    let off: &[&str] = if vllm {
        &["--no-enable-prefix-caching"]
    } else {
        &["--disable-radix-cache"]
    };
    let on: &[&str] = if vllm {
        &["--enable-prefix-caching"]
    } else {
        &[]
    };
    let opposite = if enabled { off } else { on };
    if let Some(flag) = args.iter().find(|a| opposite.contains(&a.as_str())) {
        conflict(
            flag,
            "",
            format!("framework_options.enable_prefix_caching {enabled}"),
        );
    }
}

/// The first of `flags` in `args` and its value (`--flag value` or `--flag=value`).
fn flag_value(args: &[String], flags: &[&str]) -> Option<(String, String)> {
    for (i, a) in args.iter().enumerate() {
        if let Some((name, value)) = a.split_once('=') {
            if flags.contains(&name) {
                return Some((name.to_string(), value.to_string()));
            }
        }
        if flags.contains(&a.as_str()) {
            let value = args.get(i + 1).cloned().unwrap_or_default();
            return Some((a.clone(), value));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::Fixture;

    fn warnings(yaml: &str, limit: Option<u64>) -> Vec<String> {
        let f = Fixture::new();
        let exp = f.load(yaml).unwrap();
        let iterations = crate::config::sweep::iterations(&exp);
        plan_warnings(&exp, &iterations, limit)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn sim(workload: &str) -> String {
        format!(
            "name: t\nmodel: {{name: m}}\nframework: vllm\ninfrastructure:\n  provider: simulated\n  simulation: {{decode_step_ms: 20.0, base_ttft_ms: 50.0}}\nworkload:\n{workload}"
        )
    }

    fn runpod(extra: &str) -> String {
        format!(
            "name: t\nmodel: {{name: m, quantization: awq}}\nframework: vllm\nframework_options:\n  max_model_len: 4096\n  gpu_memory_utilization: 0.9\n  enable_prefix_caching: true\n  extra_args: {extra}\ninfrastructure: {{gpu_type: A100-80GB, gpu_count: 2}}\nworkload:\n  type: concurrent\n  concurrency: 4\n  duration_s: 60\n  requests: {{source: prompts.jsonl, count: 1000}}\n"
        )
    }

    #[test]
    fn a_long_enough_plan_has_no_warnings() {
        let w = warnings(
            &sim("  type: concurrent\n  concurrency: 4\n  requests: {source: prompts.jsonl, count: 400}\n  parameters: {max_tokens: 32}\n"),
            Some(1024),
        );
        assert_eq!(w, Vec::<String>::new());
        assert_eq!(
            warnings(&runpod("[--seed, '1']"), Some(1024)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn concurrency_above_the_request_count_and_too_few_rounds() {
        let w = warnings(
            &sim("  type: concurrent\n  concurrency: 64\n  requests: {source: prompts.jsonl, count: 20}\n"),
            Some(1024),
        );
        assert!(
            w[0].starts_with("workload.concurrency: 64 is more than the 20 requests"),
            "{w:?}"
        );
        assert_eq!(w.len(), 1, "no second warning about rounds: {w:?}");
        let w = warnings(
            &sim("  type: concurrent\n  concurrency: 16\n  duration_s: 2\n  requests: {source: prompts.jsonl, count: 40}\n"),
            Some(1024),
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("40 requests over 16 in flight is 2 round(s) per slot"),
            "{w:?}"
        );
    }

    #[test]
    fn a_short_open_loop_run_and_a_short_simulated_run() {
        let w = warnings(
            &sim("  type: rate\n  request_rate: 100\n  requests: {source: prompts.jsonl, count: 200}\n"),
            None,
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("sent in 2.0 s, shorter than 5 s"), "{w:?}");
        assert!(w[0].contains("at least 1000 requests"), "{w:?}");
        // 20 requests two at a time, 10 rounds of 50 + 4 × (20 + 2 × 0.05) ms: about 1.3 s.
        let w = warnings(
            &sim("  type: concurrent\n  concurrency: 2\n  requests: {source: prompts.jsonl, count: 20}\n  parameters: {max_tokens: 4}\n"),
            None,
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("about 1.3 s"), "{w:?}");
        // The same run one request at a time: nothing queues, nothing to warn about.
        let w = warnings(
            &sim("  type: single\n  requests: {source: prompts.jsonl, count: 10}\n  parameters: {max_tokens: 4}\n"),
            None,
        );
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn concurrency_above_the_open_file_limit_per_sweep_value() {
        let w = warnings(
            &sim("  type: concurrent\n  requests: {source: prompts.jsonl, count: 100000}\n  sweep: {concurrency: [16, 2048]}\n"),
            Some(1024),
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("workload.concurrency: [concurrency=2048] 2048 requests in flight need 2048 connections, more than the open-file limit 1024 (`ulimit -n`)"),
            "{w:?}"
        );
        assert!(w[0].contains("ulimit -n 4096"), "{w:?}");
    }

    #[test]
    fn single_and_batch_with_a_concurrency_key() {
        let w = warnings(
            &sim("  type: single\n  concurrency: 8\n  requests: {source: prompts.jsonl, count: 1000}\n"),
            None,
        );
        assert_eq!(w, ["workload.concurrency: 8 is ignored: workload.type 'single' sends one request at a time; remove the key or use type 'concurrent'"]);
        let w = warnings(
            &sim("  type: batch\n  batch_size: 4\n  concurrency: 8\n  requests: {source: prompts.jsonl, count: 1000}\n"),
            None,
        );
        assert!(
            w.iter()
                .any(|w| w.contains("'batch' sends batch_size requests at a time")),
            "{w:?}"
        );
    }

    #[test]
    fn extra_args_that_contradict_derived_flags() {
        let w = warnings(
            &runpod("['--tensor-parallel-size', '4', '--max-model-len=8192', '--gpu-memory-utilization', '0.5', '--no-enable-prefix-caching', '-q', 'gptq', '--served-model-name', 'other', '--port', '9000']"),
            None,
        );
        let expect = [
            "--tensor-parallel-size 4 contradicts infrastructure.gpu_count 2",
            "--max-model-len 8192 contradicts framework_options.max_model_len 4096",
            "--gpu-memory-utilization 0.5 contradicts framework_options.gpu_memory_utilization 0.9",
            "--no-enable-prefix-caching contradicts framework_options.enable_prefix_caching true",
            "-q gptq contradicts model.quantization awq",
            "--served-model-name other contradicts model.name m",
            "--port 9000 contradicts the host and port",
        ];
        assert_eq!(w.len(), expect.len(), "{w:?}");
        for (got, want) in w.iter().zip(expect) {
            assert!(
                got.starts_with(&format!("framework_options.extra_args: {want}")),
                "{got}"
            );
        }
        // Agreeing values are no contradiction.
        let w = warnings(
            &runpod("['--tensor-parallel-size=2', '--max-model-len', '4096']"),
            None,
        );
        assert_eq!(w, Vec::<String>::new());
    }
}
