//! The dialects we speak, and what each one can carry, as a table of data.
//!
//! Every behavioural difference between dialects that is a *fact about the wire* lives in
//! [`Caps`], one row per dialect, so codecs branch on a capability rather than on a dialect
//! name. See docs/protocols.md §1, §3.6, §4.6 and §7.1 for where each value comes from.

use std::fmt;

/// A WebSocket dialect, as recognised from the opening handshake.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// draft-hixie-thewebsocketprotocol-75: no challenge, sentinel framing, no close handshake.
    Hixie75,
    /// draft-hixie-thewebsocketprotocol-76, identical on the wire to hybi-00 ("draft-00"):
    /// Key1/Key2/key3 MD5 challenge, sentinel framing, `FF 00` close.
    Hixie76,
    /// hybi-01..03 ("draft03"): the hixie-76 handshake plus `Sec-WebSocket-Draft`, and the
    /// unmasked MORE-bit framing of docs/protocols.md §4.2.
    Hybi03,
    /// hybi-04 (`Sec-WebSocket-Version: 4`): Key/Accept plus a server `Sec-WebSocket-Nonce`;
    /// client frames masked by a SHA-1-derived key that covers the header too (docs §4.3).
    Hybi04,
    /// hybi-05 (`Sec-WebSocket-Version: 5`): the frame of hybi-04, masked by 4 random bytes
    /// sent before the header (docs/protocols.md §4.4); close bodies still opaque.
    Hybi05,
    /// hybi-06 (`Sec-WebSocket-Version: 6`): hybi-05 plus close status codes.
    Hybi06,
    /// hybi-07 (`Sec-WebSocket-Version: 7`), RFC framing, origin in `Sec-WebSocket-Origin`.
    Hybi07,
    /// hybi-08..12 (`Sec-WebSocket-Version: 8`), RFC framing.
    Hybi08,
    /// RFC 6455 (`Sec-WebSocket-Version: 13`).
    Rfc6455,
}

/// The framing family a dialect uses on the wire.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Framing {
    /// hixie-75/76: `00 <utf-8> FF` text frames and `80+` length-prefixed frames.
    Sentinel,
    /// hybi-01..03: length-framed, MORE bit instead of FIN, opcodes 0-5, never masked.
    MoreBit,
    /// hybi-04..06: the hybi-03 layout with FIN instead of MORE (opcodes 0-5, R4 reserved,
    /// no MASK bit); client frames are masked as [`Caps::masking`] says.
    Hybi04,
    /// hybi-07 onwards (RFC 6455 §5.2): FIN bit, opcodes 0-15, client frames masked.
    Hybi,
}

/// How the opening handshake of a dialect proves itself.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum HandshakeFamily {
    /// hixie-75: plain header echo, no proof.
    Hixie75,
    /// hixie-76 / hybi-00..03: Key1/Key2 + 8-byte key3, 16-byte MD5 answer.
    Hixie76,
    /// hybi-04 onwards: `Sec-WebSocket-Key` → `Sec-WebSocket-Accept` (SHA-1).
    KeyAccept,
}

/// How a client masks the frames it sends (docs/protocols.md §4.3-§4.5). Servers never mask.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Masking {
    /// Frames go on the wire as they are (hixie, hybi-01..03).
    None,
    /// hybi-04: each frame is preceded by a 4-byte frame nonce; the frame key is
    /// `SHA-1(nonce ++ connection key)`, 20 bytes, where the connection key comes from the
    /// handshake's key and nonce; it masks the whole frame from its first header byte.
    Sha1Nonce,
    /// hybi-05 and hybi-06: each frame is preceded by 4 random bytes that mask the whole
    /// frame, header and extended length included.
    WholeFrame,
    /// hybi-07 onwards (RFC 6455 §5.3): the MASK bit, a 4-byte key after the length, and
    /// only the payload masked.
    Payload,
}

