//! Every refusal with its exact status, version list and a well-formed HTTP answer.

use super::support::*;
use ws_protocols::handshake::{
    accept, read_request, write_error_response, Accept, HandshakeError, Status,
};
use ws_protocols::{Dialect, Limits};

#[test]
fn negative_table_of_section_8_1() {
    use HandshakeError::*;
    // V5 with Sec-WebSocket-Version: 9 → 4xx + version list.
    let v = with_header(V5_REQUEST, "Sec-WebSocket-Version", Some("9"));
    check_refusal(&v, UnsupportedVersion, 426, true);
    // V5 with a version list → 400 (+ the list).
    let v = with_header(V5_REQUEST, "Sec-WebSocket-Version", Some("13, 8"));
    check_refusal(&v, VersionList, 400, true);
    // V5 without version → 400 + version list.
    let v = with_header(V5_REQUEST, "Sec-WebSocket-Version", None);
    check_refusal(&v, KeyWithoutVersion, 400, true);
    // V5 key without padding → 400.
    let v = with_header(
        V5_REQUEST,
        "Sec-WebSocket-Key",
        Some("dGhlIHNhbXBsZSBub25jZQ"),
    );
    check_refusal(&v, InvalidKey, 400, false);
    // V2 with Key1 12345 (no spaces) → 400.
    let v = with_header(V2_HEAD, "Sec-WebSocket-Key1", Some("12345"));
    check_refusal(&v, Hixie76KeyNoSpaces, 400, false);
    // V2 with Key1 2785899415 over 4 spaces (remainder 3) → 400.
    let v = with_header(
        V2_HEAD,
        "Sec-WebSocket-Key1",
        Some("2 L785 8o% s9Sy9@V. 4<1P5"),
    );
    check_refusal(&v, Hixie76KeyNotMultiple, 400, false);
    // V2 with Key1 99999999999 x (part > 0xFFFFFFFF) → 400.
    let v = with_header(V2_HEAD, "Sec-WebSocket-Key1", Some("99999999999 x"));
    check_refusal(&v, Hixie76KeyOverflow, 400, false);
    // V2 with Key2 removed → 400.
    let v = with_header(V2_HEAD, "Sec-WebSocket-Key2", None);
    check_refusal(&v, MissingHixie76Key, 400, false);
    // V2 head, then only 5 of 8 key3 bytes: headers may be written, no answer yet.
    let partial = cat(&[V2_HEAD, &V2_KEY3[..5]]);
    let req = request(&partial);
    let mut out = Vec::new();
    req.write_response(&SAMPLE, &mut out).unwrap();
    assert_eq!(out, V2_RESPONSE_HEAD);
    assert_eq!(
        accept(&partial, &Limits::default(), |_| SAMPLE),
        Ok(Status::Partial)
    );
}

#[test]
fn versions_we_do_not_implement_get_426_never_a_hixie_fallback() {
    for version in ["0", "1", "3", "9", "10", "12", "14", "76", "255"] {
        let v = with_header(V5_REQUEST, "Sec-WebSocket-Version", Some(version));
        check_refusal(&v, HandshakeError::UnsupportedVersion, 426, true);
        // Even with hixie-76 keys present, a version decides alone.
        let v = add_header(&v, "Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5");
        let v = add_header(&v, "Sec-WebSocket-Key2", "12998 5 Y3 1  .P00");
        check_refusal(&v, HandshakeError::UnsupportedVersion, 426, true);
    }
    // 4, 5 and 6 were refused like these until hybi-04..06 were implemented; now they are
    // served, hixie-76 keys or not.
    for (version, dialect) in [
        ("4", Dialect::Hybi04),
        ("5", Dialect::Hybi05),
        ("6", Dialect::Hybi06),
    ] {
        let v = with_header(V5_REQUEST, "Sec-WebSocket-Version", Some(version));
        let v = add_header(&v, "Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5");
        assert_eq!(request(&v).dialect(), dialect);
    }
    // A bad version without any key is still a version problem.
    let v = with_header(V5_REQUEST, "Sec-WebSocket-Key", None);
    let v = with_header(&v, "Sec-WebSocket-Version", Some("9"));
    check_refusal(&v, HandshakeError::UnsupportedVersion, 426, true);
}

