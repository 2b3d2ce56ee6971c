//! The opening handshake: reading the request (or, for an outgoing connection, the
//! server's answer), routing it, asking the handler, answering in the request's dialect,
//! hixie-76's key3, and opening the connection. Plain HTTP requests go to the `plain_http`
//! handler.

use super::{abnormal, EventLoop};
use crate::conn::{KeyMaterial, Phase};
use crate::face;
use crate::handler::Decision;
use crate::plain_http::{HttpResponse, Parsed};

use crate::router::{self, NoRoute};
use crate::settings::Delivery;
use crate::socket::SocketId;
use crate::timers::TimerKind;
use crate::Error;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;
use ws_protocols::handshake::{
    read_request, write_error_response, Accept, HandshakeError, Request, Status,
};
use ws_protocols::Role;

impl EventLoop {
    pub(super) fn process_handshake(&mut self, id: SocketId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if let Phase::AwaitKey3 { head_written } = conn.phase {
            return self.try_key3(id, head_written);
        }
        if let Some(handshake) = conn
            .opening
            .as_ref()
            .and_then(|o| o.client_handshake.as_ref())
        {
            return match handshake.read_response(&conn.input) {
                Ok(Status::Partial) => {}
                Ok(Status::Complete(response)) => {
                    conn.subprotocol = response.subprotocol;
                    conn.opening().compression = response.compression;
                    self.open(id, response.consumed, response.connection_key);
                }
                Err(e) => {
                    log::info!("{id}: outgoing handshake failed: {e}");
                    let route = conn.route;
                    let reason = format!("opening handshake failed: {e}");
                    let error = Error::Connect(e);
                    self.call(route, |h, cx| h.on_error(cx, id, &error));
                    self.remove(id, abnormal(&reason));
                }
            };
        }
        match read_request(&conn.input, &self.settings.limits) {
            Ok(Status::Partial) => {}
            Ok(Status::Complete(request)) => self.route_request(id, request),
            // Plain HTTP (the relay's registration, the pages) is the first loop's.
            Err(HandshakeError::NotWebSocket) if self.index != 0 => self.hand_over(id, 0),
            Err(HandshakeError::NotWebSocket) => self.plain_request(id),
            Err(e) => {
                let mut response = Vec::new();
                e.write_response(&mut response);
                self.refuse_with(id, response, e.status(), e.reason());
            }
        }
    }

    fn route_request(&mut self, id: SocketId, request: Request) {
        if self.links.len() > 1 {
            if let Ok(route) = router::find(&self.mounts, request.path(), request.subprotocols()) {
                let placement = self.mounts[route].placement(&request);
                if self.placed_elsewhere(id, &placement) {
                    return;
                }
            }
        }
        let answered = self
            .conns
            .get_mut(id)
            .and_then(|c| c.opening.as_mut()?.answered.take());
        if let Some(answered) = answered {
            return self.open_answered(id, request, answered.subprotocol);
        }
        let route = match router::find(&self.mounts, request.path(), request.subprotocols()) {
            Ok(route) => route,
            Err(NoRoute::Path) => {
                return self.refuse(id, 404, "no WebSocket endpoint at this path")
            }
            Err(NoRoute::Subprotocol) => return self.refuse(id, 400, "no subprotocol in common"),
        };
        if !self.settings.origins.allows(request.origin()) {
            return self.refuse(id, 403, "origin not allowed");
        }
        let mount = &mut self.mounts[route];
        let suggested = mount.subprotocol.clone().or_else(|| {
            self.settings
                .subprotocols
                .iter()
                .find(|p| request.subprotocols().contains(p))
                .cloned()
        });
        let subprotocol = match mount.handler.on_request(&request, suggested.as_deref()) {
            Decision::Accept { subprotocol } => subprotocol,
            Decision::Reject { status, reason } => return self.refuse(id, status, &reason),
        };
        let policy = mount.compression.unwrap_or(self.settings.compression);
        let agreed = request.negotiate_compression(&policy);
        let extensions = agreed
            .as_ref()
            .map(|a| [("Sec-WebSocket-Extensions", a.response.as_str())]);
        let mut response = Vec::new();
        let secure = self.conns.get(id).is_some_and(|c| c.tls.is_some());
        let accept = Accept {
            subprotocol: subprotocol.as_deref(),
            secure,
            extra_headers: extensions.as_ref().map_or(&[], |h| &h[..]),
            ..Default::default()
        };
        if let Err(e) = request.write_response(&accept, &mut response) {
            log::error!("{id}: handler chose an invalid response: {e}");
            return self.refuse(id, e.status(), e.reason());
        }
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.route = Some(route);
        conn.subprotocol = subprotocol;
        let key3 = request.key3_len() > 0;
        let consumed = request.head_len();
        conn.opening().request = Some(request);
        conn.opening().compression = agreed.map(|a| a.compression);
        if !key3 {
            conn.out.extend(&response);
            return self.open(id, consumed, None);
        }
        // hixie-76: headers now and the MD5 answer when key3 is in (HAProxy holds key3 back
        // until it sees a 101), unless configured to answer all at once.
        let head_written = self.settings.hixie76_headers_first;
        if head_written {
            conn.out.extend(&response);
        } else {
            conn.opening().pending_response = response;
        }
        conn.phase = Phase::AwaitKey3 { head_written };
        self.touched.push(id);
        self.try_key3(id, head_written);
    }

