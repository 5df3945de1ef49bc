//! The built-in simulated inference server (SPEC §11): speaks vLLM's or SGLang's wire format
//! and models a continuous-batching engine, deterministic for a seed.

mod profile;

pub use profile::SimProfile;
