//! Client ⇄ server round trips for all six dialects, and the client's refusal of
//! tampered answers.

use super::support::*;
use ws_protocols::handshake::{
    accept, Accept, ClientConfig, ClientHandshakeError, HandshakeError, Status,
};
use ws_protocols::{Dialect, Limits};

#[test]
fn round_trip_every_dialect_with_and_without_subprotocol() {
    for dialect in Dialect::ALL {
        // Without a subprotocol.
        let cfg = config(dialect);
        let (done, resp) = round_trip(&cfg, Accept::default());
        assert_eq!(done.request.dialect(), dialect);
        assert_eq!(done.request.origin(), Some("http://example.com"));
        assert_eq!(done.request.host(), Some("example.com:8080"));
        assert_eq!(done.request.path(), "/chat");
        assert_eq!(done.request.query(), Some("room=1"));
        assert_eq!(resp.subprotocol, None);

        // With one offered and chosen.
        let cfg = ClientConfig {
            subprotocols: &["chat"],
            ..config(dialect)
        };
        let chat = Accept {
            subprotocol: Some("chat"),
            ..Accept::default()
        };
        let (done, resp) = round_trip(&cfg, chat);
        assert_eq!(done.request.subprotocols(), ["chat"]);
        assert_eq!(resp.subprotocol.as_deref(), Some("chat"));

        // Several offered: hybi lists them, hixie carries one string.
        let cfg = ClientConfig {
            subprotocols: &["chat", "superchat"],
            ..config(dialect)
        };
        let (hs, req) = client(&cfg, 7);
        let server = request(&req);
        let chosen = server.subprotocols().last().unwrap().clone();
        if dialect.caps().version.is_some() {
            assert_eq!(server.subprotocols(), ["chat", "superchat"]);
        } else {
            assert_eq!(server.subprotocols(), ["chat superchat"]);
        }
        let mut response = Vec::new();
        let choice = Accept {
            subprotocol: Some(&chosen),
            ..Accept::default()
        };
        server.write_response(&choice, &mut response).unwrap();
        let key3 = req[server.head_len()..].try_into().ok();
        if let Some(answer) = key3.and_then(|k| server.hixie76_answer(k)) {
            response.extend_from_slice(&answer);
        }
        let resp = complete(hs.read_response(&response));
        assert_eq!(resp.subprotocol, Some(chosen));
    }
}

#[test]
fn round_trip_over_tls_with_extra_headers_and_trailing_frames() {
    for dialect in Dialect::ALL {
        let cfg = ClientConfig {
            secure: true,
            extra_headers: &[("Cookie", "session=abc")],
            ..config(dialect)
        };
        let choice = Accept {
            secure: true,
            extra_headers: &[("Set-Cookie", "seen=1")],
            ..Accept::default()
        };
        let (hs, req) = client(&cfg, 3);
        let done = complete(accept(&req, &Limits::default(), |r| {
            assert_eq!(r.cookies().collect::<Vec<_>>(), [("session", "abc")]);
            choice
        }));
        let mut response = done.response.clone();
        response.extend_from_slice(b"\x00hello\xff");
        // Byte at a time: Partial until the head (and the hixie-76 answer) is complete.
        for n in 0..done.response.len() {
            assert_eq!(hs.read_response(&response[..n]), Ok(Status::Partial), "{n}");
        }
        let resp = complete(hs.read_response(&response));
        assert_eq!(resp.consumed, done.response.len());
        assert!(resp
            .headers
            .iter()
            .any(|(n, v)| n == "Set-Cookie" && v == b"seen=1"));
    }
}