/// What a dialect can carry: one row of data per dialect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caps {
    /// The name used in logs and in `protocol_version()`: `hixie-75`, `hybi-13`, ...
    pub name: &'static str,
    /// Framing family.
    pub framing: Framing,
    /// Handshake family.
    pub handshake: HandshakeFamily,
    /// `Sec-WebSocket-Version` token for this dialect, if it has one.
    pub version: Option<u8>,
    /// Request headers the origin may arrive in, in order of preference.
    pub origin_headers: &'static [&'static str],
    /// Binary messages are deliverable. Hixie browsers consume length-prefixed frames
    /// and report an error instead of a message (docs/protocols.md §7.3).
    pub binary: bool,
    /// Ping and pong frames exist.
    pub ping: bool,
    /// A close frame exists (hixie-76 `FF 00` counts; hixie-75 has only TCP close).
    pub close_frame: bool,
    /// The close frame carries a status code and a UTF-8 reason (hybi-06 onwards).
    pub close_codes: bool,
    /// Code 1004 is a legal close code from this peer (it meant "frame too large" in
    /// hybi-06..07, and is reserved in RFC 6455; see the hybi-08 row for why 8 rejects it).
    pub close_1004: bool,
    /// Messages can be fragmented, so a message of unknown length can be streamed
    /// with control frames interleaved.
    pub fragments: bool,
    /// Frames from client to server are masked (hybi-04 onwards): always
    /// `masking != Masking::None`, kept as a flag for callers that only ask whether.
    pub client_masks: bool,
    /// How client frames are masked.
    pub masking: Masking,
    /// Extended lengths must use the minimal encoding (mandatory from hybi-14).
    pub minimal_length: bool,
}

const HIXIE_ORIGIN: &[&str] = &["Origin"];
const HYBI07_ORIGIN: &[&str] = &["Sec-WebSocket-Origin"];
// hybi-08..10 clients send Sec-WebSocket-Origin, hybi-11/12 clients send Origin; both say 8.
const HYBI08_ORIGIN: &[&str] = &["Origin", "Sec-WebSocket-Origin"];

static HIXIE75: Caps = Caps {
    name: "hixie-75",
    framing: Framing::Sentinel,
    handshake: HandshakeFamily::Hixie75,
    version: None,
    origin_headers: HIXIE_ORIGIN,
    binary: false,
    ping: false,
    close_frame: false,
    close_codes: false,
    close_1004: false,
    fragments: false,
    client_masks: false,
    masking: Masking::None,
    minimal_length: false,
};

static HIXIE76: Caps = Caps {
    name: "hixie-76",
    handshake: HandshakeFamily::Hixie76,
    close_frame: true,
    ..HIXIE75
};

static HYBI03: Caps = Caps {
    name: "hybi-03",
    framing: Framing::MoreBit,
    handshake: HandshakeFamily::Hixie76,
    version: None,
    origin_headers: HIXIE_ORIGIN,
    binary: true,
    ping: true,
    close_frame: true,
    close_codes: false,
    close_1004: false,
    fragments: true,
    client_masks: false,
    masking: Masking::None,
    minimal_length: false,
};

// hybi-04..06 (docs/protocols.md §3.3, §4.3, §4.4; pywebsocket's hybi-04 and hybi-06 modules,
// em-websocket's Framing05/Close05/Close06, libwebsockets): hybi-03's opcodes with FIN, the
// Key/Accept handshake with the origin in Sec-WebSocket-Origin, and client masking first.
static HYBI04: Caps = Caps {
    name: "hybi-04",
    framing: Framing::Hybi04,
    handshake: HandshakeFamily::KeyAccept,
    version: Some(4),
    origin_headers: HYBI07_ORIGIN,
    client_masks: true,
    masking: Masking::Sha1Nonce,
    ..HYBI03
};

static HYBI05: Caps = Caps {
    name: "hybi-05",
    version: Some(5),
    masking: Masking::WholeFrame,
    ..HYBI04
};

// The close body becomes a status code and a UTF-8 reason, codes 1000-1004 with 1004 meaning
// "frame too large" (pywebsocket's hybi-06 stream, em-websocket's Close06).
static HYBI06: Caps = Caps {
    name: "hybi-06",
    version: Some(6),
    close_codes: true,
    close_1004: true,
    ..HYBI05
};

