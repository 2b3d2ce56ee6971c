//! Agreeing on compression in the opening handshake: permessage-deflate (RFC 7692 §7) and
//! deflate-frame under either of its names (draft-tyoshino-hybi-websocket-perframe-deflate;
//! WebKit's `x-webkit-deflate-frame`), server and client side, from one [`DeflatePolicy`].
//!
//! The rules are docs/protocols.md §6.2 and §6.3: an offer with an unknown, repeated or
//! invalid parameter is declined (the next offer is tried), never answered with a broken
//! header; a client fails a response it did not offer or whose parameters break its offer.
//!
//! ```
//! use ws_protocols::compression::{negotiate, DeflatePolicy, Scope};
//! use ws_protocols::Dialect;
//!
//! let offers = ["permessage-deflate; client_max_window_bits".to_string()];
//! let agreed = negotiate(&offers, Dialect::Rfc6455, &DeflatePolicy::default()).unwrap();
//! assert_eq!(agreed.compression.scope, Scope::Message);
//! assert_eq!(
//!     agreed.response,
//!     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
//! );
//! ```

use super::extension_list::{elements, parse_element, Element};
use super::{Compression, Scope, StreamParams};
use crate::dialect::{Dialect, Framing};
use std::fmt;

/// The extension's name in RFC 7692.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";
/// The names deflate-frame went by: the draft's, and WebKit's prefixed one.
pub const DEFLATE_FRAME_NAMES: [&str; 2] = ["x-webkit-deflate-frame", "deflate-frame"];

/// What one side wants of compression; the same type for a server's policy and a client's
/// offer. The default is lean: both extensions, full windows, and no context kept across
/// messages in either direction, so an idle connection holds no compression state.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DeflatePolicy {
    /// Agree to (server) or offer (client) permessage-deflate.
    pub permessage_deflate: bool,
    /// Agree to or offer deflate-frame (`x-webkit-deflate-frame`), for the WebKit and
    /// Chrome builds of 2012-2013. A server takes it only when no acceptable
    /// permessage-deflate offer came.
    pub deflate_frame: bool,
    /// Keep our compression context from one message to the next: better ratios, but zlib's
    /// window and tables stay allocated for the connection's life once it has sent. Without it the state lives only while a
    /// message is being written (and we say so: `server_no_context_takeover` from a server,
    /// `client_no_context_takeover` from a client).
    pub keep_our_context: bool,
    /// Let the peer keep its context (so we keep our inflater's window, 2^bits bytes, for
    /// the connection's life). Without it we ask the peer not to: permessage-deflate only,
    /// since deflate-frame's peers ignore the request (see `DEFLATE_FRAME_PEER`).
    pub let_peer_keep_context: bool,
    /// The largest window we compress with (9..=15; zlib has no 8 for raw deflate).
    pub our_max_window_bits: u8,
    /// The largest window we ask the peer to compress with (8..=15): permessage-deflate only.
    pub peer_max_window_bits: u8,
    /// Our messages shorter than this many bytes go uncompressed: for them compression
    /// costs more time than it saves bytes. Default 64.
    pub min_size: usize,
}

impl Default for DeflatePolicy {
    fn default() -> Self {
        DeflatePolicy {
            permessage_deflate: true,
            deflate_frame: true,
            keep_our_context: false,
            let_peer_keep_context: false,
            our_max_window_bits: 15,
            peer_max_window_bits: 15,
            min_size: 64,
        }
    }
}

impl DeflatePolicy {
    /// Nothing agreed or offered.
    pub const OFF: DeflatePolicy = DeflatePolicy {
        permessage_deflate: false,
        deflate_frame: false,
        keep_our_context: false,
        let_peer_keep_context: false,
        our_max_window_bits: 15,
        peer_max_window_bits: 15,
        min_size: 64,
    };

    /// Context kept both ways: the best ratios, the most memory.
    pub fn keep_context() -> Self {
        DeflatePolicy {
            keep_our_context: true,
            let_peer_keep_context: true,
            ..Self::default()
        }
    }

    /// Whether anything is to be negotiated.
    pub fn is_on(&self) -> bool {
        self.permessage_deflate || self.deflate_frame
    }

    fn our_bits(&self) -> u8 {
        self.our_max_window_bits.clamp(9, 15)
    }

    fn peer_bits(&self) -> u8 {
        self.peer_max_window_bits.clamp(8, 15)
    }
}

/// What a server agreed to: the compression to speak and the header value that says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreed {
    /// From the server's point of view.
    pub compression: Compression,
    /// The `Sec-WebSocket-Extensions` value for the 101 response.
    pub response: String,
}

