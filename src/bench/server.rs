//! The load benchmark's server: a lean HTTP/1.1 SSE server on loopback whose schedule is known
//! exactly. The schedule travels in the request's `model` field (`ttft=<µs>,itl=<µs>` or
//! `burst`) and `max_tokens`, so one server serves every test. Token `i` is due at
//! `arrival + ttft + i·itl` (absolute deadlines, no drift); the server stamps each write and
//! keeps `lateness = write time − due time`, served (and reset) at `GET /stats`, so the
//! client's error can be told apart from the server's own.
//!
//! It runs in a child process (`bench --serve`) so the client's CPU time and memory, measured
//! with `getrusage`, are the client's alone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// How the server answers one chat request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// First token after `ttft`, then one every `itl`, each its own write.
    Scheduled { ttft: Duration, itl: Duration },
    /// Every token of the response in one write, at once.
    Burst,
}

impl Pace {
    /// The `model` name that asks the server for this pace.
    pub fn model_name(&self) -> String {
        match self {
            Pace::Scheduled { ttft, itl } => {
                format!("ttft={},itl={}", ttft.as_micros(), itl.as_micros())
            }
            Pace::Burst => "burst".to_string(),
        }
    }

    pub fn parse(model: &str) -> Option<Self> {
        if model == "burst" {
            return Some(Pace::Burst);
        }
        let mut ttft = None;
        let mut itl = None;
        for part in model.split(',') {
            let (key, value) = part.split_once('=')?;
            let n: u64 = value.parse().ok()?;
            let us = Duration::from_micros(n);
            match key {
                "ttft" => ttft = Some(us),
                "itl" => itl = Some(us),
                "eos" => {}
                _ => return None,
            }
        }
        Some(Pace::Scheduled {
            ttft: ttft?,
            itl: itl?,
        })
    }
}

/// `model` asking for replies that stop (end of sequence) after `eos` tokens, before
/// `max_tokens`: `ttft=…,itl=…,eos=2`.
pub fn model_name_stopping_after(pace: Pace, eos: u32) -> String {
    format!("{},eos={eos}", pace.model_name())
}

/// The `eos=<n>` of a model name, if any.
fn stop_after(model: &str) -> Option<u32> {
    model
        .split(',')
        .find_map(|part| part.strip_prefix("eos="))
        .and_then(|n| n.parse().ok())
}

/// The server's lateness against its schedule since the last `/stats`, in µs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lateness {
    /// Connections accepted since the last `/stats` (a client that reuses its connections
    /// opens few).
    #[serde(default)]
    pub connections: usize,
    pub writes: usize,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl Lateness {
    fn of(mut samples: Vec<u32>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        let pick = |q: f64| samples[((n - 1) as f64 * q).round() as usize] as f64;
        Self {
            connections: 0,
            writes: n,
            mean_us: samples.iter().map(|&s| s as f64).sum::<f64>() / n as f64,
            p50_us: pick(0.5),
            p99_us: pick(0.99),
            max_us: samples[n - 1] as f64,
        }
    }
}

/// Lateness samples and the number of connections accepted, since the last `/stats`.
type Samples = Arc<Mutex<(Vec<u32>, usize)>>;

/// Accept connections forever (until the process ends).
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let samples: Samples = Arc::new(Mutex::new((Vec::new(), 0)));
    loop {
        let sock = match listener.accept().await {
            Ok((sock, _)) => sock,
            // Out of descriptors (a client opening a connection per request faster than they
            // close, as `vllm bench serve` does when it falls behind): wait for some to close
            // rather than end the server under it.
            Err(e) if is_out_of_descriptors(&e) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Ok(mut s) = samples.lock() {
            s.1 += 1;
        }
        let _ = sock.set_nodelay(true);
        let samples = Arc::clone(&samples);
        tokio::spawn(async move {
            if let Err(e) = connection(sock, samples).await {
                tracing::debug!("bench server connection ended: {e}");
            }
        });
    }
}

fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

struct Request {
    path: String,
    body: Vec<u8>,
}

#[derive(Deserialize)]
struct ChatBody {
    model: String,
    /// `max_completion_tokens` is what `vllm bench serve --backend openai-chat` sends.
    #[serde(alias = "max_completion_tokens")]
    max_tokens: u32,
}

