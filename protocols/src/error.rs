//! Errors of the framing layer. Each carries its wire consequence: a close code.
//!
//! Handshake errors, which map to HTTP statuses instead, live in
//! [`crate::handshake::HandshakeError`].

use std::fmt;

/// A violation by the peer, found while decoding frames. Fatal: the decoder that returned
/// it returns it again on every later call.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A client frame without a mask (RFC 6455 §5.1: the server MUST close).
    UnmaskedFrame,
    /// A server frame with a mask (RFC 6455 §5.1: the client MUST close).
    MaskedFrame,
    /// A reserved bit is set and no extension was negotiated that defines it.
    ReservedBits,
    /// An opcode the dialect reserves.
    ReservedOpcode(u8),
    /// A control frame longer than 125 bytes (RFC 6455 §5.5).
    ControlFrameTooLong,
    /// A control frame without FIN (RFC 6455 §5.5: control frames are never fragmented).
    FragmentedControlFrame,
    /// A continuation frame with no message open.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is still open.
    MessageNotFinished,
    /// An extended length that a shorter encoding could carry (mandatory from hybi-14).
    NonMinimalLength,
    /// The 64-bit length has its most significant bit set (RFC 6455 §5.2).
    LengthTopBit,
    /// A close frame whose body is one byte long (a code needs two).
    CloseBodyTooShort,
    /// A close code that must not appear on the wire (RFC 6455 §7.4).
    InvalidCloseCode(u16),
    /// A close reason that is not UTF-8.
    InvalidCloseReason,
    /// A frame over `Limits::max_frame`.
    FrameTooLarge,
    /// A message over `Limits::max_message`.
    MessageTooLarge,
    /// A byte that cannot continue any valid UTF-8 sequence, in a text message.
    InvalidUtf8,
    /// A text message that ended inside a multi-byte UTF-8 sequence.
    IncompleteUtf8,
    /// A hixie length prefix longer than any length we accept.
    LengthOverflow,
    /// Not the peer's fault: a hybi-04 server decoder was made without the connection key
    /// of the handshake (`Decoder::with_connection_key`), so it cannot unmask client frames
    /// (docs/protocols.md §4.3). Answered like any failure of our own (1011).
    MissingConnectionKey,
    /// RSV1 (the compressed bit) where the negotiated extension does not allow it: on a
    /// control frame, or on a continuation under permessage-deflate (RFC 7692 §6.1).
    MisplacedCompressedBit,
    /// A compressed payload that does not inflate (RFC 7692 §8.2.2: fail the connection).
    BadCompressedData,
}

impl ProtocolError {
    /// The close code to send for this error (RFC 6455 §7.4.1). Dialects without close
    /// codes (hixie, hybi-03) close the connection without saying why.
    pub fn close_code(self) -> u16 {
        use ProtocolError::*;
        match self {
            InvalidUtf8 | IncompleteUtf8 | InvalidCloseReason => 1007,
            FrameTooLarge | MessageTooLarge | LengthOverflow => 1009,
            MissingConnectionKey => 1011,
            // RFC 7692 names no code; the payload is not what its frame says it is, as
            // with text that is not UTF-8.
            BadCompressedData => 1007,
            _ => 1002,
        }
    }

    fn describe(self) -> &'static str {
        use ProtocolError::*;
        match self {
            UnmaskedFrame => "client frame is not masked",
            MaskedFrame => "server frame is masked",
            ReservedBits => "reserved bits set without an extension",
            ReservedOpcode(_) => "reserved opcode",
            ControlFrameTooLong => "control frame payload over 125 bytes",
            FragmentedControlFrame => "fragmented control frame",
            UnexpectedContinuation => "continuation frame with no message open",
            MessageNotFinished => "new data frame while a fragmented message is open",
            NonMinimalLength => "length not in its minimal encoding",
            LengthTopBit => "64-bit length with its top bit set",
            CloseBodyTooShort => "close frame with a one-byte body",
            InvalidCloseCode(_) => "close code not allowed on the wire",
            InvalidCloseReason => "close reason is not valid UTF-8",
            FrameTooLarge => "frame over the size limit",
            MessageTooLarge => "message over the size limit",
            InvalidUtf8 => "invalid UTF-8 in a text message",
            IncompleteUtf8 => "text message ends inside a UTF-8 sequence",
            LengthOverflow => "length prefix too long",
            MissingConnectionKey => "no hybi-04 connection key to unmask client frames",
            MisplacedCompressedBit => "compressed bit on a control frame or a continuation",
            BadCompressedData => "compressed payload does not inflate",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedOpcode(op) => write!(f, "{} {op:#x}", self.describe()),
            ProtocolError::InvalidCloseCode(c) => write!(f, "{} ({c})", self.describe()),
            _ => f.write_str(self.describe()),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A request to send something the dialect or the encoder state cannot carry. These are
/// mistakes of the local application, never of the peer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodeError {
    /// The dialect has no way to carry this (binary of unknown length, ping or close code on
    /// hixie, ...). The caller decides what to do instead: see the server's documented rules.
    Unsupported(&'static str),
    /// A message is already open: finish it before starting another.
    MessageInProgress,
    /// No message is open.
    NoMessage,
    /// More (or fewer) payload bytes than the length declared at `begin`.
    LengthMismatch,
    /// Control frame payload over 125 bytes, or close reason over 123 bytes.
    ControlTooLong,
    /// A close code that may not be sent (1005, 1006, 1015, reserved ranges).
    InvalidCloseCode(u16),
    /// A control frame asked for while a data frame's payload is only partly written: it
    /// would land inside that payload. Send it once [`crate::Encoder::mid_frame`] is false.
    InsideFrame,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Unsupported(what) => write!(f, "the dialect cannot carry {what}"),
            EncodeError::MessageInProgress => f.write_str("a message is already in progress"),
            EncodeError::NoMessage => f.write_str("no message is in progress"),
            EncodeError::LengthMismatch => f.write_str("payload differs from declared length"),
            EncodeError::ControlTooLong => f.write_str("control payload over 125 bytes"),
            EncodeError::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            EncodeError::InsideFrame => {
                f.write_str("a control frame cannot go inside a data frame's payload")
            }
        }
    }
}

impl std::error::Error for EncodeError {}
