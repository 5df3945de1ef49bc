use super::super::test_support::{Fixture, VALID};
use super::*;
use crate::config::{Framework, ProviderKind};

fn load(extra: &str) -> Result<MatrixConfig, ConfigError> {
    let fx = Fixture::new();
    let path = fx.write("m.yaml", &format!("{VALID}{extra}"));
    load_matrix(&path, &PriceTable::builtin(), ValidateOptions::default())
}

fn issues(extra: &str) -> Vec<String> {
    match load(extra) {
        Ok(_) => panic!("expected errors for {extra}"),
        Err(e) => e.issues().iter().map(|i| i.to_string()).collect(),
    }
}

#[test]
fn cartesian_product_names_cells_in_axis_order() {
    let m = load(
        "matrix:\n  framework: [vllm, sglang]\n  gpu_type: [A100-80GB, H100-80GB]\nmax_parallel_pods: 3\n",
    )
    .unwrap();
    let names: Vec<&str> = m.cells.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "A100-80GB-vllm",
            "A100-80GB-sglang",
            "H100-80GB-vllm",
            "H100-80GB-sglang"
        ]
    );
    assert_eq!(m.max_parallel, 3);
    let last = &m.cells[3].experiment;
    assert_eq!(last.framework, Framework::Sglang);
    assert_eq!(last.infrastructure.gpu_type.as_deref(), Some("H100-80GB"));
    // The cell's resolved config has no matrix keys: it is an ordinary experiment.
    assert!(last.resolved.matrix.is_none());
    assert!(last.resolved.max_parallel_pods.is_none());
}

#[test]
fn default_parallelism_is_capped() {
    let m = load("matrix:\n  gpu_count: [1, 2, 4, 8, 16]\n").unwrap();
    assert_eq!(m.cells.len(), 5);
    assert_eq!(m.max_parallel, DEFAULT_MAX_PARALLEL);
    assert_eq!(m.cells[1].name, "2gpu");
    assert_eq!(m.cells[1].experiment.infrastructure.gpu_count, 2);
}

#[test]
fn every_bad_input_is_reported_at_once() {
    let found = issues(
        "matrix:\n  gpu_typ: [A100-80GB]\n  framework: []\n  gpu_type: [A100-80GB, B999]\nmax_parallel_pods: 0\n",
    );
    let text = found.join("\n");
    assert!(text.contains("matrix.gpu_typ: not a matrix axis"), "{text}");
    assert!(text.contains("Did you mean 'gpu_type'?"), "{text}");
    assert!(text.contains("matrix.framework: is empty"), "{text}");
    assert!(
        text.contains("matrix.gpu_type[1]: unknown GPU type 'B999'"),
        "{text}"
    );
    assert!(
        text.contains("max_parallel_pods: must be at least 1"),
        "{text}"
    );
    // The unknown GPU is reported once, at the axis, not again per cell.
    assert_eq!(text.matches("B999").count(), 1, "{text}");
}

#[test]
fn a_cell_problem_names_the_axis_and_the_cell() {
    let text = issues("matrix:\n  framework: [vllm, tgi]\n").join("\n");
    assert!(text.contains("matrix.framework:"), "{text}");
    assert!(text.contains("(cell tgi)"), "{text}");
}

#[test]
fn provider_specific_axes_need_their_provider() {
    let text = issues("matrix:\n  simulation: [{decode_step_ms: 5}]\n").join("\n");
    assert!(
        text.contains("matrix.simulation: only for provider 'simulated'"),
        "{text}"
    );
}

#[test]
fn simulation_profiles_merge_over_the_base_and_name_cells() {
    let fx = Fixture::new();
    let yaml = VALID.replace(
        "infrastructure:\n  gpu_type: A100-80GB\n",
        "infrastructure:\n  provider: simulated\n  simulation: {base_ttft_ms: 7}\n",
    );
    let path = fx.write(
        "m.yaml",
        &format!(
            "{yaml}matrix:\n  simulation:\n    - {{name: fast, decode_step_ms: 2}}\n    - {{decode_step_ms: 9}}\n"
        ),
    );
    let m = load_matrix(&path, &PriceTable::builtin(), ValidateOptions::default()).unwrap();
    assert_eq!(m.cells[0].name, "fast");
    assert_eq!(m.cells[1].name, "sim2");
    let sim = &m.cells[1].experiment.infrastructure.simulation;
    assert_eq!(sim.decode_step_ms, 9.0);
    assert_eq!(sim.base_ttft_ms, 7.0);
    assert_eq!(
        m.cells[0].experiment.infrastructure.provider,
        ProviderKind::Simulated
    );
    let bad = fx.write(
        "bad.yaml",
        &format!("{yaml}matrix:\n  simulation: [{{decode_stp_ms: 2}}]\n"),
    );
    let e = load_matrix(&bad, &PriceTable::builtin(), ValidateOptions::default()).unwrap_err();
    assert!(e.to_string().contains("matrix.simulation[0]"), "{e}");
}

#[test]
fn local_gpu_sets_become_cuda_visible_devices() {
    let fx = Fixture::new();
    let yaml = VALID.replace(
        "infrastructure:\n  gpu_type: A100-80GB\n",
        "infrastructure:\n  provider: local\n",
    );
    let path = fx.write(
        "m.yaml",
        &format!("{yaml}matrix:\n  infrastructure.local.gpus: [[0], [1, 2]]\n"),
    );
    let m = load_matrix(&path, &PriceTable::builtin(), ValidateOptions::default()).unwrap();
    assert_eq!(m.cells[1].name, "gpu1+2");
    let env = &m.cells[1].experiment.infrastructure.local.env;
    assert!(env.contains(&("CUDA_VISIBLE_DEVICES".to_string(), "1,2".to_string())));
    let bad = fx.write("bad.yaml", &format!("{yaml}matrix:\n  local.gpus: [[a]]\n"));
    let e = load_matrix(&bad, &PriceTable::builtin(), ValidateOptions::default()).unwrap_err();
    assert!(e.to_string().contains("matrix.local.gpus[0]"), "{e}");
}

#[test]
fn has_matrix_tells_matrix_files_apart() {
    let fx = Fixture::new();
    let plain = fx.write("p.yaml", VALID);
    let m = fx.write("m.yaml", &format!("{VALID}matrix: {{framework: [vllm]}}\n"));
    assert!(!has_matrix(&plain));
    assert!(has_matrix(&m));
    assert!(!has_matrix(&fx.dir.path().join("missing.yaml")));
}

#[test]
fn model_axes_and_aliases() {
    let m =
        load("matrix:\n  model.name: [org/a-7b, org/b-8b]\n  quantization: [awq, null]\n").unwrap();
    let names: Vec<&str> = m.cells.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["a-7b-awq", "a-7b-noquant", "b-8b-awq", "b-8b-noquant"]
    );
    assert_eq!(m.cells[2].experiment.model.name, "org/b-8b");
    assert_eq!(
        m.cells[2].experiment.model.quantization.as_deref(),
        Some("awq")
    );
    assert_eq!(m.cells[3].experiment.model.quantization, None);
    let text =
        issues("matrix:\n  gpu_type: [A100-80GB]\n  infrastructure.gpu_type: [L40S]\n").join("\n");
    assert!(text.contains("matrix.gpu_type: given twice"), "{text}");
}
