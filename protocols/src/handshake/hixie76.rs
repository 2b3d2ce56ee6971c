//! hixie-76 / hybi-00 (and hybi-01..03): the Key1/Key2/key3 challenge and its MD5 answer
//! (docs/protocols.md §3.2).
//!
//! Each key hides a 32-bit number: the decimal digits scattered in it, divided by the count
//! of spaces in it. The answer is `MD5(be32(part1) || be32(part2) || key3)`, sent as 16 raw
//! bytes after the response head. The 8 key3 bytes follow the request head without any
//! `Content-Length`, so they are outside HTTP framing and may arrive late.

use md5::{Digest, Md5};

use super::error::HandshakeError;
use super::family::Family;

/// The hixie-76 row of the handshake-family table.
pub(crate) static FAMILY: Family = Family {
    // "WebSocket", one word, unlike -75 (faye shipped the -75 text for -76 until 2014).
    status_line: "HTTP/1.1 101 WebSocket Protocol Handshake",
    // -76 clients compare Upgrade with `WebSocket` case-sensitively (draft-76 §4.1 step 31).
    upgrade: "WebSocket",
    upgrade_exact: true,
    exact_prefix: false,
    origin_echo: Some("Sec-WebSocket-Origin"),
    location: Some("Sec-WebSocket-Location"),
    protocol: "Sec-WebSocket-Protocol",
    // "Comma lists only start with hybi-04": the value is one string, spaces included.
    protocol_is_list: false,
    key3_len: 8,
    answer_len: 16,
};

/// Digits beyond 20 cannot be a u64 anyway; refusing them bounds the work per key.
const MAX_DIGITS: usize = 20;

/// The number a key stands for: its digits read as one decimal number, divided by its spaces
/// (draft-76 §5.2 steps 4-7). Everything that is neither a digit nor U+0020 is noise.
pub(crate) fn key_part(key: &[u8]) -> Result<u32, HandshakeError> {
    let mut number: u64 = 0;
    let mut digits = 0usize;
    let mut spaces: u64 = 0;
    for &b in key {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                if digits > MAX_DIGITS {
                    return Err(HandshakeError::Hixie76KeyOverflow);
                }
                // Checked arithmetic: Go's port parsed into a u32 and silently wrapped, and
                // the JavaScript ports lost precision above 2^53 (docs/protocols.md §3.2).
                number = number
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(b - b'0')))
                    .ok_or(HandshakeError::Hixie76KeyOverflow)?;
            }
            b' ' => spaces += 1,
            _ => {}
        }
    }
    if digits == 0 {
        return Err(HandshakeError::Hixie76KeyNoDigits);
    }
    // Step 5: "If spaces_n is zero, then abort the WebSocket connection." A key without
    // spaces is what a cross-protocol attack would produce; never divide by it.
    if spaces == 0 {
        return Err(HandshakeError::Hixie76KeyNoSpaces);
    }
    // Step 6: "If key-number_n is not an integral multiple of spaces_n, then abort."
    if number % spaces != 0 {
        return Err(HandshakeError::Hixie76KeyNotMultiple);
    }
    // An honest client's product never exceeds 0xFFFFFFFF; the quotient must fit the 4 bytes
    // the challenge gives it.
    u32::try_from(number / spaces).map_err(|_| HandshakeError::Hixie76KeyOverflow)
}

/// The 16-byte answer: `MD5(be32(part1) || be32(part2) || key3)` (draft-76 §5.2 steps 10-13).
pub(crate) fn answer(part1: u32, part2: u32, key3: &[u8; 8]) -> [u8; 16] {
    let mut challenge = [0u8; 16];
    challenge[..4].copy_from_slice(&part1.to_be_bytes());
    challenge[4..8].copy_from_slice(&part2.to_be_bytes());
    challenge[8..].copy_from_slice(key3);
    Md5::digest(challenge).into()
}

/// A uniformly drawn value in `0..n` (n > 0), from 8 random bytes: the bias of the modulo is
/// below 2^-32 for the ranges used here.
fn below(random: &mut dyn FnMut(&mut [u8]), n: u64) -> u64 {
    let mut bytes = [0u8; 8];
    random(&mut bytes);
    u64::from_be_bytes(bytes) % n.max(1)
}

/// Noise characters: U+0021-U+002F and U+003A-U+007E, never a digit nor a space.
fn noise(index: u64) -> char {
    let b = if index < 15 {
        0x21 + index as u8
    } else {
        0x3A + (index - 15) as u8
    };
    char::from(b)
}

