//! Encoding, per dialect and role: frame headers for whole messages, for messages whose
//! length is unknown up front, control frames, and client masking (after the length from
//! hybi-07, over the whole frame from in front in hybi-04..06).

use super::mask::{hybi04_frame_key, ConnectionKey, FrameMask};
use super::wire::{FrameHead, Op, Wire};
use crate::close;
use crate::dialect::{Caps, Dialect, Masking, Role};
use crate::error::EncodeError;
use crate::event::MessageKind;
use sha1::{Digest, Sha1};

/// A control frame type.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// Ping.
    Ping,
    /// Pong.
    Pong,
    /// Close, with a raw body (see [`Encoder::close`] to build one from a code and reason).
    Close,
}

/// Masking keys for client frames (and hybi-04's frame nonces): SHA-1 over a 128-bit seed
/// from the OS and a counter, so keys are unpredictable to anyone who does not know the seed
/// (RFC 6455 §10.3), without the codec touching the OS itself.
#[derive(Clone)]
struct MaskKeys {
    seed: [u8; 16],
    counter: u64,
    block: [u8; 20],
    used: usize,
}

impl MaskKeys {
    fn new(seed: [u8; 16]) -> Self {
        MaskKeys {
            seed,
            counter: 0,
            block: [0; 20],
            used: 20,
        }
    }

    fn next(&mut self) -> [u8; 4] {
        if self.used == 20 {
            let mut h = Sha1::new();
            h.update(self.seed);
            h.update(self.counter.to_le_bytes());
            self.block.copy_from_slice(&h.finalize());
            self.counter += 1;
            self.used = 0;
        }
        let k = &self.block[self.used..self.used + 4];
        self.used += 4;
        [k[0], k[1], k[2], k[3]]
    }
}

impl std::fmt::Debug for MaskKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskKeys { .. }")
    }
}

#[derive(Copy, Clone, Debug)]
struct OpenMessage {
    kind: MessageKind,
    /// Bytes still owed when the length was declared at `begin`.
    remaining: Option<u64>,
    /// No fragment has been written yet (unknown-length messages on framed dialects).
    first: bool,
}

/// Builds the framing bytes for one connection's outgoing direction.
///
/// Headers are returned as [`FrameHead`] values on the stack; the caller writes the header
/// and then the payload (after [`Encoder::mask_payload`] for clients), so payloads are never
/// copied by the encoder and nothing is allocated per frame. A hybi-04..06 client's head
/// holds the 4 bytes of key or nonce and the header already masked; its payload continues
/// the same key rotation (docs/protocols.md §4.3, §4.4).
///
/// ```
/// use ws_protocols::frame::Encoder;
/// use ws_protocols::{Dialect, MessageKind};
///
/// let mut out = Vec::new();
/// let mut rfc = Encoder::server(Dialect::Rfc6455);
/// rfc.message(MessageKind::Text, b"Hello", &mut out).unwrap();
/// assert_eq!(out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
///
/// out.clear();
/// let mut hixie = Encoder::server(Dialect::Hixie76);
/// hixie.message(MessageKind::Text, b"Hello", &mut out).unwrap();
/// assert_eq!(out, b"\x00Hello\xff");
/// ```
#[derive(Debug)]
pub struct Encoder {
    caps: &'static Caps,
    wire: Option<&'static Wire>,
    /// Some for a client of a masking dialect.
    keys: Option<MaskKeys>,
    /// hybi-04 client: the connection key each frame key is derived from.
    connection_key: Option<ConnectionKey>,
    open: Option<OpenMessage>,
    /// Mask of the frame whose payload is being written, and where its key rotation stands
    /// (payload bytes masked so far, plus the header's when the mask covers it).
    frame_mask: Option<FrameMask>,
    masked: usize,
    /// The next data frame carries RSV1 (compressed payload).
    rsv1_next: bool,
}

/// What a hybi-04 client cannot send without the connection key of its handshake.
const NO_CONNECTION_KEY: &str = "hybi-04 frames without the handshake's connection key";

impl Encoder {
    /// An encoder for a server talking `dialect`: frames are never masked.
    pub fn server(dialect: Dialect) -> Self {
        Self::new(dialect, Role::Server, [0; 16])
    }

    /// An encoder for a client talking `dialect`. `mask_seed` must come from the OS random
    /// source; masking keys are derived from it (hybi-04 onwards clients mask). A hybi-04
    /// client needs [`Encoder::client_with_connection_key`] instead: without the key, every
    /// frame is refused with [`EncodeError::Unsupported`].
    pub fn client(dialect: Dialect, mask_seed: [u8; 16]) -> Self {
        Self::client_with_connection_key(dialect, mask_seed, None)
    }

