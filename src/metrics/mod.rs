//! Pure measurement: per-request records and their derived metrics, aggregation into
//! summaries, Prometheus parsing and server-metric maps, the client's own resource use.
//! No HTTP and no files here: the scraper lives in `runners::scrape`, result files and the
//! journal in `results`.

pub mod aggregate;
pub mod annotate;
pub mod client_health;
pub mod cost;
#[doc(hidden)]
pub mod fuzzing;
pub mod open_loop;
pub mod prometheus;
pub mod request;
pub mod server_metrics;
pub mod significance;
pub mod slo;
pub mod stats;
pub mod tokens;
