//! Whole-number fields in plain words: what range each allows, and the one message used when a
//! value is outside it or not a whole number at all ("must be a whole number from 1 to
//! 100000, got 1.5"), instead of a parser's wording.

/// Upper bounds of whole-number fields beyond "fits in 32 bits": values past them are typos
/// (or would exhaust the machine), not experiments.
const LIMITS: &[(&str, u64)] = &[
    ("workload.concurrency", 100_000),
    ("workload.batch_size", 100_000),
    ("workload.max_concurrency", 100_000),
    ("workload.sweep.concurrency", 100_000),
    ("workload.sweep.batch_size", 100_000),
    ("workload.requests.count", 100_000_000),
    ("workload.warmup.requests", 100_000_000),
    ("workload.parameters.max_tokens", 10_000_000),
    ("workload.conversation.turns", 10_000),
    ("infrastructure.gpu_count", 64),
    ("metrics.sample_interval_ms", 3_600_000),
    ("repeat", 1000),
];

/// The largest value `path` allows (`path` may carry a list index, `a.b[2]`).
pub fn max_of(path: &str) -> u64 {
    let field = path.split('[').next().unwrap_or(path);
    LIMITS
        .iter()
        .find(|(p, _)| *p == field)
        .map_or(u32::MAX as u64, |(_, max)| *max)
}

/// Whether `path` is a whole-number field with a known range (≥ 1).
pub fn has_range(path: &str) -> bool {
    let field = path.split('[').next().unwrap_or(path);
    LIMITS.iter().any(|(p, _)| *p == field)
}

/// "a whole number from 1 to 100000".
pub fn words(path: &str) -> String {
    format!("a whole number from 1 to {}", max_of(path))
}

/// The message for a value of `path` outside its range, or not a whole number (`got` is the
/// value as written).
pub fn out_of_range(path: &str, got: impl std::fmt::Display) -> String {
    format!("must be {}, got {got}", words(path))
}

/// `n` when it lies in `path`'s range.
pub fn in_range(path: &str, n: i64) -> Option<usize> {
    let n = u64::try_from(n)
        .ok()
        .filter(|n| (1..=max_of(path)).contains(n))?;
    usize::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_with_the_field_range() {
        assert_eq!(
            out_of_range("workload.concurrency", 0),
            "must be a whole number from 1 to 100000, got 0"
        );
        assert_eq!(
            out_of_range("workload.sweep.concurrency[1]", "1.5"),
            "must be a whole number from 1 to 100000, got 1.5"
        );
        assert_eq!(max_of("infrastructure.gpu_count"), 64);
        assert_eq!(max_of("something.else"), u32::MAX as u64);
        assert!(has_range("workload.sweep.batch_size[0]"));
        assert!(!has_range("workload.synthetic.min"));
    }

    #[test]
    fn range_checks() {
        assert_eq!(in_range("workload.concurrency", 1), Some(1));
        assert_eq!(in_range("workload.concurrency", 100_000), Some(100_000));
        assert_eq!(in_range("workload.concurrency", 100_001), None);
        assert_eq!(in_range("workload.concurrency", 0), None);
        assert_eq!(in_range("workload.concurrency", -3), None);
        assert_eq!(in_range("other", u32::MAX as i64), Some(u32::MAX as usize));
    }

    #[test]
    fn config_errors_use_the_plain_words() {
        let f = crate::config::test_support::Fixture::new();
        let yaml = "name: t\nmodel: {name: m}\nframework: vllm\ninfrastructure: {provider: simulated, gpu_count: 0}\nworkload:\n  type: concurrent\n  concurrency: 1.5\n  requests: {source: prompts.jsonl, count: 999999999999}\n  parameters: {max_tokens: lots}\n  sweep: {batch_size: [2, 0]}\n";
        let err = f.load(yaml).unwrap_err().to_string();
        for line in [
            "workload.concurrency: must be a whole number from 1 to 100000, got 1.5",
            "workload.parameters.max_tokens: must be a whole number from 1 to 10000000, got 'lots'",
            "infrastructure.gpu_count: must be a whole number from 1 to 64, got 0",
            "workload.requests.count: must be a whole number from 1 to 100000000, got 999999999999",
            "workload.sweep.batch_size: each value must be a whole number from 1 to 100000, got 0",
        ] {
            assert!(err.contains(line), "{line:?} not in\n{err}");
        }
        assert!(
            !err.contains("expected an integer") && !err.contains("too large"),
            "{err}"
        );
    }
}
