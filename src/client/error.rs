//! Why a client operation failed.

use super::url::UrlError;
use std::fmt;
use std::io;
use ws_protocols::{ClientHandshakeError, Dialect, EncodeError, ProtocolError};

/// Everything that can go wrong on the client side, one variant per cause.
///
/// ```no_run
/// use ws::protocols::ClientHandshakeError;
/// use ws::ClientError;
///
/// match ws::connect("ws://127.0.0.1:8088/no-such-path") {
///     Ok(_client) => println!("connected"),
///     Err(ClientError::Handshake(ClientHandshakeError::Status(status))) => {
///         println!("the server refused with HTTP {status}")
///     }
///     Err(e) => println!("failed: {e}"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not a `ws://` URL we can open (`wss://` included: no TLS).
    Url(UrlError),
    /// A [`crate::ConnectOptions`] value cannot work (an invalid header, `fragment_size` 0).
    Config(&'static str),
    /// Resolving, connecting, reading or writing failed, or the server closed the
    /// connection during the opening handshake (`UnexpectedEof`).
    Io(io::Error),
    /// The connect timeout, the handshake timeout or the read timeout passed. After a read
    /// timeout the connection is still usable: call `recv` again.
    TimedOut,
    /// The server refused the opening handshake or answered it wrongly. A refusal carries
    /// its HTTP status: [`ClientHandshakeError::Status`] (404 for an unknown path, 426 with
    /// `Sec-WebSocket-Version` for a version the server does not speak, ...).
    Handshake(ClientHandshakeError),
    /// The server broke the framing rules. The connection has been failed: a close with
    /// [`ProtocolError::close_code`] was sent where the dialect has close codes (1002, 1007,
    /// 1009), then TCP was closed.
    Protocol(ProtocolError),
    /// The dialect cannot carry this: binary to hixie-75/76 (unless
    /// [`crate::HixieBinary::LengthPrefixed`]), a streamed binary message to hixie, a ping to
    /// hixie. Nothing was sent; the connection is still usable.
    Unsupported {
        /// The connection's dialect.
        dialect: Dialect,
        /// What it cannot carry.
        what: &'static str,
    },
    /// Local misuse: a ping payload over 125 bytes, a close code that may not be sent, a
    /// streamed message longer or shorter than declared. Nothing was sent.
    Invalid(EncodeError),
    /// Text in a streamed text message that is not UTF-8. The offending chunk was not sent.
    NotUtf8,
    /// The connection is closed: the close handshake is done (or under way, for sends), the
    /// connection failed, or an earlier write failed part-way through a frame.
    Closed,
    /// `wss://`: the TLS handshake failed (the server's certificate was not trusted, did not
    /// name the host, ...) or the TLS configuration could not be built (an unreadable CA
    /// file).
    Tls(String),
    /// A message is open in the other way of receiving: one begun by `recv` must be finished
    /// by `recv`, one begun by `recv_piece` by `recv_piece`. Nothing was consumed.
    MessageOpen,
}

impl ClientError {
    /// The HTTP status of a refused opening handshake, if that is what this is.
    ///
    /// ```no_run
    /// let err = ws::connect("ws://127.0.0.1:8088/missing").unwrap_err();
    /// assert_eq!(err.http_status(), Some(404));
    /// ```
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ClientError::Handshake(ClientHandshakeError::Status(status)) => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn encode(dialect: Dialect, e: EncodeError) -> Self {
        match e {
            EncodeError::Unsupported(what) => ClientError::Unsupported { dialect, what },
            other => ClientError::Invalid(other),
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Url(e) => write!(f, "invalid URL: {e}"),
            ClientError::Config(why) => write!(f, "invalid options: {why}"),
            ClientError::Io(e) => write!(f, "I/O error: {e}"),
            ClientError::TimedOut => f.write_str("timed out"),
            ClientError::Handshake(e) => write!(f, "opening handshake failed: {e}"),
            ClientError::Protocol(e) => {
                write!(
                    f,
                    "protocol error from the server: {e} (close {})",
                    e.close_code()
                )
            }
            ClientError::Unsupported { dialect, what } => {
                write!(f, "{dialect} cannot carry {what}")
            }
            ClientError::Invalid(e) => write!(f, "cannot send: {e}"),
            ClientError::NotUtf8 => f.write_str("streamed text is not valid UTF-8"),
            ClientError::Closed => f.write_str("the connection is closed"),
            ClientError::Tls(why) => write!(f, "TLS: {why}"),
            ClientError::MessageOpen => {
                f.write_str("a message begun by the other of recv and recv_piece is open")
            }
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Url(e) => Some(e),
            ClientError::Io(e) => Some(e),
            ClientError::Handshake(e) => Some(e),
            ClientError::Protocol(e) => Some(e),
            ClientError::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

impl From<UrlError> for ClientError {
    fn from(e: UrlError) -> Self {
        ClientError::Url(e)
    }
}
