//! Experiment configuration: raw YAML (`raw`), loading with `extends` (`loader`), validation
//! into typed values (`validate`, `types`) and sweep expansion (`sweep`).

pub mod raw;
pub mod types;

pub use types::*;
