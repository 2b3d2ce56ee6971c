//! Plain HTTP requests whose handler answers later, from another thread
//! ([`crate::HttpHandler::handle_later`]): parked here, read no further, and answered when
//! the reply arrives (the loop is woken for it) or refused with 503 when the replier gives up.

use super::EventLoop;
use crate::conn::Phase;
use crate::plain_http::{HttpRequest, HttpResponse};
use crate::socket::SocketId;
use std::sync::mpsc::{Receiver, TryRecvError};

/// A plain HTTP request whose handler answers later.
pub(super) struct PendingPlain {
    id: SocketId,
    head_only: bool,
    method: String,
    path: String,
    later: Receiver<HttpResponse>,
}

impl EventLoop {
    /// Park a plain HTTP request whose handler answers later: nothing more is read from it,
    /// and [`EventLoop::finish_plain`] writes the answer when it comes. One answered (or
    /// given up) on this thread already, during the handler's call, is answered now: no
    /// wake-up comes for it.
    pub(super) fn answer_later(
        &mut self,
        id: SocketId,
        request: HttpRequest,
        later: Receiver<HttpResponse>,
    ) {
        let pending = PendingPlain {
            id,
            head_only: request.method == "HEAD",
            method: request.method,
            path: request.path,
            later,
        };
        if let Some(pending) = self.answer_if_come(pending) {
            if let Some(conn) = self.conns.get_mut(id) {
                conn.phase = Phase::Failing;
            }
            self.pending_plain.push(pending);
        }
    }

    /// Answer the parked plain HTTP requests whose answers have come (or whose repliers
    /// gave up: 503); forget those whose connections are gone (the handshake timeout ends
    /// a connection whose answer never comes).
    pub(super) fn finish_plain(&mut self) {
        for pending in std::mem::take(&mut self.pending_plain) {
            if let Some(pending) = self.answer_if_come(pending) {
                if self.conns.get(pending.id).is_some() {
                    self.pending_plain.push(pending);
                }
            }
        }
        self.service_touched();
    }

    /// Answer `pending` if its answer has come or its replier gave up (503); give it back
    /// if it still waits.
    fn answer_if_come(&mut self, pending: PendingPlain) -> Option<PendingPlain> {
        let response = match pending.later.try_recv() {
            Ok(response) => response,
            Err(TryRecvError::Disconnected) => {
                HttpResponse::text(503, "no answer: try again later")
            }
            Err(TryRecvError::Empty) => return Some(pending),
        };
        if self.conns.get(pending.id).is_some() {
            log::info!(
                "{}: {} {} -> {} (answered later)",
                pending.id,
                pending.method,
                pending.path,
                response.status
            );
            self.answer_plain(pending.id, &response, pending.head_only);
        }
        None
    }
}
