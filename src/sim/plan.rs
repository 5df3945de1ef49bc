//! Everything random about one request, drawn up front from an RNG seeded by the profile seed
//! and the request's sequence number, so timing never changes a text, a length or a fault.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::profile::SimProfile;

/// Share of natural-stop requests that run to `max_tokens` anyway (finish reason "length").
const LENGTH_SHARE: f64 = 0.75;

/// Words the simulated model says.
const WORDS: &[&str] = &[
    "the",
    "model",
    "server",
    "token",
    "cache",
    "batch",
    "request",
    "latency",
    "of",
    "and",
    "a",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "with",
    "as",
    "on",
    "was",
    "this",
    "by",
    "are",
    "be",
    "from",
    "at",
    "or",
    "an",
    "we",
    "can",
    "which",
    "prefix",
    "decode",
    "prefill",
    "throughput",
    "memory",
    "kernel",
    "attention",
    "layer",
    "weights",
    "queue",
    "stream",
    "simulated",
    "engine",
    "step",
    "block",
    "sequence",
    "output",
    "input",
    "prompt",
    "answer",
    "question",
    "result",
    "value",
    "system",
    "data",
    "time",
    "first",
    "next",
    "each",
    "more",
    "less",
    "fast",
    "slow",
    "small",
    "large",
    "good",
    "new",
    "other",
    "some",
    "many",
    "all",
    "one",
    "two",
    "three",
    "because",
    "when",
    "then",
    "there",
    "here",
    "also",
    "only",
    "very",
    "well",
    "just",
    "like",
];

/// Fault decisions of one request (from the profile's rates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// Answer HTTP 500 instead of generating.
    pub http_error: bool,
    /// Close the connection (no `[DONE]`) after this many content tokens.
    pub disconnect_after: Option<usize>,
    /// Pause once after this many content tokens.
    pub stall_after: Option<usize>,
    /// Send `data: {"error":…}` then `[DONE]` after this many content tokens.
    pub error_after: Option<usize>,
}

/// The draws for one request.
#[derive(Debug)]
pub struct RequestPlan {
    /// Hex digits for the completion id (16 hex for vLLM, 32 for SGLang; take a prefix).
    pub id_hex: String,
    /// Tokens the engine will generate (≤ max_tokens).
    pub output_tokens: usize,
    /// True when the length was cut by `max_tokens` ("length"), false for a natural stop.
    pub hit_max_tokens: bool,
    pub faults: Faults,
    /// Source of the generated words; drawn lazily, one piece per token.
    pub text: TextGen,
}

/// splitmix64 finaliser: decorrelates seeds that differ in a few bits (seed + sequence number).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl RequestPlan {
    /// `seq` numbers accepted requests from 0 in arrival order.
    pub fn new(profile: &SimProfile, seq: u64, max_tokens: usize, ignore_eos: bool) -> Self {
        let base = mix(profile.seed ^ mix(seq));
        // Independent streams: how many fault draws happen never shifts the text.
        let mut meta = StdRng::seed_from_u64(base);
        let mut fault_rng = StdRng::seed_from_u64(mix(base ^ 1));
        let text = TextGen {
            rng: StdRng::seed_from_u64(mix(base ^ 2)),
            produced: 0,
        };

        let id_hex: String = (0..32)
            .map(|_| char::from_digit(meta.random_range(0..16u32), 16).unwrap_or('0'))
            .collect();
        let max_tokens = max_tokens.max(1);
        let stop_early = !ignore_eos && max_tokens > 1 && !meta.random_bool(LENGTH_SHARE);
        let output_tokens = if stop_early {
            meta.random_range(max_tokens.div_ceil(2)..max_tokens)
        } else {
            max_tokens
        };

        // Always draw every value, in a fixed order, so one rate never shifts another decision.
        let mut decide = |rate: f64| {
            let hit = fault_rng.random::<f64>() < rate;
            let at = fault_rng.random_range(0..output_tokens.max(1));
            (hit, at)
        };
        let (http_error, _) = decide(profile.error_rate);
        let (disconnect, disconnect_at) = decide(profile.disconnect_rate);
        let (stall, stall_at) = decide(profile.stall_rate);
        let (error, error_at) = decide(profile.midstream_error_rate);
        let faults = Faults {
            http_error,
            disconnect_after: disconnect.then_some(disconnect_at),
            stall_after: stall.then_some(stall_at),
            error_after: error.then_some(error_at),
        };

        Self {
            id_hex,
            output_tokens,
            hit_max_tokens: output_tokens == max_tokens,
            faults,
            text,
        }
    }

    /// "length" or "stop", as the servers report it.
    pub fn finish_reason(&self) -> &'static str {
        if self.hit_max_tokens {
            "length"
        } else {
            "stop"
        }
    }
}

