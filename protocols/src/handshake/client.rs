//! The client side: write the opening request of any dialect, check the server's answer.
//!
//! Randomness is the caller's: `client_request` takes a `random` closure that fills a buffer
//! (from a CSPRNG in real use: RFC 6455 §10.3 wants the key unpredictable; a fixed source in
//! tests). The crate itself has no I/O and no OS randomness.

use super::error::ClientHandshakeError;
use super::family::{self, Family};
use super::hixie75;
use super::hixie76;
use super::http;
use super::hybi;
use super::Status;
use crate::compression::{self, dialect_compresses, Compression, DeflatePolicy};
use crate::dialect::{Dialect, HandshakeFamily, Masking};
use crate::frame::ConnectionKey;
use crate::limits::Limits;

use ClientHandshakeError as E;

/// What to ask for in a client opening handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig<'a> {
    /// The dialect to speak.
    pub dialect: Dialect,
    /// `host[:port]` exactly as for the `Host` header (port only when not the default).
    pub host: &'a str,
    /// The resource: `path?query` (`/` if empty).
    pub target: &'a str,
    /// The origin to claim, sent in the dialect's origin header.
    pub origin: Option<&'a str>,
    /// Subprotocols to offer. hybi sends them as one comma list; the hixie dialects carry a
    /// single string, so several are joined with spaces into one value the server must echo.
    pub subprotocols: &'a [&'a str],
    /// Extra request headers (`Cookie`, `Sec-WebSocket-Extensions`, ...), written last.
    /// Entries whose name is not a token or whose value contains CR, LF or NUL are left out.
    pub extra_headers: &'a [(&'a str, &'a str)],
    /// The connection is TLS: the hixie location echo is expected with `wss://`.
    pub secure: bool,
    /// Compression to offer (permessage-deflate, deflate-frame), on dialects that can carry
    /// it ([`crate::compression::dialect_compresses`]); the response is then checked
    /// against the offer and what was agreed is in [`ServerResponse::compression`]. Leave
    /// `Sec-WebSocket-Extensions` out of `extra_headers` when this is set.
    pub compression: Option<DeflatePolicy>,
}

impl<'a> ClientConfig<'a> {
    /// A configuration with no origin, no subprotocols, no extra headers, not secure.
    pub fn new(dialect: Dialect, host: &'a str, target: &'a str) -> Self {
        ClientConfig {
            dialect,
            host,
            target,
            origin: None,
            subprotocols: &[],
            extra_headers: &[],
            secure: false,
            compression: None,
        }
    }
}

/// What the server must prove.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expect {
    /// hixie-75: nothing.
    Nothing,
    /// hixie-76 family: the 16 bytes after the head.
    Answer([u8; 16]),
    /// hybi: the `Sec-WebSocket-Accept` value.
    Accept(String),
}

/// A sent client request, remembering what the response must contain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHandshake {
    dialect: Dialect,
    expect: Expect,
    origin: Option<String>,
    location: String,
    offered: Vec<String>,
    offered_extensions: bool,
    /// The compression offered, if any.
    offered_compression: Option<DeflatePolicy>,
    /// hybi-04: the `Sec-WebSocket-Key` sent, which the connection key is made from.
    hybi04_key: Option<String>,
}

/// A server response that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerResponse {
    /// The subprotocol the server confirmed, one of those offered.
    pub subprotocol: Option<String>,
    /// Every response header, in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Bytes of the input that belonged to the handshake (head, plus the 16-byte answer in
    /// the hixie-76 family). What follows is already frame data.
    pub consumed: usize,
    /// hybi-04: the connection key made from our key and the server's `Sec-WebSocket-Nonce`,
    /// for [`crate::frame::Encoder::client_with_connection_key`]; `None` for every other
    /// dialect.
    pub connection_key: Option<ConnectionKey>,
    /// The compression agreed, from the client's side (`None` if none was offered or the
    /// server took none), for [`crate::connection::Connection::set_compression`].
    pub compression: Option<Compression>,
}

/// The header a dialect's clients name the origin in. hybi-04 renamed `Origin` to
/// `Sec-WebSocket-Origin`, which hybi-07 and hybi-08 clients (Firefox 6, Chrome 14) sent; the
/// rename back to `Origin` came in hybi-11 and the version 13 (docs/protocols.md §4.6).
fn origin_header(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Hybi04 | Dialect::Hybi05 | Dialect::Hybi06 | Dialect::Hybi07 | Dialect::Hybi08 => {
            "Sec-WebSocket-Origin"
        }
        Dialect::Hixie75 | Dialect::Hixie76 | Dialect::Hybi03 | Dialect::Rfc6455 => "Origin",
    }
}

/// Strip the bytes that would end a header line early.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .collect()
}

