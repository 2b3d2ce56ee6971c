//! One connection's I/O shell: its socket, its queues, where it is in its life, and the
//! application's [`Socket`] calls, which encode into the outgoing queue (a large payload
//! chunk may go straight to the socket instead: [`Conn::push_payload`]). The event loop does
//! the reading, the flushing and the timing.

use crate::buffer::WriteQueue;
use crate::held_controls::HeldControls;
use crate::settings::{HixieBinary, Settings};
use crate::socket::{CloseInfo, ReadyState, Socket, SocketId};
use crate::timers::{Deadlines, TIMER_KINDS};
use crate::SendError;
use mio::net::TcpStream;
use std::net::SocketAddr;
use ws_protocols::close as close_code;
use ws_protocols::frame::{Control, FrameHead};
use ws_protocols::handshake::{ClientHandshake, Request};
use ws_protocols::message::MessageAssembler;
use ws_protocols::{Decoder, Dialect, EncodeError, Encoder, Framing, Limits, MessageKind, Role};

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

pub(crate) struct Codec {
    pub dialect: Dialect,
    pub decoder: Decoder,
    pub encoder: Encoder,
    /// Present in `Delivery::Whole` mode; taken out while a handler runs.
    pub assembler: Option<MessageAssembler>,
    /// Whole delivery of a single-frame message whose payload arrives in one piece: handed
    /// to the handler straight from the read buffer, no copy. The message's kind and length
    /// while that may still happen; then whether its `MessageEnd` is still to be skipped.
    pub direct: Option<(MessageKind, u64)>,
    pub skip_end: bool,
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
    pub request: Option<Request>,
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
    pub close_sent: bool,
    pub close_received: bool,
    /// A hixie-76 close asked for mid-message, sent when the message ends.
    pub deferred_close: Option<(u16, String)>,
    /// Control frames asked for while a data frame's payload was partly written (a piped
    /// message of known length): they go out right after that frame's last byte.
    held_controls: HeldControls,
    /// How the connection ended, reported by `on_close`.
    pub close_info: Option<CloseInfo>,
    /// Shut our side down once the queue has drained.
    pub shutdown_after_flush: bool,
    pub awaiting_pong: bool,
    /// Bytes written to the socket so far.
    pub bytes_out: u64,
    /// `bytes_out` when last added to the server-wide total.
    reported_out: u64,
    /// While `awaiting_pong`: `bytes_out` when the ping was sent (or last seen to move),
    /// and the `bytes_out` at which the ping itself is on the wire (`None` while it is
    /// held behind a frame of declared length).
    pub ping_progress: u64,
    pub ping_on_wire_at: Option<u64>,
    /// While `awaiting_pong`: [`Conn::acknowledged_by_peer`] when last looked at.
    pub ping_acknowledged: Option<u64>,
    /// When the last byte arrived (idle timeout).
    pub last_activity: std::time::Instant,
    /// The 101 head held back until key3 arrives (hixie-76 without headers-first).
    pub pending_response: Vec<u8>,
    /// Adopted after another HTTP server wrote the 101 head, with this subprotocol.
    pub answered: Option<Option<String>>,
    /// `on_open` ran, so `on_close` must.
    pub opened: bool,
    /// An outgoing connection ([`crate::Cx::connect`]): the request we sent, until the
    /// server's answer passes.
    pub client_handshake: Option<ClientHandshake>,
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
    fragment_size: Option<usize>,
    hixie_binary: HixieBinary,
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
            request: None,
            subprotocol: None,
            codec: None,
            deadlines: [None; TIMER_KINDS],
            paused_by_app: false,
            over_high_water: false,
            read_pending: false,
            in_ready: false,
            drain_watch: None,
            close_sent: false,
            close_received: false,
            deferred_close: None,
            held_controls: HeldControls::default(),
            close_info: None,
            shutdown_after_flush: false,
            awaiting_pong: false,
            bytes_out: 0,
            reported_out: 0,
            ping_progress: 0,
            ping_on_wire_at: None,
            ping_acknowledged: None,
            last_activity: std::time::Instant::now(),
            pending_response: Vec::new(),
            answered: None,
            opened: false,
            client_handshake: None,
            outgoing: false,
            requests: Requests::default(),
            reported_queue: 0,
            reported_message: 0,
            unprocessed: Vec::new(),
            max_write_buffer: settings.max_write_buffer,
            fragment_size: settings.fragment_size,
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

