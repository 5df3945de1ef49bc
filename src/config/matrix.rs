//! `matrix:` (issue 17): a cartesian product over server settings, each combination (a *cell*)
//! a full, validated [`Experiment`]. The axes are checked here (allowed names, non-empty lists,
//! value shapes, GPU types in the price table); every cell is then validated like a file of its
//! own, and all problems of every cell come back at once.
//!
//! ```yaml
//! matrix:
//!   gpu_type: ["A100-80GB", "H100-80GB"]
//!   framework: ["vllm", "sglang"]
//! max_parallel_pods: 3
//! ```

use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::error::{ConfigError, Issue};
use super::keys::did_you_mean;
use super::raw::{RawExperiment, RawInfrastructure, RawLocal, RawModel};
use super::types::Experiment;
use super::validate::{validate_with, ValidateOptions};
use crate::providers::runpod::pricing::PriceTable;
use crate::sim::SimProfile;

/// Cells run at once when `max_parallel_pods` is not set.
pub const DEFAULT_MAX_PARALLEL: usize = 4;

/// One matrix dimension. The order here is the order of the parts of a cell's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Axis {
    GpuType,
    GpuCount,
    CloudType,
    Simulation,
    LocalGpus,
    Framework,
    ModelName,
    Quantization,
}

impl Axis {
    const ALL: [Axis; 8] = [
        Axis::GpuType,
        Axis::GpuCount,
        Axis::CloudType,
        Axis::Simulation,
        Axis::LocalGpus,
        Axis::Framework,
        Axis::ModelName,
        Axis::Quantization,
    ];

    /// The name used in `matrix:` (the field path also works, e.g. `infrastructure.gpu_type`).
    pub fn name(self) -> &'static str {
        match self {
            Axis::GpuType => "gpu_type",
            Axis::GpuCount => "gpu_count",
            Axis::CloudType => "cloud_type",
            Axis::Framework => "framework",
            Axis::ModelName => "model.name",
            Axis::Quantization => "model.quantization",
            Axis::Simulation => "simulation",
            Axis::LocalGpus => "local.gpus",
        }
    }

    /// The experiment field the axis sets (where a cell's validation reports it).
    fn field(self) -> &'static str {
        match self {
            Axis::GpuType => "infrastructure.gpu_type",
            Axis::GpuCount => "infrastructure.gpu_count",
            Axis::CloudType => "infrastructure.cloud_type",
            Axis::Framework => "framework",
            Axis::ModelName => "model.name",
            Axis::Quantization => "model.quantization",
            Axis::Simulation => "infrastructure.simulation",
            Axis::LocalGpus => "infrastructure.local",
        }
    }

    fn parse(key: &str) -> Option<Axis> {
        Some(match key {
            "gpu_type" | "infrastructure.gpu_type" => Axis::GpuType,
            "gpu_count" | "infrastructure.gpu_count" => Axis::GpuCount,
            "cloud_type" | "infrastructure.cloud_type" => Axis::CloudType,
            "framework" => Axis::Framework,
            "model" | "model.name" => Axis::ModelName,
            "quantization" | "model.quantization" => Axis::Quantization,
            "simulation" | "infrastructure.simulation" => Axis::Simulation,
            "local.gpus" | "infrastructure.local.gpus" => Axis::LocalGpus,
            _ => return None,
        })
    }
}

/// One value of an axis: its label in cell names and the YAML value itself.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisValue {
    pub label: String,
    value: Value,
}

/// One cell: its name (`A100-80GB-vllm`), the axis values that make it, its experiment.
#[derive(Debug, Clone)]
pub struct MatrixCell {
    pub name: String,
    /// (axis name, value label), in axis order.
    pub values: Vec<(String, String)>,
    pub experiment: Experiment,
}

/// A validated matrix: every cell, and how many may run at once.
#[derive(Debug, Clone)]
pub struct MatrixConfig {
    /// The experiment's `name`.
    pub name: String,
    pub max_parallel: usize,
    pub axes: Vec<Axis>,
    pub cells: Vec<MatrixCell>,
}

/// Whether the file at `path` has a `matrix:` (any read or parse problem: `false`, and the
/// ordinary loader reports it).
pub fn has_matrix(path: &Path) -> bool {
    super::loader::load_raw(path).is_ok_and(|(raw, _)| raw.matrix.is_some())
}

