//! One connection's I/O shell: its socket, its queues, where it is in its life, and the
//! application's [`Socket`] calls, which encode into the outgoing queue (a large payload
//! chunk may go straight to the socket instead: [`Conn::push_payload`]). The event loop does
//! the reading, the flushing and the timing.

use crate::buffer::WriteQueue;
use crate::settings::{HixieBinary, Settings};
use crate::socket::{CloseInfo, ReadyState, Socket, SocketId};
use crate::timers::{Deadlines, TIMER_KINDS};
use crate::tls_layer::TlsLayer;
use crate::SendError;
use mio::net::TcpStream;
use std::io::{self, Read};
use std::net::SocketAddr;
use ws_protocols::compression::{Compression, Inflater};
use ws_protocols::connection::{
    self as protocol, Assembly, CloseOutcome, Connection, Mask, OutboundOptions, Transmit,
};
use ws_protocols::frame::{ConnectionKey, Control};
use ws_protocols::handshake::{ClientHandshake, Request};
use ws_protocols::{Dialect, Limits, MessageKind, Role};

/// Where a connection is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Reading the request head.
    Handshake,
    /// hixie-76 family: head answered (or not, per `head_written`), waiting for key3.
    AwaitKey3 { head_written: bool },
    /// Frames flow.
    Open,
    /// The connection failed or was refused: incoming bytes are discarded while the last
    /// outgoing bytes drain (RFC 6455 §7.1.7: process nothing more after failing).
    Failing,
    /// Our side is shut down; reading to EOF (or the close timeout) before dropping, so the
    /// peer gets our last bytes rather than a reset.
    Draining,
}

/// An open connection's protocol life, and its whole-message delivery (present in
/// `Delivery::Whole` mode; taken out while a handler runs).
pub(crate) struct Codec {
    pub connection: Connection,
    pub assembly: Option<Assembly>,
    /// Present once compression was negotiated; taken out while its plaintext is handed to
    /// the handler.
    pub inflater: Option<Box<Inflater>>,
}

impl Codec {
    pub fn dialect(&self) -> Dialect {
        self.connection.dialect()
    }
}

/// The smallest payload chunk [`Conn::push_payload`] writes through instead of queueing.
const WRITE_THROUGH_MIN: usize = 16 << 10;
/// The most that may be queued before a chunk that is written through: room for the heads
/// of a few frames (the message's, a fragment's), not a backlog.
const WRITE_THROUGH_MAX_QUEUED: usize = 64;

/// What the loop must do with a connection once a handler is done with it.
#[derive(Default)]
pub(crate) struct Requests {
    /// Arm the close timer (our close frame went out).
    pub close_timer: bool,
    /// Drop at once (`destroy`).
    pub destroy: bool,
}

/// Adopted after another HTTP server wrote the 101 head (`Handle::adopt`), with the
/// subprotocol it chose: nothing may be answered but hixie-76's 16 bytes.
pub(crate) struct AlreadyAnswered {
    pub subprotocol: Option<String>,
}

/// A connection's opening handshake: what it needs until it is open, out of line so an open
/// connection does not carry it.
#[derive(Default)]
pub(crate) struct Opening {
    /// The request, kept for the handler until its `on_open` has returned.
    pub request: Option<Request>,
    /// The 101 head held back until key3 arrives (hixie-76 without headers-first).
    pub pending_response: Vec<u8>,
    pub answered: Option<AlreadyAnswered>,
    /// An outgoing connection ([`crate::Cx::connect`]): the request we sent, until the
    /// server's answer passes.
    pub client_handshake: Option<ClientHandshake>,
    /// The compression the handshake agreed (our side of it), for the codec at open.
    pub compression: Option<Compression>,
}

impl Conn {
    /// The opening handshake's state (present until `on_open` has returned).
    pub(crate) fn opening(&mut self) -> &mut Opening {
        self.opening.get_or_insert_with(Box::default)
    }

    /// The request, while it is kept.
    pub(crate) fn request_ref(&self) -> Option<&Request> {
        self.opening.as_ref()?.request.as_ref()
    }
}

