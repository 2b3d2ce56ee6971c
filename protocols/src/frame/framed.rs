//! Decoder for the length-framed families: hybi-01..03 (MORE bit), hybi-04..06 (FIN bit,
//! masked from in front) and hybi-07/08/13.

use super::mask::{apply_long_mask, apply_mask, hybi04_frame_key, ConnectionKey, FrameMask};
use super::wire::{Op, Wire};
use super::Decode;
use crate::close;
use crate::compression::Scope;
use crate::dialect::{Caps, Dialect, Masking, Role};
use crate::error::ProtocolError;
use crate::event::{CloseFrame, Event, MessageKind};
use crate::limits::Limits;
use crate::utf8::Utf8Validator;

#[derive(Debug)]
enum State {
    /// Expecting the first byte of a frame header.
    Header,
    /// Inside the payload of a data frame.
    Payload {
        remaining: u64,
        key: PayloadMask,
        /// Where the key rotation stands: payload bytes of this frame already unmasked, plus
        /// the header bytes when the mask covers the header too (hybi-04..06).
        done: u64,
        fin: bool,
        /// The payload is compressed (the frame's RSV1, or per message its first frame's).
        compressed: bool,
    },
    /// The peer's close frame was decoded; everything after it is ignored.
    Closed,
}

/// How the payload of the frame being read is masked.
#[derive(Copy, Clone, Debug)]
enum PayloadMask {
    Clear,
    /// A 4-byte key: RFC 6455 §5.3, or the 4 bytes in front of a hybi-05/06 frame.
    Short([u8; 4]),
    /// hybi-04's 20-byte frame key, kept in [`FramedDecoder::long_key`] so the state stays
    /// as small as the RFC path needs it.
    Long,
}

impl PayloadMask {
    /// Unmask `data`, which starts at byte `at` of the key rotation.
    #[inline]
    fn apply(self, data: &mut [u8], long_key: &[u8; 20], at: u64) {
        match self {
            PayloadMask::Clear => {}
            PayloadMask::Short(key) => apply_mask(data, key, (at % 4) as usize),
            PayloadMask::Long => apply_long_mask(data, long_key, (at % 20) as usize),
        }
    }
}

/// What comes in front of a client frame, for a server of hybi-04..06 (docs/protocols.md
/// §4.3, §4.4): 4 bytes that mask the whole frame, header included.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Prefix {
    /// Nothing: the frame starts with its header (every other dialect and role).
    None,
    /// hybi-05/06: the 4-byte key itself.
    Key,
    /// hybi-04: a 4-byte frame nonce, hashed with the connection key into the frame key.
    Nonce,
}

/// A parsed header, before any check that depends on connection state.
struct Header {
    fin: bool,
    op: Op,
    len: u64,
    key: Option<[u8; 4]>,
    size: usize,
    /// RSV1: compressed, where an extension gives the bit that meaning.
    rsv1: bool,
}

/// What one decoding step found: an [`Event`] with its payload given as a range of the
/// buffer rather than a borrowed slice, so that [`FramedDecoder::step`] borrows nothing.
/// The `Event` is built from it at the last moment (`event`, `decode_each`): building it
/// inside `step` and returning it made the compiler copy the whole enum through memory on
/// every call, with partial overlapping stores that stall the load that follows (measured:
/// that copy was most of the per-frame cost on small frames).
#[derive(Copy, Clone, Debug)]
enum Found {
    /// More bytes are needed.
    Nothing,
    Start {
        kind: MessageKind,
        len: Option<u64>,
    },
    Data(usize, usize),
    Compressed {
        start: usize,
        end: usize,
        frame_end: bool,
    },
    End,
    Ping(usize, usize),
    Pong(usize, usize),
    Close(usize, usize),
}

/// What a decoder checks frames against; fixed at construction. Kept apart from the
/// decoder's changing state so the decoding loop can hold a copy in registers instead of
/// reloading every field after each event is delivered.
#[derive(Copy, Clone, Debug)]
struct Rules {
    wire: &'static Wire,
    caps: &'static Caps,
    /// Frames must carry a mask (server of a masking dialect) ...
    require_mask: bool,
    /// ... or must not (client of a masking dialect).
    forbid_mask: bool,
    /// Frames start with a key or nonce that masks them whole (server of hybi-04..06).
    prefix: Prefix,
    max_frame: u64,
    max_message: u64,
    /// What RSV1 means: compressed payload, per message or per frame, once an extension
    /// gave it that meaning; reserved otherwise.
    compression: Option<Scope>,
}

