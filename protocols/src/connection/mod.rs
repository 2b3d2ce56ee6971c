//! One connection's protocol life, sans-IO, for server and client alike: the codec, optional
//! whole-message assembly, the held control frames, where our closing stands, the keepalive
//! decision, and the answers to the peer's pings and closes. Bytes and decisions in, events
//! and bytes out; never a socket, a clock or a random source of its own.
//!
//! A [`Connection`] is an [`Inbound`] (the peer's frames) beside an [`Outbound`] (ours). A
//! single-threaded owner (the server's event loop) drives the whole [`Connection`], whose
//! [`Connection::read`] answers pings and closes itself. A client whose reading and writing
//! run on two threads drives the two halves apart ([`Connection::split`]) and carries each
//! [`Reply`] from one to the other; the rules stay here either way.
//!
//! Compression (permessage-deflate, deflate-frame) enters here once for both roles:
//! [`Connection::set_compression`] gives the decoder RSV1's meaning and the outbound side a
//! deflater, and returns the [`Inflater`] the owner routes decoded events through.
//!
//! ```
//! use ws_protocols::connection::{Connection, OutboundOptions};
//! use ws_protocols::{Dialect, Event, Limits, MessageKind, Role};
//!
//! let limits = Limits::default();
//! let mut client = Connection::new(Dialect::Rfc6455, Role::Client, &limits, [7; 16], OutboundOptions::default());
//! let mut server = Connection::new(Dialect::Rfc6455, Role::Server, &limits, [0; 16], OutboundOptions::default());
//!
//! let mut to_server = Vec::new();
//! client.outbound.send_whole(MessageKind::Text, b"hi", &mut to_server).unwrap();
//! client.outbound.control(ws_protocols::frame::Control::Ping, b"p", &mut to_server).unwrap();
//!
//! let mut to_client = Vec::new();
//! let mut pos = 0;
//! let mut text = Vec::new();
//! while let (n, Some(event)) = server.read(&mut to_server[pos..], &mut to_client).unwrap() {
//!     pos += n;
//!     if let Event::Data(bytes) = event {
//!         text.extend_from_slice(bytes);
//!     }
//! }
//! assert_eq!(text, b"hi");
//! assert_eq!(to_client, [0x8A, 1, b'p']); // the ping answered by the connection itself
//! ```

mod assembly;
mod closing;
mod held;
mod inbound;
mod keepalive;
mod outbound;

pub use assembly::{Assembly, AssemblyError, Direct};
pub use closing::{close_echo, fail_body, fit_close_reason, CloseInfo, FailBody};
pub use inbound::{Inbound, Reply};
pub use keepalive::{Keepalive, Progress, Verdict};
pub use outbound::{
    CloseOutcome, HixieBinary, Mask, Outbound, OutboundOptions, SendError, Transmit,
};

use crate::compression::{Compression, Deflater, Inflater};
use crate::dialect::{Dialect, Role};
use crate::error::ProtocolError;
use crate::event::Event;
use crate::frame::{ConnectionKey, Control, Decoder, Encoder};
use crate::limits::Limits;

/// Both directions of one connection.
#[derive(Debug)]
pub struct Connection {
    /// The peer's frames.
    pub inbound: Inbound,
    /// Ours.
    pub outbound: Outbound,
    /// The keepalive state.
    pub keepalive: Keepalive,
    dialect: Dialect,
}

impl Connection {
    /// A freshly opened `dialect` connection playing `role`. `mask_seed` keys a client's
    /// masks and must come from the OS random source (ignored for a server). A hybi-04
    /// connection needs [`Connection::with_connection_key`] instead.
    pub fn new(
        dialect: Dialect,
        role: Role,
        limits: &Limits,
        mask_seed: [u8; 16],
        options: OutboundOptions,
    ) -> Self {
        Self::with_connection_key(dialect, role, limits, mask_seed, options, None)
    }

    /// [`Connection::new`] with the key material of the opening handshake: hybi-04's
    /// connection key, which its client masks with and its server unmasks with
    /// (docs/protocols.md §3.3, §4.3). A server gets it from
    /// [`crate::handshake::Request::connection_key`], a client from
    /// [`crate::handshake::ServerResponse::connection_key`]; both are `None` for every other
    /// dialect, which ignores it.
    pub fn with_connection_key(
        dialect: Dialect,
        role: Role,
        limits: &Limits,
        mask_seed: [u8; 16],
        options: OutboundOptions,
        connection_key: Option<ConnectionKey>,
    ) -> Self {
        let encoder = match role {
            Role::Server => Encoder::server(dialect),
            Role::Client => Encoder::client_with_connection_key(dialect, mask_seed, connection_key),
        };
        let decoder = Decoder::with_connection_key(dialect, role, limits, connection_key);
        Connection {
            inbound: Inbound::new(decoder),
            outbound: Outbound::new(dialect, encoder, options),
            keepalive: Keepalive::default(),
            dialect,
        }
    }

    /// The dialect spoken.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Speak the compression the handshake agreed: RSV1 gets its meaning in the decoder
    /// (compressed payload then arrives as [`Event::Compressed`]; the owner routes events
    /// through an [`Inflater`], kept beside the connection so the plaintext it hands out
    /// can outlive this borrow), and our messages of at least `min_size` bytes are
    /// compressed. Returns that inflater, limited to `max_message` plaintext bytes per
    /// message.
    pub fn set_compression(
        &mut self,
        agreed: &Compression,
        min_size: usize,
        max_message: u64,
    ) -> Inflater {
        self.inbound.set_compression(Some(agreed.scope));
        self.outbound
            .set_compression(Deflater::new(agreed, min_size));
        Inflater::new(agreed, max_message)
    }

    /// Decode one event from the start of `buf` and answer it where it asks for an answer
    /// (a pong, the echo of a close) into `tx`. On a protocol error the connection is failed
    /// (its close, with the error's code where the dialect has codes, goes into `tx`) and
    /// the error returned.
    #[inline]
    pub fn read<'a>(
        &mut self,
        buf: &'a mut [u8],
        tx: &mut impl Transmit,
    ) -> Result<(usize, Option<Event<'a>>), ProtocolError> {
        match self.inbound.decode(buf) {
            Ok((n, Some(event))) => {
                if let Some(reply) = Reply::to(&event) {
                    self.answer(reply, tx);
                }
                Ok((n, Some(event)))
            }
            Ok(nothing) => Ok(nothing),
            Err(e) => {
                self.outbound.fail(e.close_code(), tx);
                Err(e)
            }
        }
    }

    /// Send what `reply` obliges us to: a pong (unless our close went out), or the answer
    /// to the peer's close. Returns the close's outcome for a close.
    pub fn answer(&mut self, reply: Reply<'_>, tx: &mut impl Transmit) -> Option<CloseOutcome> {
        self.outbound.answer(reply, tx)
    }

    /// The two halves, for an owner that reads and writes on different threads.
    pub fn split(self) -> (Inbound, Outbound) {
        (self.inbound, self.outbound)
    }
}

impl Outbound {
    /// Send what `reply` obliges us to: a pong (nothing once our close went out), or the
    /// answer to the peer's close. Returns the close's outcome for a close.
    pub fn answer(&mut self, reply: Reply<'_>, tx: &mut impl Transmit) -> Option<CloseOutcome> {
        match reply {
            Reply::Pong(payload) => {
                // Unsupported only on hixie, which has no pings to answer; Closed once our
                // close went out, after which nothing may be sent.
                let _ = self.control(Control::Pong, payload, tx);
                None
            }
            Reply::Close(echo) => Some(self.answer_close(echo, tx)),
        }
    }
}
