//! The receiving half: frames in, messages out (whole, or in pieces with `recv_piece`); pings
//! and closes answered.

use super::error::ClientError;
use super::event::{ClientEvent, ClientPiece};
use super::shared::Shared;
use crate::socket::CloseInfo;
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ws_protocols::{close, Decode, Decoder, Event, Limits, MessageKind, ProtocolError, Role};

/// Read buffer. The decoder hands payload out as it arrives, so what stays between reads is
/// at most an incomplete frame header or control frame (under 150 bytes).
const READ_BUF: usize = 64 << 10;
/// Most memory reserved up front for a message whose length the server declared.
const MAX_RESERVE: u64 = 1 << 20;

/// A message being received.
enum Open {
    /// Assembled for `recv`.
    Whole(MessageKind, Vec<u8>),
    /// Handed out piece by piece by `recv_piece`.
    Pieces,
}

/// The receiving half of a connection, from [`crate::Client::split`]. See
/// [`crate::Client::recv`] for what `recv` does; the sending half is [`crate::ClientSender`].
///
/// ```
/// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
/// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
/// # std::thread::spawn(move || server.run());
/// let (mut sender, mut receiver) = ws::connect(&url)?.split();
/// let reader = std::thread::spawn(move || receiver.recv());
/// sender.send_text("to the other thread")?;
/// assert_eq!(reader.join().unwrap()?, ws::ClientEvent::Text("to the other thread".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientReceiver {
    shared: Arc<Shared>,
    stream: TcpStream,
    decoder: Decoder,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    message: Option<Open>,
    read_timeout: Option<Duration>,
    /// The timeout last set on the socket, to skip redundant system calls.
    applied_timeout: Option<Option<Duration>>,
    done: bool,
}

