//! The stream core fed real captures, split by hand in every awkward place.

use std::convert::Infallible;

use futures_util::StreamExt;

use super::*;
use crate::runners::test_fixtures::protocol_fixture;

fn opts(keep_reply: bool) -> ReadOptions {
    ReadOptions {
        idle_read: Duration::from_secs(120),
        keep_reply,
        capacity_hint: 16,
        count_chunk_tokens: true,
    }
}

/// A clock that advances exactly 1 ms per call, so offsets name the event's position.
fn ticking(sent: Instant) -> impl FnMut() -> Instant {
    let mut k = 0;
    move || {
        k += 1;
        sent + Duration::from_millis(k)
    }
}

async fn read_pieces(pieces: Vec<Vec<u8>>, keep_reply: bool) -> StreamReading {
    let sent = Instant::now();
    let stream = futures_util::stream::iter(pieces.into_iter().map(Ok::<_, Infallible>));
    read_stream(
        stream,
        sent,
        opts(keep_reply),
        &CancellationToken::new(),
        ticking(sent),
    )
    .await
}

/// The same bytes cut in many ways: whole, every byte, odd sizes, inside each `data:`.
fn splits(bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut out = vec![
        vec![bytes.to_vec()],
        bytes.iter().map(|b| vec![*b]).collect(),
    ];
    for size in [2, 3, 7, 64, 1000] {
        out.push(bytes.chunks(size).map(<[u8]>::to_vec).collect());
    }
    // Cut in the middle of every `data:` tag and right after every newline.
    let mut pieces = Vec::new();
    let mut last = 0;
    for i in 0..bytes.len() {
        if bytes[i..].starts_with(b"data:") || (i > 0 && bytes[i - 1] == b'\n') {
            let cut = if bytes[i..].starts_with(b"data:") {
                i + 2
            } else {
                i
            };
            if cut > last {
                pieces.push(bytes[last..cut].to_vec());
                last = cut;
            }
        }
    }
    pieces.push(bytes[last..].to_vec());
    out.push(pieces);
    out
}

fn crlf(bytes: &[u8]) -> Vec<u8> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes()
}

struct Expect {
    fixture: &'static str,
    text_chunks: usize,
    usage: Option<(u64, u64)>,
    reply: &'static str,
}

async fn check(e: &Expect) {
    let raw = protocol_fixture(e.fixture);
    for bytes in [raw.clone(), crlf(&raw)] {
        for (n, pieces) in splits(&bytes).into_iter().enumerate() {
            let r = read_pieces(pieces, true).await;
            let ctx = format!("{} split #{n}", e.fixture);
            assert_eq!(r.error, None, "{ctx}");
            assert_eq!(r.token_offsets_us.len(), e.text_chunks, "{ctx}");
            let usage = r
                .usage
                .map(|u| (u.prompt_tokens.unwrap(), u.completion_tokens.unwrap()));
            assert_eq!(usage, e.usage, "{ctx}");
            assert_eq!(r.reply.as_deref(), Some(e.reply), "{ctx}");
            // Strictly increasing stamps, one per event; [DONE] is the last event.
            assert!(r.token_offsets_us.windows(2).all(|w| w[0] < w[1]), "{ctx}");
            assert!(
                r.end_us > u64::from(*r.token_offsets_us.last().unwrap()),
                "{ctx}"
            );
        }
    }
}

#[tokio::test]
async fn vllm_with_usage() {
    check(&Expect {
        fixture: "vllm-chat-stream.txt",
        text_chunks: 2,
        usage: Some((13, 3)),
        reply: "Okay.",
    })
    .await;
}

#[tokio::test]
async fn vllm_without_usage() {
    check(&Expect {
        fixture: "vllm-chat-stream-nousage.txt",
        text_chunks: 4,
        usage: None,
        reply: "Okay. Sure.",
    })
    .await;
}

#[tokio::test]
async fn sglang_with_usage() {
    check(&Expect {
        fixture: "sglang-chat-stream.txt",
        text_chunks: 2,
        usage: Some((18, 4)),
        reply: "Understood.",
    })
    .await;
}

#[tokio::test]
async fn vllm_032_cpu_one_chunk_per_token_with_an_empty_one() {
    // 12 generated tokens, one decodes to "" and is not a text chunk; usage says 12.
    check(&Expect {
        fixture: "vllm-0.32-cpu-chat-stream.txt",
        text_chunks: 11,
        usage: Some((10, 12)),
        reply: "Fox19 17 315 501 328.\u{12}\u{fffd} nine_ 653",
    })
    .await;
}

#[tokio::test]
async fn llamacpp_usage_on_the_finish_chunk() {
    check(&Expect {
        fixture: "llamacpp-chat-stream-tail.txt",
        text_chunks: 2,
        usage: Some((12, 25)),
        reply: " to the",
    })
    .await;
}

