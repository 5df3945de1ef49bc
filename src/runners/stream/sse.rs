//! An incremental Server-Sent Events parser (the WHATWG event-stream format) that allocates
//! nothing in steady state: bytes are appended to one buffer, complete lines are read in
//! place, and an event's data is gathered in a reused string and lent out. (The generic
//! `eventsource-stream` crate allocates per line and per event, which showed up first in the
//! client's profile when chunks arrive in bursts.)
//!
//! Only `data` matters to the runner; `event`, `id`, `retry` and comments are skipped.
//! Lines end in `\n`, `\r\n` or `\r`; one space after the colon is dropped; an event is
//! dispatched on a blank line if it had a `data` line; a leading BOM is ignored.

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes received and not yet consumed (from `start`).
    buf: Vec<u8>,
    start: usize,
    /// The current event's data lines, each followed by `\n`.
    data: String,
    /// Whether `data` was lent out and must be cleared before the next line.
    dispatched: bool,
    /// The last line ended in `\r` at the end of the buffer: a `\n` next belongs to it.
    skip_lf: bool,
    /// Past the (optional) byte-order mark.
    started: bool,
    /// Raw bytes of the event being received (its lines so far, with terminators).
    event_raw: usize,
}

/// A line that is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidUtf8(pub String);

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append bytes received from the server.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
        } else if self.start > 0 {
            self.buf.drain(..self.start);
        }
        self.start = 0;
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held for the event being received (unconsumed input plus its data so far).
    pub fn pending_bytes(&self) -> usize {
        self.buf.len() - self.start + self.event_raw
    }

    /// The data of the next complete event, or `None` until more bytes arrive.
    pub fn next_event(&mut self) -> Result<Option<&str>, InvalidUtf8> {
        if self.dispatched {
            self.data.clear();
            self.dispatched = false;
        }
        if !self.started {
            // Servers have been seen to send more than one byte-order mark: skip them all.
            loop {
                let head = &self.buf[self.start..];
                if head.len() < BOM.len() && BOM.starts_with(head) {
                    return Ok(None);
                }
                if !head.starts_with(BOM) {
                    break;
                }
                self.start += BOM.len();
            }
            self.started = true;
        }
        loop {
            if self.skip_lf && self.start < self.buf.len() {
                if self.buf[self.start] == b'\n' {
                    self.start += 1;
                }
                self.skip_lf = false;
            }
            let rest = &self.buf[self.start..];
            let Some(len) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                return Ok(None);
            };
            let line_start = self.start;
            let ending = rest[len];
            self.start += len + 1;
            if ending == b'\r' {
                match self.buf.get(self.start) {
                    Some(b'\n') => self.start += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            if len == 0 {
                self.event_raw = 0;
                if self.data.is_empty() {
                    continue;
                }
                self.data.pop();
                self.dispatched = true;
                return Ok(Some(&self.data));
            }
            self.event_raw += self.start - line_start;
            let line = &self.buf[line_start..line_start + len];
            let (field, value) = match line.iter().position(|&b| b == b':') {
                Some(0) => continue,
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
                }
                None => (line, &b""[..]),
            };
            if field != b"data" {
                // Other fields are ignored, but a stream that is not UTF-8 is not SSE.
                if let Err(e) = std::str::from_utf8(line) {
                    return Err(InvalidUtf8(format!(
                        "invalid UTF-8 ({e}) in {:?}",
                        String::from_utf8_lossy(line)
                    )));
                }
                continue;
            }
            let text = std::str::from_utf8(value).map_err(|e| {
                InvalidUtf8(format!(
                    "invalid UTF-8 ({e}) in {:?}",
                    String::from_utf8_lossy(line)
                ))
            })?;
            self.data.push_str(text);
            self.data.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(parser: &mut SseParser) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(d) = parser.next_event().unwrap() {
            out.push(d.to_string());
        }
        out
    }

    fn parse_split(bytes: &[u8], size: usize) -> Vec<String> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(size) {
            p.push(piece);
            out.extend(all(&mut p));
        }
        out
    }

    #[test]
    fn events_in_every_split_and_line_ending() {
        let text = "\u{feff}: hi\nevent: x\nid: 1\ndata: a\ndata:b\n\nretry: 5\n\ndata\n\ndata: [DONE]\n\n";
        for ending in ["\n", "\r\n", "\r"] {
            let bytes = text.replace('\n', ending).into_bytes();
            for size in [1, 2, 3, 5, 1000] {
                assert_eq!(
                    parse_split(&bytes, size),
                    vec!["a\nb", "", "[DONE]"],
                    "{ending:?} split {size}"
                );
            }
        }
    }

    #[test]
    fn an_event_needs_its_blank_line() {
        let mut p = SseParser::new();
        p.push(b"data: x\n");
        assert_eq!(all(&mut p), Vec::<String>::new());
        p.push(b"\n");
        assert_eq!(all(&mut p), vec!["x"]);
    }

    #[test]
    fn multibyte_text_split_across_pieces_and_invalid_utf8() {
        let bytes = "data: héllo ✓\n\n".as_bytes();
        assert_eq!(parse_split(bytes, 1), vec!["héllo ✓"]);
        let mut p = SseParser::new();
        p.push(b"data: \xff\n\n");
        assert!(p.next_event().is_err());
    }

    #[test]
    fn buffer_is_reused_without_growing() {
        let mut p = SseParser::new();
        for _ in 0..1000 {
            p.push(b"data: {\"choices\":[]}\n\ndata: {\"x\"");
            assert_eq!(all(&mut p).len(), 1);
            p.push(b":1}\n\n");
            assert_eq!(all(&mut p), vec!["{\"x\":1}"]);
        }
        assert!(p.buf.capacity() < 256, "{}", p.buf.capacity());
    }
}