#[test]
fn client_requests_carry_the_dialect_headers() {
    let expect: [(Dialect, &[&str], &[&str]); 6] = [
        (
            Dialect::Hixie75,
            &["Upgrade: WebSocket", "Origin: http://example.com"],
            &["Sec-WebSocket"],
        ),
        (
            Dialect::Hixie76,
            &[
                "Upgrade: WebSocket",
                "Sec-WebSocket-Key1: ",
                "Sec-WebSocket-Key2: ",
            ],
            &["Sec-WebSocket-Draft", "Sec-WebSocket-Version"],
        ),
        (
            Dialect::Hybi03,
            &["Sec-WebSocket-Key1: ", "Sec-WebSocket-Draft: 2"],
            &["Sec-WebSocket-Version"],
        ),
        (
            Dialect::Hybi07,
            &[
                "Upgrade: websocket",
                "Sec-WebSocket-Origin: http://example.com",
                "Sec-WebSocket-Version: 7",
            ],
            &["\r\nOrigin"],
        ),
        (
            Dialect::Hybi08,
            &[
                "Sec-WebSocket-Origin: http://example.com",
                "Sec-WebSocket-Version: 8",
            ],
            &["\r\nOrigin"],
        ),
        (
            Dialect::Rfc6455,
            &[
                "\r\nOrigin: http://example.com",
                "Sec-WebSocket-Version: 13",
            ],
            &["Sec-WebSocket-Origin"],
        ),
    ];
    for (dialect, present, absent) in expect {
        let (_, req) = client(&config(dialect), 1);
        let head_len = request(&req).head_len();
        let text = String::from_utf8(req[..head_len].to_vec()).unwrap();
        assert!(text.starts_with("GET /chat?room=1 HTTP/1.1\r\n"), "{text}");
        for p in present {
            assert!(text.contains(p), "{dialect}: {p:?} in {text}");
        }
        for a in absent {
            assert!(!text.contains(a), "{dialect}: {a:?} in {text}");
        }
        assert_eq!(req.len() - head_len, request(&req).key3_len());
    }
    // hixie-75 in the fixed order of docs/protocols.md §3.1.
    let cfg = ClientConfig {
        subprotocols: &["sample"],
        ..ClientConfig {
            origin: Some("http://example.com"),
            ..ClientConfig::new(Dialect::Hixie75, "example.com", "/demo")
        }
    };
    assert_eq!(client(&cfg, 0).1, V1_REQUEST);
}

#[test]
fn client_refuses_a_wrong_accept() {
    for dialect in [Dialect::Hybi07, Dialect::Hybi08, Dialect::Rfc6455] {
        let (hs, response) = honest(dialect);
        let at = response
            .windows(22)
            .position(|w| w == b"Sec-WebSocket-Accept: ")
            .unwrap()
            + 22;
        let mut wrong = response.clone();
        wrong[at] = if wrong[at] == b'A' { b'B' } else { b'A' };
        rejects(&hs, &wrong, ClientHandshakeError::WrongAccept);
        let missing = replace(&response, "Sec-WebSocket-Accept", "X-Accept");
        rejects(&hs, &missing, ClientHandshakeError::MissingAccept);
        // The V5 answer belongs to another key.
        rejects(&hs, V5_RESPONSE, ClientHandshakeError::WrongAccept);
    }
}

#[test]
fn client_refuses_a_wrong_md5_byte() {
    for dialect in [Dialect::Hixie76, Dialect::Hybi03] {
        let (hs, response) = honest(dialect);
        for i in 1..=16 {
            let mut wrong = response.clone();
            let at = wrong.len() - i;
            wrong[at] ^= 0x01;
            rejects(&hs, &wrong, ClientHandshakeError::WrongChallengeAnswer);
        }
        // 15 of the 16 bytes: still waiting.
        assert_eq!(
            hs.read_response(&response[..response.len() - 1]),
            Ok(Status::Partial)
        );
    }
}

#[test]
fn client_refuses_a_wrong_status() {
    for dialect in Dialect::ALL {
        let (hs, response) = honest(dialect);
        let wrong = replace(&response, " 101 ", " 200 ");
        rejects(&hs, &wrong, ClientHandshakeError::Status(200));
        let mut refusal = Vec::new();
        HandshakeError::UnsupportedVersion.write_response(&mut refusal);
        rejects(&hs, &refusal, ClientHandshakeError::Status(426));
    }
}

#[test]
fn client_refuses_an_unexpected_subprotocol() {
    for dialect in Dialect::ALL {
        let (hs, response) = honest(dialect);
        let wrong = replace(&response, "Protocol: chat\r\n", "Protocol: superchat\r\n");
        rejects(&hs, &wrong, ClientHandshakeError::UnexpectedSubprotocol);
        let twice = replace(
            &response,
            "Protocol: chat\r\n",
            "Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\nWebSocket-Protocol: chat\r\n",
        );
        rejects(&hs, &twice, ClientHandshakeError::UnexpectedSubprotocol);
        // A subprotocol when none was offered.
        let (hs, response) = {
            let (hs, req) = client(&config(dialect), 5);
            let chat_free = complete(accept(&req, &Limits::default(), |_| Accept::default()));
            (hs, chat_free.response)
        };
        let name = if dialect == Dialect::Hixie75 {
            "WebSocket-Protocol"
        } else {
            "Sec-WebSocket-Protocol"
        };
        let extra = replace(
            &response,
            "Connection: Upgrade\r\n",
            &format!("Connection: Upgrade\r\n{name}: chat\r\n"),
        );
        rejects(&hs, &extra, ClientHandshakeError::UnexpectedSubprotocol);
    }
}