/// Why a client fails the server's answer about extensions (the connection is then closed
/// with 1010 where the dialect has codes; docs/protocols.md §6.3).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ExtensionError {
    /// The header is not an extension list (RFC 6455 §9.1).
    Malformed,
    /// The server accepted an extension we did not offer.
    NotOffered,
    /// More than one extension accepted (we never offer two that may stand together).
    SeveralAccepted,
    /// A parameter we do not know.
    UnknownParameter,
    /// A parameter given twice.
    RepeatedParameter(&'static str),
    /// A parameter with a value it may not have, or without one it needs.
    InvalidValue(&'static str),
    /// A parameter our offer requires in the response is missing (server_no_context_takeover,
    /// server_max_window_bits).
    MissingParameter(&'static str),
}

impl fmt::Display for ExtensionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtensionError::Malformed => f.write_str("malformed Sec-WebSocket-Extensions"),
            ExtensionError::NotOffered => f.write_str("an extension that was not offered"),
            ExtensionError::SeveralAccepted => f.write_str("more than one extension accepted"),
            ExtensionError::UnknownParameter => f.write_str("an unknown extension parameter"),
            ExtensionError::RepeatedParameter(p) => write!(f, "repeated extension parameter {p:?}"),
            ExtensionError::InvalidValue(p) => write!(f, "invalid value for {p:?}"),
            ExtensionError::MissingParameter(p) => write!(f, "response lacks {p:?}"),
        }
    }
}

impl std::error::Error for ExtensionError {}

/// Window bits: 8 to 15 in decimal without a leading zero (RFC 7692 §7.1.2).
fn window_bits(name: &'static str, value: Option<&str>) -> Result<u8, ExtensionError> {
    let invalid = || ExtensionError::InvalidValue(name);
    let value = value.ok_or_else(invalid)?;
    // Digits only: `u8::from_str` would also take a sign ("+9").
    if value.is_empty() || value.len() > 2 || value.starts_with('0') {
        return Err(invalid());
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match value.parse::<u8>() {
        Ok(bits @ 8..=15) => Ok(bits),
        _ => Err(invalid()),
    }
}

/// The parameters of one element, each known name at most once.
#[derive(Default)]
struct Params<'a> {
    seen: Vec<(&'static str, Option<&'a str>)>,
}

impl<'a> Params<'a> {
    fn read(element: &'a Element, known: &[&'static str]) -> Result<Self, ExtensionError> {
        let mut params = Params::default();
        for (key, value) in &element.params {
            let key = key.as_str();
            let Some(name) = known.iter().find(|k| k.eq_ignore_ascii_case(key)) else {
                return Err(ExtensionError::UnknownParameter);
            };
            if params.get(name).is_some() {
                return Err(ExtensionError::RepeatedParameter(name));
            }
            params.seen.push((name, value.as_deref()));
        }
        Ok(params)
    }

    /// `Some(value)` if present (`Some(None)`: present without a value).
    fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.seen.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    /// A flag parameter: present (without a value) or not.
    fn flag(&self, name: &'static str) -> Result<bool, ExtensionError> {
        match self.get(name) {
            None => Ok(false),
            Some(None) => Ok(true),
            Some(Some(_)) => Err(ExtensionError::InvalidValue(name)),
        }
    }
}

const SERVER_NO_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_BITS: &str = "server_max_window_bits";
const CLIENT_BITS: &str = "client_max_window_bits";
const PMD_PARAMS: [&str; 4] = [
    SERVER_NO_TAKEOVER,
    CLIENT_NO_TAKEOVER,
    SERVER_BITS,
    CLIENT_BITS,
];
const NO_TAKEOVER: &str = "no_context_takeover";
const BITS: &str = "max_window_bits";
const FRAME_PARAMS: [&str; 2] = [NO_TAKEOVER, BITS];

/// Whether `dialect` can carry compressed frames: RSV1 exists from hybi-07's framing on.
pub fn dialect_compresses(dialect: Dialect) -> bool {
    dialect.caps().framing == Framing::Hybi
}

