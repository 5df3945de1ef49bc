//! The measuring core: read an SSE byte stream of chat-completion chunks, stamping every event
//! the moment the SSE parser yields it (before any JSON work), and classify how it ended.
//! Generic over the byte stream and the clock so tests can feed hand-split bytes.

use std::fmt::Display;
use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::Stream;
use tokio_util::sync::CancellationToken;

use super::chunk::{content_text, Chunk, Text, Usage};
use crate::metrics::request::{ErrorKind, RequestError};
use sse::{InvalidUtf8, SseParser};

mod sse;

/// Everything read from one response stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StreamReading {
    /// Arrival of each text-carrying chunk, µs since the request was sent.
    pub token_offsets_us: Vec<u32>,
    /// Tokens each text chunk carried (one per `token_offsets_us` entry), from the running
    /// `usage.completion_tokens` a server sends on every chunk when asked
    /// (`continuous_usage_stats`); empty when any text chunk came without it.
    pub chunk_tokens: Vec<u32>,
    /// `[DONE]` or the failure, µs since sent.
    pub end_us: u64,
    /// The last non-null `usage` seen on any chunk.
    pub usage: Option<Usage>,
    /// The answer text, when asked for.
    pub reply: Option<String>,
    pub error: Option<RequestError>,
}

/// Read options that do not change per event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadOptions {
    pub idle_read: Duration,
    pub keep_reply: bool,
    /// Expected number of text chunks (pre-sizes the offsets so the hot loop does not grow it).
    pub capacity_hint: usize,
    /// Record the tokens each text chunk carried (the request asked for per-chunk usage).
    pub count_chunk_tokens: bool,
}

pub(crate) fn offset_us(sent: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(sent).as_micros()).unwrap_or(u64::MAX)
}

/// While a stream always has bytes ready, cancellation is still seen this often (pieces).
const CANCEL_CHECK_EVERY: u32 = 64;

/// What woke the reader.
enum Wake<T> {
    Bytes(Option<T>),
    Cancelled,
    Idle,
}

/// Read `bytes` to the end (`[DONE]`), a failure or cancellation. `now` is the clock (the real
/// one is `Instant::now`); it is called exactly once per SSE event, first thing.
pub(crate) async fn read_stream<S, B, E>(
    bytes: S,
    sent: Instant,
    opts: ReadOptions,
    cancel: &CancellationToken,
    mut now: impl FnMut() -> Instant,
) -> StreamReading
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Display,
{
    let mut out = StreamReading {
        token_offsets_us: Vec::with_capacity(opts.capacity_hint),
        chunk_tokens: Vec::with_capacity(if opts.count_chunk_tokens {
            opts.capacity_hint
        } else {
            0
        }),
        reply: opts.keep_reply.then(String::new),
        ..StreamReading::default()
    };
    let mut parser = SseParser::new();
    futures_util::pin_mut!(bytes);
    let cancelled = cancel.cancelled();
    futures_util::pin_mut!(cancelled);
    // One timer, moved lazily: arriving bytes only note their time, and when the timer fires
    // early (bytes came since it was set) it is re-armed to the last arrival plus `idle_read`.
    // No timer work per chunk.
    let idle = tokio::time::sleep(opts.idle_read);
    futures_util::pin_mut!(idle);
    // When bytes last arrived: a slow event (bytes trickling in) is not an idle connection.
    let mut last_bytes = None::<Instant>;
    let mut ended = false;
    let mut pieces: u32 = 0;

    loop {
        // Every complete event received so far, each stamped as the parser yields it.
        loop {
            let data = match parser.next_event() {
                Ok(Some(data)) => data,
                Ok(None) => break,
                Err(InvalidUtf8(e)) => {
                    let msg = format!("response is not a valid SSE stream: {e}");
                    return out.fail(sent, now(), ErrorKind::Malformed, msg);
                }
            };
            let at = now();
            if data.len() > MAX_EVENT_BYTES {
                return out.fail(sent, at, ErrorKind::Malformed, too_large());
            }
            if let Some(end) = out.on_event(data, sent, at, opts.count_chunk_tokens) {
                if end.error.is_none() {
                    drain(bytes.as_mut()).await;
                }
                return end;
            }
        }
        // Whatever is left is one unfinished event: keep it bounded.
        if parser.pending_bytes() > MAX_EVENT_BYTES {
            return out.fail(sent, now(), ErrorKind::Malformed, too_large());
        }
        if ended {
            let msg = "stream ended without data: [DONE]".to_string();
            return out.fail(sent, now(), ErrorKind::Incomplete, msg);
        }
        // Bytes first: while pieces are ready they are taken without touching the timer or
        // the cancellation token (both are polled when the stream has nothing, and
        // cancellation at least every `CANCEL_CHECK_EVERY` pieces).
        pieces += 1;
        let check_cancel = pieces % CANCEL_CHECK_EVERY == 0;
        let next = std::future::poll_fn(|cx| {
            if check_cancel && cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Cancelled);
            }
            if let Poll::Ready(next) = bytes.as_mut().poll_next(cx) {
                return Poll::Ready(Wake::Bytes(next));
            }
            if cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Cancelled);
            }
            if idle.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Idle);
            }
            Poll::Pending
        })
        .await;
        let next = match next {
            Wake::Bytes(next) => next,
            Wake::Cancelled => {
                return out.fail(
                    sent,
                    Instant::now(),
                    ErrorKind::Cancelled,
                    "cancelled".into(),
                );
            }
            Wake::Idle => {
                let deadline = last_bytes.map(|t| t + opts.idle_read);
                if let Some(deadline) = deadline.filter(|d| *d > Instant::now()) {
                    idle.as_mut()
                        .reset(tokio::time::Instant::from_std(deadline));
                    continue;
                }
                let msg = format!("no data for {} s", opts.idle_read.as_secs_f64());
                return out.fail(sent, Instant::now(), ErrorKind::Timeout, msg);
            }
        };
        match next {
            Some(Ok(piece)) => {
                last_bytes = Some(Instant::now());
                parser.push(piece.as_ref());
            }
            Some(Err(e)) => {
                let msg = format!("connection lost mid-stream: {e}");
                return out.fail(sent, now(), ErrorKind::Transport, msg);
            }
            // A blank line after EOF completes a last event whose lines all ended but which
            // lacks the closing blank line (`data: [DONE]\n` then close, as llama.cpp b6097
            // was captured). A truncated line stays truncated, so a cut stream is `Incomplete`.
            None => {
                parser.push(b"\n");
                ended = true;
            }
        }
    }
}

