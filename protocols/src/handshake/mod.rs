//! The opening handshake of every dialect, both sides, sans-IO.
//!
//! The server side sniffs a request head into a [`Dialect`](crate::Dialect) (docs/protocols.md §2)
//! and answers it; the client side writes any dialect's request and checks the answer. Both
//! take bytes from a growing buffer and return [`Status::Partial`] until they have enough;
//! both append what to send to a caller-owned `Vec<u8>`. Refusals carry their HTTP answer
//! ([`HandshakeError::write_response`]).
//!
//! # Server
//!
//! ```
//! use ws_protocols::handshake::{accept, Accept, Status};
//! use ws_protocols::{Dialect, Limits};
//!
//! let request = b"GET /chat HTTP/1.1\r\n\
//!     Host: server.example.com\r\n\
//!     Upgrade: websocket\r\n\
//!     Connection: Upgrade\r\n\
//!     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Protocol: chat, superchat\r\n\
//!     Sec-WebSocket-Version: 13\r\n\r\n";
//! const SUPPORTED: &[&str] = &["superchat"];
//!
//! let limits = Limits::default();
//! // Until the head is complete: Partial.
//! assert!(matches!(accept(&request[..40], &limits, |_| Accept::default()), Ok(Status::Partial)));
//!
//! let outcome = accept(request, &limits, |req| Accept {
//!     subprotocol: SUPPORTED
//!         .iter()
//!         .copied()
//!         .find(|p| req.subprotocols().iter().any(|o| o == p)),
//!     ..Accept::default()
//! });
//! let Ok(Status::Complete(done)) = outcome else { panic!("{outcome:?}") };
//! assert_eq!(done.request.dialect(), Dialect::Rfc6455);
//! assert_eq!(done.consumed, request.len());
//! assert_eq!(
//!     done.response,
//!     b"HTTP/1.1 101 Switching Protocols\r\n\
//!       Upgrade: websocket\r\n\
//!       Connection: Upgrade\r\n\
//!       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
//!       Sec-WebSocket-Protocol: superchat\r\n\r\n"
//! );
//! ```
//!
//! A server that writes the 101 head as soon as the head is parsed and the hixie-76 answer
//! only when key3 is in (the HAProxy-friendly order, docs/protocols.md §3.2), and refuses with the
//! right status otherwise:
//!
//! ```
//! use ws_protocols::handshake::{read_request, Accept, Status};
//! use ws_protocols::Limits;
//!
//! let mut input = b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n\
//!     Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nUpgrade: WebSocket\r\n\
//!     Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nOrigin: http://example.com\r\n\r\n"
//!     .to_vec();
//! let mut out = Vec::new();
//! let request = match read_request(&input, &Limits::default()) {
//!     Ok(Status::Complete(request)) => request,
//!     Ok(Status::Partial) => return, // read more, call again
//!     Err(refusal) => {
//!         refusal.write_response(&mut out); // send, then close
//!         return;
//!     }
//! };
//! request.write_response(&Accept::default(), &mut out).unwrap();
//! // ... later, key3 arrives:
//! input.extend_from_slice(b"^n:ds[4U");
//! let key3 = &input[request.head_len()..request.head_len() + request.key3_len()];
//! let answer = request.hixie76_answer(key3.try_into().unwrap()).unwrap();
//! assert_eq!(&answer, b"8jKS'y:G*Co,Wxa-");
//! ```
//!
//! # Client
//!
//! ```
//! use ws_protocols::handshake::{client_request, ClientConfig, Status};
//! use ws_protocols::Dialect;
//!
//! let cfg = ClientConfig {
//!     origin: Some("http://example.com"),
//!     subprotocols: &["chat"],
//!     ..ClientConfig::new(Dialect::Rfc6455, "server.example.com", "/chat")
//! };
//! // The caller supplies randomness; a CSPRNG in real use.
//! let mut random = |buf: &mut [u8]| buf.fill(7);
//! let mut request = Vec::new();
//! let handshake = client_request(&cfg, &mut random, &mut request);
//! assert!(request.starts_with(b"GET /chat HTTP/1.1\r\n"));
//!
//! // A refusal carries its status code.
//! let refusal = b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n";
//! assert_eq!(handshake.read_response(refusal).unwrap_err().to_string(),
//!            "server answered 426 instead of 101");
//! assert!(matches!(handshake.read_response(b"HTTP/1.1 101"), Ok(Status::Partial)));
//! ```

mod client;
mod error;
mod family;
mod hixie75;
mod hixie76;
mod http;
mod hybi;
mod request;
mod server;
mod sniff;

pub use client::{client_request, ClientConfig, ClientHandshake, ServerResponse};
pub use error::{ClientHandshakeError, HandshakeError};
pub use http::{reason_phrase, write_error_response};
pub use request::Request;
pub use server::{accept, read_request, Accept, Accepted};

/// The outcome of feeding a growing buffer: not enough bytes yet, or a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// More bytes are needed; call again with the whole buffer once they arrive.
    Partial,
    /// Done.
    Complete(T),
}

impl<T> Status<T> {
    /// Whether the result is complete.
    pub fn is_complete(&self) -> bool {
        matches!(self, Status::Complete(_))
    }

    /// The result, if complete.
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(t) => Some(t),
            Status::Partial => None,
        }
    }
}
