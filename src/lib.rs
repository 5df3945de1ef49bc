//! llm-inf-bench: benchmark LLM inference servers (vLLM, SGLang) end to end.
//!
//! The run engine (`run`) drives four phases: provision a server (`providers`), wait until it
//! is healthy (`runners`), run a workload of streaming chat completions timing every token
//! (`workloads`) while scraping the server's Prometheus metrics (`runners::scrape`), then
//! aggregate (`metrics`), write one JSON result per run (`results`) and tear the server down.
//! The engine emits typed `events`; `output` renders them and reports; `cli` parses and
//! dispatches.

pub mod app_config;
pub mod bench;
pub mod capacity;
pub mod cli;
pub mod config;
pub mod events;
pub mod input_file;
pub mod matrix;
pub mod metrics;
pub mod output;
pub mod providers;
pub mod redact;
pub mod results;
pub mod run;
pub mod runners;
pub mod sim;
pub mod sys;
pub mod text;
pub mod tokens;
pub mod workloads;
