//! The receiving half: frames in, messages out (whole, or in pieces with `recv_piece`); pings
//! and closes answered.

use super::error::ClientError;
use super::event::{ClientEvent, ClientPiece};
use super::options::ConnectOptions;
use super::shared::Shared;
use super::transport::Transport;
use crate::socket::CloseInfo;
use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ws_protocols::compression::{Fed, Inflater};
use ws_protocols::connection::{fail_body, Assembly, AssemblyError, Inbound, Reply};
use ws_protocols::message::Message;
use ws_protocols::{Event, ProtocolError};

/// Read buffer. The decoder hands payload out as it arrives, so what stays between reads is
/// at most an incomplete frame header or control frame (under 150 bytes).
const READ_BUF: usize = 64 << 10;
/// The largest piece of inflated payload handed out at once.
const INFLATE_PIECE: usize = 32 << 10;
/// A message being received.
enum Open {
    /// Assembled for `recv`.
    Whole,
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
    /// Plain TCP, or the TLS session shared with the writer.
    transport: Transport,
    inbound: Inbound,
    /// Present once compression was negotiated.
    inflater: Option<Box<Inflater>>,
    /// Where compressed payload is inflated, a piece at a time.
    inflated: Vec<u8>,
    /// What the inflater delivered beyond the first thing worth returning (at most a
    /// message's last piece and its end).
    ready: VecDeque<ClientPiece>,
    /// Whole messages for `recv`, up to the message limit.
    assembly: Assembly,
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
        transport: Transport,
        inbound: Inbound,
        inflater: Option<Inflater>,
        options: &ConnectOptions,
        leftover: Vec<u8>,
    ) -> Self {
        let (limits, read_timeout) = (&options.limits, options.read_timeout);
        let end = leftover.len();
        let mut buf = leftover;
        buf.resize(READ_BUF.max(end), 0);
        ClientReceiver {
            inbound,
            inflater: inflater.map(Box::new),
            inflated: Vec::new(),
            ready: VecDeque::new(),
            assembly: Assembly::new(usize::try_from(limits.max_message).unwrap_or(usize::MAX)),
            shared,
            stream,
            transport,
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
            (Some(Open::Whole), true) | (Some(Open::Pieces), false) => {
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
        // Events borrow the buffer; out of `self` while they are handled.
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.decode_from(&mut buf, pieces);
        self.buf = buf;
        result
    }

    fn decode_from(
        &mut self,
        buf: &mut [u8],
        pieces: bool,
    ) -> Result<Option<ClientPiece>, ClientError> {
        loop {
            if let Some(piece) = self.ready.pop_front() {
                return Ok(Some(piece));
            }
            if self.inflater.as_ref().is_some_and(|i| i.is_pending()) {
                self.inflate(pieces, |inflater, out, deliver| {
                    inflater.resume(out, |piece| deliver(Event::Data(piece)))
                })?;
                continue;
            }
            let (n, event) = match self.inbound.decode(&mut buf[self.start..self.end]) {
                Ok(decoded) => decoded,
                Err(e) => return Err(self.fail(e)),
            };
            self.start += n;
            let Some(event) = event else {
                return Ok(None);
            };
            if let Some(reply) = Reply::to(&event) {
                // A pong always; the answer to the server's close unless ours went first.
                if matches!(reply, Reply::Pong(_)) || self.shared.close_sent_at().is_none() {
                    self.shared.owe(reply);
                }
            }
            if self.inflater.is_some() {
                self.inflate(pieces, |inflater, out, deliver| {
                    inflater.route(event, out, deliver)
                })?;
            } else if let Some(piece) = self.take_event(event, pieces)? {
                return Ok(Some(piece));
            }
        }
    }

    /// Run `step` (a route or a resume) through the inflater, each event it delivers taken
    /// as decoded events are; it stops at the first thing worth returning, which waits in
    /// `ready`.
    fn inflate(
        &mut self,
        pieces: bool,
        step: impl FnOnce(
            &mut Inflater,
            &mut [u8],
            &mut dyn FnMut(Event<'_>) -> bool,
        ) -> Result<Fed, ProtocolError>,
    ) -> Result<(), ClientError> {
        let Some(mut inflater) = self.inflater.take() else {
            return Ok(());
        };
        let mut out = std::mem::take(&mut self.inflated);
        out.resize(INFLATE_PIECE, 0);
        let mut failed = None;
        let result = step(
            &mut inflater,
            &mut out,
            &mut |event| match self.take_event(event, pieces) {
                Ok(Some(piece)) => {
                    self.ready.push_back(piece);
                    false
                }
                Ok(None) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            },
        );
        self.inflated = out;
        self.inflater = Some(inflater);
        if let Some(e) = failed {
            return Err(e);
        }
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// What one (plaintext) event gives the caller, if anything yet.
    fn take_event(
        &mut self,
        event: Event<'_>,
        pieces: bool,
    ) -> Result<Option<ClientPiece>, ClientError> {
        let found = match event {
            Event::MessageStart { kind, len } if pieces => {
                self.message = Some(Open::Pieces);
                return Ok(Some(ClientPiece::Start { kind, len }));
            }
            Event::Data(data) if pieces => {
                if data.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(ClientPiece::Data(data.to_vec())));
            }
            Event::MessageEnd if pieces => match self.message.take() {
                Some(Open::Pieces) => return Ok(Some(ClientPiece::End)),
                _ => return Ok(None),
            },
            // Inflated before it gets here; without an inflater, never decoded.
            Event::Compressed { .. } => return Ok(None),
            Event::MessageStart { .. } | Event::Data(_) | Event::MessageEnd => {
                let end = matches!(event, Event::MessageEnd);
                if matches!(event, Event::MessageStart { .. }) {
                    self.message = Some(Open::Whole);
                }
                let found = match self.assembly.push(event, |_, _| true) {
                    Ok(Some(Message::Text(text))) => Some(ClientEvent::Text(text.to_owned())),
                    Ok(Some(Message::Binary(data))) => Some(ClientEvent::Binary(data.to_vec())),
                    Ok(None) => None,
                    Err(AssemblyError::Protocol(e)) => return Err(self.fail(e)),
                    Err(AssemblyError::Refused) => {
                        return Err(self.fail(ProtocolError::MessageTooLarge))
                    }
                };
                if end {
                    self.assembly.release();
                }
                match found {
                    Some(found) => {
                        self.message = None;
                        found
                    }
                    None => return Ok(None),
                }
            }
            Event::Ping(payload) => ClientEvent::Ping(payload.to_vec()),
            Event::Pong(payload) => ClientEvent::Pong(payload.to_vec()),
            Event::Close(frame) => {
                let info = CloseInfo::received(&frame);
                self.linger();
                ClientEvent::Close(info)
            }
        };
        Ok(Some(ClientPiece::Other(found)))
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
        let read = self
            .transport
            .read(&mut self.stream, &mut self.buf[self.end..]);
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
        self.end_connection();
        ClientEvent::Close(CloseInfo::close_timed_out(
            self.shared.dialect.caps(),
            "no close from the server in time",
        ))
    }

    /// The server closed TCP.
    fn eof(&mut self) -> ClientEvent {
        self.end_connection();
        ClientEvent::Close(CloseInfo::end_of_stream(self.shared.dialect.caps()))
    }

    fn abandon(&mut self, reason: &str) -> ClientEvent {
        self.end_connection();
        ClientEvent::Close(CloseInfo::abnormal(reason))
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
            match self.transport.read(&mut self.stream, &mut sink) {
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
            self.shared
                .owe(Reply::Close(&fail_body(caps, error.close_code())));
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