    /// The HTTP server that adopted us already wrote the 101 head, after its own checks:
    /// route by path only, and answer nothing but hixie-76's 16 bytes.
    fn open_answered(&mut self, id: SocketId, request: Request, subprotocol: Option<String>) {
        let route = match router::find(&self.mounts, request.path(), request.subprotocols()) {
            Ok(route) => route,
            Err(_) => {
                // Too late for an HTTP refusal: the 101 is out. Close the connection.
                log::warn!(
                    "{id}: adopted upgrade for {} has no mount; closing",
                    request.path()
                );
                return self.remove(id, abnormal("no mount for an adopted upgrade"));
            }
        };
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.route = Some(route);
        conn.subprotocol = subprotocol;
        let key3 = request.key3_len() > 0;
        let head = request.head_len();
        conn.opening().request = Some(request);
        if key3 {
            conn.phase = Phase::AwaitKey3 { head_written: true };
            self.try_key3(id, true);
        } else {
            self.open(id, head, None);
        }
    }

    fn try_key3(&mut self, id: SocketId, head_written: bool) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let Some(request) = conn.request_ref() else {
            return;
        };
        let head = request.head_len();
        let Some(key3) = conn.input.get(head..head + 8) else {
            return;
        };
        let key3: [u8; 8] = key3.try_into().expect("8 bytes");
        let Some(answer) = request.hixie76_answer(&key3) else {
            return;
        };
        if !head_written {
            let response = std::mem::take(&mut conn.opening().pending_response);
            conn.out.extend(&response);
        }
        conn.out.extend(&answer);
        self.open(id, head + 8, None);
    }

    /// `connection_key`: what an outgoing hybi-04 connection's handshake gave (a server
    /// derives its own from the request).
    pub(super) fn open(
        &mut self,
        id: SocketId,
        consumed: usize,
        connection_key: Option<ws_protocols::frame::ConnectionKey>,
    ) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let route = conn.route.expect("routed before opening");
        let mount = &mut self.mounts[route];
        let whole = mount.delivery.unwrap_or(self.settings.delivery) == Delivery::Whole;
        let limits = mount.limits(&self.settings.limits);
        if let Some(handshake) = conn
            .opening
            .as_mut()
            .and_then(|o| o.client_handshake.take())
        {
            let mut seed = [0u8; 16];
            if let Err(e) = getrandom::fill(&mut seed) {
                log::error!("{id}: no mask seed from the OS: {e}");
                return self.remove(id, abnormal("no randomness for masking"));
            }
            let keys = KeyMaterial {
                mask_seed: seed,
                connection_key,
            };
            let codec = conn.open_codec(
                handshake.dialect(),
                Role::Client,
                keys,
                &limits,
                whole,
                &self.settings,
            );
            conn.codec = Some(codec);
        } else {
            let Some(request) = conn.request_ref() else {
                return;
            };
            let keys = KeyMaterial {
                mask_seed: [0; 16],
                // hybi-04: our 101 carried the nonce derived from the key (`Accept::nonce`
                // left `None`, here and in `attach`), and so does this connection key.
                connection_key: request.connection_key(None),
            };
            let codec = conn.open_codec(
                request.dialect(),
                Role::Server,
                keys,
                &limits,
                whole,
                &self.settings,
            );
            conn.codec = Some(codec);
        }
        let compression = conn.opening.as_mut().and_then(|o| o.compression.take());
        let codec = conn.codec.as_mut().expect("just set");
        if let Some(agreed) = compression {
            let policy = mount.compression.unwrap_or(self.settings.compression);
            let inflater =
                codec
                    .connection
                    .set_compression(&agreed, policy.min_size, limits.max_message);
            codec.inflater = Some(Box::new(inflater));
        }
        let dialect = codec.dialect();
        conn.phase = Phase::Open;
        conn.opened = true;
        let now = Instant::now();
        // The handshake deadline was set at accept: what is left of it tells how long the
        // handshake took, without a timestamp kept per connection.
        if let Some(deadline) = conn.deadlines[TimerKind::Handshake as usize].take() {
            let left = deadline.saturating_duration_since(now);
            let took = self.settings.handshake_timeout.saturating_sub(left);
            self.census.opened(route, dialect, took);
        } else {
            self.census
                .opened(route, dialect, std::time::Duration::ZERO);
        }
        if let (Some(interval), true) = (self.settings.keepalive, dialect.caps().ping) {
            self.timers
                .arm(&mut conn.deadlines, id, TimerKind::Ping, now + interval);
        }
        if let Some(idle) = self.settings.idle_timeout {
            self.timers
                .arm(&mut conn.deadlines, id, TimerKind::Idle, now + idle);
        }
        if self.settings.client_tracking {
            mount.clients.insert(id);
        }
        log::debug!(
            "{id} open: {dialect} {} {} {:?}",
            conn.request_ref().map_or("(outgoing)", Request::target),
            if conn.outgoing { "to" } else { "from" },
            conn.peer
        );
        let mut rest = conn.input.split_off(consumed.min(conn.input.len()));
        // The head's buffer is not kept, and the answer goes out now with its buffer: an
        // idle connection holds no buffer at all. (A write error is met again, and handled,
        // by the loop's next flush.)
        conn.input = Vec::new();
        let _ = conn.flush_out();
        conn.out.trim();
        self.touched.push(id);
        self.call(Some(route), |h, cx| h.on_open(cx, id));
        if let Some(conn) = self.conns.get_mut(id) {
            // The request was the handler's to read until now (`Socket::request`).
            conn.opening = None;
        }
        if !rest.is_empty() {
            self.process_frames(id, &mut rest);
        }
    }

    /// A request that is not an upgrade: the `plain_http` handler answers it once it is
    /// whole, or `501`.
    fn plain_request(&mut self, id: SocketId) {
        if self.plain_http.is_none() && !self.settings.pages.any() {
            let status = self.plain_http_status;
            return self.refuse(id, status, "this endpoint speaks only WebSocket");
        }
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        match crate::plain_http::parse(&conn.input, &self.settings.limits) {
            Parsed::Partial => {}
            Parsed::Refused(status, reason) => {
                let response = HttpResponse::text(status, reason).to_bytes();
                self.refuse_with(id, response, status, reason);
            }
            Parsed::Complete(request) => {
                let head_only = request.method == "HEAD";
                let response = match face::route(&request, &self.settings.pages) {
                    Some(Ok(page)) => match page.disclosure() {
                        Some(disclosure) => {
                            return self.gather_status(id, page, disclosure, head_only)
                        }
                        None => face::render(&page, None),
                    },
                    Some(Err(refusal)) => refusal,
                    None => {
                        let (answer, later) = std::sync::mpsc::sync_channel(1);
                        let reply = crate::plain_http::HttpReply {
                            answer,
                            waker: std::sync::Arc::clone(&self.waker),
                        };
                        match self.plain_http.as_mut() {
                            Some(handler) => match crate::plain_http::handle_later(
                                handler.as_mut(),
                                &request,
                                reply,
                            ) {
                                Some(response) => response,
                                None => return self.answer_later(id, request, later),
                            },
                            None => {
                                let status = self.plain_http_status;
                                return self.refuse(
                                    id,
                                    status,
                                    "this endpoint speaks only WebSocket",
                                );
                            }
                        }
                    }
                };
                log::info!(
                    "{id}: {} {} -> {}",
                    request.method,
                    request.path,
                    response.status
                );
                self.answer_plain(id, &response, head_only);
            }
        }
    }

    /// Write the answer to a plain HTTP request and close once it is out.
    pub(super) fn answer_plain(&mut self, id: SocketId, response: &HttpResponse, head_only: bool) {
        let bytes = if head_only {
            response.head_bytes()
        } else {
            response.to_bytes()
        };
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.out.extend(&bytes);
        conn.phase = Phase::Failing;
        conn.shutdown_after_flush = true;
        self.touched.push(id);
    }

    pub(super) fn refuse(&mut self, id: SocketId, status: u16, reason: &str) {
        let mut response = Vec::new();
        write_error_response(status, reason, &[], &mut response);
        self.refuse_with(id, response, status, reason);
    }

    fn refuse_with(&mut self, id: SocketId, response: Vec<u8>, status: u16, reason: &str) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        log::info!("refused {:?}: {status} {reason}", conn.peer);
        self.shared.stats.handshakes_rejected.fetch_add(1, Relaxed);
        self.census.refused(status);
        conn.out.extend(&response);
        conn.phase = Phase::Failing;
        conn.shutdown_after_flush = true;
        self.touched.push(id);
    }
}
