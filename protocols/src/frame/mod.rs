//! Framing: one decoder per framing family behind the [`Decode`] trait, and one [`Encoder`]
//! whose output depends on the dialect's capability row.
//!
//! # Decoding contract
//! Call [`Decode::decode`] with the bytes received so far. It returns how many bytes it
//! consumed and at most one [`Event`]. While it returns an event, call it again with the
//! unconsumed rest; when it returns `None`, it needs more bytes: keep the unconsumed rest
//! (at most one incomplete frame header, or one incomplete control frame of at most 139
//! bytes) and call again once more bytes have been appended. Payload is never held back:
//! every payload byte of a data frame is reported as soon as it is presented.
//!
//! ```
//! use ws_protocols::frame::{Decode, Decoder};
//! use ws_protocols::{Dialect, Event, Limits, MessageKind, Role};
//!
//! // RFC 6455 §5.7: a masked "Hello" from a client.
//! let mut wire = vec![0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
//! let mut decoder = Decoder::new(Dialect::Rfc6455, Role::Server, &Limits::default());
//! let mut text = Vec::new();
//! decoder.decode_each(&mut wire, |event| {
//!     if let Event::Data(bytes) = event {
//!         text.extend_from_slice(bytes);
//!     }
//! }).unwrap();
//! assert_eq!(text, b"Hello");
//! ```

mod encoder;
mod framed;
pub mod mask;
mod sentinel;
mod wire;

pub use encoder::{Control, Encoder};
pub use framed::FramedDecoder;
pub use mask::ConnectionKey;
pub use sentinel::{fits_hixie_text, SentinelDecoder};
pub use wire::{FrameHead, MAX_HEADER};

use crate::dialect::{Dialect, Framing, Role};
use crate::error::ProtocolError;
use crate::event::Event;
use crate::limits::Limits;

/// A streaming frame decoder. See the [module documentation](self) for the calling contract.
pub trait Decode {
    /// Decode from the start of `buf`: returns the number of bytes consumed and at most one
    /// event whose payload borrows `buf` (unmasked in place). After an error, every later
    /// call returns the same error.
    fn decode<'a>(
        &mut self,
        buf: &'a mut [u8],
    ) -> Result<(usize, Option<Event<'a>>), ProtocolError>;

    /// True once the peer's close frame has been decoded.
    fn is_closed(&self) -> bool;

    /// Decode every event `buf` holds, calling `on_event` for each; returns the bytes
    /// consumed (the caller keeps the rest for the next call).
    fn decode_each(
        &mut self,
        buf: &mut [u8],
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<usize, ProtocolError>
    where
        Self: Sized,
    {
        let mut pos = 0;
        loop {
            let (n, event) = self.decode(&mut buf[pos..])?;
            pos += n;
            match event {
                Some(event) => on_event(event),
                None => return Ok(pos),
            }
        }
    }
}

/// The decoder for any dialect: an enum, so dispatch costs a branch, not a virtual call.
#[derive(Debug)]
pub enum Decoder {
    /// hybi-03 to hybi-08, RFC 6455.
    Framed(FramedDecoder),
    /// hixie-75, hixie-76.
    Sentinel(SentinelDecoder),
}

impl Decoder {
    /// The decoder for `dialect`, playing `role`, within `limits`. A hybi-04 server needs
    /// [`Decoder::with_connection_key`] instead.
    pub fn new(dialect: Dialect, role: Role, limits: &Limits) -> Self {
        Self::with_connection_key(dialect, role, limits, None)
    }

    /// [`Decoder::new`] with the per-connection key material of the handshake: hybi-04's
    /// connection key ([`crate::handshake::Request::connection_key`] on a server), without
    /// which a hybi-04 server cannot unmask client frames. Every other dialect and role
    /// ignores it, so a caller can pass on whatever the handshake returned.
    pub fn with_connection_key(
        dialect: Dialect,
        role: Role,
        limits: &Limits,
        connection_key: Option<ConnectionKey>,
    ) -> Self {
        match dialect.caps().framing {
            Framing::Sentinel => Decoder::Sentinel(SentinelDecoder::new(dialect, limits)),
            Framing::MoreBit | Framing::Hybi04 | Framing::Hybi => Decoder::Framed(
                FramedDecoder::with_connection_key(dialect, role, limits, connection_key),
            ),
        }
    }

    /// Give RSV1 the meaning a negotiated compression extension gives it
    /// ([`FramedDecoder::set_compression`]). Sentinel framing has no RSV1 and no
    /// compression: for it this does nothing.
    pub fn set_compression(&mut self, scope: Option<crate::compression::Scope>) {
        if let Decoder::Framed(d) = self {
            d.set_compression(scope);
        }
    }
}

impl Decode for Decoder {
    #[inline]
    fn decode<'a>(
        &mut self,
        buf: &'a mut [u8],
    ) -> Result<(usize, Option<Event<'a>>), ProtocolError> {
        match self {
            Decoder::Framed(d) => d.decode(buf),
            Decoder::Sentinel(d) => d.decode(buf),
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            Decoder::Framed(d) => d.is_closed(),
            Decoder::Sentinel(d) => d.is_closed(),
        }
    }

    #[inline]
    fn decode_each(
        &mut self,
        buf: &mut [u8],
        on_event: impl FnMut(Event<'_>),
    ) -> Result<usize, ProtocolError> {
        match self {
            Decoder::Framed(d) => d.decode_each(buf, on_event),
            Decoder::Sentinel(d) => d.decode_each(buf, on_event),
        }
    }
}
