//! Experiment YAML for the built-in simulator (`provider: simulated`), so tests state only
//! what matters to them. Every part is a YAML flow-map body (`key: value, …`).

use std::path::PathBuf;

use super::{Sandbox, PROMPTS};

#[derive(Debug, Clone)]
pub struct SimYaml {
    pub name: String,
    pub model: String,
    pub framework: String,
    /// More `infrastructure` keys (e.g. `cost_per_hr: 2.0`).
    pub infrastructure: String,
    /// The simulator's profile (`infrastructure.simulation`); empty: the default profile.
    pub simulation: String,
    /// `workload` keys besides `requests` and `parameters` (`type: single` …).
    pub workload: String,
    /// `workload.requests.count` (the source is `prompts.jsonl`).
    pub count: usize,
    pub parameters: String,
    pub metrics: String,
    /// Raw YAML appended after `metrics` (top-level blocks such as `slo:`).
    pub extra: String,
}

impl SimYaml {
    /// Two single requests of 4 tokens on the default profile, no server metrics.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            model: "sim/tiny".into(),
            framework: "vllm".into(),
            infrastructure: String::new(),
            simulation: String::new(),
            workload: "type: single".into(),
            count: 2,
            parameters: "max_tokens: 4".into(),
            metrics: "collect_gpu_metrics: false, output_dir: results".into(),
            extra: String::new(),
        }
    }

    pub fn model(mut self, model: &str) -> Self {
        self.model = model.into();
        self
    }

    pub fn infrastructure(mut self, keys: &str) -> Self {
        self.infrastructure = keys.into();
        self
    }

    pub fn simulation(mut self, profile: &str) -> Self {
        self.simulation = profile.into();
        self
    }

    pub fn workload(mut self, keys: &str) -> Self {
        self.workload = keys.into();
        self
    }

    pub fn count(mut self, count: usize) -> Self {
        self.count = count;
        self
    }

    pub fn parameters(mut self, keys: &str) -> Self {
        self.parameters = keys.into();
        self
    }

    pub fn metrics(mut self, keys: &str) -> Self {
        self.metrics = keys.into();
        self
    }

    pub fn extra(mut self, yaml: &str) -> Self {
        self.extra = yaml.into();
        self
    }

    pub fn render(&self) -> String {
        let mut infra = String::from("provider: simulated");
        if !self.infrastructure.is_empty() {
            infra += &format!(", {}", self.infrastructure);
        }
        if !self.simulation.is_empty() {
            infra += &format!(", simulation: {{{}}}", self.simulation);
        }
        format!(
            "name: \"{}\"\nmodel: {{name: \"{}\"}}\nframework: {}\ninfrastructure: {{{infra}}}\n\
             workload: {{{}, requests: {{source: prompts.jsonl, count: {}}}, parameters: {{{}}}}}\n\
             metrics: {{{}}}\n{}",
            self.name,
            self.model,
            self.framework,
            self.workload,
            self.count,
            self.parameters,
            self.metrics,
            self.extra,
        )
    }

    /// Write the prompts and this config (as `file`) into the sandbox; the config's path.
    pub fn write(&self, sb: &Sandbox, file: &str) -> PathBuf {
        sb.write("prompts.jsonl", PROMPTS);
        sb.write(file, &self.render())
    }
}
