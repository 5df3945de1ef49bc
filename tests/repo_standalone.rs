//! The repository stands alone (nothing reads a sibling folder or a fixed outside path) and the
//! CI scripts cannot pass without the real engine having run (`CI=true`).
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every text file under `dir`, skipping captured data (`tests/fixtures`) and build output.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == "fixtures" || name == "corpus" || name == "seeds" {
            continue;
        }
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn nothing_refers_to_files_outside_the_repository() {
    // Spelled in pieces so this file does not match itself.
    let outside = [
        format!("../{}", "shared"),
        format!("/work/{}", "shared"),
        format!("/{}/fixtures", "shared"),
        format!("/{}/real-vllm", "shared"),
    ];
    let mut files = vec![repo().join("README.md"), repo().join("CLAUDE.md")];
    for dir in [
        "src", "tests", ".ci", "benches", "poc", "scripts", "docs", "fuzz",
    ] {
        files_under(&repo().join(dir), &mut files);
    }
    let mut hits = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if outside.iter().any(|p| line.contains(p.as_str())) {
                hits.push(format!("{}:{}: {line}", file.display(), n + 1));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "reads outside the repo:\n{}",
        hits.join("\n")
    );
}

#[test]
fn what_tests_and_docs_read_is_in_the_repository() {
    for path in [
        "tests/fixtures/python-results/ref-concurrent-20261127-170838.json",
        "tests/fixtures/protocols/vllm-0.32-cpu-chat-stream.txt",
        "tests/fixtures/runpod/openapi-v2.json",
        "scripts/real-vllm/setup.sh",
        "scripts/real-vllm/constraints.txt",
        "scripts/real-vllm/make_tiny_model.py",
        "docs/reference/SPEC.md",
    ] {
        assert!(repo().join(path).is_file(), "{path} missing from the repo");
    }
}

/// `.ci/real-vllm.sh` with a setup folder whose `setup.sh` prints a network error and fails.
fn real_vllm_with_failing_install(ci: Option<&str>, skip: bool) -> Output {
    let tmp = tempfile::tempdir().expect("tempdir");
    let setup = tmp.path().join("setup");
    std::fs::create_dir_all(&setup).expect("mkdir");
    std::fs::write(
        setup.join("setup.sh"),
        "echo 'pip: NewConnectionError: Failed to establish a new connection' >&2\nexit 1\n",
    )
    .expect("write setup.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join(".ci/real-vllm.sh"))
        .env("REAL_VLLM_SETUP_DIR", &setup)
        .env("LLM_INF_BENCH_CACHE", tmp.path().join("cache"))
        .env_remove("LLM_INF_BENCH_SKIP_REAL_VLLM")
        .env_remove("CI");
    if let Some(ci) = ci {
        cmd.env("CI", ci);
    }
    if skip {
        cmd.env("LLM_INF_BENCH_SKIP_REAL_VLLM", "1");
    }
    cmd.output().expect("run bash")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn under_ci_a_failed_install_fails_even_when_it_looks_like_the_network() {
    let out = real_vllm_with_failing_install(Some("true"), false);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("FAILED") && !all.contains("SKIPPED"), "{all}");
}

#[test]
fn under_ci_the_skip_variable_is_refused() {
    let out = real_vllm_with_failing_install(Some("true"), true);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("may not be skipped"), "{all}");
}

#[test]
fn outside_ci_a_failed_install_skips_and_says_why() {
    let out = real_vllm_with_failing_install(None, false);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("SKIPPED: installing vLLM") && all.contains("did NOT run"),
        "{all}"
    );
}

/// `ci_count_tests` from `.ci/lib.sh` on the given cargo test output.
fn count_tests(cargo_output: &str) -> String {
    let script = format!(
        ". '{}'; printf '%s' \"$1\" | ci_count_tests",
        repo().join(".ci/lib.sh").display()
    );
    let out = Command::new("bash")
        .args(["-c", &script, "count", cargo_output])
        .output()
        .expect("run bash");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn tests_counted_are_the_ones_that_ran_not_the_ignored() {
    let ran = "running 5 tests\ntest a ... ok\n\ntest result: FAILED. 4 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 300.01s\n";
    assert_eq!(count_tests(ran), "5");
    let none = "running 5 tests\ntest result: ok. 0 passed; 0 failed; 5 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
    assert_eq!(count_tests(none), "0");
    assert_eq!(count_tests("error: could not compile\n"), "0");
}