    /// [`Encoder::client`] with hybi-04's connection key, which the client learns from the
    /// server's `Sec-WebSocket-Nonce` ([`crate::handshake::ServerResponse::connection_key`]).
    /// Other dialects ignore it, so callers may pass on whatever the handshake returned.
    pub fn client_with_connection_key(
        dialect: Dialect,
        mask_seed: [u8; 16],
        connection_key: Option<ConnectionKey>,
    ) -> Self {
        let mut encoder = Self::new(dialect, Role::Client, mask_seed);
        encoder.connection_key = connection_key;
        encoder
    }

    fn new(dialect: Dialect, role: Role, seed: [u8; 16]) -> Self {
        let caps = dialect.caps();
        let masks = role == Role::Client && caps.masking != Masking::None;
        Encoder {
            caps,
            wire: Wire::of(caps.framing),
            keys: masks.then(|| MaskKeys::new(seed)),
            connection_key: None,
            open: None,
            frame_mask: None,
            masked: 0,
            rsv1_next: false,
        }
    }

    /// Set RSV1 on the next data frame written (by [`Encoder::begin`] with a length,
    /// [`Encoder::chunk`] or [`Encoder::end`]): its payload is compressed. Which frames
    /// carry it is the extension's rule (permessage-deflate: a message's first frame only;
    /// deflate-frame: every compressed frame); the encoder only writes the bit.
    pub fn mark_compressed(&mut self) {
        debug_assert!(matches!(
            self.caps.masking,
            Masking::Payload | Masking::None
        ));
        self.rsv1_next = true;
    }

    /// True while a message begun with [`Encoder::begin`] has not been ended.
    pub fn in_message(&self) -> bool {
        self.open.is_some()
    }

    /// Whether payload must go through [`Encoder::mask_payload`] (a hybi-04+ client); when
    /// false, payload bytes go on the wire as they are.
    pub fn masks(&self) -> bool {
        self.keys.is_some()
    }

    /// The kind of the message begun with [`Encoder::begin`] and not yet ended.
    pub fn open_kind(&self) -> Option<MessageKind> {
        self.open.map(|open| open.kind)
    }

    /// A hybi-04 client made without its connection key cannot mask any frame.
    fn check_connection_key(&self) -> Result<(), EncodeError> {
        if self.keys.is_some()
            && self.caps.masking == Masking::Sha1Nonce
            && self.connection_key.is_none()
        {
            return Err(EncodeError::Unsupported(NO_CONNECTION_KEY));
        }
        Ok(())
    }

    /// The head of a frame as this role writes it, with the mask its payload goes through
    /// and where that mask's rotation stands at the first payload byte. Leaves the data
    /// frame's mask (`frame_mask`) alone, so a control frame can use it between fragments.
    fn frame(
        &mut self,
        wire: &'static Wire,
        op: Op,
        fin: bool,
        len: u64,
    ) -> Result<(FrameHead, Option<FrameMask>, usize), EncodeError> {
        let Some(keys) = self.keys.as_mut() else {
            return Ok((FrameHead::framed(wire, op, fin, len, None), None, 0));
        };
        let front = keys.next();
        let mask = match self.caps.masking {
            // RFC 6455 §5.3: the key follows the length and masks the payload only.
            Masking::Payload | Masking::None => {
                let head = FrameHead::framed(wire, op, fin, len, Some(front));
                return Ok((head, Some(FrameMask::Short(front)), 0));
            }
            // docs/protocols.md §4.4: the 4 bytes go first and mask the header too.
            Masking::WholeFrame => FrameMask::Short(front),
            // docs/protocols.md §4.3: the 4 bytes are a nonce; the frame key is its SHA-1
            // with the connection key.
            Masking::Sha1Nonce => {
                let key = self
                    .connection_key
                    .as_ref()
                    .ok_or(EncodeError::Unsupported(NO_CONNECTION_KEY))?;
                FrameMask::Long(hybi04_frame_key(front, key))
            }
        };
        let mut header = FrameHead::framed(wire, op, fin, len, None);
        mask.apply(header.as_mut_slice(), 0);
        let mut head = FrameHead::from_slice(&front);
        head.push(&header);
        Ok((head, Some(mask), header.len()))
    }

