//! Our direction of a connection: what may be sent now, in which frames, and where our
//! closing stands. The rules every sender follows, server or client: binary to hixie only by
//! policy, a large whole message cut into fragments where the dialect has them, control
//! frames held while a frame's payload is half-written, a close deferred while a hixie text
//! frame is open (nothing can interrupt `00 … FF`), a close reason cut to fit, nothing after
//! our close.

use super::closing::{fail_body, fit_close_reason};
use super::held::HeldControls;
use crate::close;
use crate::compression::{Deflater, Scope};
use crate::dialect::{Caps, Dialect, Framing};
use crate::error::EncodeError;
use crate::event::MessageKind;
use crate::frame::{fits_hixie_text, Control, Encoder};
use std::fmt;

/// What to do with binary messages for a hixie peer, whose browsers have no binary messages
/// (docs/protocols.md §7.3).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum HixieBinary {
    /// Refuse with [`SendError::Unsupported`] (the default): the caller decides.
    #[default]
    Refuse,
    /// Send the draft's length-prefixed frame (`80 <length> <bytes>`); only non-browser
    /// clients that decode it (ours does) will see a message.
    LengthPrefixed,
}

/// Why [`Outbound`] would not send something.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// Our close has gone out (or is on its way): nothing may follow it (RFC 6455 §5.5.1).
    Closed,
    /// The dialect cannot carry this.
    Unsupported(Dialect, &'static str),
    /// The encoder refused: message state, declared lengths, close codes, control sizes.
    Invalid(EncodeError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("the connection is closing"),
            SendError::Unsupported(dialect, what) => write!(f, "{dialect} cannot carry {what}"),
            SendError::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SendError {}

impl From<EncodeError> for SendError {
    fn from(e: EncodeError) -> Self {
        SendError::Invalid(e)
    }
}

/// Where the bytes of our direction go: a buffer for frame heads and control frames, and a
/// way to add payload that a sender may choose to write straight to its socket.
pub trait Transmit {
    /// The buffer frame heads and control frames are appended to, in wire order.
    fn queue(&mut self) -> &mut Vec<u8>;

    /// Add `data` as payload after what is queued. Payload appended to the queue must be
    /// masked in place with `mask` (a no-op unless this is a masking client); a sender that
    /// does not mask may write it straight to the socket after the queue instead.
    fn payload(&mut self, data: &[u8], mask: Mask<'_>) {
        let queue = self.queue();
        let start = queue.len();
        queue.extend_from_slice(data);
        mask.apply(&mut queue[start..]);
    }
}

impl Transmit for Vec<u8> {
    fn queue(&mut self) -> &mut Vec<u8> {
        self
    }
}

/// Masks payload bytes just announced, in order ([`Transmit::payload`]).
pub struct Mask<'a>(&'a mut Encoder);

impl Mask<'_> {
    /// Whether masking changes anything: false for servers and for unmasked dialects.
    pub fn masks(&self) -> bool {
        self.0.masks()
    }

    /// Mask the next payload bytes in place.
    pub fn apply(self, bytes: &mut [u8]) {
        self.0.mask_payload(bytes);
    }

    /// Mask the next payload bytes in place, keeping the mask for more.
    pub fn apply_part(&mut self, bytes: &mut [u8]) {
        self.0.mask_payload(bytes);
    }
}

/// Where our closing stands: a named state, not a cluster of flags.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Closing {
    /// Messages may be sent.
    Open,
    /// Our close, asked for while a hixie text frame is open, waits for its end.
    Deferred { code: u16, reason: String },
    /// Our close frame is queued, or held for the end of the current frame, or (hixie-75)
    /// the TCP close is due. Nothing may follow.
    Sent,
    /// The connection failed or the peer's close could not be answered: only the TCP close
    /// is left.
    Abandoned,
}

/// What a close request did; the caller's part follows from it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CloseOutcome {
    /// A close frame is queued (or held until the current frame ends): wait for the peer's
    /// answer, up to the close timeout.
    FrameQueued,
    /// No close frame goes out: hixie-75 closes with TCP alone, or the frame cannot be
    /// written now. Close TCP once what is queued is written.
    TcpOnly,
    /// Our close waits for the open hixie text message to end ([`Outbound::end`] sends it).
    Deferred,
    /// A close had already been sent or deferred: nothing new was done.
    AlreadyClosing,
}

