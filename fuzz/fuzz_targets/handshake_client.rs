//! Client response parser: arbitrary server answers never panic; the answer our own server
//! code gives to our own request is always accepted.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_protocols::handshake::{accept, client_request, Accept, ClientConfig, Status};
use ws_protocols::{Dialect, Limits};

fuzz_target!(|input: (u8, u8, &[u8])| {
    let (dialect, seed, answer) = input;
    let dialect = Dialect::ALL[usize::from(dialect) % Dialect::ALL.len()];
    let mut state = seed;
    let mut random = |buf: &mut [u8]| {
        for b in buf.iter_mut() {
            state = state.wrapping_mul(31).wrapping_add(17);
            *b = state;
        }
    };
    let config = ClientConfig {
        dialect,
        host: "example.com:8088",
        target: "/chat?room=1",
        origin: Some("http://example.com"),
        subprotocols: &["chat"],
        extra_headers: &[],
        secure: false,
        compression: None,
    };
    let mut request = Vec::new();
    let handshake = client_request(&config, &mut random, &mut request);
    let _ = handshake.read_response(answer);

    let accepted = match accept(&request, &Limits::default(), |_| Accept {
        subprotocol: Some("chat"),
        ..Default::default()
    }) {
        Ok(Status::Complete(accepted)) => accepted,
        other => panic!("server refused our own {dialect} request: {other:?}"),
    };
    match handshake.read_response(&accepted.response) {
        Ok(Status::Complete(response)) => {
            assert_eq!(response.consumed, accepted.response.len());
            assert_eq!(response.subprotocol.as_deref(), Some("chat"));
        }
        other => panic!("client refused our own {dialect} answer: {other:?}"),
    }
});