/// Largest SSE event accepted; past it the response is recorded as malformed and reading
/// stops, so a hostile server cannot grow the buffer without bound.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

fn too_large() -> String {
    format!(
        "an SSE event is larger than {} KiB (no blank line ending it); stopped reading",
        MAX_EVENT_BYTES / 1024
    )
}

/// Longest wait, after `[DONE]`, for the end of the body.
const DRAIN_LIMIT: Duration = Duration::from_millis(250);

/// Read the rest of the body after `[DONE]` (normally just the chunked terminator, already
/// received) so the HTTP client sees the response end and keeps the connection for the next
/// request; dropping the body early closes it and the next request pays a new connection.
/// Timing is already recorded; a server that never ends the body costs only `DRAIN_LIMIT`.
async fn drain<S, B, E>(mut bytes: std::pin::Pin<&mut S>)
where
    S: Stream<Item = Result<B, E>>,
{
    let rest = std::future::poll_fn(|cx| loop {
        match bytes.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(_))) => continue,
            Poll::Ready(_) => return Poll::Ready(()),
            Poll::Pending => return Poll::Pending,
        }
    });
    let _ = tokio::time::timeout(DRAIN_LIMIT, rest).await;
}

impl StreamReading {
    /// Take one event's data; `Some` (the finished reading) when the stream is over.
    fn on_event(&mut self, data: &str, sent: Instant, at: Instant, count: bool) -> Option<Self> {
        if data == "[DONE]" {
            self.end_us = offset_us(sent, at);
            self.finish_chunk_tokens();
            return Some(std::mem::take(self));
        }
        let chunk = match Chunk::parse(data) {
            Ok(chunk) => chunk,
            Err(e) => {
                let msg = format!("invalid JSON in stream ({e}): {}", truncate(data, 200));
                return Some(std::mem::take(self).fail(sent, at, ErrorKind::Malformed, msg));
            }
        };
        if let Some(msg) = chunk.error_message() {
            return Some(std::mem::take(self).fail(sent, at, ErrorKind::StreamError, msg));
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        if chunk.carries_text() {
            let us = offset_us(sent, at);
            self.token_offsets_us
                .push(u32::try_from(us).unwrap_or(u32::MAX));
            if count {
                self.count_chunk_tokens(chunk.usage);
            }
            if let Some(reply) = self.reply.as_mut() {
                match chunk.content() {
                    Some(Text::Borrowed(text)) => reply.push_str(text),
                    Some(Text::Escaped { empty: false }) => {
                        if let Some(text) = content_text(data) {
                            reply.push_str(&text);
                        }
                    }
                    _ => {}
                }
            }
        }
        None
    }

    /// Note this text chunk's running completion count (`chunk_tokens` holds running totals
    /// while reading; `finish_chunk_tokens` turns them into per-chunk counts). A chunk without
    /// a count, or a count that does not grow, makes the whole list unknown.
    fn count_chunk_tokens(&mut self, usage: Option<Usage>) {
        let last = self.chunk_tokens.last().copied().unwrap_or(0);
        let expected = self.token_offsets_us.len() - 1;
        match usage.and_then(|u| u.completion_tokens) {
            Some(total) if total > u64::from(last) && self.chunk_tokens.len() == expected => {
                self.chunk_tokens
                    .push(u32::try_from(total).unwrap_or(u32::MAX));
            }
            _ => self.chunk_tokens.clear(),
        }
    }

    /// Running totals → tokens per text chunk. Tokens that produced no text (held back, or
    /// only on the final empty chunk) count towards the next text chunk, the one whose gap
    /// they took; any after the last text chunk are in no count.
    fn finish_chunk_tokens(&mut self) {
        if self.chunk_tokens.len() != self.token_offsets_us.len() {
            self.chunk_tokens = Vec::new();
            return;
        }
        let mut previous = 0;
        for n in &mut self.chunk_tokens {
            let total = *n;
            *n = total - previous;
            previous = total;
        }
    }

    fn fail(mut self, sent: Instant, at: Instant, kind: ErrorKind, message: String) -> Self {
        self.end_us = offset_us(sent, at);
        self.finish_chunk_tokens();
        self.error = Some(RequestError { kind, message });
        self
    }
}

/// The first `max` characters of `s` (on a char boundary).
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod sglang_tests;
#[cfg(test)]
mod tests;