/// Options of the sending direction.
#[derive(Copy, Clone, Debug, Default)]
pub struct OutboundOptions {
    /// Whole messages longer than this go out as fragments of this size, where the dialect
    /// has fragments; `None` sends every whole message as one frame.
    pub fragment_size: Option<usize>,
    /// Binary messages for hixie peers.
    pub hixie_binary: HixieBinary,
}

/// Whether the open message goes out compressed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Open {
    /// Its payload is written as given.
    Plain,
    /// Each chunk is compressed on its way (a message of unknown compressed length, so it
    /// goes out in fragments).
    Compressed,
}

/// Compression of our messages, once negotiated.
#[derive(Debug)]
struct Compressing {
    deflater: Deflater,
    /// The open message's mode.
    open: Open,
    /// The compressed bytes of the message or chunk being framed; let go when large.
    buf: Vec<u8>,
}

/// A compressed-payload buffer above this is given back after its message.
const KEEP_BUFFER: usize = 64 << 10;

/// The sending direction of one connection: the encoder, the held control frames and our
/// closing state. Writes into a [`Transmit`]; never touches a socket.
///
/// ```
/// use ws_protocols::connection::{Outbound, OutboundOptions};
/// use ws_protocols::frame::Encoder;
/// use ws_protocols::{Dialect, MessageKind};
///
/// let options = OutboundOptions { fragment_size: Some(2), ..Default::default() };
/// let mut outbound = Outbound::new(Dialect::Rfc6455, Encoder::server(Dialect::Rfc6455), options);
/// let mut wire = Vec::new();
/// outbound.send_whole(MessageKind::Text, b"abc", &mut wire).unwrap();
/// assert_eq!(wire, [0x01, 2, b'a', b'b', 0x00, 1, b'c', 0x80, 0]);
/// outbound.close(1000, "", &mut wire).unwrap();
/// assert!(outbound.send_whole(MessageKind::Text, b"late", &mut wire).is_err());
/// ```
#[derive(Debug)]
pub struct Outbound {
    caps: &'static Caps,
    dialect: Dialect,
    encoder: Encoder,
    held: HeldControls,
    closing: Closing,
    options: OutboundOptions,
    /// Present once compression was negotiated (boxed: most connections have none).
    compressing: Option<Box<Compressing>>,
}

impl fmt::Debug for HeldControls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldControls")
            .field("bytes", &self.len())
            .finish()
    }
}

impl Outbound {
    /// The sending direction of a `dialect` connection around its `encoder`.
    pub fn new(dialect: Dialect, encoder: Encoder, options: OutboundOptions) -> Self {
        Outbound {
            caps: dialect.caps(),
            dialect,
            encoder,
            held: HeldControls::default(),
            closing: Closing::Open,
            options,
            compressing: None,
        }
    }

    /// Compress our messages from now on, as `deflater` says (permessage-deflate or
    /// deflate-frame, negotiated in the handshake; messages it finds too small go plain).
    pub fn set_compression(&mut self, deflater: Deflater) {
        self.compressing = Some(Box::new(Compressing {
            deflater,
            open: Open::Plain,
            buf: Vec::new(),
        }));
    }

    /// Whether a zlib state is held now (for measuring memory per connection).
    pub fn holds_compression_state(&self) -> bool {
        self.compressing
            .as_ref()
            .is_some_and(|c| c.deflater.holds_state())
    }

    /// Give back the compression state kept between our messages, if no message is being
    /// sent: for a connection gone quiet, whose kept context would otherwise hold zlib's
    /// window and tables (about 300 KiB) for as long as it stays open. Its next message
    /// compresses without history.
    pub fn forget_compression_context(&mut self) {
        if self.in_message() {
            return;
        }
        if let Some(c) = self.compressing.as_mut() {
            c.deflater.forget_context();
            c.buf = Vec::new();
        }
    }

    /// The dialect spoken.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Change the policy for binary messages to hixie peers.
    pub fn set_hixie_binary(&mut self, policy: HixieBinary) {
        self.options.hixie_binary = policy;
    }

    /// The close waiting for the open hixie text message to end, if any.
    pub fn deferred_close(&self) -> Option<(u16, String)> {
        match &self.closing {
            Closing::Deferred { code, reason } => Some((*code, reason.clone())),
            _ => None,
        }
    }

