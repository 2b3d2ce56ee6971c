//! What to ask for when connecting, and the client's limits and timeouts.

use super::transport::ServerVerification;
use crate::settings::HixieBinary;
use std::time::Duration;
use ws_protocols::compression::DeflatePolicy;
use ws_protocols::{Dialect, Limits};

/// How to connect: the dialect to speak, what to put in the opening handshake, timeouts and
/// limits. Start from `ConnectOptions::default()` (RFC 6455, no subprotocol, no origin) and
/// chain the setters; every field is also public to read or change.
///
/// ```
/// use std::time::Duration;
/// use ws::protocols::Dialect;
/// use ws::{ConnectOptions, HixieBinary};
///
/// let options = ConnectOptions::default()
///     .dialect(Dialect::Hixie76)
///     .subprotocol("chat")
///     .origin("http://example.com")
///     .header("Cookie", "session=1")
///     .connect_timeout(Some(Duration::from_secs(3)))
///     .handshake_timeout(Duration::from_secs(3))
///     .read_timeout(Some(Duration::from_secs(30)))
///     .write_timeout(Some(Duration::from_secs(30)))
///     .close_timeout(Duration::from_secs(2))
///     .max_frame(1 << 20)
///     .max_message(4 << 20)
///     .fragment_size(Some(64 << 10))
///     .hixie_binary(HixieBinary::LengthPrefixed);
/// assert_eq!(options.dialect, Dialect::Hixie76);
/// assert_eq!(options.subprotocols, ["chat"]);
/// // `ws::connect_with("ws://127.0.0.1:8088/echo", options)` would use all of it.
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// The dialect to speak. Default [`Dialect::Rfc6455`].
    pub dialect: Dialect,
    /// Subprotocols to offer, in order of preference. hybi dialects send them as a list and
    /// the server picks one; the hixie dialects and hybi-03 carry a single string, so several
    /// are joined with spaces into one value the server must echo whole. Default none.
    pub subprotocols: Vec<String>,
    /// The origin to claim (`Origin`, or `Sec-WebSocket-Origin` for hybi-07/08). Browsers
    /// always send one; servers that check it refuse connections without it. Default none.
    pub origin: Option<String>,
    /// Extra request headers (`Cookie`, `Authorization`, ...), sent after the handshake's
    /// own. A name must be an HTTP token and a value may not contain CR, LF or NUL:
    /// `connect_with` refuses anything else with [`crate::ClientError::Config`]. No
    /// extension but compression (`compression`) is implemented: a `Sec-WebSocket-Extensions`
    /// offer made here that the server accepts makes the handshake fail. Default none.
    pub headers: Vec<(String, String)>,
    /// Time allowed for the TCP connection to each resolved address. Default 10 s; `None`
    /// leaves it to the operating system.
    pub connect_timeout: Option<Duration>,
    /// Time allowed for the opening handshake once TCP is connected: request written,
    /// response (and the hixie-76 answer) read. Default 10 s.
    pub handshake_timeout: Duration,
    /// `recv` waits at most this long for the next event, then returns
    /// [`crate::ClientError::TimedOut`] (the connection stays usable). Default `None`: wait
    /// as long as it takes.
    pub read_timeout: Option<Duration>,
    /// A send blocked this long on a peer that does not read fails with an I/O error and
    /// leaves the connection unusable (a frame may be cut). Default `None`.
    pub write_timeout: Option<Duration>,
    /// After our close, the server's close (or, for hixie-75, its TCP close) is awaited this
    /// long before the connection is dropped, even under a `recv` already blocked on another
    /// thread; after the server's close, its TCP close is awaited this long too (RFC 6455
    /// §7.1.1: the server closes TCP first). Default 5 s.
    pub close_timeout: Duration,
    /// Frame and message size limits for what the server sends (see [`Limits`]); the same
    /// defaults as the server: 16 MiB frames, 64 MiB messages. Beyond them the connection is
    /// closed with 1009 and `recv` returns the protocol error.
    pub limits: Limits,
    /// Send whole messages larger than this as fragments of this size (dialects with
    /// fragmentation only: hybi-03, hybi-07/08, RFC 6455). Default `None`: one frame per
    /// message. `Some(0)` is refused by `connect_with`.
    pub fragment_size: Option<usize>,
    /// What `send_binary` does on hixie-75/76, which have no binary messages a browser can
    /// receive: refuse with [`crate::ClientError::Unsupported`] (the default, as the server
    /// does) or send the draft's length-prefixed `80` frame, which our server decodes.
    pub hixie_binary: HixieBinary,
    /// How a `wss://` server's certificate is checked. Default: against the system's root
    /// certificates, host name included.
    pub verification: ServerVerification,
    /// Compression to offer on hybi-07, hybi-08 and RFC 6455: permessage-deflate, and
    /// deflate-frame as `x-webkit-deflate-frame`, under the policy's context and window
    /// rules (see [`DeflatePolicy`]). Default [`DeflatePolicy::OFF`]: nothing offered.
    pub compression: DeflatePolicy,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            dialect: Dialect::Rfc6455,
            subprotocols: Vec::new(),
            origin: None,
            headers: Vec::new(),
            connect_timeout: Some(Duration::from_secs(10)),
            handshake_timeout: Duration::from_secs(10),
            read_timeout: None,
            write_timeout: None,
            close_timeout: Duration::from_secs(5),
            limits: Limits::default(),
            fragment_size: None,
            hixie_binary: HixieBinary::Refuse,
            verification: ServerVerification::SystemRoots,
            compression: DeflatePolicy::OFF,
        }
    }
}

