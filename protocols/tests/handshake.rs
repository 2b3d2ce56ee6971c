//! Opening handshakes end to end: the published vectors of PROTOCOLS.md §8.1 byte for byte,
//! every refusal with its exact status, client ⇄ server round trips for all six dialects, and
//! the client's refusal of tampered answers.

use proptest::prelude::*;
use ws_protocols::handshake::{
    accept, client_request, read_request, write_error_response, Accept, Accepted, ClientConfig,
    ClientHandshake, ClientHandshakeError, HandshakeError, Request, ServerResponse, Status,
};
use ws_protocols::{Dialect, Limits};

// ===== vectors (PROTOCOLS.md §8.1) =====

const V1_REQUEST: &[u8] = b"GET /demo HTTP/1.1\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
Host: example.com\r\n\
Origin: http://example.com\r\n\
WebSocket-Protocol: sample\r\n\
\r\n";
const V1_RESPONSE: &[u8] = b"HTTP/1.1 101 Web Socket Protocol Handshake\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
WebSocket-Origin: http://example.com\r\n\
WebSocket-Location: ws://example.com/demo\r\n\
WebSocket-Protocol: sample\r\n\
\r\n";

const V2_HEAD: &[u8] = b"GET /demo HTTP/1.1\r\n\
Host: example.com\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\
Sec-WebSocket-Protocol: sample\r\n\
Upgrade: WebSocket\r\n\
Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\
Origin: http://example.com\r\n\
\r\n";
const V2_KEY3: &[u8] = b"^n:ds[4U";
const V2_RESPONSE_HEAD: &[u8] = b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Origin: http://example.com\r\n\
Sec-WebSocket-Location: ws://example.com/demo\r\n\
Sec-WebSocket-Protocol: sample\r\n\
\r\n";
const V2_ANSWER: &[u8] = b"8jKS'y:G*Co,Wxa-";

const V3_REQUEST: &[u8] = b"GET /demo HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Origin: http://example.com\r\n\
Sec-WebSocket-Version: 7\r\n\
\r\n";
const V3_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
\r\n";

const V5_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";
const V5_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\
\r\n";

// ===== helpers =====

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The head of `request` with header `name` replaced by `value` (removed when `None`,
/// appended when absent), followed by whatever came after the head.
fn with_header(request: &[u8], name: &str, value: Option<&str>) -> Vec<u8> {
    let text = std::str::from_utf8(request).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let mut lines: Vec<String> = head.split("\r\n").map(str::to_owned).collect();
    let found = lines.iter().position(|l| {
        l.split_once(':')
            .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
    });
    match (found, value) {
        (Some(i), Some(v)) => lines[i] = format!("{name}: {v}"),
        (Some(i), None) => {
            lines.remove(i);
        }
        (None, Some(v)) => lines.push(format!("{name}: {v}")),
        (None, None) => panic!("{name} not in request"),
    }
    format!("{}\r\n\r\n{rest}", lines.join("\r\n")).into_bytes()
}

/// `request` with one more `name: value` line at the end of the head.
fn add_header(request: &[u8], name: &str, value: &str) -> Vec<u8> {
    let text = std::str::from_utf8(request).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    format!("{head}\r\n{name}: {value}\r\n\r\n{rest}").into_bytes()
}

/// `request` with its request line replaced.
fn with_request_line(request: &[u8], line: &str) -> Vec<u8> {
    let text = std::str::from_utf8(request).unwrap();
    let (_, rest) = text.split_once("\r\n").unwrap();
    format!("{line}\r\n{rest}").into_bytes()
}

fn complete<T: std::fmt::Debug, E: std::fmt::Debug>(r: Result<Status<T>, E>) -> T {
    match r {
        Ok(Status::Complete(t)) => t,
        other => panic!("expected Complete, got {other:?}"),
    }
}

fn request(buf: &[u8]) -> Request {
    complete(read_request(buf, &Limits::default()))
}

fn refusal(buf: &[u8]) -> HandshakeError {
    match read_request(buf, &Limits::default()) {
        Err(e) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A parsed HTTP response: status, headers, body. Panics unless the bytes are one complete,
/// well-formed response whose Content-Length matches its body.
fn parse_http(bytes: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!("not a complete HTTP response: {other:?}"),
    };
    assert_eq!(resp.version, Some(1));
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8(h.value.to_vec()).unwrap(),
            )
        })
        .collect();
    let body = bytes[head_len..].to_vec();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .map(|(_, v)| v.parse().unwrap())
        .expect("Content-Length");
    assert_eq!(length, body.len());
    (resp.code.unwrap(), headers, body)
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Serve `input` (head, plus key3 in the hixie-76 family) every way a server may receive it,
/// and check the answer is `expected` each time:
/// in one piece, followed by frame bytes that must be left alone; in two reads (head, then
/// key3); one byte at a time; and headers first, answer later.
fn check_served(input: &[u8], choice: Accept<'static>, dialect: Dialect, expected: &[u8]) {
    let limits = Limits::default();
    let serve = |buf: &[u8]| accept(buf, &limits, |_| choice);

    let mut with_frames = input.to_vec();
    with_frames.extend_from_slice(b"\x00frame\xff\x81\x05Hello");
    for buf in [input, &with_frames[..]] {
        let done: Accepted = complete(serve(buf));
        assert_eq!(done.request.dialect(), dialect);
        assert_eq!(
            String::from_utf8_lossy(&done.response),
            String::from_utf8_lossy(expected)
        );
        assert_eq!(done.response, expected);
        assert_eq!(done.consumed, input.len());
    }

    let req = request(input);
    let head_len = req.head_len();
    assert_eq!(head_len + req.key3_len(), input.len());
    let key3_len = if matches!(dialect, Dialect::Hixie76 | Dialect::Hybi03) {
        8
    } else {
        0
    };
    assert_eq!(req.key3_len(), key3_len);

    // Two reads: the head alone completes the request but not the handshake when key3 is due.
    let head_only = serve(&input[..head_len]);
    if key3_len > 0 {
        assert_eq!(head_only, Ok(Status::Partial));
        // Part of key3 is not enough either ("V2 head, then only 5 of 8 key3 bytes").
        assert_eq!(serve(&input[..head_len + 5]), Ok(Status::Partial));
    } else {
        assert_eq!(complete(head_only).response, expected);
    }

    // One byte at a time: Partial until the very last byte.
    for n in 0..input.len() {
        assert_eq!(serve(&input[..n]), Ok(Status::Partial), "after {n} bytes");
        if n < head_len {
            assert_eq!(read_request(&input[..n], &limits), Ok(Status::Partial));
        }
    }

    // Headers first, then the answer once key3 is in (the HAProxy order).
    let mut out = Vec::new();
    req.write_response(&choice, &mut out).unwrap();
    let key3: Option<&[u8; 8]> = input[head_len..].try_into().ok();
    match key3.and_then(|k| req.hixie76_answer(k)) {
        Some(answer) => out.extend_from_slice(&answer),
        None => assert_eq!(key3_len, 0),
    }
    assert_eq!(out, expected);
}