    /// Whether the loop should read from the socket now.
    pub(crate) fn wants_read(&self) -> bool {
        match self.phase {
            Phase::Open => !self.paused_by_app && !self.over_high_water,
            _ => true,
        }
    }

    /// The dialect of an open connection that may still send.
    fn open_dialect(&self) -> Result<Dialect, SendError> {
        match &self.codec {
            Some(codec) if self.phase == Phase::Open && !self.close_sent => Ok(codec.dialect),
            _ => Err(SendError::NotOpen),
        }
    }

    fn codec_mut(&mut self) -> Result<&mut Codec, SendError> {
        self.codec.as_mut().ok_or(SendError::NotOpen)
    }

    fn check_room(&self, bytes: usize) -> Result<(), SendError> {
        let buffered = self.queued();
        if buffered + bytes > self.max_write_buffer {
            return Err(SendError::BufferFull { buffered });
        }
        Ok(())
    }

    fn push_head(&mut self, head: FrameHead) {
        self.out.extend(&head);
    }

    /// Append payload bytes, masked if the encoder masks (it never does on a server).
    ///
    /// A large chunk with at most a frame head or two queued before it goes to the socket at
    /// once, in one `writev` with those bytes, straight from the caller's buffer (for a pipe,
    /// the loop's read buffer), and only what the socket does not take is queued: a stream
    /// forwarded cut-through is then copied once less, whether it keeps its frame or is cut
    /// into fragments. Anything else waits in the queue for the loop's flush, which lets small
    /// frames share a write, and a queue that is already long is left to the flush.
    fn push_payload(&mut self, data: &[u8]) {
        let codec = self.codec.as_mut().expect("open connection has a codec");
        let mut data = data;
        if data.len() >= WRITE_THROUGH_MIN
            && self.out.len() <= WRITE_THROUGH_MAX_QUEUED
            && self.phase == Phase::Open
            && !codec.encoder.masks()
        {
            // An error leaves the bytes queued; the loop's flush meets it again and handles it.
            if let Ok((written, taken)) = self.out.write_through(&mut self.stream, data) {
                self.bytes_out += written as u64;
                data = &data[taken..];
            }
        }
        let bytes = self.out.extend_mut(data);
        codec.encoder.mask_payload(bytes);
        if !self.held_controls.is_empty() && !codec.encoder.mid_frame() {
            self.held_controls
                .release(&mut codec.encoder, self.out.vec_mut());
        }
    }

    /// Whether control frames are being held for the end of a data frame.
    pub(crate) fn controls_held(&self) -> bool {
        !self.held_controls.is_empty()
    }

    /// Bytes waiting to go out: the queue and the control frames held for the end of the
    /// frame being written.
    pub(crate) fn queued(&self) -> usize {
        self.out.len() + self.held_controls.len()
    }

    /// Whether a control frame must wait for the end of the data frame being written.
    fn must_hold_controls(&self) -> Result<bool, EncodeError> {
        let codec = self.codec.as_ref().ok_or(EncodeError::NoMessage)?;
        Ok(codec.encoder.mid_frame() && codec.dialect.caps().fragments)
    }

    /// Queue a ping or pong now, or right after the data frame being written (replacing
    /// one of its kind already waiting there).
    pub(crate) fn send_control(
        &mut self,
        control: Control,
        payload: &[u8],
    ) -> Result<(), EncodeError> {
        if self.must_hold_controls()? {
            return self.held_controls.hold_control(control, payload);
        }
        let codec = self.codec.as_mut().ok_or(EncodeError::NoMessage)?;
        codec.encoder.control(control, payload, self.out.vec_mut())
    }

    fn queue_close(&mut self, code: Option<u16>, reason: &str) -> Result<(), EncodeError> {
        if self.must_hold_controls()? {
            return self.held_controls.hold_close(code, reason);
        }
        let codec = self.codec.as_mut().ok_or(EncodeError::NoMessage)?;
        codec.encoder.close(code, reason, self.out.vec_mut())
    }

