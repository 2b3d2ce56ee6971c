//! One attacker's connection: a blocking `TcpStream` with timeouts, the opening handshake
//! of any dialect done by hand, and a client-role decoder for whatever the server sends, so
//! an attack can say what it saw: an HTTP status, a close code, a TCP close, a reset, or
//! nothing at all.

use crate::wire;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use ws::protocols::handshake::Status;
use ws::protocols::{Decode, Decoder, Dialect, Encoder, Event, Limits, MessageKind, Role};

/// Bound on connecting, and on any blocking read or write not given its own deadline.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads one [`RawConn::poll`] may make.
const POLL_READS: usize = 64;

/// How a connection ended, or that it had not by the time we stopped looking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// An HTTP response head (to a connection that had not finished its handshake).
    Http(u16),
    /// A close frame: its code (1005 when it carried none) and reason.
    Close(u16, String),
    /// The server closed TCP without a close frame.
    Eof,
    /// The server reset the connection.
    Reset,
    /// Nothing ended it by the deadline: still open.
    Open,
    /// Connecting failed, or the server broke the framing rules.
    Failed(String),
}

impl Seen {
    /// A short label for tallies: `HTTP 431`, `close 1009`, `TCP close`, ...
    pub fn label(&self) -> String {
        match self {
            Seen::Http(status) => format!("HTTP {status}"),
            Seen::Close(code, reason) if reason.is_empty() => format!("close {code}"),
            Seen::Close(code, reason) => format!("close {code} {reason:?}"),
            Seen::Eof => "TCP close".into(),
            Seen::Reset => "reset".into(),
            Seen::Open => "still open".into(),
            Seen::Failed(why) => format!("failed: {why}"),
        }
    }

    /// Whether the server ended the connection (answered, closed or reset it).
    pub fn ended_by_server(&self) -> bool {
        matches!(
            self,
            Seen::Http(_) | Seen::Close(..) | Seen::Eof | Seen::Reset
        )
    }
}

/// What the server sent next: a piece of a message, a control frame, or the end.
#[derive(Debug)]
pub enum Piece {
    Start,
    /// Payload bytes (empty when the caller asked not to keep them).
    Data(Vec<u8>),
    End(MessageKind),
    Ping,
    Pong(Vec<u8>),
    /// The connection ended ([`Seen::Open`]: the deadline passed first; call again).
    Ended(Seen),
}

pub struct RawConn {
    pub stream: TcpStream,
    dialect: Option<Dialect>,
    encoder: Option<Encoder>,
    decoder: Option<Decoder>,
    /// Received bytes from `pos` on are not decoded yet.
    buf: Vec<u8>,
    pos: usize,
    /// The kind of the message being received.
    kind: Option<MessageKind>,
    /// Set once the connection has ended; later calls return it again.
    pub ended: Option<Seen>,
}

/// Handshake keys and mask seeds differ per connection without any OS randomness.
static SEED: AtomicU64 = AtomicU64::new(0x5EED);

fn next_seed() -> u64 {
    SEED.fetch_add(0x9E37_79B9, Ordering::Relaxed)
}

fn classify(e: &io::Error) -> Seen {
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            Seen::Reset
        }
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Seen::Open,
        _ => Seen::Failed(e.to_string()),
    }
}

