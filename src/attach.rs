//! Serving WebSocket upgrades beside an HTTP server the application already has.
//!
//! The application's HTTP server keeps its routes, auth and cookies. When a request is an
//! upgrade it wants to grant, it hands the connection to our loop in one of two ways:
//!
//! - **Unanswered** ([`Handle::handle_upgrade`]): the HTTP server read the request head and
//!   wrote nothing; our loop routes the request, asks the mounted handler, and answers in
//!   the request's dialect. Fits servers that let you take the raw socket back after reading
//!   the head.
//! - **Answered** ([`Handle::adopt_answered`]): the HTTP server itself writes the `101`
//!   (hyper does: it only upgrades a connection whose response is a 101), using the status
//!   and headers from [`upgrade_response`]; our loop then only writes hixie-76's 16-byte
//!   answer (the "headers first" order HAProxy needs anyway) and starts framing.
//!
//! `examples/attach_hyper.rs` shows the second with hyper: its handler checks a cookie,
//! answers with [`upgrade_response`], takes hyper's upgraded IO back as the TCP stream with
//! the bytes hyper had already read, and calls [`Handle::adopt_answered`].

use crate::handle::Handle;
use crate::server::Builder;
use crate::Error;
use std::thread::JoinHandle;
use ws_protocols::handshake::{read_request, Accept, HandshakeError, Status};
use ws_protocols::{Dialect, Limits};

/// A server running on its own thread, fed by another HTTP server.
pub struct Attached {
    /// Hands connections to the loop, shuts it down, reads its counters.
    pub handle: Handle,
    thread: JoinHandle<Result<(), Error>>,
}

impl Attached {
    /// Wait for the loop to end (after [`Handle::shutdown`]).
    pub fn join(self) -> Result<(), Error> {
        self.thread.join().map_err(|_| Error::Closed)?
    }
}

/// Start `builder`'s server with no listener of its own, on a thread of its own, ready to
/// adopt connections from an existing HTTP server.
///
/// ```
/// let attached = ws::attach(ws::Server::builder().route("/echo", ws::Echo))?;
/// // give attached.handle to the HTTP server; at exit:
/// attached.handle.shutdown()?;
/// attached.join()?;
/// # Ok::<(), ws::Error>(())
/// ```
pub fn attach(builder: Builder) -> Result<Attached, Error> {
    let server = builder.detached()?;
    let handle = server.handle();
    let thread = std::thread::Builder::new()
        .name("ws-loop".into())
        .spawn(move || server.run())?;
    Ok(Attached { handle, thread })
}

/// The `101` an HTTP server should send for an upgrade request it grants, in the request's
/// dialect: status reason, headers in order. hixie-75 clients compare the first three lines
/// byte for byte, so the HTTP server must keep this order and the header names' case
/// (hyper: `http1::Builder::title_case_headers(true)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeResponse {
    /// The dialect the request speaks.
    pub dialect: Dialect,
    /// Always 101.
    pub status: u16,
    /// The reason phrase (`Switching Protocols`, `WebSocket Protocol Handshake`,
    /// `Web Socket Protocol Handshake`).
    pub reason: String,
    /// Header lines, in order.
    pub headers: Vec<(String, String)>,
    /// The subprotocol written into the response, to pass on to [`Handle::adopt_answered`].
    pub subprotocol: Option<String>,
}

/// Validate an upgrade request head (everything up to and including the blank line) and
/// build the `101` for it, choosing `subprotocol` (which the client must have offered).
/// A refusal carries its HTTP status (`HandshakeError::status`) and reason.
///
/// ```
/// let head = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n";
/// let response = ws::upgrade_response(head, None).unwrap();
/// assert_eq!(response.reason, "Switching Protocols");
/// assert!(response.headers.contains(&(
///     "Sec-WebSocket-Accept".into(),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into()
/// )));
/// ```
pub fn upgrade_response(
    request_head: &[u8],
    subprotocol: Option<&str>,
) -> Result<UpgradeResponse, HandshakeError> {
    let limits =
        Limits::default().max_head_bytes(request_head.len().max(Limits::default().max_head_bytes));
    let request = match read_request(request_head, &limits)? {
        Status::Complete(request) => request,
        Status::Partial => return Err(HandshakeError::MalformedHttp),
    };
    let mut bytes = Vec::new();
    request.write_response(
        &Accept {
            subprotocol,
            ..Default::default()
        },
        &mut bytes,
    )?;
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(&bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(HandshakeError::InvalidResponseHeader),
    }
    Ok(UpgradeResponse {
        dialect: request.dialect(),
        status: parsed.code.unwrap_or(101),
        reason: parsed.reason.unwrap_or_default().to_owned(),
        headers: crate::plain_http::owned_headers(parsed.headers),
        subprotocol: subprotocol.map(str::to_owned),
    })
}
