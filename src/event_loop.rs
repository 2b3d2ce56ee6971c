//! The single-threaded mio loop: accepts, reads handshakes, drives each connection's codec,
//! owns the timers, and moves bytes. Protocol decisions live in `ws_protocols`; this file
//! only moves bytes and timers, and calls handlers.
//!
//! mio readiness is edge-triggered: after an event we must read until `WouldBlock` or we may
//! never be woken again for that socket. When we stop early (a paused connection, or the
//! per-event read budget that keeps one busy peer from starving the rest) we remember it in
//! `read_pending` and come back through the `ready` queue.

use crate::conn::{client_codec, insert_conn, server_codec, Conn, Phase, FIRST_CONN};
use crate::cx::Cx;
use crate::handle::{Command, Shared};
use crate::handler::{Decision, Handler};
use crate::handshaking::Handshaking;
use crate::listener::{Accepted, Listener};
use crate::plain_http::{HttpResponse, Parsed};
use crate::read_shift::{ReadShift, MAX_READ_SHIFT};
use crate::router::{self, Mount, NoRoute};
use crate::settings::{Delivery, Settings};
use crate::socket::{CloseInfo, Socket, SocketId};
use crate::timers::{TimerKind, Timers};
use crate::Error;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::Shutdown;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ws_protocols::frame::Control;
use ws_protocols::handshake::{
    read_request, write_error_response, Accept, HandshakeError, Request, Status,
};
use ws_protocols::message::{Message, MessageAssembler};
use ws_protocols::{close, Decode, Event, MessageKind};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const SIGNALS: Token = Token(2);

/// Bytes read per `read` call, into one buffer shared by every connection.
const READ_CHUNK: usize = 128 << 10;
/// Reads per connection per wake-up before others get a turn.
const READ_BUDGET: usize = 8;
/// Events (message starts, data, ends, control frames) per connection per wake-up before
/// others get a turn: a read of empty messages holds about 20 000 of them, and taking all of
/// a connection's reads at once kept other clients waiting for a third of a second.
const EVENT_BUDGET: usize = 4096;
/// An unfinished whole message may always hold this much, whatever the memory budget: a
/// small message split over two reads is honest traffic, and is never refused.
const BUDGET_FREE_MESSAGE: usize = ws_protocols::message::RESERVE_AHEAD;

pub(crate) struct EventLoop {
    poll: Poll,
    listener: Option<Listener>,
    /// Accepted connections still in their opening handshake, oldest first.
    handshaking: Handshaking,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    conns: crate::slab::Slab<Conn>,
    mounts: Vec<Mount>,
    timers: Timers,
    settings: Settings,
    scratch: Vec<u8>,
    read_shift: ReadShift,
    touched: Vec<SocketId>,
    ready: VecDeque<SocketId>,
    /// Events the connection being read may still deliver this turn ([`EVENT_BUDGET`]).
    events_left: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) waker: Arc<Waker>,
    /// Status for requests that are not upgrades when no `plain_http` handler answers them.
    plain_http_status: u16,
    /// Answers requests that are not upgrades ([`crate::Builder::plain_http`]).
    pub(crate) plain_http: Option<Box<dyn crate::plain_http::HttpHandler>>,
    shutdown_deadline: Option<Instant>,
}

impl EventLoop {
    pub(crate) fn new(
        settings: Settings,
        mounts: Vec<Mount>,
        listener: Option<std::net::TcpListener>,
    ) -> Result<Self, Error> {
        settings.validate()?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let listener = match listener {
            Some(l) => {
                l.set_nonblocking(true)?;
                let mut l = TcpListener::from_std(l);
                poll.registry()
                    .register(&mut l, LISTENER, Interest::READABLE)?;
                Some(Listener::new(l))
            }
            None => None,
        };
        let shared = Arc::new(Shared::default());
        shared
            .stats
            .memory_budget
            .store(settings.memory_budget, Relaxed);
        Ok(EventLoop {
            poll,
            listener,
            handshaking: Handshaking::default(),
            signals: None,
            conns: crate::slab::Slab::new(),
            mounts,
            timers: Timers::default(),
            settings,
            scratch: vec![0; READ_CHUNK + 256 + MAX_READ_SHIFT],
            read_shift: ReadShift::default(),
            touched: Vec::new(),
            ready: VecDeque::new(),
            events_left: EVENT_BUDGET,
            shared,
            waker,
            plain_http_status: 501,
            plain_http: None,
            shutdown_deadline: None,
        })
    }

