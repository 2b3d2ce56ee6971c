//! The plain HTTP request reader (the relay's registration API, the built-in pages) on
//! arbitrary bytes: never panics; whatever it answers is a well-formed HTTP response with the
//! status it chose; the status pages show a session's name only to a request entitled to it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_protocols_fuzz::{check_http_response, small_limits};

fuzz_target!(|data: &[u8]| {
    let limits = small_limits().max_head_bytes(4096);
    if let Some((status, response)) = ws::fuzzing::plain_http_request(data, &limits) {
        check_http_response(&response, status);
    }
});
