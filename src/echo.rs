//! The echo handler: every message goes back to its sender with the same type.

use crate::cx::Cx;
use crate::handler::{Decision, Handler};
use crate::socket::SocketId;
use crate::SendError;
use ws_protocols::handshake::Request;
use ws_protocols::message::Message;
use ws_protocols::MessageKind;

/// Echoes every message back, same type. Whole messages are sent back whole; in
/// [`crate::Delivery::Stream`] mode each chunk is sent back as it arrives (cut-through).
///
/// What cannot be echoed (binary to a hixie peer under `HixieBinary::Refuse`) closes the
/// connection with 1003 ("unsupported data") rather than vanishing.
///
/// An echo speaks every subprotocol (it only sends back what it gets), so unless the route
/// or the settings choose one it accepts the first the client offers. Hixie clients need
/// that: a hixie-75/76 client that offers a subprotocol refuses an answer that does not
/// repeat it (docs/protocols.md §3.2).
#[derive(Debug, Default)]
pub struct Echo;

fn refuse_unsupported(cx: &mut Cx<'_>, id: SocketId, error: SendError) {
    if let Some(socket) = cx.socket(id) {
        match error {
            SendError::Unsupported(..) => {
                let _ = socket.close(ws_protocols::close::UNSUPPORTED_DATA, "cannot echo this");
            }
            SendError::BufferFull { .. } => {
                let _ = socket.close(ws_protocols::close::POLICY, "echo buffer full");
            }
            _ => {}
        }
    }
}

impl Handler for Echo {
    fn on_request(&mut self, request: &Request, suggested: Option<&str>) -> Decision {
        let chosen = suggested.or(request.subprotocols().first().map(String::as_str));
        Decision::Accept {
            subprotocol: chosen.map(str::to_owned),
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, id: SocketId, message: Message<'_>) {
        if let Some(Err(e)) = cx.socket(id).map(|s| s.send(message)) {
            refuse_unsupported(cx, id, e);
        }
    }

    fn on_message_start(
        &mut self,
        cx: &mut Cx<'_>,
        id: SocketId,
        kind: MessageKind,
        len: Option<u64>,
    ) {
        if let Some(Err(e)) = cx.socket(id).map(|s| s.begin_message(kind, len)) {
            refuse_unsupported(cx, id, e);
        }
    }

    fn on_message_data(&mut self, cx: &mut Cx<'_>, id: SocketId, data: &[u8]) {
        if let Some(Err(e)) = cx.socket(id).map(|s| s.send_chunk(data)) {
            refuse_unsupported(cx, id, e);
        }
    }

    fn on_message_end(&mut self, cx: &mut Cx<'_>, id: SocketId) {
        if let Some(Err(e)) = cx.socket(id).map(|s| s.end_message()) {
            refuse_unsupported(cx, id, e);
        }
    }
}