impl RawConn {
    /// A TCP connection and nothing more.
    pub fn tcp(addr: SocketAddr) -> Result<RawConn, Seen> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .map_err(|e| Seen::Failed(format!("connect: {e}")))?;
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| Seen::Failed(e.to_string()))?;
        Ok(RawConn {
            stream,
            dialect: None,
            encoder: None,
            decoder: None,
            buf: Vec::new(),
            pos: 0,
            kind: None,
            ended: None,
        })
    }

    /// A connection that has completed `dialect`'s opening handshake for `path`. A refusal
    /// is `Err(Seen::Http(status))`.
    pub fn websocket(addr: SocketAddr, dialect: Dialect, path: &str) -> Result<RawConn, Seen> {
        let mut conn = RawConn::tcp(addr)?;
        let seed = next_seed();
        let (request, handshake) = wire::request(dialect, &addr.to_string(), path, seed);
        conn.send(&request).map_err(|e| classify(&e))?;
        let deadline = Instant::now() + IO_TIMEOUT;
        let consumed = loop {
            match handshake.read_response(&conn.buf) {
                Ok(Status::Complete(response)) => break response.consumed,
                Ok(Status::Partial) => {}
                Err(ws::protocols::ClientHandshakeError::Status(status)) => {
                    return Err(Seen::Http(status))
                }
                Err(e) => return Err(Seen::Failed(format!("handshake: {e}"))),
            }
            conn.fill(Some(deadline))?;
        };
        conn.pos = consumed;
        let mut mask_seed = [0u8; 16];
        mask_seed[..8].copy_from_slice(&seed.to_le_bytes());
        conn.encoder = Some(Encoder::client(dialect, mask_seed));
        let limits = Limits::default().max_frame(1 << 40).max_message(1 << 40);
        conn.decoder = Some(Decoder::new(dialect, Role::Client, &limits));
        conn.dialect = Some(dialect);
        Ok(conn)
    }

    /// This connection, once it has sent `bytes` (if any): for building crowds.
    pub fn sending(mut self, bytes: &[u8]) -> Result<RawConn, Seen> {
        if !bytes.is_empty() {
            self.send(bytes).map_err(|e| classify(&e))?;
        }
        Ok(self)
    }

    pub fn dialect(&self) -> Option<Dialect> {
        self.dialect
    }

    /// Write all of `bytes` (blocking, within the write timeout).
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.set_nonblocking(false)?;
        self.stream.write_all(bytes)
    }

    /// Send one whole message, framed and masked for the connection's dialect.
    pub fn send_message(&mut self, kind: MessageKind, payload: &[u8]) -> io::Result<()> {
        let encoder = self
            .encoder
            .as_mut()
            .ok_or_else(|| io::Error::other("no handshake"))?;
        let mut out = Vec::with_capacity(payload.len() + 16);
        encoder
            .message(kind, payload, &mut out)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.send(&out)
    }

    /// Set every time, not cached: the pump switches the same sockets behind our back.
    fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        self.stream.set_nonblocking(on)
    }

    /// Read more bytes: blocking until `deadline` (`Some`), or only what is there (`None`).
    /// `Err` when nothing more will come ([`Seen::Eof`], [`Seen::Reset`]) or nothing came
    /// in time ([`Seen::Open`]).
    fn fill(&mut self, deadline: Option<Instant>) -> Result<usize, Seen> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let wait = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Seen::Open);
                }
                Some(left)
            }
            None => None,
        };
        self.set_nonblocking(wait.is_none())
            .map_err(|e| classify(&e))?;
        if let Some(wait) = wait {
            self.stream
                .set_read_timeout(Some(wait))
                .map_err(|e| classify(&e))?;
        }
        // Read through a stack buffer: thousands of connections each keep only what they
        // have not decoded yet.
        let mut chunk = [0u8; 32 << 10];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(Seen::Eof),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(classify(&e)),
        }
    }

    /// The next piece among the bytes already received, if they hold one.
    fn decode(&mut self, keep: bool) -> Option<Piece> {
        let Some(decoder) = self.decoder.as_mut() else {
            // No handshake: the server can only answer with an HTTP head.
            let rest = &self.buf[self.pos..];
            let end = rest.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            let seen = match response.parse(&rest[..end]) {
                Ok(_) => Seen::Http(response.code.unwrap_or(0)),
                Err(e) => Seen::Failed(format!("bad HTTP answer: {e}")),
            };
            self.pos += end;
            return Some(Piece::Ended(seen));
        };
        let (n, event) = match decoder.decode(&mut self.buf[self.pos..]) {
            Ok(decoded) => decoded,
            Err(e) => return Some(Piece::Ended(Seen::Failed(format!("server framing: {e}")))),
        };
        let piece = event.map(|event| match event {
            Event::MessageStart { kind, .. } => {
                self.kind = Some(kind);
                Piece::Start
            }
            Event::Data(data) if keep => Piece::Data(data.to_vec()),
            Event::Data(_) => Piece::Data(Vec::new()),
            Event::MessageEnd => Piece::End(self.kind.take().unwrap_or(MessageKind::Binary)),
            Event::Ping(_) => Piece::Ping,
            Event::Pong(payload) => Piece::Pong(payload.to_vec()),
            Event::Close(close) => Piece::Ended(Seen::Close(
                close.code_or_no_status(),
                close.reason.to_owned(),
            )),
            // The siege negotiates no compression; a server that compresses anyway fails.
            Event::Compressed { .. } => {
                Piece::Ended(Seen::Failed("compressed frame never negotiated".into()))
            }
        });
        self.pos += n;
        piece
    }

    /// The next piece, waiting for it until `deadline`; payload bytes are kept if `keep`.
    pub fn next(&mut self, deadline: Instant, keep: bool) -> Piece {
        if let Some(seen) = &self.ended {
            return Piece::Ended(seen.clone());
        }
        loop {
            if let Some(piece) = self.decode(keep) {
                if let Piece::Ended(seen) = &piece {
                    self.ended = Some(seen.clone());
                }
                return piece;
            }
            if let Err(seen) = self.fill(Some(deadline)) {
                if seen != Seen::Open {
                    self.ended = Some(seen.clone());
                }
                return Piece::Ended(seen);
            }
        }
    }

    /// Without blocking, read and skip what has arrived (at most [`POLL_READS`] reads, so
    /// a server that never stops sending cannot keep us here); `Some` once the connection
    /// has ended (or been answered, before a handshake).
    pub fn poll(&mut self) -> Option<Seen> {
        for _ in 0..POLL_READS {
            if let Some(seen) = &self.ended {
                return Some(seen.clone());
            }
            while let Some(piece) = self.decode(false) {
                if let Piece::Ended(seen) = piece {
                    self.ended = Some(seen);
                    return self.ended.clone();
                }
            }
            match self.fill(None) {
                Ok(_) => {}
                Err(Seen::Open) => return None,
                Err(seen) => self.ended = Some(seen),
            }
        }
        self.ended.clone()
    }

    /// Block until the connection ends, or report [`Seen::Open`] at `deadline`.
    pub fn wait_end(&mut self, deadline: Instant) -> Seen {
        loop {
            if let Piece::Ended(seen) = self.next(deadline, false) {
                return seen;
            }
        }
    }

    /// The next whole message, skipping control frames; `Err` with how the connection
    /// ended, or [`Seen::Open`] at `deadline`.
    pub fn recv_message(&mut self, deadline: Instant) -> Result<(MessageKind, Vec<u8>), Seen> {
        let mut message = Vec::new();
        loop {
            match self.next(deadline, true) {
                Piece::Data(data) => message.extend_from_slice(&data),
                Piece::End(kind) => return Ok((kind, message)),
                Piece::Ended(seen) => return Err(seen),
                Piece::Start | Piece::Ping | Piece::Pong(_) => {}
            }
        }
    }

    /// Wait for the text message `text` (a session's ready notice), skipping others.
    pub fn await_text(&mut self, text: &str, deadline: Instant) -> Result<(), Seen> {
        loop {
            if let (MessageKind::Text, got) = self.recv_message(deadline)? {
                if got == text.as_bytes() {
                    return Ok(());
                }
            }
        }
    }

    /// Close by reset: `SO_LINGER` zero, then close, so the server gets an RST.
    pub fn reset(self) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket descriptor and a `linger` of the size passed.
        unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
}