const SAMPLE: Accept<'static> = Accept {
    subprotocol: Some("sample"),
    extra_headers: &[],
    secure: false,
};

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

/// E1-E4 of PROTOCOLS.md §3.2 in the V2 request: same headers, other keys and key3.
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

/// V6 is hybi-04, a stretch dialect we do not implement: it gets the version list.
#[test]
fn v6_hybi04_is_refused_with_the_version_list() {
    let v6 = with_header(V5_REQUEST, "Sec-WebSocket-Version", Some("4"));
    assert_eq!(refusal(&v6), HandshakeError::UnsupportedVersion);
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

// ===== refusals =====

/// Check a refusal's status, version advertisement and that its answer is well-formed HTTP.
fn check_refusal(input: &[u8], expected: HandshakeError, status: u16, versions: bool) {
    let err = refusal(input);
    assert_eq!(err, expected, "{}", String::from_utf8_lossy(input));
    assert_eq!(err.status(), status, "{err:?}");
    assert_eq!(err.advertises_versions(), versions, "{err:?}");
    // The convenience driver refuses the same way.
    assert_eq!(
        accept(input, &Limits::default(), |_| Accept::default()),
        Err(expected)
    );
    check_refusal_bytes(err);
}

fn check_refusal_bytes(err: HandshakeError) {
    let mut out = Vec::new();
    err.write_response(&mut out);
    let (code, headers, body) = parse_http(&out);
    assert_eq!(code, err.status());
    assert_eq!(body, format!("{}\n", err.reason()).as_bytes());
    assert_eq!(
        header(&headers, "Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(header(&headers, "Connection")
        .unwrap()
        .to_ascii_lowercase()
        .contains("close"));
    let versions = header(&headers, "Sec-WebSocket-Version");
    if err.advertises_versions() {
        assert_eq!(versions, Some("13, 8, 7"), "{err:?}");
    } else {
        assert_eq!(versions, None, "{err:?}");
    }
    // RFC 7231 §6.5.15: a 426 names the protocol to upgrade to.
    if code == 426 {
        assert_eq!(header(&headers, "Upgrade"), Some("websocket"));
        assert!(header(&headers, "Connection")
            .unwrap()
            .to_ascii_lowercase()
            .contains("upgrade"));
    } else {
        assert_eq!(header(&headers, "Upgrade"), None);
    }
}

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
    for version in ["0", "4", "5", "6", "9", "12", "14", "76", "255"] {
        let v = with_header(V5_REQUEST, "Sec-WebSocket-Version", Some(version));
        check_refusal(&v, HandshakeError::UnsupportedVersion, 426, true);
        // Even with hixie-76 keys present, a version decides alone.
        let v = add_header(&v, "Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5");
        let v = add_header(&v, "Sec-WebSocket-Key2", "12998 5 Y3 1  .P00");
        check_refusal(&v, HandshakeError::UnsupportedVersion, 426, true);
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
         Sec-WebSocket-Version: 13, 8, 7\r\n\
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

// ===== client ⇄ server =====

/// A deterministic stand-in for the caller's CSPRNG.
fn rng(mut state: u64) -> impl FnMut(&mut [u8]) {
    move |buf: &mut [u8]| {
        for b in buf {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (state >> 33) as u8;
        }
    }
}

fn client(cfg: &ClientConfig<'_>, seed: u64) -> (ClientHandshake, Vec<u8>) {
    let mut out = Vec::new();
    let hs = client_request(cfg, &mut rng(seed), &mut out);
    (hs, out)
}

/// Run a full handshake: the client's request through the server, the answer back.
fn round_trip(cfg: &ClientConfig<'_>, choice: Accept<'_>) -> (Accepted, ServerResponse) {
    let (hs, req) = client(cfg, 42);
    let done = complete(accept(&req, &Limits::default(), |_| choice));
    assert_eq!(done.consumed, req.len());
    let resp = complete(hs.read_response(&done.response));
    assert_eq!(resp.consumed, done.response.len());
    (done, resp)
}

fn config(dialect: Dialect) -> ClientConfig<'static> {
    ClientConfig {
        origin: Some("http://example.com"),
        ..ClientConfig::new(dialect, "example.com:8080", "/chat?room=1")
    }
}

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
    // hixie-75 in the fixed order of PROTOCOLS.md §3.1.
    let cfg = ClientConfig {
        subprotocols: &["sample"],
        ..ClientConfig {
            origin: Some("http://example.com"),
            ..ClientConfig::new(Dialect::Hixie75, "example.com", "/demo")
        }
    };
    assert_eq!(client(&cfg, 0).1, V1_REQUEST);
}

// ===== the client refuses tampered answers =====

/// The server's honest answer to a client of `dialect` offering "chat".
fn honest(dialect: Dialect) -> (ClientHandshake, Vec<u8>) {
    let cfg = ClientConfig {
        subprotocols: &["chat"],
        ..config(dialect)
    };
    let (hs, req) = client(&cfg, 11);
    let chat = Accept {
        subprotocol: Some("chat"),
        ..Accept::default()
    };
    let done = complete(accept(&req, &Limits::default(), |_| chat));
    (hs, done.response)
}

fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from:?} not in {}", String::from_utf8_lossy(bytes)));
    cat(&[&bytes[..at], to.as_bytes(), &bytes[at + from.len()..]])
}

