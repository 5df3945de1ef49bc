//! Output problems (a folder that is a file or not writable, a run name too long for a file
//! name) fail at validation: in `--dry-run` and before anything is provisioned.

mod support;

use predicates::prelude::*;
use support::sim::SimYaml;
use support::Sandbox;

fn sandbox() -> (Sandbox, std::path::PathBuf) {
    let sb = Sandbox::new();
    let cfg = SimYaml::new("out-test").write(&sb, "exp.yaml");
    (sb, cfg)
}

#[test]
fn output_dir_that_is_a_file_fails_in_dry_run_and_before_provisioning() {
    let (sb, cfg) = sandbox();
    sb.write("results", "not a folder");
    sb.cmd()
        .args(["run", "--dry-run"])
        .arg(&cfg)
        .assert()
        .failure()
        .stderr(predicate::str::contains("metrics.output_dir"))
        .stderr(predicate::str::contains("is a file, not a folder"))
        .stdout(predicate::str::contains("Dry run").not());
    let out = sb.path().join("elsewhere");
    std::fs::write(&out, "x").unwrap();
    sb.cmd()
        .arg("run")
        .arg(&cfg)
        .arg("--output-dir")
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicate::str::contains("--output-dir"))
        .stderr(predicate::str::contains("is a file"))
        .stderr(predicate::str::contains("Provisioning").not());
}

#[cfg(target_os = "linux")]
#[test]
fn unwritable_output_dir_fails_before_provisioning() {
    // /proc takes no new files, even from root (permission bits would not stop root).
    let (sb, cfg) = sandbox();
    sb.cmd()
        .arg("run")
        .arg(&cfg)
        .args(["--output-dir", "/proc/llm-inf-bench-results"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not writable"))
        .stderr(predicate::str::contains("Provisioning").not());
}

#[test]
fn run_name_too_long_for_a_file_name_fails_in_dry_run() {
    let (sb, cfg) = sandbox();
    let name = "x".repeat(240);
    sb.cmd()
        .args(["run", "--dry-run", "--name", &name])
        .arg(&cfg)
        .assert()
        .failure()
        .stderr(predicate::str::contains("--name"))
        .stderr(predicate::str::contains("the limit is 255"));
    // The same name in the config is reported under `name`.
    let cfg = SimYaml::new(&name).write(&sb, "long.yaml");
    sb.cmd()
        .args(["run", "--dry-run"])
        .arg(&cfg)
        .assert()
        .failure()
        .stderr(predicate::str::contains("name: too long"));
    assert!(!sb.results().exists());
}