    /// Whether messages may still be sent (no close sent, deferred or abandoned).
    pub fn is_open(&self) -> bool {
        self.closing == Closing::Open
    }

    /// Whether our close frame (or hixie-75's TCP close) is on its way.
    pub fn close_sent(&self) -> bool {
        self.closing == Closing::Sent
    }

    /// True while a message begun with [`Outbound::begin`] has not been ended.
    pub fn in_message(&self) -> bool {
        self.encoder.in_message()
    }

    /// The kind of the open message.
    pub fn open_kind(&self) -> Option<MessageKind> {
        self.encoder.open_kind()
    }

    /// Whether payload is masked (a hybi-07+ client).
    pub fn masks(&self) -> bool {
        self.encoder.masks()
    }

    /// Whether control frames wait for the end of the frame being written.
    pub fn controls_held(&self) -> bool {
        !self.held.is_empty()
    }

    /// Bytes of the control frames held (they count toward a sender's queue).
    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    fn check_open(&self) -> Result<(), SendError> {
        match self.closing {
            Closing::Open => Ok(()),
            _ => Err(SendError::Closed),
        }
    }

    fn check_binary(&self, kind: MessageKind, len: Option<u64>) -> Result<(), SendError> {
        if kind == MessageKind::Binary && self.caps.framing == Framing::Sentinel {
            if self.options.hixie_binary == HixieBinary::Refuse {
                return Err(SendError::Unsupported(self.dialect, "binary messages"));
            }
            if len.is_none() {
                return Err(SendError::Unsupported(
                    self.dialect,
                    "binary of unknown length",
                ));
            }
        }
        Ok(())
    }

    /// Start a message: of `len` bytes in one frame, or (`None`) streamed in fragments, or
    /// inside one hixie text frame.
    pub fn begin(
        &mut self,
        kind: MessageKind,
        len: Option<u64>,
        tx: &mut impl Transmit,
    ) -> Result<(), SendError> {
        self.check_open()?;
        self.check_binary(kind, len)?;
        let usize_len = len.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let compress = match self.compressing.as_mut() {
            Some(c) if !self.encoder.in_message() && c.deflater.wants(usize_len) => c,
            _ => {
                let head = self.encoder.begin(kind, len)?;
                tx.queue().extend_from_slice(&head);
                return Ok(());
            }
        };
        // The compressed length is not known in advance: fragments, whatever `len` says.
        let head = self.encoder.begin(kind, None)?;
        compress.open = Open::Compressed;
        if compress.deflater.scope() == Scope::Message {
            // RFC 7692 §6.1: RSV1 on the message's first frame, whichever writes it.
            self.encoder.mark_compressed();
        }
        tx.queue().extend_from_slice(&head);
        Ok(())
    }

    /// The next payload bytes of the open message. Control frames held for the end of the
    /// frame go out as soon as its last byte has.
    pub fn chunk(&mut self, data: &[u8], tx: &mut impl Transmit) -> Result<(), SendError> {
        let Some(compressing) = self
            .compressing
            .as_mut()
            .filter(|c| c.open == Open::Compressed)
        else {
            return self.frame_payload(data, tx);
        };
        if data.is_empty() {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut compressing.buf);
        buf.clear();
        // Per frame, every chunk is a stream of its own, its tail stripped; per message, a
        // flush lets the peer inflate what it has, and the stream goes on.
        let per_frame = compressing.deflater.scope() == Scope::Frame;
        compressing.deflater.compress(data, &mut buf, per_frame);
        if per_frame {
            self.encoder.mark_compressed();
        }
        let result = self.frame_payload(&buf, tx);
        self.give_back(buf);
        result
    }

    /// Keep the compressed-payload buffer for the next message unless it grew large.
    fn give_back(&mut self, buf: Vec<u8>) {
        if let Some(compressing) = self.compressing.as_mut() {
            if buf.capacity() <= KEEP_BUFFER {
                compressing.buf = buf;
            }
        }
    }

