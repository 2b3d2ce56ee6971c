//! What an application implements: callbacks for one route's connections.

use crate::cx::Cx;
use crate::socket::{CloseInfo, SocketId};
use crate::Error;
use ws_protocols::handshake::Request;
use ws_protocols::message::Message;
use ws_protocols::MessageKind;

/// The answer to an upgrade request, given before the handshake completes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Accept, with this subprotocol (which the client must have offered).
    Accept {
        /// The chosen subprotocol, if any.
        subprotocol: Option<String>,
    },
    /// Refuse with this HTTP status and a one-line reason.
    Reject {
        /// 4xx or 5xx.
        status: u16,
        /// One line for the response body and the log.
        reason: String,
    },
}

impl Decision {
    /// Accept without a subprotocol.
    pub fn accept() -> Self {
        Decision::Accept { subprotocol: None }
    }

    /// Refuse with `status` and `reason`.
    pub fn reject(status: u16, reason: impl Into<String>) -> Self {
        Decision::Reject {
            status,
            reason: reason.into(),
        }
    }
}

/// Callbacks for the connections of one route. One handler object serves all of the
/// route's connections (the loop is single-threaded); each callback names the connection
/// by id, and [`Cx`] reaches it or any other connection.
///
/// Every method has a default: implement only what you need.
///
/// ```
/// use ws::{Cx, Handler, SocketId};
/// use ws::protocols::message::Message;
///
/// /// Echo every message back to its sender.
/// struct Echo;
///
/// impl Handler for Echo {
///     fn on_message(&mut self, cx: &mut Cx<'_>, id: SocketId, message: Message<'_>) {
///         if let Some(socket) = cx.socket(id) {
///             // A full buffer is the only likely failure; the loop's backpressure
///             // (reading pauses above the high-water mark) keeps that rare.
///             let _ = socket.send(message);
///         }
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait Handler: Send {
    /// Inspect an upgrade request (path, headers, cookies, origin) before the handshake
    /// completes. `suggested` is the subprotocol the route and settings would pick.
    fn on_request(&mut self, request: &Request, suggested: Option<&str>) -> Decision {
        Decision::Accept {
            subprotocol: suggested.map(str::to_owned),
        }
    }
    /// The handshake completed; the socket is open.
    fn on_open(&mut self, cx: &mut Cx<'_>, id: SocketId) {}
    /// A whole message arrived (`Delivery::Whole`).
    fn on_message(&mut self, cx: &mut Cx<'_>, id: SocketId, message: Message<'_>) {}
    /// A message begins (`Delivery::Stream`); `len` when the wire says it up front.
    fn on_message_start(
        &mut self,
        cx: &mut Cx<'_>,
        id: SocketId,
        kind: MessageKind,
        len: Option<u64>,
    ) {
    }
    /// The next bytes of the current message (`Delivery::Stream`).
    fn on_message_data(&mut self, cx: &mut Cx<'_>, id: SocketId, data: &[u8]) {}
    /// The current message is complete (`Delivery::Stream`).
    fn on_message_end(&mut self, cx: &mut Cx<'_>, id: SocketId) {}
    /// A ping arrived; the pong has already been queued.
    fn on_ping(&mut self, cx: &mut Cx<'_>, id: SocketId, payload: &[u8]) {}
    /// A pong arrived.
    fn on_pong(&mut self, cx: &mut Cx<'_>, id: SocketId, payload: &[u8]) {}
    /// The connection ended (after `on_open`). The socket is no longer reachable.
    fn on_close(&mut self, cx: &mut Cx<'_>, id: SocketId, close: &CloseInfo) {}
    /// Something went wrong on the connection (a protocol error from the peer, an I/O
    /// error); `on_close` follows.
    fn on_error(&mut self, cx: &mut Cx<'_>, id: SocketId, error: &Error) {}
    /// The connection's outgoing queue fell below the low-water mark after passing the high
    /// one, or to the level asked with [`Cx::notify_drain`]: a good time to resume whatever
    /// feeds it.
    fn on_drain(&mut self, cx: &mut Cx<'_>, id: SocketId) {}
    /// The timer set with [`Cx::set_timer`] for this connection fired.
    fn on_timer(&mut self, cx: &mut Cx<'_>, id: SocketId) {}
    /// A [`crate::RouteWaker`] of this route was woken (from any thread): a good time to pick up
    /// work other threads left for the handler, such as messages to send.
    fn on_wake(&mut self, cx: &mut Cx<'_>) {}

    /// Tell a status snapshot ([`crate::Handle::status`], `/status`, `/metrics`) about the
    /// groups of connections this handler keeps (pipe sessions, relay clients). Called on
    /// the loop thread whenever a snapshot is taken: answer from what is at hand.
    fn report(&self, report: &mut crate::Report) {}

    /// Where a connection to this handler should be served when the server runs several
    /// loops ([`crate::Builder::threads`]) and the route was mounted with
    /// [`crate::Mount::per_loop`]. Asked on the loop that accepted it, before
    /// [`Handler::on_request`]; connections that must meet (a pipe session's members) give
    /// the same [`crate::Placement::Keyed`] key. Default: where it was accepted.
    fn placement(&self, request: &Request) -> crate::Placement {
        crate::Placement::Anywhere
    }
}