/// Streaming decoder for length-framed dialects (hybi-03, hybi-04..08, RFC 6455).
///
/// Data frames are reported as soon as their header is complete, then payload bytes as they
/// arrive (unmasked in place); control frames (at most 125 bytes) once they are whole. When
/// a hybi-04..06 client masks its header too, an incomplete header is unmasked into a copy
/// only, so the bytes the caller keeps for the next call stay as they came.
#[derive(Debug)]
pub struct FramedDecoder {
    rules: Rules,
    state: State,
    /// hybi-04 server: the connection key every frame key is derived from.
    connection_key: Option<ConnectionKey>,
    /// hybi-04 server: the key of the frame whose payload is being read.
    long_key: [u8; 20],
    /// The open data message and the bytes declared for it so far.
    message: Option<MessageKind>,
    message_len: u64,
    /// Per message: the open message's first frame had RSV1.
    message_compressed: bool,
    utf8: Utf8Validator,
    error: Option<ProtocolError>,
}

impl FramedDecoder {
    /// A decoder for `dialect` (which must use length framing) playing `role`.
    ///
    /// A hybi-04 server needs the connection key from the handshake
    /// ([`FramedDecoder::with_connection_key`]); without it, the first client frame fails
    /// with [`ProtocolError::MissingConnectionKey`].
    ///
    /// # Panics
    /// If `dialect` uses sentinel framing; use [`super::Decoder::new`] to pick the right one.
    pub fn new(dialect: Dialect, role: Role, limits: &Limits) -> Self {
        Self::with_connection_key(dialect, role, limits, None)
    }

    /// [`FramedDecoder::new`] with hybi-04's connection key (docs/protocols.md §3.3), which
    /// a hybi-04 server needs to unmask client frames. Other dialects and roles ignore it, so
    /// callers may pass whatever the handshake gave them.
    ///
    /// # Panics
    /// If `dialect` uses sentinel framing.
    pub fn with_connection_key(
        dialect: Dialect,
        role: Role,
        limits: &Limits,
        connection_key: Option<ConnectionKey>,
    ) -> Self {
        let caps = dialect.caps();
        let Some(wire) = Wire::of(caps.framing) else {
            panic!("{dialect} is not length-framed");
        };
        let server = role == Role::Server;
        let prefix = match caps.masking {
            Masking::Sha1Nonce if server => Prefix::Nonce,
            Masking::WholeFrame if server => Prefix::Key,
            _ => Prefix::None,
        };
        let payload_masks = caps.masking == Masking::Payload;
        FramedDecoder {
            rules: Rules {
                wire,
                caps,
                require_mask: payload_masks && server,
                forbid_mask: payload_masks && !server,
                prefix,
                max_frame: limits.max_frame,
                max_message: limits.max_message,
                compression: None,
            },
            state: State::Header,
            connection_key,
            long_key: [0; 20],
            message: None,
            message_len: 0,
            message_compressed: false,
            utf8: Utf8Validator::new(),
            error: None,
        }
    }

    /// Give RSV1 the meaning a negotiated extension gives it: compressed payload, per
    /// message (permessage-deflate) or per frame (deflate-frame). Compressed payload is then
    /// reported as [`Event::Compressed`], and text is left for the inflating side to
    /// validate (what arrives here is not the text yet).
    pub fn set_compression(&mut self, scope: Option<Scope>) {
        self.rules.compression = scope;
    }

