//! What hyper hides: a request head with both `Content-Length` and `Transfer-Encoding`.
//! hyper frames such a request by `Transfer-Encoding` alone and removes the `Content-Length`
//! before the gateway sees it (it then closes the connection after the answer), so the
//! headers cannot tell the gateway to refuse it. A [`Scanned`] stream reads the client's bytes
//! as they pass to hyper: it parses each request head with the parser hyper uses
//! (`httparse`), skips each body by the same framing rules, and records which request of the
//! connection, counted from 0, had both headers ([`FramingLog`]). The connection's service
//! counts the requests hyper hands it, and marks that one ([`BothLengths`]) for the refusal
//! phase (`GatewayRefusal::ambiguous_framing`).
//!
//! The scanner stops, and marks nothing more, at the first head with both headers (hyper
//! closes the connection after it), at anything it does not parse as hyper would accept it
//! (hyper then fails the connection itself, or the request is framed as before: by
//! `Transfer-Encoding` alone, without the `Content-Length`), and at a head bigger than the
//! gateway's limit (hyper answers 431). The bytes of an upgraded connection pass through it
//! too; whatever it makes of them marks no request, since hyper hands the connection's
//! service no request after an upgrade.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The mark on a request whose head had both `Content-Length` and `Transfer-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BothLengths;

/// Which request of a connection had both headers, shared by the scanner and the service.
#[derive(Debug)]
pub(crate) struct FramingLog {
    /// The index of that request, or `u64::MAX` for none (yet).
    both_lengths_at: AtomicU64,
    /// Requests handed to the service so far.
    served: AtomicU64,
}

impl FramingLog {
    pub fn new() -> Arc<FramingLog> {
        Arc::new(FramingLog {
            both_lengths_at: AtomicU64::new(u64::MAX),
            served: AtomicU64::new(0),
        })
    }

    /// Counts one more request handed to the service: whether its head had both headers.
    /// hyper hands a connection's requests over one by one, in the order they came, and
    /// only after it has read their heads (through the scanner).
    pub fn next_request_has_both_lengths(&self) -> bool {
        self.served.fetch_add(1, Relaxed) == self.both_lengths_at.load(Relaxed)
    }
}

/// Where the scanner is in the client's bytes.
#[derive(Debug)]
enum State {
    /// In a request head (or the empty lines before one): its bytes so far.
    Head,
    /// In a body framed by `Content-Length`: the bytes still to come.
    Fixed(u64),
    /// In a chunked body.
    Chunked(Chunk),
    /// Nothing more to find.
    Done,
}

/// Where the scanner is in a chunked body (RFC 9112 section 7.1), state by state as hyper's
/// decoder reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// The hex digits of a chunk size: the value so far, and whether there was a digit.
    Size(u64, bool),
    /// Whitespace after the size.
    SizeLws(u64),
    /// An extension, up to the CR.
    Extension(u64),
    /// The LF of a size line.
    SizeLf(u64),
    /// Data bytes still to come.
    Data(u64),
    /// The CR, then the LF, after a chunk's data.
    DataCr,
    DataLf,
    /// After the last chunk: the CR of the empty line that ends the body, or a trailer.
    EndCr,
    /// Inside a trailer line, up to its CR, then its LF.
    Trailer,
    TrailerLf,
    /// The LF of the empty line that ends the body.
    EndLf,
}

/// Follows the requests of one connection through the bytes the client sends.
#[derive(Debug)]
pub(crate) struct HeadScanner {
    state: State,
    head: Vec<u8>,
    /// Heads seen so far.
    heads: u64,
    max_head_size: usize,
    max_headers: usize,
    log: Arc<FramingLog>,
}

impl HeadScanner {
    pub fn new(max_head_size: usize, max_headers: usize, log: Arc<FramingLog>) -> HeadScanner {
        HeadScanner {
            state: State::Head,
            head: Vec::new(),
            heads: 0,
            max_head_size,
            max_headers,
            log,
        }
    }

