//! The WebSocket relay: after both 101s, the bytes of each side go to the other as they come,
//! frames untouched (a client's frames stay masked, as the sandbox expects them), while a
//! scanner reads every frame header on the way to hold the size limits and refuse frames no
//! endpoint may send. Only frame headers are read: payloads are neither unmasked nor copied,
//! so a message costs what its bytes cost (one read and one write), whatever its size.
//!
//! The gateway speaks itself only to end a session that did not end by a close handshake:
//! a close frame to each side still open (1001 when the other side went away, idled out or
//! the gateway shuts down; 1011 to the client when the sandbox failed; 1002 or 1009 to a
//! side whose frames broke the rules), written only between two frames of that direction.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

use crate::lifecycle::PortCounters;

/// How long the end of a session (closes, the peers' replies, their FINs) may take before the
/// relay drops both sockets.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The buffer each direction starts with: what an idle session costs.
const START_BUFFER: usize = 4096;
/// How far a direction's buffer grows while reads keep filling it (large messages).
const MAX_BUFFER: usize = 64 * 1024;

/// The close codes the relay sends.
const GOING_AWAY: u16 = 1001;
const PROTOCOL_ERROR: u16 = 1002;
const TOO_BIG: u16 = 1009;
const INTERNAL_ERROR: u16 = 1011;

/// Why a scanner refused a frame: the close code for the side that sent it, and its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

const fn protocol(reason: &'static str) -> Violation {
    Violation {
        code: PROTOCOL_ERROR,
        reason,
    }
}

/// Follows the frames of one direction through the bytes that pass, header by header.
#[derive(Debug)]
pub(super) struct FrameScanner {
    /// A client's frames must be masked, a sandbox's must not (RFC 6455 §5.1).
    masked: bool,
    max_frame: u64,
    max_message: u64,
    /// The bytes of a header split across reads.
    header: [u8; 14],
    header_len: usize,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
    /// A fragmented data message is open, and its size so far.
    in_message: bool,
    message_len: u64,
    /// A close frame has gone through.
    closed: bool,
    /// Part of a refused frame went through: no frame boundary any more.
    broken: bool,
}

impl FrameScanner {
    pub(super) fn new(masked: bool, max_frame: usize, max_message: usize) -> FrameScanner {
        FrameScanner {
            masked,
            max_frame: max_frame as u64,
            max_message: max_message as u64,
            header: [0; 14],
            header_len: 0,
            remaining: 0,
            in_message: false,
            message_len: 0,
            closed: false,
            broken: false,
        }
    }

    /// Whether the bytes so far end exactly between two frames (a frame may be written).
    pub(super) fn at_boundary(&self) -> bool {
        self.remaining == 0 && self.header_len == 0 && !self.broken
    }

    /// Whether a close frame has gone through this direction.
    pub(super) fn closed(&self) -> bool {
        self.closed
    }

    /// Reads the frame headers in `data`, the next bytes of the direction. On a violation,
    /// returns how many bytes of `data` come before the offending frame (they may still be
    /// passed on; the frame and what follows may not).
    pub(super) fn scan(&mut self, data: &[u8]) -> Result<(), (usize, Violation)> {
        let mut i = 0;
        while i < data.len() {
            if self.remaining > 0 {
                let take = self.remaining.min((data.len() - i) as u64);
                self.remaining -= take;
                i += take as usize;
                continue;
            }
            // A header (2 to 14 bytes), perhaps begun in an earlier read.
            let start = i;
            let begun_earlier = self.header_len > 0;
            loop {
                if i == data.len() {
                    return Ok(());
                }
                self.header[self.header_len] = data[i];
                self.header_len += 1;
                i += 1;
                if self.header_len == header_size(&self.header[..self.header_len]) {
                    break;
                }
            }
            let (header, len) = (self.header, self.header_len);
            self.header_len = 0;
            if let Err(v) = self.frame(&header[..len]) {
                // Part of the offending header went on with an earlier read: this direction
                // can carry no frame of the gateway's any more.
                self.broken |= begun_earlier;
                return Err((if begun_earlier { 0 } else { start }, v));
            }
        }
        Ok(())
    }