    #[inline]
    fn parse_header(rules: &Rules, buf: &[u8]) -> Result<Option<Header>, ProtocolError> {
        let (b0, b1) = match buf {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Ok(None),
        };
        // RSV1 is 0x40 on every wire that has it; an extension may have given it a meaning.
        let rsv1_free = if rules.compression.is_some() { 0x40 } else { 0 };
        if b0 & rules.wire.reserved0 & !rsv1_free != 0 || b1 & rules.wire.reserved1 != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        let rsv1 = b0 & rsv1_free != 0;
        let opcode = b0 & 0x0f;
        let op =
            rules.wire.ops[usize::from(opcode)].ok_or(ProtocolError::ReservedOpcode(opcode))?;
        let fin = (b0 & 0x80 != 0) != rules.wire.more_bit;
        let masked = rules.wire.mask_bit && b1 & 0x80 != 0;
        if masked && rules.forbid_mask {
            return Err(ProtocolError::MaskedFrame);
        }
        if !masked && rules.require_mask {
            return Err(ProtocolError::UnmaskedFrame);
        }
        let len7 = b1 & 0x7f;
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let size = 2 + ext + if masked { 4 } else { 0 };
        if buf.len() < size {
            return Ok(None);
        }
        let len = match len7 {
            126 => {
                let len = u64::from(u16::from_be_bytes([buf[2], buf[3]]));
                if rules.caps.minimal_length && len < 126 {
                    return Err(ProtocolError::NonMinimalLength);
                }
                len
            }
            127 => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&buf[2..10]);
                let len = u64::from_be_bytes(bytes);
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthTopBit);
                }
                if rules.caps.minimal_length && len <= 0xffff {
                    return Err(ProtocolError::NonMinimalLength);
                }
                len
            }
            n => u64::from(n),
        };
        let key = if masked {
            let mut k = [0u8; 4];
            k.copy_from_slice(&buf[size - 4..size]);
            Some(k)
        } else {
            None
        };
        Ok(Some(Header {
            fin,
            op,
            len,
            key,
            size,
            rsv1,
        }))
    }

    /// A hybi-04..06 client frame (docs/protocols.md §4.3, §4.4): 4 bytes of key or nonce,
    /// then the frame, masked from its first header byte. The header is unmasked into a copy
    /// and parsed there; the buffer is left as it is, so an incomplete header can be kept
    /// and offered again. Returns the header (its `size` counting the 4 bytes in front), the
    /// frame's mask, and the header length, which is where the payload's key rotation
    /// starts. Kept out of line: the RFC path's header parsing stays as small as it was.
    #[inline(never)]
    fn parse_prefixed(
        &self,
        rules: &Rules,
        buf: &[u8],
    ) -> Result<Option<(Header, FrameMask, usize)>, ProtocolError> {
        let [a, b, c, d, _, _, ..] = *buf else {
            return Ok(None);
        };
        let front = [a, b, c, d];
        let mask = match (rules.prefix, &self.connection_key) {
            (Prefix::Nonce, Some(key)) => FrameMask::Long(hybi04_frame_key(front, key)),
            (Prefix::Nonce, None) => return Err(ProtocolError::MissingConnectionKey),
            _ => FrameMask::Short(front),
        };
        // The longest header of these wires: 2 bytes and a 64-bit length (no MASK bit).
        let mut head = [0u8; 10];
        let n = (buf.len() - 4).min(head.len());
        head[..n].copy_from_slice(&buf[4..4 + n]);
        mask.apply(&mut head[..n], 0);
        Ok(Self::parse_header(rules, &head[..n])?.map(|mut header| {
            let header_len = header.size;
            header.size += 4;
            (header, mask, header_len)
        }))
    }

    /// The next frame header at the start of `buf`, with how its payload is masked and where
    /// the key rotation starts for the first payload byte.
    #[inline]
    fn next_header(
        &mut self,
        rules: &Rules,
        buf: &[u8],
    ) -> Result<Option<(Header, PayloadMask, u64)>, ProtocolError> {
        if rules.prefix == Prefix::None {
            return Ok(Self::parse_header(rules, buf)?.map(|header| {
                let mask = header.key.map_or(PayloadMask::Clear, PayloadMask::Short);
                (header, mask, 0)
            }));
        }
        Ok(self
            .parse_prefixed(rules, buf)?
            .map(|(header, mask, header_len)| {
                let mask = match mask {
                    FrameMask::Short(key) => PayloadMask::Short(key),
                    FrameMask::Long(key) => {
                        self.long_key = key;
                        PayloadMask::Long
                    }
                };
                (header, mask, header_len as u64)
            }))
    }

    /// Checks on a data frame header against the message state and the limits.
    fn admit_data_frame(
        &mut self,
        rules: &Rules,
        header: &Header,
    ) -> Result<Option<MessageKind>, ProtocolError> {
        let starts = match header.op {
            Op::Continuation if self.message.is_none() => {
                return Err(ProtocolError::UnexpectedContinuation)
            }
            Op::Continuation => None,
            _ if self.message.is_some() => return Err(ProtocolError::MessageNotFinished),
            Op::Text => Some(MessageKind::Text),
            _ => Some(MessageKind::Binary),
        };
        if header.len > rules.max_frame {
            return Err(ProtocolError::FrameTooLarge);
        }
        let so_far = if starts.is_some() {
            0
        } else {
            self.message_len
        };
        if so_far.saturating_add(header.len) > rules.max_message {
            return Err(ProtocolError::MessageTooLarge);
        }
        self.message_len = so_far + header.len;
        if let Some(kind) = starts {
            self.message = Some(kind);
        }
        Ok(starts)
    }

    fn close_frame<'a>(&self, body: &'a [u8]) -> Result<CloseFrame<'a>, ProtocolError> {
        if !self.rules.caps.close_codes {
            // hybi-01..05 close bodies are opaque; the peer expects them echoed.
            return Ok(CloseFrame {
                code: None,
                reason: "",
                body,
            });
        }
        match body {
            [] => Ok(CloseFrame {
                code: None,
                reason: "",
                body,
            }),
            [_] => Err(ProtocolError::CloseBodyTooShort),
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                if !close::is_valid_received(code, self.rules.caps.close_1004) {
                    return Err(ProtocolError::InvalidCloseCode(code));
                }
                let reason =
                    std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
                Ok(CloseFrame {
                    code: Some(code),
                    reason,
                    body,
                })
            }
        }
    }

    /// Decode from `buf[pos..]`: where the next call should start and what was found, its
    /// payload a range of `buf` (already unmasked and, for text, validated).
    #[inline]
    fn step(
        &mut self,
        rules: &Rules,
        buf: &mut [u8],
        mut pos: usize,
    ) -> Result<(usize, Found), ProtocolError> {
        loop {
            match self.state {
                State::Closed => return Ok((buf.len(), Found::Nothing)),
                State::Header => {
                    let Some((header, mask, mask_at)) = self.next_header(rules, &buf[pos..])?
                    else {
                        return Ok((pos, Found::Nothing));
                    };
                    if header.op.is_control() {
                        if header.rsv1 {
                            return Err(ProtocolError::MisplacedCompressedBit);
                        }
                        if !header.fin {
                            return Err(ProtocolError::FragmentedControlFrame);
                        }
                        if header.len > 125 {
                            return Err(ProtocolError::ControlFrameTooLong);
                        }
                        let start = pos + header.size;
                        let end = start + header.len as usize;
                        if buf.len() < end {
                            return Ok((pos, Found::Nothing));
                        }
                        mask.apply(&mut buf[start..end], &self.long_key, mask_at);
                        let found = match header.op {
                            Op::Ping => Found::Ping(start, end),
                            Op::Pong => Found::Pong(start, end),
                            _ => {
                                // The body is checked when the event is made (`event`).
                                self.state = State::Closed;
                                Found::Close(start, end)
                            }
                        };
                        return Ok((end, found));
                    }
                    let starts = self.admit_data_frame(rules, &header)?;
                    let compressed = match rules.compression {
                        None => false,
                        Some(Scope::Frame) => header.rsv1,
                        // RFC 7692 §6.1: RSV1 on the first frame marks the whole message.
                        Some(Scope::Message) if starts.is_some() => {
                            self.message_compressed = header.rsv1;
                            header.rsv1
                        }
                        Some(Scope::Message) if header.rsv1 => {
                            return Err(ProtocolError::MisplacedCompressedBit)
                        }
                        Some(Scope::Message) => self.message_compressed,
                    };
                    pos += header.size;
                    self.state = State::Payload {
                        remaining: header.len,
                        key: mask,
                        done: mask_at,
                        fin: header.fin,
                        compressed,
                    };
                    if let Some(kind) = starts {
                        // A compressed message's length is known once it is inflated.
                        let len = (header.fin && !compressed).then_some(header.len);
                        return Ok((pos, Found::Start { kind, len }));
                    }
                }
                State::Payload {
                    remaining: 0, fin, ..
                } => {
                    self.state = State::Header;
                    if fin {
                        let kind = self.message.take();
                        let validates = rules.compression.is_none();
                        if validates
                            && kind == Some(MessageKind::Text)
                            && self.utf8.finish().is_err()
                        {
                            return Err(ProtocolError::IncompleteUtf8);
                        }
                        return Ok((pos, Found::End));
                    }
                }
                State::Payload {
                    ref mut remaining,
                    key,
                    ref mut done,
                    compressed,
                    ..
                } => {
                    let available = buf.len() - pos;
                    if available == 0 {
                        return Ok((pos, Found::Nothing));
                    }
                    let n = (*remaining).min(available as u64) as usize;
                    let data = &mut buf[pos..pos + n];
                    key.apply(data, &self.long_key, *done);
                    *remaining -= n as u64;
                    *done += n as u64;
                    if compressed {
                        let frame_end = *remaining == 0;
                        let (start, end) = (pos, pos + n);
                        return Ok((
                            end,
                            Found::Compressed {
                                start,
                                end,
                                frame_end,
                            },
                        ));
                    }
                    if rules.compression.is_none()
                        && self.message == Some(MessageKind::Text)
                        && self.utf8.feed(data).is_err()
                    {
                        return Err(ProtocolError::InvalidUtf8);
                    }
                    return Ok((pos + n, Found::Data(pos, pos + n)));
                }
            }
        }
    }

    /// The event for what [`Self::step`] found in `buf`.
    #[inline]
    fn event<'a>(&self, buf: &'a [u8], found: Found) -> Result<Option<Event<'a>>, ProtocolError> {
        Ok(Some(match found {
            Found::Nothing => return Ok(None),
            Found::Start { kind, len } => Event::MessageStart { kind, len },
            Found::Data(start, end) => Event::Data(&buf[start..end]),
            Found::Compressed {
                start,
                end,
                frame_end,
            } => Event::Compressed {
                data: &buf[start..end],
                frame_end,
            },
            Found::End => Event::MessageEnd,
            Found::Ping(start, end) => Event::Ping(&buf[start..end]),
            Found::Pong(start, end) => Event::Pong(&buf[start..end]),
            Found::Close(start, end) => Event::Close(self.close_frame(&buf[start..end])?),
        }))
    }
}

