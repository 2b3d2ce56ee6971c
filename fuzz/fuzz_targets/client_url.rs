//! The client's `ws://` URL parser on arbitrary text: never panics, never yields a request
//! line or Host header with bytes that would break the request, and parses its own output
//! back to the same.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        ws::fuzzing::ws_url(text);
    }
});