fn rejects(hs: &ClientHandshake, response: &[u8], expected: ClientHandshakeError) {
    assert_eq!(
        hs.read_response(response),
        Err(expected),
        "{}",
        String::from_utf8_lossy(response)
    );
    assert!(!expected.to_string().is_empty());
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

// ===== garbage never panics =====

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let limits = Limits::default().max_head_bytes(512).max_headers(8);
        let _ = read_request(&bytes, &limits);
        let _ = accept(&bytes, &limits, |r| Accept {
            subprotocol: r.subprotocols().first().map(|_| "x"),
            ..Accept::default()
        });
        for dialect in Dialect::ALL {
            let (hs, _) = client(&config(dialect), 9);
            let _ = hs.read_response(&bytes);
        }
    }

    /// Valid handshakes with bytes mutated: any outcome but a panic, and a refusal's answer
    /// is always well-formed HTTP.
    #[test]
    fn mutated_handshakes_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut input = [
            V1_REQUEST.to_vec(),
            cat(&[V2_HEAD, V2_KEY3]),
            V3_REQUEST.to_vec(),
            V5_REQUEST.to_vec(),
        ][which].clone();
        for (at, byte) in edits {
            let i = at.index(input.len());
            input[i] = byte;
        }
        let limits = Limits::default();
        match accept(&input, &limits, |_| Accept::default()) {
            Err(err) => check_refusal_bytes(err),
            Ok(Status::Complete(done)) => {
                prop_assert!(done.consumed <= input.len());
                // The same answer whichever prefix made it complete.
                let again = complete(accept(&input[..done.consumed], &limits, |_| Accept::default()));
                prop_assert_eq!(again.response, done.response);
            }
            Ok(Status::Partial) => {}
        }
        // A prefix is never an error that the whole is not, for the head size checks aside.
        let prefix = &input[..cut.index(input.len() + 1)];
        if let Err(err) = read_request(prefix, &limits) {
            prop_assert_eq!(read_request(&input, &limits).err(), Some(err));
        }
        for dialect in Dialect::ALL {
            let (hs, _) = client(&config(dialect), 9);
            let _ = hs.read_response(&input);
        }
    }

    /// Honest responses mutated: the client never panics and never accepts a changed
    /// proof byte.
    #[test]
    fn mutated_responses_never_panic(
        dialect in 0usize..6,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let dialect = Dialect::ALL[dialect];
        let (hs, response) = honest(dialect);
        let mut wrong = response.clone();
        let i = at.index(wrong.len());
        wrong[i] = byte;
        let outcome = hs.read_response(&wrong);
        if dialect.caps().handshake == ws_protocols::HandshakeFamily::Hixie76
            && i >= response.len() - 16
            && byte != response[i]
        {
            prop_assert_eq!(outcome, Err(ClientHandshakeError::WrongChallengeAnswer));
        }
    }
}
