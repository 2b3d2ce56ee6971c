//! Sans-IO codecs for every WebSocket dialect ever shipped: hixie-75, hixie-76 (= hybi-00),
//! hybi-03 ("draft03"), hybi-04, hybi-05, hybi-06, hybi-07, hybi-08 and RFC 6455.
//!
//! Nothing here touches a socket, a clock or the OS random source: bytes go in, events and
//! bytes come out. A server or client supplies the I/O; fuzz targets and tests drive the same
//! code with plain buffers.
//!
//! - [`handshake`]: parse and validate an opening handshake, recognise its dialect, and write
//!   the exact response (or the HTTP refusal); the client side of every dialect too.
//! - [`frame`]: one streaming decoder per framing family behind the [`Decode`] trait, and an
//!   [`Encoder`] per dialect and role.
//! - [`message`]: optional assembly of whole messages, up to a limit.
//! - [`utf8`]: the incremental validator the decoders use for text.
//! - [`Dialect::caps`]: what each dialect can carry, as data.
//!
//! # Example: a hixie-76 request answered, then a frame decoded
//!
//! ```
//! use ws_protocols::handshake::{accept, Status};
//! use ws_protocols::{Decode, Decoder, Dialect, Event, Limits, Role};
//!
//! let mut input = b"GET /demo HTTP/1.1\r\n\
//!     Host: example.com\r\n\
//!     Connection: Upgrade\r\n\
//!     Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\
//!     Upgrade: WebSocket\r\n\
//!     Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\
//!     Origin: http://example.com\r\n\
//!     \r\n\
//!     ^n:ds[4U\x00Hello\xff".to_vec();
//! let limits = Limits::default();
//! let Ok(Status::Complete(accepted)) = accept(&input, &limits, |_| Default::default()) else {
//!     panic!("a valid hixie-76 handshake");
//! };
//! assert_eq!(accepted.request.dialect(), Dialect::Hixie76);
//! assert!(accepted.response.ends_with(b"8jKS'y:G*Co,Wxa-"));
//!
//! // The bytes after the handshake belong to the frame decoder.
//! let mut decoder = Decoder::new(Dialect::Hixie76, Role::Server, &limits);
//! let mut text = Vec::new();
//! decoder
//!     .decode_each(&mut input[accepted.consumed..], |event| {
//!         if let Event::Data(bytes) = event {
//!             text.extend_from_slice(bytes);
//!         }
//!     })
//!     .unwrap();
//! assert_eq!(text, b"Hello");
//! ```
#![deny(missing_docs)]

pub mod close;
pub mod compression;
pub mod connection;
pub mod dialect;
pub mod error;
pub mod event;
pub mod frame;
pub mod handshake;
pub mod limits;
pub mod message;
pub mod translate;
pub mod utf8;

pub use dialect::{Caps, Dialect, Framing, HandshakeFamily, Masking, Role, SUPPORTED_VERSIONS};
pub use error::{EncodeError, ProtocolError};
pub use event::{CloseFrame, Event, MessageKind};
pub use frame::{Decode, Decoder, Encoder};
pub use handshake::{ClientHandshakeError, HandshakeError};
pub use limits::Limits;
