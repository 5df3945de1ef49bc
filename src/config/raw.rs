//! Raw experiment YAML, as written by the user (after `extends` merging).
//!
//! Every field is optional here so that validation can report *all* missing or wrong fields at
//! once with their paths, instead of serde stopping at the first. The same structs serialize as
//! the `experiment` block of a result file; the field names are the Python tool's (a public
//! contract), fields added by this port sit beside them and are omitted when unset.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sim::SimProfile;
pub use crate::tokens::synthetic::{RawDist, RawLength};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExperiment {
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub extends: Option<String>,
    #[serde(default)]
    pub model: Option<RawModel>,
    #[serde(default)]
    pub framework: Option<String>,
    #[serde(default)]
    pub framework_options: Option<RawFrameworkOptions>,
    #[serde(default)]
    pub infrastructure: Option<RawInfrastructure>,
    #[serde(default)]
    pub workload: Option<RawWorkload>,
    #[serde(default)]
    pub metrics: Option<RawMetrics>,
    // ---- answers (SLO, capacity search, repeats): see `answers.rs` ----
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<BTreeMap<String, super::answers::RawSloEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<super::answers::RawSearch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<i64>,
    // ---- experiment matrix (issue 17): see `matrix.rs` ----
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<serde_yaml::Mapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel_pods: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub name: Option<String>,
    #[serde(default)]
    pub quantization: Option<String>,
    /// A `tokenizer.json`, a folder holding one, or a hub id (token-exact workloads only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFrameworkOptions {
    #[serde(default)]
    pub max_model_len: Option<u32>,
    #[serde(default)]
    pub gpu_memory_utilization: Option<f64>,
    #[serde(default)]
    pub enable_prefix_caching: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInfrastructure {
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub gpu_type: Option<String>,
    #[serde(default)]
    pub gpu_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<SimProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<RawLocal>,
    /// Price of a local or external server, $/hr (RunPod pods use the pod's price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_hr: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLocal {
    #[serde(default)]
    pub executable: Option<String>,
    #[serde(default)]
    pub args: Option<Vec<String>>,
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub startup_timeout_s: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub requests: Option<RawRequests>,
    #[serde(default)]
    pub parameters: Option<RawParameters>,
    #[serde(default)]
    pub batch_size: Option<i64>,
    #[serde(default)]
    pub concurrency: Option<i64>,
    #[serde(default)]
    pub sweep: Option<RawSweep>,
    #[serde(default)]
    pub conversation: Option<RawConversation>,
    // ---- open loop, warmup, duration (issue 13); omitted when unset ----
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burstiness: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<RawWarmup>,
    /// `chat` (default) or `completions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// `type: trace`: the trace to replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<RawTrace>,
    /// Extra HTTP headers on every request to the server (issue 19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Longest a whole request may take, seconds (beside the idle-read timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
}

/// `workload.warmup`: `{requests: N}` or `{duration_s: S}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWarmup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrace {
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_scale: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSynthetic {
    #[serde(default)]
    pub input_tokens: Option<RawLength>,
    #[serde(default)]
    pub output_tokens: Option<RawLength>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_prefixes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// `requests.output_tokens`: a length, or `from_dataset` (ShareGPT: the first reply's length).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawOutputTokens {
    Length(RawLength),
    Word(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequests {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub count: Option<i64>,
    /// `jsonl` (default) or `sharegpt` (also detected by shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<RawOutputTokens>,
    /// ShareGPT: replay every human turn of a conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_turn: Option<bool>,
    /// ShareGPT: skip prompts longer than this (counted and reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_input_tokens: Option<i64>,
    /// Generated prompts of exact token lengths (instead of `source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<RawSynthetic>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParameters {
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_eos: Option<bool>,
    // ---- sampling options sent as they are (issue 19; see `request_options.rs`) ----
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<RawStop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Any further request fields, merged into the request JSON verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `parameters.stop`: one string or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawStop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSweep {
    #[serde(default)]
    pub concurrency: Option<Vec<i64>>,
    #[serde(default)]
    pub batch_size: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConversation {
    #[serde(default)]
    pub turns: Option<i64>,
    #[serde(default)]
    pub system_prompt: Option<String>,
    #[serde(default)]
    pub user_messages: Option<Vec<String>>,
    #[serde(default)]
    pub shared_prefix: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    #[serde(default)]
    pub collect_gpu_metrics: Option<bool>,
    #[serde(default)]
    pub sample_interval_ms: Option<i64>,
    #[serde(default)]
    pub output_dir: Option<String>,
}
