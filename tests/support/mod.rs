//! The one helpers root of the integration tests (`mod support;` in a test file). Each test
//! binary compiles all of it and uses a part, hence `dead_code` allowed here.
//!
//! - `sandbox`: a scratch folder + the binary (`Sandbox`, `PROMPTS`, `f64_at`)
//! - `process`: the binary as a child process whose output lines arrive on a channel
//! - `sim`: simulator experiment YAML (`SimYaml`)
//! - `experiments`: hand-built validated `Experiment`s for in-process tests
//! - `fixtures`: the captures in `tests/fixtures`
//! - `stream_server`, `raw_server`: scripted streaming servers for the runner
//! - `runpod` (+ `runpod/schema.rs`): the fake RunPod REST API; `runpod_bin`: the binary
//!   against it
//! - `dashboard` (+ `dashboard/webdriver.rs`): an in-process dashboard, a WebSocket and a
//!   WebDriver client
//! - `table`: the cells of the tables the binary prints
//! - `real_server`, `sglang_server`: real inference servers started by hand (real suites)
#![allow(dead_code)]

pub mod dashboard;
pub mod experiments;
pub mod fixtures;
#[cfg(unix)]
pub mod process;
pub mod raw_server;
#[cfg(target_os = "linux")]
pub mod real_server;
pub mod runpod;
#[cfg(unix)]
pub mod runpod_bin;
pub mod sandbox;
#[cfg(target_os = "linux")]
pub mod sglang_server;
pub mod sim;
pub mod stream_server;
pub mod table;

pub use sandbox::{closed_port_url, f64_at, Sandbox, PROMPTS};
