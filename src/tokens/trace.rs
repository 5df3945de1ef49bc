//! Mooncake-format traces: one JSON object per line,
//! `{"timestamp": ms, "input_length": n, "output_length": m, "hash_ids": [ids of the
//! block_size-token blocks the prompt is made of]}`. Equal hash ids become identical token
//! blocks, so the server's prefix cache sees the trace's reuse.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;

use super::synthetic::exact_ids;
use super::tokenizer::{TextTokenizer, TokenizerError};

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot read trace {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: the trace has no requests")]
    Empty { path: PathBuf },
}

/// One trace line.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    /// 1-based line in the file.
    pub line: usize,
    pub timestamp_ms: u64,
    pub input_length: u32,
    pub output_length: u32,
    pub hash_ids: Vec<u64>,
}

/// The parsed trace, sorted by timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub entries: Vec<TraceEntry>,
    /// The file's timestamps were not in order (they were sorted; the caller warns).
    pub was_unsorted: bool,
}

pub fn load(path: &Path) -> Result<Trace, TraceError> {
    let text = crate::input_file::read_to_string(path).map_err(|source| TraceError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Trace, TraceError> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let entry = parse_line(raw, i + 1).map_err(|message| TraceError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        })?;
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
        });
    }
    let was_unsorted = entries
        .windows(2)
        .any(|w| w[1].timestamp_ms < w[0].timestamp_ms);
    // Stable: equal timestamps keep file order.
    entries.sort_by_key(|e| e.timestamp_ms);
    Ok(Trace {
        entries,
        was_unsorted,
    })
}

const SAMPLE: &str =
    r#"expected {"timestamp": 0, "input_length": 1024, "output_length": 64, "hash_ids": [0, 1]}"#;

fn parse_line(raw: &str, line: usize) -> Result<TraceEntry, String> {
    let value: Value =
        serde_json::from_str(raw).map_err(|e| format!("invalid JSON ({e}); {SAMPLE}"))?;
    let Value::Object(obj) = value else {
        return Err(format!("not a JSON object; {SAMPLE}"));
    };
    let field = |name: &str| {
        obj.get(name)
            .ok_or_else(|| format!("missing field '{name}'; {SAMPLE}"))
    };
    let timestamp = field("timestamp")?;
    let timestamp_ms = match timestamp.as_f64() {
        Some(t) if t >= 0.0 && t.is_finite() => t.round() as u64,
        Some(t) => return Err(format!("'timestamp' must be ≥ 0 (milliseconds), got {t}")),
        None => {
            return Err(format!(
                "'timestamp' must be a number of milliseconds, got {timestamp}"
            ))
        }
    };
    let count = |name: &str, min: u64| -> Result<u32, String> {
        let v = field(name)?;
        v.as_u64()
            .filter(|n| *n >= min)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("'{name}' must be a whole number ≥ {min}, got {v}"))
    };
    let input_length = count("input_length", 1)?;
    let output_length = count("output_length", 1)?;
    let hash_ids = match obj.get("hash_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(k, v)| {
                v.as_u64()
                    .ok_or_else(|| format!("hash_ids[{k}] must be a whole number ≥ 0, got {v}"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "'hash_ids' must be a list of integers, got {other}"
            ))
        }
    };
    Ok(TraceEntry {
        line,
        timestamp_ms,
        input_length,
        output_length,
        hash_ids,
    })
}

impl Trace {
    /// Send offsets from the start of the run: `(timestamp − first) × time_scale`.
    pub fn offsets(&self, time_scale: f64) -> Vec<Duration> {
        let first = self.entries.first().map_or(0, |e| e.timestamp_ms);
        self.entries
            .iter()
            .map(|e| Duration::from_secs_f64((e.timestamp_ms - first) as f64 * time_scale / 1000.0))
            .collect()
    }

    /// The share of prompt blocks already seen earlier in the trace: what an unbounded prefix
    /// cache could reuse (counted in tokens, as a server's hit rate is).
    pub fn ideal_reuse_ratio(&self, block_size: u32) -> f64 {
        let mut seen = HashSet::new();
        let (mut hit, mut total) = (0u64, 0u64);
        for e in &self.entries {
            let mut prefix_intact = true;
            for (k, h) in e.hash_ids.iter().enumerate() {
                let start = k as u64 * u64::from(block_size);
                let tokens = u64::from(e.input_length)
                    .saturating_sub(start)
                    .min(u64::from(block_size));
                // A prefix cache reuses a block only while every block before it was reused too.
                let reused = seen.contains(h) && prefix_intact;
                prefix_intact &= reused;
                if reused {
                    hit += tokens;
                }
                seen.insert(*h);
            }
            total += u64::from(e.input_length);
        }
        if total == 0 {
            0.0
        } else {
            hit as f64 / total as f64
        }
    }

    /// Problems with the lengths, as `(file:line, message)`, e.g. a prompt longer than its blocks
    /// can hold or beyond the model's context.
    pub fn length_issues(&self, block_size: u32, context: Option<u32>) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for e in &self.entries {
            let cover = e.hash_ids.len() as u64 * u64::from(block_size);
            if !e.hash_ids.is_empty() && u64::from(e.input_length) > cover + u64::from(block_size) {
                out.push((
                    e.line,
                    format!(
                        "input_length {} is more than one block beyond its {} hash_ids × block_size {}",
                        e.input_length,
                        e.hash_ids.len(),
                        block_size
                    ),
                ));
            }
            if let Some(ctx) = context {
                if u64::from(e.input_length) + u64::from(e.output_length) > u64::from(ctx) {
                    out.push((
                        e.line,
                        format!(
                            "input_length {} + output_length {} exceeds the model context {ctx}",
                            e.input_length, e.output_length
                        ),
                    ));
                }
            }
        }
        out
    }
}

