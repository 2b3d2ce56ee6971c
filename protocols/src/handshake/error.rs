//! Why an opening handshake was refused, and the HTTP answer that says so.
//!
//! Every variant carries its wire consequence (../shared/STYLE.md §A.3): [`HandshakeError::status`] is the
//! HTTP status to answer with, [`HandshakeError::advertises_versions`] says whether the answer
//! lists the versions we speak, `Sec-WebSocket-Version: 13, 8, 7, 6, 5, 4` (RFC 6455 §4.2.2
//! step 4, §4.4), and
//! [`HandshakeError::write_response`] writes the complete response.

use std::fmt;

use super::http;
use crate::dialect::SUPPORTED_VERSIONS;

/// A refused opening handshake: one variant per reason.
///
/// Variants with a 4xx status are the peer's fault; those with a 5xx status are mistakes of the
/// local application (a subprotocol it picked that the client never offered, a malformed extra
/// header). After any of them the connection is answered and closed; there is no retry on the
/// same connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The head is longer than `Limits::max_head_bytes` (431).
    HeadTooLarge,
    /// The head has more than `Limits::max_headers` header lines (431).
    TooManyHeaders,
    /// The bytes are not an HTTP/1.x request head (400).
    MalformedHttp,
    /// The request has no `Upgrade` header at all: plain HTTP, not a broken handshake. The
    /// status is 400 by default; a server may instead route the request to an HTTP handler or
    /// answer 501.
    NotWebSocket,
    /// The method is not `GET` (RFC 6455 §4.2.1 item 1) (400).
    MethodNotGet,
    /// The request is not HTTP/1.1 (RFC 6455 §4.2.1 item 1) (400).
    HttpVersion,
    /// The request target is neither an origin-form path nor an absolute http(s)/ws(s) URI
    /// (RFC 6455 §4.2.1 item 1), or it carries a fragment (RFC 6455 §3) (400).
    InvalidTarget,
    /// No `Host` header, or an empty one (RFC 6455 §4.2.1 item 2) (400).
    MissingHost,
    /// More than one `Host` header (RFC 7230 §5.4 requires a 400) (400).
    DuplicateHost,
    /// `Upgrade` does not contain the token `websocket` (RFC 6455 §4.2.1 item 3) (400).
    InvalidUpgrade,
    /// `Connection` does not contain the token `upgrade` (RFC 6455 §4.2.1 item 4) (400).
    MissingConnectionUpgrade,
    /// A header this handshake interprets is not valid UTF-8 (400).
    InvalidHeaderValue,
    /// `Sec-WebSocket-Version` names a version we do not implement (426 + version list).
    UnsupportedVersion,
    /// `Sec-WebSocket-Version` is a list, where exactly one value is allowed (400 + version list).
    VersionList,
    /// `Sec-WebSocket-Version` appears more than once (hybi-14 onwards forbids it)
    /// (400 + version list).
    RepeatedVersion,
    /// `Sec-WebSocket-Version` is not a decimal number 0-255 without leading zeros
    /// (RFC 6455 §4.3 `version` ABNF) (400 + version list).
    InvalidVersion,
    /// `Sec-WebSocket-Key` without `Sec-WebSocket-Version` (docs/protocols.md §2 row 7)
    /// (400 + version list).
    KeyWithoutVersion,
    /// `Sec-WebSocket-Version` without `Sec-WebSocket-Key` (RFC 6455 §4.2.1 item 5) (400).
    MissingKey,
    /// `Sec-WebSocket-Key` appears more than once (hybi-14 onwards forbids it) (400).
    RepeatedKey,
    /// `Sec-WebSocket-Key` is not the base64 encoding of 16 bytes (RFC 6455 §4.2.1 item 5) (400).
    InvalidKey,
    /// Only one of `Sec-WebSocket-Key1` / `Sec-WebSocket-Key2` is present, or
    /// `Sec-WebSocket-Draft` comes without them (400).
    MissingHixie76Key,
    /// `Sec-WebSocket-Key1` or `Sec-WebSocket-Key2` appears more than once (400).
    RepeatedHixie76Key,
    /// A hixie-76 key contains no space, so it cannot be divided (draft-76 §5.2 step 5) (400).
    Hixie76KeyNoSpaces,
    /// A hixie-76 key contains no digit (400).
    Hixie76KeyNoDigits,
    /// A hixie-76 key number is not a multiple of its number of spaces (draft-76 §5.2 step 6)
    /// (400).
    Hixie76KeyNotMultiple,
    /// A hixie-76 key number has more than 20 digits, or its quotient does not fit in 32 bits
    /// (400).
    Hixie76KeyOverflow,
    /// `Sec-WebSocket-Draft` is neither 0, 1, 2 nor 3 (400).
    InvalidDraft,
    /// `Sec-WebSocket-Protocol` (or hixie-75's `WebSocket-Protocol`) is malformed: a hybi entry
    /// that is not an HTTP token, or a hixie value with non-printable characters (400).
    InvalidSubprotocol,
    /// The application chose a subprotocol the client did not offer (local mistake) (500).
    SubprotocolNotOffered,
    /// The application passed an extra response header whose name is not a token or whose
    /// value contains CR, LF or NUL (local mistake) (500).
    InvalidResponseHeader,
}