/// The server's choice among the client's offers (`Sec-WebSocket-Extensions` values, or
/// their elements): the first acceptable permessage-deflate offer, else the first
/// acceptable deflate-frame one, else nothing (the response then carries no header).
pub fn negotiate<S: AsRef<str>>(
    offers: &[S],
    dialect: Dialect,
    policy: &DeflatePolicy,
) -> Option<Agreed> {
    if !dialect_compresses(dialect) || !policy.is_on() {
        return None;
    }
    // Two passes over the offers, each parsing as it goes: permessage-deflate anywhere in
    // the list wins over deflate-frame, and a malformed element is declined like any other
    // unacceptable offer (RFC 7692 §5: "the next" element is the client's next choice).
    let parsed =
        || elements(offers.iter().map(AsRef::as_ref)).filter_map(|e| parse_element(e).ok());
    let permessage = parsed()
        .filter(|e| policy.permessage_deflate && e.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
        .find_map(|e| accept_permessage(&e, policy).ok());
    permessage.or_else(|| {
        parsed()
            .filter(|e| policy.deflate_frame && is_deflate_frame(&e.name))
            .find_map(|e| accept_deflate_frame(&e, policy).ok())
    })
}

fn is_deflate_frame(name: &str) -> bool {
    DEFLATE_FRAME_NAMES
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// A server's answer to one permessage-deflate offer (RFC 7692 §7.1), or why it is
/// declined.
fn accept_permessage(offer: &Element, policy: &DeflatePolicy) -> Result<Agreed, ExtensionError> {
    let params = Params::read(offer, &PMD_PARAMS)?;
    let mut response = String::from(PERMESSAGE_DEFLATE);
    // Ours (the server's stream). The client may forbid our context, and we may drop it
    // unasked (§7.1.1.1); saying so lets the client drop its inflater's window.
    let (server_no_takeover, client_no_takeover) = (
        params.flag(SERVER_NO_TAKEOVER)?,
        params.flag(CLIENT_NO_TAKEOVER)?,
    );
    let our_keep = policy.keep_our_context && !server_no_takeover;
    if !our_keep {
        response.push_str("; server_no_context_takeover");
    }
    // Theirs. §7.1.1.2 puts no condition on the response: "A server MAY include the
    // "client_no_context_takeover" extension parameter in an extension negotiation
    // response", and "by including [it] in an extension negotiation response, a server
    // prevents the peer client from using context takeover". So a server may impose it on
    // a client that did not offer it, and a client must accept it unasked (unlike
    // client_max_window_bits, which §7.1.2.2 forbids in a response to an offer without
    // it). Offered, it is only a hint (the server "may either ignore the parameter or use
    // the parameter"); we echo it, which is what lets us drop our inflater's window.
    let their_keep = policy.let_peer_keep_context && !client_no_takeover;
    if !their_keep {
        response.push_str("; client_no_context_takeover");
    }
    // A limit the client puts on our window must be answered with one at most as large
    // (§7.1.2.1); unasked we may announce a smaller one. A client may ask for 8, which we
    // agree to: zlib (and zlib-rs) refuse raw deflate with an 8-bit window (since zlib
    // 1.2.9, madler/zlib#171: before that 8 silently became 9, and the peer was not told),
    // and `Deflater` sends an agreed-8 stream uncompressed, which permessage-deflate
    // allows for any message. Declining would lose compression in the other direction too.
    let our_bits = match params.get(SERVER_BITS) {
        Some(value) => window_bits(SERVER_BITS, value)?.min(policy.our_bits()),
        None => policy.our_bits(),
    };
    if params.get(SERVER_BITS).is_some() || our_bits < 15 {
        response.push_str(&format!("; server_max_window_bits={our_bits}"));
    }
    // The client's window may be limited only if it offered client_max_window_bits
    // (§7.1.2.2), with or without a value.
    let their_bits = match params.get(CLIENT_BITS) {
        None => 15,
        Some(value) => {
            let offered = match value {
                None => 15,
                Some(_) => window_bits(CLIENT_BITS, value)?,
            };
            let bits = offered.min(policy.peer_bits());
            if bits < 15 || value.is_some() {
                response.push_str(&format!("; client_max_window_bits={bits}"));
            }
            bits
        }
    };
    Ok(Agreed {
        compression: Compression {
            scope: Scope::Message,
            ours: StreamParams {
                window_bits: our_bits,
                keep_context: our_keep,
            },
            theirs: StreamParams {
                window_bits: their_bits,
                keep_context: their_keep,
            },
        },
        response,
    })
}

/// How we inflate a deflate-frame peer's frames, whatever our policy: with the full window,
/// kept for the connection's life. The extension lets us ask the peer for
/// `no_context_takeover` and a smaller `max_window_bits`, but the one maintained implementation
/// to test against, Jetty 9.4, agrees to both and honours neither (its frames refer back
/// across frames with a 32 KiB window; tests/conformance/deflate_frame.sh). An inflater that
/// trusted the request would close such peers with 1007, so we never ask and always keep the
/// window: about 40 KiB per deflate-frame connection once its peer has sent a compressed frame.
const DEFLATE_FRAME_PEER: StreamParams = StreamParams {
    window_bits: 15,
    keep_context: true,
};

/// A server's answer to one deflate-frame offer (docs/protocols.md §6.2): the offer's
/// parameters bind our compressor, the response's bind the client's.
fn accept_deflate_frame(offer: &Element, policy: &DeflatePolicy) -> Result<Agreed, ExtensionError> {
    let params = Params::read(offer, &FRAME_PARAMS)?;
    let our_bits = match params.get(BITS) {
        Some(value) => window_bits(BITS, value)?.min(policy.our_bits()),
        None => policy.our_bits(),
    };
    let our_keep = !params.flag(NO_TAKEOVER)? && policy.keep_our_context;
    Ok(Agreed {
        compression: Compression {
            scope: Scope::Frame,
            ours: StreamParams {
                window_bits: our_bits,
                keep_context: our_keep,
            },
            theirs: DEFLATE_FRAME_PEER,
        },
        // Nothing asked of the client: see DEFLATE_FRAME_PEER.
        response: offer.name.clone(),
    })
}

/// A client's `Sec-WebSocket-Extensions` offer for `policy` (None when it offers nothing):
/// permessage-deflate first, then deflate-frame under WebKit's name.
pub fn offer(policy: &DeflatePolicy) -> Option<String> {
    let mut offers = Vec::new();
    if policy.permessage_deflate {
        let mut pmd = String::from(PERMESSAGE_DEFLATE);
        // We can limit our window, and say how far if we do.
        match policy.our_bits() {
            15 => pmd.push_str("; client_max_window_bits"),
            bits => pmd.push_str(&format!("; client_max_window_bits={bits}")),
        }
        if !policy.keep_our_context {
            pmd.push_str("; client_no_context_takeover");
        }
        if !policy.let_peer_keep_context {
            pmd.push_str("; server_no_context_takeover");
        }
        if policy.peer_bits() < 15 {
            pmd.push_str(&format!("; server_max_window_bits={}", policy.peer_bits()));
        }
        offers.push(pmd);
    }
    if policy.deflate_frame {
        // Nothing asked of the server: see DEFLATE_FRAME_PEER.
        offers.push(String::from(DEFLATE_FRAME_NAMES[0]));
    }
    (!offers.is_empty()).then(|| offers.join(", "))
}

/// Check the server's answer (its `Sec-WebSocket-Extensions` values) against what
/// `policy` offered: the compression agreed, from the client's point of view, or `None` if
/// the server took none.
pub fn accept_response<'a>(
    values: impl IntoIterator<Item = &'a str>,
    policy: &DeflatePolicy,
) -> Result<Option<Compression>, ExtensionError> {
    let mut accepted = elements(values);
    let Some(first) = accepted.next() else {
        return Ok(None);
    };
    if accepted.next().is_some() {
        return Err(ExtensionError::SeveralAccepted);
    }
    let element = parse_element(first)?;
    if policy.permessage_deflate && element.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
        return permessage_response(&element, policy).map(Some);
    }
    if policy.deflate_frame && element.name.eq_ignore_ascii_case(DEFLATE_FRAME_NAMES[0]) {
        return deflate_frame_response(&element, policy).map(Some);
    }
    Err(ExtensionError::NotOffered)
}

