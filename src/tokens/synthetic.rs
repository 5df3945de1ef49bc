//! Synthetic prompts of an exact token length: random ids, decode, re-encode, fix up (what
//! `vllm bench` does), until the ids are a fixed point of decode→encode. Then the text and the
//! ids agree, so a server counts exactly the asked length whether it gets text or ids.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::tokenizer::{TextTokenizer, TokenizerError};

/// A token-length distribution: a number (fixed) or `{dist: fixed|uniform|normal, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawLength {
    Fixed(i64),
    Dist(RawDist),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDist {
    pub dist: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
}

/// A validated length distribution (all bounds ≥ 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LengthDist {
    Fixed(u32),
    Uniform {
        min: u32,
        max: u32,
    },
    Normal {
        mean: f64,
        std: f64,
        min: u32,
        max: u32,
    },
}

impl LengthDist {
    /// Validate `raw`; problems are pushed as `(field, message)` with `field` under `at`.
    pub fn from_raw(raw: &RawLength, at: &str, issues: &mut Vec<(String, String)>) -> Option<Self> {
        let d = match raw {
            RawLength::Fixed(n) => return positive(*n, at, issues).map(LengthDist::Fixed),
            RawLength::Dist(d) => d,
        };
        let need = |v: Option<i64>, f: &str, issues: &mut Vec<(String, String)>| match v {
            Some(v) => positive(v, &format!("{at}.{f}"), issues),
            None => {
                issues.push((format!("{at}.{f}"), "required for this distribution".into()));
                None
            }
        };
        match d.dist.as_deref().unwrap_or("fixed") {
            "fixed" => {
                let v = d.value.or(d.mean).map(|v| v.round() as i64);
                need(v, "value", issues).map(LengthDist::Fixed)
            }
            "uniform" => {
                let (min, max) = (need(d.min, "min", issues)?, need(d.max, "max", issues)?);
                ordered(min, max, at, issues)?;
                Some(LengthDist::Uniform { min, max })
            }
            "normal" => normal(d, at, issues),
            other => {
                issues.push((
                    format!("{at}.dist"),
                    format!("unknown distribution '{other}'; use fixed, uniform or normal"),
                ));
                None
            }
        }
    }

    pub fn min(&self) -> u32 {
        match *self {
            LengthDist::Fixed(n) => n,
            LengthDist::Uniform { min, .. } | LengthDist::Normal { min, .. } => min,
        }
    }

    pub fn max(&self) -> u32 {
        match *self {
            LengthDist::Fixed(n) => n,
            LengthDist::Uniform { max, .. } | LengthDist::Normal { max, .. } => max,
        }
    }

    pub fn sample(&self, rng: &mut StdRng) -> u32 {
        match *self {
            LengthDist::Fixed(n) => n,
            LengthDist::Uniform { min, max } => rng.random_range(min..=max),
            LengthDist::Normal {
                mean,
                std,
                min,
                max,
            } => {
                // Box–Muller (rand has no normal distribution without rand_distr).
                let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
                let u2: f64 = rng.random();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (mean + std * z)
                    .round()
                    .clamp(f64::from(min), f64::from(max)) as u32
            }
        }
    }
}

/// A whole number ≥ 1 at `field`.
fn positive(v: i64, field: &str, issues: &mut Vec<(String, String)>) -> Option<u32> {
    match u32::try_from(v) {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            issues.push((
                field.to_string(),
                format!("must be a whole number ≥ 1, got {v}"),
            ));
            None
        }
    }
}

/// `min` is not above `max`.
fn ordered(min: u32, max: u32, at: &str, issues: &mut Vec<(String, String)>) -> Option<()> {
    if min > max {
        issues.push((format!("{at}.min"), format!("{min} is above max {max}")));
        return None;
    }
    Some(())
}

