//! The stream core on SGLang 0.5.23's real streams (tests/fixtures/protocols): several tokens
//! per chunk, counted from the running usage when asked for, unknown otherwise.

use std::convert::Infallible;

use super::*;

fn capture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/protocols")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn read(bytes: Vec<u8>, count_chunk_tokens: bool) -> StreamReading {
    let sent = Instant::now();
    let mut k = 0;
    let clock = move || {
        k += 1;
        sent + Duration::from_millis(k)
    };
    // Split into 7-byte pieces so events straddle reads.
    let pieces: Vec<Vec<u8>> = bytes.chunks(7).map(<[u8]>::to_vec).collect();
    let stream = futures_util::stream::iter(pieces.into_iter().map(Ok::<_, Infallible>));
    let opts = ReadOptions {
        idle_read: Duration::from_secs(120),
        keep_reply: false,
        capacity_hint: 32,
        count_chunk_tokens,
    };
    read_stream(stream, sent, opts, &CancellationToken::new(), clock).await
}

#[tokio::test]
async fn continuous_usage_gives_the_tokens_of_every_chunk() {
    let r = read(
        capture("sglang-0.5.23-cpu-chat-stream-continuous-usage.txt"),
        true,
    )
    .await;
    assert_eq!(r.error, None);
    assert_eq!(r.usage.and_then(|u| u.completion_tokens), Some(32));
    // 32 tokens in 27 text chunks: five chunks carried two.
    assert_eq!(r.token_offsets_us.len(), 27);
    assert_eq!(r.chunk_tokens.len(), 27);
    assert_eq!(r.chunk_tokens.iter().sum::<u32>(), 32);
    assert_eq!(&r.chunk_tokens[..4], &[1, 2, 2, 1]);
    assert_eq!(r.chunk_tokens.iter().filter(|&&n| n == 2).count(), 5);
}

#[tokio::test]
async fn without_continuous_usage_the_counts_are_unknown_not_guessed() {
    // The plain capture: usage only at the end. Tokens still come from it.
    let r = read(capture("sglang-0.5.23-cpu-chat-stream.txt"), true).await;
    assert_eq!(r.error, None);
    assert_eq!(r.token_offsets_us.len(), 28);
    assert_eq!(r.usage.and_then(|u| u.completion_tokens), Some(32));
    assert!(r.chunk_tokens.is_empty());
    // Not asked for: nothing recorded even when the server sends it.
    let r = read(
        capture("sglang-0.5.23-cpu-chat-stream-continuous-usage.txt"),
        false,
    )
    .await;
    assert!(r.chunk_tokens.is_empty());
}

#[tokio::test]
async fn a_count_going_backwards_or_missing_makes_the_list_unknown() {
    let chunk = |text: &str, usage: Option<u64>| {
        let usage = usage.map_or(String::new(), |n| {
            format!(r#","usage":{{"prompt_tokens":3,"completion_tokens":{n}}}"#)
        });
        format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}]{usage}}}\n\n"
        )
    };
    let done = "data: [DONE]\n\n";
    let back = [chunk("a", Some(2)), chunk("b", Some(1)), done.into()].concat();
    assert!(read(back.into_bytes(), true).await.chunk_tokens.is_empty());
    let gap = [
        chunk("a", Some(1)),
        chunk("b", None),
        chunk("c", Some(3)),
        done.into(),
    ]
    .concat();
    let r = read(gap.into_bytes(), true).await;
    assert!(r.chunk_tokens.is_empty());
    assert_eq!(r.token_offsets_us.len(), 3);
    let ok = [chunk("a", Some(1)), chunk("b", Some(4)), done.into()].concat();
    assert_eq!(read(ok.into_bytes(), true).await.chunk_tokens, vec![1, 3]);
}