    /// Reads the next bytes of the client's stream.
    pub fn scan(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::Done => return,
                State::Head => {
                    if self.head.is_empty() {
                        // The empty lines before a request line (which hyper skips too).
                        let skip = data
                            .iter()
                            .position(|b| !matches!(b, b'\r' | b'\n'))
                            .unwrap_or(data.len());
                        data = &data[skip..];
                        if data.is_empty() {
                            return;
                        }
                    }
                    let before = self.head.len();
                    let room = (self.max_head_size + 1).saturating_sub(before);
                    let take = data.len().min(room);
                    self.head.extend_from_slice(&data[..take]);
                    // A head ends at an empty line: look only where one can end.
                    let from = before.saturating_sub(3);
                    let Some(end) = head_end(&self.head, from) else {
                        if self.head.len() > self.max_head_size {
                            self.state = State::Done; // hyper answers 431
                        }
                        return;
                    };
                    let used = end - before;
                    self.state = self.parse_head(end);
                    self.head.clear();
                    data = &data[used..];
                }
                State::Fixed(left) => {
                    let take = left.min(data.len() as u64);
                    data = &data[take as usize..];
                    self.state = if take == left {
                        State::Head
                    } else {
                        State::Fixed(left - take)
                    };
                }
                State::Chunked(Chunk::Data(left)) => {
                    let take = left.min(data.len() as u64);
                    data = &data[take as usize..];
                    self.state = State::Chunked(if take == left {
                        Chunk::DataCr
                    } else {
                        Chunk::Data(left - take)
                    });
                }
                State::Chunked(chunk) => {
                    self.state = match chunk_step(chunk, data[0]) {
                        Some(Some(next)) => State::Chunked(next),
                        Some(None) => State::Head,
                        None => State::Done,
                    };
                    data = &data[1..];
                }
            }
        }
    }

    /// The state after the head in `self.head[..end]`: its body, or the end of scanning.
    fn parse_head(&mut self, end: usize) -> State {
        let mut headers = vec![httparse::EMPTY_HEADER; self.max_headers];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&self.head[..end]) {
            Ok(httparse::Status::Complete(_)) => {}
            // Not a head hyper takes: it fails the connection.
            _ => return State::Done,
        }
        let index = self.heads;
        self.heads += 1;
        let (mut length, mut te) = (None::<u64>, None::<bool>);
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                // hyper decodes chunks when the last coding of the last line is `chunked`.
                te = Some(last_coding_is_chunked(h.value));
            } else if h.name.eq_ignore_ascii_case("content-length") {
                let Some(n) = std::str::from_utf8(h.value)
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                else {
                    return State::Done;
                };
                if length.is_some_and(|l| l != n) {
                    return State::Done;
                }
                length = Some(n);
            }
        }
        match (te, length) {
            (Some(_), Some(_)) => {
                self.log.both_lengths_at.store(index, Relaxed);
                State::Done
            }
            (Some(true), None) => State::Chunked(Chunk::Size(0, false)),
            (Some(false), None) => State::Done,
            (None, Some(0)) | (None, None) => State::Head,
            (None, Some(n)) => State::Fixed(n),
        }
    }
}

/// Where the empty line that ends a head ends (after its LF), looking from `from`: CRLF CRLF
/// or, as httparse also takes, LF LF and LF CRLF. (A head never starts with CR or LF: the
/// empty lines before it are skipped.)
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(n) = memchr::memchr(b'\n', &buf[i..]) {
        let lf = i + n;
        let blank = match lf.checked_sub(1).map(|j| buf[j]) {
            Some(b'\n') => true,
            Some(b'\r') => lf >= 2 && buf[lf - 2] == b'\n',
            _ => false,
        };
        if blank {
            return Some(lf + 1);
        }
        i = lf + 1;
    }
    None
}

