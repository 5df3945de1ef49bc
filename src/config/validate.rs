//! Raw config → validated `Experiment`, collecting every problem with its field path, and the
//! `resolved` raw config with defaults filled in (the `experiment` block of a result file).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::Issue;
use super::keys::did_you_mean;
use super::raw::*;
use super::types::*;
use crate::providers::runpod::pricing::PriceTable;
use crate::workloads::prompts::{load_prompts_with_lines, PromptSet};

pub const DEFAULT_PROVIDER: ProviderKind = ProviderKind::Runpod;
pub const DEFAULT_GPU_COUNT: i64 = 1;
pub const DEFAULT_CLOUD_TYPE: CloudType = CloudType::Community;
pub const DEFAULT_MAX_TOKENS: i64 = 256;
pub const DEFAULT_TEMPERATURE: f64 = 0.7;
pub const DEFAULT_GPU_MEMORY_UTILIZATION: f64 = 0.9;
pub const DEFAULT_SAMPLE_INTERVAL_MS: i64 = 100;
pub const DEFAULT_OUTPUT_DIR: &str = "results/";
pub const DEFAULT_STARTUP_TIMEOUT_S: u64 = 600;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Type {
    Single,
    Batch,
    Concurrent,
    MultiTurn,
    Rate,
    Trace,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Type::Single => "single",
            Type::Batch => "batch",
            Type::Concurrent => "concurrent",
            Type::MultiTurn => "multi_turn",
            Type::Rate => "rate",
            Type::Trace => "trace",
        }
    }
}

/// Collects issues; every check returns a usable value (a default on error) so that checking
/// goes on and all problems are reported together.
#[derive(Default)]
struct Checker {
    issues: Vec<Issue>,
}

impl Checker {
    fn push(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(Issue::new(path, message));
    }

    fn required_text(&mut self, path: &str, value: Option<&str>) -> String {
        match value.map(str::trim) {
            Some(s) if !s.is_empty() => s.to_string(),
            Some(_) => {
                self.push(path, "must not be empty");
                String::new()
            }
            None => {
                self.push(path, "required");
                String::new()
            }
        }
    }

    /// A whole number in the field's range (`config::ranges`, from 1); `None` when absent
    /// without default, or invalid.
    fn positive(&mut self, path: &str, value: Option<i64>, default: Option<i64>) -> Option<usize> {
        let n = value.or(default)?;
        let ok = super::ranges::in_range(path, n);
        if ok.is_none() {
            self.push(path, super::ranges::out_of_range(path, n));
        }
        ok
    }