    /// Frame `data` as the next payload bytes of the open message, as it is.
    fn frame_payload(&mut self, data: &[u8], tx: &mut impl Transmit) -> Result<(), SendError> {
        let hixie_text = self.caps.framing == Framing::Sentinel
            && self.encoder.open_kind() == Some(MessageKind::Text);
        if hixie_text && !fits_hixie_text(data) {
            // Valid UTF-8 never holds 0xFF; one here would end the hixie frame early.
            return Err(SendError::Invalid(EncodeError::Unsupported(
                "0xFF inside hixie text",
            )));
        }
        let head = self.encoder.chunk(data.len())?;
        tx.queue().extend_from_slice(&head);
        tx.payload(data, Mask(&mut self.encoder));
        if !self.held.is_empty() && !self.encoder.mid_frame() {
            self.held.release(&mut self.encoder, tx.queue());
        }
        Ok(())
    }

    /// Finish the open message; a close deferred behind it goes out now (its outcome is
    /// returned).
    pub fn end(&mut self, tx: &mut impl Transmit) -> Result<Option<CloseOutcome>, SendError> {
        if let Some(compressing) = self
            .compressing
            .as_mut()
            .filter(|c| c.open == Open::Compressed)
        {
            compressing.open = Open::Plain;
            if compressing.deflater.scope() == Scope::Message {
                // The stream ends: its last flush's tail is the one the peer puts back, so
                // the final frame carries nothing (a flush with nothing new writes nothing).
                let mut rest = std::mem::take(&mut compressing.buf);
                rest.clear();
                compressing.deflater.compress(&[], &mut rest, true);
                let result = self.frame_payload(&rest, tx);
                self.give_back(rest);
                result?;
            }
        }
        let tail = self.encoder.end()?;
        tx.queue().extend_from_slice(&tail);
        if !matches!(self.closing, Closing::Deferred { .. }) {
            return Ok(None);
        }
        match std::mem::replace(&mut self.closing, Closing::Open) {
            Closing::Deferred { code, reason } => self.close(code, &reason, tx).map(Some),
            _ => unreachable!("checked above"),
        }
    }

    /// Send a whole message: one frame, or fragments of the configured size where the
    /// dialect has fragments.
    pub fn send_whole(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        tx: &mut impl Transmit,
    ) -> Result<(), SendError> {
        self.check_open()?;
        if self.encoder.in_message() {
            return Err(SendError::Invalid(EncodeError::MessageInProgress));
        }
        self.check_binary(kind, Some(data.len() as u64))?;
        let fragments = match self.options.fragment_size {
            Some(size) if self.caps.fragments && data.len() > size => Some(size),
            _ => None,
        };
        if let Some(compressing) = self
            .compressing
            .as_mut()
            .filter(|c| c.deflater.wants(Some(data.len())))
        {
            if fragments.is_some() && compressing.deflater.scope() == Scope::Frame {
                // Per frame: each fragment compressed on its own, as it is streamed.
                self.begin(kind, None, tx)?;
                for piece in data.chunks(fragments.unwrap_or(data.len())) {
                    self.chunk(piece, tx)?;
                }
                return self.end(tx).map(|_| ());
            }
            // The whole message as one stream, then framed like any payload, RSV1 on the
            // first frame (one frame, or fragments of the configured size per message).
            let mut buf = std::mem::take(&mut compressing.buf);
            buf.clear();
            compressing.deflater.compress(data, &mut buf, true);
            let result = if buf.len() < data.len() {
                self.encoder.mark_compressed();
                self.send_frames(kind, &buf, fragments, tx)
            } else {
                // Incompressible (already compressed media, random bytes): deflate only
                // adds its block headers, so the message goes as it is, which RFC 7692 §6
                // allows. The peer never sees this stream, so our history must not keep it.
                compressing.deflater.forget_context();
                self.send_frames(kind, data, fragments, tx)
            };
            self.give_back(buf);
            return result;
        }
        self.send_frames(kind, data, fragments, tx)
    }

    /// `data` as one message of plain frames: one frame, or fragments of `fragments` bytes.
    fn send_frames(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fragments: Option<usize>,
        tx: &mut impl Transmit,
    ) -> Result<(), SendError> {
        match fragments {
            Some(size) => {
                let head = self.encoder.begin(kind, None)?;
                tx.queue().extend_from_slice(&head);
                for piece in data.chunks(size) {
                    self.frame_payload(piece, tx)?;
                }
            }
            None => {
                let head = self.encoder.begin(kind, Some(data.len() as u64))?;
                tx.queue().extend_from_slice(&head);
                self.frame_payload(data, tx)?;
            }
        }
        self.end(tx).map(|_| ())
    }