fn last_coding_is_chunked(value: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .map(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"))
        .unwrap_or(false)
}

/// One byte of a chunked body: the next state, `Some(None)` when the body has ended, `None`
/// for a byte hyper's decoder refuses (or a size it cannot hold).
fn chunk_step(state: Chunk, b: u8) -> Option<Option<Chunk>> {
    let size_end = |n: u64| match b {
        b'\t' | b' ' => Some(Chunk::SizeLws(n)),
        b';' => Some(Chunk::Extension(n)),
        b'\r' => Some(Chunk::SizeLf(n)),
        _ => None,
    };
    let next = match state {
        Chunk::Size(n, digits) => match (b as char).to_digit(16) {
            Some(d) => Chunk::Size(n.checked_mul(16)?.checked_add(u64::from(d))?, true),
            None if digits => size_end(n)?,
            None => return None,
        },
        Chunk::SizeLws(n) => size_end(n)?,
        Chunk::Extension(n) => match b {
            b'\r' => Chunk::SizeLf(n),
            b'\n' => return None,
            _ => Chunk::Extension(n),
        },
        Chunk::SizeLf(0) if b == b'\n' => Chunk::EndCr,
        Chunk::SizeLf(n) if b == b'\n' => Chunk::Data(n),
        Chunk::SizeLf(_) => return None,
        // Data is skipped in bulk; a zero-length rest is its end.
        Chunk::Data(_) => return None,
        Chunk::DataCr if b == b'\r' => Chunk::DataLf,
        Chunk::DataLf if b == b'\n' => Chunk::Size(0, false),
        Chunk::DataCr | Chunk::DataLf => return None,
        Chunk::EndCr if b == b'\r' => Chunk::EndLf,
        Chunk::EndCr | Chunk::Trailer if b != b'\r' => Chunk::Trailer,
        Chunk::Trailer => Chunk::TrailerLf,
        Chunk::TrailerLf if b == b'\n' => Chunk::EndCr,
        Chunk::EndLf if b == b'\n' => return Some(None),
        Chunk::EndCr | Chunk::TrailerLf | Chunk::EndLf => return None,
    };
    Some(Some(next))
}

pin_project! {
    /// A client's stream whose bytes a [`HeadScanner`] reads on their way to hyper.
    #[derive(Debug)]
    pub(crate) struct Scanned<T> {
        #[pin]
        inner: T,
        scanner: HeadScanner,
    }
}

impl<T> Scanned<T> {
    pub fn new(inner: T, scanner: HeadScanner) -> Scanned<T> {
        Scanned { inner, scanner }
    }
}

impl<T: AsyncRead> AsyncRead for Scanned<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let res = this.inner.poll_read(cx, buf);
        if !matches!(this.scanner.state, State::Done) {
            this.scanner.scan(&buf.filled()[before..]);
        }
        res
    }
}

impl<T: AsyncWrite> AsyncWrite for Scanned<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` in pieces of `piece` bytes; the index of the request marked, if any.
    fn marked(bytes: &[u8], piece: usize) -> Option<u64> {
        let log = FramingLog::new();
        let mut s = HeadScanner::new(32 * 1024, 100, log.clone());
        for p in bytes.chunks(piece) {
            s.scan(p);
        }
        (0..8)
            .position(|_| log.next_request_has_both_lengths())
            .map(|i| i as u64)
    }

    #[test]
    fn finds_the_request_with_both_lengths_in_any_pieces() {
        let both = b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let body = "x\r\ncontent-length: 1\r\ntransfer-encoding: x\r\n\r\n\r\n\r\n";
        let mut stream = Vec::new();
        stream.extend_from_slice(b"\r\nGET / HTTP/1.1\r\nhost: a\r\n\r\n");
        stream.extend_from_slice(
            format!(
                "POST / HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        stream.extend_from_slice(
            format!(
                "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n\
                 {:X};name=\"v\"\r\n{body}\r\n0\r\nx-t: 1\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        stream.extend_from_slice(both);
        for piece in [1, 2, 3, 7, 64, 4096] {
            assert_eq!(marked(&stream, piece), Some(3), "pieces of {piece}");
        }
        assert_eq!(marked(both, 5), Some(0));
        // Nothing to mark without it, or with one header only.
        let n = stream.len() - both.len();
        assert_eq!(marked(&stream[..n], 1), None);
        assert_eq!(
            marked(b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n", 1),
            None
        );
    }

    #[test]
    fn stops_where_hyper_would_fail() {
        // A bad chunk size, then what would be a marked head: no longer followed.
        let bad = b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n\r\n\
                    POST / HTTP/1.1\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n";
        assert_eq!(marked(bad, 3), None);
        // A head over the limit.
        let mut big = b"GET / HTTP/1.1\r\nx: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 40 * 1024));
        big.extend_from_slice(b"\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!(marked(&big, 1000), None);
    }
}
