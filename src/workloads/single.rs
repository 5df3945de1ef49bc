//! Single: one request at a time, in order.

use super::concurrent::ConcurrentWorkload;
use crate::runners::ChatMessage;

/// The single workload is the concurrent pool with one slot and no circuit breaker.
pub fn single(requests: Vec<Vec<ChatMessage>>) -> ConcurrentWorkload {
    ConcurrentWorkload::sequential(requests)
}