    /// Send a ping or pong now, or right after the data frame being written (replacing one
    /// of its kind already waiting there: RFC 6455 §5.5.3 lets only the latest ping be
    /// answered).
    pub fn control(
        &mut self,
        control: Control,
        payload: &[u8],
        tx: &mut impl Transmit,
    ) -> Result<(), SendError> {
        self.check_open()?;
        if !self.caps.ping {
            return Err(SendError::Unsupported(self.dialect, "ping"));
        }
        if self.must_hold() {
            return Ok(self.held.hold_control(control, payload)?);
        }
        Ok(self.encoder.control(control, payload, tx.queue())?)
    }

    fn must_hold(&self) -> bool {
        self.encoder.mid_frame() && self.caps.fragments
    }

    /// Close with `code` and `reason` (cut to fit at a character boundary): a close frame
    /// where the dialect has one, held for the end of a frame being written, deferred for
    /// the end of an open hixie text message; the TCP close alone on hixie-75.
    pub fn close(
        &mut self,
        code: u16,
        reason: &str,
        tx: &mut impl Transmit,
    ) -> Result<CloseOutcome, SendError> {
        if self.closing != Closing::Open {
            return Ok(CloseOutcome::AlreadyClosing);
        }
        if !close::is_valid_sent(code) {
            return Err(SendError::Invalid(EncodeError::InvalidCloseCode(code)));
        }
        if !self.caps.close_frame {
            // hixie-75: the TCP close is the whole closing protocol.
            self.closing = Closing::Sent;
            return Ok(CloseOutcome::TcpOnly);
        }
        if self.encoder.in_message() && !self.caps.fragments {
            // Nothing can be injected into an open hixie text frame (docs/protocols.md §7.2).
            self.closing = Closing::Deferred {
                code,
                reason: reason.to_owned(),
            };
            return Ok(CloseOutcome::Deferred);
        }
        let reason = fit_close_reason(reason);
        if self.must_hold() {
            self.held.hold_close(Some(code), reason)?;
        } else {
            self.encoder.close(Some(code), reason, tx.queue())?;
        }
        self.closing = Closing::Sent;
        Ok(CloseOutcome::FrameQueued)
    }

    /// Answer the peer's close with `echo` ([`super::close_echo`]) if it can go now. When
    /// it cannot (we are inside one of our frames, or our close already went), nothing is
    /// sent and the caller decides: a server closes TCP, a client may wait for its message
    /// to end ([`Outbound::can_send_close`]).
    pub fn answer_close(&mut self, echo: &[u8], tx: &mut impl Transmit) -> CloseOutcome {
        match self.closing {
            Closing::Sent | Closing::Abandoned => return CloseOutcome::AlreadyClosing,
            Closing::Open | Closing::Deferred { .. } => {}
        }
        if !self.caps.close_frame {
            self.closing = Closing::Sent;
            return CloseOutcome::TcpOnly;
        }
        match self.encoder.control(Control::Close, echo, tx.queue()) {
            Ok(()) => {
                self.closing = Closing::Sent;
                CloseOutcome::FrameQueued
            }
            // A peer mid-way through one of our frames (a hixie-76 text frame, or a frame of
            // declared length) cannot get a close frame intact.
            Err(_) => CloseOutcome::TcpOnly,
        }
    }

    /// Whether a close frame could be written now (not inside one of our frames).
    pub fn can_send_close(&self) -> bool {
        let hixie_text_open = self.caps.framing == Framing::Sentinel && self.in_message();
        !self.encoder.mid_frame() && !hixie_text_open
    }

    /// Fail the connection (RFC 6455 §7.1.7): a close with `code` where the dialect has
    /// codes, an empty close where it has only a close frame, then only the TCP close.
    pub fn fail(&mut self, code: u16, tx: &mut impl Transmit) -> CloseOutcome {
        let outcome = self.answer_close(&fail_body(self.caps, code), tx);
        if self.closing != Closing::Sent {
            self.closing = Closing::Abandoned;
        }
        outcome
    }