impl Decode for FramedDecoder {
    #[inline]
    fn decode<'a>(
        &mut self,
        buf: &'a mut [u8],
    ) -> Result<(usize, Option<Event<'a>>), ProtocolError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let rules = self.rules;
        let result = match self.step(&rules, buf, 0) {
            Ok((n, found)) => self.event(buf, found).map(|event| (n, event)),
            Err(e) => Err(e),
        };
        result.inspect_err(|e| self.error = Some(*e))
    }

    /// Same contract and result as the provided method (one [`Decode::decode`] call per
    /// event), but each kind of event is built right where it is handed to `on_event`, so
    /// the consumer gets its fields directly rather than a copy of a whole `Event`.
    fn decode_each(
        &mut self,
        buf: &mut [u8],
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<usize, ProtocolError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let rules = self.rules;
        let mut pos = 0;
        loop {
            let (next, found) = self
                .step(&rules, buf, pos)
                .inspect_err(|e| self.error = Some(*e))?;
            pos = next;
            match found {
                Found::Nothing => return Ok(pos),
                Found::Start { kind, len } => on_event(Event::MessageStart { kind, len }),
                Found::Data(start, end) => on_event(Event::Data(&buf[start..end])),
                Found::End => on_event(Event::MessageEnd),
                found => {
                    let event = self
                        .event(buf, found)
                        .inspect_err(|e| self.error = Some(*e))?;
                    if let Some(event) = event {
                        on_event(event);
                    }
                }
            }
        }
    }

    fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }
}
