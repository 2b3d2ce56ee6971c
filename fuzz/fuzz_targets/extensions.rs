//! Compression negotiation: arbitrary `Sec-WebSocket-Extensions` text never panics the parser,
//! the server's choice or the client's check; whatever a server answers re-parses, and a
//! client that offered everything accepts it and sees the same two streams mirrored.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_protocols::compression::{
    accept_response, elements, negotiate, parse_element, DeflatePolicy, Scope,
};
use ws_protocols::Dialect;

fuzz_target!(|input: (u8, u8, &str)| {
    let (flags, bits, text) = input;
    let server = DeflatePolicy {
        permessage_deflate: flags & 1 != 0,
        deflate_frame: flags & 2 != 0,
        keep_our_context: flags & 4 != 0,
        let_peer_keep_context: flags & 8 != 0,
        our_max_window_bits: 8 + (bits & 7),
        peer_max_window_bits: 8 + (bits >> 4 & 7),
        min_size: 64,
    };
    for element in elements([text]) {
        let _ = parse_element(element);
    }
    let _ = accept_response([text], &server);
    let Some(agreed) = negotiate(&[text], Dialect::Rfc6455, &server) else {
        return;
    };
    let response = parse_element(&agreed.response).expect("our answer parses");
    // A client that offered every parameter, with no limits of its own.
    let everything = DeflatePolicy {
        our_max_window_bits: 15,
        peer_max_window_bits: 15,
        ..DeflatePolicy::keep_context()
    };
    if !response.name.eq_ignore_ascii_case("x-webkit-deflate-frame")
        && agreed.compression.scope == Scope::Frame
    {
        return; // answered under the draft's other name, which our client never offers
    }
    let client = accept_response([agreed.response.as_str()], &everything)
        .unwrap_or_else(|e| panic!("{e}: {:?} for {text:?}", agreed.response))
        .expect("an answer");
    let server_side = agreed.compression;
    assert_eq!(client.scope, server_side.scope);
    if server_side.scope == Scope::Message {
        // permessage-deflate states both streams exactly.
        assert_eq!(client.ours, server_side.theirs);
        assert_eq!(client.theirs, server_side.ours);
    }
    // deflate-frame leaves the answerer's stream to what the offer asked, so only safety:
    // each receiver's window holds its sender's, and a sender keeping its context has a
    // receiver that keeps it too.
    for (sender, receiver) in [
        (client.ours, server_side.theirs),
        (server_side.ours, client.theirs),
    ] {
        assert!(sender.window_bits <= receiver.window_bits);
        assert!(!sender.keep_context || receiver.keep_context);
    }
});
