//! The bytes attackers send, built by hand: no encoder state and no checks, so an attack can
//! declare a length it never sends, stop inside a frame, or send what no client would. Also
//! the opening request of any dialect and the payloads honest clients check.

use ws::protocols::handshake::{client_request, ClientConfig, ClientHandshake};
use ws::protocols::{Dialect, MessageKind};

/// hybi opcodes (hybi-07 onwards and RFC 6455).
pub const OP_BINARY: u8 = 0x2;
pub const OP_PING: u8 = 0x9;

/// The masking key of every attacker frame. Clients must mask (RFC 6455 §5.3); whether the
/// key is predictable does not matter to a server.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The head of a masked hybi-07+ frame with FIN set: opcode `op`, declaring `len` payload
/// bytes, masked with [`MASK`]. What follows it on the wire is up to the attack.
pub fn hybi_head(op: u8, len: u64) -> Vec<u8> {
    let mut head = vec![0x80 | op];
    match len {
        0..=125 => head.push(0x80 | len as u8),
        126..=0xFFFF => {
            head.push(0x80 | 126);
            head.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            head.push(0x80 | 127);
            head.extend_from_slice(&len.to_be_bytes());
        }
    }
    head.extend_from_slice(&MASK);
    head
}

/// `payload` masked as the bytes at `offset..` of a frame's payload.
pub fn masked(payload: &[u8], offset: usize) -> Vec<u8> {
    let mut out = payload.to_vec();
    ws::protocols::frame::mask::apply_mask(&mut out, MASK, offset);
    out
}

/// A whole masked hybi-07+ frame.
pub fn hybi_frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = hybi_head(op, payload.len() as u64);
    frame.extend_from_slice(&masked(payload, 0));
    frame
}

/// The first byte of a hixie text frame, which runs until an `FF` byte.
pub const HIXIE_TEXT_START: u8 = 0x00;

/// The head of a hixie length-prefixed binary frame: `80`, then the length in base 128,
/// most significant group first, every group but the last with its high bit set.
pub fn hixie_binary_head(len: u64) -> Vec<u8> {
    let mut groups = vec![(len & 0x7F) as u8];
    let mut rest = len >> 7;
    while rest > 0 {
        groups.push(0x80 | (rest & 0x7F) as u8);
        rest >>= 7;
    }
    groups.push(0x80);
    groups.reverse();
    groups
}

/// `len` pseudo-random payload bytes determined by `seed`; for text, printable ASCII (valid
/// UTF-8 without `FF`, so any dialect carries it).
pub fn payload(seed: u64, len: usize, kind: MessageKind) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match kind {
                MessageKind::Text => b' ' + (x % 95) as u8,
                MessageKind::Binary => x as u8,
            }
        })
        .collect()
}

/// The complete opening request of `dialect` for `path` on `host` (for the hixie-76 family,
/// with its 8 key3 bytes), and what to expect back. Keys come from `seed`: a server cannot
/// tell, and the harness needs no OS randomness.
pub fn request(dialect: Dialect, host: &str, path: &str, seed: u64) -> (Vec<u8>, ClientHandshake) {
    let mut x = seed | 1;
    let mut random = |buf: &mut [u8]| {
        for b in buf {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    };
    let config = ClientConfig {
        origin: Some("http://siege.example"),
        ..ClientConfig::new(dialect, host, path)
    };
    let mut out = Vec::new();
    let handshake = client_request(&config, &mut random, &mut out);
    (out, handshake)
}

/// The start of a request head that a slowloris never finishes.
pub fn head_start(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: siege\r\nUpgrade: websocket\r\n").into_bytes()
}

/// One more header line for a slowloris to dribble.
pub fn dribble_line(n: usize) -> Vec<u8> {
    format!("X-Dribble-{n}: 1\r\n").into_bytes()
}

/// A request head with one header of `bytes` bytes, not terminated: past any head limit
/// smaller than `bytes` the server has all it needs to refuse.
pub fn oversize_head(path: &str, bytes: usize) -> Vec<u8> {
    let mut head = head_start(path);
    head.extend_from_slice(b"X-Big: ");
    head.resize(head.len() + bytes, b'a');
    head
}

/// Kinds of garbage where a request head should be; each should get `400`.
pub const GARBAGE_KINDS: usize = 4;

/// Garbage number `kind % GARBAGE_KINDS`.
pub fn garbage(kind: usize, seed: u64) -> Vec<u8> {
    match kind % GARBAGE_KINDS {
        // A TLS ClientHello sent to a plain-text port.
        0 => {
            let mut hello = vec![
                0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
            ];
            hello.extend_from_slice(&payload(seed, 32, MessageKind::Binary));
            hello
        }
        // Random bytes, ended as a head would be.
        1 => {
            let mut bytes = payload(seed, 200, MessageKind::Binary);
            bytes.extend_from_slice(b"\r\n\r\n");
            bytes
        }
        // A header line without a colon.
        2 => b"GET /echo HTTP/1.1\r\nHost siege\r\n\r\n".to_vec(),
        // An RFC 6455 upgrade without its key.
        _ => b"GET /echo HTTP/1.1\r\nHost: siege\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
               Sec-WebSocket-Version: 13\r\n\r\n"
            .to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hixie_lengths_are_base_128_most_significant_first() {
        assert_eq!(hixie_binary_head(0), [0x80, 0x00]);
        assert_eq!(hixie_binary_head(127), [0x80, 0x7F]);
        assert_eq!(hixie_binary_head(128), [0x80, 0x81, 0x00]);
        assert_eq!(hixie_binary_head(300), [0x80, 0x82, 0x2C]);
    }

    #[test]
    fn hybi_heads_use_the_shortest_length_form() {
        assert_eq!(hybi_head(OP_BINARY, 0)[..2], [0x82, 0x80]);
        assert_eq!(hybi_head(OP_PING, 125)[..2], [0x89, 0xFD]);
        assert_eq!(hybi_head(OP_BINARY, 126)[..4], [0x82, 0xFE, 0, 126]);
        assert_eq!(hybi_head(OP_BINARY, 16 << 20).len(), 2 + 8 + 4);
    }
}
