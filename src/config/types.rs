//! The validated experiment: what the rest of the program matches on.
//!
//! Produced once from the raw YAML (`raw.rs`) by `validate.rs`; after that no code looks at
//! strings to decide what to do.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::raw::RawExperiment;
use crate::sim::SimProfile;

/// Inference server software.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    Vllm,
    Sglang,
}

impl Framework {
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Vllm => "vllm",
            Framework::Sglang => "sglang",
        }
    }

    pub const ALL: [Framework; 2] = [Framework::Vllm, Framework::Sglang];
}

impl std::fmt::Display for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the inference server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Runpod,
    Simulated,
    Local,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Runpod => "runpod",
            ProviderKind::Simulated => "simulated",
            ProviderKind::Local => "local",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloudType {
    Community,
    Secure,
}

impl CloudType {
    pub fn as_str(self) -> &'static str {
        match self {
            CloudType::Community => "community",
            CloudType::Secure => "secure",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub quantization: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FrameworkOptions {
    pub max_model_len: Option<u32>,
    pub gpu_memory_utilization: Option<f64>,
    pub enable_prefix_caching: Option<bool>,
    pub extra_args: Vec<String>,
}

/// `infrastructure.local`: launch the server as a child process on this machine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LocalServer {
    /// Defaults to `vllm` / `python3` on PATH when absent.
    pub executable: Option<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub startup_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Infrastructure {
    pub provider: ProviderKind,
    /// Required for runpod; optional elsewhere.
    pub gpu_type: Option<String>,
    pub gpu_count: u32,
    pub cloud_type: CloudType,
    pub simulation: SimProfile,
    pub local: LocalServer,
}

/// Sampling parameters sent with every request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationParams {
    pub max_tokens: u32,
    pub temperature: f64,
    /// vLLM/SGLang: generate exactly `max_tokens` tokens.
    pub ignore_eos: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub turns: usize,
    pub system_prompt: Option<String>,
    pub user_messages: Vec<String>,
    pub shared_prefix: Option<String>,
}

/// The execution strategy, with the parameters each one needs (so they cannot be missing).
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadKind {
    Single,
    Batch {
        batch_size: usize,
    },
    Concurrent {
        concurrency: usize,
    },
    /// `concurrency` conversations at once (1 = the original's one after another).
    MultiTurn {
        conversation: Conversation,
        concurrency: usize,
    },
    /// Open loop: requests arrive on a schedule, whatever the replies do.
    Rate {
        rate: RateSpec,
    },
    /// Replay a request trace open loop: each request at its timestamp.
    Trace,
}

impl WorkloadKind {
    pub fn name(&self) -> &'static str {
        match self {
            WorkloadKind::Single => "single",
            WorkloadKind::Batch { .. } => "batch",
            WorkloadKind::Concurrent { .. } => "concurrent",
            WorkloadKind::MultiTurn { .. } => "multi_turn",
            WorkloadKind::Rate { .. } => "rate",
            WorkloadKind::Trace => "trace",
        }
    }

    /// The most requests this workload has in flight at once.
    pub fn max_in_flight(&self) -> usize {
        match self {
            WorkloadKind::Single => 1,
            WorkloadKind::Batch { batch_size } => *batch_size,
            WorkloadKind::Concurrent { concurrency } => *concurrency,
            WorkloadKind::MultiTurn { concurrency, .. } => *concurrency,
            // Open loop: the connection pool must not cap what the schedule has in flight.
            WorkloadKind::Rate { rate } => rate.max_concurrency.unwrap_or(1024),
            WorkloadKind::Trace => crate::workloads::trace::MAX_IN_FLIGHT,
        }
    }
}

