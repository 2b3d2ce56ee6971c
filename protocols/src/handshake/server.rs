//! The server side: read a request from a growing buffer, answer it.

use super::error::HandshakeError;
use super::family;
use super::hixie76;
use super::http;
use super::hybi;
use super::request::{Proof, Request};
use super::sniff;
use super::Status;
use crate::dialect::Masking;
use crate::frame::ConnectionKey;
use crate::limits::Limits;

/// How the application accepts a request: what [`Request::write_response`] puts in the 101.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accept<'a> {
    /// The subprotocol to confirm: one of [`Request::subprotocols`], or `None` to send no
    /// subprotocol header. hixie clients expect their value echoed when they sent one.
    pub subprotocol: Option<&'a str>,
    /// Headers to add after the dialect's own (`Set-Cookie`, `Sec-WebSocket-Extensions`, ...).
    pub extra_headers: &'a [(&'a str, &'a str)],
    /// The connection is TLS: the hixie `Location` echo says `wss://` instead of `ws://`.
    pub secure: bool,
    /// hybi-04 only: the server's 16 nonce bytes, sent base64-encoded in
    /// `Sec-WebSocket-Nonce` (docs/protocols.md §3.3); give the same value to
    /// [`Request::connection_key`]. Pass bytes from a CSPRNG, as the draft's servers did.
    /// `None` derives them from the client's `Sec-WebSocket-Key` with SHA-1: the connection
    /// key then still depends on the client's random key, which is what keeps the mask
    /// unpredictable to a script in the client, but two connections with the same key get
    /// the same nonce. Other dialects ignore the field.
    pub nonce: Option<[u8; 16]>,
}

/// A completed server handshake, from [`accept`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The request that was accepted.
    pub request: Request,
    /// The complete response: 101 head, plus the 16-byte answer in the hixie-76 family.
    pub response: Vec<u8>,
    /// Bytes of the input that belonged to the handshake (head, plus key3 in the hixie-76
    /// family). What follows is the first frame data, for the frame decoder.
    pub consumed: usize,
    /// hybi-04: the connection key for [`crate::frame::Decoder::with_connection_key`];
    /// `None` for every other dialect.
    pub connection_key: Option<ConnectionKey>,
}

/// Parse and validate an opening handshake from a growing buffer.
///
/// Returns `Partial` until the head (up to and including CRLF CRLF) is complete; call again
/// with the whole buffer when more bytes arrive. In the hixie-76 family the 8 key3 bytes
/// that follow the head are not waited for: see [`Request::key3_len`] and
/// [`Request::hixie76_answer`]. Bytes after the head are not looked at.
///
/// The size limits are checked first: a buffer already longer than `limits.max_head_bytes`
/// without a complete head is refused (431) without parsing further.
pub fn read_request(buf: &[u8], limits: &Limits) -> Result<Status<Request>, HandshakeError> {
    // Parse no more than the limit allows: a head that ends beyond it is too large, whatever
    // follows.
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    // Every header line takes at least 3 bytes (`a:` LF), so the window cannot hold more
    // than this many: the array is sized by the bytes at hand, whatever the limits say.
    let slots = limits.max_headers.min(window.len() / 3 + 1);
    let mut headers = vec![httparse::EMPTY_HEADER; slots];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(window) {
        Ok(httparse::Status::Complete(head_len)) => {
            sniff::classify(&parsed, head_len).map(Status::Complete)
        }
        Ok(httparse::Status::Partial) if buf.len() > limits.max_head_bytes => {
            Err(HandshakeError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => Ok(Status::Partial),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::TooManyHeaders),
        Err(httparse::Error::Version) => Err(HandshakeError::HttpVersion),
        Err(_) => Err(HandshakeError::MalformedHttp),
    }
}

/// Convenience driver: parse the request, wait for key3 in the hixie-76 family, let
/// `choose` decide how to accept, and produce the complete response.
///
/// `choose` runs once, when everything has arrived; what it returns may borrow from its
/// environment (a static list of supported subprotocols, say) but not from the request.
/// Servers that want to send the 101 head before key3 arrives (HAProxy withholds key3 until
/// it sees a 101, docs/protocols.md §3.2) use [`read_request`], [`Request::write_response`] and
/// [`Request::hixie76_answer`] instead.
pub fn accept<'a>(
    buf: &[u8],
    limits: &Limits,
    choose: impl FnOnce(&Request) -> Accept<'a>,
) -> Result<Status<Accepted>, HandshakeError> {
    let request = match read_request(buf, limits)? {
        Status::Partial => return Ok(Status::Partial),
        Status::Complete(request) => request,
    };
    let consumed = request.head_len + request.key3_len();
    let Some(key3) = buf.get(request.head_len..consumed) else {
        return Ok(Status::Partial);
    };
    let accept = choose(&request);
    let mut response = Vec::new();
    request.write_response(&accept, &mut response)?;
    let connection_key = request.connection_key(accept.nonce);
    if let Some(answer) = <&[u8; 8]>::try_from(key3)
        .ok()
        .and_then(|key3| request.hixie76_answer(key3))
    {
        response.extend_from_slice(&answer);
    }
    Ok(Status::Complete(Accepted {
        request,
        response,
        consumed,
        connection_key,
    }))
}

