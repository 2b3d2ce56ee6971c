//! The RFC 6455 §5.3 mask: payload byte `i` XOR `key[i mod 4]`, applied in place.

/// XOR `buf` with `key`, where `buf[0]` is payload byte number `offset` of the frame (so a
/// payload unmasked in several chunks continues the key rotation where the last one ended).
///
/// Works eight bytes at a time; the compiler widens the loop to SIMD registers.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // The key as seen from payload byte `offset`: its bytes rotated so key[offset % 4] comes
    // first in memory. In a little-endian word the first byte is the least significant.
    let shift = 8 * (offset % 4) as u32;
    let rotated = if cfg!(target_endian = "big") {
        u32::from_ne_bytes(key).rotate_left(shift)
    } else {
        u32::from_ne_bytes(key).rotate_right(shift)
    };
    let word = (u64::from(rotated) << 32) | u64::from(rotated);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    let key_bytes = rotated.to_ne_bytes();
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key_bytes[i % 4];
    }
}

/// The byte-at-a-time definition of the mask, kept as the reference the fast version is
/// tested and fuzzed against.
pub fn apply_mask_reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_section_5_7_masked_hello() {
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn fast_mask_matches_reference_for_every_offset_and_length() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let data: Vec<u8> = (0..100u8).collect();
        for offset in 0..8 {
            for len in 0..data.len() {
                let mut fast = data[..len].to_vec();
                let mut slow = fast.clone();
                apply_mask(&mut fast, key, offset);
                apply_mask_reference(&mut slow, key, offset);
                assert_eq!(fast, slow, "offset {offset} len {len}");
            }
        }
    }

    #[test]
    fn masking_in_chunks_equals_masking_at_once() {
        let key = [1, 2, 3, 4];
        let mut whole: Vec<u8> = (0..37).collect();
        let mut parts = whole.clone();
        apply_mask(&mut whole, key, 0);
        let (a, b) = parts.split_at_mut(7);
        apply_mask(a, key, 0);
        apply_mask(b, key, 7);
        assert_eq!(whole, parts);
    }
}