static HYBI07: Caps = Caps {
    name: "hybi-07",
    framing: Framing::Hybi,
    handshake: HandshakeFamily::KeyAccept,
    version: Some(7),
    origin_headers: HYBI07_ORIGIN,
    binary: true,
    ping: true,
    close_frame: true,
    close_codes: true,
    close_1004: true,
    fragments: true,
    client_masks: true,
    masking: Masking::Payload,
    minimal_length: false,
};

static HYBI08: Caps = Caps {
    name: "hybi-08",
    version: Some(8),
    origin_headers: HYBI08_ORIGIN,
    // Version 8 covers hybi-08..12; the Autobahn suite (hybi-10 mode) and the ws library
    // treat 1004 as invalid there, and no version-8 browser sends it (its close() only
    // takes 1000 or 3000-4999), so only hybi-07 keeps the old meaning.
    close_1004: false,
    ..HYBI07
};

static RFC6455: Caps = Caps {
    name: "hybi-13",
    version: Some(13),
    origin_headers: HIXIE_ORIGIN,
    close_1004: false,
    minimal_length: true,
    ..HYBI07
};

impl Dialect {
    /// Every dialect, oldest first.
    pub const ALL: [Dialect; 9] = [
        Dialect::Hixie75,
        Dialect::Hixie76,
        Dialect::Hybi03,
        Dialect::Hybi04,
        Dialect::Hybi05,
        Dialect::Hybi06,
        Dialect::Hybi07,
        Dialect::Hybi08,
        Dialect::Rfc6455,
    ];

    /// The capability row of this dialect.
    pub fn caps(self) -> &'static Caps {
        match self {
            Dialect::Hixie75 => &HIXIE75,
            Dialect::Hixie76 => &HIXIE76,
            Dialect::Hybi03 => &HYBI03,
            Dialect::Hybi04 => &HYBI04,
            Dialect::Hybi05 => &HYBI05,
            Dialect::Hybi06 => &HYBI06,
            Dialect::Hybi07 => &HYBI07,
            Dialect::Hybi08 => &HYBI08,
            Dialect::Rfc6455 => &RFC6455,
        }
    }

    /// The dialect named by a `Sec-WebSocket-Version` token, if we implement it.
    pub fn from_version(version: u8) -> Option<Dialect> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.caps().version == Some(version))
    }

    /// The name used in logs and by `protocol_version()`.
    pub fn name(self) -> &'static str {
        self.caps().name
    }

    /// Parse a dialect name as used on command lines: `hixie-75`, `hixie-76` (or `hybi-00`),
    /// `hybi-03` (or `draft03`), `hybi-04`, `hybi-05`, `hybi-06`, `hybi-07`, `hybi-08`,
    /// `hybi-13` (or `rfc6455`); each hybi dialect also by its version token (`4` ... `13`).
    pub fn from_name(name: &str) -> Option<Dialect> {
        let name = name.to_ascii_lowercase();
        Some(match name.as_str() {
            "hixie-75" | "hixie75" | "75" => Dialect::Hixie75,
            "hixie-76" | "hixie76" | "76" | "hybi-00" | "draft-00" => Dialect::Hixie76,
            "hybi-03" | "hybi03" | "draft03" | "draft-03" => Dialect::Hybi03,
            "hybi-04" | "hybi04" | "draft-04" | "4" => Dialect::Hybi04,
            "hybi-05" | "hybi05" | "draft-05" | "5" => Dialect::Hybi05,
            "hybi-06" | "hybi06" | "draft-06" | "6" => Dialect::Hybi06,
            "hybi-07" | "hybi07" | "7" => Dialect::Hybi07,
            "hybi-08" | "hybi08" | "8" => Dialect::Hybi08,
            "hybi-13" | "hybi13" | "rfc6455" | "rfc-6455" | "13" => Dialect::Rfc6455,
            _ => return None,
        })
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which end of the connection a codec plays; it decides the masking rules.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We accepted the connection: we expect masked frames from hybi-04+ clients.
    Server,
    /// We opened the connection: we mask what we send and reject masked frames.
    Client,
}

