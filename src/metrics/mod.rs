//! Measurement data: per-request records, aggregation, server-metrics scraping, result files.

pub mod aggregate;
pub mod client_health;
#[doc(hidden)]
pub mod fuzzing;
pub mod journal;
pub mod prometheus;
pub mod request;
pub mod result;
pub mod scrape;
pub mod server_metrics;
pub mod storage;
pub mod tokens;
