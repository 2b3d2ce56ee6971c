//! Compression agreed through the opening handshake: the client's offer written by
//! `client_request`, the server's choice from `Request::negotiate_compression` sent through
//! `Accept`'s extra headers, and the client's check of the answer in `read_response`.

use super::support::*;
use ws_protocols::compression::{DeflatePolicy, ExtensionError, Scope};
use ws_protocols::handshake::{accept, Accept, ClientConfig, ClientHandshakeError};
use ws_protocols::{Dialect, Limits};

/// Offer `offer` from a client, answer with `server` as a server would, and read the
/// answer back: (the server's agreed compression, the client's).
fn negotiate_through_handshake(
    dialect: Dialect,
    offer: DeflatePolicy,
    server: DeflatePolicy,
) -> (
    Option<ws_protocols::compression::Compression>,
    Option<ws_protocols::compression::Compression>,
) {
    let cfg = ClientConfig {
        compression: Some(offer),
        ..config(dialect)
    };
    let (hs, req) = client(&cfg, 7);
    let mut agreed = None;
    let mut response_value = String::new();
    let done = complete(accept(&req, &Limits::default(), |request| {
        agreed = request.negotiate_compression(&server);
        Accept::default()
    }));
    // The server adds the header the negotiation wrote; done again with it, as a server
    // that decides before it answers does.
    let response = match &agreed {
        None => done.response,
        Some(a) => {
            response_value.push_str(&a.response);
            let headers = [("Sec-WebSocket-Extensions", response_value.as_str())];
            let again = complete(accept(&req, &Limits::default(), |_| Accept {
                extra_headers: &headers,
                ..Accept::default()
            }));
            again.response
        }
    };
    let client_side = complete(hs.read_response(&response)).compression;
    (agreed.map(|a| a.compression), client_side)
}

#[test]
fn hybi_07_08_13_agree_and_both_ends_see_one_connection() {
    for dialect in [Dialect::Hybi07, Dialect::Hybi08, Dialect::Rfc6455] {
        for (client, server) in [
            (DeflatePolicy::default(), DeflatePolicy::default()),
            (DeflatePolicy::keep_context(), DeflatePolicy::default()),
            (DeflatePolicy::default(), DeflatePolicy::keep_context()),
            (
                DeflatePolicy {
                    permessage_deflate: false,
                    ..DeflatePolicy::default()
                },
                DeflatePolicy::keep_context(),
            ),
        ] {
            let (server_side, client_side) = negotiate_through_handshake(dialect, client, server);
            let (s, c) = (server_side.unwrap(), client_side.unwrap());
            let scope = if client.permessage_deflate {
                Scope::Message
            } else {
                Scope::Frame
            };
            assert_eq!((s.scope, c.scope), (scope, scope), "{dialect}");
            assert_eq!(c.theirs, s.ours, "{dialect}");
            assert!(c.ours.window_bits <= s.theirs.window_bits);
            assert!(!c.ours.keep_context || s.theirs.keep_context);
        }
    }
}

#[test]
fn dialects_without_rsv_bits_neither_offer_nor_agree() {
    for dialect in Dialect::ALL {
        if matches!(
            dialect,
            Dialect::Hybi07 | Dialect::Hybi08 | Dialect::Rfc6455
        ) {
            continue;
        }
        let cfg = ClientConfig {
            compression: Some(DeflatePolicy::default()),
            ..config(dialect)
        };
        let (_, req) = client(&cfg, 7);
        let text = String::from_utf8_lossy(&req);
        assert!(
            !text.contains("Sec-WebSocket-Extensions"),
            "{dialect}: {text}"
        );
        let (server_side, client_side) = negotiate_through_handshake(
            dialect,
            DeflatePolicy::default(),
            DeflatePolicy::default(),
        );
        assert_eq!((server_side, client_side), (None, None), "{dialect}");
    }
    // A hybi-06 request that offers it anyway gets nothing.
    let request = add_header(
        &client(&config(Dialect::Hybi06), 7).1,
        "Sec-WebSocket-Extensions",
        "permessage-deflate",
    );
    let done = complete(accept(&request, &Limits::default(), |r| {
        assert_eq!(r.negotiate_compression(&DeflatePolicy::default()), None);
        Accept::default()
    }));
    assert!(!String::from_utf8_lossy(&done.response).contains("Extensions"));
}

#[test]
fn without_compression_configured_nothing_changes() {
    let (_, req) = client(&config(Dialect::Rfc6455), 7);
    assert!(!String::from_utf8_lossy(&req).contains("Sec-WebSocket-Extensions"));
    let (server_side, client_side) = negotiate_through_handshake(
        Dialect::Rfc6455,
        DeflatePolicy::OFF,
        DeflatePolicy::default(),
    );
    assert_eq!((server_side, client_side), (None, None));
    // A server that compresses but finds no offer answers without the header.
    let (_, client_side) = negotiate_through_handshake(
        Dialect::Rfc6455,
        DeflatePolicy::default(),
        DeflatePolicy::OFF,
    );
    assert_eq!(client_side, None);
}

#[test]
fn the_client_fails_answers_its_offer_does_not_allow() {
    let cfg = ClientConfig {
        compression: Some(DeflatePolicy::default()),
        ..config(Dialect::Rfc6455)
    };
    let (hs, req) = client(&cfg, 7);
    let plain = complete(accept(&req, &Limits::default(), |_| Accept::default())).response;
    let with = |value: &[u8]| {
        let mut header = b"Sec-WebSocket-Extensions: ".to_vec();
        header.extend_from_slice(value);
        header.extend_from_slice(b"\r\n\r\n");
        let mut response = plain[..plain.len() - 2].to_vec();
        response.extend_from_slice(&header);
        response
    };
    let bad = ClientHandshakeError::BadExtensions;
    use ExtensionError::*;
    for (value, error) in [
        (&b"x-foo"[..], bad(NotOffered)),
        (b"deflate-frame", bad(NotOffered)),
        // Our default offer asked for server_no_context_takeover.
        (
            b"permessage-deflate",
            bad(MissingParameter("server_no_context_takeover")),
        ),
        (
            b"permessage-deflate; server_no_context_takeover; server_max_window_bits=16",
            bad(InvalidValue("server_max_window_bits")),
        ),
        (
            b"permessage-deflate; server_no_context_takeover; mux",
            bad(UnknownParameter),
        ),
        (
            b"permessage-deflate; server_no_context_takeover, x-webkit-deflate-frame",
            bad(SeveralAccepted),
        ),
        (
            b"permessage-deflate; server_no_context_takeover;",
            bad(Malformed),
        ),
        (b"permessage-deflate; \xff", bad(Malformed)),
    ] {
        rejects(&hs, &with(value), error);
    }
    // And accepts the answers it allows, quoted values included.
    let ok = complete(hs.read_response(&with(
        b"permessage-deflate; server_no_context_takeover; client_max_window_bits=\"9\"",
    )));
    let agreed = ok.compression.unwrap();
    assert_eq!(agreed.ours.window_bits, 9);
    assert!(!agreed.theirs.keep_context);
    let ok = complete(hs.read_response(&with(b"x-webkit-deflate-frame; max_window_bits=10")));
    assert_eq!(ok.compression.unwrap().scope, Scope::Frame);
}
