//! Errors of the server layer.

use std::fmt;
use std::io;
use ws_protocols::{Dialect, EncodeError, HandshakeError, ProtocolError};

/// Why something failed on the server side.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A socket or poll operation failed.
    Io(io::Error),
    /// An opening handshake was refused (the HTTP answer has been sent).
    Handshake(HandshakeError),
    /// The peer broke the framing rules (the close code has been sent where the dialect
    /// has codes).
    Protocol(ProtocolError),
    /// An outgoing connection's server refused the opening handshake or answered it
    /// wrongly ([`crate::Cx::connect`]).
    Connect(ws_protocols::handshake::ClientHandshakeError),
    /// A setting contradicts another.
    Config(&'static str),
    /// The server holds as much as its memory budget allows
    /// ([`crate::Settings::memory_budget`]): the connection's unfinished message was refused
    /// (close 1013 where the dialect has codes).
    MemoryBudget {
        /// Bytes the server held.
        held: usize,
        /// The budget.
        budget: usize,
    },
    /// The server is gone (its loop has stopped).
    Closed,
    /// One of the server's loops (counted from 0; [`crate::Builder::threads`]) panicked;
    /// the others went on serving until shutdown.
    LoopPanicked(usize),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Handshake(e) => write!(f, "handshake refused: {e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Connect(e) => write!(f, "opening handshake failed: {e}"),
            Error::Config(why) => write!(f, "invalid settings: {why}"),
            Error::MemoryBudget { held, budget } => write!(
                f,
                "server memory budget spent ({held} of {budget} bytes held): message refused"
            ),
            Error::Closed => f.write_str("the server has stopped"),
            Error::LoopPanicked(i) => write!(f, "loop {i} of the server panicked"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Connect(e) => Some(e),
            Error::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Why a send on a [`crate::Socket`] was refused. Nothing is ever dropped silently: a send
/// either queues all of its bytes or returns one of these.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is not open (still handshaking, closing, or closed).
    NotOpen,
    /// The dialect cannot carry this: binary to hixie (unless `HixieBinary::LengthPrefixed`),
    /// ping to hixie, a streamed binary message to hixie.
    Unsupported(Dialect, &'static str),
    /// The outgoing queue would pass `max_write_buffer`; wait for `on_drain`.
    BufferFull {
        /// Bytes queued now.
        buffered: usize,
    },
    /// Misuse of the streaming calls (a message already open, none open, length mismatch),
    /// or a control payload over 125 bytes, or a close code that may not be sent.
    Invalid(EncodeError),
}

impl From<ws_protocols::connection::SendError> for SendError {
    fn from(e: ws_protocols::connection::SendError) -> Self {
        use ws_protocols::connection::SendError as Refused;
        match e {
            Refused::Closed => SendError::NotOpen,
            Refused::Unsupported(dialect, what) => SendError::Unsupported(dialect, what),
            Refused::Invalid(e) => SendError::Invalid(e),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotOpen => f.write_str("the connection is not open"),
            SendError::Unsupported(d, what) => write!(f, "{d} cannot carry {what}"),
            SendError::BufferFull { buffered } => {
                write!(f, "outgoing buffer full ({buffered} bytes queued)")
            }
            SendError::Invalid(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SendError {}
