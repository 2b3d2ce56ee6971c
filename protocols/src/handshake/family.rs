//! What differs between the three handshake families, as data.
//!
//! The server response and the client request of every dialect are written by one routine
//! each (`server.rs`, `client.rs`); they read spellings and header names from the [`Family`]
//! row of the dialect's [`HandshakeFamily`]. The rows live next to the family's own logic:
//! [`super::hixie75::FAMILY`], [`super::hixie76::FAMILY`], [`super::hybi::FAMILY`].
//! docs/protocols.md §3.6 is the same table in prose.

use crate::dialect::{Dialect, HandshakeFamily};

/// One handshake family's spellings and sizes.
#[derive(Debug)]
pub(crate) struct Family {
    /// The 101 status line, without CRLF. hixie-75 clients compare it byte for byte.
    pub status_line: &'static str,
    /// The `Upgrade` value this family sends, in both directions.
    pub upgrade: &'static str,
    /// The client compares the response's `Upgrade` value case-sensitively with `upgrade`
    /// (hixie); otherwise it looks for the token case-insensitively (hybi-04 onwards).
    pub upgrade_exact: bool,
    /// The client compares the first three response lines byte for byte (hixie-75, 85 bytes).
    pub exact_prefix: bool,
    /// Response header echoing the client's origin (hixie only).
    pub origin_echo: Option<&'static str>,
    /// Response header carrying the `ws://host/resource` URL (hixie only).
    pub location: Option<&'static str>,
    /// Subprotocol header, in both directions.
    pub protocol: &'static str,
    /// The subprotocol header holds a comma list in requests (hybi-04 onwards); otherwise it
    /// is one string, echoed verbatim.
    pub protocol_is_list: bool,
    /// Raw bytes the client sends after the request head (hixie-76's key3).
    pub key3_len: usize,
    /// Raw bytes the server sends after the response head (hixie-76's MD5 answer).
    pub answer_len: usize,
}

/// The row for a handshake family.
pub(crate) fn family(f: HandshakeFamily) -> &'static Family {
    match f {
        HandshakeFamily::Hixie75 => &super::hixie75::FAMILY,
        HandshakeFamily::Hixie76 => &super::hixie76::FAMILY,
        HandshakeFamily::KeyAccept => &super::hybi::FAMILY,
    }
}

/// The row for a dialect's handshake family.
pub(crate) fn of(d: Dialect) -> &'static Family {
    family(d.caps().handshake)
}

/// `ws://` or `wss://` + Host + resource: the hixie `Location` value, which clients compare
/// with the URL they opened byte for byte (docs/protocols.md §3.1, §3.2).
pub(crate) fn location(secure: bool, host: &str, target: &str) -> String {
    let scheme = if secure { "wss://" } else { "ws://" };
    let mut url = String::with_capacity(scheme.len() + host.len() + target.len());
    url.push_str(scheme);
    url.push_str(host);
    url.push_str(target);
    url
}
