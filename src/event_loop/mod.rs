//! The single-threaded mio loop: accepts, reads, flushes, fires timers and calls handlers.
//! Protocol decisions live in `ws_protocols`. The opening handshake and routing are in
//! `upgrade.rs`, frames in and their delivery to handlers in `frames.rs`, timers as they come
//! due in `deadlines.rs`, the TLS-or-plain test of a new connection in `sniff.rs`; this file is
//! the loop's steps: poll, accept, read, service (flush, backpressure, close requests).
//!
//! mio readiness is edge-triggered: after an event we must read until `WouldBlock` or we may
//! never be woken again for that socket. When we stop early (a paused connection, or the
//! per-event read budget that keeps one busy peer from starving the rest) we remember it in
//! `read_pending` and come back through the `ready` queue.

mod deadlines;
mod frames;
mod hand_over;
mod plain_later;
mod sniff;
mod status;
mod upgrade;

use crate::conn::{insert_conn, AlreadyAnswered, Conn, Phase, FIRST_CONN};
use crate::cx::Cx;
use crate::handle::{Command, Shared};
use crate::handler::Handler;
use crate::handshaking::Handshaking;
use crate::listener::{Accepted, Listener};
use crate::loops::Link;
use crate::read_shift::{ReadShift, MAX_READ_SHIFT};
use crate::router::Mount;
use crate::settings::Settings;
use crate::socket::{CloseInfo, Socket, SocketId};
use crate::timers::{TimerKind, Timers};
use crate::tls_layer::TlsLayer;
use crate::Error;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use sniff::{sniff_tls, Sniffed};
use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ws_protocols::close;

use ws_protocols::handshake::write_error_response;

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
    /// Where compressed payload is inflated, a piece at a time, for the handler.
    inflated: Vec<u8>,
    read_shift: ReadShift,
    touched: Vec<SocketId>,
    ready: VecDeque<SocketId>,
    /// Events the connection being read may still deliver this turn ([`EVENT_BUDGET`]).
    events_left: usize,
    /// When the last poll returned: the time of every read in this turn (a clock read per
    /// read or per flush was an eighth of the server's CPU on small echoes).
    turn_started: Instant,
    /// Where the TLS certificate comes from, for reloads (`Builder::tls`).
    pub(crate) tls_source: Option<crate::tls::TlsConfig>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) waker: Arc<Waker>,
    /// Status for requests that are not upgrades when no `plain_http` handler answers them.
    plain_http_status: u16,
    /// Answers requests that are not upgrades ([`crate::Builder::plain_http`]).
    pub(crate) plain_http: Option<Box<dyn crate::plain_http::HttpHandler>>,
    shutdown_deadline: Option<Instant>,
    /// Counters for the status page and metrics that outlive connections.
    census: crate::status::Census,
    /// This loop's place among the server's loops, and how to reach each of them.
    pub(crate) index: usize,
    pub(crate) links: Arc<[Link]>,
    /// Status pages waiting for the other loops' parts.
    pending_pages: Vec<status::PendingPage>,
    /// Plain HTTP requests whose handler answers later.
    pending_plain: Vec<plain_later::PendingPlain>,
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        // Stopped or panicked: no more connections are handed here.
        self.shared.running.store(false, Relaxed);
    }
}

