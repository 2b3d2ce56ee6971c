//! hybi-04 onwards: `Sec-WebSocket-Key` → `Sec-WebSocket-Accept` (RFC 6455 §4.2.1 item 5,
//! §4.2.2 step 5; docs/protocols.md §3.4). Versions 7, 8 and 13 share this handshake; they differ
//! only in where the origin arrives, which is the dialect's capability row.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::family::Family;

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
