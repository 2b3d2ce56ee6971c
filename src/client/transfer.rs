//! Moving one big payload through a connection as one binary message, with bounded memory:
//! [`send_stream`] reads a source piece by piece into a streamed message, [`receive_stream`]
//! writes the next binary message to a sink as its bytes arrive. This is what
//! `omniws-client send` and `receive` do through a pipe session (`/sessions/NAME`), and
//! [`await_text`] is how a sender waits for the session's `session ready` notice.
//!
//! Neither side ever holds the payload: the sender holds one piece (`chunk_size` bytes), the
//! receiver what one read of the socket brings. A source that fails part-way abandons the
//! message (close 1011 between two fragments), so the far side can never take the part
//! that was sent for the whole; a connection that ends part-way through the message is
//! reported as [`TransferError::ClosedDuring`], never as a short success.
//!
//! The streamed message is fragmented, which hixie-75/76 cannot carry for binary: both
//! ends need hybi-03 or later ([`TransferError::Client`] with
//! [`ClientError::Unsupported`] otherwise).
//!
//! ```
//! # let server = ws::Server::builder()
//! #     .mount(ws::Sessions::mount("/sessions/*", ws::SessionOptions::default()))
//! #     .bind("127.0.0.1:0")?;
//! # let addr = server.local_addr().unwrap();
//! # std::thread::spawn(move || server.run());
//! use ws::protocols::Dialect;
//! use ws::transfer::{await_text, receive_stream, send_stream};
//!
//! let url = format!("ws://{addr}/sessions/doc-example"); // a pipe session
//! let (_, mut inbox) = ws::connect(&url)?.split();
//! let options = ws::ConnectOptions::default().dialect(Dialect::Hybi07);
//! let (mut outbox, mut outbox_events) = ws::connect_with(&url, options)?.split();
//!
//! // The session says when both members are there.
//! await_text(&mut outbox_events, "session ready")?;
//! let payload = vec![42u8; 256 << 10];
//! let sent = send_stream(&mut outbox, &payload[..], 64 << 10)?;
//!
//! // The receiver skips the notice and takes the binary message as it arrives.
//! let (file, received) = receive_stream(&mut inbox, |_announced| Ok(Vec::new()), None)?;
//! assert_eq!((sent, received), (256 << 10, 256 << 10));
//! assert_eq!(file, payload);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::error::ClientError;
use super::event::{ClientEvent, ClientPiece};
use super::receiver::ClientReceiver;
use super::sender::ClientSender;
use std::fmt;
use std::io::{self, Read, Write};
use ws_protocols::connection::CloseInfo;
use ws_protocols::MessageKind;

/// Text messages longer than this are not notices: [`receive_stream`] keeps only this much
/// of each to compare with the leave notice (the rest is read and dropped), so a peer that
/// sends big text instead of the expected binary cannot make it hold more.
const MAX_NOTICE: usize = 4 << 10;