/// Build one client key (draft-76 §4.1 steps 16-22) and the number it stands for.
///
/// 1. `spaces` in 1..=12, `number` in 0..=u32::MAX / spaces, so `number * spaces` fits u32;
/// 2. the product in decimal;
/// 3. 1..=12 noise characters inserted at random positions;
/// 4. `spaces` spaces inserted at random positions, never first nor last.
pub(crate) fn client_key(random: &mut dyn FnMut(&mut [u8])) -> (String, u32) {
    let spaces = 1 + below(random, 12) as u32;
    let max = u32::MAX / spaces;
    let number = below(random, u64::from(max) + 1) as u32;
    let mut key: Vec<char> = (u64::from(number) * u64::from(spaces))
        .to_string()
        .chars()
        .collect();
    for _ in 0..1 + below(random, 12) {
        let at = below(random, key.len() as u64 + 1) as usize;
        key.insert(at, noise(below(random, 84)));
    }
    for _ in 0..spaces {
        // Positions 1..=len-1: never before the first character, never after the last.
        // The key has at least one digit and one noise character, so len >= 2.
        let at = 1 + below(random, key.len() as u64 - 1) as usize;
        key.insert(at, ' ');
    }
    (key.into_iter().collect(), number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// E1-E4 of docs/protocols.md §3.2: keys → parts, parts + key3 → the recomputed MD5.
    type Example = (&'static str, u32, &'static str, u32, [u8; 8], [u8; 16]);

    const EXAMPLES: [Example; 4] = [
        (
            "4 @1  46546xW%0l 1 5",
            829309203,
            "12998 5 Y3 1  .P00",
            259970620,
            *b"^n:ds[4U",
            *b"8jKS'y:G*Co,Wxa-",
        ),
        (
            "18x 6]8vM;54 *(5:  {   U1]8  z [  8",
            155712099,
            "1_ tx7X d  <  nw  334J702) 7]o}` 0",
            173347027,
            *b"Tm[K T2u",
            *b"fQJ,fN/4F4!~K~MH",
        ),
        (
            "3e6b263  4 17 80",
            906585445,
            "17  9 G`ZD9   2 2b 7X 3 /r90",
            179922739,
            *b"WjN}|M(6",
            *b"n`9eBk9z$R8pOtVb",
        ),
        (
            "1   38 wZ3f9 23O0 3l 0r",
            197703290,
            "27   0E 6 2  1665:< ;U 1H",
            300690739,
            [0x91, 0x25, 0x3e, 0xd3, 0xa9, 0xe7, 0x6a, 0x88],
            [
                0xb4, 0x9c, 0x6e, 0x40, 0x53, 0x04, 0x04, 0x26, 0xe5, 0x1b, 0xbf, 0x6c, 0xb7, 0x9f,
                0x1d, 0xf9,
            ],
        ),
    ];

    #[test]
    fn worked_examples_e1_to_e4() {
        for (k1, p1, k2, p2, key3, md5) in EXAMPLES {
            assert_eq!(key_part(k1.as_bytes()), Ok(p1), "{k1}");
            assert_eq!(key_part(k2.as_bytes()), Ok(p2), "{k2}");
            assert_eq!(answer(p1, p2, &key3), md5, "{k1}");
        }
    }

    #[test]
    fn e3_challenge_bytes() {
        // docs/protocols.md §3.2: challenge = 36 09 65 65 0a b9 67 33 || key3.
        assert_eq!(906585445u32.to_be_bytes(), [0x36, 0x09, 0x65, 0x65]);
        assert_eq!(179922739u32.to_be_bytes(), [0x0a, 0xb9, 0x67, 0x33]);
    }

    #[test]
    fn error_table_of_section_3_2() {
        use HandshakeError::*;
        for (key, err) in [
            ("12345", Hixie76KeyNoSpaces),
            ("abc def", Hixie76KeyNoDigits),
            ("2 L785 8o% s9Sy9@V. 4<1P5", Hixie76KeyNotMultiple),
            ("99999999999 x", Hixie76KeyOverflow),
            // 21 digits, even though the value is tiny.
            ("000000000000000000001 ", Hixie76KeyOverflow),
            // 20 digits: over u64::MAX.
            ("99999999999999999999 ", Hixie76KeyOverflow),
            // 4294967296 = 2^32: one past u32::MAX, with one space.
            ("4294967296 x", Hixie76KeyOverflow),
        ] {
            assert_eq!(key_part(key.as_bytes()), Err(err), "{key:?}");
        }
        assert_eq!(key_part(b"4294967295 x"), Ok(u32::MAX));
        // Twenty digits are allowed when their value is small.
        assert_eq!(key_part(b"00000000000000000012 x  "), Ok(4));
    }

    /// A deterministic byte source for the key construction, seeded by proptest.
    fn source(mut state: u64) -> impl FnMut(&mut [u8]) {
        move |buf: &mut [u8]| {
            for b in buf {
                // xorshift64*: any fixed sequence will do; quality is irrelevant here.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
            }
        }
    }

    proptest! {
        #[test]
        fn client_keys_follow_the_draft_and_decode_to_their_number(seed in 1u64..) {
            let mut random = source(seed);
            let (key, number) = client_key(&mut random);
            prop_assert_eq!(key_part(key.as_bytes()), Ok(number));
            prop_assert!(!key.starts_with(' ') && !key.ends_with(' '), "{:?}", key);
            let spaces = key.bytes().filter(|&b| b == b' ').count();
            prop_assert!((1..=12).contains(&spaces), "{:?}", key);
            let noise = key.bytes().filter(|b| !b.is_ascii_digit() && *b != b' ').count();
            prop_assert!((1..=12).contains(&noise), "{:?}", key);
            prop_assert!(
                key.bytes().all(|b| b == b' ' || (0x21..=0x7e).contains(&b)),
                "{:?}", key
            );
            let product: u64 = key
                .bytes()
                .filter(u8::is_ascii_digit)
                .fold(0, |n, d| n * 10 + u64::from(d - b'0'));
            prop_assert!(product <= u64::from(u32::MAX));
        }
    }

    #[test]
    fn extreme_random_values_stay_in_range() {
        for fill in [0x00u8, 0xff] {
            let mut random = |buf: &mut [u8]| buf.fill(fill);
            let (key, number) = client_key(&mut random);
            assert_eq!(key_part(key.as_bytes()), Ok(number), "{key:?}");
        }
    }
}
