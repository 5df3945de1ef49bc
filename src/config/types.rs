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
}

impl WorkloadKind {
    pub fn name(&self) -> &'static str {
        match self {
            WorkloadKind::Single => "single",
            WorkloadKind::Batch { .. } => "batch",
            WorkloadKind::Concurrent { .. } => "concurrent",
            WorkloadKind::MultiTurn { .. } => "multi_turn",
        }
    }

    /// The most requests this workload has in flight at once.
    pub fn max_in_flight(&self) -> usize {
        match self {
            WorkloadKind::Single => 1,
            WorkloadKind::Batch { batch_size } => *batch_size,
            WorkloadKind::Concurrent { concurrency } => *concurrency,
            WorkloadKind::MultiTurn { concurrency, .. } => *concurrency,
        }
    }
}

/// Values of one sweep dimension.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sweep {
    pub concurrency: Vec<usize>,
    pub batch_size: Vec<usize>,
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
    /// The fully resolved raw config (after `extends`, with absolute paths and, for a sweep
    /// iteration, the swept value applied): written as `experiment` in the result file.
    pub resolved: RawExperiment,
}

/// One iteration of a (possibly trivial) sweep.
#[derive(Debug, Clone)]
pub struct Iteration {
    /// 1-based.
    pub index: usize,
    pub total: usize,
    /// e.g. `[("concurrency", 4), ("batch_size", 8)]`; empty without a sweep.
    pub values: Vec<(&'static str, usize)>,
    pub experiment: Experiment,
}
