//! Measurement data: per-request records, aggregation, server-metrics scraping, result files.

pub mod aggregate;
pub mod annotate;
pub mod client_health;
pub mod cost;
#[doc(hidden)]
pub mod fuzzing;
pub mod groups;
pub mod journal;
pub mod prometheus;
pub mod request;
pub mod result;
pub mod scrape;
pub mod server_metrics;
pub mod significance;
pub mod slo;
pub mod stats;
pub mod storage;