impl std::fmt::Debug for ClientReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientReceiver")
            .field("dialect", &self.shared.dialect)
            .field("peer_addr", &self.shared.peer_addr)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl ClientReceiver {
    pub(crate) fn new(
        shared: Arc<Shared>,
        stream: TcpStream,
        limits: &Limits,
        read_timeout: Option<Duration>,
        leftover: Vec<u8>,
    ) -> Self {
        let end = leftover.len();
        let mut buf = leftover;
        buf.resize(READ_BUF.max(end), 0);
        ClientReceiver {
            decoder: Decoder::new(shared.dialect, Role::Client, limits),
            shared,
            stream,
            buf,
            start: 0,
            end,
            message: None,
            read_timeout,
            applied_timeout: None,
            done: false,
        }
    }

    /// The dialect spoken on this connection.
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let (_sender, receiver) = ws::connect(&url)?.split();
    /// assert_eq!(receiver.dialect().name(), "hybi-13");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dialect(&self) -> ws_protocols::Dialect {
        self.shared.dialect
    }

    /// The next message, control frame or end of the connection. See [`crate::Client::recv`].
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let (mut sender, mut receiver) = ws::connect(&url)?.split();
    /// sender.send_binary(b"\x00\x01")?;
    /// assert_eq!(receiver.recv()?, ws::ClientEvent::Binary(vec![0, 1]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&mut self) -> Result<ClientEvent, ClientError> {
        match self.next(false)? {
            ClientPiece::Other(event) => Ok(event),
            // `next(false)` assembles messages and reports them as events.
            piece => unreachable!("recv got {piece:?}"),
        }
    }

    /// The next piece of a message, control frame or end of the connection. See
    /// [`crate::Client::recv_piece`].
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// use ws::protocols::MessageKind;
    /// use ws::ClientPiece;
    ///
    /// let (mut sender, mut receiver) = ws::connect(&url)?.split();
    /// sender.send_text("in pieces")?;
    /// let start = ClientPiece::Start { kind: MessageKind::Text, len: Some(9) };
    /// assert_eq!(receiver.recv_piece()?, start);
    /// assert_eq!(receiver.recv_piece()?, ClientPiece::Data(b"in pieces".to_vec()));
    /// assert_eq!(receiver.recv_piece()?, ClientPiece::End);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_piece(&mut self) -> Result<ClientPiece, ClientError> {
        self.next(true)
    }

    /// What `recv` (`pieces` false: messages assembled) or `recv_piece` returns.
    fn next(&mut self, pieces: bool) -> Result<ClientPiece, ClientError> {
        if self.done {
            return Err(ClientError::Closed);
        }
        match (&self.message, pieces) {
            (Some(Open::Whole(..)), true) | (Some(Open::Pieces), false) => {
                return Err(ClientError::MessageOpen)
            }
            _ => {}
        }
        loop {
            if let Some(piece) = self.decode(pieces)? {
                return Ok(piece);
            }
            if let Some(event) = self.fill()? {
                return Ok(ClientPiece::Other(event));
            }
        }
    }

    /// Decode what is buffered, up to the next thing worth returning: with `pieces`, every
    /// part of a message; without, only whole messages (as `ClientPiece::Other`).
    fn decode(&mut self, pieces: bool) -> Result<Option<ClientPiece>, ClientError> {
        loop {
            let (n, event) = match self.decoder.decode(&mut self.buf[self.start..self.end]) {
                Ok(decoded) => decoded,
                Err(e) => return Err(self.fail(e)),
            };
            self.start += n;
            let found = match event {
                None => return Ok(None),
                Some(Event::MessageStart { kind, len }) if pieces => {
                    self.message = Some(Open::Pieces);
                    return Ok(Some(ClientPiece::Start { kind, len }));
                }
                Some(Event::MessageStart { kind, len }) => {
                    let reserve = len.unwrap_or(0).min(MAX_RESERVE) as usize;
                    self.message = Some(Open::Whole(kind, Vec::with_capacity(reserve)));
                    continue;
                }
                Some(Event::Data(data)) => match self.message.as_mut() {
                    Some(Open::Whole(_, message)) => {
                        message.extend_from_slice(data);
                        continue;
                    }
                    Some(Open::Pieces) if !data.is_empty() => {
                        return Ok(Some(ClientPiece::Data(data.to_vec())));
                    }
                    _ => continue,
                },
                Some(Event::MessageEnd) => match self.message.take() {
                    Some(Open::Whole(MessageKind::Text, data)) => match String::from_utf8(data) {
                        Ok(text) => ClientEvent::Text(text),
                        Err(_) => return Err(self.fail(ProtocolError::InvalidUtf8)),
                    },
                    Some(Open::Whole(MessageKind::Binary, data)) => ClientEvent::Binary(data),
                    Some(Open::Pieces) => return Ok(Some(ClientPiece::End)),
                    None => continue,
                },
                Some(Event::Ping(payload)) => {
                    let payload = payload.to_vec();
                    self.shared.owe_pong(payload.clone());
                    ClientEvent::Ping(payload)
                }
                Some(Event::Pong(payload)) => ClientEvent::Pong(payload.to_vec()),
                Some(Event::Close(frame)) => {
                    let info = CloseInfo {
                        code: frame.code_or_no_status(),
                        reason: frame.reason.to_owned(),
                        clean: true,
                    };
                    // The answer echoes the code (RFC 6455 §5.5.1), or the whole body for
                    // hybi-03, whose peers match it (docs/protocols.md §5); hixie-76: `FF 00`.
                    let echo = match frame.code {
                        Some(_) => frame.body[..2].to_vec(),
                        None => frame.body.to_vec(),
                    };
                    if self.shared.close_sent_at().is_none() {
                        self.shared.owe_close(echo);
                    }
                    self.linger();
                    ClientEvent::Close(info)
                }
            };
            return Ok(Some(ClientPiece::Other(found)));
        }
    }

    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.applied_timeout != Some(timeout) {
            self.stream.set_read_timeout(timeout)?;
            self.applied_timeout = Some(timeout);
        }
        Ok(())
    }

    /// Read more bytes; an event when the connection ends instead.
    fn fill(&mut self) -> Result<Option<ClientEvent>, ClientError> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.end == self.buf.len() {
            // Unreachable with the decoders' contract; grow rather than spin.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        // After our close, the server has `close_timeout` to answer (RFC 6455 §7.1.1 lets a
        // client give up on a server that does not).
        let deadline = self
            .shared
            .close_sent_at()
            .map(|sent| sent + self.shared.close_timeout);
        let timeout = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Some(self.close_timed_out()));
                }
                Some(self.read_timeout.map_or(left, |t| t.min(left)))
            }
            None => self.read_timeout,
        };
        self.set_timeout(timeout)?;
        let read = self.stream.read(&mut self.buf[self.end..]);
        // Past the close deadline whatever the read says: the close watchdog may have shut
        // the socket down under a read that another thread started without a deadline.
        let deadline = self
            .shared
            .close_sent_at()
            .map(|sent| sent + self.shared.close_timeout);
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Ok(Some(self.close_timed_out()));
        }
        match read {
            Ok(0) => Ok(Some(self.eof())),
            Ok(n) => {
                self.end += n;
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) if timed_out(&e) && deadline.is_some() && self.read_timeout.is_none() => {
                Ok(None)
            }
            Err(e) if timed_out(&e) => Err(ClientError::TimedOut),
            Err(_) if deadline.is_some() => {
                // A reset while closing ends the connection all the same.
                Ok(Some(self.abandon("connection reset while closing")))
            }
            Err(e) => {
                self.end_connection();
                Err(ClientError::Io(e))
            }
        }
    }

    /// Our close was not answered within the close timeout.
    fn close_timed_out(&mut self) -> ClientEvent {
        if self.shared.dialect.caps().close_frame {
            self.abandon("no close from the server in time")
        } else {
            // hixie-75 has no closing handshake: our TCP close is the whole of it, whether
            // or not the server closes its side in turn.
            self.end_connection();
            ClientEvent::Close(CloseInfo {
                code: close::NO_STATUS,
                reason: String::new(),
                clean: true,
            })
        }
    }

    /// The server closed TCP.
    fn eof(&mut self) -> ClientEvent {
        let info = if self.shared.dialect.caps().close_frame {
            CloseInfo {
                code: close::ABNORMAL,
                reason: "connection closed without a close frame".into(),
                clean: false,
            }
        } else {
            // hixie-75 has no closing handshake: a TCP close is a clean close.
            CloseInfo {
                code: close::NO_STATUS,
                reason: String::new(),
                clean: true,
            }
        };
        self.end_connection();
        ClientEvent::Close(info)
    }

    fn abandon(&mut self, reason: &str) -> ClientEvent {
        self.end_connection();
        ClientEvent::Close(CloseInfo {
            code: close::ABNORMAL,
            reason: reason.into(),
            clean: false,
        })
    }

    /// The closing handshake is done: the server closes TCP first (RFC 6455 §7.1.1), so
    /// read until it does (or for `close_timeout`), then close our side.
    fn linger(&mut self) {
        let deadline = Instant::now() + self.shared.close_timeout;
        let mut sink = [0u8; 4096];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if left.is_zero() || self.set_timeout(Some(left)).is_err() {
                break;
            }
            match self.stream.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.end_connection();
    }

    /// Fail the connection (RFC 6455 §7.1.7): send a close with the error's code where the
    /// dialect has close frames, then close TCP.
    fn fail(&mut self, error: ProtocolError) -> ClientError {
        let caps = self.shared.dialect.caps();
        if caps.close_frame && self.shared.close_sent_at().is_none() {
            let body = if caps.close_codes {
                error.close_code().to_be_bytes().to_vec()
            } else {
                Vec::new()
            };
            self.shared.owe_close(body);
        }
        self.end_connection();
        ClientError::Protocol(error)
    }

    fn end_connection(&mut self) {
        self.done = true;
        self.message = None;
        self.shared.finish();
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
