//! The measuring core: read an SSE byte stream of chat-completion chunks, stamping every event
//! the moment the SSE parser yields it (before any JSON work), and classify how it ended.
//! Generic over the byte stream and the clock so tests can feed hand-split bytes.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::chunk::{content_text, Chunk, Text, Usage};
use crate::metrics::request::{ErrorKind, RequestError};

/// Everything read from one response stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StreamReading {
    /// Arrival of each text-carrying chunk, µs since the request was sent.
    pub token_offsets_us: Vec<u32>,
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
}

/// Largest SSE event (all its lines) the reader buffers. A real chunk is well under 1 KiB; a
/// server sending megabytes without a blank line is broken, and buffering it all (the SSE
/// parser would) lets one response take unbounded memory.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

pub(crate) fn offset_us(sent: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(sent).as_micros()).unwrap_or(u64::MAX)
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
        reply: opts.keep_reply.then(String::new),
        ..StreamReading::default()
    };
    // A blank line after EOF completes a last event whose lines all ended but which lacks the
    // closing blank line (`data: [DONE]\n` then close, as llama.cpp b6097 was captured).
    // A truncated line stays truncated, so a cut stream is still `Incomplete`.
    let tail = futures_util::stream::once(async { Ok(Piece::Tail) });
    let mut bound = EventBound::default();
    let mut bom = BomStrip::default();
    // When bytes last arrived (µs since sent): a slow event is not an idle connection.
    let last_bytes = AtomicU64::new(0);
    let events = bytes
        .map(|r| match r {
            Ok(b) => {
                last_bytes.store(offset_us(sent, Instant::now()), Ordering::Relaxed);
                if bound.feed(b.as_ref()) > MAX_EVENT_BYTES {
                    Err(PieceError::TooLarge)
                } else {
                    Ok(bom.piece(b))
                }
            }
            Err(e) => Err(PieceError::Transport(e)),
        })
        .chain(tail)
        .eventsource();
    futures_util::pin_mut!(events);
    let cancelled = cancel.cancelled();
    futures_util::pin_mut!(cancelled);
    // One timer re-armed per event instead of a new `timeout` future each time.
    let idle = tokio::time::sleep(opts.idle_read);
    futures_util::pin_mut!(idle);

    loop {
        let next = tokio::select! {
            biased;
            _ = &mut cancelled => {
                return out.fail(sent, Instant::now(), ErrorKind::Cancelled, "cancelled".into());
            }
            next = events.next() => next,
            _ = &mut idle => {
                let last = sent + Duration::from_micros(last_bytes.load(Ordering::Relaxed));
                if last + opts.idle_read > Instant::now() {
                    idle.as_mut().reset(tokio::time::Instant::from_std(last + opts.idle_read));
                    continue;
                }
                let msg = format!("no data for {} s", opts.idle_read.as_secs_f64());
                return out.fail(sent, Instant::now(), ErrorKind::Timeout, msg);
            }
        };
        let at = now();
        let event = match next {
            Some(Ok(event)) => event,
            Some(Err(EventStreamError::Transport(PieceError::TooLarge))) => {
                let msg = format!(
                    "an SSE event is larger than {} KiB (no blank line ending it); stopped reading",
                    MAX_EVENT_BYTES / 1024
                );
                return out.fail(sent, at, ErrorKind::Malformed, msg);
            }
            Some(Err(EventStreamError::Transport(e))) => {
                let msg = format!("connection lost mid-stream: {e}");
                return out.fail(sent, at, ErrorKind::Transport, msg);
            }
            Some(Err(e)) => {
                let msg = format!("response is not a valid SSE stream: {e}");
                return out.fail(sent, at, ErrorKind::Malformed, msg);
            }
            None => {
                let msg = "stream ended without data: [DONE]".to_string();
                return out.fail(sent, at, ErrorKind::Incomplete, msg);
            }
        };
        idle.as_mut()
            .reset(tokio::time::Instant::from_std(at) + opts.idle_read);

        let data = event.data.as_str();
        if data == "[DONE]" {
            out.end_us = offset_us(sent, at);
            return out;
        }
        let chunk = match Chunk::parse(data) {
            Ok(chunk) => chunk,
            Err(e) => {
                let msg = format!("invalid JSON in stream ({e}): {}", truncate(data, 200));
                return out.fail(sent, at, ErrorKind::Malformed, msg);
            }
        };
        if let Some(msg) = chunk.error_message() {
            return out.fail(sent, at, ErrorKind::StreamError, msg);
        }
        if chunk.usage.is_some() {
            out.usage = chunk.usage;
        }
        if chunk.carries_text() {
            let us = offset_us(sent, at);
            out.token_offsets_us
                .push(u32::try_from(us).unwrap_or(u32::MAX));
            if let Some(reply) = out.reply.as_mut() {
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
    }
}

/// A byte piece from the server, or the synthetic end-of-stream blank line.
enum Piece<B> {
    Data(B),
    /// The start of the stream, once leading byte-order marks are removed.
    Head(Vec<u8>),
    Tail,
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Piece<B> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Piece::Data(b) => b.as_ref(),
            Piece::Head(b) => b,
            Piece::Tail => b"\n",
        }
    }
}

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Removes leading UTF-8 byte-order marks, however the bytes are split. The SSE spec strips
/// one; eventsource-stream tries to but slices inside the 3-byte character and panics, so it
/// must never see a stream that starts with one.
#[derive(Default)]
struct BomStrip {
    /// `None` once the start is decided; until then the bytes seen so far.
    head: Option<Vec<u8>>,
    decided: bool,
}

impl BomStrip {
    fn piece<B: AsRef<[u8]>>(&mut self, b: B) -> Piece<B> {
        if self.decided {
            return Piece::Data(b);
        }
        let head = self.head.get_or_insert_with(Vec::new);
        head.extend_from_slice(b.as_ref());
        while head.starts_with(BOM) {
            head.drain(..BOM.len());
        }
        if head.is_empty() || (head.len() < BOM.len() && BOM.starts_with(head)) {
            // Maybe a BOM cut short: wait for more bytes.
            return Piece::Head(Vec::new());
        }
        self.decided = true;
        Piece::Head(self.head.take().unwrap_or_default())
    }
}

/// A transport error, or the event-size cap was hit.
enum PieceError<E> {
    Transport(E),
    TooLarge,
}

impl<E: Display> Display for PieceError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PieceError::Transport(e) => e.fmt(f),
            PieceError::TooLarge => write!(f, "event too large"),
        }
    }
}

/// Counts the bytes of the SSE event being received (since the last blank line), so the
/// parser's buffer stays bounded. Line ends are `\n`, `\r\n` or `\r`, as in the SSE spec.
#[derive(Default)]
struct EventBound {
    event_bytes: usize,
    line_bytes: usize,
    after_cr: bool,
}

impl EventBound {
    /// Feed one piece; returns the largest event size reached within it.
    fn feed(&mut self, bytes: &[u8]) -> usize {
        let mut peak = self.event_bytes;
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    if self.line_bytes == 0 {
                        self.event_bytes = 0;
                    } else {
                        self.event_bytes += 1;
                    }
                    self.line_bytes = 0;
                }
                _ => {
                    self.after_cr = false;
                    self.line_bytes += 1;
                    self.event_bytes += 1;
                }
            }
            peak = peak.max(self.event_bytes);
        }
        peak
    }
}

impl StreamReading {
    fn fail(mut self, sent: Instant, at: Instant, kind: ErrorKind, message: String) -> Self {
        self.end_us = offset_us(sent, at);
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
mod tests;