/// Token ids of every request: equal hash ids give identical blocks; a request's last block is
/// cut to its input length, and a length beyond its blocks is topped up with unique tokens.
pub fn build_prompts(
    tok: &TextTokenizer,
    trace: &Trace,
    block_size: u32,
    seed: u64,
) -> Result<Vec<Vec<u32>>, TokenizerError> {
    let mut blocks: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let bs = block_size as usize;
    trace
        .entries
        .iter()
        .map(|e| {
            let want = e.input_length as usize;
            let mut ids = Vec::with_capacity(want);
            for h in &e.hash_ids {
                if ids.len() >= want {
                    break;
                }
                if !blocks.contains_key(h) {
                    // Seeded by the hash id alone: the same block whatever the trace order.
                    let mut block_rng =
                        StdRng::seed_from_u64(seed ^ h.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    blocks.insert(*h, exact_ids(tok, &[], bs, &mut block_rng)?);
                }
                if let Some(block) = blocks.get(h) {
                    ids.extend_from_slice(block);
                }
            }
            ids.truncate(want);
            if ids.len() < want {
                let pool = tok.sampleable();
                while ids.len() < want {
                    ids.push(pool[rand::Rng::random_range(&mut rng, 0..pool.len())]);
                }
            }
            Ok(ids)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::test_tokenizer;

    fn parse_str(text: &str) -> Result<Trace, TraceError> {
        parse(Path::new("t.jsonl"), text)
    }

    const FIXTURE: &str = include_str!("../../tests/fixtures/traces/mooncake-small.jsonl");

    #[test]
    fn the_fixture_parses_and_equal_hash_ids_give_identical_blocks() {
        let trace = parse_str(FIXTURE).unwrap();
        assert!(trace.entries.len() >= 10);
        assert!(!trace.was_unsorted);
        let tok = test_tokenizer();
        let bs = 64;
        let prompts = build_prompts(&tok, &trace, bs, 3).unwrap();
        let mut by_hash: HashMap<u64, Vec<u32>> = HashMap::new();
        for (e, ids) in trace.entries.iter().zip(&prompts) {
            assert_eq!(ids.len(), e.input_length as usize, "line {}", e.line);
            for (k, h) in e.hash_ids.iter().enumerate() {
                let start = k * bs as usize;
                let end = (start + bs as usize).min(ids.len());
                if end - start < bs as usize {
                    continue; // a cut last block
                }
                let block = ids[start..end].to_vec();
                if let Some(prev) = by_hash.insert(*h, block.clone()) {
                    assert_eq!(prev, block, "hash id {h} differs at line {}", e.line);
                }
            }
        }
        // Distinct hash ids give distinct blocks.
        let distinct: HashSet<&Vec<u32>> = by_hash.values().collect();
        assert_eq!(distinct.len(), by_hash.len());
        let ratio = trace.ideal_reuse_ratio(bs);
        assert!(ratio > 0.1 && ratio < 1.0, "{ratio}");
    }

    #[test]
    fn unsorted_timestamps_are_sorted_and_flagged() {
        let t = parse_str(
            "{\"timestamp\": 50, \"input_length\": 3, \"output_length\": 1, \"hash_ids\": [1]}\n\
             {\"timestamp\": 10, \"input_length\": 3, \"output_length\": 1, \"hash_ids\": [2]}\n",
        )
        .unwrap();
        assert!(t.was_unsorted);
        assert_eq!(t.entries[0].line, 2);
        assert_eq!(
            t.offsets(2.0),
            vec![Duration::ZERO, Duration::from_millis(80)]
        );
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        for (bad, needle) in [
            (
                r#"{"timestamp": -5, "input_length": 3, "output_length": 1, "hash_ids": [1]}"#,
                "≥ 0",
            ),
            (
                r#"{"input_length": 3, "output_length": 1, "hash_ids": [1]}"#,
                "missing field 'timestamp'",
            ),
            (
                r#"{"timestamp": 0, "output_length": 1, "hash_ids": [1]}"#,
                "missing field 'input_length'",
            ),
            (
                r#"{"timestamp": 0, "input_length": 3, "output_length": 1, "hash_ids": [1.5]}"#,
                "hash_ids[0]",
            ),
            (
                r#"{"timestamp": 0, "input_length": 3, "output_length": 1, "hash_ids": ["a"]}"#,
                "hash_ids[0]",
            ),
            (
                r#"{"timestamp": 0, "input_length": 0, "output_length": 1}"#,
                "input_length",
            ),
            ("not json", "invalid JSON"),
        ] {
            let text = format!("{}\n\n{bad}\n", FIXTURE.lines().next().unwrap());
            let err = parse_str(&text).unwrap_err().to_string();
            assert!(err.starts_with("t.jsonl:3: "), "{err}");
            assert!(err.contains(needle), "{bad}: {err}");
        }
        assert!(matches!(parse_str("\n"), Err(TraceError::Empty { .. })));
    }

    #[test]
    fn lengths_beyond_the_context_are_named_by_line() {
        let t = parse_str(
            "{\"timestamp\": 0, \"input_length\": 900, \"output_length\": 200, \"hash_ids\": [1, 2, 3, 4]}\n",
        )
        .unwrap();
        let issues = t.length_issues(256, Some(1024));
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].0, 1);
        assert!(issues[0].1.contains("exceeds the model context 1024"));
        assert!(t.length_issues(100, None)[0]
            .1
            .contains("beyond its 4 hash_ids"));
    }
}