impl Request {
    /// Append the 101 response head for this request to `out`: status line, the dialect's
    /// headers in the order its clients expect, `accept.extra_headers`, and the blank line.
    ///
    /// In the hixie-76 family the 16-byte answer is not included: send
    /// [`Request::hixie76_answer`] once key3 is in. Nothing is written on error.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::SubprotocolNotOffered`] if `accept.subprotocol` is not one of
    /// [`Request::subprotocols`]; [`HandshakeError::InvalidResponseHeader`] if an extra header
    /// name is not a token or its value contains CR, LF or NUL.
    pub fn write_response(
        &self,
        accept: &Accept<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), HandshakeError> {
        // RFC 6455 §4.1: the client fails the connection if the server selects a
        // subprotocol it did not offer, so this is our mistake, caught before it is sent.
        if let Some(chosen) = accept.subprotocol {
            if !self.subprotocols.iter().any(|offered| offered == chosen) {
                return Err(HandshakeError::SubprotocolNotOffered);
            }
        }
        if !accept
            .extra_headers
            .iter()
            .all(|(name, value)| http::is_valid_header(name, value))
        {
            return Err(HandshakeError::InvalidResponseHeader);
        }

        let fam = family::of(self.dialect);
        out.extend_from_slice(fam.status_line.as_bytes());
        out.extend_from_slice(b"\r\n");
        http::header(out, "Upgrade", fam.upgrade);
        http::header(out, "Connection", "Upgrade");
        if let Proof::Key(key) = &self.proof {
            http::header(out, "Sec-WebSocket-Accept", &hybi::accept_value(key));
        }
        // hybi-04: the nonce right after the proof, where pywebsocket and libwebsockets put it.
        if let Some(nonce) = self.hybi04_nonce(accept.nonce) {
            http::header(out, "Sec-WebSocket-Nonce", &hybi::nonce_value(&nonce));
        }
        // hixie: the origin echoed verbatim (left out when the client sent none) ...
        if let (Some(name), Some(origin)) = (fam.origin_echo, self.origin()) {
            http::header(out, name, origin);
        }
        // ... and the URL the client opened, which it compares byte for byte.
        if let Some(name) = fam.location {
            let url =
                family::location(accept.secure, self.host().unwrap_or_default(), &self.target);
            http::header(out, name, &url);
        }
        if let Some(chosen) = accept.subprotocol {
            http::header(out, fam.protocol, chosen);
        }
        for (name, value) in accept.extra_headers {
            http::header(out, name, value);
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// hybi-04 only: the connection key (docs/protocols.md §3.3) of the response written
    /// with `nonce` as [`Accept::nonce`], which the frame decoder needs to unmask client
    /// frames ([`crate::frame::Decoder::with_connection_key`]). `None` for every other
    /// dialect.
    pub fn connection_key(&self, nonce: Option<[u8; 16]>) -> Option<ConnectionKey> {
        let nonce = self.hybi04_nonce(nonce)?;
        let Proof::Key(key) = &self.proof else {
            return None;
        };
        Some(hybi::connection_key(key, &hybi::nonce_value(&nonce)))
    }

    /// hybi-04: the nonce bytes the response carries (the caller's, or derived from the
    /// key); `None` for every other dialect.
    fn hybi04_nonce(&self, nonce: Option<[u8; 16]>) -> Option<[u8; 16]> {
        match (&self.proof, self.dialect.caps().masking) {
            (Proof::Key(key), Masking::Sha1Nonce) => {
                Some(nonce.unwrap_or_else(|| hybi::derived_nonce(key)))
            }
            _ => None,
        }
    }

    /// hixie-76 family only: the 16-byte MD5 answer to `key3`, sent right after the response
    /// head with no CRLF. `None` for the other dialects.
    pub fn hixie76_answer(&self, key3: &[u8; 8]) -> Option<[u8; 16]> {
        match self.proof {
            Proof::Hixie76 { part1, part2 } => Some(hixie76::answer(part1, part2, key3)),
            _ => None,
        }
    }
}