/// The versions we list in `Sec-WebSocket-Version` when refusing an unknown version: the
/// `version` of every row that has one, newest first (a test checks it against the table).
/// hixie clients never send the header and cannot retry with it, so they are not listed.
pub const SUPPORTED_VERSIONS: &str = "13, 8, 7, 6, 5, 4";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_tokens_map_to_hybi_dialects_only() {
        assert_eq!(Dialect::from_version(13), Some(Dialect::Rfc6455));
        assert_eq!(Dialect::from_version(8), Some(Dialect::Hybi08));
        assert_eq!(Dialect::from_version(7), Some(Dialect::Hybi07));
        assert_eq!(Dialect::from_version(6), Some(Dialect::Hybi06));
        assert_eq!(Dialect::from_version(5), Some(Dialect::Hybi05));
        assert_eq!(Dialect::from_version(4), Some(Dialect::Hybi04));
        for v in [0, 1, 2, 3, 9, 12, 14, 76] {
            assert_eq!(Dialect::from_version(v), None, "version {v}");
        }
    }

    #[test]
    fn supported_versions_list_every_version_token_newest_first() {
        let mut versions: Vec<u8> = Dialect::ALL
            .into_iter()
            .filter_map(|d| d.caps().version)
            .collect();
        versions.sort_unstable_by(|a, b| b.cmp(a));
        let listed: Vec<String> = versions.iter().map(u8::to_string).collect();
        assert_eq!(SUPPORTED_VERSIONS, listed.join(", "));
    }

    #[test]
    fn names_round_trip() {
        for d in Dialect::ALL {
            assert_eq!(Dialect::from_name(d.name()), Some(d));
            if let Some(version) = d.caps().version {
                assert_eq!(Dialect::from_name(&version.to_string()), Some(d));
            }
        }
        assert_eq!(Dialect::from_name("draft03"), Some(Dialect::Hybi03));
        assert_eq!(Dialect::from_name("hybi-00"), Some(Dialect::Hixie76));
        assert_eq!(Dialect::from_name("HYBI-05"), Some(Dialect::Hybi05));
        assert_eq!(Dialect::from_name("hybi-09"), None);
        assert_eq!(Dialect::from_name("9"), None);
    }

    #[test]
    fn masking_by_dialect_and_only_rfc_demands_minimal_lengths() {
        let masking: Vec<_> = Dialect::ALL
            .into_iter()
            .map(|d| (d, d.caps().masking))
            .collect();
        use Masking::*;
        assert_eq!(
            masking,
            [
                (Dialect::Hixie75, None),
                (Dialect::Hixie76, None),
                (Dialect::Hybi03, None),
                (Dialect::Hybi04, Sha1Nonce),
                (Dialect::Hybi05, WholeFrame),
                (Dialect::Hybi06, WholeFrame),
                (Dialect::Hybi07, Payload),
                (Dialect::Hybi08, Payload),
                (Dialect::Rfc6455, Payload),
            ]
        );
        for d in Dialect::ALL {
            assert_eq!(d.caps().client_masks, d.caps().masking != None, "{d}");
        }
        assert!(Dialect::Rfc6455.caps().minimal_length);
        assert!(!Dialect::Hybi08.caps().minimal_length);
        assert!(Dialect::Hybi07.caps().close_1004 && Dialect::Hybi06.caps().close_1004);
        assert!(!Dialect::Hybi08.caps().close_1004 && !Dialect::Rfc6455.caps().close_1004);
    }

    #[test]
    fn hybi04_to_06_rows() {
        for d in [Dialect::Hybi04, Dialect::Hybi05, Dialect::Hybi06] {
            let caps = d.caps();
            assert_eq!(caps.framing, Framing::Hybi04);
            assert_eq!(caps.handshake, HandshakeFamily::KeyAccept);
            assert_eq!(caps.origin_headers, ["Sec-WebSocket-Origin"]);
            assert!(caps.binary && caps.ping && caps.fragments && caps.close_frame);
            assert!(!caps.minimal_length);
        }
        // Status codes in the close body from hybi-06 only.
        assert!(!Dialect::Hybi04.caps().close_codes && !Dialect::Hybi05.caps().close_codes);
        assert!(Dialect::Hybi06.caps().close_codes);
    }
}
