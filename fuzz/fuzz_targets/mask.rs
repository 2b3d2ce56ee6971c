//! The word-wide mask equals the byte-at-a-time definition for any key, offset and length.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_protocols::frame::mask::{apply_mask, apply_mask_reference};

fuzz_target!(|input: ([u8; 4], u8, Vec<u8>)| {
    let (key, offset, data) = input;
    let mut fast = data.clone();
    let mut reference = data;
    apply_mask(&mut fast, key, usize::from(offset));
    apply_mask_reference(&mut reference, key, usize::from(offset));
    assert_eq!(fast, reference);
});