/// The schedule a chat request asks for (in its model name) and how its reply ends; `None`
/// when the body or the schedule does not parse.
fn chat_schedule(body: &[u8]) -> Option<(Pace, Ending)> {
    let b = serde_json::from_slice::<ChatBody>(body).ok()?;
    let eos = stop_after(&b.model);
    let pace = Pace::parse(&b.model)?;
    let max_tokens = b.max_tokens.max(1);
    let tokens = eos.map_or(max_tokens, |e| e.clamp(1, max_tokens));
    let finish = if tokens < max_tokens {
        "stop"
    } else {
        "length"
    };
    Some((pace, Ending { tokens, finish }))
}

/// The lateness and connection count since the last `/stats` (and reset them), as JSON.
fn take_stats_json(samples: &Samples) -> String {
    let taken = samples.lock().map(|mut s| std::mem::take(&mut *s));
    let (late, connections) = taken.unwrap_or_default();
    let stats = Lateness {
        connections,
        ..Lateness::of(late)
    };
    serde_json::to_string(&stats).unwrap_or_default()
}

async fn connection(mut sock: TcpStream, samples: Samples) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    // Burst responses are identical for a given length: built once per connection.
    let mut burst_cache: Option<(Ending, Vec<u8>)> = None;
    let mut late: Vec<u32> = Vec::new();
    while let Some(req) = read_request(&mut sock, &mut buf).await? {
        let arrived = Instant::now();
        match req.path.as_str() {
            "/v1/chat/completions" => {
                let Some((pace, ending)) = chat_schedule(&req.body) else {
                    plain(&mut sock, "400 Bad Request", "bad schedule").await?;
                    continue;
                };
                late.clear();
                match pace {
                    Pace::Scheduled { ttft, itl } => {
                        scheduled(&mut sock, arrived, ttft, itl, ending, &mut late).await?
                    }
                    Pace::Burst => {
                        let body = match &burst_cache {
                            Some((n, body)) if *n == ending => body,
                            _ => &burst_cache.insert((ending, burst_body(ending))).1,
                        };
                        sock.write_all(body).await?;
                        late.push(micros(arrived.elapsed()));
                    }
                }
                if let Ok(mut all) = samples.lock() {
                    all.0.extend_from_slice(&late);
                }
            }
            "/stats" => {
                let json = take_stats_json(&samples);
                plain(&mut sock, "200 OK", &json).await?;
            }
            _ => plain(&mut sock, "200 OK", "{}").await?,
        }
    }
    Ok(())
}

const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";

const TOKEN_EVENT: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\
\"created\":0,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" tok\"},\
\"logprobs\":null,\"finish_reason\":null}]}\n\n";

/// One HTTP chunk (`<len hex>\r\n<data>\r\n`).
fn http_chunk(out: &mut Vec<u8>, data: &str) {
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// How a reply ends: after `tokens` tokens, with `finish` (`length`, or `stop` for an end of
/// sequence before `max_tokens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ending {
    tokens: u32,
    finish: &'static str,
}

/// Finish chunk, usage chunk, `[DONE]` and the end of the chunked body.
fn tail(out: &mut Vec<u8>, ending: Ending) {
    let Ending { tokens, finish } = ending;
    http_chunk(
        out,
        &format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":0,\
             \"model\":\"bench\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"{finish}\"}}]}}\n\n"
        ),
    );
    http_chunk(
        out,
        &format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":0,\
             \"model\":\"bench\",\"choices\":[],\"usage\":{{\"prompt_tokens\":10,\
             \"completion_tokens\":{tokens},\"total_tokens\":{}}}}}\n\n",
            tokens + 10
        ),
    );
    http_chunk(out, "data: [DONE]\n\n");
    out.extend_from_slice(b"0\r\n\r\n");
}

fn burst_body(ending: Ending) -> Vec<u8> {
    let mut out = STREAM_HEAD.to_vec();
    for _ in 0..ending.tokens {
        http_chunk(&mut out, TOKEN_EVENT);
    }
    tail(&mut out, ending);
    out
}

async fn scheduled(
    sock: &mut TcpStream,
    arrived: Instant,
    ttft: Duration,
    itl: Duration,
    ending: Ending,
    late: &mut Vec<u32>,
) -> std::io::Result<()> {
    let tokens = ending.tokens;
    // Headers go out at once, as vLLM does; the schedule is about tokens.
    sock.write_all(STREAM_HEAD).await?;
    let mut token = Vec::new();
    http_chunk(&mut token, TOKEN_EVENT);
    // The last token travels with the end of the stream, so E2E's truth is the last token's.
    let mut last = token.clone();
    tail(&mut last, ending);
    for i in 0..tokens {
        let due = arrived + ttft + itl * i;
        tokio::time::sleep_until(due).await;
        let frame = if i + 1 == tokens { &last } else { &token };
        sock.write_all(frame).await?;
        late.push(micros(Instant::now().saturating_duration_since(due)));
    }
    Ok(())
}

