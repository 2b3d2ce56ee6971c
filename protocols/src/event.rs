//! What a decoder reports: message boundaries, payload chunks and control frames.

/// The type of a data message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text, validated incrementally by the decoder.
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// One decoded event. Payload slices borrow the caller's buffer (unmasked in place), so a
/// message of any size passes through without being copied or held whole.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A data message begins. `len` is its total length when the wire says it up front (an
    /// unfragmented hybi frame, a hixie length-prefixed frame), `None` otherwise.
    MessageStart {
        /// Text or binary.
        kind: MessageKind,
        /// Total payload length, when known before the payload.
        len: Option<u64>,
    },
    /// The next bytes of the open message's payload (never empty).
    Data(&'a [u8]),
    /// The next bytes of the open message's payload, compressed (never empty). Only from a
    /// decoder told that compression was negotiated ([`crate::Decoder::set_compression`]);
    /// [`crate::compression::Inflater`] turns them into plaintext.
    Compressed {
        /// The compressed bytes.
        data: &'a [u8],
        /// These are the last bytes of their frame (deflate-frame ends a stream there).
        frame_end: bool,
    },
    /// The open message is complete (and, for text, valid UTF-8 to the end).
    MessageEnd,
    /// A ping with its payload (at most 125 bytes).
    Ping(&'a [u8]),
    /// A pong with its payload (at most 125 bytes).
    Pong(&'a [u8]),
    /// The peer's close frame. Nothing after it is decoded.
    Close(CloseFrame<'a>),
}

/// The content of a close frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The status code, if the dialect has codes and the frame carried one.
    pub code: Option<u16>,
    /// The UTF-8 reason after the code (empty when absent).
    pub reason: &'a str,
    /// The whole close body as received; hybi-03 peers expect it echoed verbatim.
    pub body: &'a [u8],
}

impl CloseFrame<'_> {
    /// The code an application sees for this close (RFC 6455 §7.1.5): the received code,
    /// or 1005 ("no status received") when the frame had none.
    pub fn code_or_no_status(&self) -> u16 {
        self.code.unwrap_or(crate::close::NO_STATUS)
    }
}
