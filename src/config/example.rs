//! A small valid experiment built by hand, for tests (the library's unit tests and the
//! integration tests' `tests/support/experiments.rs`), so the struct literal is written once.
//! Not part of the public API.

use std::time::Duration;

use super::*;

/// A RunPod experiment: Llama-3-8B on one community A100-80GB, 10 single requests of
/// 256 tokens at temperature 0.7, default framework options, GPU metrics every 100 ms.
pub fn runpod_experiment(framework: Framework) -> Experiment {
    Experiment {
        name: "t".into(),
        description: None,
        model: ModelSpec {
            name: "meta-llama/Meta-Llama-3-8B-Instruct".into(),
            quantization: None,
        },
        framework,
        framework_options: FrameworkOptions::default(),
        infrastructure: Infrastructure {
            provider: ProviderKind::Runpod,
            gpu_type: Some("A100-80GB".into()),
            gpu_count: 1,
            cloud_type: CloudType::Community,
            simulation: Default::default(),
            local: Default::default(),
        },
        workload: WorkloadSpec {
            kind: WorkloadKind::Single,
            source: "p.jsonl".into(),
            prompts: Default::default(),
            count: 10,
            params: GenerationParams {
                max_tokens: 256,
                temperature: 0.7,
                ignore_eos: false,
            },
            sweep: None,
            timing: Default::default(),
        },
        metrics: MetricsSettings {
            collect_gpu_metrics: true,
            sample_interval: Duration::from_millis(100),
            output_dir: "results".into(),
        },
        answers: Default::default(),
        request: Default::default(),
        resolved: Default::default(),
        matrix: None,
    }
}
