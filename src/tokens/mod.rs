//! Token-exact workloads: the model's tokenizer, synthetic prompts of exact lengths, ShareGPT
//! conversations and Mooncake trace replay. Nothing here is loaded unless a config asks for
//! exact lengths (`requests.synthetic`, ShareGPT lengths, `type: trace`).

pub mod plan;
pub mod sharegpt;
pub mod synthetic;
pub mod tokenizer;
pub mod trace;

pub use tokenizer::{TextTokenizer, TokenizerError, TokenizerSource};

/// The test tokenizer: the real-vLLM tiny model's byte-level BPE (vocab 2048), committed as a
/// fixture by `scripts/make_tiny_tokenizer.py`. Loaded once per test binary.
#[cfg(test)]
pub(crate) fn test_tokenizer() -> TextTokenizer {
    static TOK: std::sync::OnceLock<TextTokenizer> = std::sync::OnceLock::new();
    TOK.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tiny-tokenizer/tokenizer.json");
        match TextTokenizer::from_file(&path) {
            Ok(t) => t,
            Err(e) => panic!("test tokenizer: {e}"),
        }
    })
    .clone()
}
