//! Experiment YAML for the built-in simulator (`provider: simulated`), so tests state only
//! what matters to them. Every part is a YAML flow-map body (`key: value, …`).

use std::path::PathBuf;

use super::{Sandbox, PROMPTS};

/// `fn field(self, value: &str) -> Self` for each named text field.
macro_rules! text_setters {
    ($($field:ident),*) => {
        $(
            pub fn $field(mut self, value: &str) -> Self {
                self.$field = value.into();
                self
            }
        )*
    };
}

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
    /// `metrics` keys; empty: no `metrics` section (the defaults).
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

    /// The seeded, fast profile (`seed: 3`; `step_ms`, e.g. `"2.0"`, per decode step and
    /// for the first token).
    pub fn seeded(name: &str, step_ms: &str) -> Self {
        Self::new(name).simulation(&format!(
            "seed: 3, decode_step_ms: {step_ms}, base_ttft_ms: {step_ms}"
        ))
    }

    /// [`SimYaml::seeded`] with `type: concurrent` requests of 8 tokens each (`ignore_eos`),
    /// server metrics sampled every 100 ms.
    pub fn seeded_concurrent(name: &str, step_ms: &str) -> Self {
        Self::seeded(name, step_ms)
            .workload("type: concurrent")
            .parameters("max_tokens: 8, ignore_eos: true")
            .metrics("sample_interval_ms: 100, output_dir: results")
    }

    text_setters!(
        model,
        infrastructure,
        simulation,
        workload,
        parameters,
        metrics,
        extra
    );

    /// Adds `sweep: {body}` to the workload (nothing when `body` is empty).
    pub fn sweep(mut self, body: &str) -> Self {
        if !body.is_empty() {
            self.workload = format!("{}, sweep: {{{body}}}", self.workload);
        }
        self
    }

    pub fn count(mut self, count: usize) -> Self {
        self.count = count;
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
        let metrics = if self.metrics.is_empty() {
            String::new()
        } else {
            format!("metrics: {{{}}}\n", self.metrics)
        };
        format!(
            "name: \"{}\"\nmodel: {{name: \"{}\"}}\nframework: {}\ninfrastructure: {{{infra}}}\n\
             workload: {{{}, requests: {{source: prompts.jsonl, count: {}}}, parameters: {{{}}}}}\n\
             {metrics}{}",
            self.name,
            self.model,
            self.framework,
            self.workload,
            self.count,
            self.parameters,
            self.extra,
        )
    }

    /// Write the prompts and this config (as `file`) into the sandbox; the config's path.
    pub fn write(&self, sb: &Sandbox, file: &str) -> PathBuf {
        sb.write("prompts.jsonl", PROMPTS);
        sb.write(file, &self.render())
    }
}
