//! Turn a validated token workload into prepared requests: synthetic prompts, ShareGPT
//! conversations or a replayed trace, each with the lengths it asks for.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::synthetic;
use super::tokenizer::{self, TextTokenizer, TokenizerError};
use super::{sharegpt, trace};
use crate::config::tokens::{Api, PromptSource, ShareGptOutput, TokenWorkload};
use crate::metrics::tokens::TokenSummary;
use crate::runners::{ChatMessage, Prompt};
use crate::workloads::PlannedRequest;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
    #[error(transparent)]
    ShareGpt(#[from] sharegpt::ShareGptError),
    #[error("{0}")]
    Invalid(String),
}

/// The prepared requests and what the report needs to know about them.
#[derive(Debug)]
pub struct TokenPlan {
    pub requests: Vec<PlannedRequest>,
    /// Trace replay: send offsets from the start, one per request.
    pub offsets: Option<Vec<Duration>>,
    /// The report's fixed parts (api, skipped prompts, ideal block reuse).
    pub summary: TokenSummary,
    /// Said to the user before the run (e.g. an unsorted trace).
    pub warnings: Vec<String>,
    /// Chat with exact lengths: measure the template's overhead with one extra request.
    pub measure_chat_overhead: bool,
}

/// Load the tokenizer if the workload needs one (it may download `tokenizer.json`).
pub async fn load_tokenizer(tw: &TokenWorkload) -> Result<Option<TextTokenizer>, TokenizerError> {
    if !tw.needs_tokenizer() {
        return Ok(None);
    }
    let source = tokenizer::locate(tw.tokenizer.as_deref(), &tw.model_name)?;
    tokenizer::load(&source).await.map(Some)
}

/// Build the requests (`count` of them; a trace sends at most its own lines).
pub fn build(
    tw: &TokenWorkload,
    tok: Option<&TextTokenizer>,
    count: usize,
) -> Result<TokenPlan, PlanError> {
    let need = || {
        tok.ok_or_else(|| {
            PlanError::Invalid("exact token lengths need the model's tokenizer".into())
        })
    };
    let mut plan = TokenPlan {
        requests: Vec::new(),
        offsets: None,
        summary: TokenSummary {
            api: tw.api.as_str().to_string(),
            ..TokenSummary::default()
        },
        warnings: Vec::new(),
        measure_chat_overhead: false,
    };
    match &tw.source {
        PromptSource::Prompts => {
            return Err(PlanError::Invalid(
                "a prompt file is not a token-exact source".into(),
            ))
        }
        PromptSource::Synthetic(spec) => {
            let tok = need()?;
            for p in synthetic::generate(tok, spec, count)? {
                plan.requests
                    .push(exact(tw.api, tok, p.ids, Some(p.text), p.output_tokens)?);
            }
        }
        PromptSource::ShareGpt { .. } => sharegpt_requests(tw, tok, count, &mut plan)?,
        PromptSource::Trace { .. } => trace_requests(tw, need()?, count, &mut plan)?,
    }
    plan.measure_chat_overhead = tw.api == Api::Chat
        && plan
            .requests
            .iter()
            .any(|r| r.requested_input_tokens.is_some());
    Ok(plan)
}

/// ShareGPT conversations (each turn a request with its history when `multi_turn`), cycled
/// to `count` requests; prompts over `max_input_tokens` are skipped and counted.
fn sharegpt_requests(
    tw: &TokenWorkload,
    tok: Option<&TextTokenizer>,
    count: usize,
    plan: &mut TokenPlan,
) -> Result<(), PlanError> {
    let PromptSource::ShareGpt {
        path,
        output,
        multi_turn,
        max_input_tokens,
        seed,
    } = &tw.source
    else {
        return Ok(());
    };
    let convs = sharegpt::load(path)?;
    let mut rng = StdRng::seed_from_u64(*seed);
    let mut skipped = 0usize;
    let mut eligible: Vec<PlannedRequest> = Vec::new();
    for conv in &convs {
        let mut history: Vec<ChatMessage> = Vec::new();
        let turns = if *multi_turn { conv.turns.len() } else { 1 };
        for (human, reply) in conv.turns.iter().take(turns) {
            history.push(ChatMessage::new("user", human.clone()));
            let request = sharegpt_request(
                tw.api,
                tok,
                &history,
                reply.as_deref(),
                output,
                *max_input_tokens,
                &mut rng,
            )?;
            match request {
                Some(r) => eligible.push(r),
                None => skipped += 1,
            }
            if let Some(reply) = reply {
                history.push(ChatMessage::new("assistant", reply.clone()));
            }
        }
    }
    if max_input_tokens.is_some() {
        plan.summary.skipped_too_long = Some(skipped);
    }
    if eligible.is_empty() {
        return Err(PlanError::Invalid(format!(
            "{}: every prompt is longer than max_input_tokens ({skipped} skipped)",
            path.display()
        )));
    }
    plan.requests = (0..count)
        .map(|i| eligible[i % eligible.len()].clone())
        .collect();
    Ok(())
}

/// A Mooncake trace's first `count` requests with exact prompts built from its hash ids,
/// and their send offsets.
fn trace_requests(
    tw: &TokenWorkload,
    tok: &TextTokenizer,
    count: usize,
    plan: &mut TokenPlan,
) -> Result<(), PlanError> {
    let PromptSource::Trace {
        file,
        time_scale,
        block_size,
        seed,
    } = &tw.source
    else {
        return Ok(());
    };
    let mut t = trace::load(file)?;
    if t.was_unsorted {
        plan.warnings.push(format!(
            "{}: timestamps are not in order; the requests were sorted by timestamp",
            file.display()
        ));
    }
    t.entries.truncate(count);
    plan.summary.ideal_block_reuse_ratio = Some(t.ideal_reuse_ratio(*block_size));
    let prompts = trace::build_prompts(tok, &t, *block_size, *seed)?;
    for (e, ids) in t.entries.iter().zip(prompts) {
        plan.requests
            .push(exact(tw.api, tok, ids, None, e.output_length)?);
    }
    plan.offsets = Some(t.offsets(*time_scale));
    Ok(())
}

