//! Experiment configuration: raw YAML (`raw`), loading with `extends` (`loader`), checking keys
//! and value types (`keys`), validation into typed values (`validate`, `types`) and sweep
//! expansion (`sweep`).

pub mod answers;
pub mod error;
#[doc(hidden)]
pub mod example;
#[doc(hidden)]
pub mod fuzzing;
mod keys;
pub mod loader;
pub mod matrix;
pub mod output_check;
pub mod overrides;
pub mod ranges;
pub mod raw;
pub mod request_options;
pub mod sweep;
pub mod tokens;
pub mod types;
pub mod validate;
pub mod warnings;

pub use error::{ConfigError, Issue};
pub use loader::{load, load_raw, load_with, load_with_options};
pub use types::*;
pub use validate::{validate, validate_with, ValidateOptions};

#[cfg(test)]
pub(crate) mod test_support;
