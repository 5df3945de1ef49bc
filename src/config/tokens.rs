//! The token-exact part of a workload (`workload.api`, `model.tokenizer`,
//! `requests.synthetic`, ShareGPT sources, `workload.trace`), validated from the raw config.
//!
//! Kept apart from `WorkloadSpec` so the rest of the config is untouched: validation checks it
//! (all problems at once, files parsed with file:line errors) and the run derives it again
//! from `Experiment::resolved`, which can then not fail.

use std::path::{Path, PathBuf};

use super::error::Issue;
use super::raw::{RawExperiment, RawOutputTokens, RawRequests};
use crate::tokens::synthetic::{LengthDist, RawLength, SyntheticSpec};
use crate::tokens::{sharegpt, trace};

/// Which OpenAI endpoint requests go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Api {
    #[default]
    Chat,
    Completions,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Chat => "chat",
            Api::Completions => "completions",
        }
    }
}

/// ShareGPT's output length.
#[derive(Debug, Clone, PartialEq)]
pub enum ShareGptOutput {
    /// `workload.parameters.max_tokens`, as for any prompt file.
    Params,
    /// The first reply's token length.
    FromDataset,
    Dist(LengthDist),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PromptSource {
    /// A JSONL prompt file (`requests.source`), as before.
    Prompts,
    Synthetic(SyntheticSpec),
    ShareGpt {
        path: PathBuf,
        output: ShareGptOutput,
        multi_turn: bool,
        max_input_tokens: Option<u32>,
        seed: u64,
    },
    Trace {
        file: PathBuf,
        time_scale: f64,
        block_size: u32,
        seed: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenWorkload {
    pub api: Api,
    /// `model.tokenizer` (a path when it was one, resolved against the config file).
    pub tokenizer: Option<PathBuf>,
    pub model_name: String,
    pub source: PromptSource,
    /// The model context when known (`framework_options.max_model_len`).
    pub context: Option<u32>,
}

impl TokenWorkload {
    /// Whether exact token lengths are asked (and so a tokenizer is needed).
    pub fn needs_tokenizer(&self) -> bool {
        match &self.source {
            PromptSource::Prompts => false,
            PromptSource::Synthetic(_) | PromptSource::Trace { .. } => true,
            PromptSource::ShareGpt {
                output,
                max_input_tokens,
                ..
            } => *output == ShareGptOutput::FromDataset || max_input_tokens.is_some(),
        }
    }

    /// Whether the default (plain prompt file) path applies: nothing token-specific set.
    pub fn is_plain(&self) -> bool {
        self.api == Api::Chat && self.source == PromptSource::Prompts
    }
}

const DEFAULT_SEED: u64 = 0;

/// Derive (and check) the token workload; problems go to `issues` with their field paths.
pub fn token_workload(raw: &RawExperiment, issues: &mut Vec<Issue>) -> TokenWorkload {
    let workload = raw.workload.clone().unwrap_or_default();
    let requests = workload.requests.clone().unwrap_or_default();
    let api = match workload.api.as_deref() {
        None | Some("chat") => Api::Chat,
        Some("completions") => Api::Completions,
        Some(other) => {
            issues.push(Issue::new(
                "workload.api",
                format!("unknown api '{other}'; use chat or completions"),
            ));
            Api::Chat
        }
    };
    let model = raw.model.clone().unwrap_or_default();
    let context = raw.framework_options.as_ref().and_then(|f| f.max_model_len);
    let is_trace = workload.kind.as_deref() == Some("trace");
    let mut push = |path: &str, msg: String| issues.push(Issue::new(path, msg));
    let source = if is_trace {
        trace_source(&workload.trace, context, &mut push)
    } else if let Some(syn) = &requests.synthetic {
        if workload.trace.is_some() {
            push(
                "workload.trace",
                "only used with workload.type: trace".into(),
            );
        }
        synthetic_source(syn, context, &mut push)
    } else {
        if workload.trace.is_some() {
            push(
                "workload.trace",
                "only used with workload.type: trace".into(),
            );
        }
        sharegpt_source(&requests, &mut push)
    };
    let conversations = workload.kind.as_deref() == Some("multi_turn");
    if conversations && (api == Api::Completions || source != PromptSource::Prompts) {
        push(
            "workload.type",
            "multi_turn sends chat conversations from a prompt file; for ShareGPT \
             conversations use requests.multi_turn: true with single, batch or concurrent"
                .into(),
        );
    }
    TokenWorkload {
        api,
        tokenizer: model.tokenizer.as_deref().map(PathBuf::from),
        model_name: model.name.unwrap_or_default(),
        source,
        context,
    }
}

/// Whether `requests.source` is a ShareGPT file (by `format` or by its shape).
pub fn is_sharegpt(requests: &RawRequests) -> bool {
    match requests.format.as_deref() {
        Some("sharegpt") => true,
        Some(_) => false,
        // Only the head is read, through the bounded reader (a device is refused at once).
        None => requests.source.as_deref().is_some_and(|s| {
            use std::io::Read;
            let mut head = Vec::new();
            crate::input_file::open(std::path::Path::new(s))
                .and_then(|r| r.take(8192).read_to_end(&mut head))
                .is_ok_and(|_| sharegpt::looks_like_sharegpt(&String::from_utf8_lossy(&head)))
        }),
    }
}

fn synthetic_source(
    syn: &super::raw::RawSynthetic,
    context: Option<u32>,
    push: &mut dyn FnMut(&str, String),
) -> PromptSource {
    let at = "workload.requests.synthetic";
    let mut found = Vec::new();
    let input = required_length(
        syn.input_tokens.as_ref(),
        &format!("{at}.input_tokens"),
        &mut found,
    );
    let output = required_length(
        syn.output_tokens.as_ref(),
        &format!("{at}.output_tokens"),
        &mut found,
    );
    let prefix_tokens = at_least(
        syn.prefix_tokens,
        0,
        &format!("{at}.prefix_tokens"),
        &mut found,
    );
    let num_prefixes = at_least(
        syn.num_prefixes,
        1,
        &format!("{at}.num_prefixes"),
        &mut found,
    );
    for (path, msg) in found {
        push(&path, msg);
    }
    let (Some(input), Some(output)) = (input, output) else {
        return PromptSource::Prompts;
    };
    let prefix_tokens = prefix_tokens.unwrap_or(0);
    check_synthetic_fits(&input, &output, prefix_tokens, context, push);
    PromptSource::Synthetic(SyntheticSpec {
        input,
        output,
        prefix_tokens,
        num_prefixes: num_prefixes.unwrap_or(1),
        seed: syn.seed.unwrap_or(DEFAULT_SEED),
    })
}

/// A required length (a number or a distribution) at `path`.
fn required_length(
    raw: Option<&RawLength>,
    path: &str,
    found: &mut Vec<(String, String)>,
) -> Option<LengthDist> {
    match raw {
        Some(raw) => LengthDist::from_raw(raw, path, found),
        None => {
            found.push((
                path.to_string(),
                "required (a number or a distribution)".into(),
            ));
            None
        }
    }
}

/// An optional whole number ≥ `min` at `path` (None when absent or out of range).
fn at_least(
    value: Option<i64>,
    min: i64,
    path: &str,
    found: &mut Vec<(String, String)>,
) -> Option<u32> {
    match value {
        None => None,
        Some(n) if (min..=i64::from(u32::MAX)).contains(&n) => Some(n as u32),
        Some(n) => {
            found.push((path.to_string(), format!("must be ≥ {min}, got {n}")));
            None
        }
    }
}

/// The shared prefix fits the shortest input; the longest input and output fit the context.
fn check_synthetic_fits(
    input: &LengthDist,
    output: &LengthDist,
    prefix_tokens: u32,
    context: Option<u32>,
    push: &mut dyn FnMut(&str, String),
) {
    let at = "workload.requests.synthetic";
    if prefix_tokens > input.min() {
        push(
            &format!("{at}.prefix_tokens"),
            format!(
                "the shared prefix ({prefix_tokens} tokens) is longer than the shortest input \
                 ({} tokens); lower prefix_tokens or raise input_tokens.min",
                input.min()
            ),
        );
    }
    if let Some(ctx) = context {
        if u64::from(input.max()) + u64::from(output.max()) > u64::from(ctx) {
            push(
                &format!("{at}.input_tokens"),
                format!(
                    "the longest input ({}) plus the longest output ({}) exceeds the model \
                     context framework_options.max_model_len = {ctx}",
                    input.max(),
                    output.max()
                ),
            );
        }
    }
}

fn sharegpt_source(requests: &RawRequests, push: &mut dyn FnMut(&str, String)) -> PromptSource {
    let sharegpt = is_sharegpt(requests);
    if let Some(f) = requests.format.as_deref() {
        if !matches!(f, "sharegpt" | "jsonl") {
            push(
                "workload.requests.format",
                format!("unknown format '{f}'; use jsonl or sharegpt"),
            );
        }
    }
    if !sharegpt {
        for (set, field) in [
            (requests.output_tokens.is_some(), "output_tokens"),
            (requests.multi_turn.is_some(), "multi_turn"),
            (requests.max_input_tokens.is_some(), "max_input_tokens"),
        ] {
            if set {
                push(
                    &format!("workload.requests.{field}"),
                    "only used with a ShareGPT source (format: sharegpt) or synthetic prompts"
                        .into(),
                );
            }
        }
        return PromptSource::Prompts;
    }
    let Some(path) = requests.source.as_deref() else {
        return PromptSource::Prompts; // the missing source is reported by the workload check
    };
    if let Err(e) = sharegpt::load(Path::new(path)) {
        push("workload.requests.source", e.to_string());
    }
    let output = sharegpt_output(requests.output_tokens.as_ref(), push);
    let mut found = Vec::new();
    let max_input_tokens = at_least(
        requests.max_input_tokens,
        1,
        "workload.requests.max_input_tokens",
        &mut found,
    );
    for (p, m) in found {
        push(&p, m);
    }
    PromptSource::ShareGpt {
        path: PathBuf::from(path),
        output,
        multi_turn: requests.multi_turn.unwrap_or(false),
        max_input_tokens,
        seed: DEFAULT_SEED,
    }
}

/// `output_tokens` of a ShareGPT source: the request parameters, the dataset's replies, or
/// a length distribution.
fn sharegpt_output(
    raw: Option<&RawOutputTokens>,
    push: &mut dyn FnMut(&str, String),
) -> ShareGptOutput {
    match raw {
        None => ShareGptOutput::Params,
        Some(RawOutputTokens::Word(w)) if w == "from_dataset" => ShareGptOutput::FromDataset,
        Some(RawOutputTokens::Word(w)) => {
            push(
                "workload.requests.output_tokens",
                format!("unknown value '{w}'; use from_dataset, a number or a distribution"),
            );
            ShareGptOutput::Params
        }
        Some(RawOutputTokens::Length(raw)) => {
            let mut found = Vec::new();
            let d = LengthDist::from_raw(raw, "workload.requests.output_tokens", &mut found);
            for (p, m) in found {
                push(&p, m);
            }
            d.map_or(ShareGptOutput::Params, ShareGptOutput::Dist)
        }
    }
}

fn trace_source(
    raw: &Option<super::raw::RawTrace>,
    context: Option<u32>,
    push: &mut dyn FnMut(&str, String),
) -> PromptSource {
    let Some(raw) = raw else {
        push(
            "workload.trace",
            "required when workload.type is 'trace' ({file: trace.jsonl, format: mooncake})".into(),
        );
        return PromptSource::Prompts;
    };
    if let Some(f) = raw.format.as_deref().filter(|f| *f != "mooncake") {
        push(
            "workload.trace.format",
            format!("unknown format '{f}'; use mooncake"),
        );
    }
    let time_scale = raw.time_scale.unwrap_or(1.0);
    if !(time_scale.is_finite() && time_scale > 0.0) {
        push(
            "workload.trace.time_scale",
            format!("must be > 0, got {time_scale}"),
        );
    }
    let block_size = match raw.block_size {
        None => 512,
        Some(n) if (1..=i64::from(u32::MAX)).contains(&n) => n as u32,
        Some(n) => {
            push("workload.trace.block_size", format!("must be ≥ 1, got {n}"));
            512
        }
    };
    let Some(file) = raw.file.as_deref().filter(|f| !f.trim().is_empty()) else {
        push(
            "workload.trace.file",
            "required (a Mooncake-format JSONL trace)".into(),
        );
        return PromptSource::Prompts;
    };
    match trace::load(Path::new(file)) {
        Err(e) => push("workload.trace.file", e.to_string()),
        Ok(t) => {
            for (line, msg) in t.length_issues(block_size, context) {
                push("workload.trace.file", format!("{file}:{line}: {msg}"));
            }
        }
    }
    PromptSource::Trace {
        file: PathBuf::from(file),
        time_scale,
        block_size,
        seed: raw.seed.unwrap_or(DEFAULT_SEED),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{Fixture, DELETE};
    use crate::config::WorkloadKind;

    const SYN: &str =
        "{input_tokens: {dist: uniform, min: 10, max: 50}, output_tokens: 8, prefix_tokens: 20}";

    fn message(fx: &Fixture, edits: &[(&str, &str)]) -> String {
        fx.load_with(edits).unwrap_err().to_string()
    }

    #[test]
    fn synthetic_prompts_need_no_source_and_a_long_prefix_is_named() {
        let fx = Fixture::new();
        let base = [
            ("workload.requests.source", DELETE),
            ("workload.api", "completions"),
        ];
        let ok = [
            base[0],
            base[1],
            (
                "workload.requests.synthetic",
                "{input_tokens: 64, output_tokens: 8}",
            ),
        ];
        assert!(fx.load_with(&ok).is_ok());
        let bad = [base[0], base[1], ("workload.requests.synthetic", SYN)];
        assert_eq!(
            fx.issue_paths(&bad),
            vec!["workload.requests.synthetic.prefix_tokens"]
        );
        let too_long = [
            base[0],
            (
                "workload.requests.synthetic",
                "{input_tokens: 90, output_tokens: 20}",
            ),
            ("framework_options.max_model_len", "100"),
        ];
        assert!(message(&fx, &too_long).contains("exceeds the model context"));
        let bad_api = [("workload.api", "generate")];
        assert_eq!(fx.issue_paths(&bad_api), vec!["workload.api"]);
        let conv = [
            ("workload.type", "multi_turn"),
            ("workload.conversation", "{turns: 1}"),
            ("workload.api", "completions"),
        ];
        assert_eq!(fx.issue_paths(&conv), vec!["workload.type"]);
    }

    #[test]
    fn a_bad_trace_line_is_named_by_file_and_line_at_validation() {
        let fx = Fixture::new();
        fx.write(
            "t.jsonl",
            "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [1]}\n\
             {\"timestamp\": -3, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [1]}\n",
        );
        let edits = [
            ("workload.type", "trace"),
            ("workload.requests", DELETE),
            ("workload.trace", "{file: t.jsonl, block_size: 16}"),
        ];
        let text = message(&fx, &edits);
        assert!(
            text.contains("t.jsonl:2: 'timestamp' must be ≥ 0"),
            "{text}"
        );
        fx.write(
            "t.jsonl",
            "{\"timestamp\": 5, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [1]}\n",
        );
        let e = fx.load_with(&edits).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.workload.kind, WorkloadKind::Trace);
        assert_eq!(e.workload.count, 1);
    }

    #[test]
    fn a_sharegpt_file_without_a_human_turn_is_reported_at_validation() {
        let fx = Fixture::new();
        fx.write(
            "s.json",
            "[\n{\"conversations\": [{\"from\": \"gpt\", \"value\": \"hello\"}]}\n]",
        );
        let edits = [
            ("workload.requests.source", "s.json"),
            ("workload.requests.output_tokens", "from_dataset"),
        ];
        let text = message(&fx, &edits);
        assert!(
            text.contains("s.json:2: conversation 0: has no human turn"),
            "{text}"
        );
    }
}
