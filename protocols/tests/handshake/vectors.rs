//! The vectors of docs/protocols.md §8.1 (and E1-E4 of §3.2) byte for byte, and what a request
//! exposes.

use super::support::*;
use ws_protocols::handshake::{accept, Accept, ClientConfig, ClientHandshakeError};
use ws_protocols::{Dialect, Limits};

// ===== the vectors =====

#[test]
fn v1_hixie75() {
    check_served(V1_REQUEST, SAMPLE, Dialect::Hixie75, V1_RESPONSE);
    let req = request(V1_REQUEST);
    assert_eq!(req.origin(), Some("http://example.com"));
    assert_eq!(req.subprotocols(), ["sample"]);
    assert_eq!(req.host(), Some("example.com"));
    assert_eq!(req.path(), "/demo");
    // Clients memcmp the first 85 bytes.
    assert_eq!(
        &V1_RESPONSE[..85],
        b"HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
    );
}

#[test]
fn v1_hixie75_without_origin_or_subprotocol_and_over_tls() {
    let input = with_header(
        &with_header(V1_REQUEST, "Origin", None),
        "WebSocket-Protocol",
        None,
    );
    let expected = b"HTTP/1.1 101 Web Socket Protocol Handshake\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
WebSocket-Location: wss://example.com/demo\r\n\
\r\n";
    let tls = Accept {
        secure: true,
        ..Accept::default()
    };
    check_served(&input, tls, Dialect::Hixie75, expected);
}

#[test]
fn v2_hixie76() {
    let input = cat(&[V2_HEAD, V2_KEY3]);
    let expected = cat(&[V2_RESPONSE_HEAD, V2_ANSWER]);
    check_served(&input, SAMPLE, Dialect::Hixie76, &expected);
    let req = request(&input);
    assert_eq!(req.origin(), Some("http://example.com"));
    assert_eq!(req.subprotocols(), ["sample"]);
}

/// E1-E4 of docs/protocols.md §3.2 in the V2 request: same headers, other keys and key3.
#[test]
fn v2_with_key_sets_e1_to_e4() {
    let e4_key3 = [0x91, 0x25, 0x3e, 0xd3, 0xa9, 0xe7, 0x6a, 0x88];
    let e4_answer = [
        0xb4, 0x9c, 0x6e, 0x40, 0x53, 0x04, 0x04, 0x26, 0xe5, 0x1b, 0xbf, 0x6c, 0xb7, 0x9f, 0x1d,
        0xf9,
    ];
    let sets: [(&str, &str, &[u8], &[u8]); 4] = [
        (
            "4 @1  46546xW%0l 1 5",
            "12998 5 Y3 1  .P00",
            b"^n:ds[4U",
            b"8jKS'y:G*Co,Wxa-",
        ),
        (
            "18x 6]8vM;54 *(5:  {   U1]8  z [  8",
            "1_ tx7X d  <  nw  334J702) 7]o}` 0",
            b"Tm[K T2u",
            b"fQJ,fN/4F4!~K~MH",
        ),
        (
            "3e6b263  4 17 80",
            "17  9 G`ZD9   2 2b 7X 3 /r90",
            b"WjN}|M(6",
            b"n`9eBk9z$R8pOtVb",
        ),
        (
            "1   38 wZ3f9 23O0 3l 0r",
            "27   0E 6 2  1665:< ;U 1H",
            &e4_key3,
            &e4_answer,
        ),
    ];
    for (key1, key2, key3, answer) in sets {
        let head = with_header(
            &with_header(V2_HEAD, "Sec-WebSocket-Key1", Some(key1)),
            "Sec-WebSocket-Key2",
            Some(key2),
        );
        let input = cat(&[&head, key3]);
        let expected = cat(&[V2_RESPONSE_HEAD, answer]);
        check_served(&input, SAMPLE, Dialect::Hixie76, &expected);
    }
}

#[test]
fn v3_hybi07_reads_origin_from_sec_websocket_origin() {
    check_served(V3_REQUEST, Accept::default(), Dialect::Hybi07, V3_RESPONSE);
    assert_eq!(request(V3_REQUEST).origin(), Some("http://example.com"));
    // hybi-07 clients never sent a plain Origin; it is not read for them.
    let plain = with_header(
        &with_header(V3_REQUEST, "Sec-WebSocket-Origin", None),
        "Origin",
        Some("http://other"),
    );
    assert_eq!(request(&plain).origin(), None);
}

#[test]
fn v4_hybi08_with_either_origin_header() {
    let v4 = with_header(V3_REQUEST, "Sec-WebSocket-Version", Some("8"));
    check_served(&v4, Accept::default(), Dialect::Hybi08, V3_RESPONSE);
    assert_eq!(request(&v4).origin(), Some("http://example.com"));
    // hybi-11/12 clients send Origin and still say version 8.
    let v4_origin = with_header(
        &with_header(&v4, "Sec-WebSocket-Origin", None),
        "Origin",
        Some("http://example.com"),
    );
    check_served(&v4_origin, Accept::default(), Dialect::Hybi08, V3_RESPONSE);
    assert_eq!(request(&v4_origin).origin(), Some("http://example.com"));
}