    /// Checks one whole frame header and starts its payload.
    fn frame(&mut self, h: &[u8]) -> Result<(), Violation> {
        let fin = h[0] & 0x80 != 0;
        let opcode = h[0] & 0x0f;
        if h[0] & 0x70 != 0 {
            return Err(protocol("reserved bits set (no extension was negotiated)"));
        }
        if (h[1] & 0x80 != 0) != self.masked {
            return Err(protocol(if self.masked {
                "a client frame must be masked"
            } else {
                "a server frame must not be masked"
            }));
        }
        let len = match h[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[2..10]);
                let len = u64::from_be_bytes(b);
                if len >> 63 != 0 {
                    return Err(protocol("invalid frame length"));
                }
                len
            }
            n => u64::from(n),
        };
        match opcode {
            // Control frames: whole (FIN) and at most 125 bytes.
            0x8..=0xa => {
                if !fin || len > 125 {
                    return Err(protocol("invalid control frame"));
                }
                if opcode == 0x8 {
                    if len == 1 {
                        return Err(protocol("invalid close frame"));
                    }
                    self.closed = true;
                }
            }
            0x0..=0x2 => {
                if len > self.max_frame {
                    return Err(Violation {
                        code: TOO_BIG,
                        reason: "frame too big",
                    });
                }
                match (opcode, self.in_message) {
                    (0x0, false) => return Err(protocol("continuation without a message")),
                    (0x1 | 0x2, true) => return Err(protocol("a new message inside a message")),
                    (0x0, true) => self.message_len += len,
                    _ => self.message_len = len,
                }
                if self.message_len > self.max_message {
                    return Err(Violation {
                        code: TOO_BIG,
                        reason: "message too big",
                    });
                }
                self.in_message = !fin;
            }
            _ => return Err(protocol("reserved opcode")),
        }
        self.remaining = len;
        Ok(())
    }
}

/// The size of the frame header whose first bytes are `have`: 2 until its second byte is
/// known, then 2 + the extended length + the mask key.
fn header_size(have: &[u8]) -> usize {
    let Some(&second) = have.get(1) else {
        return 2;
    };
    let ext = match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if second & 0x80 != 0 { 4 } else { 0 }
}