pub(crate) struct Conn {
    pub id: SocketId,
    pub stream: TcpStream,
    pub peer: Option<SocketAddr>,
    pub phase: Phase,
    pub route: Option<usize>,
    /// Handshake bytes while handshaking; afterwards, the unconsumed tail of the last read
    /// (at most one incomplete frame header or control frame).
    pub input: Vec<u8>,
    pub out: WriteQueue,
    /// The TLS layer of a `wss://` connection.
    pub tls: Option<Box<TlsLayer>>,
    /// What only the opening handshake needs, dropped once `on_open` has returned.
    pub opening: Option<Box<Opening>>,
    pub subprotocol: Option<String>,
    pub codec: Option<Codec>,
    pub deadlines: Deadlines,
    /// Paused by a handler (`Cx::pause`).
    pub paused_by_app: bool,
    /// Paused because our own outgoing queue passed the high-water mark.
    pub over_high_water: bool,
    /// The socket may hold unread bytes (we stopped before `WouldBlock`).
    pub read_pending: bool,
    /// In the loop's `ready` queue.
    pub in_ready: bool,
    /// Call `on_drain` once the queue is at or below this (`Cx::notify_drain`).
    pub drain_watch: Option<usize>,
    /// How the connection ended, reported by `on_close`.
    pub close_info: Option<CloseInfo>,
    /// Shut our side down once the queue has drained.
    pub shutdown_after_flush: bool,
    /// Bytes written to the socket so far.
    pub bytes_out: u64,
    /// Bytes read from the socket so far.
    pub bytes_in: u64,
    /// Bytes of the message being received so far (for the message-size histogram).
    pub message_len: u64,
    /// `bytes_out` when last added to the server-wide total.
    reported_out: u64,
    /// When the last byte arrived (idle timeout).
    pub last_activity: std::time::Instant,
    /// `on_open` ran, so `on_close` must.
    pub opened: bool,
    /// An outgoing connection: its handler hears `on_close` even if it never opened.
    pub outgoing: bool,
    pub requests: Requests,
    /// Queue length last added to the server-wide total.
    pub reported_queue: usize,
    /// What the unfinished whole message holds, as last added to the server-wide total.
    pub reported_message: usize,
    /// Bytes read but not yet processed, kept at a message boundary because a handler
    /// paused the connection (`Cx::pause`) or its turn's event budget ran out: processed
    /// first on its next turn, before reading more.
    pub unprocessed: Vec<u8>,
    max_write_buffer: usize,
    /// Binary to hixie peers, until the codec exists and takes it over.
    pub hixie_binary: HixieBinary,
}

impl Conn {
    pub(crate) fn new(
        id: SocketId,
        stream: TcpStream,
        peer: Option<SocketAddr>,
        settings: &Settings,
    ) -> Self {
        Conn {
            id,
            stream,
            peer,
            phase: Phase::Handshake,
            route: None,
            input: Vec::new(),
            out: WriteQueue::default(),
            tls: None,
            opening: None,
            subprotocol: None,
            codec: None,
            deadlines: [None; TIMER_KINDS],
            paused_by_app: false,
            over_high_water: false,
            read_pending: false,
            in_ready: false,
            drain_watch: None,
            close_info: None,
            shutdown_after_flush: false,
            bytes_out: 0,
            bytes_in: 0,
            message_len: 0,
            reported_out: 0,
            last_activity: std::time::Instant::now(),
            opened: false,
            outgoing: false,
            requests: Requests::default(),
            reported_queue: 0,
            reported_message: 0,
            unprocessed: Vec::new(),
            max_write_buffer: settings.max_write_buffer,
            hixie_binary: settings.hixie_binary,
        }
    }

    /// Add the bytes written since the last call, by the loop's flush or written through by a
    /// `Socket` call ([`Conn::push_payload`]), to the server-wide `bytes_written`.
    pub(crate) fn report_written(&mut self, stats: &crate::stats::Stats) {
        let fresh = self.bytes_out - self.reported_out;
        if fresh > 0 {
            stats
                .bytes_written
                .fetch_add(fresh, std::sync::atomic::Ordering::Relaxed);
            self.reported_out = self.bytes_out;
        }
    }

    /// How many of the bytes we wrote the peer's TCP has acknowledged, where the system can
    /// tell (Linux): it grows while the peer reads, even once all we wrote is in the kernel.
    pub(crate) fn acknowledged_by_peer(&self) -> Option<u64> {
        crate::unacked::unacknowledged(&self.stream).map(|left| self.bytes_out.saturating_sub(left))
    }

    /// Read plaintext: from the socket, or through the TLS layer.
    pub(crate) fn read_plain(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.tls.as_mut() {
            None => self.stream.read(buf),
            Some(tls) => tls.read(&mut self.stream, buf),
        }
    }

