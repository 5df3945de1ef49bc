//! Loading the shipped example configs and reporting several mistakes at once.

use std::path::{Path, PathBuf};

use llm_inf_bench::config::{self, sweep, ProviderKind, WorkloadKind};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("experiments/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_config_loads() {
    let files = examples();
    assert!(
        files.len() >= 9,
        "expected the example configs, found {files:?}"
    );
    for file in files {
        let exp = config::load(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // Synthetic prompts and trace replay generate their requests: no prompt file.
        if !exp.workload.source.as_os_str().is_empty() {
            assert!(exp.workload.source.is_absolute());
            assert!(
                exp.workload.source.exists(),
                "{}",
                exp.workload.source.display()
            );
        }
        let its = sweep::iterations(&exp);
        assert!(!its.is_empty());
    }
}

#[test]
fn inherited_prompt_source_resolves_against_the_base_folder() {
    let exp = config::load(&repo("experiments/examples/baseline-vllm.yaml")).unwrap();
    assert_eq!(exp.workload.source, repo("prompts/baseline.jsonl"));
    assert_eq!(exp.infrastructure.provider, ProviderKind::Runpod);
    assert_eq!(exp.infrastructure.gpu_type.as_deref(), Some("A100-80GB"));
    assert_eq!(exp.model.name, "meta-llama/Meta-Llama-3-8B-Instruct");
}

#[test]
fn simulated_sweep_expands_to_four_concurrent_runs() {
    let exp = config::load(&repo(
        "experiments/examples/simulated-concurrency-sweep.yaml",
    ))
    .unwrap();
    assert_eq!(exp.infrastructure.provider, ProviderKind::Simulated);
    assert_eq!(exp.infrastructure.simulation.max_num_seqs, 8);
    let its = sweep::iterations(&exp);
    let names: Vec<&str> = its.iter().map(|i| i.experiment.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "simulated-sweep-c1",
            "simulated-sweep-c4",
            "simulated-sweep-c16",
            "simulated-sweep-c32"
        ]
    );
    assert_eq!(
        its[2].experiment.workload.kind,
        WorkloadKind::Concurrent { concurrency: 16 }
    );
}

#[test]
fn three_independent_mistakes_are_all_reported() {
    let file = repo("tests/fixtures/config/three-mistakes.yaml");
    let err = config::load(&file).unwrap_err();
    let paths: Vec<&str> = err.issues().iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "infrastructure.gpu_count",
            "workload.concurrency",
            "workload.requests.source"
        ],
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("three-mistakes.yaml"), "{text}");
    assert!(
        text.contains("\n  workload.concurrency: required when workload.type is 'concurrent'"),
        "{text}"
    );
    assert!(text.contains("does-not-exist.jsonl"), "{text}");
}