impl ConnectOptions {
    /// Offer compression as `policy` says ([`DeflatePolicy::default`]: permessage-deflate
    /// and deflate-frame, no context kept between messages).
    ///
    /// ```
    /// use ws::protocols::compression::DeflatePolicy;
    /// let options = ws::ConnectOptions::default().compression(DeflatePolicy::default());
    /// assert!(options.compression.permessage_deflate);
    /// ```
    pub fn compression(mut self, policy: DeflatePolicy) -> Self {
        self.compression = policy;
        self
    }

    /// Trust only the certificates of this PEM file for `wss://` (a private CA).
    ///
    /// ```
    /// let options = ws::ConnectOptions::default().ca_file("/etc/myca.pem");
    /// assert_eq!(options.verification, ws::ServerVerification::CaFile("/etc/myca.pem".into()));
    /// ```
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.verification = ServerVerification::CaFile(path.into());
        self
    }

    /// Accept any certificate on `wss://`: for tests and trusted networks only.
    ///
    /// ```
    /// let options = ws::ConnectOptions::default().insecure();
    /// assert_eq!(options.verification, ws::ServerVerification::Insecure);
    /// ```
    pub fn insecure(mut self) -> Self {
        self.verification = ServerVerification::Insecure;
        self
    }

    /// Set `dialect`.
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Offer one more subprotocol (after those already offered).
    pub fn subprotocol(mut self, protocol: impl Into<String>) -> Self {
        self.subprotocols.push(protocol.into());
        self
    }

    /// Set `subprotocols`, replacing those already offered.
    pub fn subprotocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Set `origin`.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Add one request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Set `connect_timeout`.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Set `handshake_timeout`.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Set `read_timeout`.
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Set `write_timeout`.
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Set `close_timeout`.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Set the largest frame payload accepted from the server (`limits.max_frame`).
    pub fn max_frame(mut self, bytes: u64) -> Self {
        self.limits.max_frame = bytes;
        self
    }

    /// Set the largest message accepted from the server (`limits.max_message`).
    pub fn max_message(mut self, bytes: u64) -> Self {
        self.limits.max_message = bytes;
        self
    }

    /// Set `fragment_size`.
    pub fn fragment_size(mut self, bytes: Option<usize>) -> Self {
        self.fragment_size = bytes;
        self
    }

    /// Set `hixie_binary`.
    pub fn hixie_binary(mut self, policy: HixieBinary) -> Self {
        self.hixie_binary = policy;
        self
    }

    /// Check for values that cannot work.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if self.fragment_size == Some(0) {
            return Err("fragment_size must be at least 1");
        }
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err("a header name is not an HTTP token");
            }
            if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
                return Err("a header value contains CR, LF or NUL");
            }
        }
        Ok(())
    }
}

/// RFC 7230 §3.2.6 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
