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
    /// and [`EventLoop::finish_plain`] writes the answer when it comes.
    pub(super) fn answer_later(
        &mut self,
        id: SocketId,
        request: HttpRequest,
        later: Receiver<HttpResponse>,
    ) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.phase = Phase::Failing;
        }
        self.pending_plain.push(PendingPlain {
            id,
            head_only: request.method == "HEAD",
            method: request.method,
            path: request.path,
            later,
        });
        // Answered (or given up) on this thread already: no wake-up comes for it.
        self.finish_plain();
    }

    /// Answer the parked plain HTTP requests whose answers have come (or whose repliers
    /// gave up: 503); forget those whose connections are gone (the handshake timeout ends
    /// a connection whose answer never comes).
    pub(super) fn finish_plain(&mut self) {
        let mut i = 0;
        while i < self.pending_plain.len() {
            let pending = &self.pending_plain[i];
            let response = match pending.later.try_recv() {
                Ok(response) => response,
                Err(TryRecvError::Disconnected) => {
                    HttpResponse::text(503, "no answer: try again later")
                }
                Err(TryRecvError::Empty) => {
                    if self.conns.get(pending.id).is_some() {
                        i += 1;
                    } else {
                        self.pending_plain.swap_remove(i);
                    }
                    continue;
                }
            };
            let done = self.pending_plain.swap_remove(i);
            if self.conns.get(done.id).is_none() {
                continue;
            }
            log::info!(
                "{}: {} {} -> {} (answered later)",
                done.id,
                done.method,
                done.path,
                response.status
            );
            self.answer_plain(done.id, &response, done.head_only);
        }
        self.service_touched();
    }
}
