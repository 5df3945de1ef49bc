//! Rendering for the console: pure functions that write into `impl Write`.

pub mod plan;
