//! Decoder for hixie-75 and hixie-76 (= hybi-00) framing (docs/protocols.md §4.1):
//!
//! ```text
//! text frame:       00 <UTF-8, never FF> FF
//! length-prefixed:  T (80..FF) L1 .. Ln <len bytes>   Li: bit 7 = more length bytes follow
//! close (76 only):  FF 00
//! ```
//!
//! Text frames stream out as they arrive (the length is unknown until `FF`). A length-prefixed
//! frame of type `80` is delivered as a binary message (our own policy for hixie binary, which
//! the draft defines as syntax only); other types are consumed and discarded, as browsers did.

use super::Decode;
use crate::dialect::{Caps, Dialect, Framing};
use crate::error::ProtocolError;
use crate::event::{CloseFrame, Event, MessageKind};
use crate::limits::Limits;
use crate::utf8::Utf8Validator;

/// Whether `bytes` may go inside a hixie `00 .. FF` text frame: they must not hold `FF`, which
/// would end the frame early (valid UTF-8 never does). Vectorised, since an encoder that
/// streams text into a hixie frame checks every byte.
///
/// ```
/// use ws_protocols::frame::fits_hixie_text;
/// assert!(fits_hixie_text("caf\u{e9}".as_bytes()));
/// assert!(!fits_hixie_text(&[b'a', 0xff, b'b']));
/// ```
pub fn fits_hixie_text(bytes: &[u8]) -> bool {
    memchr::memchr(0xff, bytes).is_none()
}

/// Enough base-128 digits for any length below 2^63; more is a hostile prefix.
const MAX_LENGTH_BYTES: u8 = 9;

#[derive(Debug)]
enum State {
    /// Expecting a frame type byte.
    Idle,
    /// Inside a `00 ... FF` text frame.
    Text,
    /// Inside a sentinel frame of an unknown type (`01`..`7F`): skip to its `FF`.
    SkipToSentinel { skipped: u64 },
    /// Reading the base-128 length of a frame whose type byte was `frame_type`.
    Length {
        frame_type: u8,
        len: u64,
        digits: u8,
    },
    /// Inside the payload of a length-prefixed binary (`80`) frame.
    Binary { remaining: u64 },
    /// Inside a length-prefixed frame of another type: discard.
    Skip { remaining: u64 },
    /// Close received (`FF 00`): the rest of the stream is ignored.
    Closed,
}

/// Streaming decoder for hixie-75 and hixie-76.
#[derive(Debug)]
pub struct SentinelDecoder {
    caps: &'static Caps,
    max_frame: u64,
    max_message: u64,
    state: State,
    message_len: u64,
    utf8: Utf8Validator,
    error: Option<ProtocolError>,
}

impl SentinelDecoder {
    /// A decoder for `dialect` (hixie-75 or hixie-76). Both roles decode the same way.
    ///
    /// # Panics
    /// If `dialect` is length-framed; use [`super::Decoder::new`] to pick the right one.
    pub fn new(dialect: Dialect, limits: &Limits) -> Self {
        let caps = dialect.caps();
        assert_eq!(
            caps.framing,
            Framing::Sentinel,
            "{dialect} is not sentinel-framed"
        );
        SentinelDecoder {
            caps,
            max_frame: limits.max_frame,
            max_message: limits.max_message,
            state: State::Idle,
            message_len: 0,
            utf8: Utf8Validator::new(),
            error: None,
        }
    }