#[test]
fn malformed_versions_get_400_and_the_list() {
    use HandshakeError::*;
    for version in ["013", "00", "256", "1000", "thirteen", "1 3", "+13", ""] {
        let v = with_header(V5_REQUEST, "Sec-WebSocket-Version", Some(version));
        check_refusal(&v, InvalidVersion, 400, true);
    }
    for version in ["13,8", "13,", "8, 13"] {
        let v = with_header(V5_REQUEST, "Sec-WebSocket-Version", Some(version));
        check_refusal(&v, VersionList, 400, true);
    }
    let v = add_header(V5_REQUEST, "Sec-WebSocket-Version", "13");
    check_refusal(&v, RepeatedVersion, 400, true);
    let v = add_header(V5_REQUEST, "Sec-WebSocket-Version", "8");
    check_refusal(&v, RepeatedVersion, 400, true);
}

#[test]
fn hybi_key_refusals() {
    use HandshakeError::*;
    let v = with_header(V5_REQUEST, "Sec-WebSocket-Key", None);
    check_refusal(&v, MissingKey, 400, false);
    let v = add_header(V5_REQUEST, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    check_refusal(&v, RepeatedKey, 400, false);
    for key in [
        "dGhlIHNhbXBsZSBub25jZQ=",
        "dGhlIHNhbXBsZSBub25jZXhh",
        "dGhlIHNhbXBsZSBub2*jZQ==",
        "c2hvcnQ=",
        "",
    ] {
        let v = with_header(V5_REQUEST, "Sec-WebSocket-Key", Some(key));
        check_refusal(&v, InvalidKey, 400, false);
    }
}

#[test]
fn hixie76_refusals() {
    use HandshakeError::*;
    let v = with_header(V2_HEAD, "Sec-WebSocket-Key1", None);
    check_refusal(&v, MissingHixie76Key, 400, false);
    let v = with_header(V2_HEAD, "Sec-WebSocket-Key1", Some("abc def"));
    check_refusal(&v, Hixie76KeyNoDigits, 400, false);
    let v = with_header(
        V2_HEAD,
        "Sec-WebSocket-Key2",
        Some("1234567890123456789012 x"),
    );
    check_refusal(&v, Hixie76KeyOverflow, 400, false);
    let v = add_header(V2_HEAD, "Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5");
    check_refusal(&v, RepeatedHixie76Key, 400, false);
    for draft in ["4", "01", "two", "-1"] {
        let v = with_header(V2_HEAD, "Sec-WebSocket-Draft", Some(draft));
        check_refusal(&v, InvalidDraft, 400, false);
    }
    // A Draft header without the keys it belongs to.
    let v = add_header(V1_REQUEST, "Sec-WebSocket-Draft", "2");
    check_refusal(&v, MissingHixie76Key, 400, false);
}

#[test]
fn http_level_refusals() {
    use HandshakeError::*;
    let v = with_request_line(V5_REQUEST, "POST /chat HTTP/1.1");
    check_refusal(&v, MethodNotGet, 400, false);
    let v = with_request_line(V5_REQUEST, "get /chat HTTP/1.1");
    check_refusal(&v, MethodNotGet, 400, false);
    let v = with_request_line(V5_REQUEST, "GET /chat HTTP/1.0");
    check_refusal(&v, HttpVersion, 400, false);
    let v = with_request_line(V5_REQUEST, "GET /chat HTTP/2.0");
    check_refusal(&v, HttpVersion, 400, false);
    let v = with_header(V5_REQUEST, "Host", None);
    check_refusal(&v, MissingHost, 400, false);
    let v = with_header(V5_REQUEST, "Host", Some(""));
    check_refusal(&v, MissingHost, 400, false);
    let v = add_header(V5_REQUEST, "Host", "evil.example.com");
    check_refusal(&v, DuplicateHost, 400, false);
    let v = with_header(V5_REQUEST, "Upgrade", Some("h2c"));
    check_refusal(&v, InvalidUpgrade, 400, false);
    let v = with_header(V1_REQUEST, "Upgrade", Some("websockets"));
    check_refusal(&v, InvalidUpgrade, 400, false);
    let v = with_header(V5_REQUEST, "Connection", Some("keep-alive"));
    check_refusal(&v, MissingConnectionUpgrade, 400, false);
    let v = with_header(V1_REQUEST, "Connection", None);
    check_refusal(&v, MissingConnectionUpgrade, 400, false);
    for target in ["*", "chat", "ftp://h/chat", "/chat#frag"] {
        let v = with_request_line(V5_REQUEST, &format!("GET {target} HTTP/1.1"));
        check_refusal(&v, InvalidTarget, 400, false);
    }
    let v = with_header(
        V5_REQUEST,
        "Sec-WebSocket-Protocol",
        Some("chat, super chat"),
    );
    check_refusal(&v, InvalidSubprotocol, 400, false);
    let v = with_header(V2_HEAD, "Sec-WebSocket-Protocol", Some("caf\u{e9}"));
    check_refusal(&v, InvalidSubprotocol, 400, false);
    let mut v = with_header(V5_REQUEST, "Upgrade", None);
    v = add_header(&v, "Upgrade", "x");
    let at = v.windows(9).position(|w| w == b"Upgrade: ").unwrap() + 9;
    v[at] = 0xff;
    check_refusal(&v, InvalidHeaderValue, 400, false);
    check_refusal(b"GET /\x01 HTTP/1.1\r\n\r\n", MalformedHttp, 400, false);
    check_refusal(
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        MalformedHttp,
        400,
        false,
    );
    check_refusal(
        b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        MalformedHttp,
        400,
        false,
    );
}

#[test]
fn plain_http_is_told_apart_from_a_broken_handshake() {
    for input in [
        &b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"[..],
        b"POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
    ] {
        check_refusal(input, HandshakeError::NotWebSocket, 400, false);
    }
    let v = with_header(V5_REQUEST, "Upgrade", None);
    check_refusal(&v, HandshakeError::NotWebSocket, 400, false);
}

#[test]
fn size_limits_give_431() {
    let limits = Limits::default();
    // A head that never ends: Partial up to the limit, 431 one byte beyond.
    let mut endless = b"GET / HTTP/1.1\r\nX-Fill: ".to_vec();
    endless.resize(limits.max_head_bytes, b'a');
    assert_eq!(read_request(&endless, &limits), Ok(Status::Partial));
    endless.push(b'a');
    assert_eq!(
        read_request(&endless, &limits),
        Err(HandshakeError::HeadTooLarge)
    );
    check_refusal(&endless, HandshakeError::HeadTooLarge, 431, false);
    // A complete head one byte over the limit.
    let big = add_header(V5_REQUEST, "X-Fill", &"a".repeat(limits.max_head_bytes));
    check_refusal(&big, HandshakeError::HeadTooLarge, 431, false);
    // Exactly at the limit is fine.
    let fill = limits.max_head_bytes - V5_REQUEST.len() - "X-Fill: \r\n".len();
    let exact = add_header(V5_REQUEST, "X-Fill", &"a".repeat(fill));
    assert_eq!(exact.len(), limits.max_head_bytes);
    assert_eq!(request(&exact).dialect(), Dialect::Rfc6455);
    // Too many header lines, complete or not.
    let mut many = V5_REQUEST.to_vec();
    for i in 0..limits.max_headers {
        many = add_header(&many, &format!("X-{i}"), "1");
    }
    check_refusal(&many, HandshakeError::TooManyHeaders, 431, false);
    let head_end = many.len() - 2;
    assert_eq!(
        read_request(&many[..head_end], &limits),
        Err(HandshakeError::TooManyHeaders)
    );
    // Custom limits apply.
    let small = Limits::default().max_head_bytes(64).max_headers(4);
    assert_eq!(
        read_request(V5_REQUEST, &small),
        Err(HandshakeError::HeadTooLarge)
    );
    let few = Limits::default().max_headers(4);
    assert_eq!(
        read_request(V5_REQUEST, &few),
        Err(HandshakeError::TooManyHeaders)
    );
}

#[test]
fn local_mistakes_are_500() {
    let req = request(V5_REQUEST);
    let mut out = Vec::new();
    let wrong = Accept {
        subprotocol: Some("superchat2"),
        ..Accept::default()
    };
    assert_eq!(
        req.write_response(&wrong, &mut out),
        Err(HandshakeError::SubprotocolNotOffered)
    );
    assert!(out.is_empty(), "nothing written on error");
    let empty = Accept {
        subprotocol: Some(""),
        ..Accept::default()
    };
    assert_eq!(
        req.write_response(&empty, &mut out),
        Err(HandshakeError::SubprotocolNotOffered)
    );
    // A hixie-75 request without a protocol offers nothing to choose.
    let v1 = request(&with_header(V1_REQUEST, "WebSocket-Protocol", None));
    assert_eq!(
        v1.write_response(&SAMPLE, &mut out),
        Err(HandshakeError::SubprotocolNotOffered)
    );
    for bad in [("X-Split", "a\r\nb: c"), ("Bad Name", "v"), ("", "v")] {
        let injected = Accept {
            extra_headers: &[bad],
            ..Accept::default()
        };
        assert_eq!(
            req.write_response(&injected, &mut out),
            Err(HandshakeError::InvalidResponseHeader)
        );
    }
    assert!(out.is_empty());
    assert_eq!(
        accept(V5_REQUEST, &Limits::default(), |_| wrong),
        Err(HandshakeError::SubprotocolNotOffered)
    );
    for err in [
        HandshakeError::SubprotocolNotOffered,
        HandshakeError::InvalidResponseHeader,
    ] {
        assert_eq!(err.status(), 500);
        check_refusal_bytes(err);
    }
}

#[test]
fn every_refusal_is_well_formed_http() {
    use HandshakeError::*;
    for err in [
        HeadTooLarge,
        TooManyHeaders,
        MalformedHttp,
        NotWebSocket,
        MethodNotGet,
        HttpVersion,
        InvalidTarget,
        MissingHost,
        DuplicateHost,
        InvalidUpgrade,
        MissingConnectionUpgrade,
        InvalidHeaderValue,
        UnsupportedVersion,
        VersionList,
        RepeatedVersion,
        InvalidVersion,
        KeyWithoutVersion,
        MissingKey,
        RepeatedKey,
        InvalidKey,
        MissingHixie76Key,
        RepeatedHixie76Key,
        Hixie76KeyNoSpaces,
        Hixie76KeyNoDigits,
        Hixie76KeyNotMultiple,
        Hixie76KeyOverflow,
        InvalidDraft,
        InvalidSubprotocol,
        SubprotocolNotOffered,
        InvalidResponseHeader,
    ] {
        check_refusal_bytes(err);
        assert!(!err.reason().contains('\n'));
        assert!(err.to_string().contains(err.reason()));
    }
}

#[test]
fn the_426_answer_byte_for_byte() {
    let mut out = Vec::new();
    HandshakeError::UnsupportedVersion.write_response(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 426 Upgrade Required\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 34\r\n\
         Connection: Upgrade, close\r\n\
         Upgrade: websocket\r\n\
         Sec-WebSocket-Version: 13, 8, 7, 6, 5, 4\r\n\
         \r\n\
         unsupported Sec-WebSocket-Version\n"
    );
}

#[test]
fn error_responses_for_the_server() {
    for (status, phrase) in [
        (403, "Forbidden"),
        (404, "Not Found"),
        (409, "Conflict"),
        (501, "Not Implemented"),
        (503, "Service Unavailable"),
    ] {
        let mut out = Vec::new();
        write_error_response(status, "no", &[("Retry-After", "1")], &mut out);
        let (code, headers, body) = parse_http(&out);
        assert_eq!(code, status);
        assert!(out.starts_with(format!("HTTP/1.1 {status} {phrase}\r\n").as_bytes()));
        assert_eq!(header(&headers, "Retry-After"), Some("1"));
        assert_eq!(header(&headers, "Connection"), Some("close"));
        assert_eq!(body, b"no\n");
    }
}

#[test]
fn unbounded_limits_allocate_by_the_input_not_the_limit() {
    let open = Limits::default()
        .max_head_bytes(usize::MAX)
        .max_headers(usize::MAX);
    assert_eq!(
        complete(read_request(V5_REQUEST, &open)).dialect(),
        Dialect::Rfc6455
    );
    assert_eq!(read_request(b"GET / HT", &open), Ok(Status::Partial));
}