    /// [`Encoder::frame`] for a data frame, whose payload [`Encoder::mask_payload`] masks.
    fn data_frame(
        &mut self,
        wire: &'static Wire,
        op: Op,
        fin: bool,
        len: u64,
    ) -> Result<FrameHead, EncodeError> {
        let rsv1 = std::mem::take(&mut self.rsv1_next);
        let mut head = if self.keys.is_none() {
            // A server (or an unmasked dialect): the plain head, no mask to keep. Kept apart
            // from `frame`, whose result carries a mask, so the common case stays small.
            self.frame_mask = None;
            self.masked = 0;
            FrameHead::framed(wire, op, fin, len, None)
        } else {
            let (head, mask, at) = self.frame(wire, op, fin, len)?;
            self.frame_mask = mask;
            self.masked = at;
            head
        };
        if rsv1 {
            // Only dialects whose header starts the head (not masked from in front) have
            // an extension that sets RSV1.
            head.set_rsv1();
        }
        Ok(head)
    }

    fn data_op(kind: MessageKind) -> Op {
        match kind {
            MessageKind::Text => Op::Text,
            MessageKind::Binary => Op::Binary,
        }
    }

    /// Whether a data frame's payload is only partly written: a frame of declared length
    /// (one begun with `len` known) whose bytes have not all gone through
    /// [`Encoder::chunk`]. Control frames must wait until it is false; fragments of
    /// unknown-length messages end with each chunk, so controls may go between them.
    pub fn mid_frame(&self) -> bool {
        self.open
            .as_ref()
            .is_some_and(|o| o.remaining.is_some_and(|r| r > 0))
    }

    /// Start a message. With `len` known, framed dialects get one frame of that length and
    /// hixie binary gets a length-prefixed frame; with `len` unknown, framed dialects stream
    /// fragments (one per [`Encoder::chunk`]) and hixie text streams inside `00 .. FF`.
    /// Binary of unknown length cannot be carried by hixie dialects.
    pub fn begin(&mut self, kind: MessageKind, len: Option<u64>) -> Result<FrameHead, EncodeError> {
        if self.open.is_some() {
            return Err(EncodeError::MessageInProgress);
        }
        self.check_connection_key()?;
        let head = match (self.wire, kind, len) {
            (Some(wire), _, Some(len)) => self.data_frame(wire, Self::data_op(kind), true, len)?,
            (Some(_), _, None) => FrameHead::empty(),
            (None, MessageKind::Text, _) => FrameHead::from_slice(&[0x00]),
            (None, MessageKind::Binary, Some(len)) => hixie_length_prefix(0x80, len),
            (None, MessageKind::Binary, None) => {
                return Err(EncodeError::Unsupported("binary of unknown length"))
            }
        };
        self.open = Some(OpenMessage {
            kind,
            remaining: len,
            first: true,
        });
        Ok(head)
    }

    /// The header to write before the next `len` payload bytes of the open message (empty
    /// except for fragments of unknown-length messages on framed dialects). Call
    /// [`Encoder::mask_payload`] on those bytes before writing them.
    pub fn chunk(&mut self, len: usize) -> Result<FrameHead, EncodeError> {
        let open = self.open.as_mut().ok_or(EncodeError::NoMessage)?;
        match (open.remaining.as_mut(), self.wire) {
            (Some(remaining), _) => {
                *remaining = remaining
                    .checked_sub(len as u64)
                    .ok_or(EncodeError::LengthMismatch)?;
                Ok(FrameHead::empty())
            }
            (None, Some(_)) if len == 0 => Ok(FrameHead::empty()),
            (None, Some(wire)) => {
                let op = if open.first {
                    Self::data_op(open.kind)
                } else {
                    Op::Continuation
                };
                let head = self.data_frame(wire, op, false, len as u64)?;
                if let Some(open) = self.open.as_mut() {
                    open.first = false;
                }
                Ok(head)
            }
            (None, None) => Ok(FrameHead::empty()),
        }
    }

    /// Mask payload bytes just announced by [`Encoder::chunk`] or [`Encoder::begin`], in
    /// place (a no-op unless this is a hybi-04+ client).
    pub fn mask_payload(&mut self, payload: &mut [u8]) {
        if let Some(mask) = self.frame_mask {
            mask.apply(payload, self.masked);
            self.masked += payload.len();
        }
    }

