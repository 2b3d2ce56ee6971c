//! The application's view of one connection, whatever its dialect.

use crate::SendError;
use std::net::SocketAddr;
use ws_protocols::handshake::Request;
use ws_protocols::message::Message;
use ws_protocols::{Dialect, MessageKind};

/// A connection's identity: stable for its lifetime and never reused for another
/// connection (the slot index carries a generation).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl std::fmt::Display for SocketId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

/// Where a connection is in its life (the WebSocket API's `readyState`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReadyState {
    /// The opening handshake is not complete.
    Connecting,
    /// Messages flow both ways.
    Open,
    /// A close has been sent or received; no more messages are sent.
    Closing,
    /// The TCP connection is gone (or going).
    Closed,
}

pub use ws_protocols::connection::CloseInfo;

/// One WebSocket connection, as the application sees it. Every dialect offers the same
/// calls; what a dialect cannot carry is refused with [`SendError::Unsupported`], never
/// dropped:
///
/// | call | hixie-75 | hixie-76 | hybi-03 | hybi-07/08/13 |
/// |---|---|---|---|---|
/// | `send_text` | `00 … FF` | `00 … FF` | text frame | text frame |
/// | `send_binary` | refused, or `80`+length with `HixieBinary::LengthPrefixed` | same | binary frame | binary frame |
/// | streamed text (`begin_message`) | one `00 … FF` frame | same | fragments | fragments |
/// | streamed binary | refused (length unknown) | refused | fragments | fragments |
/// | `ping` | refused | refused | ping frame | ping frame |
/// | `close(code, reason)` | TCP close after the queue drains | `FF 00` (code and reason are not carried), then TCP close | empty close frame | close frame with code and reason |
pub trait Socket {
    /// This connection's id.
    fn id(&self) -> SocketId;
    /// The peer's address, when known.
    fn peer_addr(&self) -> Option<SocketAddr>;
    /// The opening handshake request: path, query, headers, cookies, origin, offered
    /// subprotocols. Kept until `on_open` has returned, then dropped (a request head costs
    /// from a few hundred bytes to a few KiB, for every open connection): a handler that
    /// needs any of it later copies it in `on_open`. `None` after that, and for outgoing
    /// connections.
    fn request(&self) -> Option<&Request>;
    /// The negotiated subprotocol.
    fn protocol(&self) -> Option<&str>;
    /// The dialect, once the handshake has been read.
    fn dialect(&self) -> Option<Dialect>;
    /// `hixie-75`, `hixie-76`, `hybi-03`, `hybi-07`, `hybi-08` or `hybi-13`.
    fn protocol_version(&self) -> Option<&'static str> {
        self.dialect().map(Dialect::name)
    }
    /// Where the connection is in its life.
    fn ready_state(&self) -> ReadyState;
    /// Bytes queued for sending and not yet written to the socket.
    fn buffered_amount(&self) -> usize;

    /// Send a whole text message.
    fn send_text(&mut self, text: &str) -> Result<(), SendError>;
    /// Send a whole binary message (see the table for hixie).
    fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError>;
    /// Send a whole message of either kind.
    fn send(&mut self, message: Message<'_>) -> Result<(), SendError> {
        match message {
            Message::Text(text) => self.send_text(text),
            Message::Binary(data) => self.send_binary(data),
        }
    }
    /// Start a message sent in pieces; `len`, when known, lets dialects that can carry it
    /// send a single frame. Text pieces must together be valid UTF-8.
    fn begin_message(&mut self, kind: MessageKind, len: Option<u64>) -> Result<(), SendError>;
    /// Send the next piece of the message begun with `begin_message`.
    fn send_chunk(&mut self, data: &[u8]) -> Result<(), SendError>;
    /// Finish the message begun with `begin_message`.
    fn end_message(&mut self) -> Result<(), SendError>;
    /// Send a ping (at most 125 bytes).
    fn ping(&mut self, payload: &[u8]) -> Result<(), SendError>;
    /// Start the closing handshake with `code` (1000, 1001, 1008, 3000-4999, ...) and a
    /// reason of at most 123 bytes (longer ones are cut at a character boundary). On hixie-76
    /// a close asked for in the middle of a streamed message waits for its end. Closing an
    /// already closing socket does nothing.
    fn close(&mut self, code: u16, reason: &str) -> Result<(), SendError>;
    /// Drop the connection at once, without a closing handshake.
    fn destroy(&mut self);
    /// Change what `send_binary`/`begin_message(Binary, ..)` do on this connection if it is
    /// hixie (the server-wide default is `Settings::hixie_binary`).
    fn set_hixie_binary(&mut self, policy: crate::HixieBinary);
}