/// A normal distribution: mean ≥ 1, std ≥ 0, clamped to [min (1), max (mean + 6 std)].
fn normal(d: &RawDist, at: &str, issues: &mut Vec<(String, String)>) -> Option<LengthDist> {
    let mean = d.mean.filter(|m| m.is_finite() && *m >= 1.0);
    let std = d.std.filter(|s| s.is_finite() && *s >= 0.0);
    if mean.is_none() {
        issues.push((format!("{at}.mean"), "required: a number ≥ 1".into()));
    }
    if std.is_none() {
        issues.push((format!("{at}.std"), "required: a number ≥ 0".into()));
    }
    let min = d
        .min
        .map_or(Some(1), |v| positive(v, &format!("{at}.min"), issues))?;
    let max = match d.max {
        Some(v) => positive(v, &format!("{at}.max"), issues)?,
        None => (mean? + 6.0 * std?).ceil() as u32,
    };
    ordered(min, max, at, issues)?;
    Some(LengthDist::Normal {
        mean: mean?,
        std: std?,
        min,
        max,
    })
}

/// How many decode→encode rounds (with fresh random tails) before giving up.
const MAX_ROUNDS: usize = 200;

/// Random ids of `len` that survive decode→encode unchanged, starting with `prefix` (which is
/// itself such a sequence). Deterministic for the rng state.
pub fn exact_ids(
    tok: &TextTokenizer,
    prefix: &[u32],
    len: usize,
    rng: &mut StdRng,
) -> Result<Vec<u32>, TokenizerError> {
    if prefix.len() > len {
        return Err(TokenizerError::Tokenize(format!(
            "shared prefix of {} tokens is longer than the {len}-token prompt",
            prefix.len()
        )));
    }
    let pool = tok.sampleable();
    let draw = |rng: &mut StdRng| pool[rng.random_range(0..pool.len())];
    let mut tail: Vec<u32> = (prefix.len()..len).map(|_| draw(rng)).collect();
    for _ in 0..MAX_ROUNDS {
        let mut ids = prefix.to_vec();
        ids.extend_from_slice(&tail);
        let again = tok.encode(&tok.decode(&ids)?)?;
        if again == ids {
            return Ok(ids);
        }
        if again.len() < prefix.len() || again[..prefix.len()] != *prefix {
            // The tail merged into the prefix: start the tail afresh.
            tail = (prefix.len()..len).map(|_| draw(rng)).collect();
            continue;
        }
        // Keep the canonical form and fix the length: cut, or top up with fresh ids.
        tail = again[prefix.len()..].to_vec();
        tail.truncate(len - prefix.len());
        while prefix.len() + tail.len() < len {
            tail.push(draw(rng));
        }
    }
    Err(TokenizerError::Tokenize(format!(
        "could not build a {len}-token prompt that re-encodes to the same length in \
         {MAX_ROUNDS} rounds"
    )))
}

/// `requests.synthetic`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    pub input: LengthDist,
    pub output: LengthDist,
    pub prefix_tokens: u32,
    pub num_prefixes: u32,
    pub seed: u64,
}

/// One generated request.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticPrompt {
    pub ids: Vec<u32>,
    pub text: String,
    pub output_tokens: u32,
}

