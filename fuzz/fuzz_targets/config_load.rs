//! Experiment config loading: any bytes as a YAML file give a config or a ConfigError, and a
//! loaded config expands, hashes and renders its plan.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One workspace (prompts and base configs beside the file) for the whole fuzzing session.
fn config_path() -> &'static PathBuf {
    static PATH: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &PATH
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temp dir");
            let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let path = llm_inf_bench::config::fuzzing::prepare_workspace(&repo, dir.path())
                .expect("copy prompts and base configs");
            (dir, path)
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let _ = llm_inf_bench::config::fuzzing::load_bytes(config_path(), data);
});
