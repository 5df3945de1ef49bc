//! The reference lean client: raw keep-alive TCP connections, one pre-built request, and a
//! reader that does nothing but stamp each read and count SSE event ends (`\n\n`). It is the
//! best a client can do on this machine, the yardstick for the real client's tokens/s.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Events after the last token: finish chunk, usage chunk, `[DONE]`.
const TRAILING_EVENTS: usize = 3;

/// What the lean client measured: per request, token arrival offsets (µs since send) and E2E.
#[derive(Debug, Default)]
pub struct LeanRun {
    pub requests: Vec<(Vec<u32>, u32)>,
    pub failed: usize,
    pub duration: Duration,
}

/// Send `total` requests for `model` with `max_tokens`, `concurrency` at a time.
/// Connections come from `pool` (opened when missing) and go back to it for the next test.
pub async fn run(
    addr: std::net::SocketAddr,
    pool: &mut Vec<TcpStream>,
    model: &str,
    max_tokens: u32,
    concurrency: usize,
    total: usize,
) -> LeanRun {
    let body = format!(
        "{{\"model\":\"{model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"hello\"}}],\
         \"max_tokens\":{max_tokens},\"stream\":true}}"
    );
    let request: Arc<[u8]> = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
    .into();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(total) {
        let (request, next) = (Arc::clone(&request), Arc::clone(&next));
        let mut sock = pool.pop();
        tasks.spawn(async move {
            let mut out = LeanRun::default();
            let mut buf = vec![0u8; 64 * 1024];
            while next.fetch_add(1, Ordering::Relaxed) < total {
                if sock.is_none() {
                    sock = TcpStream::connect(addr).await.ok();
                    if let Some(s) = &sock {
                        let _ = s.set_nodelay(true);
                    }
                }
                let got = match sock.as_mut() {
                    Some(s) => one(s, &request, &mut buf, max_tokens as usize).await,
                    None => None,
                };
                match got {
                    Some(r) => out.requests.push(r),
                    None => {
                        out.failed += 1;
                        sock = None;
                    }
                }
            }
            (out, sock)
        });
    }
    let mut all = LeanRun::default();
    while let Some(Ok((part, sock))) = tasks.join_next().await {
        pool.extend(sock);
        all.requests.extend(part.requests);
        all.failed += part.failed;
    }
    all.duration = start.elapsed();
    all
}

/// One request on a kept-alive connection: token offsets and E2E, µs since the send.
async fn one(
    sock: &mut TcpStream,
    request: &[u8],
    buf: &mut [u8],
    hint: usize,
) -> Option<(Vec<u32>, u32)> {
    let sent = Instant::now();
    sock.write_all(request).await.ok()?;
    let mut stamps: Vec<u32> = Vec::with_capacity(hint + TRAILING_EVENTS);
    let mut prev_newline = false;
    let mut tail = [0u8; 5];
    loop {
        let n = sock.read(buf).await.ok()?;
        if n == 0 {
            return None;
        }
        let at = sent.elapsed().as_micros() as u32;
        for &b in &buf[..n] {
            if b == b'\n' && prev_newline {
                stamps.push(at);
            }
            prev_newline = b == b'\n';
        }
        // The chunked body's terminator ends the response.
        let keep = n.min(5);
        tail.rotate_left(keep);
        tail[5 - keep..].copy_from_slice(&buf[n - keep..n]);
        if &tail == b"0\r\n\r\n" {
            let end = stamps.last().copied().unwrap_or(at);
            stamps.truncate(stamps.len().saturating_sub(TRAILING_EVENTS));
            return Some((stamps, end));
        }
    }
}
