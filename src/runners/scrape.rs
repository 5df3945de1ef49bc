//! Background scraper of the server's `/metrics` (SPEC §6).
//!
//! One task per run with its own HTTP client (never the benchmark's connection pool, so a slow
//! `/metrics` cannot steal a request slot). Each scrape has a deadline and a body cap; a failed
//! scrape is counted and the next tick tries again, so the scraper can neither stop the run nor
//! hang it. Cancelling drops an in-flight scrape at once.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::metrics::prometheus;
use crate::metrics::server_metrics::{
    extract, fill_generation_throughput, is_recognised, is_tracked, MetricsDialect,
};
use crate::results::result::{GpuMetrics, ServerSample};

/// Largest `/metrics` body read; a real one is 30–100 KB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// A scrape may always take this long, even at short intervals (scrape deadline =
/// max(interval, this)).
pub const MIN_SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often and how patiently to scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeOptions {
    pub interval: Duration,
    /// Deadline for one scrape: connect, headers and body.
    pub timeout: Duration,
    pub max_body_bytes: usize,
}

impl ScrapeOptions {
    /// Defaults for an interval: deadline max(interval, 2 s), 4 MiB body cap.
    pub fn new(interval: Duration) -> Self {
        ScrapeOptions {
            interval,
            timeout: interval.max(MIN_SCRAPE_TIMEOUT),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Live counters, for a progress display.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrapeStatus {
    pub total_scrapes: usize,
    pub scrape_errors: usize,
    pub latest: Option<ServerSample>,
}

#[derive(Debug, thiserror::Error)]
enum ScrapeError {
    #[error("could not build an HTTP client: {0}")]
    Client(String),
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("server answered HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    #[error("the body holds no {0} metrics (wrong framework or not a metrics endpoint?)")]
    Unrecognised(&'static str),
}

/// A running scraper. Dropping it stops the task too; [`ScraperHandle::stop`] also returns
/// what was collected.
#[derive(Debug)]
pub struct ScraperHandle {
    cancel: CancellationToken,
    _stop_on_drop: DropGuard,
    status: watch::Receiver<ScrapeStatus>,
    task: JoinHandle<GpuMetrics>,
    empty: GpuMetrics,
}

impl ScraperHandle {
    /// Counters and the latest sample, updated after every scrape.
    pub fn status(&self) -> watch::Receiver<ScrapeStatus> {
        self.status.clone()
    }

    /// Stops scraping (abandoning a scrape in flight) and returns the series.
    pub async fn stop(self) -> GpuMetrics {
        self.cancel.cancel();
        match self.task.await {
            Ok(metrics) => metrics,
            Err(e) => {
                tracing::warn!("metrics scraper task failed: {e}");
                self.empty
            }
        }
    }
}

/// Starts scraping `{base_url}/metrics` every `interval` until `cancel` fires or the handle is
/// stopped. Timestamps are seconds since this call. Must be called inside a Tokio runtime.
pub fn spawn_scraper(
    base_url: &str,
    dialect: MetricsDialect,
    interval: Duration,
    cancel: CancellationToken,
) -> ScraperHandle {
    spawn_scraper_with(base_url, dialect, ScrapeOptions::new(interval), cancel)
}

/// [`spawn_scraper`] with explicit deadline and body cap.
pub fn spawn_scraper_with(
    base_url: &str,
    dialect: MetricsDialect,
    options: ScrapeOptions,
    cancel: CancellationToken,
) -> ScraperHandle {
    spawn_scraper_with_headers(base_url, dialect, options, Default::default(), cancel)
}

/// [`spawn_scraper_with`] sending `headers` on every scrape (a server's API key).
pub fn spawn_scraper_with_headers(
    base_url: &str,
    dialect: MetricsDialect,
    options: ScrapeOptions,
    headers: reqwest::header::HeaderMap,
    cancel: CancellationToken,
) -> ScraperHandle {
    let started = Instant::now();
    // A zero period would make `tokio::time::interval` panic.
    let options = ScrapeOptions {
        interval: options.interval.max(Duration::from_millis(1)),
        ..options
    };
    let empty = GpuMetrics {
        framework: dialect.as_str().to_string(),
        sample_interval_ms: u64::try_from(options.interval.as_millis()).unwrap_or(u64::MAX),
        ..GpuMetrics::default()
    };
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(options.timeout)
        .timeout(options.timeout)
        .pool_max_idle_per_host(1)
        .build()
        .map_err(|e| e.to_string());
    // The query string (if any) stays after the path.
    let url = crate::runners::endpoint::join(base_url, "/metrics")
        .map(String::from)
        .unwrap_or_else(|_| format!("{}/metrics", base_url.trim_end_matches('/')));
    let redact = crate::redact::Redactor::for_url(&url);
    let scraper = Scraper {
        client,
        shown_url: redact.text(&url),
        redact,
        url,
        dialect,
        options,
        started,
    };
    let cancel = cancel.child_token();
    let (status_tx, status) = watch::channel(ScrapeStatus::default());
    let task = tokio::spawn(scraper.run(empty.clone(), cancel.clone(), status_tx));
    ScraperHandle {
        _stop_on_drop: cancel.clone().drop_guard(),
        cancel,
        status,
        task,
        empty,
    }
}

struct Scraper {
    client: Result<reqwest::Client, String>,
    url: String,
    /// `url` without credentials, and what hides them in error text: for the log.
    shown_url: String,
    redact: crate::redact::Redactor,
    dialect: MetricsDialect,
    options: ScrapeOptions,
    started: Instant,
}

impl Scraper {
    async fn run(
        self,
        mut out: GpuMetrics,
        cancel: CancellationToken,
        status: watch::Sender<ScrapeStatus>,
    ) -> GpuMetrics {
        let mut ticker = tokio::time::interval(self.options.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let result = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                result = self.scrape_once() => result,
            };
            out.total_scrapes += 1;
            match result {
                Ok(mut sample) => {
                    fill_generation_throughput(self.dialect, out.time_series.last(), &mut sample);
                    out.time_series.push(sample);
                    failing = false;
                }
                Err(e) => {
                    out.scrape_errors += 1;
                    let e = self.redact.text(&e.to_string());
                    let e = crate::text::printable(&e);
                    // Say it once per outage, not every 100 ms.
                    if failing {
                        tracing::debug!(url = %self.shown_url, "metrics scrape failed: {e}");
                    } else {
                        tracing::warn!(url = %self.shown_url, "metrics scrape failed: {e}");
                    }
                    failing = true;
                }
            }
            status.send_replace(ScrapeStatus {
                total_scrapes: out.total_scrapes,
                scrape_errors: out.scrape_errors,
                latest: out.time_series.last().cloned(),
            });
        }
        out
    }

    async fn scrape_once(&self) -> Result<ServerSample, ScrapeError> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| ScrapeError::Client(e.clone()))?;
        let timeout = self.options.timeout;
        let body = tokio::time::timeout(timeout, self.fetch(client))
            .await
            .map_err(|_| ScrapeError::Timeout(timeout))??;
        // Stamped on arrival, before parsing.
        let timestamp = self.started.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&body);
        let exposition = prometheus::parse_filtered(&text, |name| is_tracked(self.dialect, name));
        let mut sample = extract(self.dialect, &exposition);
        if !is_recognised(&sample) {
            return Err(ScrapeError::Unrecognised(self.dialect.as_str()));
        }
        sample.timestamp = timestamp;
        Ok(sample)
    }

    async fn fetch(&self, client: &reqwest::Client) -> Result<Vec<u8>, ScrapeError> {
        let cap = self.options.max_body_bytes;
        let mut response = client
            .get(&self.url)
            .header(
                reqwest::header::ACCEPT,
                "text/plain;version=0.0.4;q=1,*/*;q=0.1",
            )
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(ScrapeError::Status(response.status()));
        }
        if response.content_length().is_some_and(|n| n > cap as u64) {
            return Err(ScrapeError::TooLarge(cap));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > cap {
                return Err(ScrapeError::TooLarge(cap));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