/// Why a transfer failed.
///
/// ```
/// use ws::transfer::TransferError;
///
/// let e = TransferError::PeerLeft;
/// assert_eq!(e.to_string(), "the other member left the session before sending");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum TransferError {
    /// Reading the source failed. The message was abandoned (close 1011 where the dialect
    /// has codes) and the connection with it.
    Source(io::Error),
    /// Writing the sink failed (the disk is full, stdout was closed, ...). The connection is
    /// left as it is: close it.
    Sink(io::Error),
    /// The connection failed (I/O, protocol error, a timeout, or what the dialect cannot
    /// carry).
    Client(ClientError),
    /// The connection ended before the awaited notice or message began.
    ClosedBefore(CloseInfo),
    /// The connection ended part-way through the message, after `received` bytes of it.
    ClosedDuring {
        /// Payload bytes received (and written to the sink) before the end.
        received: u64,
        /// How the connection ended (a sender that failed mid-message reaches a session's
        /// receivers as 1011 `sender failed mid-message`, or as a TCP close, 1006).
        info: CloseInfo,
    },
    /// The session's leave notice arrived before any binary message began: the member
    /// that was to send has gone.
    PeerLeft,
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let close = |f: &mut fmt::Formatter<'_>, info: &CloseInfo| {
            write!(f, "{}", info.code)?;
            if !info.reason.is_empty() {
                write!(f, " {}", info.reason)?;
            }
            if !info.clean {
                f.write_str(" (not clean)")?;
            }
            Ok(())
        };
        match self {
            TransferError::Source(e) => write!(f, "reading the source: {e}"),
            TransferError::Sink(e) => write!(f, "writing the received data: {e}"),
            TransferError::Client(e) => e.fmt(f),
            TransferError::ClosedBefore(info) => {
                f.write_str("the connection closed before a message arrived: ")?;
                close(f, info)
            }
            TransferError::ClosedDuring { received, info } => {
                write!(
                    f,
                    "the connection closed after {received} bytes of the message, before \
                     its end: "
                )?;
                close(f, info)
            }
            TransferError::PeerLeft => {
                f.write_str("the other member left the session before sending")
            }
        }
    }
}

impl std::error::Error for TransferError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransferError::Source(e) | TransferError::Sink(e) => Some(e),
            TransferError::Client(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ClientError> for TransferError {
    fn from(e: ClientError) -> Self {
        TransferError::Client(e)
    }
}

/// Wait for a text message equal to `text` (a pipe session's ready notice, `session ready`
/// by default: sent once the session has two members). Everything else that arrives first
/// is skipped; messages are assembled whole, within the connection's
/// [`crate::ConnectOptions::max_message`].
///
/// # Errors
/// [`TransferError::ClosedBefore`] if the connection ends first; [`TransferError::Client`]
/// if it fails (or `read_timeout` passes).
///
/// ```
/// # let server = ws::Server::builder()
/// #     .mount(ws::Sessions::mount("/sessions/*", ws::SessionOptions::default()))
/// #     .bind("127.0.0.1:0")?;
/// # let addr = server.local_addr().unwrap();
/// # std::thread::spawn(move || server.run());
/// let url = format!("ws://{addr}/sessions/waiting");
/// let (_first_sender, mut first) = ws::connect(&url)?.split();
/// let (_second_sender, mut second) = ws::connect(&url)?.split();
/// ws::transfer::await_text(&mut first, "session ready")?;
/// ws::transfer::await_text(&mut second, "session ready")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn await_text(receiver: &mut ClientReceiver, text: &str) -> Result<(), TransferError> {
    loop {
        match receiver.recv()? {
            ClientEvent::Text(got) if got == text => return Ok(()),
            ClientEvent::Close(info) => return Err(TransferError::ClosedBefore(info)),
            _ => {}
        }
    }
}

/// Send everything `source` yields as one binary message, streamed in fragments of at most
/// `chunk_size` bytes (one read of the source each; 0 counts as 1), and return how many
/// bytes were sent. Only one piece is held at a time.
///
/// # Errors
/// [`TransferError::Source`] if reading fails (the message and the connection are then
/// abandoned, so the far side cannot take a truncated payload for a whole one);
/// [`TransferError::Client`] if sending fails, or if the dialect cannot stream binary
/// (hixie-75/76: [`ClientError::Unsupported`], before anything is sent).
///
/// ```
/// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
/// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
/// # std::thread::spawn(move || server.run());
/// let (mut sender, mut receiver) = ws::connect(&url)?.split();
/// let file: &[u8] = b"any std::io::Read: a File, stdin, a slice";
/// assert_eq!(ws::transfer::send_stream(&mut sender, file, 8)?, file.len() as u64);
/// assert_eq!(receiver.recv()?, ws::ClientEvent::Binary(file.to_vec()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn send_stream<R: Read>(
    sender: &mut ClientSender,
    mut source: R,
    chunk_size: usize,
) -> Result<u64, TransferError> {
    let mut piece = vec![0u8; chunk_size.max(1)];
    let mut message = sender.begin_message(MessageKind::Binary)?;
    let mut sent = 0u64;
    loop {
        let n = match source.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Dropping `message` unfinished abandons it (see `MessageWriter`).
            Err(e) => return Err(TransferError::Source(e)),
        };
        message.write_chunk(&piece[..n])?;
        sent += n as u64;
    }
    message.finish()?;
    Ok(sent)
}

