//! Every fuzzing seed (`fuzz/seeds/<target>/`, including the regression inputs the fuzzers
//! found) replayed through the same entry points the fuzz targets call, as ordinary tests:
//! none may panic, and the real captures among them must parse as expected.

use std::path::{Path, PathBuf};

use llm_inf_bench::metrics::request::ErrorKind;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path: PathBuf = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

#[test]
fn sse_stream_seeds() {
    for (name, data) in seeds("sse_stream") {
        let Some((&piece, body)) = data.split_first() else {
            continue;
        };
        let summary = llm_inf_bench::runners::fuzzing::read_sse(body, usize::from(piece));
        // The real captures are complete streams with text.
        if name.starts_with("vllm-") || name.starts_with("sglang-") || name.starts_with("llamacpp-")
        {
            assert_eq!(summary.error, None, "{name}");
            assert!(summary.text_chunks > 0, "{name}");
        }
        if let Some(kind) = summary.error {
            assert_ne!(kind, ErrorKind::Cancelled, "{name}");
        }
    }
}

#[test]
fn prometheus_seeds() {
    for (name, data) in seeds("prometheus") {
        let samples = llm_inf_bench::metrics::fuzzing::prometheus(&data);
        if name.ends_with("-metrics.txt") || name.ends_with("-after-load.txt") {
            assert!(samples >= 5, "{name}: {samples} samples");
        }
    }
}

#[test]
fn config_load_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let file = llm_inf_bench::config::fuzzing::prepare_workspace(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        dir.path(),
    )
    .unwrap();
    for (name, data) in seeds("config_load") {
        let loaded = llm_inf_bench::config::fuzzing::load_bytes(&file, &data);
        if name.starts_with("examples-") {
            let n = loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(n >= 1);
        }
    }
}