    /// Finish the open message: the final empty fragment (framed, unknown length) or the
    /// hixie `FF`; checks that a declared length was met exactly.
    pub fn end(&mut self) -> Result<FrameHead, EncodeError> {
        let open = self.open.ok_or(EncodeError::NoMessage)?;
        if open.remaining.is_some_and(|r| r != 0) {
            return Err(EncodeError::LengthMismatch);
        }
        self.open = None;
        Ok(match (self.wire, open.remaining, open.kind) {
            (Some(wire), None, kind) => {
                // A zero-length final frame is legal (RFC 6455 §5.4); it also carries the
                // opcode when no fragment was written at all.
                let op = if open.first {
                    Self::data_op(kind)
                } else {
                    Op::Continuation
                };
                self.data_frame(wire, op, true, 0)?
            }
            (None, _, MessageKind::Text) => FrameHead::from_slice(&[0xff]),
            _ => FrameHead::empty(),
        })
    }

    /// Encode a whole message into `out` (header, masked payload, trailer).
    pub fn message(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let head = self.begin(kind, Some(payload.len() as u64))?;
        out.extend_from_slice(&head);
        let start = out.len();
        out.extend_from_slice(payload);
        self.chunk(payload.len())?;
        self.mask_payload(&mut out[start..]);
        out.extend_from_slice(&self.end()?);
        Ok(())
    }

    /// Encode a control frame with a raw payload into `out`. Framed dialects may send it in
    /// the middle of a message, between its frames, but not inside a frame's payload
    /// ([`EncodeError::InsideFrame`] while [`Encoder::mid_frame`]); hixie has no ping or pong, and hixie-76's only control frame
    /// is the close `FF 00`, which cannot interrupt a text frame.
    pub fn control(
        &mut self,
        control: Control,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if payload.len() > 125 {
            return Err(EncodeError::ControlTooLong);
        }
        if self.mid_frame() {
            return Err(EncodeError::InsideFrame);
        }
        let Some(wire) = self.wire else {
            return match control {
                Control::Close if self.caps.close_frame && self.open.is_none() => {
                    out.extend_from_slice(&[0xff, 0x00]);
                    Ok(())
                }
                Control::Close if self.caps.close_frame => Err(EncodeError::MessageInProgress),
                Control::Close => Err(EncodeError::Unsupported("a close frame")),
                _ => Err(EncodeError::Unsupported("ping or pong")),
            };
        };
        let op = match control {
            Control::Ping => Op::Ping,
            Control::Pong => Op::Pong,
            Control::Close => Op::Close,
        };
        // A control frame has its own key; the open message's frame keeps its own.
        self.check_connection_key()?;
        let (head, mask, at) = self.frame(wire, op, true, payload.len() as u64)?;
        out.extend_from_slice(&head);
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(mask) = mask {
            mask.apply(&mut out[start..], at);
        }
        Ok(())
    }

    /// Encode a close frame: code and reason where the dialect has them (hybi-06+), an empty
    /// body for hybi-03..05, `FF 00` for hixie-76. hixie-75 has no close frame (close the TCP
    /// connection instead): [`EncodeError::Unsupported`].
    pub fn close(
        &mut self,
        code: Option<u16>,
        reason: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if !self.caps.close_codes {
            return self.control(Control::Close, &[], out);
        }
        let mut body = [0u8; 125];
        let len = match code {
            None if reason.is_empty() => 0,
            None => return Err(EncodeError::InvalidCloseCode(close::NO_STATUS)),
            Some(code) if !close::is_valid_sent(code) => {
                return Err(EncodeError::InvalidCloseCode(code))
            }
            Some(_) if reason.len() > 123 => return Err(EncodeError::ControlTooLong),
            Some(code) => {
                body[..2].copy_from_slice(&code.to_be_bytes());
                body[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
                2 + reason.len()
            }
        };
        self.control(Control::Close, &body[..len], out)
    }
}

/// `T` then the base-128 length, most significant digit first, bit 7 = more digits follow.
fn hixie_length_prefix(frame_type: u8, len: u64) -> FrameHead {
    let mut digits = [0u8; 10];
    let mut n = 0;
    let mut rest = len;
    loop {
        digits[n] = (rest & 0x7f) as u8;
        n += 1;
        rest >>= 7;
        if rest == 0 {
            break;
        }
    }
    let mut head = FrameHead::from_slice(&[frame_type]);
    for i in (0..n).rev() {
        let more = if i > 0 { 0x80 } else { 0 };
        head.push(&[digits[i] | more]);
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hixie_length_examples_from_protocols_md_4_1() {
        for (len, bytes) in [
            (0u64, &[0x00][..]),
            (127, &[0x7f]),
            (128, &[0x81, 0x00]),
            (300, &[0x82, 0x2c]),
            (16384, &[0x81, 0x80, 0x00]),
        ] {
            let head = hixie_length_prefix(0x80, len);
            assert_eq!(&head[1..], bytes, "length {len}");
        }
    }
}