    pub(crate) fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.as_ref().and_then(Listener::local_addr)
    }

    /// Shut down gracefully on SIGINT and SIGTERM.
    pub(crate) fn handle_signals(&mut self) -> Result<(), Error> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook_mio::v1_0::Signals::new([SIGINT, SIGTERM])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    pub(crate) fn run(mut self) -> Result<(), Error> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            let timeout = if self.ready.is_empty() {
                let accept_again = self.listener.as_ref().and_then(Listener::paused_until);
                let next = match (self.timers.next_deadline(), accept_again) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                next.map(|d| d.saturating_duration_since(now))
            } else {
                Some(Duration::ZERO)
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error!("poll failed: {e}");
                    return Err(e.into());
                }
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => self.run_commands(),
                    SIGNALS => {
                        if let Some(signals) = self.signals.as_mut() {
                            for signal in signals.pending() {
                                log::info!("signal {signal}: shutting down");
                            }
                        }
                        self.begin_shutdown();
                    }
                    Token(t) => {
                        let Some(id) = self.conns.id_at(t - FIRST_CONN) else {
                            continue;
                        };
                        if event.is_writable() {
                            self.touched.push(id);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read_some(id);
                        }
                        self.service_touched();
                    }
                }
            }
            self.run_ready();
            self.fire_timers(Instant::now());
            if self
                .listener
                .as_ref()
                .and_then(Listener::paused_until)
                .is_some_and(|until| Instant::now() >= until)
            {
                self.accept();
            }
            if let Some(deadline) = self.shutdown_deadline {
                if self.conns.len() == 0 {
                    log::info!("shut down cleanly");
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    for id in self.conns.ids() {
                        self.remove(id, abnormal("server shut down"));
                    }
                    log::info!("shut down after the close timeout");
                    return Ok(());
                }
            }
        }
    }

    // ===== accepting and adopting =====

    fn accept(&mut self) {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                return;
            };
            let mut errors = 0;
            let accepted = listener.accept(Instant::now(), &mut errors);
            let stats = &self.shared.stats;
            stats.accept_errors.fetch_add(errors, Relaxed);
            match accepted {
                Accepted::Conn(stream, peer) => self.add_conn(stream, Some(peer), Vec::new(), None),
                Accepted::Shed => {
                    stats.handshakes_rejected.fetch_add(1, Relaxed);
                }
                Accepted::Done => return,
            }
        }
    }

    /// Make room for a new connection: drop the oldest one still handshaking if the
    /// handshake budget is spent, or if every slot is taken. Whether there is room.
    fn make_room(&mut self) -> bool {
        let settings = &self.settings;
        let handshaking = self
            .handshaking
            .count(&self.conns, settings.max_handshaking);
        let full = self.conns.len() >= settings.max_connections;
        if handshaking < settings.max_handshaking && !full {
            return true;
        }
        let Some(oldest) = self.handshaking.pop_oldest(&self.conns) else {
            return !full;
        };
        let stats = &self.shared.stats;
        stats.handshakes_evicted.fetch_add(1, Relaxed);
        if let Some(conn) = self.conns.get_mut(oldest) {
            log::debug!(
                "{oldest} dropped: still handshaking with {:?} when a newer connection needed room",
                conn.peer
            );
            // Nothing may be written after a 101 head (ours, or the adopting server's).
            if conn.phase == Phase::Handshake && conn.answered.is_none() {
                let mut response = Vec::new();
                write_error_response(503, "too many connections handshaking", &[], &mut response);
                // Best effort, as for any refusal made before the request was read.
                let _ = io::Write::write(&mut conn.stream, &response);
            }
        }
        self.remove(
            oldest,
            abnormal("dropped to make room for a newer handshake"),
        );
        true
    }

    fn add_conn(
        &mut self,
        mut stream: TcpStream,
        peer: Option<std::net::SocketAddr>,
        read: Vec<u8>,
        answered: Option<Option<String>>,
    ) {
        if !self.make_room() {
            let mut response = Vec::new();
            write_error_response(503, "too many connections", &[], &mut response);
            // Best effort: the socket is fresh, its send buffer empty, so this fits.
            let _ = io::Write::write(&mut stream, &response);
            let _ = stream.shutdown(Shutdown::Write);
            self.shared.stats.handshakes_rejected.fetch_add(1, Relaxed);
            log::warn!(
                "refused {peer:?}: over max_connections ({})",
                self.settings.max_connections
            );
            return;
        }
        let id = match insert_conn(
            &mut self.conns,
            self.poll.registry(),
            &mut self.timers,
            &self.settings,
            &self.shared.stats,
            stream,
            peer,
        ) {
            Ok(id) => id,
            Err(e) => return log::warn!("register failed: {e}"),
        };
        self.handshaking.push(id);
        let conn = self.conns.get_mut(id).expect("just inserted");
        conn.input = read;
        conn.answered = answered;
        log::trace!("{id} accepted from {peer:?}");
        if !conn.input.is_empty() {
            self.process_handshake(id);
        }
        self.read_some(id);
        self.service_touched();
    }

    fn run_commands(&mut self) {
        let commands = std::mem::take(
            &mut *self
                .shared
                .commands
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for command in commands {
            match command {
                Command::Adopt {
                    stream,
                    read,
                    answered,
                } => {
                    let peer = stream.peer_addr().ok();
                    if let Err(e) = stream.set_nonblocking(true) {
                        log::warn!("adopted socket: {e}");
                        continue;
                    }
                    self.add_conn(TcpStream::from_std(stream), peer, read, answered);
                }
                Command::Shutdown => self.begin_shutdown(),
                Command::Wake(route) if route < self.mounts.len() => {
                    self.call(Some(route), |h, cx| h.on_wake(cx));
                    self.service_touched();
                }
                Command::Wake(_) => {}
            }
        }
    }

    fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        log::info!("shutting down: closing {} connection(s)", self.conns.len());
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(listener.socket_mut());
        }
        self.shutdown_deadline = Some(Instant::now() + self.settings.close_timeout);
        for id in self.conns.ids() {
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            match conn.phase {
                Phase::Open => {
                    let _ = conn.close(close::GOING_AWAY, "server shutting down");
                    self.touched.push(id);
                }
                Phase::Handshake | Phase::AwaitKey3 { .. } => {
                    self.remove(id, abnormal("server shutting down"))
                }
                Phase::Failing | Phase::Draining => {}
            }
        }
        self.service_touched();
    }

    // ===== reading =====

    fn run_ready(&mut self) {
        for _ in 0..self.ready.len() {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            if let Some(conn) = self.conns.get_mut(id) {
                conn.in_ready = false;
            }
            self.read_some(id);
            self.service_touched();
        }
    }

    /// Read from `id` until `WouldBlock`, a pause, or the read budget.
    fn read_some(&mut self, id: SocketId) {
        self.events_left = EVENT_BUDGET;
        for _ in 0..READ_BUDGET {
            let Some(conn) = self.conns.get_mut(id) else {
                return;
            };
            if !conn.wants_read() {
                conn.read_pending = true;
                return;
            }
            if !conn.unprocessed.is_empty() {
                // Bytes left when a handler paused this connection go first.
                let mut unprocessed = std::mem::take(&mut conn.unprocessed);
                let stats = &self.shared.stats;
                stats
                    .unprocessed_bytes
                    .fetch_sub(unprocessed.len(), Relaxed);
                self.process_frames(id, &mut unprocessed);
                self.service_touched();
                if self.events_left == 0 {
                    break;
                }
                continue;
            }
            // Keep the unconsumed tail of the last read in front of the new bytes.
            let keep = match conn.phase {
                Phase::Open => conn.input.len(),
                _ => 0,
            };
            let mut buf = std::mem::take(&mut self.scratch);
            let at = self.read_shift.next();
            buf[at..at + keep].copy_from_slice(&conn.input[..keep]);
            let room = match conn.phase {
                // A head can only grow to the limit (+ key3); read no further than one byte
                // past it, so the parser sees the overflow and answers 431.
                Phase::Handshake | Phase::AwaitKey3 { .. } => {
                    let limit = self.settings.limits.max_head_bytes + 9;
                    limit.saturating_sub(conn.input.len()).clamp(1, READ_CHUNK)
                }
                _ => READ_CHUNK,
            };
            let result = conn.stream.read(&mut buf[at + keep..at + keep + room]);
            let outcome = match result {
                Ok(0) => None,
                Ok(n) => {
                    conn.last_activity = Instant::now();
                    conn.awaiting_pong = false;
                    self.shared.stats.bytes_read.fetch_add(n as u64, Relaxed);
                    Some(n)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.read_pending = false;
                    self.scratch = buf;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => Some(0),
                Err(e) => {
                    self.scratch = buf;
                    log::debug!("{id} read error: {e}");
                    self.on_io_error(id, e);
                    return;
                }
            };
            match outcome {
                None => {
                    self.scratch = buf;
                    self.on_eof(id);
                    return;
                }
                Some(n) => {
                    self.on_bytes(id, &mut buf[at..at + keep + n], keep);
                    self.scratch = buf;
                }
            }
            self.service_touched();
            if self.events_left == 0 {
                break;
            }
        }
        if let Some(conn) = self.conns.get_mut(id) {
            conn.read_pending = true;
            if !conn.in_ready {
                conn.in_ready = true;
                self.ready.push_back(id);
            }
        }
    }

    fn on_bytes(&mut self, id: SocketId, data: &mut [u8], kept: usize) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        match conn.phase {
            Phase::Handshake | Phase::AwaitKey3 { .. } => {
                conn.input.extend_from_slice(&data[kept..]);
                self.process_handshake(id);
            }
            Phase::Open => {
                conn.input.clear();
                self.process_frames(id, data);
            }
            // Failing or draining: RFC 6455 §7.1.7, nothing more is processed.
            Phase::Failing | Phase::Draining => {}
        }
    }

    fn on_eof(&mut self, id: SocketId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let info = match conn.phase {
            Phase::Handshake | Phase::AwaitKey3 { .. } => {
                log::debug!("{id} closed during the handshake");
                abnormal("closed during the handshake")
            }
            Phase::Open
                if conn
                    .codec
                    .as_ref()
                    .is_some_and(|c| !c.dialect.caps().close_frame) =>
            {
                // hixie-75 has no closing handshake: a TCP close is a clean close.
                CloseInfo {
                    code: close::NO_STATUS,
                    reason: String::new(),
                    clean: true,
                }
            }
            _ => abnormal("connection closed without a close frame"),
        };
        // Push out what is queued (the reply to a close, typically) before dropping.
        if let Some(conn) = self.conns.get_mut(id) {
            let _ = conn.out.write_to(&mut conn.stream);
        }
        self.remove(id, info);
    }

    fn on_io_error(&mut self, id: SocketId, error: io::Error) {
        if let Some(conn) = self.conns.get(id) {
            if conn.opened || conn.outgoing {
                let route = conn.route;
                let error = Error::Io(error);
                self.call(route, |h, cx| h.on_error(cx, id, &error));
            }
        }
        self.remove(id, abnormal("I/O error"));
    }

    // ===== the opening handshake =====

    fn process_handshake(&mut self, id: SocketId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if let Phase::AwaitKey3 { head_written } = conn.phase {
            return self.try_key3(id, head_written);
        }
        if let Some(handshake) = &conn.client_handshake {
            return match handshake.read_response(&conn.input) {
                Ok(Status::Partial) => {}
                Ok(Status::Complete(response)) => {
                    conn.subprotocol = response.subprotocol;
                    self.open(id, response.consumed);
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
            Err(HandshakeError::NotWebSocket) => self.plain_request(id),
            Err(e) => {
                let mut response = Vec::new();
                e.write_response(&mut response);
                self.refuse_with(id, response, e.status(), e.reason());
            }
        }
    }

    fn route_request(&mut self, id: SocketId, request: Request) {
        let answered = self.conns.get_mut(id).and_then(|c| c.answered.take());
        if let Some(subprotocol) = answered {
            return self.open_answered(id, request, subprotocol);
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
        let mut response = Vec::new();
        let accept = Accept {
            subprotocol: subprotocol.as_deref(),
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
        conn.request = Some(request);
        if !key3 {
            conn.out.extend(&response);
            let consumed = conn.request.as_ref().map_or(0, Request::head_len);
            return self.open(id, consumed);
        }
        // hixie-76: headers now and the MD5 answer when key3 is in (HAProxy holds key3 back
        // until it sees a 101), unless configured to answer all at once.
        let head_written = self.settings.hixie76_headers_first;
        if head_written {
            conn.out.extend(&response);
        } else {
            conn.pending_response = response;
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
        conn.request = Some(request);
        if key3 {
            conn.phase = Phase::AwaitKey3 { head_written: true };
            self.try_key3(id, true);
        } else {
            self.open(id, head);
        }
    }

    fn try_key3(&mut self, id: SocketId, head_written: bool) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let Some(request) = conn.request.as_ref() else {
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
            let response = std::mem::take(&mut conn.pending_response);
            conn.out.extend(&response);
        }
        conn.out.extend(&answer);
        self.open(id, head + 8);
    }

    fn open(&mut self, id: SocketId, consumed: usize) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let route = conn.route.expect("routed before opening");
        let mount = &mut self.mounts[route];
        let whole = mount.delivery.unwrap_or(self.settings.delivery) == Delivery::Whole;
        let limits = mount.limits(&self.settings.limits);
        if let Some(handshake) = conn.client_handshake.take() {
            let mut seed = [0u8; 16];
            if let Err(e) = getrandom::fill(&mut seed) {
                log::error!("{id}: no mask seed from the OS: {e}");
                return self.remove(id, abnormal("no randomness for masking"));
            }
            conn.codec = Some(client_codec(handshake.dialect(), &limits, whole, seed));
        } else {
            let Some(request) = conn.request.as_ref() else {
                return;
            };
            conn.codec = Some(server_codec(request.dialect(), &limits, whole));
        }
        let dialect = conn.codec.as_ref().expect("just set").dialect;
        conn.phase = Phase::Open;
        conn.opened = true;
        conn.deadlines[TimerKind::Handshake as usize] = None;
        let now = Instant::now();
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
            conn.request.as_ref().map_or("(outgoing)", Request::target),
            if conn.outgoing { "to" } else { "from" },
            conn.peer
        );
        let mut rest = conn.input.split_off(consumed.min(conn.input.len()));
        conn.input.clear();
        self.touched.push(id);
        self.call(Some(route), |h, cx| h.on_open(cx, id));
        if !rest.is_empty() {
            self.process_frames(id, &mut rest);
        }
    }

    /// A request that is not an upgrade: the `plain_http` handler answers it once it is
    /// whole, or `501`.
    fn plain_request(&mut self, id: SocketId) {
        let Some(handler) = self.plain_http.as_mut() else {
            let status = self.plain_http_status;
            return self.refuse(id, status, "this endpoint speaks only WebSocket");
        };
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
                let response = handler.handle(&request);
                log::info!(
                    "{id}: {} {} -> {}",
                    request.method,
                    request.path,
                    response.status
                );
                let Some(conn) = self.conns.get_mut(id) else {
                    return;
                };
                conn.out.extend(&response.to_bytes());
                conn.phase = Phase::Failing;
                conn.shutdown_after_flush = true;
                self.touched.push(id);
            }
        }
    }

    fn refuse(&mut self, id: SocketId, status: u16, reason: &str) {
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
        conn.out.extend(&response);
        conn.phase = Phase::Failing;
        conn.shutdown_after_flush = true;
        self.touched.push(id);
    }

    // ===== frames =====

    fn process_frames(&mut self, id: SocketId, data: &mut [u8]) {
        let mut pos = 0;
        while let Some(conn) = self.conns.get_mut(id) {
            if conn.phase != Phase::Open || conn.close_received {
                return;
            }
            let Some(codec) = conn.codec.as_mut() else {
                return;
            };
            match codec.decoder.decode(&mut data[pos..]) {
                Err(e) => return self.protocol_error(id, Error::Protocol(e), e.close_code()),
                Ok((n, None)) => {
                    pos += n;
                    break;
                }
                Ok((n, Some(event))) => {
                    pos += n;
                    let between_messages =
                        !matches!(event, Event::MessageStart { .. } | Event::Data(_));
                    self.dispatch(id, event);
                    self.events_left = self.events_left.saturating_sub(1);
                    let left = data.len() - pos;
                    let turn_over = self.events_left == 0 && left > 0;
                    if between_messages && (turn_over || self.paused_with_more(id, left)) {
                        // Keep the rest for later: for when the handler resumes a paused
                        // sender (whose messages must stop here, not after the whole read:
                        // a flood of tiny messages would otherwise all be taken in), or for
                        // this connection's next turn once it has had its share of events
                        // (a read of tiny messages holds tens of thousands). The message
                        // being read, if any, goes on to the end of the read, as the
                        // payload of a long message did before.
                        if let Some(conn) = self.conns.get_mut(id) {
                            conn.unprocessed = data[pos..].to_vec();
                            let stats = &self.shared.stats;
                            stats.unprocessed_bytes.fetch_add(data.len() - pos, Relaxed);
                        }
                        return;
                    }
                }
            }
        }
        if let Some(conn) = self.conns.get_mut(id) {
            if conn.phase == Phase::Open {
                // At most one incomplete frame header or control frame.
                conn.input.extend_from_slice(&data[pos..]);
            }
        }
    }

    /// Whether a handler paused `id` while `left` bytes of its read are still to process.
    fn paused_with_more(&self, id: SocketId, left: usize) -> bool {
        left > 0
            && self
                .conns
                .get(id)
                .is_some_and(|c| c.paused_by_app && c.phase == Phase::Open && !c.close_received)
    }

    fn dispatch(&mut self, id: SocketId, event: Event<'_>) {
        self.touched.push(id);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let route = conn.route;
        match event {
            Event::MessageStart { .. } | Event::Data(_) | Event::MessageEnd => {
                let Some(codec) = conn.codec.as_mut() else {
                    return;
                };
                match direct_message(codec, &event) {
                    Direct::Deliver(message) => {
                        return self.call(route, |h, cx| h.on_message(cx, id, message))
                    }
                    Direct::Swallow => return,
                    Direct::Assemble => {}
                }
                let Some(mut assembler) = codec.assembler.take() else {
                    return match event {
                        Event::MessageStart { kind, len } => {
                            self.call(route, |h, cx| h.on_message_start(cx, id, kind, len))
                        }
                        Event::Data(data) => {
                            self.call(route, |h, cx| h.on_message_data(cx, id, data))
                        }
                        _ => self.call(route, |h, cx| h.on_message_end(cx, id)),
                    };
                };
                if let Event::Data(bytes) = event {
                    if let Err(e) = self.budget_allows(&assembler, bytes.len()) {
                        assembler.release();
                        self.account_message(id, &assembler);
                        if let Some(codec) = self.conns.get_mut(id).and_then(|c| c.codec.as_mut()) {
                            codec.assembler = Some(assembler);
                        }
                        self.shared.stats.refused_over_budget.fetch_add(1, Relaxed);
                        log::warn!("{id}: {e}");
                        return self.protocol_error(id, e, close::TRY_AGAIN_LATER);
                    }
                }
                match assembler.push(&event) {
                    Ok(Some(message)) => self.call(route, |h, cx| h.on_message(cx, id, message)),
                    Ok(None) => {}
                    Err(e) => self.protocol_error(id, Error::Protocol(e), e.close_code()),
                }
                if matches!(event, Event::MessageEnd) {
                    // Delivered: a buffer grown large by it is given back now, not kept.
                    assembler.release();
                }
                self.account_message(id, &assembler);
                if let Some(codec) = self.conns.get_mut(id).and_then(|c| c.codec.as_mut()) {
                    codec.assembler = Some(assembler);
                }
            }
            Event::Ping(payload) => {
                if !conn.close_sent {
                    // Unsupported only on hixie, which has no pings to answer.
                    let _ = conn.send_control(Control::Pong, payload);
                }
                self.call(route, |h, cx| h.on_ping(cx, id, payload));
            }
            Event::Pong(payload) => self.call(route, |h, cx| h.on_pong(cx, id, payload)),
            Event::Close(frame) => {
                conn.close_received = true;
                // RFC 6455 §7.1.5: the connection's close code is the first one received.
                conn.close_info = Some(CloseInfo {
                    code: frame.code_or_no_status(),
                    reason: frame.reason.to_owned(),
                    clean: true,
                });
                log::debug!(
                    "{id} peer closed: {} {:?}",
                    frame.code_or_no_status(),
                    frame.reason
                );
                conn.answer_close(frame.code, frame.body);
            }
        }
    }

    /// Whether an unfinished message may grow by `more` bytes: always up to
    /// [`BUDGET_FREE_MESSAGE`], beyond it only while the server is within its memory budget.
    fn budget_allows(&self, assembler: &MessageAssembler, more: usize) -> Result<(), Error> {
        let stats = &self.shared.stats;
        let needed = assembler.message_len() + more;
        // What the buffer will grow by: it at least doubles when it must grow.
        let growth = match assembler.held() {
            held if needed <= held => 0,
            held => needed.max(held * 2) - held,
        };
        if needed <= BUDGET_FREE_MESSAGE || !stats.over_budget(growth) {
            return Ok(());
        }
        Err(Error::MemoryBudget {
            held: stats.held_bytes(),
            budget: self.settings.memory_budget,
        })
    }

    /// Tell the memory budget what `id`'s unfinished message holds now.
    fn account_message(&mut self, id: SocketId, assembler: &MessageAssembler) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let held = assembler.held();
        let stats = &self.shared.stats;
        crate::stats::adjust(&stats.message_bytes, conn.reported_message, held);
        stats.message_peak.fetch_max(held, Relaxed);
        conn.reported_message = held;
    }

    fn protocol_error(&mut self, id: SocketId, error: Error, code: u16) {
        let Some(conn) = self.conns.get(id) else {
            return;
        };
        log::debug!("{id} failed: {error}");
        let route = conn.route;
        self.call(route, |h, cx| h.on_error(cx, id, &error));
        if let Some(conn) = self.conns.get_mut(id) {
            conn.fail(code, &error.to_string());
        }
        self.touched.push(id);
    }

    // ===== writing, backpressure, lifecycle =====

    fn service_touched(&mut self) {
        while let Some(id) = self.touched.pop() {
            self.service(id);
        }
    }

    /// After anything happened to `id`: flush, account, apply backpressure, honour close
    /// and destroy requests, and register the interest it now needs.
    fn service(&mut self, id: SocketId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.requests.destroy {
            return self.remove(id, abnormal("destroyed by the application"));
        }
        if !conn.out.is_empty() {
            match conn.out.write_to(&mut conn.stream) {
                Ok(n) => conn.bytes_out += n as u64,
                Err(e) => {
                    log::debug!("{id} write error: {e}");
                    return self.on_io_error(id, e);
                }
            }
        }
        let stats = &self.shared.stats;
        conn.report_written(stats);
        let queued = conn.queued();
        if queued != conn.reported_queue {
            if queued > conn.reported_queue {
                stats
                    .queued_bytes
                    .fetch_add(queued - conn.reported_queue, Relaxed);
            } else {
                stats
                    .queued_bytes
                    .fetch_sub(conn.reported_queue - queued, Relaxed);
            }
            conn.reported_queue = queued;
            stats.queued_peak.fetch_max(queued, Relaxed);
        }
        let mut drained = false;
        if !conn.over_high_water && queued > self.settings.write_high_water {
            log::trace!("{id} queue {queued} over the high-water mark: reading paused");
            conn.over_high_water = true;
            stats.reads_paused.fetch_add(1, Relaxed);
        } else if conn.over_high_water && queued <= self.settings.write_low_water {
            log::trace!("{id} queue {queued} under the low-water mark: reading resumes");
            conn.over_high_water = false;
            drained = true;
        }
        if conn.drain_watch.is_some_and(|level| queued <= level) {
            conn.drain_watch = None;
            drained = true;
        }
        let now = Instant::now();
        if std::mem::take(&mut conn.requests.close_timer) {
            let at = now + self.settings.close_timeout;
            self.timers
                .arm(&mut conn.deadlines, id, TimerKind::Close, at);
        }
        if conn.shutdown_after_flush && conn.out.is_empty() && conn.phase != Phase::Draining {
            // Server closes TCP first (RFC 6455 §7.1.1), then lingers reading to EOF so the
            // peer gets our last bytes instead of a reset.
            let _ = conn.stream.shutdown(Shutdown::Write);
            conn.phase = Phase::Draining;
            let at = now + self.settings.close_timeout;
            self.timers
                .arm(&mut conn.deadlines, id, TimerKind::Close, at);
        }
        if conn.read_pending && conn.wants_read() && !conn.in_ready {
            conn.in_ready = true;
            self.ready.push_back(id);
        }
        if drained {
            let route = conn.route;
            self.call(route, |h, cx| h.on_drain(cx, id));
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some((at, id, kind)) = self.timers.pop_due(now) {
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            if conn.deadlines[kind as usize] != Some(at) {
                continue; // re-armed or cancelled since
            }
            conn.deadlines[kind as usize] = None;
            match kind {
                TimerKind::Handshake => {
                    log::debug!("{id} handshake timeout ({:?})", conn.peer);
                    self.remove(id, abnormal("handshake timeout"));
                }
                TimerKind::Close => self.remove(id, abnormal("close timeout")),
                TimerKind::App => {
                    let route = conn.route;
                    self.touched.push(id);
                    self.call(route, |h, cx| h.on_timer(cx, id));
                }
                TimerKind::Ping => {
                    conn.out.trim();
                    if conn.phase != Phase::Open || conn.close_sent {
                        continue;
                    }
                    if conn.awaiting_pong {
                        if conn.ping_on_wire_at.is_none() && !conn.controls_held() {
                            // The held ping has joined the queue: it is on the wire once
                            // all that is queued now has been written.
                            conn.ping_on_wire_at = Some(conn.bytes_out + conn.out.len() as u64);
                        }
                        let ping_out = conn.ping_on_wire_at.is_some_and(|at| conn.bytes_out >= at);
                        let acknowledged = conn.acknowledged_by_peer();
                        // Even with our ping in the kernel, a peer whose TCP took more of our
                        // bytes this interval is reading its way towards the ping.
                        let peer_reading = matches!(
                            (conn.ping_acknowledged, acknowledged),
                            (Some(before), Some(now)) if now > before
                        );
                        if (ping_out || conn.bytes_out == conn.ping_progress) && !peer_reading {
                            log::debug!("{id} no answer to ping: dropping");
                            self.remove(id, abnormal("no answer to keepalive ping"));
                            continue;
                        }
                        // Our ping still waits behind data the peer is reading, slowly:
                        // alive. Wait another interval.
                        conn.ping_progress = conn.bytes_out;
                        conn.ping_acknowledged = acknowledged;
                        if let Some(interval) = self.settings.keepalive {
                            self.timers.arm(
                                &mut conn.deadlines,
                                id,
                                TimerKind::Ping,
                                now + interval,
                            );
                        }
                        continue;
                    }
                    let _ = conn.send_control(Control::Ping, b"");
                    conn.awaiting_pong = true;
                    conn.ping_progress = conn.bytes_out;
                    conn.ping_acknowledged = conn.acknowledged_by_peer();
                    conn.ping_on_wire_at =
                        (!conn.controls_held()).then(|| conn.bytes_out + conn.out.len() as u64);
                    if let Some(interval) = self.settings.keepalive {
                        self.timers
                            .arm(&mut conn.deadlines, id, TimerKind::Ping, now + interval);
                    }
                    self.touched.push(id);
                }
                TimerKind::Idle => {
                    conn.out.trim();
                    let Some(idle) = self.settings.idle_timeout else {
                        continue;
                    };
                    let due = conn.last_activity + idle;
                    if due > now {
                        self.timers
                            .arm(&mut conn.deadlines, id, TimerKind::Idle, due);
                    } else {
                        log::debug!("{id} idle for {idle:?}: closing");
                        let _ = conn.close(close::GOING_AWAY, "idle timeout");
                        conn.shutdown_after_flush |= !conn.close_sent;
                        self.touched.push(id);
                    }
                }
            }
        }
        self.service_touched();
    }

    fn remove(&mut self, id: SocketId, fallback: CloseInfo) {
        let Some(mut conn) = self.conns.remove(id) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if let Some(listener) = self.listener.as_mut() {
            // A descriptor is free again: if accepting was paused for want of one, resume.
            listener.unpause();
        }
        let stats = &self.shared.stats;
        stats.connections_open.fetch_sub(1, Relaxed);
        stats.queued_bytes.fetch_sub(conn.reported_queue, Relaxed);
        stats
            .message_bytes
            .fetch_sub(conn.reported_message, Relaxed);
        stats
            .unprocessed_bytes
            .fetch_sub(conn.unprocessed.len(), Relaxed);
        conn.report_written(stats);
        if let Some(route) = conn.route {
            self.mounts[route].clients.remove(&id);
        }
        if conn.opened || conn.outgoing {
            let info = conn.close_info.take().unwrap_or(fallback);
            log::debug!(
                "{id} closed: {} {:?} clean={}",
                info.code,
                info.reason,
                info.clean
            );
            self.call(conn.route, |h, cx| h.on_close(cx, id, &info));
        }
    }

    /// Run a handler callback of `route` with access to the connections.
    fn call(&mut self, route: Option<usize>, f: impl FnOnce(&mut dyn Handler, &mut Cx<'_>)) {
        let Some(route) = route else { return };
        let Mount {
            handler, clients, ..
        } = &mut self.mounts[route];
        let mut cx = Cx {
            conns: &mut self.conns,
            touched: &mut self.touched,
            clients: self.settings.client_tracking.then_some(&*clients),
            timers: &mut self.timers,
            route,
            shared: &self.shared,
            waker: &self.waker,
            registry: self.poll.registry(),
            settings: &self.settings,
        };
        f(handler.as_mut(), &mut cx);
    }
}

/// What [`direct_message`] decided for one event.
enum Direct<'a> {
    /// Hand this message to the handler; the assembler is not involved.
    Deliver(Message<'a>),
    /// The end of a message already delivered: nothing to do.
    Swallow,
    /// The assembler's way.
    Assemble,
}

/// Whole delivery without the assembler's copy: a single-frame message (length declared,
/// FIN set) whose payload comes in one `Data` event is passed on borrowed from the read
/// buffer. The assembler still sees every message start (checking the size limit), so it
/// takes over whenever the payload comes in pieces.
fn direct_message<'a>(codec: &mut crate::conn::Codec, event: &Event<'a>) -> Direct<'a> {
    let Some(assembler) = codec.assembler.as_mut() else {
        return Direct::Assemble;
    };
    match *event {
        Event::MessageStart { kind, len } => {
            codec.direct = len.map(|n| (kind, n));
            codec.skip_end = false;
            Direct::Assemble
        }
        Event::Data(bytes) => {
            let whole = match codec.direct.take() {
                Some((kind, n)) if bytes.len() as u64 == n => match kind {
                    MessageKind::Binary => Some(Message::Binary(bytes)),
                    // The decoder validated it; a complete single frame is valid UTF-8.
                    MessageKind::Text => std::str::from_utf8(bytes).ok().map(Message::Text),
                },
                _ => None,
            };
            match whole {
                Some(message) => {
                    codec.skip_end = true;
                    Direct::Deliver(message)
                }
                None => Direct::Assemble,
            }
        }
        Event::MessageEnd if codec.skip_end => {
            codec.skip_end = false;
            // Close the assembler's (empty) message so the next start finds it idle.
            let _ = assembler.push(&Event::MessageEnd);
            Direct::Swallow
        }
        _ => Direct::Assemble,
    }
}

fn abnormal(reason: &str) -> CloseInfo {
    CloseInfo {
        code: close::ABNORMAL,
        reason: reason.to_owned(),
        clean: false,
    }
}
