//! The built-in simulated inference server (SPEC §11): speaks vLLM's or SGLang's wire format
//! and models a continuous-batching engine, deterministic for a seed.
//!
//! - `server`: [`SimServer`] (start, address, shutdown).
//! - `http`, `generate`, `wire`, `request`: endpoints, SSE streams and JSON bodies.
//! - `engine`: the step loop (admission, KV blocks, prefix cache, preemption).
//! - `plan`, `tokenizer`: per-request randomness (texts, lengths, faults) and token counting.
//! - `stats`, `exposition`: counters and the `/metrics` text.

mod auth;
mod capacity;
mod completions;
mod engine;
mod exposition;
mod generate;
mod hf;
mod http;
mod plan;
mod profile;
mod request;
mod server;
mod stats;
mod tokenizer;
mod wire;

pub use engine::EngineEvent;
pub use profile::{SimProfile, SimProfileError};
pub use server::SimServer;
pub use tokenizer::{count_tokens, GENERATION_PROMPT, MESSAGE_OVERHEAD};

/// `served_model` value that accepts any model name.
pub const ANY_MODEL: &str = "*";

/// The model name `simulate` serves, and what `/v1/models` lists when any name is accepted.
pub const DEFAULT_MODEL: &str = "sim-model";
