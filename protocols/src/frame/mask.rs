//! The RFC 6455 §5.3 mask: payload byte `i` XOR `key[i mod 4]`, applied in place.

/// XOR `buf` with `key`, where `buf[0]` is payload byte number `offset` of the frame (so a
/// payload unmasked in several chunks continues the key rotation where the last one ended).
///
/// Works a word at a time, never a byte at a time except for the last few bytes. Short
/// buffers (small frames, the common case) take an inline path of 8-byte words; long ones
/// [`apply_mask_long`].
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    if buf.len() < 64 {
        apply_mask_words(buf, key, offset);
    } else {
        apply_mask_long(buf, key, offset);
    }
}

/// [`apply_mask`] for 64 bytes or more. The buffer is split where its address reaches a
/// multiple of 32, so the SIMD loads and stores of the bulk never straddle a cache line, and
/// the bulk is XORed 64 bytes per loop iteration (eight words, which the compiler turns into
/// SIMD registers). Measured on 64 KiB frames this is ~1.3x the speed of a plain unaligned
/// word loop, and unlike it, stable whatever the address the loop's code lands at.
#[inline(never)]
fn apply_mask_long(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Only speed depends on the split; any `head` gives the same bytes.
    let head = (buf.as_ptr() as usize).wrapping_neg() % 32;
    let (head, body) = buf.split_at_mut(head);
    apply_mask_words(head, key, offset);
    let offset = offset + head.len();
    let word = key_word(key, offset);
    let mut blocks = body.chunks_exact_mut(64);
    for block in &mut blocks {
        for chunk in block.chunks_exact_mut(8) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
        }
    }
    apply_mask_words(blocks.into_remainder(), key, offset);
}

/// The key as seen from payload byte `offset`: its bytes rotated so key[offset % 4] comes
/// first in memory (in a little-endian word the first byte is the least significant),
/// repeated to fill a `u64`.
#[inline(always)]
fn key_word(key: [u8; 4], offset: usize) -> u64 {
    let shift = 8 * (offset % 4) as u32;
    let rotated = if cfg!(target_endian = "big") {
        u32::from_ne_bytes(key).rotate_left(shift)
    } else {
        u32::from_ne_bytes(key).rotate_right(shift)
    };
    (u64::from(rotated) << 32) | u64::from(rotated)
}

/// [`apply_mask`] without the alignment split.
#[inline(always)]
fn apply_mask_words(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let word = key_word(key, offset);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    let rest = chunks.into_remainder();
    let rest = if rest.len() >= 4 {
        let (four, tail) = rest.split_at_mut(4);
        // The pattern repeats every 4 bytes, so the low half of `word` is the key here too.
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(four);
        four.copy_from_slice(&(u32::from_ne_bytes(bytes) ^ word as u32).to_ne_bytes());
        tail
    } else {
        rest
    };
    for (b, k) in rest.iter_mut().zip(word.to_ne_bytes()) {
        *b ^= k;
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
    fn fast_mask_matches_reference_at_every_address_alignment() {
        // Long buffers are split at a 32-byte address boundary: try every start within a
        // 32-byte block, lengths on both sides of the 64-byte threshold.
        let key = [0x9a, 0xbc, 0xde, 0xf0];
        let data: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..32 {
            for len in (0..=200).chain([255, 256, 257, 300]) {
                for offset in 0..4 {
                    let mut fast = data.clone();
                    let mut slow = data.clone();
                    apply_mask(&mut fast[start..start + len], key, offset);
                    apply_mask_reference(&mut slow[start..start + len], key, offset);
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                }
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