impl HandshakeError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        use HandshakeError::*;
        match self {
            HeadTooLarge | TooManyHeaders => 431,
            // RFC 6455 §4.2.2 step 4 suggests 426 for a version we do not speak; RFC 7231
            // §6.5.15 then requires an Upgrade header, which `write_response` adds.
            UnsupportedVersion => 426,
            SubprotocolNotOffered | InvalidResponseHeader => 500,
            _ => 400,
        }
    }

    /// A one-line, specific explanation, used as the response body and in logs.
    pub fn reason(&self) -> &'static str {
        use HandshakeError::*;
        match self {
            HeadTooLarge => "request head exceeds the size limit",
            TooManyHeaders => "request has too many header lines",
            MalformedHttp => "malformed HTTP request head",
            NotWebSocket => "not a WebSocket request: no Upgrade header",
            MethodNotGet => "WebSocket handshake method must be GET",
            HttpVersion => "WebSocket handshake must use HTTP/1.1",
            InvalidTarget => "request target is not a path or an absolute http(s)/ws(s) URI",
            MissingHost => "missing Host header",
            DuplicateHost => "more than one Host header",
            InvalidUpgrade => "Upgrade header does not contain the token websocket",
            MissingConnectionUpgrade => "Connection header does not contain the token upgrade",
            InvalidHeaderValue => "a WebSocket handshake header is not valid UTF-8",
            UnsupportedVersion => "unsupported Sec-WebSocket-Version",
            VersionList => "Sec-WebSocket-Version must be a single value",
            RepeatedVersion => "Sec-WebSocket-Version header is repeated",
            InvalidVersion => "Sec-WebSocket-Version is not a number from 0 to 255",
            KeyWithoutVersion => "Sec-WebSocket-Key without Sec-WebSocket-Version",
            MissingKey => "missing Sec-WebSocket-Key",
            RepeatedKey => "Sec-WebSocket-Key header is repeated",
            InvalidKey => "Sec-WebSocket-Key is not base64 of 16 bytes",
            MissingHixie76Key => "Sec-WebSocket-Key1 and Sec-WebSocket-Key2 must both be present",
            RepeatedHixie76Key => "Sec-WebSocket-Key1 or Sec-WebSocket-Key2 is repeated",
            Hixie76KeyNoSpaces => "Sec-WebSocket-Key1/Key2 contains no spaces",
            Hixie76KeyNoDigits => "Sec-WebSocket-Key1/Key2 contains no digits",
            Hixie76KeyNotMultiple => {
                "Sec-WebSocket-Key1/Key2 number is not a multiple of its spaces"
            }
            Hixie76KeyOverflow => "Sec-WebSocket-Key1/Key2 number is out of range",
            InvalidDraft => "Sec-WebSocket-Draft must be 0, 1, 2 or 3",
            InvalidSubprotocol => "malformed subprotocol header",
            SubprotocolNotOffered => "server chose a subprotocol the client did not offer",
            InvalidResponseHeader => "server produced an invalid response header",
        }
    }

    /// Whether the answer lists the versions we implement in `Sec-WebSocket-Version`, so
    /// that a hybi client can retry with one of them (RFC 6455 §4.4). Hixie clients never send
    /// a version and cannot retry, so errors of their handshakes do not advertise.
    pub fn advertises_versions(&self) -> bool {
        use HandshakeError::*;
        matches!(
            self,
            UnsupportedVersion | VersionList | RepeatedVersion | InvalidVersion | KeyWithoutVersion
        )
    }

    /// Append the complete HTTP/1.1 response for this refusal to `out`: status line,
    /// `Content-Type`, `Content-Length`, `Connection`, the version list where advertised,
    /// `Upgrade: websocket` for 426, and the reason as a one-line body. The connection is to
    /// be closed once it is written.
    pub fn write_response(&self, out: &mut Vec<u8>) {
        let mut extra: [(&str, &str); 2] = [("", ""); 2];
        let mut n = 0;
        let mut connection = "close";
        if self.status() == 426 {
            // RFC 7231 §6.5.15: a 426 MUST carry Upgrade; RFC 7230 §6.7: whoever sends
            // Upgrade MUST also put the `upgrade` option in Connection.
            extra[n] = ("Upgrade", "websocket");
            n += 1;
            connection = "Upgrade, close";
        }
        if self.advertises_versions() {
            extra[n] = ("Sec-WebSocket-Version", SUPPORTED_VERSIONS);
            n += 1;
        }
        http::write_response_with_connection(
            self.status(),
            self.reason(),
            connection,
            &extra[..n],
            out,
        );
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}