/// Receive the next binary message into a sink, as its bytes arrive, and return the sink
/// and how many bytes it was given. The sink is made by `open` when the message begins,
/// from its length if the wire announced it (a frame of declared length; `None` for a
/// fragmented message), so nothing is created for a transfer that never starts.
///
/// Text messages before it (a session's notices) are skipped; if one equals
/// `leave_notice` (what the server was told to send when a member leaves, e.g.
/// `omniws --session-leave-notice`), the transfer fails with [`TransferError::PeerLeft`].
/// The sink is not flushed: flush it (or sync the file) before trusting it.
///
/// Raise [`crate::ConnectOptions::max_message`] and `max_frame` for payloads over the
/// defaults (64 MiB, 16 MiB): the limits still apply though nothing is held.
///
/// # Errors
/// [`TransferError::ClosedBefore`] or [`TransferError::ClosedDuring`] if the connection
/// ends first; [`TransferError::PeerLeft`]; [`TransferError::Sink`] if `open` or a write
/// fails; [`TransferError::Client`] if the connection fails (a protocol error, a size limit,
/// `read_timeout`).
///
/// ```
/// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
/// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
/// # std::thread::spawn(move || server.run());
/// let (mut sender, mut receiver) = ws::connect(&url)?.split();
/// sender.send_text("a notice, skipped")?;
/// sender.send_binary(&[1, 2, 3])?;
/// let (sink, n) = ws::transfer::receive_stream(&mut receiver, |announced| {
///     assert_eq!(announced, Some(3));
///     Ok(Vec::new()) // or std::fs::File::create(path)
/// }, None)?;
/// assert_eq!((sink, n), (vec![1, 2, 3], 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn receive_stream<W: Write>(
    receiver: &mut ClientReceiver,
    open: impl FnOnce(Option<u64>) -> io::Result<W>,
    leave_notice: Option<&str>,
) -> Result<(W, u64), TransferError> {
    let mut open = Some(open);
    let mut sink: Option<W> = None;
    let mut text: Option<Vec<u8>> = None;
    let mut received = 0u64;
    loop {
        match receiver.recv_piece()? {
            ClientPiece::Start {
                kind: MessageKind::Binary,
                len,
            } => {
                let Some(open) = open.take() else {
                    continue;
                };
                sink = Some(open(len).map_err(TransferError::Sink)?);
            }
            ClientPiece::Start { .. } => text = Some(Vec::new()),
            ClientPiece::Data(bytes) => match (&mut sink, &mut text) {
                (Some(sink), _) => {
                    sink.write_all(&bytes).map_err(TransferError::Sink)?;
                    received += bytes.len() as u64;
                }
                // One byte past the bound is enough to tell an over-long text from a notice.
                (None, Some(text)) if text.len() <= MAX_NOTICE => {
                    let take = bytes.len().min(MAX_NOTICE + 1 - text.len());
                    text.extend_from_slice(&bytes[..take]);
                }
                (None, _) => {}
            },
            ClientPiece::End => {
                if let Some(sink) = sink {
                    return Ok((sink, received));
                }
                let notice = text.take().unwrap_or_default();
                if leave_notice.is_some_and(|leave| leave.as_bytes() == notice) {
                    return Err(TransferError::PeerLeft);
                }
            }
            ClientPiece::Other(ClientEvent::Close(info)) => {
                return Err(match sink {
                    Some(_) => TransferError::ClosedDuring { received, info },
                    None => TransferError::ClosedBefore(info),
                })
            }
            ClientPiece::Other(_) => {}
        }
    }
}