/// docs/protocols.md §6.3's table, from the client's side.
fn permessage_response(
    response: &Element,
    policy: &DeflatePolicy,
) -> Result<Compression, ExtensionError> {
    let params = Params::read(response, &PMD_PARAMS)?;
    let server_no_takeover = params.flag(SERVER_NO_TAKEOVER)?;
    if !policy.let_peer_keep_context && !server_no_takeover {
        return Err(ExtensionError::MissingParameter(SERVER_NO_TAKEOVER));
    }
    let client_no_takeover = params.flag(CLIENT_NO_TAKEOVER)?;
    let their_bits = match params.get(SERVER_BITS) {
        None if policy.peer_bits() < 15 => {
            return Err(ExtensionError::MissingParameter(SERVER_BITS))
        }
        None => 15,
        Some(value) => {
            let bits = window_bits(SERVER_BITS, value)?;
            if bits > policy.peer_bits() {
                return Err(ExtensionError::InvalidValue(SERVER_BITS));
            }
            bits
        }
    };
    // We always offer client_max_window_bits (with our limit, if any).
    let our_bits = match params.get(CLIENT_BITS) {
        None => policy.our_bits(),
        Some(value) => {
            let bits = window_bits(CLIENT_BITS, value)?;
            if bits > policy.our_bits() {
                return Err(ExtensionError::InvalidValue(CLIENT_BITS));
            }
            bits
        }
    };
    Ok(Compression {
        scope: Scope::Message,
        ours: StreamParams {
            window_bits: our_bits,
            keep_context: policy.keep_our_context && !client_no_takeover,
        },
        theirs: StreamParams {
            window_bits: their_bits,
            keep_context: !server_no_takeover,
        },
    })
}

