//! A server that can say it died: the built-in simulator reports a panic of its engine or of
//! a stream task here, and the run stops with that message instead of recording every
//! request after it as a failure of its own.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};

use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

/// Shared between the server (which reports) and the run (which watches). Clones share state.
#[derive(Debug, Clone, Default)]
pub struct ServerFailure {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    message: OnceLock<String>,
    failed: CancellationToken,
}

/// Two handles are equal when they watch the same server.
impl PartialEq for ServerFailure {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl ServerFailure {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record the failure; the first report wins.
    pub fn report(&self, message: String) {
        tracing::error!("{message}");
        let _ = self.inner.message.set(message);
        self.inner.failed.cancel();
    }

    pub fn message(&self) -> Option<String> {
        self.inner.message.get().cloned()
    }

    /// A token cancelled when the failure is reported.
    pub fn token(&self) -> CancellationToken {
        self.inner.failed.clone()
    }

    /// Run `task`; a panic in it is reported as `{what} panicked: <message>`.
    pub async fn guard<F: Future<Output = ()>>(&self, what: &str, task: F) {
        if let Err(panic) = AssertUnwindSafe(task).catch_unwind().await {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            self.report(format!("{what} panicked: {text}"));
        }
    }
}

/// A child of `cancel` that is also cancelled when `failure` (if any) is reported, so the
/// workload stops sending to a dead server.
pub fn stop_on_failure(
    failure: Option<&ServerFailure>,
    cancel: &CancellationToken,
) -> CancellationToken {
    let stop = cancel.child_token();
    if let Some(failed) = failure.map(ServerFailure::token) {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = failed.cancelled() => stop.cancel(),
                _ = stop.cancelled() => {}
            }
        });
    }
    stop
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_reported_once_and_stops_the_watcher() {
        let failure = ServerFailure::new();
        let parent = CancellationToken::new();
        let stop = stop_on_failure(Some(&failure), &parent);
        failure
            .guard("engine", async { panic!("boom {}", 7) })
            .await;
        failure.report("second".into());
        assert_eq!(
            failure.message().as_deref(),
            Some("engine panicked: boom 7")
        );
        stop.cancelled().await;
        assert!(!parent.is_cancelled());
        failure.guard("quiet", async {}).await;
        assert_eq!(failure, failure.clone());
        assert_ne!(failure, ServerFailure::new());
    }
}