#[tokio::test]
async fn stamps_are_taken_per_event_and_only_text_chunks_are_kept() {
    // Events: role(1) "Okay"(2) "."(3) finish(4) usage(5) [DONE](6), 1 ms apart on the clock.
    let r = read_pieces(vec![protocol_fixture("vllm-chat-stream.txt")], false).await;
    assert_eq!(r.token_offsets_us, vec![2_000, 3_000]);
    assert_eq!(r.end_us, 6_000);
    assert_eq!(r.reply, None);
}

fn frames(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

const TOKEN: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n";

#[tokio::test]
async fn reasoning_chunks_count_as_tokens_but_not_reply() {
    let r = read_pieces(
        frames(&[
            "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"think\"}}]}\n\n",
            "data:{\"choices\":[{\"delta\":{\"reasoning\":\"more\"}}]}\n\n",
            TOKEN,
            "data: [DONE]\n\n",
        ]),
        true,
    )
    .await;
    assert_eq!(r.error, None);
    assert_eq!(r.token_offsets_us.len(), 3);
    assert_eq!(r.reply.as_deref(), Some("x"));
}

#[tokio::test]
async fn comments_event_names_and_many_events_per_piece_are_fine() {
    let all = format!(": keep-alive\n\nevent: message\n{TOKEN}{TOKEN}{TOKEN}data: [DONE]\n\n");
    let r = read_pieces(frames(&[&all]), false).await;
    assert_eq!(r.error, None);
    assert_eq!(r.token_offsets_us, vec![1_000, 2_000, 3_000]);
}

#[tokio::test]
async fn error_object_stops_reading_with_the_servers_message() {
    let r = read_pieces(
        frames(&[
            TOKEN,
            "data: {\"error\":{\"object\":\"error\",\"message\":\"out of memory\",\"code\":500}}\n\n",
            TOKEN,
            "data: [DONE]\n\n",
        ]),
        false,
    )
    .await;
    let err = r.error.unwrap();
    assert_eq!(err.kind, ErrorKind::StreamError);
    assert_eq!(err.message, "out of memory");
    assert_eq!(r.token_offsets_us, vec![1_000]);
    assert_eq!(r.end_us, 2_000);
}

#[tokio::test]
async fn invalid_json_is_malformed() {
    let r = read_pieces(frames(&[TOKEN, "data: {\"choices\": [\n\n", TOKEN]), false).await;
    let err = r.error.unwrap();
    assert_eq!(err.kind, ErrorKind::Malformed);
    assert!(err.message.contains("invalid JSON"), "{}", err.message);
    assert_eq!(r.token_offsets_us.len(), 1);
}

#[tokio::test]
async fn end_without_done_is_incomplete_and_keeps_the_timing() {
    // The last frame is cut before its blank line: it is never a complete event.
    let r = read_pieces(frames(&[TOKEN, TOKEN, "data: {\"choi"]), false).await;
    let err = r.error.unwrap();
    assert_eq!(err.kind, ErrorKind::Incomplete);
    assert_eq!(r.token_offsets_us, vec![1_000, 2_000]);
    assert_eq!(r.end_us, 3_000);
}

#[tokio::test]
async fn transport_error_mid_stream() {
    let sent = Instant::now();
    let items: Vec<Result<&[u8], &str>> = vec![Ok(TOKEN.as_bytes()), Err("connection reset")];
    let r = read_stream(
        futures_util::stream::iter(items),
        sent,
        opts(false),
        &CancellationToken::new(),
        ticking(sent),
    )
    .await;
    let err = r.error.unwrap();
    assert_eq!(err.kind, ErrorKind::Transport);
    assert!(err.message.contains("connection reset"));
    assert_eq!(r.token_offsets_us, vec![1_000]);
}

#[tokio::test]
async fn silence_longer_than_idle_read_is_a_timeout() {
    let sent = Instant::now();
    let stream = futures_util::stream::iter([Ok::<_, Infallible>(TOKEN.as_bytes())])
        .chain(futures_util::stream::pending());
    let o = ReadOptions {
        idle_read: Duration::from_millis(20),
        ..opts(false)
    };
    let r = read_stream(stream, sent, o, &CancellationToken::new(), Instant::now).await;
    let err = r.error.unwrap();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert_eq!(err.message, "no data for 0.02 s");
    assert_eq!(r.token_offsets_us.len(), 1);
    assert!(r.end_us >= 20_000);
}

#[tokio::test]
async fn cancellation_ends_a_stalled_stream() {
    let sent = Instant::now();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let stream = futures_util::stream::pending::<Result<&[u8], Infallible>>();
    let r = read_stream(stream, sent, opts(false), &cancel, Instant::now).await;
    assert_eq!(r.error.unwrap().kind, ErrorKind::Cancelled);
}