/// A request of exactly `ids`: token ids for completions, the decoded text for chat.
fn exact(
    api: Api,
    tok: &TextTokenizer,
    ids: Vec<u32>,
    text: Option<String>,
    output: u32,
) -> Result<PlannedRequest, TokenizerError> {
    let input = ids.len() as u64;
    let prompt = match api {
        Api::Completions => Prompt::Tokens(ids),
        Api::Chat => {
            let text = match text {
                Some(t) => t,
                None => tok.decode(&ids)?,
            };
            Prompt::Chat(vec![ChatMessage::new("user", text)])
        }
    };
    Ok(PlannedRequest {
        prompt,
        max_tokens: Some(output),
        requested_input_tokens: Some(input),
        requested_output_tokens: Some(u64::from(output)),
    })
}

/// One ShareGPT request; `None` when longer than `max_input_tokens`.
fn sharegpt_request(
    api: Api,
    tok: Option<&TextTokenizer>,
    history: &[ChatMessage],
    reply: Option<&str>,
    output: &ShareGptOutput,
    max_input: Option<u32>,
    rng: &mut StdRng,
) -> Result<Option<PlannedRequest>, TokenizerError> {
    let text: String = history
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let ids = match tok {
        Some(t) => Some(t.encode(&text)?),
        None => None,
    };
    if let (Some(max), Some(ids)) = (max_input, &ids) {
        if ids.len() > max as usize {
            return Ok(None);
        }
    }
    let max_tokens = match (output, tok) {
        (ShareGptOutput::Params, _) => None,
        (ShareGptOutput::Dist(d), _) => Some(d.sample(rng)),
        (ShareGptOutput::FromDataset, Some(t)) => match reply {
            Some(r) => Some(t.count(r)?.max(1) as u32),
            None => None,
        },
        (ShareGptOutput::FromDataset, None) => None,
    };
    let prompt = match (api, ids.clone()) {
        (Api::Completions, Some(ids)) => Prompt::Tokens(ids),
        (Api::Completions, None) => Prompt::Text(text),
        (Api::Chat, _) => Prompt::Chat(history.to_vec()),
    };
    // The input is exact for ids; for chat only single-turn prompts map to one message.
    let requested_input = match (&prompt, &ids) {
        (Prompt::Tokens(_), Some(ids)) => Some(ids.len() as u64),
        (Prompt::Chat(m), Some(ids)) if m.len() == 1 => Some(ids.len() as u64),
        _ => None,
    };
    Ok(Some(PlannedRequest {
        prompt,
        max_tokens,
        requested_input_tokens: requested_input,
        requested_output_tokens: max_tokens.map(u64::from),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::test_tokenizer;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn tw(api: Api, source: PromptSource) -> TokenWorkload {
        TokenWorkload {
            api,
            tokenizer: None,
            model_name: "m".into(),
            source,
            context: None,
        }
    }

    #[test]
    fn a_trace_plan_has_sorted_offsets_exact_ids_and_the_ideal_ratio() {
        let tok = test_tokenizer();
        let source = PromptSource::Trace {
            file: fixture("traces/mooncake-small.jsonl"),
            time_scale: 0.5,
            block_size: 64,
            seed: 0,
        };
        let plan = build(&tw(Api::Completions, source), Some(&tok), 10).unwrap();
        assert_eq!(plan.requests.len(), 10);
        let offsets = plan.offsets.unwrap();
        assert_eq!(offsets[0], Duration::ZERO);
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
        for r in &plan.requests {
            let Prompt::Tokens(ids) = &r.prompt else {
                panic!()
            };
            assert_eq!(Some(ids.len() as u64), r.requested_input_tokens);
        }
        assert!(plan.summary.ideal_block_reuse_ratio.unwrap() > 0.0);
        assert!(!plan.measure_chat_overhead);
    }

    #[test]
    fn sharegpt_takes_reply_lengths_and_skips_long_prompts() {
        let tok = test_tokenizer();
        let source = PromptSource::ShareGpt {
            path: fixture("sharegpt-small.json"),
            output: ShareGptOutput::FromDataset,
            multi_turn: false,
            max_input_tokens: Some(20),
            seed: 0,
        };
        let plan = build(&tw(Api::Chat, source), Some(&tok), 6).unwrap();
        assert_eq!(plan.summary.skipped_too_long, Some(1));
        assert_eq!(plan.requests.len(), 6);
        let first = &plan.requests[0];
        let reply = "The quick brown fox is a phrase that jumps over the lazy dog in a story about a river and a mountain city.";
        assert_eq!(first.max_tokens, Some(tok.count(reply).unwrap() as u32));
        assert!(plan.measure_chat_overhead);
        // multi_turn replays every human turn, with the history before it.
        let source = PromptSource::ShareGpt {
            path: fixture("sharegpt-small.json"),
            output: ShareGptOutput::Params,
            multi_turn: true,
            max_input_tokens: None,
            seed: 0,
        };
        let plan = build(&tw(Api::Chat, source), None, 5).unwrap();
        let Prompt::Chat(m) = &plan.requests[1].prompt else {
            panic!()
        };
        assert_eq!(m.len(), 3);
        assert_eq!(m[2].content, "Please write a story about a cat.");
    }
}