/// Append the complete opening request for `cfg` to `out` (for the hixie-76 family: the
/// head and the 8 key3 bytes), drawing keys from `random`, and return what to expect back.
///
/// Field order: request line, `Upgrade`, `Connection`, `Host`, origin, subprotocol, the
/// dialect's key and version headers, `cfg.extra_headers`. For hixie-75 that is the fixed
/// order WebKit sent (docs/protocols.md §3.1); hixie-76 allows any order.
pub fn client_request(
    cfg: &ClientConfig<'_>,
    random: &mut dyn FnMut(&mut [u8]),
    out: &mut Vec<u8>,
) -> ClientHandshake {
    let fam: &Family = family::of(cfg.dialect);
    let host = clean(cfg.host);
    let target = match clean(cfg.target) {
        t if t.is_empty() => "/".to_owned(),
        t => t,
    };
    let origin = cfg.origin.map(clean);
    let offered: Vec<String> = if fam.protocol_is_list {
        cfg.subprotocols.iter().map(|p| clean(p)).collect()
    } else if cfg.subprotocols.is_empty() {
        Vec::new()
    } else {
        vec![clean(&cfg.subprotocols.join(" "))]
    };

    out.extend_from_slice(b"GET ");
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    http::header(out, "Upgrade", fam.upgrade);
    http::header(out, "Connection", "Upgrade");
    http::header(out, "Host", &host);
    if let Some(origin) = &origin {
        http::header(out, origin_header(cfg.dialect), origin);
    }
    if !offered.is_empty() {
        http::header(out, fam.protocol, &offered.join(", "));
    }
    let mut key3 = [0u8; 8];
    let mut hybi04_key = None;
    let expect = match cfg.dialect.caps().handshake {
        HandshakeFamily::Hixie75 => Expect::Nothing,
        HandshakeFamily::Hixie76 => {
            let (key1, number1) = hixie76::client_key(random);
            let (key2, number2) = hixie76::client_key(random);
            http::header(out, "Sec-WebSocket-Key1", &key1);
            http::header(out, "Sec-WebSocket-Key2", &key2);
            if cfg.dialect == Dialect::Hybi03 {
                // hybi-02 introduced `Sec-WebSocket-Draft: 2` and hybi-03 kept it
                // (pywebsocket's spec notes); servers accept 2 and 3.
                http::header(out, "Sec-WebSocket-Draft", "2");
            }
            random(&mut key3);
            Expect::Answer(hixie76::answer(number1, number2, &key3))
        }
        HandshakeFamily::KeyAccept => {
            let key = hybi::client_key(random);
            http::header(out, "Sec-WebSocket-Key", &key);
            if let Some(version) = cfg.dialect.caps().version {
                http::header(out, "Sec-WebSocket-Version", &version.to_string());
            }
            let accept = hybi::accept_value(&key);
            if cfg.dialect.caps().masking == Masking::Sha1Nonce {
                hybi04_key = Some(key);
            }
            Expect::Accept(accept)
        }
    };
    let offered_compression = cfg
        .compression
        .filter(|_| dialect_compresses(cfg.dialect))
        .filter(|policy| policy.is_on());
    if let Some(offer) = offered_compression.as_ref().and_then(compression::offer) {
        http::header(out, "Sec-WebSocket-Extensions", &offer);
    }
    let mut offered_extensions = offered_compression.is_some();
    for (name, value) in cfg.extra_headers {
        if http::is_valid_header(name, value) {
            offered_extensions |= name.eq_ignore_ascii_case("Sec-WebSocket-Extensions");
            http::header(out, name, value);
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&key3[..fam.key3_len]);

    ClientHandshake {
        dialect: cfg.dialect,
        expect,
        origin,
        location: family::location(cfg.secure, &host, &target),
        offered,
        offered_extensions,
        offered_compression,
        hybi04_key,
    }
}

impl ClientHandshake {
    /// The dialect requested.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Check the server's response, from a growing buffer.
    ///
    /// `Partial` until the head is complete and, in the hixie-76 family, the 16 answer bytes
    /// after it. Bytes after those are frame data and are not looked at. The head is limited
    /// to the default `Limits` sizes (8 KiB, 64 headers).
    ///
    /// # Errors
    ///
    /// [`ClientHandshakeError::Status`] carries the status code of a refusal; every other
    /// variant names the check that failed.
    pub fn read_response(
        &self,
        buf: &[u8],
    ) -> Result<Status<ServerResponse>, ClientHandshakeError> {
        let limits = Limits::default();
        let window = &buf[..buf.len().min(limits.max_head_bytes)];
        let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
        let mut parsed = httparse::Response::new(&mut headers);
        let head_len = match parsed.parse(window) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > limits.max_head_bytes => {
                return Err(E::HeadTooLarge)
            }
            Ok(httparse::Status::Partial) => return Ok(Status::Partial),
            Err(httparse::Error::TooManyHeaders) => return Err(E::TooManyHeaders),
            Err(httparse::Error::Version) => return Err(E::HttpVersion),
            Err(_) => return Err(E::MalformedHttp),
        };
        let fam = family::of(self.dialect);
        let headers = parsed.headers;
        let all = |name: &'static str| {
            headers
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        // RFC 6455 §4.1: "If the status code received from the server is not 101, the client
        // handles the response per HTTP procedures"; for us: a refusal.
        let code = parsed.code.unwrap_or_default();
        if code != 101 {
            return Err(E::Status(code));
        }
        if parsed.version != Some(1) {
            return Err(E::HttpVersion);
        }
        // hixie-75 clients memcmp the status line, Upgrade and Connection lines.
        if fam.exact_prefix && !buf.starts_with(hixie75::exact_prefix(fam).as_bytes()) {
            return Err(E::Hixie75Prefix);
        }
        // draft-76 §4.1: Upgrade must be `WebSocket` exactly; from hybi-04 the value is
        // case-insensitive (RFC 6455 §4.1 item 2).
        let upgrade_ok = if fam.upgrade_exact {
            all("Upgrade").eq([fam.upgrade.as_bytes()])
        } else {
            all("Upgrade")
                .filter_map(|v| std::str::from_utf8(v).ok())
                .any(|v| http::list_contains(v, "websocket"))
        };
        if !upgrade_ok {
            return Err(E::InvalidUpgrade);
        }
        if !all("Connection")
            .filter_map(|v| std::str::from_utf8(v).ok())
            .any(|v| http::list_contains(v, "upgrade"))
        {
            return Err(E::MissingConnectionUpgrade);
        }
        if let Expect::Accept(expected) = &self.expect {
            // RFC 6455 §4.1 item 4: the Accept value must be the hash of our key, exactly.
            let mut accepts = all("Sec-WebSocket-Accept");
            match (accepts.next(), accepts.next()) {
                (Some(value), None) if value == expected.as_bytes() => {}
                (Some(_), None) => return Err(E::WrongAccept),
                _ => return Err(E::MissingAccept),
            }
        }
        if let (Some(name), Some(origin)) = (fam.origin_echo, &self.origin) {
            if !all(name).eq([origin.as_bytes()]) {
                return Err(E::OriginMismatch);
            }
        }
        if let Some(name) = fam.location {
            if !all(name).eq([self.location.as_bytes()]) {
                return Err(E::LocationMismatch);
            }
        }
        let mut protocols = all(fam.protocol);
        let subprotocol = match (protocols.next(), protocols.next()) {
            (None, _) => None,
            (Some(chosen), None) => Some(
                self.offered
                    .iter()
                    .find(|offered| offered.as_bytes() == chosen)
                    .ok_or(E::UnexpectedSubprotocol)?
                    .clone(),
            ),
            (Some(_), Some(_)) => return Err(E::UnexpectedSubprotocol),
        };
        let compression = match &self.offered_compression {
            Some(policy) => {
                // A value that is not even text is no extension list: fail, not skip it.
                let extensions = all("Sec-WebSocket-Extensions")
                    .map(std::str::from_utf8)
                    .collect::<Result<Vec<&str>, _>>()
                    .map_err(|_| E::BadExtensions(compression::ExtensionError::Malformed))?;
                compression::accept_response(extensions, policy).map_err(E::BadExtensions)?
            }
            None => None,
        };
        // RFC 6455 §9.1: the server may only accept extensions the client offered.
        if self.dialect.caps().handshake == HandshakeFamily::KeyAccept
            && !self.offered_extensions
            && all("Sec-WebSocket-Extensions").next().is_some()
        {
            return Err(E::UnexpectedExtensions);
        }
        // hybi-04 (docs/protocols.md §3.3): the nonce is hashed as the text that was sent,
        // so it is not decoded; libwebsockets' quote of the -04 example even has non-zero
        // padding bits in it.
        let connection_key = match &self.hybi04_key {
            None => None,
            Some(key) => {
                let mut nonces = all("Sec-WebSocket-Nonce");
                match (nonces.next(), nonces.next()) {
                    (Some(nonce), None) if !nonce.is_empty() => {
                        let nonce = std::str::from_utf8(nonce).map_err(|_| E::MissingNonce)?;
                        Some(hybi::connection_key(key, nonce))
                    }
                    _ => return Err(E::MissingNonce),
                }
            }
        };
        let consumed = head_len + fam.answer_len;
        if let Expect::Answer(expected) = &self.expect {
            match buf.get(head_len..consumed) {
                None => return Ok(Status::Partial),
                Some(answer) if answer != expected => return Err(E::WrongChallengeAnswer),
                Some(_) => {}
            }
        }
        Ok(Status::Complete(ServerResponse {
            subprotocol,
            headers: headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect(),
            consumed,
            connection_key,
            compression,
        }))
    }
}
