//! The peer's direction of a connection: frames decoded, and what each obliges us to answer.

use super::closing::close_echo;
use crate::error::ProtocolError;
use crate::event::Event;
use crate::frame::{Decode, Decoder};

/// What the peer's control frame obliges us to send back.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A pong with the ping's payload.
    Pong(&'a [u8]),
    /// Our answer to the peer's close: the close body to echo ([`super::close_echo`]).
    Close(&'a [u8]),
}

impl<'a> Reply<'a> {
    /// What `event` obliges us to answer, if anything.
    ///
    /// ```
    /// use ws_protocols::connection::Reply;
    /// use ws_protocols::Event;
    ///
    /// assert_eq!(Reply::to(&Event::Ping(b"x")), Some(Reply::Pong(b"x")));
    /// assert_eq!(Reply::to(&Event::Pong(b"x")), None);
    /// ```
    pub fn to(event: &Event<'a>) -> Option<Reply<'a>> {
        match event {
            Event::Ping(payload) => Some(Reply::Pong(payload)),
            Event::Close(frame) => Some(Reply::Close(close_echo(frame))),
            _ => None,
        }
    }
}

/// The receiving direction: the decoder, and whether the peer's close has arrived (after
/// which nothing more is decoded).
#[derive(Debug)]
pub struct Inbound {
    decoder: Decoder,
    peer_closed: bool,
}

impl Inbound {
    /// The receiving direction around `decoder`.
    pub fn new(decoder: Decoder) -> Self {
        Inbound {
            decoder,
            peer_closed: false,
        }
    }

    /// Decode from the start of `buf` (see [`crate::frame`] for the contract): the bytes
    /// consumed and at most one event. After the peer's close, nothing more is decoded.
    #[inline]
    pub fn decode<'a>(
        &mut self,
        buf: &'a mut [u8],
    ) -> Result<(usize, Option<Event<'a>>), ProtocolError> {
        if self.peer_closed {
            return Ok((0, None));
        }
        let (n, event) = self.decoder.decode(buf)?;
        if matches!(event, Some(Event::Close(_))) {
            self.peer_closed = true;
        }
        Ok((n, event))
    }

    /// Give RSV1 the meaning a negotiated compression extension gives it.
    pub fn set_compression(&mut self, scope: Option<crate::compression::Scope>) {
        self.decoder.set_compression(scope);
    }

    /// Whether the peer's close has arrived.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }
}
