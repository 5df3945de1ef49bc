//! A byte-level HTTP server for hostile-server tests: it writes exactly the bytes it is told
//! (partial headers, HTTP/1.0, a chunked body cut mid-chunk, a 16 MB line), then closes,
//! resets or holds the connection. `/health` and `/v1/models` answer normally so the real
//! binary can be pointed at it; `/metrics` can be garbage or hang.
//!
//! "Holding" a connection never sleeps: the server reads until the client hangs up, so a stall
//! lasts exactly as long as the client's own timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a scripted response ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Close the connection (FIN).
    Close,
    /// Reset it (RST: SO_LINGER 0, then close).
    Reset,
    /// Hold it open, sending nothing, until the client goes away.
    Hold,
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Act {
    /// Take the request and never answer; hold the connection until the client leaves.
    Silent,
    /// Write `head`, then each of `body` in turn, then `end`.
    Write {
        head: Vec<u8>,
        body: Vec<Vec<u8>>,
        end: End,
    },
}

impl Act {
    /// An HTTP/1.1 response with a `Content-Length` body, then a close.
    pub fn http(status: &str, content_type: &str, body: &[u8]) -> Act {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        Act::Write {
            head: head.into_bytes(),
            body: vec![body.to_vec()],
            end: End::Close,
        }
    }

    /// SSE headers with a close-delimited body: `body` pieces, then `end`.
    pub fn sse(version: &str, body: Vec<Vec<u8>>, end: End) -> Act {
        let head = format!(
            "HTTP/{version} 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        );
        Act::Write {
            head: head.into_bytes(),
            body,
            end,
        }
    }
}

/// Per-path behaviour.
#[derive(Debug, Clone)]
pub struct RawScript {
    pub chat: Act,
    pub metrics: Act,
}

struct Shared {
    script: RawScript,
    chat_requests: AtomicUsize,
    metrics_requests: tokio::sync::watch::Sender<usize>,
    /// Body bytes of chat responses the client accepted (written without error).
    delivered: AtomicUsize,
    /// Chat connections the server has finished with.
    chats_done: tokio::sync::watch::Sender<usize>,
}

pub struct RawServer {
    pub base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawServer {
    pub async fn start(script: RawScript) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            script,
            chat_requests: AtomicUsize::new(0),
            metrics_requests: tokio::sync::watch::Sender::new(0),
            delivered: AtomicUsize::new(0),
            chats_done: tokio::sync::watch::Sender::new(0),
        });
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                let mut conns = tokio::task::JoinSet::new();
                while let Ok((tcp, _)) = listener.accept().await {
                    conns.spawn(serve(tcp, shared.clone()));
                    while conns.try_join_next().is_some() {}
                }
            }
        });
        RawServer {
            base_url,
            shared,
            task,
        }
    }

    pub fn chat_requests(&self) -> usize {
        self.shared.chat_requests.load(Ordering::SeqCst)
    }

    pub fn delivered(&self) -> usize {
        self.shared.delivered.load(Ordering::SeqCst)
    }

    /// Wait until the server has finished with `n` chat connections (wrote all, or the
    /// client went away).
    pub async fn wait_for_chats_done(&self, n: usize) {
        let mut rx = self.shared.chats_done.subscribe();
        rx.wait_for(|&got| got >= n).await.unwrap();
    }

    pub async fn wait_for_metrics_requests(&self, n: usize) {
        let mut rx = self.shared.metrics_requests.subscribe();
        rx.wait_for(|&got| got >= n).await.unwrap();
    }

    pub fn metrics_requests(&self) -> usize {
        *self.shared.metrics_requests.borrow()
    }
}

/// An SSE body of `tokens` text chunks, a usage chunk and `[DONE]`.
pub fn sse_events(tokens: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for k in 0..tokens {
        out.extend_from_slice(
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{k} \"}}}}]}}\n\n"
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!("data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":{tokens}}}}}\n\ndata: [DONE]\n\n")
            .as_bytes(),
    );
    out
}

async fn serve(mut tcp: TcpStream, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    // Health and model probes keep the connection alive; a chat or metrics answer ends it.
    loop {
        let Some(path) = read_request(&mut tcp).await else {
            return;
        };
        let act = if path.starts_with("/health") {
            ok_json(&mut tcp, "").await;
            continue;
        } else if path.starts_with("/v1/models") {
            ok_json(
                &mut tcp,
                r#"{"object":"list","data":[{"id":"test-model","object":"model"}]}"#,
            )
            .await;
            continue;
        } else if path.starts_with("/metrics") {
            shared.metrics_requests.send_modify(|n| *n += 1);
            shared.script.metrics.clone()
        } else {
            shared.chat_requests.fetch_add(1, Ordering::SeqCst);
            shared.script.chat.clone()
        };
        let is_chat = !path.starts_with("/metrics");
        perform(tcp, act, is_chat.then_some(&shared.delivered)).await;
        if is_chat {
            shared.chats_done.send_modify(|n| *n += 1);
        }
        return;
    }
}

async fn ok_json(tcp: &mut TcpStream, body: &str) {
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(resp.as_bytes()).await;
}

async fn perform(mut tcp: TcpStream, act: Act, delivered: Option<&AtomicUsize>) {
    match act {
        Act::Silent => hold(tcp).await,
        Act::Write { head, body, end } => {
            if tcp.write_all(&head).await.is_err() {
                return;
            }
            for piece in body {
                // Small writes so `delivered` tracks what the client actually took.
                for part in piece.chunks(64 * 1024) {
                    if tcp.write_all(part).await.is_err() {
                        return;
                    }
                    if let Some(d) = delivered {
                        d.fetch_add(part.len(), Ordering::SeqCst);
                    }
                }
                let _ = tcp.flush().await;
            }
            match end {
                End::Close => {
                    let _ = tcp.shutdown().await;
                }
                End::Reset => {
                    // Linger 0 sends RST at once (the deprecation is about a blocking drop
                    // with a non-zero linger).
                    #[allow(deprecated)]
                    let _ = tcp.set_linger(Some(std::time::Duration::ZERO));
                    drop(tcp);
                }
                End::Hold => hold(tcp).await,
            }
        }
    }
}

/// Keep the connection until the client closes it (read returns 0 or fails).
async fn hold(mut tcp: TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Read one request (headers and a `Content-Length` body); returns its path.
async fn read_request(tcp: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < length {
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        have += n;
    }
    head.split_whitespace().nth(1).map(str::to_string)
}