#[test]
fn v5_rfc6455() {
    let chat = Accept {
        subprotocol: Some("chat"),
        ..Accept::default()
    };
    check_served(V5_REQUEST, chat, Dialect::Rfc6455, V5_RESPONSE);
    let req = request(V5_REQUEST);
    assert_eq!(req.subprotocols(), ["chat", "superchat"]);
    assert_eq!(req.origin(), Some("http://example.com"));
    assert_eq!(req.method(), "GET");
    assert_eq!(req.target(), "/chat");
    assert_eq!(req.query(), None);
}

/// V6, hybi-04: Key/Accept plus the server's nonce, from which both ends derive the
/// connection key (docs/protocols.md §3.3).
#[test]
fn v6_hybi04_with_its_nonce_and_connection_key() {
    let chat = Accept {
        subprotocol: Some("chat"),
        nonce: Some(V6_NONCE),
        ..Accept::default()
    };
    check_served(V6_REQUEST, chat, Dialect::Hybi04, V6_RESPONSE);
    let req = request(V6_REQUEST);
    assert_eq!(req.origin(), Some("http://example.com"));
    assert_eq!(req.subprotocols(), ["chat", "superchat"]);
    let key = req.connection_key(Some(V6_NONCE)).unwrap();
    assert_eq!(hex_of(&key.0), V6_CONNECTION_KEY);
    let done = complete(accept(V6_REQUEST, &Limits::default(), |_| chat));
    assert_eq!(done.connection_key, Some(key));
    // No key for any other dialect.
    let v5 = request(V5_REQUEST);
    assert_eq!(v5.connection_key(Some(V6_NONCE)), None);
}

/// Without the caller's nonce the server derives one from the key: the response still
/// carries it, and the connection key agrees with it.
#[test]
fn v6_hybi04_without_a_caller_nonce() {
    let done = complete(accept(V6_REQUEST, &Limits::default(), |_| {
        Accept::default()
    }));
    let text = String::from_utf8(done.response.clone()).unwrap();
    assert!(
        text.contains("\r\nSec-WebSocket-Nonce: qyhmSAv7FvHscBTbIBIviA==\r\n"),
        "{text}"
    );
    assert_eq!(done.connection_key, done.request.connection_key(None));
    assert!(done.connection_key.is_some());
}

