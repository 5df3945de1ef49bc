//! Measurement data: per-request records, aggregation, server-metrics scraping, result files.

pub mod prometheus;
pub mod request;
pub mod result;
pub mod scrape;
pub mod server_metrics;
