//! Server handshake parser on arbitrary bytes: never panics; a rejection is a well-formed HTTP
//! response; an accepted head is Partial one byte short of its end (so the outcome does not
//! depend on how the head arrived).
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_protocols::handshake::{read_request, Status};
use ws_protocols_fuzz::{check_http_response, small_limits};

fuzz_target!(|data: &[u8]| {
    let limits = small_limits().max_head_bytes(4096);
    match read_request(data, &limits) {
        Ok(Status::Partial) => {}
        Ok(Status::Complete(request)) => {
            let head = request.head_len();
            assert!(head <= data.len());
            assert!(matches!(
                read_request(&data[..head - 1], &limits),
                Ok(Status::Partial) | Err(_)
            ));
            let mut response = Vec::new();
            request
                .write_response(&Default::default(), &mut response)
                .expect("no subprotocol chosen");
            check_http_response(&response, 101);
        }
        Err(e) => {
            let mut response = Vec::new();
            e.write_response(&mut response);
            check_http_response(&response, e.status());
        }
    }
});
