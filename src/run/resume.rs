//! `--resume` helpers: which records of an interrupted iteration are kept, which units are
//! not sent again, and how the kept records merge with the new ones.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::WorkloadKind;
use crate::metrics::request::RequestRecord;
use crate::results::journal::JournalState;

/// Records of an iteration measured before the interruption that are kept. For multi-turn
/// only whole conversations count (a half-done conversation is run again from its first turn).
pub fn kept_records(kind: &WorkloadKind, records: &[RequestRecord]) -> Vec<RequestRecord> {
    match kind {
        WorkloadKind::MultiTurn { conversation, .. } => {
            let mut turns: BTreeMap<usize, usize> = BTreeMap::new();
            for r in records {
                if let Some(c) = r.conversation_index {
                    *turns.entry(c).or_default() += 1;
                }
            }
            records
                .iter()
                .filter(|r| {
                    r.conversation_index
                        .is_some_and(|c| turns.get(&c) == Some(&conversation.turns))
                })
                .cloned()
                .collect()
        }
        _ => records.to_vec(),
    }
}

/// Units (requests, or conversations for multi-turn) the workload must not send again.
pub fn done_units(kind: &WorkloadKind, earlier: &[RequestRecord]) -> HashSet<usize> {
    match kind {
        WorkloadKind::MultiTurn { .. } => earlier
            .iter()
            .filter_map(|r| r.conversation_index)
            .collect(),
        _ => earlier.iter().map(|r| r.request_index).collect(),
    }
}

/// `--resume` finished iteration `index`, which Ctrl-C had stopped before: its partial result
/// file holds a subset of the new file's requests, so it is removed (each iteration is then
/// present once). A resumed run keeps its id, so the new file may have been written over the
/// partial one: that path is the new result and stays. A file that cannot be removed is
/// reported, not fatal.
pub fn drop_replaced_partial(
    resume: Option<&JournalState>,
    index: usize,
    new_file: &std::path::Path,
    events: &crate::events::EventSink,
) {
    let Some(file) = resume.and_then(|r| r.interrupted.get(&index)) else {
        return;
    };
    if same_file(std::path::Path::new(file), new_file) {
        return;
    }
    match std::fs::remove_file(file) {
        Ok(()) => tracing::info!("replaced the partial result {file}"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => events.warn(format!(
            "cannot remove the partial result {file} that the resumed iteration replaces: {e}"
        )),
    }
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// New and earlier records of one iteration as one measurement.
#[derive(Debug)]
pub struct Merged {
    /// Sorted by `request_index`.
    pub records: Vec<RequestRecord>,
    /// When the first request started, before the interruption if there was one.
    pub started_at: DateTime<Utc>,
    /// This session's wall time plus the span the earlier records cover.
    pub duration: Duration,
}

/// Merge `earlier` records (from the journal) into this session's `records`.
pub fn merge(
    mut records: Vec<RequestRecord>,
    earlier: Vec<RequestRecord>,
    started_at: DateTime<Utc>,
    duration: Duration,
) -> Merged {
    if earlier.is_empty() {
        return Merged {
            records,
            started_at,
            duration,
        };
    }
    // A resumed iteration started when its first request did, before the interruption.
    let started_at = earlier
        .iter()
        .map(|r| r.started_at)
        .min()
        .map_or(started_at, |first| first.min(started_at));
    let duration = duration + span(&earlier);
    records.extend(earlier);
    records.sort_by_key(|r| r.request_index);
    Merged {
        records,
        started_at,
        duration,
    }
}

/// Wall time covered by records (first start → last finish).
fn span(records: &[RequestRecord]) -> Duration {
    let first = records.iter().map(|r| r.started_at).min();
    let last = records.iter().map(|r| r.finished_at).max();
    match (first, last) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Conversation;
    use crate::metrics::request::StreamTimings;
    use chrono::TimeZone;

    fn record(
        index: usize,
        conversation: Option<usize>,
        start_s: i64,
        end_s: i64,
    ) -> RequestRecord {
        RequestRecord {
            pacing: Default::default(),
            requested_input_tokens: None,
            requested_output_tokens: None,
            request_index: index,
            conversation_index: conversation,
            turn_index: None,
            started_at: Utc.timestamp_opt(start_s, 0).unwrap(),
            finished_at: Utc.timestamp_opt(end_s, 0).unwrap(),
            send_delay_us: 0,
            timings: StreamTimings::default(),
            prompt_tokens: None,
            completion_tokens: Some(1),
            token_count_source: None,
            error: None,
        }
    }

    fn multi_turn(turns: usize) -> WorkloadKind {
        WorkloadKind::MultiTurn {
            conversation: Conversation {
                turns,
                system_prompt: None,
                user_messages: Vec::new(),
                shared_prefix: None,
            },
            concurrency: 1,
        }
    }

    #[test]
    fn multi_turn_keeps_only_whole_conversations() {
        let records = [
            record(0, Some(0), 0, 1),
            record(1, Some(0), 1, 2),
            record(2, Some(1), 2, 3),
        ];
        let kept = kept_records(&multi_turn(2), &records);
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|r| r.conversation_index == Some(0)));
        assert_eq!(done_units(&multi_turn(2), &kept), HashSet::from([0]));
    }

    #[test]
    fn single_requests_are_all_kept_by_request_index() {
        let records = [record(3, None, 0, 1), record(5, None, 1, 2)];
        let kept = kept_records(&WorkloadKind::Single, &records);
        assert_eq!(kept.len(), 2);
        assert_eq!(
            done_units(&WorkloadKind::Single, &kept),
            HashSet::from([3, 5])
        );
    }

    #[test]
    fn merge_sorts_and_extends_start_and_duration() {
        let now = Utc.timestamp_opt(100, 0).unwrap();
        let earlier = vec![record(0, None, 10, 12), record(1, None, 11, 15)];
        let merged = merge(
            vec![record(2, None, 100, 101)],
            earlier,
            now,
            Duration::from_secs(1),
        );
        let order: Vec<usize> = merged.records.iter().map(|r| r.request_index).collect();
        assert_eq!(order, [0, 1, 2]);
        assert_eq!(merged.started_at, Utc.timestamp_opt(10, 0).unwrap());
        // 1 s now + 5 s covered before the interruption.
        assert_eq!(merged.duration, Duration::from_secs(6));
    }

    #[test]
    fn merge_without_earlier_records_changes_nothing() {
        let now = Utc.timestamp_opt(100, 0).unwrap();
        let merged = merge(
            vec![record(0, None, 100, 101)],
            Vec::new(),
            now,
            Duration::from_secs(1),
        );
        assert_eq!(merged.started_at, now);
        assert_eq!(merged.duration, Duration::from_secs(1));
    }
}