    fn send_whole(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), SendError> {
        let dialect = self.open_dialect()?;
        let caps = dialect.caps();
        if self.codec_mut()?.encoder.in_message() {
            return Err(SendError::Invalid(EncodeError::MessageInProgress));
        }
        if kind == MessageKind::Binary
            && caps.framing == Framing::Sentinel
            && self.hixie_binary == HixieBinary::Refuse
        {
            return Err(SendError::Unsupported(dialect, "binary messages"));
        }
        self.check_room(data.len() + 16)?;
        match self.fragment_size {
            Some(size) if caps.fragments && data.len() > size => {
                self.begin_message(kind, None)?;
                for piece in data.chunks(size) {
                    self.send_chunk(piece)?;
                }
                self.end_message()
            }
            _ => {
                self.begin_message(kind, Some(data.len() as u64))?;
                self.send_chunk(data)?;
                self.end_message()
            }
        }
    }

    fn send_close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        let Some(codec) = self.codec.as_mut() else {
            return Err(SendError::NotOpen);
        };
        if !close_code::is_valid_sent(code) {
            return Err(SendError::Invalid(EncodeError::InvalidCloseCode(code)));
        }
        let dialect = codec.dialect;
        if !dialect.caps().close_frame {
            // hixie-75: the TCP close is the whole closing protocol.
            self.shutdown_after_flush = true;
        } else if codec.encoder.in_message() && !dialect.caps().fragments {
            // Nothing can be injected into an open hixie text frame (docs/protocols.md §7.2).
            self.deferred_close = Some((code, reason.to_owned()));
            return Ok(());
        } else {
            let mut cut = reason.len().min(123);
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            let reason = reason[..cut].to_owned();
            self.queue_close(Some(code), &reason)
                .map_err(SendError::Invalid)?;
            self.requests.close_timer = true;
        }
        self.close_sent = true;
        self.close_info.get_or_insert(CloseInfo {
            code,
            reason: reason.to_owned(),
            clean: dialect == Dialect::Hixie75,
        });
        Ok(())
    }

    /// Answer the peer's close: echo its code (or its raw body, for hybi-03), then close TCP.
    pub(crate) fn answer_close(&mut self, code: Option<u16>, body: &[u8]) {
        if let Some(codec) = self.codec.as_mut() {
            if !self.close_sent {
                let echo = match code {
                    Some(_) => &body[..2],
                    None => body,
                };
                let out = self.out.vec_mut();
                // A peer mid-way through one of our frames (a hixie-76 text frame, or a
                // piped frame of declared length) cannot get a close frame intact: close TCP
                // instead (the unterminated frame is never delivered).
                if codec.encoder.control(Control::Close, echo, out).is_ok() {
                    self.close_sent = true;
                }
            }
        }
        self.shutdown_after_flush = true;
    }

    /// Queue the close for a protocol error: its code where the dialect has codes.
    pub(crate) fn fail(&mut self, code: u16, reason: &str) {
        if let Some(codec) = self.codec.as_mut() {
            if !self.close_sent {
                let out = self.out.vec_mut();
                let sent = if codec.dialect.caps().close_codes {
                    codec.encoder.close(Some(code), "", out).is_ok()
                } else {
                    codec.encoder.control(Control::Close, &[], out).is_ok()
                };
                self.close_sent = sent;
            }
        }
        self.close_info.get_or_insert(CloseInfo {
            code,
            reason: reason.to_owned(),
            clean: false,
        });
        self.phase = Phase::Failing;
        self.shutdown_after_flush = true;
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
        self.request.as_ref()
    }

    fn protocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    fn dialect(&self) -> Option<Dialect> {
        self.codec
            .as_ref()
            .map(|c| c.dialect)
            .or_else(|| self.request.as_ref().map(Request::dialect))
            .or_else(|| self.client_handshake.as_ref().map(ClientHandshake::dialect))
    }

    fn ready_state(&self) -> ReadyState {
        match self.phase {
            Phase::Handshake | Phase::AwaitKey3 { .. } => ReadyState::Connecting,
            Phase::Open if !self.close_sent && !self.close_received => ReadyState::Open,
            Phase::Open | Phase::Failing => ReadyState::Closing,
            Phase::Draining => ReadyState::Closed,
        }
    }

    fn buffered_amount(&self) -> usize {
        self.queued()
    }

    fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_whole(MessageKind::Text, text.as_bytes())
    }

    fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_whole(MessageKind::Binary, data)
    }

    fn begin_message(&mut self, kind: MessageKind, len: Option<u64>) -> Result<(), SendError> {
        let dialect = self.open_dialect()?;
        let hixie = dialect.caps().framing == Framing::Sentinel;
        if kind == MessageKind::Binary
            && hixie
            && (self.hixie_binary == HixieBinary::Refuse || len.is_none())
        {
            let what = if len.is_none() {
                "binary of unknown length"
            } else {
                "binary messages"
            };
            return Err(SendError::Unsupported(dialect, what));
        }
        let head = self
            .codec_mut()?
            .encoder
            .begin(kind, len)
            .map_err(SendError::Invalid)?;
        self.push_head(head);
        Ok(())
    }

    fn send_chunk(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.check_room(data.len() + 14)?;
        let codec = self.codec.as_mut().ok_or(SendError::NotOpen)?;
        let hixie_text = codec.dialect.caps().framing == Framing::Sentinel
            && codec.encoder.open_kind() == Some(MessageKind::Text);
        if hixie_text && !ws_protocols::frame::fits_hixie_text(data) {
            // Valid UTF-8 never holds 0xFF; one here would end the hixie frame early.
            return Err(SendError::Invalid(EncodeError::Unsupported(
                "0xFF inside hixie text",
            )));
        }
        let head = codec
            .encoder
            .chunk(data.len())
            .map_err(SendError::Invalid)?;
        self.push_head(head);
        self.push_payload(data);
        Ok(())
    }

    fn end_message(&mut self) -> Result<(), SendError> {
        let codec = self.codec.as_mut().ok_or(SendError::NotOpen)?;
        let head = codec.encoder.end().map_err(SendError::Invalid)?;
        self.push_head(head);
        if let Some((code, reason)) = self.deferred_close.take() {
            self.send_close(code, &reason)?;
        }
        Ok(())
    }

    fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        let dialect = self.open_dialect()?;
        if !dialect.caps().ping {
            return Err(SendError::Unsupported(dialect, "ping"));
        }
        self.send_control(Control::Ping, payload)
            .map_err(SendError::Invalid)
    }

    fn close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        if self.close_sent || self.shutdown_after_flush || self.phase != Phase::Open {
            return Ok(());
        }
        self.send_close(code, reason)
    }

    fn destroy(&mut self) {
        self.requests.destroy = true;
    }

    fn set_hixie_binary(&mut self, policy: HixieBinary) {
        self.hixie_binary = policy;
    }
}

/// The largest message the assembler may hold (saturating where `usize` is narrower).
fn assembly_limit(limits: &Limits) -> usize {
    usize::try_from(limits.max_message).unwrap_or(usize::MAX)
}

/// The decoder and encoder for a freshly opened server-side connection.
pub(crate) fn server_codec(dialect: Dialect, limits: &Limits, whole: bool) -> Codec {
    Codec {
        dialect,
        decoder: Decoder::new(dialect, Role::Server, limits),
        encoder: Encoder::server(dialect),
        assembler: whole.then(|| MessageAssembler::new(assembly_limit(limits))),
        direct: None,
        skip_end: false,
    }
}

/// The codec of an outgoing connection: masks what it sends, expects nothing masked.
pub(crate) fn client_codec(
    dialect: Dialect,
    limits: &Limits,
    whole: bool,
    mask_seed: [u8; 16],
) -> Codec {
    Codec {
        dialect,
        decoder: Decoder::new(dialect, Role::Client, limits),
        encoder: Encoder::client(dialect, mask_seed),
        assembler: whole.then(|| MessageAssembler::new(assembly_limit(limits))),
        direct: None,
        skip_end: false,
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
