//! Pure measurement: per-request records and their derived metrics, aggregation into
//! summaries, Prometheus parsing and server-metric maps, the client's own resource use.
//! No HTTP and no files here: the scraper lives in `runners::scrape`, result files and the
//! journal in `results`.

pub mod aggregate;
pub mod client_health;
#[doc(hidden)]
pub mod fuzzing;
pub mod prometheus;
pub mod request;
pub mod server_metrics;
