//! The incremental UTF-8 validator, fed the input split at arbitrary points, agrees with
//! `std::str::from_utf8` on the whole input, and fails on the chunk holding the first byte
//! that makes the input impossible (not earlier, not later).
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_protocols::utf8::Utf8Validator;

fuzz_target!(|input: (Vec<u16>, Vec<u8>)| {
    let (cuts, bytes) = input;
    let points = ws_protocols_fuzz::cut_points(&cuts, bytes.len());

    let mut v = Utf8Validator::new();
    let mut failed = None;
    for w in points.windows(2) {
        if let Err(e) = v.feed(&bytes[w[0]..w[1]]) {
            failed = Some((w[0], w[1], e.valid_up_to));
            break;
        }
    }
    match std::str::from_utf8(&bytes) {
        Ok(_) => {
            assert_eq!(failed, None);
            assert!(v.finish().is_ok());
        }
        Err(e) if e.error_len().is_none() => {
            assert_eq!(
                failed, None,
                "an incomplete tail is not an error before the end"
            );
            assert_eq!(v.finish().unwrap_err().valid_up_to, e.valid_up_to() as u64);
        }
        Err(e) => {
            let (from, to, valid_up_to) = failed.expect("invalid input must fail");
            assert_eq!(valid_up_to, e.valid_up_to() as u64);
            // The first offending byte: bytes[vut..p] is still a valid prefix, bytes[vut..=p] not.
            let vut = e.valid_up_to();
            let p = (vut..bytes.len())
                .find(|&p| {
                    std::str::from_utf8(&bytes[vut..=p]).is_err_and(|e| e.error_len().is_some())
                })
                .expect("offending byte");
            assert!(
                from <= p && p < to,
                "failed on chunk {from}..{to}, offending byte at {p}"
            );
        }
    }
});