    fn step<'a>(&mut self, buf: &'a mut [u8]) -> Result<(usize, Option<Event<'a>>), ProtocolError> {
        let mut pos = 0;
        loop {
            if pos == buf.len() && !matches!(self.state, State::Binary { remaining: 0 }) {
                return Ok((pos, None));
            }
            match self.state {
                State::Closed => return Ok((buf.len(), None)),
                State::Idle => {
                    let frame_type = buf[pos];
                    pos += 1;
                    if frame_type == 0x00 {
                        self.state = State::Text;
                        self.message_len = 0;
                        let start = Event::MessageStart {
                            kind: MessageKind::Text,
                            len: None,
                        };
                        return Ok((pos, Some(start)));
                    } else if frame_type & 0x80 == 0 {
                        self.state = State::SkipToSentinel { skipped: 0 };
                    } else {
                        self.state = State::Length {
                            frame_type,
                            len: 0,
                            digits: 0,
                        };
                    }
                }
                State::Text => {
                    let rest = &buf[pos..];
                    let end = memchr::memchr(0xff, rest);
                    let n = end.unwrap_or(rest.len());
                    if n == 0 {
                        // The terminating FF.
                        pos += 1;
                        self.state = State::Idle;
                        if self.utf8.finish().is_err() {
                            return Err(ProtocolError::IncompleteUtf8);
                        }
                        return Ok((pos, Some(Event::MessageEnd)));
                    }
                    // Clamp at the limit so the error is the same however input is split:
                    // bytes up to the limit are validated and delivered, the next one fails.
                    let allowance = self.max_message - self.message_len;
                    if allowance == 0 {
                        return Err(ProtocolError::MessageTooLarge);
                    }
                    let n = n.min(usize::try_from(allowance).unwrap_or(usize::MAX));
                    self.message_len += n as u64;
                    let data = &buf[pos..pos + n];
                    if self.utf8.feed(data).is_err() {
                        return Err(ProtocolError::InvalidUtf8);
                    }
                    return Ok((pos + n, Some(Event::Data(data))));
                }
                State::SkipToSentinel { ref mut skipped } => {
                    let rest = &buf[pos..];
                    let end = memchr::memchr(0xff, rest);
                    let n = end.unwrap_or(rest.len());
                    *skipped += n as u64;
                    if *skipped > self.max_message {
                        return Err(ProtocolError::MessageTooLarge);
                    }
                    pos += n;
                    if end.is_some() {
                        pos += 1;
                        self.state = State::Idle;
                    }
                }
                State::Length {
                    frame_type,
                    ref mut len,
                    ref mut digits,
                } => {
                    let b = buf[pos];
                    pos += 1;
                    *digits += 1;
                    if *digits > MAX_LENGTH_BYTES {
                        return Err(ProtocolError::LengthOverflow);
                    }
                    *len = (*len << 7) | u64::from(b & 0x7f);
                    if *len > self.max_frame {
                        return Err(ProtocolError::FrameTooLarge);
                    }
                    if b & 0x80 != 0 {
                        continue;
                    }
                    let len = *len;
                    if frame_type == 0xff && len == 0 && self.caps.close_frame {
                        self.state = State::Closed;
                        let close = CloseFrame {
                            code: None,
                            reason: "",
                            body: &[],
                        };
                        return Ok((pos, Some(Event::Close(close))));
                    }
                    if frame_type == 0x80 {
                        if len > self.max_message {
                            return Err(ProtocolError::MessageTooLarge);
                        }
                        self.state = State::Binary { remaining: len };
                        let start = Event::MessageStart {
                            kind: MessageKind::Binary,
                            len: Some(len),
                        };
                        return Ok((pos, Some(start)));
                    }
                    self.state = State::Skip { remaining: len };
                }
                State::Binary { remaining: 0 } => {
                    self.state = State::Idle;
                    return Ok((pos, Some(Event::MessageEnd)));
                }
                State::Binary { ref mut remaining } | State::Skip { ref mut remaining } => {
                    let n = (*remaining).min((buf.len() - pos) as u64) as usize;
                    *remaining -= n as u64;
                    if matches!(self.state, State::Skip { remaining: 0 }) {
                        self.state = State::Idle;
                    }
                    if matches!(self.state, State::Binary { .. }) {
                        let data = &buf[pos..pos + n];
                        return Ok((pos + n, Some(Event::Data(data))));
                    }
                    pos += n;
                }
            }
        }
    }
}

impl Decode for SentinelDecoder {
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