/// Deterministic word pieces: `"The"`, `" model"`, `","`, …
#[derive(Debug)]
pub struct TextGen {
    rng: StdRng,
    produced: usize,
}

impl TextGen {
    pub fn next_piece(&mut self) -> String {
        let first = self.produced == 0;
        self.produced += 1;
        let roll = self.rng.random_range(0..100u32);
        if !first && roll < 6 {
            return ",".into();
        }
        if !first && roll < 10 {
            return ".".into();
        }
        let word = WORDS[self.rng.random_range(0..WORDS.len())];
        if first {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        } else {
            format!(" {word}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(plan: &mut RequestPlan, n: usize) -> String {
        (0..n).map(|_| plan.text.next_piece()).collect()
    }

    #[test]
    fn same_seed_and_sequence_number_same_plan() {
        let p = SimProfile::default();
        let mut a = RequestPlan::new(&p, 3, 64, false);
        let mut b = RequestPlan::new(&p, 3, 64, false);
        assert_eq!(a.id_hex, b.id_hex);
        assert_eq!(a.output_tokens, b.output_tokens);
        assert_eq!(text(&mut a, 20), text(&mut b, 20));
        let mut c = RequestPlan::new(&p, 4, 64, false);
        assert_ne!(text(&mut a, 20), text(&mut c, 20));
    }

    #[test]
    fn ignore_eos_gives_exactly_max_tokens() {
        let p = SimProfile::default();
        for seq in 0..50 {
            let plan = RequestPlan::new(&p, seq, 37, true);
            assert_eq!(plan.output_tokens, 37);
            assert_eq!(plan.finish_reason(), "length");
        }
    }

    #[test]
    fn natural_lengths_stay_within_max_and_mostly_reach_it() {
        let p = SimProfile::default();
        let plans: Vec<_> = (0..200)
            .map(|s| RequestPlan::new(&p, s, 64, false))
            .collect();
        assert!(plans.iter().all(|x| (32..=64).contains(&x.output_tokens)));
        let full = plans.iter().filter(|x| x.output_tokens == 64).count();
        assert!(
            (100..190).contains(&full),
            "{full} of 200 reached max_tokens"
        );
        assert!(plans
            .iter()
            .filter(|x| x.output_tokens < 64)
            .all(|x| x.finish_reason() == "stop"));
    }

    #[test]
    fn rates_one_and_zero_decide_every_fault() {
        let on = SimProfile {
            error_rate: 1.0,
            disconnect_rate: 1.0,
            stall_rate: 1.0,
            midstream_error_rate: 1.0,
            ..SimProfile::default()
        };
        let f = RequestPlan::new(&on, 0, 10, true).faults;
        assert!(f.http_error);
        assert!(f.disconnect_after.is_some_and(|k| k < 10));
        assert!(f.stall_after.is_some() && f.error_after.is_some());
        let off = RequestPlan::new(&SimProfile::default(), 0, 10, true).faults;
        assert_eq!(off, Faults::default());
    }

    #[test]
    fn fault_rates_do_not_change_the_text() {
        let mut a = RequestPlan::new(&SimProfile::default(), 5, 16, true);
        let noisy = SimProfile {
            stall_rate: 0.5,
            ..SimProfile::default()
        };
        let mut b = RequestPlan::new(&noisy, 5, 16, true);
        assert_eq!(text(&mut a, 16), text(&mut b, 16));
    }

    #[test]
    fn first_piece_is_capitalised_later_pieces_have_a_space() {
        let mut plan = RequestPlan::new(&SimProfile::default(), 0, 8, true);
        let first = plan.text.next_piece();
        assert!(first.chars().next().is_some_and(char::is_uppercase));
        for _ in 0..20 {
            let piece = plan.text.next_piece();
            assert!(
                piece.starts_with(' ') || piece == "," || piece == ".",
                "{piece:?}"
            );
        }
    }
}