/// Load a matrix experiment: keys, axes and every cell checked; all problems at once.
pub fn load_matrix(
    path: &Path,
    prices: &PriceTable,
    opts: ValidateOptions,
) -> Result<MatrixConfig, ConfigError> {
    let (raw, mut issues) = super::loader::load_raw(path)?;
    let matrix = match expand(&raw, prices, opts) {
        Ok(m) => Some(m),
        Err(more) => {
            issues.extend(more);
            None
        }
    };
    match matrix {
        Some(m) if issues.is_empty() => Ok(m),
        _ => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            issues,
        }),
    }
}

/// Check the axes of `raw`, then build and validate every cell.
pub fn expand(
    raw: &RawExperiment,
    prices: &PriceTable,
    opts: ValidateOptions,
) -> Result<MatrixConfig, Vec<Issue>> {
    let mut issues = Vec::new();
    let provider = raw
        .infrastructure
        .as_ref()
        .and_then(|i| i.provider.as_deref())
        .unwrap_or("runpod")
        .trim()
        .to_ascii_lowercase();
    let axes = match &raw.matrix {
        Some(m) => check_axes(m, &provider, prices, &mut issues),
        None => Vec::new(),
    };
    if raw.matrix.as_ref().is_some_and(Mapping::is_empty) {
        issues.push(Issue::new("matrix", "needs at least one axis"));
    }
    let max_parallel = max_parallel(raw.max_parallel_pods, &mut issues);
    let cells = build_cells(raw, &axes, prices, opts, &mut issues);
    if !issues.is_empty() {
        return Err(issues);
    }
    let count = cells.len();
    Ok(MatrixConfig {
        name: raw.name.clone().unwrap_or_default().trim().to_string(),
        max_parallel: max_parallel.unwrap_or(count.clamp(1, DEFAULT_MAX_PARALLEL)),
        axes: axes.iter().map(|(a, _)| *a).collect(),
        cells,
    })
}

fn max_parallel(value: Option<i64>, issues: &mut Vec<Issue>) -> Option<usize> {
    match value {
        Some(n) if n < 1 => {
            issues.push(Issue::new(
                "max_parallel_pods",
                format!("must be at least 1 (found {n})"),
            ));
            None
        }
        n => n.map(|n| n as usize),
    }
}

/// Every combination validated as an experiment of its own; its problems go to `issues`.
fn build_cells(
    raw: &RawExperiment,
    axes: &[(Axis, Vec<AxisValue>)],
    prices: &PriceTable,
    opts: ValidateOptions,
    issues: &mut Vec<Issue>,
) -> Vec<MatrixCell> {
    // An axis already reported wrong is not reported again by each cell.
    let bad_axes: Vec<Axis> = axes
        .iter()
        .filter(|(axis, _)| issues.iter().any(|i| i.path.starts_with(&path_of(*axis))))
        .map(|(axis, _)| *axis)
        .collect();
    let mut cells = Vec::new();
    for combo in combinations(axes) {
        let name = cell_name(&combo, &cells);
        match validate_with(apply(raw, &combo), prices, opts) {
            Ok(experiment) => cells.push(MatrixCell {
                values: combo
                    .iter()
                    .map(|(a, v)| (a.name().to_string(), v.label.clone()))
                    .collect(),
                name,
                experiment,
            }),
            Err(cell_issues) => {
                for issue in cell_issues {
                    let issue = locate(issue, &combo, &name, &bad_axes);
                    if let Some(issue) = issue.filter(|i| !issues.contains(i)) {
                        issues.push(issue);
                    }
                }
            }
        }
    }
    cells
}

fn path_of(axis: Axis) -> String {
    format!("matrix.{}", axis.name())
}

/// A cell's issue about a field its axes set is reported at the axis (once per axis when the
/// axis itself was already found wrong); other issues are the same in every cell.
fn locate(issue: Issue, combo: &[(Axis, &AxisValue)], cell: &str, bad: &[Axis]) -> Option<Issue> {
    let Some((axis, _)) = combo.iter().find(|(a, _)| {
        issue.path == a.field() || issue.path.starts_with(&format!("{}.", a.field()))
    }) else {
        return Some(issue);
    };
    if bad.contains(axis) {
        return None;
    }
    Some(Issue::new(
        path_of(*axis),
        format!("{} (cell {cell})", issue.message),
    ))
}