/// Values of one sweep dimension.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sweep {
    pub concurrency: Vec<usize>,
    pub batch_size: Vec<usize>,
    /// Requests per second (type `rate`, or `multi_turn` at a rate).
    pub request_rate: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    pub kind: WorkloadKind,
    /// Absolute (resolved against the file that named it).
    pub source: PathBuf,
    /// The prompt file, parsed once at validation (empty when it could not be read).
    pub prompts: std::sync::Arc<crate::workloads::PromptSet>,
    /// Number of requests; for multi_turn, number of conversations.
    pub count: usize,
    pub params: GenerationParams,
    pub sweep: Option<Sweep>,
    /// Warmup, duration, think time, conversation arrivals (issue 13).
    pub timing: Timing,
}

// ---- open loop, warmup, duration (issue 13) ----

/// How inter-arrival gaps are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    Constant,
    Poisson,
    /// Gamma gaps with shape `burstiness` (CV = 1/sqrt(burstiness)).
    Gamma {
        burstiness: f64,
    },
}

impl Arrival {
    pub fn name(self) -> &'static str {
        match self {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
            Arrival::Gamma { .. } => "gamma",
        }
    }
}

/// An open-loop arrival process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSpec {
    /// Mean requests (multi-turn: conversations) per second, > 0.
    pub request_rate: f64,
    pub arrival: Arrival,
    /// At most this many in flight; an arrival that finds it full waits (recorded).
    pub max_concurrency: Option<usize>,
    pub seed: u64,
}

/// Requests whose measurements are left out of every summary figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Warmup {
    /// The first N requests (multi-turn: conversations).
    Requests(usize),
    /// Requests sent (rate: scheduled) before this offset from the run start.
    Duration(Duration),
}

/// Time-related workload settings; all optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timing {
    pub warmup: Option<Warmup>,
    /// Stop starting requests at this offset (`rate`, `concurrent`).
    pub duration: Option<Duration>,
    /// Multi-turn: pause between a reply and the next turn.
    pub think_time: Duration,
    /// Multi-turn: conversations arrive at this rate instead of a closed pool.
    pub conversation_rate: Option<RateSpec>,
    /// Which clock the open-loop pacer sleeps on (not a config key; `bench` compares them).
    pub pacer_clock: PacerClock,
}

/// How the open-loop pacer waits for each deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PacerClock {
    /// A dedicated OS thread sleeping on the kernel's high-resolution timer (1 µs slack),
    /// spawning each request onto the runtime.
    #[default]
    Thread,
    /// `tokio::time::sleep_until` on the runtime (1 ms timer wheel).
    Tokio,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSettings {
    pub collect_gpu_metrics: bool,
    pub sample_interval: Duration,
    /// As written; relative paths are relative to the current directory (as in the Python tool).
    pub output_dir: PathBuf,
}

/// A fully validated experiment (one sweep iteration, or the unexpanded config).
#[derive(Debug, Clone)]
pub struct Experiment {
    pub name: String,
    pub description: Option<String>,
    pub model: ModelSpec,
    pub framework: Framework,
    pub framework_options: FrameworkOptions,
    pub infrastructure: Infrastructure,
    pub workload: WorkloadSpec,
    pub metrics: MetricsSettings,
    /// `slo`, `search`, `repeat`, `infrastructure.cost_per_hr`.
    pub answers: super::answers::AnswerSettings,
    /// Sampling options, headers, whole-request timeout, API key (issue 19).
    pub request: super::request_options::RequestOptions,
    /// The fully resolved raw config (after `extends`, with absolute paths and, for a sweep
    /// iteration, the swept value applied): written as `experiment` in the result file.
    pub resolved: RawExperiment,
    /// The matrix cell this experiment is (issue 17): `metadata.matrix` of its results.
    pub matrix: Option<crate::results::result::MatrixTag>,
}

/// One iteration of a (possibly trivial) sweep.
#[derive(Debug, Clone)]
pub struct Iteration {
    /// 1-based.
    pub index: usize,
    pub total: usize,
    /// e.g. `[("concurrency", 4), ("batch_size", 8)]`; empty without a sweep.
    pub values: Vec<(&'static str, usize)>,
    /// The swept request rate of this iteration (kept apart: it is not an integer).
    pub request_rate: Option<f64>,
    pub experiment: Experiment,
}
