//! The relay's JSON message parser on arbitrary text: never panics, and what it relays is
//! re-encoded for the receiver with the same message text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        ws::fuzzing::relay_message(text);
    }
});