    /// Write what is queued, through the TLS layer if there is one; returns the bytes
    /// written to the socket (and counts them in `bytes_out`).
    pub(crate) fn flush_out(&mut self) -> io::Result<usize> {
        let written = match self.tls.as_mut() {
            None => self.out.write_to(&mut self.stream)?,
            Some(tls) => tls.write_from(&mut self.stream, &mut self.out)?,
        };
        self.bytes_out += written as u64;
        Ok(written)
    }

    /// Whether anything waits to be written: queued bytes, or TLS records.
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty() || self.tls.as_ref().is_some_and(|t| t.has_pending_output())
    }

    /// Whether the loop should read from the socket now.
    pub(crate) fn wants_read(&self) -> bool {
        match self.phase {
            Phase::Open => !self.paused_by_app && !self.over_high_water,
            _ => true,
        }
    }

    /// Fail unless the connection is open (not handshaking, failing or draining).
    fn check_open(&self) -> Result<(), SendError> {
        match &self.codec {
            Some(_) if self.phase == Phase::Open => Ok(()),
            _ => Err(SendError::NotOpen),
        }
    }

    fn check_room(&self, bytes: usize) -> Result<(), SendError> {
        let buffered = self.queued();
        if buffered + bytes > self.max_write_buffer {
            return Err(SendError::BufferFull { buffered });
        }
        Ok(())
    }

    /// The protocol life and where its bytes go, borrowed together.
    fn parts(&mut self) -> Result<(&mut Connection, Outgoing<'_>), SendError> {
        // Written through to the socket only while open and without TLS, which must see
        // every byte.
        let write_through = self.phase == Phase::Open && self.tls.is_none();
        let codec = self.codec.as_mut().ok_or(SendError::NotOpen)?;
        let tx = Outgoing {
            queue: &mut self.out,
            stream: &mut self.stream,
            bytes_out: &mut self.bytes_out,
            write_through,
        };
        Ok((&mut codec.connection, tx))
    }

    /// Whether inflated output or compressed input waits for the handler (of an open
    /// connection: once it fails or closes, what was kept is never delivered).
    pub(crate) fn inflate_pending(&self) -> bool {
        self.phase == Phase::Open
            && !self.close_received()
            && self
                .codec
                .as_ref()
                .and_then(|c| c.inflater.as_ref())
                .is_some_and(|i| i.is_pending())
    }

    /// Whether control frames are being held for the end of a data frame.
    pub(crate) fn controls_held(&self) -> bool {
        self.codec
            .as_ref()
            .is_some_and(|c| c.connection.outbound.controls_held())
    }

    /// Bytes waiting to go out: the queue, the control frames held for the end of the
    /// frame being written, and the plaintext still inside the TLS layer.
    pub(crate) fn queued(&self) -> usize {
        let held = self
            .codec
            .as_ref()
            .map_or(0, |c| c.connection.outbound.held_len());
        let in_tls = self.tls.as_ref().map_or(0, |t| t.waiting());
        self.out.len() + held + in_tls
    }

    /// On a timer tick: give back memory a quiet connection need not keep, the outgoing
    /// queue's empty buffer and our kept compression context (the next message is
    /// compressed afresh, which the peer needs no word of).
    pub(crate) fn give_back_idle_memory(&mut self) {
        self.out.trim();
        if let Some(codec) = self.codec.as_mut() {
            codec.connection.outbound.forget_compression_context();
        }
    }

    /// Whether our close frame (or hixie-75's TCP close) is on its way.
    pub(crate) fn close_sent(&self) -> bool {
        self.codec
            .as_ref()
            .is_some_and(|c| c.connection.outbound.close_sent())
    }

    /// Whether the peer's close has arrived.
    pub(crate) fn close_received(&self) -> bool {
        self.codec
            .as_ref()
            .is_some_and(|c| c.connection.inbound.peer_closed())
    }

    /// Where the outgoing bytes stand, for the keepalive decision.
    pub(crate) fn progress(&self) -> protocol::Progress {
        // With TLS, `written` counts records and the queue plaintext: records add about 22
        // bytes per 16 KiB, so the estimate of when our ping is on the wire errs by that
        // much, early. What rustls still holds is queued too.
        let in_tls = self.tls.as_ref().map_or(0, |t| t.waiting());
        protocol::Progress {
            written: self.bytes_out,
            queued: (self.out.len() + in_tls) as u64,
            held: self.controls_held(),
            acknowledged: self.acknowledged_by_peer(),
        }
    }

    /// Queue a ping or pong now, or right after the data frame being written.
    pub(crate) fn send_control(
        &mut self,
        control: Control,
        payload: &[u8],
    ) -> Result<(), SendError> {
        let (connection, mut tx) = self.parts()?;
        Ok(connection.outbound.control(control, payload, &mut tx)?)
    }

    /// What the loop does after a close went out (or was decided on): `code` and `reason`
    /// are what the application hears if the peer does not answer with its own.
    fn closing(&mut self, outcome: CloseOutcome, code: u16, reason: &str) {
        let caps = match &self.codec {
            Some(codec) => codec.dialect().caps(),
            None => return,
        };
        match outcome {
            CloseOutcome::FrameQueued => self.requests.close_timer = true,
            CloseOutcome::TcpOnly => self.shutdown_after_flush = true,
            CloseOutcome::Deferred | CloseOutcome::AlreadyClosing => return,
        }
        self.close_info
            .get_or_insert_with(|| CloseInfo::sent(caps, code, reason));
    }

    /// Answer the peer's close (the connection did, as it decoded it): then close TCP.
    pub(crate) fn peer_closed(&mut self, info: CloseInfo) {
        // RFC 6455 §7.1.5: the connection's close code is the first one received.
        self.close_info = Some(info);
        self.shutdown_after_flush = true;
    }

    /// Fail the connection: its close (the code where the dialect has codes) is queued
    /// already or goes now; then only the TCP close.
    pub(crate) fn fail(&mut self, code: u16, reason: &str) {
        if let Ok((connection, mut tx)) = self.parts() {
            connection.outbound.fail(code, &mut tx);
        }
        self.close_info
            .get_or_insert_with(|| CloseInfo::failed(code, reason.to_owned()));
        self.phase = Phase::Failing;
        self.shutdown_after_flush = true;
    }
}

