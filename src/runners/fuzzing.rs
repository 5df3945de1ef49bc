//! Synchronous entry points over the stream core for fuzzing and corpus replay (`fuzz/`,
//! `tests/fuzz_corpus_replay.rs`). Not a stable API.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::stream::{read_stream, ReadOptions};
use crate::metrics::request::ErrorKind;

/// What reading one fuzzed stream produced.
#[derive(Debug, Clone, PartialEq)]
pub struct SseSummary {
    pub text_chunks: usize,
    pub error: Option<ErrorKind>,
    pub error_message: Option<String>,
    pub reply: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

thread_local! {
    static RUNTIME: Option<tokio::runtime::Runtime> = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .ok();
}

/// Read `body` as a chat-completion SSE stream, handed over in pieces of `piece` bytes
/// (0 = all at once), with a clock that ticks 1 µs per event. Checks the reader's invariants
/// (panics if one breaks, which is what a fuzzer looks for).
pub fn read_sse(body: &[u8], piece: usize) -> SseSummary {
    let pieces: Vec<&[u8]> = if piece == 0 || body.is_empty() {
        vec![body]
    } else {
        body.chunks(piece).collect()
    };
    let sent = Instant::now();
    let mut tick = 0u64;
    let clock = move || {
        tick += 1;
        sent + Duration::from_micros(tick)
    };
    let opts = ReadOptions {
        idle_read: Duration::from_secs(3600),
        keep_reply: true,
        capacity_hint: 4,
        count_chunk_tokens: true,
    };
    let cancel = CancellationToken::new();
    let stream = futures_util::stream::iter(pieces.into_iter().map(Ok::<_, Infallible>));
    let reading = RUNTIME.with(|rt| {
        let rt = rt.as_ref().expect("a current-thread Tokio runtime");
        rt.block_on(read_stream(stream, sent, opts, &cancel, clock))
    });
    let offsets = &reading.token_offsets_us;
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "token stamps must increase: {offsets:?}"
    );
    assert!(
        offsets
            .last()
            .is_none_or(|&last| u64::from(last) <= reading.end_us),
        "the end comes after the last token"
    );
    assert!(reading.reply.is_some(), "a kept reply is always there");
    SseSummary {
        text_chunks: offsets.len(),
        error: reading.error.as_ref().map(|e| e.kind),
        error_message: reading.error.map(|e| e.message),
        reply: reading.reply,
        prompt_tokens: reading.usage.and_then(|u| u.prompt_tokens),
        completion_tokens: reading.usage.and_then(|u| u.completion_tokens),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_stream_in_any_piece_size() {
        let body = b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";
        for piece in [0, 1, 3, 1000] {
            let s = read_sse(body, piece);
            assert_eq!(s.text_chunks, 1);
            assert_eq!(s.error, None);
            assert_eq!(s.reply.as_deref(), Some("hi"));
        }
        assert_eq!(read_sse(b"", 0).error, Some(ErrorKind::Incomplete));
    }

    #[test]
    fn leading_byte_order_marks_are_skipped_however_split() {
        // eventsource-stream panicked on a stream starting with a BOM (found by the replay of
        // a hand-made fuzz seed): it sliced inside the 3-byte character.
        let body = b"\xef\xbb\xbf\xef\xbb\xbfdata: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";
        for piece in [0, 1, 2, 3, 4, 5] {
            let s = read_sse(body, piece);
            assert_eq!(s.error, None, "piece {piece}");
            assert_eq!(s.reply.as_deref(), Some("hi"));
        }
        // A BOM cut short is not valid UTF-8; an empty or BOM-only stream is incomplete.
        assert_eq!(
            read_sse(b"\xef\xbbdata: x\n\n", 1).error,
            Some(ErrorKind::Malformed)
        );
        assert_eq!(
            read_sse(b"\xef\xbb\xbf", 1).error,
            Some(ErrorKind::Incomplete)
        );
        // A lone first byte of a BOM at the end of the stream is not UTF-8: not SSE at all.
        assert_eq!(read_sse(b"\xef", 0).error, Some(ErrorKind::Malformed));
    }

    #[test]
    fn an_oversized_event_is_malformed_not_buffered() {
        let mut body = b"data: ".to_vec();
        body.resize(super::super::stream::MAX_EVENT_BYTES + 10, b'x');
        body.extend_from_slice(b"\n\ndata: [DONE]\n\n");
        assert_eq!(read_sse(&body, 4096).error, Some(ErrorKind::Malformed));
        // Many short lines without a blank line are one event too.
        let line = b"data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n";
        let body: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(super::super::stream::MAX_EVENT_BYTES + 4 * line.len())
            .collect();
        assert_eq!(read_sse(&body, 8192).error, Some(ErrorKind::Malformed));
        // An oversized event that ends inside the same piece is caught too.
        let mut body = b"data: ".to_vec();
        body.resize(super::super::stream::MAX_EVENT_BYTES + 10, b'x');
        body.extend_from_slice(b"\n\ndata: [DONE]\n\n");
        let s = read_sse(&body, 0);
        assert_eq!(s.error, Some(ErrorKind::Malformed));
        assert!(s.error_message.unwrap().contains("larger than 1024 KiB"));
        // Just under the cap, split across CRLF lines, is still an ordinary (bad JSON) event.
        let mut body = b"data: ".to_vec();
        body.resize(super::super::stream::MAX_EVENT_BYTES - 100, b'x');
        body.extend_from_slice(b"\r\n\r\ndata: [DONE]\r\n\r\n");
        assert_eq!(read_sse(&body, 4096).error, Some(ErrorKind::Malformed));
    }
}