/// The axes in canonical order, each with its values; problems go to `issues`.
fn check_axes(
    matrix: &Mapping,
    provider: &str,
    prices: &PriceTable,
    issues: &mut Vec<Issue>,
) -> Vec<(Axis, Vec<AxisValue>)> {
    let mut axes: Vec<(Axis, Vec<AxisValue>)> = Vec::new();
    for (key, values) in matrix {
        let key = key.as_str().unwrap_or_default();
        let Some(axis) = Axis::parse(key) else {
            let names: Vec<&str> = Axis::ALL.iter().map(|a| a.name()).collect();
            let hint = did_you_mean(key, &names)
                .map(|s| format!(" Did you mean '{s}'?"))
                .unwrap_or_default();
            issues.push(Issue::new(
                format!("matrix.{key}"),
                format!("not a matrix axis; allowed: {}.{hint}", names.join(", ")),
            ));
            continue;
        };
        let path = path_of(axis);
        if axes.iter().any(|(a, _)| *a == axis) {
            issues.push(Issue::new(path, "given twice (under two names)"));
            continue;
        }
        let list = match values {
            Value::Sequence(list) if !list.is_empty() => list,
            Value::Sequence(_) => {
                issues.push(Issue::new(path, "is empty; list at least one value"));
                continue;
            }
            _ => {
                issues.push(Issue::new(path, "must be a list of values"));
                continue;
            }
        };
        if let Some(needed) = axis_provider(axis).filter(|p| *p != provider) {
            issues.push(Issue::new(
                &path,
                format!("only for provider '{needed}' (this experiment uses '{provider}')"),
            ));
        }
        let mut out = Vec::new();
        for (i, v) in list.iter().enumerate() {
            match axis_value(axis, v, i, provider, prices) {
                Ok(value) => out.push(value),
                Err(message) => issues.push(Issue::new(format!("{path}[{i}]"), message)),
            }
        }
        axes.push((axis, out));
    }
    axes.sort_by_key(|(a, _)| *a);
    axes
}

fn axis_provider(axis: Axis) -> Option<&'static str> {
    match axis {
        Axis::Simulation => Some("simulated"),
        Axis::LocalGpus => Some("local"),
        _ => None,
    }
}

/// One value checked for its axis, with its label.
fn axis_value(
    axis: Axis,
    v: &Value,
    index: usize,
    provider: &str,
    prices: &PriceTable,
) -> Result<AxisValue, String> {
    let value = v.clone();
    let label = match (axis, v) {
        (Axis::GpuType, Value::String(s)) => {
            if provider == "runpod" && prices.lookup(s).is_none() {
                let known = prices.known_names();
                let hint = did_you_mean(s, &known)
                    .map(|k| format!(" Did you mean '{k}'?"))
                    .unwrap_or_default();
                return Err(format!(
                    "unknown GPU type '{s}'; known types: {}.{hint}",
                    known.join(", ")
                ));
            }
            s.clone()
        }
        (Axis::GpuCount, Value::Number(n)) => match n.as_u64().filter(|n| *n >= 1) {
            Some(n) => format!("{n}gpu"),
            None => return Err(format!("must be a whole number ≥ 1 (found {n})")),
        },
        (Axis::CloudType | Axis::Framework, Value::String(s)) => s.clone(),
        (Axis::ModelName, Value::String(s)) => s.rsplit('/').next().unwrap_or(s).to_string(),
        (Axis::Quantization, Value::String(s)) => s.clone(),
        (Axis::Quantization, Value::Null) => "noquant".into(),
        (Axis::Simulation, Value::Mapping(m)) => return sim_value(m, index),
        (Axis::LocalGpus, v) => return gpu_set(v),
        (_, other) => return Err(format!("expected {}, found {other:?}", expected(axis))),
    };
    Ok(AxisValue { label, value })
}

fn expected(axis: Axis) -> &'static str {
    match axis {
        Axis::GpuCount => "a whole number",
        Axis::Quantization => "a string or null",
        Axis::Simulation => "a simulation profile (a mapping)",
        _ => "a string",
    }
}

/// A simulator profile: its optional `name` labels the cell (`sim1`, `sim2`, … otherwise).
fn sim_value(m: &Mapping, index: usize) -> Result<AxisValue, String> {
    let mut fields = m.clone();
    let label = match fields.remove("name") {
        Some(Value::String(s)) => s,
        Some(other) => return Err(format!("`name` must be a string, found {other:?}")),
        None => format!("sim{}", index + 1),
    };
    // Checked on its own (unknown knobs, wrong types); merged over the base profile later.
    serde_yaml::from_value::<SimProfile>(Value::Mapping(fields.clone()))
        .map_err(|e| format!("invalid simulation profile: {e}"))?;
    Ok(AxisValue {
        label,
        value: Value::Mapping(fields),
    })
}

