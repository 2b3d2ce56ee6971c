//! Vectors and helpers shared by the handshake tests.

use ws_protocols::handshake::{
    accept, client_request, read_request, Accept, Accepted, ClientConfig, ClientHandshake,
    ClientHandshakeError, HandshakeError, Request, ServerResponse, Status,
};
use ws_protocols::{Dialect, Limits};

// ===== vectors (docs/protocols.md §8.1) =====

pub const V1_REQUEST: &[u8] = b"GET /demo HTTP/1.1\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
Host: example.com\r\n\
Origin: http://example.com\r\n\
WebSocket-Protocol: sample\r\n\
\r\n";
pub const V1_RESPONSE: &[u8] = b"HTTP/1.1 101 Web Socket Protocol Handshake\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
WebSocket-Origin: http://example.com\r\n\
WebSocket-Location: ws://example.com/demo\r\n\
WebSocket-Protocol: sample\r\n\
\r\n";

pub const V2_HEAD: &[u8] = b"GET /demo HTTP/1.1\r\n\
Host: example.com\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\
Sec-WebSocket-Protocol: sample\r\n\
Upgrade: WebSocket\r\n\
Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\
Origin: http://example.com\r\n\
\r\n";
pub const V2_KEY3: &[u8] = b"^n:ds[4U";
pub const V2_RESPONSE_HEAD: &[u8] = b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Origin: http://example.com\r\n\
Sec-WebSocket-Location: ws://example.com/demo\r\n\
Sec-WebSocket-Protocol: sample\r\n\
\r\n";
pub const V2_ANSWER: &[u8] = b"8jKS'y:G*Co,Wxa-";

pub const V3_REQUEST: &[u8] = b"GET /demo HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Origin: http://example.com\r\n\
Sec-WebSocket-Version: 7\r\n\
\r\n";
pub const V3_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
\r\n";

pub const V5_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";
pub const V5_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\
\r\n";

// ===== helpers =====

/// V6: the hybi-04 request of docs/protocols.md §3.3 (the -04 example as libwebsockets quotes
/// it), answered with the nonce bytes 01 02 .. 10.
pub const V6_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 4\r\n\
\r\n";
pub const V6_NONCE: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
pub const V6_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Nonce: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\
Sec-WebSocket-Protocol: chat\r\n\
\r\n";
/// SHA-1 of key, V6's nonce and the hybi-04 masking GUID (computed with Python's hashlib).
pub const V6_CONNECTION_KEY: &str = "23222d4ecf9af2084f4d83043abf7747dd56c5b7";

pub fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The head of `request` with header `name` replaced by `value` (removed when `None`,
/// appended when absent), followed by whatever came after the head.
pub fn with_header(request: &[u8], name: &str, value: Option<&str>) -> Vec<u8> {
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
pub fn add_header(request: &[u8], name: &str, value: &str) -> Vec<u8> {
    let text = std::str::from_utf8(request).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    format!("{head}\r\n{name}: {value}\r\n\r\n{rest}").into_bytes()
}

/// `request` with its request line replaced.
pub fn with_request_line(request: &[u8], line: &str) -> Vec<u8> {
    let text = std::str::from_utf8(request).unwrap();
    let (_, rest) = text.split_once("\r\n").unwrap();
    format!("{line}\r\n{rest}").into_bytes()
}

pub fn complete<T: std::fmt::Debug, E: std::fmt::Debug>(r: Result<Status<T>, E>) -> T {
    match r {
        Ok(Status::Complete(t)) => t,
        other => panic!("expected Complete, got {other:?}"),
    }
}

pub fn request(buf: &[u8]) -> Request {
    complete(read_request(buf, &Limits::default()))
}

pub fn refusal(buf: &[u8]) -> HandshakeError {
    match read_request(buf, &Limits::default()) {
        Err(e) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A parsed HTTP response: status, headers, body. Panics unless the bytes are one complete,
/// well-formed response whose Content-Length matches its body.
pub fn parse_http(bytes: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
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

pub fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Serve `input` (head, plus key3 in the hixie-76 family) every way a server may receive it,
/// and check the answer is `expected` each time:
/// in one piece, followed by frame bytes that must be left alone; in two reads (head, then
/// key3); one byte at a time; and headers first, answer later.
pub fn check_served(input: &[u8], choice: Accept<'static>, dialect: Dialect, expected: &[u8]) {
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

pub const SAMPLE: Accept<'static> = Accept {
    subprotocol: Some("sample"),
    extra_headers: &[],
    secure: false,
    nonce: None,
};

// ===== refusals =====

/// Check a refusal's status, version advertisement and that its answer is well-formed HTTP.
pub fn check_refusal(input: &[u8], expected: HandshakeError, status: u16, versions: bool) {
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

pub fn check_refusal_bytes(err: HandshakeError) {
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
        assert_eq!(versions, Some("13, 8, 7, 6, 5, 4"), "{err:?}");
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

// ===== client ⇄ server =====

/// A deterministic stand-in for the caller's CSPRNG.
pub fn rng(mut state: u64) -> impl FnMut(&mut [u8]) {
    move |buf: &mut [u8]| {
        for b in buf {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (state >> 33) as u8;
        }
    }
}

pub fn client(cfg: &ClientConfig<'_>, seed: u64) -> (ClientHandshake, Vec<u8>) {
    let mut out = Vec::new();
    let hs = client_request(cfg, &mut rng(seed), &mut out);
    (hs, out)
}

/// Run a full handshake: the client's request through the server, the answer back.
pub fn round_trip(cfg: &ClientConfig<'_>, choice: Accept<'_>) -> (Accepted, ServerResponse) {
    let (hs, req) = client(cfg, 42);
    let done = complete(accept(&req, &Limits::default(), |_| choice));
    assert_eq!(done.consumed, req.len());
    let resp = complete(hs.read_response(&done.response));
    assert_eq!(resp.consumed, done.response.len());
    (done, resp)
}

pub fn config(dialect: Dialect) -> ClientConfig<'static> {
    ClientConfig {
        origin: Some("http://example.com"),
        ..ClientConfig::new(dialect, "example.com:8080", "/chat?room=1")
    }
}

// ===== the client refuses tampered answers =====

/// The server's honest answer to a client of `dialect` offering "chat".
pub fn honest(dialect: Dialect) -> (ClientHandshake, Vec<u8>) {
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

pub fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from:?} not in {}", String::from_utf8_lossy(bytes)));
    cat(&[&bytes[..at], to.as_bytes(), &bytes[at + from.len()..]])
}

pub fn rejects(hs: &ClientHandshake, response: &[u8], expected: ClientHandshakeError) {
    assert_eq!(
        hs.read_response(response),
        Err(expected),
        "{}",
        String::from_utf8_lossy(response)
    );
    assert!(!expected.to_string().is_empty());
}