    fn choice<T: Copy>(
        &mut self,
        path: &str,
        value: Option<&str>,
        default: Option<T>,
        options: &[(&'static str, T)],
    ) -> Option<T> {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let Some(value) = value else {
            if default.is_none() {
                self.push(path, format!("required (one of: {})", names.join(", ")));
            }
            return default;
        };
        if let Some((_, t)) = options.iter().find(|(n, _)| *n == value) {
            return Some(*t);
        }
        let hint = did_you_mean(value, &names)
            .map(|s| format!(", did you mean '{s}'?"))
            .unwrap_or_default();
        self.push(
            path,
            format!("'{value}' is not one of: {}{hint}", names.join(", ")),
        );
        None
    }

    /// A field the workload type needs (unless it was already reported as invalid).
    fn required_for(&mut self, ty: Type, field: &str, value: Option<usize>) -> usize {
        let path = format!("workload.{field}");
        if value.is_none() && !self.issues.iter().any(|i| i.path == path) {
            self.push(
                &path,
                format!("required when workload.type is '{}'", ty.as_str()),
            );
        }
        value.unwrap_or(1)
    }

    fn sweep_list(&mut self, path: &str, values: Option<&Vec<i64>>) -> Vec<usize> {
        let Some(values) = values else {
            return Vec::new();
        };
        if values.is_empty() {
            self.push(path, "must not be empty (leave it out to not sweep)");
            return Vec::new();
        }
        if let Some(bad) = values
            .iter()
            .find(|&&n| super::ranges::in_range(path, n).is_none())
        {
            self.push(
                path,
                format!("each value {}", super::ranges::out_of_range(path, bad)),
            );
            return Vec::new();
        }
        values.iter().map(|&n| n as usize).collect()
    }
}

/// Validate a merged raw config. `workload.requests.source` is read here (relative paths
/// resolve against the current directory; the loader has already made them absolute).
/// What validation may skip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// `run --server-url`: no provisioning, so provider-specific rules (RunPod `gpu_type`)
    /// do not apply.
    pub external_server: bool,
}

pub fn validate(raw: RawExperiment, prices: &PriceTable) -> Result<Experiment, Vec<Issue>> {
    validate_with(raw, prices, ValidateOptions::default())
}

pub fn validate_with(
    raw: RawExperiment,
    prices: &PriceTable,
    opts: ValidateOptions,
) -> Result<Experiment, Vec<Issue>> {
    let mut c = Checker::default();
    let name = c.required_text("name", raw.name.as_deref());
    let raw_model = raw.model.clone().unwrap_or_default();
    let model = ModelSpec {
        name: c.required_text("model.name", raw_model.name.as_deref()),
        quantization: raw_model.quantization.clone(),
    };
    let framework = c
        .choice(
            "framework",
            raw.framework.as_deref(),
            None,
            &[("vllm", Framework::Vllm), ("sglang", Framework::Sglang)],
        )
        .unwrap_or(Framework::Vllm);
    let framework_options = framework_options(&mut c, raw.framework_options.as_ref());
    let infrastructure = infrastructure(&mut c, raw.infrastructure.as_ref(), prices, opts);
    let workload = workload(&mut c, raw.workload.as_ref());
    let metrics = metrics(&mut c, raw.metrics.as_ref());
    let answers = super::answers::check(&raw, &workload, &mut c.issues);
    super::tokens::token_workload(&raw, &mut c.issues);
    let request = super::request_options::check(&raw, &mut c.issues);
    // A matrix's cells arrive here with it removed; left on a plain experiment it would be
    // silently ignored.
    if raw.max_parallel_pods.is_some() && raw.matrix.is_none() {
        c.push(
            "max_parallel_pods",
            "only applies to a `matrix:` (cells run at once); remove it or add a matrix",
        );
    }
    if !c.issues.is_empty() {
        return Err(c.issues);
    }
    let resolved = resolve(
        raw,
        &infrastructure,
        &workload,
        &framework_options,
        &metrics,
    );
    Ok(Experiment {
        name,
        description: resolved.description.clone(),
        model,
        framework,
        framework_options,
        infrastructure,
        workload,
        metrics,
        answers,
        request,
        resolved,
        matrix: None,
    })
}

fn framework_options(c: &mut Checker, raw: Option<&RawFrameworkOptions>) -> FrameworkOptions {
    let raw = raw.cloned().unwrap_or_default();
    let path = "framework_options.gpu_memory_utilization";
    let gmu = raw
        .gpu_memory_utilization
        .unwrap_or(DEFAULT_GPU_MEMORY_UTILIZATION);
    if !(gmu > 0.0 && gmu <= 1.0) {
        c.push(path, format!("must be in (0, 1], got {gmu}"));
    }
    if raw.max_model_len == Some(0) {
        c.push("framework_options.max_model_len", "must be > 0, got 0");
    }
    FrameworkOptions {
        max_model_len: raw.max_model_len,
        gpu_memory_utilization: Some(gmu),
        enable_prefix_caching: raw.enable_prefix_caching,
        extra_args: raw.extra_args.unwrap_or_default(),
    }
}

fn infrastructure(
    c: &mut Checker,
    raw: Option<&RawInfrastructure>,
    prices: &PriceTable,
    opts: ValidateOptions,
) -> Infrastructure {
    let raw = raw.cloned().unwrap_or_default();
    let provider = c
        .choice(
            "infrastructure.provider",
            raw.provider.as_deref(),
            Some(DEFAULT_PROVIDER),
            &[
                ("runpod", ProviderKind::Runpod),
                ("simulated", ProviderKind::Simulated),
                ("local", ProviderKind::Local),
            ],
        )
        .unwrap_or(DEFAULT_PROVIDER);
    let gpu_count = c
        .positive(
            "infrastructure.gpu_count",
            raw.gpu_count,
            Some(DEFAULT_GPU_COUNT),
        )
        .unwrap_or(1) as u32;
    let cloud_type = c
        .choice(
            "infrastructure.cloud_type",
            raw.cloud_type.as_deref(),
            Some(DEFAULT_CLOUD_TYPE),
            &[
                ("community", CloudType::Community),
                ("secure", CloudType::Secure),
            ],
        )
        .unwrap_or(DEFAULT_CLOUD_TYPE);
    if provider == ProviderKind::Runpod && !opts.external_server {
        check_runpod_gpu(c, raw.gpu_type.as_deref(), cloud_type, prices);
    }
    let simulation = raw.simulation.unwrap_or_default();
    if provider == ProviderKind::Simulated && !opts.external_server {
        for e in simulation.problems() {
            c.push(&format!("infrastructure.simulation.{}", e.knob), e.problem);
        }
    }
    Infrastructure {
        provider,
        gpu_type: raw.gpu_type,
        gpu_count,
        cloud_type,
        simulation,
        local: local_server(c, raw.local.unwrap_or_default()),
    }
}

/// `infrastructure.local`: the server command's overrides and its start-up limit.
fn local_server(c: &mut Checker, local: RawLocal) -> LocalServer {
    let timeout = local.startup_timeout_s.unwrap_or(DEFAULT_STARTUP_TIMEOUT_S);
    if timeout == 0 {
        c.push(
            "infrastructure.local.startup_timeout_s",
            "must be > 0, got 0",
        );
    }
    LocalServer {
        executable: local.executable.map(PathBuf::from),
        args: local.args.unwrap_or_default(),
        env: local.env.unwrap_or_default().into_iter().collect(),
        startup_timeout: Duration::from_secs(timeout),
    }
}

fn check_runpod_gpu(c: &mut Checker, gpu: Option<&str>, cloud: CloudType, prices: &PriceTable) {
    let path = "infrastructure.gpu_type";
    let known = prices.known_names().join(", ");
    let Some(gpu) = gpu.map(str::trim).filter(|g| !g.is_empty()) else {
        c.push(
            path,
            format!("required for provider 'runpod' (one of: {known})"),
        );
        return;
    };
    let Some(entry) = prices.lookup(gpu) else {
        let hint = did_you_mean(gpu, &prices.known_names())
            .map(|s| format!(" Did you mean '{s}'?"))
            .unwrap_or_default();
        c.push(
            path,
            format!("unknown GPU type '{gpu}'; known types: {known}.{hint}"),
        );
        return;
    };
    let price = match cloud {
        CloudType::Community => entry.community,
        CloudType::Secure => entry.secure,
    };
    if price.is_none() {
        c.push(
            "infrastructure.cloud_type",
            format!(
                "{} is not offered on {} cloud (per the price table); choose the other cloud_type",
                entry.name,
                cloud.as_str()
            ),
        );
    }
}

fn workload(c: &mut Checker, raw: Option<&RawWorkload>) -> WorkloadSpec {
    let raw = raw.cloned().unwrap_or_default();
    let ty = workload_type(c, &raw);
    let requests = raw.requests.clone().unwrap_or_default();
    // Token-exact sources need no prompt file; a trace sends every line unless capped.
    let generated = ty == Type::Trace || requests.synthetic.is_some();
    let count = request_count(c, &raw, ty, requests.count);
    let params = parameters(c, raw.parameters.as_ref());
    let sweep = workload_sweep(c, &raw, ty);
    let swept_rate = sweep.as_ref().and_then(|s| s.request_rate.first().copied());
    let rate = timing::rate_spec(c, &raw, ty, swept_rate);
    let timing = timing::timing(c, &raw, ty, count, rate);
    let kind = workload_kind(c, &raw, ty, sweep.as_ref(), rate);
    let (source, prompts) = prompt_source(c, &requests, generated, &kind);
    WorkloadSpec {
        kind,
        source,
        prompts: std::sync::Arc::new(prompts.unwrap_or_default()),
        count: count.unwrap_or(1),
        params,
        sweep,
        timing,
    }
}

fn workload_type(c: &mut Checker, raw: &RawWorkload) -> Type {
    c.choice(
        "workload.type",
        raw.kind.as_deref(),
        Some(Type::Single),
        &[
            ("single", Type::Single),
            ("batch", Type::Batch),
            ("concurrent", Type::Concurrent),
            ("multi_turn", Type::MultiTurn),
            ("rate", Type::Rate),
            ("trace", Type::Trace),
        ],
    )
    .unwrap_or(Type::Single)
}

/// `workload.requests.count`: required, except for a trace (its length).
fn request_count(
    c: &mut Checker,
    raw: &RawWorkload,
    ty: Type,
    count: Option<i64>,
) -> Option<usize> {
    match count {
        None if ty == Type::Trace => Some(trace_len(raw).max(1)),
        None => {
            c.push(
                "workload.requests.count",
                "required (number of requests; for multi_turn, of conversations)",
            );
            None
        }
        some => c.positive("workload.requests.count", some, None),
    }
}

/// The swept values (none when every list is empty); each swept field must suit the type.
fn workload_sweep(c: &mut Checker, raw: &RawWorkload, ty: Type) -> Option<Sweep> {
    let sweep = raw.sweep.as_ref().map(|s| Sweep {
        concurrency: c.sweep_list("workload.sweep.concurrency", s.concurrency.as_ref()),
        batch_size: c.sweep_list("workload.sweep.batch_size", s.batch_size.as_ref()),
        request_rate: timing::rate_sweep(c, s.request_rate.as_ref(), ty),
    });
    sweep.filter(|s| {
        !s.concurrency.is_empty() || !s.batch_size.is_empty() || !s.request_rate.is_empty()
    })
}

/// A concurrency sweep needs concurrent/single, a batch-size sweep batch/single.
fn check_sweep_types(c: &mut Checker, ty: Type, swept: (Option<usize>, Option<usize>)) {
    let checks = [
        (swept.0, "concurrency", "concurrent", Type::Concurrent),
        (swept.1, "batch_size", "batch", Type::Batch),
    ];
    for (value, field, needs, needed) in checks {
        if value.is_some() && !(ty == needed || ty == Type::Single) {
            c.push(
                &format!("workload.sweep.{field}"),
                format!(
                    "a {field} sweep needs workload.type '{needs}' or 'single', not '{}'",
                    ty.as_str()
                ),
            );
        }
    }
}

/// The workload's kind with what it needs: a batch size, a concurrency (the first swept value
/// stands in when the field is not set), a conversation, an arrival rate.
fn workload_kind(
    c: &mut Checker,
    raw: &RawWorkload,
    ty: Type,
    sweep: Option<&Sweep>,
    rate: Option<RateSpec>,
) -> WorkloadKind {
    let c_sweep = sweep.and_then(|s| s.concurrency.first().copied());
    let b_sweep = sweep.and_then(|s| s.batch_size.first().copied());
    check_sweep_types(c, ty, (c_sweep, b_sweep));
    let batch_size = c.positive("workload.batch_size", raw.batch_size, None);
    let concurrency = c.positive("workload.concurrency", raw.concurrency, None);
    match ty {
        Type::Single => WorkloadKind::Single,
        Type::Batch => WorkloadKind::Batch {
            batch_size: c.required_for(ty, "batch_size", batch_size.or(b_sweep)),
        },
        Type::Concurrent => WorkloadKind::Concurrent {
            concurrency: c.required_for(ty, "concurrency", concurrency.or(c_sweep)),
        },
        Type::MultiTurn => WorkloadKind::MultiTurn {
            conversation: conversation(c, raw.conversation.as_ref()),
            concurrency: concurrency.unwrap_or(1),
        },
        Type::Rate => {
            if raw.concurrency.is_some() {
                c.push(
                    "workload.concurrency",
                    "not used by workload.type 'rate' (arrivals follow request_rate); use max_concurrency to cap requests in flight",
                );
            }
            WorkloadKind::Rate {
                rate: rate.unwrap_or(RateSpec {
                    request_rate: 1.0,
                    arrival: Arrival::Poisson,
                    max_concurrency: None,
                    seed: timing::DEFAULT_SEED,
                }),
            }
        }
        Type::Trace => WorkloadKind::Trace,
    }
}

/// `workload.requests.source` and its prompts, parsed once here (none for generated
/// requests, which must not name a file, nor for ShareGPT, checked with the token workload).
fn prompt_source(
    c: &mut Checker,
    requests: &RawRequests,
    generated: bool,
    kind: &WorkloadKind,
) -> (PathBuf, Option<PromptSet>) {
    match requests.source.as_deref().map(str::trim) {
        Some(_) if generated => {
            c.push(
                "workload.requests.source",
                "not used with synthetic prompts or a trace; remove it",
            );
            (PathBuf::new(), None)
        }
        None if generated => (PathBuf::new(), None),
        Some(s) if !s.is_empty() => {
            let p = std::path::absolute(s).unwrap_or_else(|_| PathBuf::from(s));
            let prompts = if super::tokens::is_sharegpt(requests) {
                None
            } else {
                check_prompts(c, &p, kind)
            };
            (p, prompts)
        }
        _ => {
            c.push(
                "workload.requests.source",
                "required (path to a JSONL prompt file)",
            );
            (PathBuf::new(), None)
        }
    }
}

/// Requests in the configured trace (0 when it cannot be read: reported with the trace).
fn trace_len(raw: &RawWorkload) -> usize {
    raw.trace
        .as_ref()
        .and_then(|t| t.file.as_deref())
        .and_then(|f| crate::tokens::trace::load(Path::new(f)).ok())
        .map_or(0, |t| t.entries.len())
}

fn parameters(c: &mut Checker, raw: Option<&RawParameters>) -> GenerationParams {
    let raw = raw.cloned().unwrap_or_default();
    let max_tokens = c
        .positive(
            "workload.parameters.max_tokens",
            raw.max_tokens,
            Some(DEFAULT_MAX_TOKENS),
        )
        .unwrap_or(1) as u32;
    let temperature = raw.temperature.unwrap_or(DEFAULT_TEMPERATURE);
    if !(temperature >= 0.0 && temperature.is_finite()) {
        c.push(
            "workload.parameters.temperature",
            format!("must be >= 0, got {temperature}"),
        );
    }
    GenerationParams {
        max_tokens,
        temperature,
        ignore_eos: raw.ignore_eos.unwrap_or(false),
    }
}

fn conversation(c: &mut Checker, raw: Option<&RawConversation>) -> Conversation {
    let Some(raw) = raw else {
        c.push(
            "workload.conversation",
            "required when workload.type is 'multi_turn' (at least `turns`)",
        );
        return Conversation {
            turns: 1,
            system_prompt: None,
            user_messages: Vec::new(),
            shared_prefix: None,
        };
    };
    let turns = match raw.turns {
        None => {
            c.push(
                "workload.conversation.turns",
                "required (turns per conversation, >= 1)",
            );
            None
        }
        some => c.positive("workload.conversation.turns", some, None),
    };
    Conversation {
        turns: turns.unwrap_or(0),
        system_prompt: raw.system_prompt.clone(),
        user_messages: raw.user_messages.clone().unwrap_or_default(),
        shared_prefix: raw.shared_prefix.clone(),
    }
}

/// The prompt file must parse and fit the workload: scripts only for multi_turn, and enough
/// user messages for every turn. Returns the parsed prompts (parsed once, here).
fn check_prompts(c: &mut Checker, path: &Path, kind: &WorkloadKind) -> Option<PromptSet> {
    let field = "workload.requests.source";
    let (set, lines) = match load_prompts_with_lines(path) {
        Ok(loaded) => loaded,
        Err(e) => {
            c.push(field, e.to_string());
            return None;
        }
    };
    check_prompt_fit(c, path, &set, &lines, kind);
    Some(set)
}

/// Scripts only for multi_turn, and enough user messages for every turn: the one place the
/// multi-turn follow-up count is checked.
fn check_prompt_fit(
    c: &mut Checker,
    path: &Path,
    set: &PromptSet,
    lines: &[usize],
    kind: &WorkloadKind,
) {
    let field = "workload.requests.source";
    let conversation = match kind {
        WorkloadKind::MultiTurn { conversation, .. } => conversation,
        _ => {
            if matches!(set, PromptSet::Scripted(_)) {
                c.push(field, format!("{} uses the scripted 'turns' format, which is only for workload.type 'multi_turn'; use {{\"messages\": [...]}} lines", path.display()));
            }
            return;
        }
    };
    let turns = conversation.turns;
    if turns == 0 {
        return; // already reported
    }
    match set {
        PromptSet::Messages(_) => {
            let have = conversation.user_messages.len();
            if have + 1 < turns {
                c.push(
                    "workload.conversation.user_messages",
                    format!(
                        "{turns} turns need {} follow-up messages (the prompt file uses the messages format), got {have}",
                        turns - 1
                    ),
                );
            }
        }
        PromptSet::Scripted(scripts) => {
            let short: Vec<(usize, usize)> = scripts
                .iter()
                .zip(lines)
                .filter(|(s, _)| s.len() < turns)
                .map(|(s, &line)| (line, s.len()))
                .collect();
            if let Some(&(line, len)) = short.first() {
                let more = match short.len() {
                    1 => String::new(),
                    n => format!(" ({} more scripts are too short)", n - 1),
                };
                c.push(
                    field,
                    format!(
                        "{}:{line}: script has {len} turns but workload.conversation.turns is {turns}{more}",
                        path.display()
                    ),
                );
            }
        }
    }
}

fn metrics(c: &mut Checker, raw: Option<&RawMetrics>) -> MetricsSettings {
    let raw = raw.cloned().unwrap_or_default();
    let interval = c
        .positive(
            "metrics.sample_interval_ms",
            raw.sample_interval_ms,
            Some(DEFAULT_SAMPLE_INTERVAL_MS),
        )
        .unwrap_or(1);
    MetricsSettings {
        collect_gpu_metrics: raw.collect_gpu_metrics.unwrap_or(true),
        sample_interval: Duration::from_millis(interval as u64),
        output_dir: PathBuf::from(raw.output_dir.unwrap_or_else(|| DEFAULT_OUTPUT_DIR.into())),
    }
}

/// The raw config with defaults filled in: every key of the Python tool present (null where
/// unset); keys added by this port present when they apply (`cloud_type` for runpod,
/// `simulation` for simulated, `local` for local) or when written.
fn resolve(
    mut raw: RawExperiment,
    infra: &Infrastructure,
    workload: &WorkloadSpec,
    fo: &FrameworkOptions,
    metrics: &MetricsSettings,
) -> RawExperiment {
    super::request_options::redact_resolved(&mut raw);
    let model = raw.model.get_or_insert_with(Default::default);
    model.name = model.name.as_ref().map(|n| n.trim().to_string());
    raw.name = raw.name.map(|n| n.trim().to_string());
    let rfo = raw.framework_options.get_or_insert_with(Default::default);
    rfo.gpu_memory_utilization = fo.gpu_memory_utilization;
    // The resolved config goes into result files and journals: no secrets in it.
    if let Some(extra) = rfo.extra_args.as_mut() {
        *extra = crate::redact::redact_args(extra);
    }

    resolve_infrastructure(
        raw.infrastructure.get_or_insert_with(Default::default),
        infra,
    );
    resolve_workload(raw.workload.get_or_insert_with(Default::default), workload);
    let rm = raw.metrics.get_or_insert_with(Default::default);
    rm.collect_gpu_metrics = Some(metrics.collect_gpu_metrics);
    rm.sample_interval_ms = Some(metrics.sample_interval.as_millis() as i64);
    rm.output_dir = Some(metrics.output_dir.display().to_string());
    raw
}

/// The provider's own keys filled in; local args and env redacted.
fn resolve_infrastructure(ri: &mut RawInfrastructure, infra: &Infrastructure) {
    ri.provider = Some(infra.provider.as_str().to_string());
    ri.gpu_count = Some(i64::from(infra.gpu_count));
    match infra.provider {
        ProviderKind::Runpod => ri.cloud_type = Some(infra.cloud_type.as_str().to_string()),
        ProviderKind::Simulated => ri.simulation = Some(infra.simulation.clone()),
        ProviderKind::Local => {
            let local = ri.local.get_or_insert_with(Default::default);
            local.startup_timeout_s = Some(infra.local.startup_timeout.as_secs());
        }
    }
    if let Some(local) = ri.local.as_mut() {
        if let Some(args) = local.args.as_mut() {
            *args = crate::redact::redact_args(args);
        }
        if let Some(env) = local.env.as_mut() {
            crate::redact::redact_env(env.iter_mut());
        }
    }
}

/// The workload type, prompt file, parameters and arrival process filled in.
fn resolve_workload(rw: &mut RawWorkload, workload: &WorkloadSpec) {
    rw.kind = Some(workload.kind.name().to_string());
    let rr = rw.requests.get_or_insert_with(Default::default);
    if !workload.source.as_os_str().is_empty() {
        rr.source = Some(workload.source.display().to_string());
    }
    let rp = rw.parameters.get_or_insert_with(Default::default);
    rp.max_tokens = Some(i64::from(workload.params.max_tokens));
    rp.temperature = Some(workload.params.temperature);
    let rate = match &workload.kind {
        WorkloadKind::Rate { rate } => Some(rate),
        _ => workload.timing.conversation_rate.as_ref(),
    };
    if let Some(rate) = rate {
        rw.arrival = Some(rate.arrival.name().to_string());
        rw.seed = Some(rate.seed);
        if let Arrival::Gamma { burstiness } = rate.arrival {
            rw.burstiness = Some(burstiness);
        }
    }
}

#[path = "validate_timing.rs"]
mod timing;

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