/// `[0, 1]` (or a single `0`): the GPUs of one cell, as `CUDA_VISIBLE_DEVICES`.
fn gpu_set(v: &Value) -> Result<AxisValue, String> {
    let ids: Vec<u64> = match v {
        Value::Number(n) => n.as_u64().into_iter().collect(),
        Value::Sequence(s) => s.iter().filter_map(Value::as_u64).collect(),
        _ => Vec::new(),
    };
    let count = match v {
        Value::Sequence(s) => s.len(),
        _ => 1,
    };
    if ids.is_empty() || ids.len() != count {
        return Err("expected a list of GPU indices, e.g. [0, 1]".into());
    }
    let list: Vec<String> = ids.iter().map(u64::to_string).collect();
    Ok(AxisValue {
        label: format!("gpu{}", list.join("+")),
        value: Value::String(list.join(",")),
    })
}

/// Every combination of one value per axis, the first axis varying slowest.
fn combinations(axes: &[(Axis, Vec<AxisValue>)]) -> Vec<Vec<(Axis, &AxisValue)>> {
    let mut out: Vec<Vec<(Axis, &AxisValue)>> = vec![Vec::new()];
    for (axis, values) in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((*axis, v));
                    next
                })
            })
            .collect();
    }
    out
}

/// `A100-80GB-vllm`; a name already taken gets `-2`, `-3`, ….
fn cell_name(combo: &[(Axis, &AxisValue)], cells: &[MatrixCell]) -> String {
    let base: Vec<&str> = combo.iter().map(|(_, v)| v.label.as_str()).collect();
    let base = if base.is_empty() {
        "cell".to_string()
    } else {
        base.join("-")
    };
    let mut name = base.clone();
    let mut n = 1;
    while cells.iter().any(|c| c.name == name) {
        n += 1;
        name = format!("{base}-{n}");
    }
    name
}

/// The raw config of one cell: the base with the cell's values set and no matrix keys.
fn apply(base: &RawExperiment, combo: &[(Axis, &AxisValue)]) -> RawExperiment {
    let mut raw = base.clone();
    raw.matrix = None;
    raw.max_parallel_pods = None;
    for (axis, v) in combo {
        let text = v.value.as_str().map(str::to_string);
        let infra = || -> RawInfrastructure { RawInfrastructure::default() };
        match axis {
            Axis::GpuType => raw.infrastructure.get_or_insert_with(infra).gpu_type = text,
            Axis::GpuCount => {
                raw.infrastructure.get_or_insert_with(infra).gpu_count = v.value.as_i64()
            }
            Axis::CloudType => raw.infrastructure.get_or_insert_with(infra).cloud_type = text,
            Axis::Framework => raw.framework = text,
            Axis::ModelName => raw.model.get_or_insert_with(RawModel::default).name = text,
            Axis::Quantization => {
                raw.model.get_or_insert_with(RawModel::default).quantization = text
            }
            Axis::Simulation => {
                let i = raw.infrastructure.get_or_insert_with(infra);
                i.simulation = Some(merged_profile(i.simulation.as_ref(), &v.value));
            }
            Axis::LocalGpus => {
                let local = raw
                    .infrastructure
                    .get_or_insert_with(infra)
                    .local
                    .get_or_insert_with(RawLocal::default);
                local
                    .env
                    .get_or_insert_with(Default::default)
                    .insert("CUDA_VISIBLE_DEVICES".into(), text.unwrap_or_default());
            }
        }
    }
    raw
}

/// The cell's knobs over the base profile (each checked on its own already).
fn merged_profile(base: Option<&SimProfile>, cell: &Value) -> SimProfile {
    let base = base.cloned().unwrap_or_default();
    let mut merged = match serde_yaml::to_value(&base) {
        Ok(Value::Mapping(m)) => m,
        _ => Mapping::new(),
    };
    if let Value::Mapping(m) = cell {
        for (k, v) in m {
            merged.insert(k.clone(), v.clone());
        }
    }
    serde_yaml::from_value(Value::Mapping(merged)).unwrap_or(base)
}

#[cfg(test)]
#[path = "matrix_tests.rs"]
mod tests;