#[test]
fn client_refuses_an_altered_hixie75_status_line() {
    let (hs, response) = honest(Dialect::Hixie75);
    for (from, to) in [
        (
            "Web Socket Protocol Handshake",
            "WebSocket Protocol Handshake",
        ),
        ("Web Socket Protocol Handshake", "Switching Protocols"),
        ("Upgrade: WebSocket", "Upgrade: websocket"),
        ("Connection: Upgrade", "connection: Upgrade"),
    ] {
        let wrong = replace(&response, from, to);
        rejects(&hs, &wrong, ClientHandshakeError::Hixie75Prefix);
    }
    // Later lines may come in any order; only the first three are compared.
    let moved = replace(
        &response,
        "WebSocket-Origin",
        "X-Padding: 1\r\nWebSocket-Origin",
    );
    assert!(complete(hs.read_response(&moved)).subprotocol.is_some());
}

#[test]
fn client_refuses_hixie_echo_and_upgrade_mistakes() {
    for dialect in [Dialect::Hixie75, Dialect::Hixie76, Dialect::Hybi03] {
        let (hs, response) = honest(dialect);
        let wrong = replace(&response, "http://example.com", "http://evil.example.com");
        rejects(&hs, &wrong, ClientHandshakeError::OriginMismatch);
        let wrong = replace(
            &response,
            "ws://example.com:8080/chat?room=1",
            "ws://example.com:8080/chat",
        );
        rejects(&hs, &wrong, ClientHandshakeError::LocationMismatch);
        let wrong = replace(&response, "ws://", "wss://");
        rejects(&hs, &wrong, ClientHandshakeError::LocationMismatch);
    }
    // hixie-76 clients compare Upgrade with `WebSocket` case-sensitively.
    let (hs, response) = honest(Dialect::Hixie76);
    let wrong = replace(&response, "Upgrade: WebSocket", "Upgrade: websocket");
    rejects(&hs, &wrong, ClientHandshakeError::InvalidUpgrade);
    let wrong = replace(&response, "Connection: Upgrade", "Connection: keep-alive");
    rejects(&hs, &wrong, ClientHandshakeError::MissingConnectionUpgrade);
    // hybi accepts any case, but not another protocol.
    let (hs, response) = honest(Dialect::Rfc6455);
    let ok = replace(&response, "Upgrade: websocket", "Upgrade: WebSocket");
    assert!(complete(hs.read_response(&ok)).subprotocol.is_some());
    let wrong = replace(&response, "Upgrade: websocket", "Upgrade: h2c");
    rejects(&hs, &wrong, ClientHandshakeError::InvalidUpgrade);
}

#[test]
fn client_refuses_unoffered_extensions_and_bad_http() {
    let (hs, response) = honest(Dialect::Rfc6455);
    let ext = replace(
        &response,
        "Connection: Upgrade\r\n",
        "Connection: Upgrade\r\nSec-WebSocket-Extensions: permessage-deflate\r\n",
    );
    rejects(&hs, &ext, ClientHandshakeError::UnexpectedExtensions);
    // Offered through the extra headers: the caller negotiates, the response passes.
    let cfg = ClientConfig {
        extra_headers: &[("Sec-WebSocket-Extensions", "permessage-deflate")],
        ..config(Dialect::Rfc6455)
    };
    let (hs2, req) = client(&cfg, 11);
    let done = complete(accept(&req, &Limits::default(), |r| {
        assert_eq!(r.extensions(), ["permessage-deflate"]);
        Accept {
            extra_headers: &[("Sec-WebSocket-Extensions", "permessage-deflate")],
            ..Accept::default()
        }
    }));
    complete(hs2.read_response(&done.response));

    rejects(
        &hs,
        b"HTTP/1.1 101 Switching\x01\r\n\r\n",
        ClientHandshakeError::MalformedHttp,
    );
    rejects(
        &hs,
        &replace(&response, "HTTP/1.1", "HTTP/1.0"),
        ClientHandshakeError::HttpVersion,
    );
    let mut huge = b"HTTP/1.1 101 Switching Protocols\r\nX: ".to_vec();
    huge.resize(Limits::default().max_head_bytes + 1, b'a');
    rejects(&hs, &huge, ClientHandshakeError::HeadTooLarge);
    let mut many = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    for i in 0..=Limits::default().max_headers {
        many.push_str(&format!("X-{i}: 1\r\n"));
    }
    rejects(&hs, many.as_bytes(), ClientHandshakeError::TooManyHeaders);
}