impl std::error::Error for HandshakeError {}

/// Why a client refuses the server's handshake response. The connection is to be closed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientHandshakeError {
    /// The response head is longer than the default `Limits::max_head_bytes`.
    HeadTooLarge,
    /// The response has more header lines than the default `Limits::max_headers`.
    TooManyHeaders,
    /// The bytes are not an HTTP/1.x response head.
    MalformedHttp,
    /// The response is not HTTP/1.1.
    HttpVersion,
    /// The status is not 101: the server refused (or does not speak WebSocket).
    Status(u16),
    /// hixie-75: the first three lines differ from the 85 bytes its clients compare.
    Hixie75Prefix,
    /// `Upgrade` is missing or wrong (hixie: must equal `WebSocket` exactly).
    InvalidUpgrade,
    /// `Connection` does not contain the token `upgrade`.
    MissingConnectionUpgrade,
    /// hybi: no `Sec-WebSocket-Accept`, or more than one.
    MissingAccept,
    /// hybi: `Sec-WebSocket-Accept` is not the hash of the key we sent.
    WrongAccept,
    /// hixie: the origin echo is missing or differs from the origin we sent.
    OriginMismatch,
    /// hixie: the location echo is missing or differs from the URL we opened.
    LocationMismatch,
    /// hixie-76 family: the 16 bytes after the head are not the MD5 answer to our keys.
    WrongChallengeAnswer,
    /// The server confirmed a subprotocol we did not offer, or several (RFC 6455 §4.1).
    UnexpectedSubprotocol,
    /// The server accepted extensions we did not offer (RFC 6455 §9.1).
    UnexpectedExtensions,
    /// hybi-04: no `Sec-WebSocket-Nonce`, an empty one, or more than one, so no connection
    /// key to mask frames with (docs/protocols.md §3.3).
    MissingNonce,
    /// The server's answer to our compression offer breaks it (RFC 7692 §7.1); close with
    /// 1010 where the connection got that far.
    BadExtensions(crate::compression::ExtensionError),
}

impl fmt::Display for ClientHandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ClientHandshakeError::*;
        f.write_str(match self {
            HeadTooLarge => "response head exceeds the size limit",
            TooManyHeaders => "response has too many header lines",
            MalformedHttp => "malformed HTTP response head",
            HttpVersion => "response is not HTTP/1.1",
            Status(code) => return write!(f, "server answered {code} instead of 101"),
            Hixie75Prefix => "hixie-75 response does not start with the exact 101 lines",
            InvalidUpgrade => "response Upgrade header is missing or wrong",
            MissingConnectionUpgrade => "response Connection header lacks the token upgrade",
            MissingAccept => "response has no single Sec-WebSocket-Accept",
            WrongAccept => "Sec-WebSocket-Accept does not match the key sent",
            OriginMismatch => "response origin echo differs from the origin sent",
            LocationMismatch => "response location echo differs from the URL opened",
            WrongChallengeAnswer => "hixie-76 challenge answer does not match",
            UnexpectedSubprotocol => "server chose a subprotocol that was not offered",
            UnexpectedExtensions => "server accepted extensions that were not offered",
            MissingNonce => "hybi-04 response has no single Sec-WebSocket-Nonce",
            BadExtensions(e) => return write!(f, "server's Sec-WebSocket-Extensions: {e}"),
        })
    }
}

impl std::error::Error for ClientHandshakeError {}