/// deflate-frame from the client's side: the response's parameters bind our compressor.
fn deflate_frame_response(
    response: &Element,
    policy: &DeflatePolicy,
) -> Result<Compression, ExtensionError> {
    let params = Params::read(response, &FRAME_PARAMS)?;
    let our_bits = match params.get(BITS) {
        None => policy.our_bits(),
        Some(value) => window_bits(BITS, value)?.min(policy.our_bits()),
    };
    Ok(Compression {
        scope: Scope::Frame,
        ours: StreamParams {
            window_bits: our_bits,
            keep_context: !params.flag(NO_TAKEOVER)? && policy.keep_our_context,
        },
        theirs: DEFLATE_FRAME_PEER,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(offers: &[&str], policy: &DeflatePolicy) -> Option<(String, Compression)> {
        negotiate(offers, Dialect::Rfc6455, policy).map(|a| (a.response, a.compression))
    }

    fn params(window_bits: u8, keep_context: bool) -> StreamParams {
        StreamParams {
            window_bits,
            keep_context,
        }
    }

    #[test]
    fn rfc_7692_offers_are_answered() {
        let keep = DeflatePolicy::keep_context();
        // §7.1 / §5.2 examples: a bare offer; with client_max_window_bits; with the
        // server's window limited; a list with a fallback.
        let (response, agreed) = server(&["permessage-deflate"], &keep).unwrap();
        assert_eq!(response, "permessage-deflate");
        assert_eq!(
            (agreed.ours, agreed.theirs),
            (params(15, true), params(15, true))
        );
        let (response, agreed) =
            server(&["permessage-deflate; client_max_window_bits"], &keep).unwrap();
        assert_eq!(response, "permessage-deflate");
        assert_eq!(agreed.theirs, params(15, true));
        let (response, agreed) = server(
            &["permessage-deflate; client_max_window_bits; server_max_window_bits=10"],
            &keep,
        )
        .unwrap();
        assert_eq!(response, "permessage-deflate; server_max_window_bits=10");
        assert_eq!(agreed.ours, params(10, true));
        let (response, agreed) = server(
            &["permessage-deflate; server_max_window_bits=10, permessage-deflate"],
            &DeflatePolicy {
                our_max_window_bits: 12,
                ..keep
            },
        )
        .unwrap();
        assert_eq!(response, "permessage-deflate; server_max_window_bits=10");
        assert_eq!(agreed.ours.window_bits, 10);
        // A quoted value is a value (§7.1, quoted-string), and the client's limit answered.
        let (response, agreed) = server(
            &["permessage-deflate; client_max_window_bits=\"10\"; client_no_context_takeover"],
            &keep,
        )
        .unwrap();
        assert_eq!(
            response,
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=10"
        );
        assert_eq!(agreed.theirs, params(10, false));
    }

    #[test]
    fn the_lean_default_asks_for_no_context_either_way() {
        let lean = DeflatePolicy::default();
        let (response, agreed) = server(&["permessage-deflate"], &lean).unwrap();
        assert_eq!(
            response,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        assert_eq!(
            (agreed.ours, agreed.theirs),
            (params(15, false), params(15, false))
        );
        let smaller = DeflatePolicy {
            our_max_window_bits: 8,
            peer_max_window_bits: 10,
            ..lean
        };
        let (response, agreed) =
            server(&["permessage-deflate; client_max_window_bits"], &smaller).unwrap();
        assert!(response.ends_with("; server_max_window_bits=9; client_max_window_bits=10"));
        assert_eq!(agreed.ours.window_bits, 9, "zlib's least for raw deflate");
    }

    #[test]
    fn bad_offers_are_declined_and_the_next_one_taken() {
        let policy = DeflatePolicy::default();
        for bad in [
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; client_max_window_bits=\"10",
            "permessage-deflate; =1",
            "x-webkit-deflate-frame; max_window_bits=99",
            "x-webkit-deflate-frame; no_context_takeover=yes",
            "x-webkit-deflate-frame; client_max_window_bits",
        ] {
            assert_eq!(server(&[bad], &policy), None, "{bad}");
            let (response, _) = server(&[bad, "permessage-deflate"], &policy).unwrap();
            assert!(
                response.starts_with("permessage-deflate;"),
                "{bad}: {response}"
            );
        }
        // Nothing for dialects without RSV1, or when off.
        let offers = ["permessage-deflate"];
        assert_eq!(negotiate(&offers, Dialect::Hybi03, &policy), None);
        assert_eq!(negotiate(&offers, Dialect::Hixie76, &policy), None);
        assert_eq!(
            negotiate(&offers, Dialect::Rfc6455, &DeflatePolicy::OFF),
            None
        );
        assert!(negotiate(&offers, Dialect::Hybi07, &policy).is_some());
    }

    #[test]
    fn deflate_frame_is_taken_under_the_name_offered_when_permessage_is_not() {
        let policy = DeflatePolicy::default();
        let (response, agreed) = server(&["x-webkit-deflate-frame"], &policy).unwrap();
        // Nothing asked of the client, even under the lean default (DEFLATE_FRAME_PEER).
        assert_eq!(response, "x-webkit-deflate-frame");
        assert_eq!(agreed.scope, Scope::Frame);
        assert_eq!(agreed.theirs, DEFLATE_FRAME_PEER);
        assert_eq!(agreed.ours, params(15, false));
        let (response, agreed) = server(
            &["deflate-frame; max_window_bits=10; no_context_takeover"],
            &DeflatePolicy::keep_context(),
        )
        .unwrap();
        assert_eq!(response, "deflate-frame");
        assert_eq!(agreed.ours, params(10, false));
        // permessage-deflate wins wherever it stands.
        let (response, _) =
            server(&["x-webkit-deflate-frame, permessage-deflate"], &policy).unwrap();
        assert!(response.starts_with("permessage-deflate"));
        let only_frame = DeflatePolicy {
            permessage_deflate: false,
            ..policy
        };
        let (response, _) = server(
            &["permessage-deflate", "x-webkit-deflate-frame"],
            &only_frame,
        )
        .unwrap();
        assert!(response.starts_with("x-webkit-deflate-frame"));
    }

    #[test]
    fn a_client_accepts_what_it_offered_and_fails_the_rest() {
        for policy in [DeflatePolicy::default(), DeflatePolicy::keep_context()] {
            // Whatever our server answers to our own offer, our client accepts, and both
            // see the same streams from their two sides.
            let offered = offer(&policy).unwrap();
            for server_policy in [
                DeflatePolicy::default(),
                DeflatePolicy::keep_context(),
                DeflatePolicy {
                    our_max_window_bits: 10,
                    peer_max_window_bits: 9,
                    ..DeflatePolicy::default()
                },
            ] {
                let agreed = negotiate(&[offered.as_str()], Dialect::Rfc6455, &server_policy)
                    .expect("our offer is acceptable");
                let client = accept_response([agreed.response.as_str()], &policy)
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    client.ours.window_bits,
                    agreed.compression.theirs.window_bits
                );
                assert_eq!(
                    client.theirs.window_bits,
                    agreed.compression.ours.window_bits
                );
                // Whoever keeps no context: the other side need not keep it either way.
                assert!(!client.ours.keep_context || agreed.compression.theirs.keep_context);
                assert!(!agreed.compression.ours.keep_context || client.theirs.keep_context);
            }
        }
        let lean = DeflatePolicy::default();
        let keep = DeflatePolicy::keep_context();
        assert_eq!(accept_response([], &lean), Ok(None));
        for (response, policy, error) in [
            ("x-foo", &lean, ExtensionError::NotOffered),
            (
                "permessage-deflate, permessage-deflate",
                &lean,
                ExtensionError::SeveralAccepted,
            ),
            (
                "permessage-deflate",
                &lean,
                ExtensionError::MissingParameter(SERVER_NO_TAKEOVER),
            ),
            (
                "permessage-deflate; client_max_window_bits",
                &keep,
                ExtensionError::InvalidValue(CLIENT_BITS),
            ),
            (
                "permessage-deflate; bar",
                &keep,
                ExtensionError::UnknownParameter,
            ),
            ("permessage-deflate; ; x", &keep, ExtensionError::Malformed),
        ] {
            assert_eq!(
                accept_response([response], policy),
                Err(error),
                "{response}"
            );
        }
        let limited = DeflatePolicy {
            peer_max_window_bits: 10,
            ..keep
        };
        assert_eq!(
            accept_response(["permessage-deflate; server_max_window_bits=11"], &limited),
            Err(ExtensionError::InvalidValue(SERVER_BITS))
        );
        assert_eq!(
            accept_response(["permessage-deflate"], &limited),
            Err(ExtensionError::MissingParameter(SERVER_BITS))
        );
        // deflate-frame: the response binds our compressor.
        let agreed = accept_response(
            ["x-webkit-deflate-frame; max_window_bits=10; no_context_takeover"],
            &keep,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (agreed.scope, agreed.ours),
            (Scope::Frame, params(10, false))
        );
    }

    #[test]
    fn the_rfc_example_list_is_answered_from_its_first_offer() {
        // RFC 7692's example of an offer list: the client prefers a server window of 10
        // and falls back to none; we can honour the first, so it wins.
        let list = "permessage-deflate; client_max_window_bits; server_max_window_bits=10, \
                    permessage-deflate; client_max_window_bits";
        let keep = DeflatePolicy::keep_context();
        let (response, agreed) = server(&[list], &keep).unwrap();
        assert_eq!(response, "permessage-deflate; server_max_window_bits=10");
        assert_eq!(
            (agreed.ours, agreed.theirs),
            (params(10, true), params(15, true))
        );
        // The same two offers on two header lines are the same list (RFC 6455 §9.1).
        let lines = [
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
            "permessage-deflate; client_max_window_bits",
        ];
        assert_eq!(server(&lines, &keep), server(&[list], &keep));
        // A client that offered that list accepts the answer and sees the mirror image.
        let client_policy = DeflatePolicy {
            peer_max_window_bits: 10,
            deflate_frame: false,
            ..keep
        };
        let client = accept_response([response.as_str()], &client_policy)
            .unwrap()
            .unwrap();
        assert_eq!((client.ours, client.theirs), (agreed.theirs, agreed.ours));
    }

    #[test]
    fn every_kind_of_bad_offer_is_declined_for_its_reason() {
        use ExtensionError::*;
        let policy = DeflatePolicy::keep_context();
        let pmd = |params: &str| format!("permessage-deflate; {params}");
        let mut cases: Vec<(String, ExtensionError)> = vec![
            (pmd("foo"), UnknownParameter),
            (pmd("foo=1"), UnknownParameter),
            // deflate-frame's parameter is unknown to permessage-deflate.
            (pmd("max_window_bits=10"), UnknownParameter),
            (
                pmd("server_no_context_takeover; server_no_context_takeover"),
                RepeatedParameter(SERVER_NO_TAKEOVER),
            ),
            (
                pmd("client_no_context_takeover; CLIENT_NO_CONTEXT_TAKEOVER"),
                RepeatedParameter(CLIENT_NO_TAKEOVER),
            ),
            (
                pmd("server_max_window_bits=10; server_max_window_bits=10"),
                RepeatedParameter(SERVER_BITS),
            ),
            (
                pmd("client_max_window_bits; client_max_window_bits=9"),
                RepeatedParameter(CLIENT_BITS),
            ),
            (
                pmd("server_no_context_takeover=1"),
                InvalidValue(SERVER_NO_TAKEOVER),
            ),
            (
                pmd("client_no_context_takeover=\"true\""),
                InvalidValue(CLIENT_NO_TAKEOVER),
            ),
            // server_max_window_bits needs a value; client_max_window_bits may lack one.
            (pmd("server_max_window_bits"), InvalidValue(SERVER_BITS)),
        ];
        for bad in [
            "7",
            "16",
            "0",
            "00",
            "010",
            "08",
            "+9",
            "-9",
            "9.0",
            "0x9",
            "abc",
            "255",
            "1000",
            "99999999999999999999",
            "\"16\"",
            "\"08\"",
        ] {
            cases.push((
                pmd(&format!("server_max_window_bits={bad}")),
                InvalidValue(SERVER_BITS),
            ));
            cases.push((
                pmd(&format!("client_max_window_bits={bad}")),
                InvalidValue(CLIENT_BITS),
            ));
        }
        for (offer, why) in &cases {
            let element = parse_element(offer).unwrap();
            let declined = accept_permessage(&element, &policy).map(|a| a.response);
            assert_eq!(declined, Err(*why), "{offer}");
            assert_eq!(server(&[offer], &policy), None, "{offer}");
            // Declined, not fatal: the next offer in the list is taken.
            let (response, _) = server(&[offer, "permessage-deflate"], &policy).unwrap();
            assert_eq!(response, "permessage-deflate", "{offer}");
        }
        // Elements that break RFC 6455 §9.1 are declined whole, never half-read.
        for offer in [
            "permessage-deflate; client_max_window_bits=\"10",
            "permessage-deflate;; server_no_context_takeover",
            "permessage-deflate server_no_context_takeover",
            "permessage-deflate; =1",
            "permessage-deflate; client_max_window_bits=\"1 0\"",
            "permessage-deflate; client_max_window_bits=",
        ] {
            assert_eq!(parse_element(offer), Err(Malformed), "{offer}");
            assert_eq!(server(&[offer], &policy), None, "{offer}");
        }
        // A list quoted inside one value is not an offer of what it names.
        assert_eq!(
            server(&[r#"foo; x=", permessage-deflate, ""#], &policy),
            None
        );
        // deflate-frame's own kinds.
        let frame = DeflatePolicy {
            permessage_deflate: false,
            ..policy
        };
        for (offer, why) in [
            ("deflate-frame; foo", UnknownParameter),
            ("deflate-frame; server_max_window_bits=10", UnknownParameter),
            (
                "deflate-frame; no_context_takeover; no_context_takeover",
                RepeatedParameter(NO_TAKEOVER),
            ),
            (
                "x-webkit-deflate-frame; max_window_bits=9; max_window_bits=9",
                RepeatedParameter(BITS),
            ),
            (
                "x-webkit-deflate-frame; no_context_takeover=1",
                InvalidValue(NO_TAKEOVER),
            ),
            (
                "x-webkit-deflate-frame; max_window_bits",
                InvalidValue(BITS),
            ),
            (
                "x-webkit-deflate-frame; max_window_bits=16",
                InvalidValue(BITS),
            ),
            (
                "x-webkit-deflate-frame; max_window_bits=7",
                InvalidValue(BITS),
            ),
        ] {
            let element = parse_element(offer).unwrap();
            let declined = accept_deflate_frame(&element, &frame).map(|a| a.response);
            assert_eq!(declined, Err(why), "{offer}");
            assert_eq!(server(&[offer], &frame), None, "{offer}");
        }
    }

    #[test]
    fn quoted_values_and_a_requested_8_bit_window_are_agreed() {
        let keep = DeflatePolicy::keep_context();
        let (response, agreed) = server(
            &["permessage-deflate; server_max_window_bits=\"1\\2\""],
            &keep,
        )
        .unwrap();
        assert_eq!(response, "permessage-deflate; server_max_window_bits=12");
        assert_eq!(agreed.ours.window_bits, 12);
        // 8 is in the RFC's range: agreed, and our Deflater then sends plain messages
        // (zlib has no raw 8-bit deflate), which the extension allows.
        let (response, agreed) =
            server(&["permessage-deflate; server_max_window_bits=8"], &keep).unwrap();
        assert_eq!(response, "permessage-deflate; server_max_window_bits=8");
        assert_eq!(agreed.ours.window_bits, 8);
        let (response, agreed) =
            server(&["permessage-deflate; client_max_window_bits=8"], &keep).unwrap();
        assert_eq!(response, "permessage-deflate; client_max_window_bits=8");
        assert_eq!(agreed.theirs.window_bits, 8);
        // Names are matched without regard to case; the response uses the RFC's spelling.
        let (response, _) =
            server(&["PerMessage-Deflate; Server_No_Context_Takeover"], &keep).unwrap();
        assert_eq!(response, "permessage-deflate; server_no_context_takeover");
    }

    #[test]
    fn a_client_may_be_told_not_to_keep_its_context_unasked() {
        // §7.1.1.2: a server MAY include client_no_context_takeover in any response.
        let keep = DeflatePolicy::keep_context();
        let agreed = accept_response(["permessage-deflate; client_no_context_takeover"], &keep)
            .unwrap()
            .unwrap();
        assert_eq!(
            (agreed.ours, agreed.theirs),
            (params(15, false), params(15, true))
        );
        // And server_no_context_takeover unasked (§7.1.1.1), and a smaller server window
        // than asked (§7.1.2.1).
        let limited = DeflatePolicy {
            peer_max_window_bits: 12,
            ..keep
        };
        let agreed = accept_response(
            ["permessage-deflate; server_no_context_takeover; server_max_window_bits=9"],
            &limited,
        )
        .unwrap()
        .unwrap();
        assert_eq!(agreed.theirs, params(9, false));
        // client_max_window_bits without a value is an offer's form only (§7.1.2.2).
        assert_eq!(
            accept_response(["permessage-deflate; client_max_window_bits"], &keep),
            Err(ExtensionError::InvalidValue(CLIENT_BITS))
        );
        // deflate-frame is answered under the name we offered; the draft's other name fails.
        assert_eq!(
            accept_response(["deflate-frame"], &keep),
            Err(ExtensionError::NotOffered)
        );
        let off = DeflatePolicy {
            deflate_frame: false,
            ..keep
        };
        assert_eq!(
            accept_response(["x-webkit-deflate-frame"], &off),
            Err(ExtensionError::NotOffered)
        );
    }

    /// Every combination of a client policy and a server policy, over window sizes that
    /// matter (8: zlib's gap; 9; a middle one; 15): our server answers our client's offer,
    /// our client accepts the answer, and the two see one connection from its two ends.
    #[test]
    fn every_pair_of_policies_agrees_on_mirrored_streams() {
        let mut policies = Vec::new();
        for flags in 0..16u8 {
            for our in [8, 9, 12, 15] {
                for peer in [8, 9, 12, 15] {
                    policies.push(DeflatePolicy {
                        permessage_deflate: flags & 1 != 0,
                        deflate_frame: flags & 2 != 0,
                        keep_our_context: flags & 4 != 0,
                        let_peer_keep_context: flags & 8 != 0,
                        our_max_window_bits: our,
                        peer_max_window_bits: peer,
                        min_size: 64,
                    });
                }
            }
        }
        for c in &policies {
            let Some(offered) = offer(c) else {
                assert!(!c.is_on());
                continue;
            };
            for (i, element) in elements([offered.as_str()]).enumerate() {
                assert!(parse_element(element).is_ok(), "{offered}");
                assert!(i < 2);
            }
            for s in &policies {
                let agreed = negotiate(&[offered.as_str()], Dialect::Rfc6455, s);
                let common_pmd = c.permessage_deflate && s.permessage_deflate;
                let common_frame = c.deflate_frame && s.deflate_frame;
                let Some(agreed) = agreed else {
                    assert!(!common_pmd && !common_frame, "{c:?} {s:?}");
                    continue;
                };
                let (server, response) = (agreed.compression, agreed.response);
                let scope = if common_pmd {
                    Scope::Message
                } else {
                    Scope::Frame
                };
                assert_eq!(server.scope, scope, "{c:?} {s:?}");
                let client = accept_response([response.as_str()], c)
                    .unwrap_or_else(|e| panic!("{e}: {response} for {c:?} {s:?}"))
                    .expect("an answer");
                assert_eq!(client.scope, scope);
                // Each stream: the receiver's window holds the sender's, and a sender that
                // keeps its context has a receiver that keeps it too.
                for (sender, receiver) in
                    [(client.ours, server.theirs), (server.ours, client.theirs)]
                {
                    assert!(sender.window_bits <= receiver.window_bits, "{response}");
                    assert!(!sender.keep_context || receiver.keep_context, "{response}");
                }
                if scope == Scope::Message {
                    // permessage-deflate states both streams exactly.
                    assert_eq!((client.ours, client.theirs), (server.theirs, server.ours));
                }
                // Each side's policy holds for what it sends and what it lets the peer send.
                for (side, policy) in [(client, c), (server, s)] {
                    assert!(side.ours.window_bits <= policy.our_bits());
                    assert!(!side.ours.keep_context || policy.keep_our_context);
                    if scope == Scope::Message {
                        if !policy.let_peer_keep_context {
                            assert!(!side.theirs.keep_context, "{response}");
                        }
                        assert!(side.theirs.window_bits <= policy.peer_bits());
                    } else {
                        // deflate-frame asks nothing of the peer and inflates with a full,
                        // kept window (DEFLATE_FRAME_PEER).
                        assert_eq!(side.theirs, DEFLATE_FRAME_PEER, "{response}");
                    }
                }
            }
        }
    }

    #[test]
    fn offers_say_what_the_policy_wants() {
        assert_eq!(
            offer(&DeflatePolicy::default()).unwrap(),
            "permessage-deflate; client_max_window_bits; client_no_context_takeover; \
             server_no_context_takeover, x-webkit-deflate-frame"
        );
        assert_eq!(
            offer(&DeflatePolicy {
                deflate_frame: false,
                ..DeflatePolicy::keep_context()
            })
            .unwrap(),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(offer(&DeflatePolicy::OFF), None);
    }
}