impl EventLoop {
    pub(crate) fn new(
        settings: Settings,
        mounts: Vec<Mount>,
        listener: Option<std::net::TcpListener>,
        stats: Arc<crate::stats::Stats>,
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
        let shared = Arc::new(Shared::new(stats));
        let census = crate::status::Census::new(mounts.len());
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
            inflated: Vec::new(),
            read_shift: ReadShift::default(),
            touched: Vec::new(),
            ready: VecDeque::new(),
            events_left: EVENT_BUDGET,
            turn_started: Instant::now(),
            tls_source: None,
            plain_http_status: 501,
            plain_http: None,
            shutdown_deadline: None,
            census,
            index: 0,
            pending_pages: Vec::new(),
            pending_plain: Vec::new(),
            links: Arc::new([Link {
                shared: Arc::clone(&shared),
                waker: Arc::clone(&waker),
            }]),
            shared,
            waker,
        })
    }

    /// This loop's routes as mounted on a further loop of the same server.
    pub(crate) fn replicate_mounts(&self) -> Vec<Mount> {
        self.mounts.iter().map(Mount::replica).collect()
    }

    pub(crate) fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.as_ref().and_then(Listener::local_addr)
    }

    /// Shut down gracefully on SIGINT and SIGTERM; reload the TLS certificate on SIGHUP.
    pub(crate) fn handle_signals(&mut self) -> Result<(), Error> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut signals = signal_hook_mio::v1_0::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
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
            self.turn_started = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => self.run_commands(),
                    SIGNALS => {
                        let pending: Vec<i32> = match self.signals.as_mut() {
                            Some(signals) => signals.pending().collect(),
                            None => Vec::new(),
                        };
                        for signal in pending {
                            // The loop that hears signals speaks for the server's other loops.
                            let links = Arc::clone(&self.links);
                            let here = self.index;
                            let others = links.iter().enumerate().filter(|(i, _)| *i != here);
                            if signal == signal_hook::consts::SIGHUP {
                                log::info!("signal {signal}: reloading the TLS certificate");
                                self.reload_tls();
                            } else {
                                log::info!("signal {signal}: shutting down");
                                self.begin_shutdown();
                                for (_, link) in others {
                                    let _ = link.send(Command::Shutdown);
                                }
                            }
                        }
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
                Accepted::Conn(stream, peer) => {
                    let target = crate::loops::least_loaded(&self.links, self.index);
                    if target == self.index {
                        self.add_conn(stream, Some(peer), Vec::new(), None, None);
                    } else {
                        self.send_to_loop(target, stream, Some(peer), Vec::new(), None, None);
                    }
                }
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
        // Counted over every loop of the server: the limit is the server's.
        let open = self.shared.stats.connections_open.load(Relaxed);
        let full = open >= settings.max_connections;
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
            let answered = conn.opening.as_ref().is_some_and(|o| o.answered.is_some());
            // (Not inside TLS: plaintext would only be a broken record to its peer.)
            if conn.phase == Phase::Handshake && !answered && conn.tls.is_none() {
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
        tls: Option<Box<TlsLayer>>,
    ) {
        if !self.make_room() {
            let mut response = Vec::new();
            write_error_response(503, "too many connections", &[], &mut response);
            // Best effort: the socket is fresh, its send buffer empty, so this fits. (Not
            // inside TLS another server began: plaintext would only break its records.)
            if tls.is_none() {
                let _ = io::Write::write(&mut stream, &response);
            }
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
        self.publish_load();
        self.handshaking.push(id);
        let conn = self.conns.get_mut(id).expect("just inserted");
        conn.input = read;
        conn.tls = tls;
        conn.opening().answered = answered.map(|subprotocol| AlreadyAnswered { subprotocol });
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
                    tls,
                } => {
                    let peer = stream.peer_addr().ok();
                    if let Err(e) = stream.set_nonblocking(true) {
                        log::warn!("adopted socket: {e}");
                        continue;
                    }
                    let tls = tls.map(|session| Box::new(TlsLayer::adopt(*session)));
                    self.add_conn(TcpStream::from_std(stream), peer, read, answered, tls);
                }
                Command::HandOver {
                    stream,
                    peer,
                    read,
                    answered,
                    tls,
                } => {
                    // Counted by the loop that sent it while it was on its way.
                    self.shared.incoming.fetch_sub(1, Relaxed);
                    self.add_conn(stream, peer, read, answered, tls);
                }
                Command::Shutdown => self.begin_shutdown(),
                Command::ReloadTls => self.reload_tls(),
                Command::UseTls(config) => self.settings.tls = Some(config),
                Command::Status {
                    disclosure,
                    reply,
                    wake,
                } => {
                    // The caller may have given up waiting: nothing to do then.
                    let _ = reply.send(self.status(disclosure));
                    if let Some(waker) = wake {
                        let _ = waker.wake();
                    }
                }
                Command::Wake(route) if route < self.mounts.len() => {
                    self.call(Some(route), |h, cx| h.on_wake(cx));
                    self.service_touched();
                }
                Command::Wake(_) => {}
            }
        }
        if !self.pending_pages.is_empty() {
            self.finish_pages();
        }
        if !self.pending_plain.is_empty() {
            self.finish_plain();
        }
    }

    /// Reread the TLS files; new connections get the new certificate, open ones keep
    /// theirs, and a failed reload keeps the one before.
    fn reload_tls(&mut self) {
        let Some(source) = self.tls_source.as_mut() else {
            log::warn!("TLS reload asked for, but the server was built without Builder::tls");
            return;
        };
        let stats = &self.shared.stats;
        match source.reload() {
            Ok(()) => {
                let config = source.current();
                self.settings.tls = Some(Arc::clone(&config));
                stats.tls_reloads.fetch_add(1, Relaxed);
                // Read once, here: the other loops take the same certificate.
                for (i, link) in self.links.iter().enumerate() {
                    if i != self.index {
                        let _ = link.send(Command::UseTls(Arc::clone(&config)));
                    }
                }
            }
            // Logged by `reload`.
            Err(_) => {
                stats.tls_reload_failures.fetch_add(1, Relaxed);
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
            if conn.inflate_pending() {
                // Compressed payload kept when the handler paused or the turn ended goes
                // first: it comes before anything not yet decoded.
                self.resume_inflating(id);
                self.service_touched();
                if self.events_left == 0 {
                    break;
                }
                continue;
            }
            if !conn.unprocessed.is_empty() {
                // Bytes kept from an earlier read (the connection was paused, or had used
                // its turn's events) go first.
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
            if conn.phase == Phase::Handshake && conn.input.is_empty() && conn.tls.is_none() {
                if let Some(config) = self.settings.tls.as_ref() {
                    match sniff_tls(&conn.stream, config) {
                        Sniffed::Tls(layer) => conn.tls = Some(layer),
                        Sniffed::Plain if self.settings.tls_only => {
                            self.scratch = buf;
                            return self.refuse(id, 400, "this port speaks only TLS: use wss://");
                        }
                        Sniffed::Plain | Sniffed::Unreadable => {}
                        // Reading now could take a ClientHello that arrived since the peek
                        // as plain HTTP; wait for the next readiness event instead.
                        Sniffed::NotYet => {
                            conn.read_pending = false;
                            self.scratch = buf;
                            return;
                        }
                    }
                }
            }
            let result = conn.read_plain(&mut buf[at + keep..at + keep + room]);
            let outcome = match result {
                Ok(0) => None,
                Ok(n) => {
                    conn.last_activity = self.turn_started;
                    if let Some(codec) = conn.codec.as_mut() {
                        codec.connection.keepalive.heard_from_peer();
                    }
                    self.shared.stats.bytes_read.fetch_add(n as u64, Relaxed);
                    conn.bytes_in += n as u64;
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
            Phase::Open => match &conn.codec {
                Some(codec) => CloseInfo::end_of_stream(codec.dialect().caps()),
                None => abnormal("connection closed without a close frame"),
            },
            _ => abnormal("connection closed without a close frame"),
        };
        // Push out what is queued (the reply to a close, typically) before dropping.
        if let Some(conn) = self.conns.get_mut(id) {
            let _ = conn.flush_out();
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

    // ===== writing, backpressure, lifecycle =====

    pub(super) fn service_touched(&mut self) {
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
        if conn.has_output() {
            match conn.flush_out() {
                Ok(_) => {}
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
        if std::mem::take(&mut conn.requests.close_timer) {
            let at = Instant::now() + self.settings.close_timeout;
            self.timers
                .arm(&mut conn.deadlines, id, TimerKind::Close, at);
        }
        if conn.shutdown_after_flush && conn.out.is_empty() && conn.phase != Phase::Draining {
            if let Some(tls) = conn.tls.as_mut() {
                // TLS ends with our close_notify, written before TCP's end.
                tls.close_notify();
                let _ = tls.flush(&mut conn.stream);
            }
        }
        if conn.shutdown_after_flush && !conn.has_output() && conn.phase != Phase::Draining {
            // Server closes TCP first (RFC 6455 §7.1.1), then lingers reading to EOF so the
            // peer gets our last bytes instead of a reset.
            let _ = conn.stream.shutdown(Shutdown::Write);
            conn.phase = Phase::Draining;
            let at = Instant::now() + self.settings.close_timeout;
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

    /// Take `id` off this loop: out of the table and the poll, its share of the server's
    /// gauges given back.
    pub(super) fn detach(&mut self, id: SocketId) -> Option<Conn> {
        let mut conn = self.conns.remove(id)?;
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if let Some(listener) = self.listener.as_mut() {
            // A descriptor is free again: if accepting was paused for want of one, resume.
            listener.unpause();
        }
        self.publish_load();
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
        Some(conn)
    }

    pub(super) fn remove(&mut self, id: SocketId, fallback: CloseInfo) {
        let Some(mut conn) = self.detach(id) else {
            return;
        };
        if let Some(route) = conn.route {
            self.mounts[route].clients.remove(&id);
            if let Some(codec) = &conn.codec {
                let dialect = codec.dialect();
                self.census
                    .closed(route, dialect, conn.bytes_in, conn.bytes_out);
            }
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
    pub(super) fn call(
        &mut self,
        route: Option<usize>,
        f: impl FnOnce(&mut dyn Handler, &mut Cx<'_>),
    ) {
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

pub(super) fn abnormal(reason: &str) -> CloseInfo {
    CloseInfo::abnormal(reason)
}
