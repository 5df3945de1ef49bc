//! Counting with a real tokenizer (`model.tokenizer`), so token-exact workloads run on the
//! simulator with the lengths a real server would count.
//!
//! Chat prompts are rendered with the real-vLLM tiny model's template
//! (`<s><|role|>\ncontent<|end|>\n…<|assistant|>\n`) and encoded whole, as a server does.

use crate::tokens::TextTokenizer;

pub fn chat_prompt_ids<'a>(
    tok: &TextTokenizer,
    messages: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<u64>, String> {
    let mut text = String::from("<s>");
    for (role, content) in messages {
        text.push_str(&format!("<|{role}|>\n{content}<|end|>\n"));
    }
    text.push_str("<|assistant|>\n");
    text_ids(tok, &text)
}

pub fn text_ids(tok: &TextTokenizer, text: &str) -> Result<Vec<u64>, String> {
    tok.encode(text)
        .map(|ids| ids.into_iter().map(u64::from).collect())
        .map_err(|e| format!("cannot tokenize the prompt: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::test_tokenizer;

    #[test]
    fn the_template_overhead_is_constant_for_word_content() {
        let tok = test_tokenizer();
        let empty = chat_prompt_ids(&tok, [("user", "")].into_iter())
            .unwrap()
            .len();
        let text = "hello world the quick brown fox";
        let content = tok.count(text).unwrap();
        let full = chat_prompt_ids(&tok, [("user", text)].into_iter())
            .unwrap()
            .len();
        assert_eq!(full, empty + content);
        assert!(empty > 0);
    }
}