/// Where an open connection's outgoing bytes go: its queue, or for a large unmasked payload
/// chunk with little queued before it, straight to the socket.
///
/// A large chunk with at most a frame head or two queued before it goes to the socket at
/// once, in one `writev` with those bytes, straight from the caller's buffer (for a pipe,
/// the loop's read buffer), and only what the socket does not take is queued: a stream
/// forwarded cut-through is then copied once less, whether it keeps its frame or is cut
/// into fragments. Anything else waits in the queue for the loop's flush, which lets small
/// frames share a write, and a queue that is already long is left to the flush.
struct Outgoing<'a> {
    queue: &'a mut WriteQueue,
    stream: &'a mut TcpStream,
    bytes_out: &'a mut u64,
    /// A large payload may go straight to the socket.
    write_through: bool,
}

impl Transmit for Outgoing<'_> {
    fn queue(&mut self) -> &mut Vec<u8> {
        self.queue.vec_mut()
    }

    fn payload(&mut self, data: &[u8], mask: Mask<'_>) {
        let mut data = data;
        if data.len() >= WRITE_THROUGH_MIN
            && self.queue.len() <= WRITE_THROUGH_MAX_QUEUED
            && self.write_through
            && !mask.masks()
        {
            // An error leaves the bytes queued; the loop's flush meets it again and handles it.
            if let Ok((written, taken)) = self.queue.write_through(self.stream, data) {
                *self.bytes_out += written as u64;
                data = &data[taken..];
            }
        }
        mask.apply(self.queue.extend_mut(data));
    }
}

impl Socket for Conn {
    fn id(&self) -> SocketId {
        self.id
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    fn request(&self) -> Option<&Request> {
        self.request_ref()
    }

    fn protocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    fn dialect(&self) -> Option<Dialect> {
        self.codec
            .as_ref()
            .map(Codec::dialect)
            .or_else(|| self.request_ref().map(Request::dialect))
            .or_else(|| {
                let opening = self.opening.as_ref()?;
                opening
                    .client_handshake
                    .as_ref()
                    .map(ClientHandshake::dialect)
            })
    }

    fn ready_state(&self) -> ReadyState {
        match self.phase {
            Phase::Handshake | Phase::AwaitKey3 { .. } => ReadyState::Connecting,
            Phase::Open if !self.close_sent() && !self.close_received() => ReadyState::Open,
            Phase::Open | Phase::Failing => ReadyState::Closing,
            Phase::Draining => ReadyState::Closed,
        }
    }

    fn buffered_amount(&self) -> usize {
        self.queued()
    }

    fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_binary_or_text(MessageKind::Text, text.as_bytes())
    }

    fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_binary_or_text(MessageKind::Binary, data)
    }

    fn begin_message(&mut self, kind: MessageKind, len: Option<u64>) -> Result<(), SendError> {
        self.check_open()?;
        let (connection, mut tx) = self.parts()?;
        Ok(connection.outbound.begin(kind, len, &mut tx)?)
    }

    fn send_chunk(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.check_room(data.len() + 14)?;
        let (connection, mut tx) = self.parts()?;
        Ok(connection.outbound.chunk(data, &mut tx)?)
    }

    fn end_message(&mut self) -> Result<(), SendError> {
        let (connection, mut tx) = self.parts()?;
        let deferred = connection.outbound.deferred_close();
        if let Some(outcome) = connection.outbound.end(&mut tx)? {
            let (code, reason) = deferred.unwrap_or_default();
            self.closing(outcome, code, &reason);
        }
        Ok(())
    }

    fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        self.send_control(Control::Ping, payload)
    }

    fn close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        if self.shutdown_after_flush || self.phase != Phase::Open {
            return Ok(());
        }
        let (connection, mut tx) = self.parts()?;
        let outcome = connection.outbound.close(code, reason, &mut tx)?;
        self.closing(outcome, code, reason);
        Ok(())
    }

    fn destroy(&mut self) {
        self.requests.destroy = true;
    }

    fn set_hixie_binary(&mut self, policy: HixieBinary) {
        if let Some(codec) = self.codec.as_mut() {
            codec.connection.outbound.set_hixie_binary(policy);
        } else {
            self.hixie_binary = policy;
        }
    }
}

impl Conn {
    fn send_binary_or_text(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        self.check_room(data.len() + 16)?;
        let (connection, mut tx) = self.parts()?;
        Ok(connection.outbound.send_whole(kind, data, &mut tx)?)
    }
}

/// The largest message the assembler may hold (saturating where `usize` is narrower).
fn assembly_limit(limits: &Limits) -> usize {
    usize::try_from(limits.max_message).unwrap_or(usize::MAX)
}

/// What a connection's masking is keyed with: the seed of an outgoing (client) connection's
/// masks, from the OS random source, and hybi-04's connection key, with which its client
/// masks and its server unmasks (`None` for every other dialect).
pub(crate) struct KeyMaterial {
    pub mask_seed: [u8; 16],
    pub connection_key: Option<ConnectionKey>,
}

impl Conn {
    /// The protocol life of this freshly opened connection, playing `role`.
    pub(crate) fn open_codec(
        &self,
        dialect: Dialect,
        role: Role,
        keys: KeyMaterial,
        limits: &Limits,
        whole: bool,
        settings: &Settings,
    ) -> Codec {
        let options = OutboundOptions {
            fragment_size: settings.fragment_size,
            hixie_binary: self.hixie_binary,
        };
        let connection = Connection::with_connection_key(
            dialect,
            role,
            limits,
            keys.mask_seed,
            options,
            keys.connection_key,
        );
        Codec {
            connection,
            assembly: whole.then(|| Assembly::new(assembly_limit(limits))),
            inflater: None,
        }
    }
}

/// The mio token of the first connection; the ones below are the loop's own (listener,
/// waker, signals).
pub(crate) const FIRST_CONN: usize = 3;

/// Add a connection in its handshake phase: in the slab, registered with the poll, its
/// handshake timeout armed, counted. Accepted and outgoing connections alike.
pub(crate) fn insert_conn(
    conns: &mut crate::slab::Slab<Conn>,
    registry: &mio::Registry,
    timers: &mut crate::timers::Timers,
    settings: &Settings,
    stats: &crate::stats::Stats,
    stream: TcpStream,
    peer: Option<std::net::SocketAddr>,
) -> std::io::Result<SocketId> {
    let id = conns.insert_with(|id| Conn::new(id, stream, peer, settings));
    let conn = conns.get_mut(id).expect("just inserted");
    // Readable and writable once and for all: readiness is edge-triggered, so an idle
    // socket costs nothing, and no queue change ever needs an epoll_ctl.
    let token = mio::Token(FIRST_CONN + id.index as usize);
    if let Err(e) = registry.register(
        &mut conn.stream,
        token,
        mio::Interest::READABLE | mio::Interest::WRITABLE,
    ) {
        conns.remove(id);
        return Err(e);
    }
    let at = std::time::Instant::now() + settings.handshake_timeout;
    timers.arm(
        &mut conn.deadlines,
        id,
        crate::timers::TimerKind::Handshake,
        at,
    );
    stats
        .connections_open
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    stats
        .connections_total
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(id)
}
