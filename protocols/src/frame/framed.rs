//! Decoder for the length-framed families: hybi-01..03 (MORE bit) and hybi-07/08/13.

use super::mask::apply_mask;
use super::wire::{Op, Wire, HYBI, MORE_BIT};
use super::Decode;
use crate::close;
use crate::dialect::{Caps, Dialect, Framing, Role};
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
        key: Option<[u8; 4]>,
        /// Payload bytes of this frame already unmasked: where the key rotation stands.
        done: u64,
        fin: bool,
    },
    /// The peer's close frame was decoded; everything after it is ignored.
    Closed,
}

/// A parsed header, before any check that depends on connection state.
struct Header {
    fin: bool,
    op: Op,
    len: u64,
    key: Option<[u8; 4]>,
    size: usize,
}

/// Streaming decoder for length-framed dialects (hybi-03, hybi-07, hybi-08, RFC 6455).
///
/// Data frames are reported as soon as their header is complete, then payload bytes as they
/// arrive (unmasked in place); control frames (at most 125 bytes) once they are whole.
#[derive(Debug)]
pub struct FramedDecoder {
    wire: &'static Wire,
    caps: &'static Caps,
    /// Frames must carry a mask (server of a masking dialect) ...
    require_mask: bool,
    /// ... or must not (client of a masking dialect).
    forbid_mask: bool,
    max_frame: u64,
    max_message: u64,
    state: State,
    /// The open data message and the bytes declared for it so far.
    message: Option<MessageKind>,
    message_len: u64,
    utf8: Utf8Validator,
    error: Option<ProtocolError>,
}

impl FramedDecoder {
    /// A decoder for `dialect` (which must use length framing) playing `role`.
    ///
    /// # Panics
    /// If `dialect` uses sentinel framing; use [`super::Decoder::new`] to pick the right one.
    pub fn new(dialect: Dialect, role: Role, limits: &Limits) -> Self {
        let caps = dialect.caps();
        let wire = match caps.framing {
            Framing::Hybi => &HYBI,
            Framing::MoreBit => &MORE_BIT,
            Framing::Sentinel => panic!("{dialect} is not length-framed"),
        };
        FramedDecoder {
            wire,
            caps,
            require_mask: caps.client_masks && role == Role::Server,
            forbid_mask: caps.client_masks && role == Role::Client,
            max_frame: limits.max_frame,
            max_message: limits.max_message,
            state: State::Header,
            message: None,
            message_len: 0,
            utf8: Utf8Validator::new(),
            error: None,
        }
    }

    fn parse_header(&self, buf: &[u8]) -> Result<Option<Header>, ProtocolError> {
        let (b0, b1) = match buf {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Ok(None),
        };
        if b0 & self.wire.reserved0 != 0 || b1 & self.wire.reserved1 != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        let opcode = b0 & 0x0f;
        let op = self.wire.ops[usize::from(opcode)].ok_or(ProtocolError::ReservedOpcode(opcode))?;
        let fin = (b0 & 0x80 != 0) != self.wire.more_bit;
        let masked = self.wire.mask_bit && b1 & 0x80 != 0;
        if masked && self.forbid_mask {
            return Err(ProtocolError::MaskedFrame);
        }
        if !masked && self.require_mask {
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
                if self.caps.minimal_length && len < 126 {
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
                if self.caps.minimal_length && len <= 0xffff {
                    return Err(ProtocolError::NonMinimalLength);
                }
                len
            }
            n => u64::from(n),
        };
        let key = masked.then(|| {
            let k = &buf[2 + ext..size];
            [k[0], k[1], k[2], k[3]]
        });
        Ok(Some(Header {
            fin,
            op,
            len,
            key,
            size,
        }))
    }