/// A close frame from the gateway: masked toward the sandbox (the gateway is its client),
/// plain toward the client.
fn close_frame(code: u16, reason: &str, masked: bool) -> Vec<u8> {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    payload.truncate(125);
    let mut frame = vec![0x88, payload.len() as u8];
    if masked {
        frame[1] |= 0x80;
        let mut key = [0u8; 4];
        // A fixed key would do no harm here (the gateway writes nothing a peer chose), but
        // RFC 6455 asks for an unpredictable one.
        let _ = getrandom::fill(&mut key);
        frame.extend_from_slice(&key);
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    frame.extend_from_slice(&payload);
    frame
}

/// One direction of a session: what it reads from one side and passes to the other.
struct Half {
    buf: Vec<u8>,
    scanner: FrameScanner,
    /// This side closed its connection (or it failed).
    eof: bool,
}

impl Half {
    fn new(masked: bool, max_frame: usize, max_message: usize) -> Half {
        Half {
            buf: vec![0; START_BUFFER],
            scanner: FrameScanner::new(masked, max_frame, max_message),
            eof: false,
        }
    }

    /// Passes the `n` bytes just read from one side (the client's if `from_client`) on to
    /// the other, up to a frame that breaks the rules; how the session ends, if it does.
    async fn pass_on<W: AsyncWrite + Unpin>(
        &mut self,
        n: usize,
        to: &mut W,
        from_client: bool,
    ) -> Option<End> {
        let (pass, refused) = match self.scanner.scan(&self.buf[..n]) {
            Ok(()) => (n, None),
            Err((pass, v)) => (pass, Some(v)),
        };
        if to.write_all(&self.buf[..pass]).await.is_err() {
            return Some(End::WriteFailed {
                client: !from_client,
            });
        }
        if let Some(violation) = refused {
            return Some(End::Refused {
                client: from_client,
                violation,
            });
        }
        self.grow_if_full(n);
        None
    }

    /// A read that filled the buffer: the next one gets a bigger one.
    fn grow_if_full(&mut self, n: usize) {
        if n == self.buf.len() && self.buf.len() < MAX_BUFFER {
            self.buf.resize(self.buf.len() * 2, 0);
        }
    }
}

/// How a session's relaying ended.
#[derive(Clone, Copy)]
enum End {
    /// A side closed its connection or failed; `true` for the client.
    Gone {
        client: bool,
    },
    /// A side's frames broke the rules; `true` for the client.
    Refused {
        client: bool,
        violation: Violation,
    },
    /// A side could not be written to; `true` for the client.
    WriteFailed {
        client: bool,
    },
    Idle,
    Shutdown,
}

/// The limits of one session.
pub(super) struct RelayLimits {
    pub max_frame: usize,
    pub max_message: usize,
    pub idle: Duration,
    /// The port's activity, moved by the traffic either way.
    pub activity: Option<Arc<PortCounters>>,
}

/// Relays a session until both sides are done, a side fails, it idles out or the gateway
/// shuts down, then ends it within [`CLOSE_GRACE`].
pub(super) async fn relay<C, U>(
    mut client: C,
    mut upstream: U,
    limits: RelayLimits,
    shutdown: &CancellationToken,
) where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    // From the client (masked frames) and from the sandbox (plain frames).
    let mut up = Half::new(true, limits.max_frame, limits.max_message);
    let mut down = Half::new(false, limits.max_frame, limits.max_message);
    let idle = limits.idle;
    // One timer for the whole session, re-armed only when it fires: a message costs a clock
    // read, not a timer registration.
    let mut last = Instant::now();
    let idle_timer = tokio::time::sleep_until(last + idle);
    tokio::pin!(idle_timer);
    let shutdown = shutdown.cancelled();
    tokio::pin!(shutdown);

    let end = loop {
        tokio::select! {
            r = client.read(&mut up.buf) => match r {
                Ok(0) | Err(_) => break End::Gone { client: true },
                Ok(n) => {
                    if let Some(a) = &limits.activity {
                        a.received(n);
                        a.touch();
                    }
                    if let Some(end) = up.pass_on(n, &mut upstream, true).await {
                        break end;
                    }
                }
            },
            r = upstream.read(&mut down.buf) => match r {
                Ok(0) | Err(_) => break End::Gone { client: false },
                Ok(n) => {
                    if let Some(a) = &limits.activity {
                        a.sent(n);
                        a.touch();
                    }
                    if let Some(end) = down.pass_on(n, &mut client, false).await {
                        break end;
                    }
                }
            },
            _ = &mut idle_timer => {
                if last.elapsed() >= idle {
                    break End::Idle;
                }
                idle_timer.as_mut().reset(last + idle);
                continue;
            }
            _ = &mut shutdown => break End::Shutdown,
        }
        last = Instant::now();
    };

    // What each side is told (to the client, to the sandbox), and which sides are done.
    let (to_client, to_upstream) = match end {
        End::Gone { client: true } | End::WriteFailed { client: true } => {
            up.eof = true;
            (None, Some((GOING_AWAY, "client went away")))
        }
        End::Gone { client: false } | End::WriteFailed { client: false } => {
            down.eof = true;
            (Some((INTERNAL_ERROR, "sandbox connection failed")), None)
        }
        End::Refused {
            client: true,
            violation,
        } => (
            Some((violation.code, violation.reason)),
            Some((GOING_AWAY, "client went away")),
        ),
        End::Refused {
            client: false,
            violation,
        } => (
            Some((INTERNAL_ERROR, "sandbox connection failed")),
            Some((violation.code, violation.reason)),
        ),
        End::Idle => (
            Some((GOING_AWAY, "idle timeout")),
            Some((GOING_AWAY, "idle timeout")),
        ),
        End::Shutdown => (
            Some((GOING_AWAY, "gateway shutting down")),
            Some((GOING_AWAY, "gateway shutting down")),
        ),
    };
    let _ = timeout(CLOSE_GRACE, async {
        // A close goes to a side only between two frames, and only if the other side has not
        // sent it one (then the session ended by a close handshake, and the side that ended
        // it just closed its connection).
        let mut told_client = down.scanner.closed();
        let mut told_upstream = up.scanner.closed();
        if let Some((code, reason)) = to_client
            && down.scanner.at_boundary()
            && !told_client
        {
            told_client = client
                .write_all(&close_frame(code, reason, false))
                .await
                .is_ok();
        }
        if let Some((code, reason)) = to_upstream
            && up.scanner.at_boundary()
            && !told_upstream
        {
            told_upstream = upstream
                .write_all(&close_frame(code, reason, true))
                .await
                .is_ok();
        }
        // Nothing more is relayed. Once a side is done (its connection closed, or its close
        // handshake complete: it was sent a close and sent one), both get a FIN, and the relay
        // reads and drops what comes until the other one is done too. (A side whose bytes no
        // longer parse counts as closed: the gateway has nothing more to say to it.)
        let mut fin_client = false;
        let mut fin_upstream = false;
        // A side whose frames broke the rules is failed (RFC 6455 §7.1.7): no reply awaited.
        let mut client_closed =
            up.scanner.closed() || matches!(end, End::Refused { client: true, .. });
        let mut upstream_closed =
            down.scanner.closed() || matches!(end, End::Refused { client: false, .. });
        loop {
            // A side whose handshake is complete (or that failed) is done: the gateway closes
            // its connection without waiting for it to close its own (RFC 6455 §7.1.1).
            if told_upstream && upstream_closed {
                down.eof = true;
            }
            if told_client && client_closed {
                up.eof = true;
            }
            if !fin_upstream && (up.eof || down.eof) {
                fin_upstream = true;
                let _ = upstream.shutdown().await;
            }
            if !fin_client && (down.eof || up.eof) {
                fin_client = true;
                let _ = client.shutdown().await;
            }
            if up.eof && down.eof {
                break;
            }
            tokio::select! {
                r = client.read(&mut up.buf), if !up.eof => match r {
                    Ok(0) | Err(_) => up.eof = true,
                    Ok(n) => {
                        let parsed = up.scanner.scan(&up.buf[..n]).is_ok();
                        client_closed |= !parsed || up.scanner.closed();
                    }
                },
                r = upstream.read(&mut down.buf), if !down.eof => match r {
                    Ok(0) | Err(_) => down.eof = true,
                    Ok(n) => {
                        let parsed = down.scanner.scan(&down.buf[..n]).is_ok();
                        upstream_closed |= !parsed || down.scanner.closed();
                    }
                },
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(first: u8, masked: bool, len: usize) -> Vec<u8> {
        let mut f = vec![first];
        let m = if masked { 0x80 } else { 0 };
        match len {
            0..=125 => f.push(m | len as u8),
            126..=0xffff => {
                f.push(m | 126);
                f.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                f.push(m | 127);
                f.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if masked {
            f.extend_from_slice(&[1, 2, 3, 4]);
        }
        f.extend(std::iter::repeat_n(b'x', len));
        f
    }

    fn scan_all(s: &mut FrameScanner, bytes: &[u8], chunk: usize) -> Result<(), Violation> {
        for c in bytes.chunks(chunk) {
            s.scan(c).map_err(|(_, v)| v)?;
        }
        Ok(())
    }

    #[test]
    fn frames_pass_in_any_chunking() {
        let mut bytes = frame(0x81, true, 5);
        bytes.extend(frame(0x02, true, 300));
        bytes.extend(frame(0x89, true, 4)); // a ping between fragments
        bytes.extend(frame(0x80, true, 70_000));
        bytes.extend(frame(0x88, true, 2));
        for chunk in [1, 2, 3, 7, 13, 4096, 1 << 20] {
            let mut s = FrameScanner::new(true, 1 << 20, 1 << 20);
            scan_all(&mut s, &bytes, chunk).unwrap();
            assert!(s.at_boundary() && s.closed(), "chunk {chunk}");
        }
    }

    #[test]
    fn broken_frames_are_refused_with_their_code() {
        let cases: &[(Vec<u8>, u16)] = &[
            (frame(0x83, true, 2), 1002),    // reserved opcode
            (frame(0xc1, true, 2), 1002),    // RSV1 without an extension
            (frame(0x81, false, 2), 1002),   // unmasked from a client
            (frame(0x09, true, 2), 1002),    // fragmented ping
            (frame(0x89, true, 126), 1002),  // control frame too long
            (frame(0x88, true, 1), 1002),    // close with one byte
            (frame(0x80, true, 2), 1002),    // continuation without a message
            (frame(0x82, true, 2000), 1009), // frame over the limit
        ];
        for (bytes, code) in cases {
            let mut s = FrameScanner::new(true, 1024, 1500);
            let err = s.scan(bytes).unwrap_err();
            assert_eq!((err.0, err.1.code), (0, *code), "{bytes:x?}");
        }
        // A message over the limit in frames under it.
        let mut s = FrameScanner::new(true, 1024, 1500);
        let mut bytes = frame(0x02, true, 1000);
        let second = bytes.len();
        bytes.extend(frame(0x80, true, 1000));
        assert_eq!(
            s.scan(&bytes).unwrap_err(),
            (
                second,
                Violation {
                    code: 1009,
                    reason: "message too big"
                }
            )
        );
        // A new message inside a fragmented one.
        let mut s = FrameScanner::new(true, 1024, 1500);
        let mut bytes = frame(0x01, true, 10);
        bytes.extend(frame(0x81, true, 10));
        assert_eq!(s.scan(&bytes).unwrap_err().1.code, 1002);
        // A masked frame from a sandbox.
        let mut s = FrameScanner::new(false, 1024, 1500);
        assert_eq!(s.scan(&frame(0x81, true, 3)).unwrap_err().1.code, 1002);
    }

    /// Scans `bytes` in chunks; the absolute offset of a refused frame and its code.
    fn outcome(bytes: &[u8], chunks: &[usize]) -> Option<(usize, u16)> {
        let mut s = FrameScanner::new(true, 300, 500);
        let (mut at, mut sizes) = (0, chunks.iter().cycle());
        while at < bytes.len() {
            let n = (*sizes.next().unwrap_or(&1)).clamp(1, bytes.len() - at);
            if let Err((pass, v)) = s.scan(&bytes[at..at + n]) {
                return Some((at + pass, v.code));
            }
            at += n;
        }
        None
    }

    proptest::proptest! {
        /// Whatever arrives, in whatever pieces: no panic, and the same verdict as when it
        /// arrives whole (a header split across reads is refused at the start of the read
        /// that completes it, the bytes before having gone on already).
        #[test]
        fn any_bytes_in_any_pieces(
            frames in proptest::collection::vec((0u8..=255, 0usize..400, proptest::bool::ANY), 0..6),
            junk in proptest::collection::vec(0u8..=255, 0..40),
            chunks in proptest::collection::vec(1usize..50, 1..8),
        ) {
            let mut bytes = Vec::new();
            for (first, len, masked) in frames {
                bytes.extend(frame(first, masked, len));
            }
            bytes.extend(junk);
            let whole = outcome(&bytes, &[bytes.len().max(1)]);
            let pieces = outcome(&bytes, &chunks);
            match (whole, pieces) {
                (None, None) => {}
                (Some((w, wc)), Some((p, pc))) => {
                    proptest::prop_assert_eq!(wc, pc);
                    proptest::prop_assert!(w <= p && p - w < 14, "whole {w}, pieces {p}");
                }
                other => proptest::prop_assert!(false, "{other:?}"),
            }
        }
    }

    #[test]
    fn gateway_close_frames_are_well_formed() {
        let plain = close_frame(1001, "idle timeout", false);
        assert_eq!(&plain[..4], &[0x88, 14, 0x03, 0xe9]);
        assert_eq!(&plain[4..], b"idle timeout");
        let masked = close_frame(1011, "x", true);
        assert_eq!(masked[1], 0x80 | 3);
        let key = &masked[2..6];
        let payload: Vec<u8> = masked[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        assert_eq!(payload, [0x03, 0xf3, b'x']);
        let mut s = FrameScanner::new(true, 1024, 1024);
        s.scan(&masked).unwrap();
        assert!(s.closed() && s.at_boundary());
    }
}
