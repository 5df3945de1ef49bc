//! Validated experiments for in-process tests: built by hand (no files) or loaded from a
//! simulator config written into a sandbox.

use std::path::PathBuf;

use llm_inf_bench::config::example::runpod_experiment;
use llm_inf_bench::config::{self, Experiment, Framework, FrameworkOptions};

use super::sim::SimYaml;
use super::{Sandbox, PROMPTS};

/// A valid RunPod experiment (10 requests, single, A100-80GB community) named `fake-run`,
/// with framework options set and GPU metrics off.
pub fn runpod(framework: Framework) -> Experiment {
    let mut e = runpod_experiment(framework);
    e.name = "fake-run".into();
    e.framework_options = FrameworkOptions {
        max_model_len: Some(4096),
        gpu_memory_utilization: Some(0.9),
        enable_prefix_caching: Some(true),
        extra_args: vec![],
    };
    e.workload.source = PathBuf::from("prompts.jsonl");
    e.workload.params.max_tokens = 64;
    e.workload.params.temperature = 0.0;
    e.metrics.collect_gpu_metrics = false;
    e
}

/// Write `yaml` (and the prompts) into the sandbox as `<name>.yaml` and load it.
pub fn load(sb: &Sandbox, name: &str, yaml: &SimYaml) -> Experiment {
    sb.write("prompts.jsonl", PROMPTS);
    let path = sb.write(&format!("{name}.yaml"), &yaml.render());
    config::load(&path).expect("valid experiment")
}
