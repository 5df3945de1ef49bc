//! llm-inf-bench: benchmark LLM inference servers (vLLM, SGLang) end to end.
//!
//! Four phases (`orchestrator`): provision a server (`providers`), wait until it is healthy
//! (`runners`), run a workload of streaming chat completions timing every token (`workloads`)
//! while scraping the server's Prometheus metrics (`metrics`), then aggregate, write one JSON
//! result per run and tear the server down. `output` renders events and reports; `cli` parses
//! and dispatches.

pub mod app_config;
pub mod bench;
pub mod cli;
pub mod config;
pub mod events;
pub mod metrics;
pub mod orchestrator;
pub mod output;
pub mod providers;
pub mod runners;
pub mod sim;
pub mod sys;
pub mod tokens;
pub mod workloads;
