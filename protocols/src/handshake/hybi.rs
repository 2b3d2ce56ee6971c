//! hybi-04 onwards: `Sec-WebSocket-Key` → `Sec-WebSocket-Accept` (RFC 6455 §4.2.1 item 5,
//! §4.2.2 step 5; docs/protocols.md §3.3, §3.4). Versions 4 to 8 and 13 share this handshake;
//! they differ in where the origin arrives, which is the dialect's capability row, and in
//! hybi-04's server nonce, from which both ends derive the connection key its masking needs.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::family::Family;
use crate::frame::ConnectionKey;

/// The hybi row of the handshake-family table.
pub(crate) static FAMILY: Family = Family {
    // RFC 6455 §4.2.2: the reason phrase is free; this is the conventional one.
    status_line: "HTTP/1.1 101 Switching Protocols",
    upgrade: "websocket",
    // hybi-04: "Upgrade value case-insensitive".
    upgrade_exact: false,
    exact_prefix: false,
    // "No Sec-WebSocket-Origin/Location in any response from hybi-04 on."
    origin_echo: None,
    location: None,
    protocol: "Sec-WebSocket-Protocol",
    protocol_is_list: true,
    key3_len: 0,
    answer_len: 0,
};

/// RFC 6455 §1.3: the GUID appended to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `base64(SHA1(key ++ GUID))`, with the key concatenated as text, never decoded
/// (RFC 6455 §4.2.2 step 5, item 4).
pub(crate) fn accept_value(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// hybi-04: the GUID appended to key and nonce for the connection key (the constant
/// pywebsocket's hybi-04 code and libwebsockets both carry).
const MASKING_GUID: &str = "61AC5F19-FBBA-4540-B96F-6561F1AB40A8";

/// hybi-04: a server nonce for a caller that supplies none, the first 16 bytes of
/// `SHA-1(key ++ "omniws hybi-04 nonce")`. It is as unpredictable as the client's key, which
/// only the two ends see.
pub(crate) fn derived_nonce(key: &str) -> [u8; 16] {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"omniws hybi-04 nonce");
    let digest = sha.finalize();
    let mut nonce = [0u8; 16];
    nonce.copy_from_slice(&digest[..16]);
    nonce
}

/// hybi-04's `Sec-WebSocket-Nonce` value: base64 of the server's 16 random bytes.
pub(crate) fn nonce_value(nonce: &[u8; 16]) -> String {
    STANDARD.encode(nonce)
}

/// hybi-04's connection key, `SHA-1(key ++ nonce ++ MASKING_GUID)`, with key and nonce as the
/// base64 texts that were on the wire, never decoded (pywebsocket's `_set_masking_key`,
/// libwebsockets' server and client alike; docs/protocols.md §3.3).
pub(crate) fn connection_key(key: &str, nonce: &str) -> ConnectionKey {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(nonce.as_bytes());
    sha.update(MASKING_GUID.as_bytes());
    ConnectionKey(sha.finalize().into())
}

/// RFC 6455 §4.2.1 item 5: "a base64-encoded value that, when decoded, is 16 bytes in
/// length", i.e. 24 characters ending `==`. The standard engine also refuses non-zero
/// padding bits, which no encoder of 16 bytes produces.
pub(crate) fn is_valid_key(key: &str) -> bool {
    key.len() == 24
        && key.ends_with("==")
        && STANDARD.decode(key).is_ok_and(|bytes| bytes.len() == 16)
}

/// A fresh key: base64 of 16 bytes from the caller's random source (RFC 6455 §4.1 item 7:
/// "randomly selected", so the caller's source must be unpredictable).
pub(crate) fn client_key(random: &mut dyn FnMut(&mut [u8])) -> String {
    let mut nonce = [0u8; 16];
    random(&mut nonce);
    STANDARD.encode(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_accept_example() {
        assert_eq!(
            accept_value("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn hybi04_connection_key_of_protocols_md_4_3() {
        // The nonce as libwebsockets quotes the -04 example (its padding bits are not zero:
        // the key is made from the text, never decoded).
        let key = connection_key("dGhlIHNhbXBsZSBub25jZQ==", "AQIDBAUGBwgJCgsMDQ4PEC==");
        let hex: String = key.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "41e14f78311e4c34283e6d8b363b8848d58591a7");
        assert_eq!(nonce_value(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA==");
    }

    #[test]
    fn key_validation() {
        assert!(is_valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
        for bad in [
            "dGhlIHNhbXBsZSBub25jZQ",     // no padding (docs/protocols.md §8.1)
            "dGhlIHNhbXBsZSBub25jZQ=",    // short padding
            "dGhlIHNhbXBsZSBub25jZR==",   // non-zero padding bits: not an encoding
            "dGhlIHNhbXBsZSBub25jZXhh",   // 18 bytes
            "dGhlIHNhbXBsZSBub25j",       // 15 bytes
            "dGhlIHNhbXBsZSBub25jZQ==  ", // length 26
            "dGhlIHNhbXBsZSBub2*jZQ==",   // not base64
            "",
        ] {
            assert!(!is_valid_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn client_keys_are_valid() {
        let mut n = 0u8;
        let mut random = |buf: &mut [u8]| {
            for b in buf {
                n = n.wrapping_add(37);
                *b = n;
            }
        };
        let key = client_key(&mut random);
        assert!(is_valid_key(&key), "{key}");
    }
}