    /// Checks on a data frame header against the message state and the limits.
    fn admit_data_frame(&mut self, header: &Header) -> Result<Option<MessageKind>, ProtocolError> {
        let starts = match header.op {
            Op::Continuation if self.message.is_none() => {
                return Err(ProtocolError::UnexpectedContinuation)
            }
            Op::Continuation => None,
            _ if self.message.is_some() => return Err(ProtocolError::MessageNotFinished),
            Op::Text => Some(MessageKind::Text),
            _ => Some(MessageKind::Binary),
        };
        if header.len > self.max_frame {
            return Err(ProtocolError::FrameTooLarge);
        }
        let so_far = if starts.is_some() {
            0
        } else {
            self.message_len
        };
        if so_far.saturating_add(header.len) > self.max_message {
            return Err(ProtocolError::MessageTooLarge);
        }
        self.message_len = so_far + header.len;
        if let Some(kind) = starts {
            self.message = Some(kind);
        }
        Ok(starts)
    }

    fn close_frame<'a>(&self, body: &'a [u8]) -> Result<CloseFrame<'a>, ProtocolError> {
        if !self.caps.close_codes {
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
                if !close::is_valid_received(code, self.caps.close_1004) {
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

    fn step<'a>(&mut self, buf: &'a mut [u8]) -> Result<(usize, Option<Event<'a>>), ProtocolError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Closed => return Ok((buf.len(), None)),
                State::Header => {
                    let Some(header) = self.parse_header(&buf[pos..])? else {
                        return Ok((pos, None));
                    };
                    if header.op.is_control() {
                        if !header.fin {
                            return Err(ProtocolError::FragmentedControlFrame);
                        }
                        if header.len > 125 {
                            return Err(ProtocolError::ControlFrameTooLong);
                        }
                        let end = pos + header.size + header.len as usize;
                        if buf.len() < end {
                            return Ok((pos, None));
                        }
                        let payload = &mut buf[pos + header.size..end];
                        if let Some(key) = header.key {
                            apply_mask(payload, key, 0);
                        }
                        let payload = &*payload;
                        let event = match header.op {
                            Op::Ping => Event::Ping(payload),
                            Op::Pong => Event::Pong(payload),
                            _ => {
                                self.state = State::Closed;
                                Event::Close(self.close_frame(payload)?)
                            }
                        };
                        return Ok((end, Some(event)));
                    }
                    let starts = self.admit_data_frame(&header)?;
                    pos += header.size;
                    self.state = State::Payload {
                        remaining: header.len,
                        key: header.key,
                        done: 0,
                        fin: header.fin,
                    };
                    if let Some(kind) = starts {
                        let len = header.fin.then_some(header.len);
                        return Ok((pos, Some(Event::MessageStart { kind, len })));
                    }
                }
                State::Payload {
                    remaining: 0, fin, ..
                } => {
                    self.state = State::Header;
                    if fin {
                        let kind = self.message.take();
                        if kind == Some(MessageKind::Text) && self.utf8.finish().is_err() {
                            return Err(ProtocolError::IncompleteUtf8);
                        }
                        return Ok((pos, Some(Event::MessageEnd)));
                    }
                }
                State::Payload {
                    ref mut remaining,
                    key,
                    ref mut done,
                    ..
                } => {
                    let available = buf.len() - pos;
                    if available == 0 {
                        return Ok((pos, None));
                    }
                    let n = (*remaining).min(available as u64) as usize;
                    let data = &mut buf[pos..pos + n];
                    if let Some(key) = key {
                        apply_mask(data, key, (*done % 4) as usize);
                    }
                    *remaining -= n as u64;
                    *done += n as u64;
                    if self.message == Some(MessageKind::Text) && self.utf8.feed(data).is_err() {
                        return Err(ProtocolError::InvalidUtf8);
                    }
                    return Ok((pos + n, Some(Event::Data(data))));
                }
            }
        }
    }
}

impl Decode for FramedDecoder {
    fn decode<'a>(
        &mut self,
        buf: &'a mut [u8],
    ) -> Result<(usize, Option<Event<'a>>), ProtocolError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        self.step(buf).inspect_err(|e| self.error = Some(*e))
    }

    fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }
}