/// The client takes the nonce as the text it received: libwebsockets' quote of the -04
/// example (non-zero padding bits and all) gives docs/protocols.md §4.3's key.
#[test]
fn v6_client_side_key_from_the_nonce_text() {
    let cfg = ClientConfig::new(Dialect::Hybi04, "server.example.com", "/chat");
    let (hs, req) = client(&cfg, 5);
    let key = request(&req)
        .header("Sec-WebSocket-Key")
        .unwrap()
        .to_owned();
    let accept = sha1_base64(&[&key, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"]);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Nonce: AQIDBAUGBwgJCgsMDQ4PEC==\r\n\r\n"
    );
    let resp = complete(hs.read_response(response.as_bytes()));
    let expected = sha1(&[
        &key,
        "AQIDBAUGBwgJCgsMDQ4PEC==",
        "61AC5F19-FBBA-4540-B96F-6561F1AB40A8",
    ]);
    assert_eq!(resp.connection_key.map(|k| k.0), Some(expected));
    // Without the nonce, or with two, there is no key to mask with.
    let without = response.replace("Sec-WebSocket-Nonce: AQIDBAUGBwgJCgsMDQ4PEC==\r\n", "");
    rejects(&hs, without.as_bytes(), ClientHandshakeError::MissingNonce);
    let twice = response.replace(
        "Sec-WebSocket-Nonce",
        "Sec-WebSocket-Nonce: AAAA\r\nSec-WebSocket-Nonce",
    );
    rejects(&hs, twice.as_bytes(), ClientHandshakeError::MissingNonce);
    let empty = response.replace("AQIDBAUGBwgJCgsMDQ4PEC==", "");
    rejects(&hs, empty.as_bytes(), ClientHandshakeError::MissingNonce);
}

/// hybi-05 and hybi-06: the V6 request with their version, answered like hybi-07 (no nonce);
/// from hybi-06 the origin header may be left out.
#[test]
fn hybi05_and_hybi06_are_served_like_hybi07() {
    let chat = Accept {
        subprotocol: Some("chat"),
        nonce: Some(V6_NONCE),
        ..Accept::default()
    };
    let expected = replace(
        V6_RESPONSE,
        "Sec-WebSocket-Nonce: AQIDBAUGBwgJCgsMDQ4PEA==\r\n",
        "",
    );
    for (version, dialect) in [("5", Dialect::Hybi05), ("6", Dialect::Hybi06)] {
        let input = with_header(V6_REQUEST, "Sec-WebSocket-Version", Some(version));
        check_served(&input, chat, dialect, &expected);
        assert_eq!(request(&input).origin(), Some("http://example.com"));
        assert_eq!(request(&input).connection_key(Some(V6_NONCE)), None);
        let no_origin = with_header(&input, "Sec-WebSocket-Origin", None);
        check_served(&no_origin, chat, dialect, &expected);
    }
}

#[test]
fn v7_hybi03_with_draft_2_and_3() {
    for draft in ["1", "2", "3"] {
        let head = with_header(V2_HEAD, "Sec-WebSocket-Draft", Some(draft));
        let input = cat(&[&head, V2_KEY3]);
        let expected = cat(&[V2_RESPONSE_HEAD, V2_ANSWER]);
        check_served(&input, SAMPLE, Dialect::Hybi03, &expected);
    }
    // Draft 0 is hybi-00, i.e. hixie-76.
    let head = with_header(V2_HEAD, "Sec-WebSocket-Draft", Some("0"));
    assert_eq!(request(&head).dialect(), Dialect::Hixie76);
}

// ===== what the request exposes =====

#[test]
fn request_accessors() {
    let input = with_request_line(
        &add_header(
            &add_header(
                &add_header(V5_REQUEST, "Sec-WebSocket-Protocol", "v2.chat"),
                "Sec-WebSocket-Extensions",
                "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame",
            ),
            "Cookie",
            "session=abc; theme=dark",
        ),
        "GET /chat/room?id=7&x HTTP/1.1",
    );
    let req = request(&input);
    assert_eq!(req.path(), "/chat/room");
    assert_eq!(req.query(), Some("id=7&x"));
    assert_eq!(req.target(), "/chat/room?id=7&x");
    assert_eq!(req.subprotocols(), ["chat", "superchat", "v2.chat"]);
    assert_eq!(
        req.extensions(),
        [
            "permessage-deflate; client_max_window_bits",
            "x-webkit-deflate-frame"
        ]
    );
    assert_eq!(
        req.cookies().collect::<Vec<_>>(),
        [("session", "abc"), ("theme", "dark")]
    );
    assert_eq!(
        req.header("sec-websocket-key"),
        Some("dGhlIHNhbXBsZSBub25jZQ==")
    );
    assert_eq!(req.headers().count(), 10);
    assert_eq!(req.head_len(), input.len());
    assert_eq!(req.hixie76_answer(&[0; 8]), None);
}

#[test]
fn hixie76_subprotocol_is_one_verbatim_string() {
    let head = with_header(V2_HEAD, "Sec-WebSocket-Protocol", Some("chat, super chat"));
    let req = request(&head);
    assert_eq!(req.subprotocols(), ["chat, super chat"]);
    let mut out = Vec::new();
    let choice = Accept {
        subprotocol: Some("chat, super chat"),
        ..Accept::default()
    };
    req.write_response(&choice, &mut out).unwrap();
    assert!(out
        .windows(41)
        .any(|w| w == b"Sec-WebSocket-Protocol: chat, super chat\r"));
}

#[test]
fn absolute_form_target_and_firefox_connection_header() {
    let input = with_header(
        &with_request_line(
            V5_REQUEST,
            "GET http://server.example.com/chat?a=b HTTP/1.1",
        ),
        "Connection",
        Some("keep-alive, Upgrade"),
    );
    let req = request(&input);
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.query(), Some("a=b"));
    // Upgrade and the Connection option are case-insensitive.
    let input = with_header(
        &with_header(V5_REQUEST, "Upgrade", Some("WebSocket")),
        "Connection",
        Some("UPGRADE"),
    );
    assert_eq!(request(&input).dialect(), Dialect::Rfc6455);
}

#[test]
fn extra_headers_follow_the_dialect_headers_in_every_dialect() {
    let extra: &[(&str, &str)] = &[("Set-Cookie", "a=1"), ("X-Server", "omniws")];
    for (input, dialect) in [
        (V1_REQUEST.to_vec(), Dialect::Hixie75),
        (cat(&[V2_HEAD, V2_KEY3]), Dialect::Hixie76),
        (V3_REQUEST.to_vec(), Dialect::Hybi07),
        (V5_REQUEST.to_vec(), Dialect::Rfc6455),
    ] {
        let req = request(&input);
        assert_eq!(req.dialect(), dialect);
        let mut out = Vec::new();
        let choice = Accept {
            extra_headers: extra,
            ..Accept::default()
        };
        req.write_response(&choice, &mut out).unwrap();
        assert!(
            out.ends_with(b"\r\nSet-Cookie: a=1\r\nX-Server: omniws\r\n\r\n"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
}

fn sha1(parts: &[&str]) -> [u8; 20] {
    use sha1::{Digest, Sha1};
    let mut sha = Sha1::new();
    for part in parts {
        sha.update(part.as_bytes());
    }
    sha.finalize().into()
}

fn sha1_base64(parts: &[&str]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(sha1(parts))
}