async fn plain(sock: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(head.as_bytes()).await
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Read one request (head and `content-length` body); `None` when the peer closed cleanly.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Option<Request>> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let path = head
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .split('?')
                .next()
                .unwrap_or("/")
                .to_string();
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let start = end + 4;
            while buf.len() < start + length {
                if read_more(sock, buf).await? == 0 {
                    return Ok(None);
                }
            }
            let body = buf[start..start + length].to_vec();
            buf.drain(..start + length);
            return Ok(Some(Request { path, body }));
        }
        if read_more(sock, buf).await? == 0 {
            return Ok(None);
        }
    }
}

async fn read_more(sock: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 4096];
    let n = sock.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_round_trips_through_the_model_name() {
        let p = Pace::Scheduled {
            ttft: Duration::from_millis(80),
            itl: Duration::from_millis(15),
        };
        assert_eq!(p.model_name(), "ttft=80000,itl=15000");
        assert_eq!(Pace::parse(&p.model_name()), Some(p));
        assert_eq!(Pace::parse("burst"), Some(Pace::Burst));
        assert_eq!(Pace::parse("llama"), None);
        assert_eq!(Pace::parse("ttft=1"), None);
        let stopping = model_name_stopping_after(p, 2);
        assert_eq!(Pace::parse(&stopping), Some(p));
        assert_eq!(stop_after(&stopping), Some(2));
        assert_eq!(stop_after(&p.model_name()), None);
    }

    #[test]
    fn chat_body_takes_max_tokens_or_max_completion_tokens() {
        for body in [
            r#"{"model":"burst","max_tokens":4}"#,
            r#"{"model":"burst","max_completion_tokens":4,"stream":true}"#,
        ] {
            let b: ChatBody = serde_json::from_str(body).unwrap();
            assert_eq!((b.model.as_str(), b.max_tokens), ("burst", 4));
        }
    }

    #[test]
    fn a_chat_body_gives_its_schedule_and_how_the_reply_ends() {
        let end = |body: &str| chat_schedule(body.as_bytes()).map(|(p, e)| (p, e.tokens, e.finish));
        let paced = Pace::Scheduled {
            ttft: Duration::from_micros(80),
            itl: Duration::from_micros(15),
        };
        let ok = |model: &str, max: u32| format!(r#"{{"model":"{model}","max_tokens":{max}}}"#);
        assert_eq!(end(&ok("burst", 4)), Some((Pace::Burst, 4, "length")));
        assert_eq!(end(&ok("burst", 0)), Some((Pace::Burst, 1, "length")));
        assert_eq!(
            end(&ok("ttft=80,itl=15,eos=2", 4)),
            Some((paced, 2, "stop"))
        );
        assert_eq!(
            end(&ok("ttft=80,itl=15,eos=9", 4)),
            Some((paced, 4, "length"))
        );
        assert_eq!(end(&ok("ttft=80", 4)), None);
        assert_eq!(end("not json"), None);
    }

    #[test]
    fn only_running_out_of_descriptors_keeps_the_accept_loop_going() {
        let err = std::io::Error::from_raw_os_error;
        assert!(is_out_of_descriptors(&err(libc::EMFILE)));
        assert!(is_out_of_descriptors(&err(libc::ENFILE)));
        assert!(!is_out_of_descriptors(&err(libc::EBADF)));
    }

    #[test]
    fn lateness_percentiles() {
        let l = Lateness::of((1..=100).collect());
        assert_eq!(l.writes, 100);
        assert_eq!(l.p50_us, 51.0);
        assert_eq!(l.p99_us, 99.0);
        assert_eq!(l.max_us, 100.0);
        assert!((l.mean_us - 50.5).abs() < 1e-9);
        assert_eq!(Lateness::of(Vec::new()), Lateness::default());
    }

    #[test]
    fn burst_body_is_a_complete_chunked_sse_stream() {
        let body = burst_body(Ending {
            tokens: 3,
            finish: "length",
        });
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK"));
        assert_eq!(text.matches("\" tok\"").count(), 3);
        assert!(text.contains("\"completion_tokens\":3"));
        assert!(text.ends_with("data: [DONE]\n\n\r\n0\r\n\r\n"));
    }
}
