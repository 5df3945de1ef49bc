//! A deterministic approximate tokenizer: enough to give prompts realistic token counts and
//! stable token ids for prefix-cache block hashing, without shipping a vocabulary.
//!
//! Rules, roughly what a BPE tokenizer does to English text:
//! - whitespace attaches to the word after it (`" hello"` is one piece, as in GPT-style BPE);
//! - a run of letters/digits is split every 5 characters (long words cost several tokens);
//! - every other character (punctuation, symbols) is a piece of its own;
//! - a newline is a piece of its own.
//!
//! A chat prompt is rendered like a ChatML template: each message costs its content tokens plus
//! [`MESSAGE_OVERHEAD`] (`<|im_start|>`, role, `\n`, `<|im_end|>`), and the generation prompt
//! adds [`GENERATION_PROMPT`] tokens (`<|im_start|>`, `assistant`, `\n`).

/// Template tokens around each message.
pub const MESSAGE_OVERHEAD: usize = 4;
/// Template tokens that open the assistant's reply.
pub const GENERATION_PROMPT: usize = 3;

/// Letters/digits per token inside a long word.
const CHARS_PER_PIECE: usize = 5;

/// FNV-1a: a tiny stable hash (std's `DefaultHasher` is not guaranteed stable).
pub fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut hash = seed ^ 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn piece_id(piece: &str) -> u64 {
    fnv1a(0, piece.as_bytes())
}

/// Token ids of plain text under the rules in the module docs.
pub fn tokenize(text: &str, out: &mut Vec<u64>) {
    let mut piece = String::new();
    let mut word_chars = 0usize;
    let flush = |piece: &mut String, out: &mut Vec<u64>| {
        if !piece.is_empty() {
            out.push(piece_id(piece));
            piece.clear();
        }
    };
    for c in text.chars() {
        if c == '\n' {
            flush(&mut piece, out);
            word_chars = 0;
            out.push(piece_id("\n"));
        } else if c.is_whitespace() {
            // Leading space of the next word; a run of spaces collapses into one piece.
            if word_chars > 0 || !piece.chars().all(char::is_whitespace) {
                flush(&mut piece, out);
            }
            word_chars = 0;
            piece.push(c);
        } else if c.is_alphanumeric() {
            if word_chars == CHARS_PER_PIECE {
                flush(&mut piece, out);
                word_chars = 0;
            }
            piece.push(c);
            word_chars += 1;
        } else {
            if word_chars > 0 {
                flush(&mut piece, out);
            }
            // A space before punctuation rides with it, like " (".
            piece.push(c);
            flush(&mut piece, out);
            word_chars = 0;
        }
    }
    flush(&mut piece, out);
}

/// Number of tokens of plain text.
pub fn count_tokens(text: &str) -> usize {
    let mut ids = Vec::new();
    tokenize(text, &mut ids);
    ids.len()
}

/// Token ids of a chat prompt: `(role, content)` pairs rendered with the template above.
pub fn chat_prompt_tokens<'a>(messages: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u64> {
    let start = piece_id("<|im_start|>");
    let end = piece_id("<|im_end|>");
    let newline = piece_id("\n");
    let mut ids = Vec::new();
    for (role, content) in messages {
        ids.extend([start, piece_id(role), newline]);
        tokenize(content, &mut ids);
        ids.push(end);
    }
    ids.extend([start, piece_id("assistant"), newline]);
    ids
}

/// Chained hashes of the prompt's full blocks: block `i`'s hash covers blocks `0..=i`, so two
/// prompts share a block hash only when they share the whole prefix up to it.
pub fn block_hashes(tokens: &[u64], block_size: usize) -> Vec<u64> {
    let mut parent = 0u64;
    tokens
        .chunks_exact(block_size.max(1))
        .map(|block| {
            let mut bytes = Vec::with_capacity(block.len() * 8);
            for t in block {
                bytes.extend_from_slice(&t.to_le_bytes());
            }
            parent = fnv1a(parent, &bytes);
            parent
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_punctuation_and_long_words() {
        // "Hello" | "," | " world" | "!"
        assert_eq!(count_tokens("Hello, world!"), 4);
        // "An" | " extra" "ordin" "ary"
        assert_eq!(count_tokens("An extraordinary"), 4);
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("a\nb"), 3);
        assert_eq!(count_tokens("a    b"), 2);
    }

    #[test]
    fn tokenizing_is_deterministic_and_space_sensitive() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        tokenize("the cat sat", &mut a);
        tokenize("the cat sat", &mut b);
        assert_eq!(a, b);
        let mut c = Vec::new();
        tokenize("thecat sat", &mut c);
        assert_ne!(a, c);
    }

    #[test]
    fn chat_prompt_adds_template_overhead() {
        let ids = chat_prompt_tokens([("system", "Be brief."), ("user", "Hi")]);
        let content = count_tokens("Be brief.") + count_tokens("Hi");
        assert_eq!(
            ids.len(),
            content + 2 * MESSAGE_OVERHEAD + GENERATION_PROMPT
        );
    }

    #[test]
    fn block_hashes_match_only_true_prefixes() {
        let a: Vec<u64> = (0..48).collect();
        let mut b = a.clone();
        b[0] = 999; // differs in the first block only
        let ha = block_hashes(&a, 16);
        let hb = block_hashes(&b, 16);
        assert_eq!(ha.len(), 3);
        // Blocks 1 and 2 hold identical tokens but a different prefix: no match anywhere.
        assert!(ha.iter().all(|h| !hb.contains(h)));
        let mut c = a.clone();
        c[40] = 7; // differs in the last block
        let hc = block_hashes(&c, 16);
        assert_eq!(ha[..2], hc[..2]);
        assert_ne!(ha[2], hc[2]);
        // A partial tail block is not hashed.
        assert_eq!(block_hashes(&a[..47], 16).len(), 2);
    }
}