/// `count` prompts, deterministic for `spec.seed`. Prefix groups are assigned round-robin.
pub fn generate(
    tok: &TextTokenizer,
    spec: &SyntheticSpec,
    count: usize,
) -> Result<Vec<SyntheticPrompt>, TokenizerError> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let groups = if spec.prefix_tokens > 0 {
        spec.num_prefixes.max(1)
    } else {
        0
    };
    let prefixes: Vec<Vec<u32>> = (0..groups)
        .map(|_| exact_ids(tok, &[], spec.prefix_tokens as usize, &mut rng))
        .collect::<Result<_, _>>()?;
    (0..count)
        .map(|i| {
            let len = spec.input.sample(&mut rng).max(spec.prefix_tokens) as usize;
            let output_tokens = spec.output.sample(&mut rng);
            let prefix = prefixes
                .get(i % prefixes.len().max(1))
                .map_or(&[][..], Vec::as_slice);
            let ids = exact_ids(tok, prefix, len, &mut rng)?;
            let text = tok.decode(&ids)?;
            Ok(SyntheticPrompt {
                ids,
                text,
                output_tokens,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::test_tokenizer;

    fn check_exact(input: LengthDist, prefix_tokens: u32) {
        let tok = test_tokenizer();
        let spec = SyntheticSpec {
            input,
            output: LengthDist::Uniform { min: 1, max: 64 },
            prefix_tokens,
            num_prefixes: 4,
            seed: 7,
        };
        let prompts = generate(&tok, &spec, 1000).unwrap();
        assert_eq!(prompts.len(), 1000);
        let mut lengths = std::collections::BTreeSet::new();
        for (i, p) in prompts.iter().enumerate() {
            assert!(p.ids.len() as u32 >= input.min() && p.ids.len() as u32 <= input.max());
            // Exact both ways: the text re-encodes to the very ids, hence to the length.
            assert_eq!(tok.encode(&p.text).unwrap(), p.ids, "prompt {i}");
            assert!((1..=64).contains(&p.output_tokens));
            lengths.insert(p.ids.len());
        }
        if input.min() < input.max() {
            assert!(lengths.len() > 10, "lengths vary: {lengths:?}");
        }
        // Deterministic for the seed.
        assert_eq!(generate(&tok, &spec, 5).unwrap(), prompts[..5].to_vec());
    }

    #[test]
    fn fixed_lengths_are_exact_over_1000_prompts() {
        check_exact(LengthDist::Fixed(64), 0);
    }

    #[test]
    fn uniform_lengths_are_exact_over_1000_prompts() {
        check_exact(LengthDist::Uniform { min: 16, max: 160 }, 0);
    }

    #[test]
    fn normal_lengths_are_exact_over_1000_prompts_with_shared_prefixes() {
        let dist = LengthDist::Normal {
            mean: 100.0,
            std: 25.0,
            min: 40,
            max: 200,
        };
        check_exact(dist, 32);
        let tok = test_tokenizer();
        let spec = SyntheticSpec {
            input: dist,
            output: LengthDist::Fixed(8),
            prefix_tokens: 32,
            num_prefixes: 3,
            seed: 1,
        };
        let p = generate(&tok, &spec, 7).unwrap();
        // Round-robin groups: 0 and 3 share a prefix, 0 and 1 do not.
        assert_eq!(p[0].ids[..32], p[3].ids[..32]);
        assert_eq!(p[1].ids[..32], p[4].ids[..32]);
        assert_ne!(p[0].ids[..32], p[1].ids[..32]);
    }

    #[test]
    fn distributions_validate_and_name_the_field() {
        let mut issues = Vec::new();
        let raw: RawLength = serde_yaml::from_str("{dist: normal, mean: 10}").unwrap();
        assert!(LengthDist::from_raw(&raw, "input_tokens", &mut issues).is_none());
        assert_eq!(issues[0].0, "input_tokens.std");
        issues.clear();
        let raw: RawLength = serde_yaml::from_str("{dist: zipf}").unwrap();
        assert!(LengthDist::from_raw(&raw, "x", &mut issues).is_none());
        assert!(issues[0].1.contains("fixed, uniform or normal"));
        let raw: RawLength = serde_yaml::from_str("128").unwrap();
        assert_eq!(
            LengthDist::from_raw(&raw, "x", &mut issues),
            Some(LengthDist::Fixed(128))
        );
        let raw: RawLength = serde_yaml::from_str("{dist: uniform, min: 9, max: 3}").unwrap();
        issues.clear();
        assert!(LengthDist::from_raw(&raw, "x", &mut issues).is_none());
        assert_eq!(issues[0].0, "x.min");
    }
}