    /// Give up sending (the transport broke, or the connection failed elsewhere).
    pub fn abandon(&mut self) {
        if self.closing != Closing::Sent {
            self.closing = Closing::Abandoned;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(dialect: Dialect) -> Outbound {
        Outbound::new(
            dialect,
            Encoder::server(dialect),
            OutboundOptions::default(),
        )
    }

    #[test]
    fn binary_to_hixie_only_by_policy_and_only_with_a_length() {
        let mut out = server(Dialect::Hixie76);
        let mut wire = Vec::new();
        assert_eq!(
            out.send_whole(MessageKind::Binary, b"x", &mut wire),
            Err(SendError::Unsupported(Dialect::Hixie76, "binary messages"))
        );
        out.set_hixie_binary(HixieBinary::LengthPrefixed);
        out.send_whole(MessageKind::Binary, b"x", &mut wire)
            .unwrap();
        assert_eq!(wire, [0x80, 1, b'x']);
        assert!(matches!(
            out.begin(MessageKind::Binary, None, &mut wire),
            Err(SendError::Unsupported(_, "binary of unknown length"))
        ));
    }

    #[test]
    fn a_close_inside_hixie_text_waits_for_its_end() {
        let mut out = server(Dialect::Hixie76);
        let mut wire = Vec::new();
        out.begin(MessageKind::Text, None, &mut wire).unwrap();
        out.chunk(b"ab", &mut wire).unwrap();
        assert_eq!(
            out.close(1000, "", &mut wire).unwrap(),
            CloseOutcome::Deferred
        );
        assert_eq!(wire, b"\x00ab");
        assert_eq!(out.end(&mut wire).unwrap(), Some(CloseOutcome::FrameQueued));
        assert_eq!(wire, b"\x00ab\xff\xff\x00");
        assert!(out.close_sent());
    }

    #[test]
    fn controls_wait_for_the_end_of_a_half_written_frame() {
        let mut out = server(Dialect::Rfc6455);
        let mut wire = Vec::new();
        out.begin(MessageKind::Binary, Some(4), &mut wire).unwrap();
        out.chunk(b"ab", &mut wire).unwrap();
        out.control(Control::Pong, b"1", &mut wire).unwrap();
        out.control(Control::Pong, b"2", &mut wire).unwrap();
        assert_eq!(
            out.close(1000, "bye", &mut wire),
            Ok(CloseOutcome::FrameQueued)
        );
        assert!(out.controls_held());
        out.chunk(b"cd", &mut wire).unwrap();
        out.end(&mut wire).unwrap();
        assert_eq!(
            wire,
            [0x82, 4, b'a', b'b', b'c', b'd', 0x8A, 1, b'2', 0x88, 5, 3, 0xE8, b'b', b'y', b'e']
        );
    }

    #[test]
    fn nothing_follows_our_close_and_hixie_75_closes_with_tcp() {
        let mut out = server(Dialect::Hixie75);
        let mut wire = Vec::new();
        assert_eq!(out.close(1000, "", &mut wire), Ok(CloseOutcome::TcpOnly));
        assert!(wire.is_empty());
        assert_eq!(
            out.send_whole(MessageKind::Text, b"x", &mut wire),
            Err(SendError::Closed)
        );
        assert_eq!(
            out.close(1000, "", &mut wire),
            Ok(CloseOutcome::AlreadyClosing)
        );
    }

    #[test]
    fn failing_sends_the_code_where_the_dialect_has_codes() {
        for (dialect, expected) in [
            (Dialect::Rfc6455, &[0x88, 2, 0x03, 0xEF][..]),
            (Dialect::Hybi03, &[0x01, 0][..]),
            (Dialect::Hixie76, &[0xff, 0][..]),
            (Dialect::Hixie75, &[][..]),
        ] {
            let mut out = server(dialect);
            let mut wire = Vec::new();
            out.fail(1007, &mut wire);
            assert_eq!(wire, expected, "{dialect}");
            assert!(!out.is_open());
        }
    }

    #[test]
    fn an_answer_inside_a_frame_cannot_go() {
        let mut out = server(Dialect::Rfc6455);
        let mut wire = Vec::new();
        out.begin(MessageKind::Binary, Some(4), &mut wire).unwrap();
        assert!(!out.can_send_close());
        assert_eq!(
            out.answer_close(b"\x03\xe8", &mut wire),
            CloseOutcome::TcpOnly
        );
        assert_eq!(wire, [0x82, 4]);
    }
}
