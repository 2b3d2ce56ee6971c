//! The opening handshake over real sockets: exact bytes for the docs/protocols.md §8.1 vectors,
//! every refusal, the handshake timeout and the connection limit.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};
use support::{exchange, raw_connect, status_of, TestServer};
use ws::Settings;

fn server() -> TestServer {
    TestServer::echo(Settings::default().subprotocols(vec!["sample".into(), "chat".into()]))
}

/// Send `request`, read exactly `expected.len()` bytes, compare.
fn expect_exact(server: &TestServer, request: &[u8], expected: &[u8]) {
    let mut stream = raw_connect(server.addr);
    stream.write_all(request).unwrap();
    let mut got = vec![0u8; expected.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
    assert_eq!(got, expected);
}

const V1_REQUEST: &[u8] = b"GET /demo HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: example.com\r\nOrigin: http://example.com\r\nWebSocket-Protocol: sample\r\n\r\n";
const V1_RESPONSE: &[u8] = b"HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nWebSocket-Origin: http://example.com\r\nWebSocket-Location: ws://example.com/demo\r\nWebSocket-Protocol: sample\r\n\r\n";

const V2_HEAD: &[u8] = b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nSec-WebSocket-Protocol: sample\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nOrigin: http://example.com\r\n\r\n";
const V2_KEY3: &[u8] = b"^n:ds[4U";
const V2_RESPONSE_HEAD: &[u8] = b"HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Origin: http://example.com\r\nSec-WebSocket-Location: ws://example.com/demo\r\nSec-WebSocket-Protocol: sample\r\n\r\n";
const V2_ANSWER: &[u8] = b"8jKS'y:G*Co,Wxa-";

const V5_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";
const V5_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n";

fn v3(version: u8) -> Vec<u8> {
    format!("GET /demo HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Origin: http://example.com\r\nSec-WebSocket-Version: {version}\r\n\r\n").into_bytes()
}
const V3_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

#[test]
fn v1_hixie75_exact_response() {
    expect_exact(&server(), V1_REQUEST, V1_RESPONSE);
}

#[test]
fn v2_hixie76_exact_response_in_one_piece() {
    let request = [V2_HEAD, V2_KEY3].concat();
    expect_exact(&server(), &request, &[V2_RESPONSE_HEAD, V2_ANSWER].concat());
}

#[test]
fn v2_hixie76_head_first_then_answer_when_key3_arrives() {
    let server = server();
    let mut stream = raw_connect(server.addr);
    stream.write_all(V2_HEAD).unwrap();
    // The 101 head arrives before key3 is sent (HAProxy withholds key3 until it sees it).
    let mut head = vec![0u8; V2_RESPONSE_HEAD.len()];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head, V2_RESPONSE_HEAD);
    stream.write_all(V2_KEY3).unwrap();
    let mut answer = [0u8; 16];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, V2_ANSWER);
}

#[test]
fn v2_hixie76_waiting_for_key3_when_headers_first_is_off() {
    let server = TestServer::echo(
        Settings::default()
            .subprotocols(vec!["sample".into()])
            .hixie76_headers_first(false),
    );
    let mut stream = raw_connect(server.addr);
    stream.write_all(V2_HEAD).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = stream.read(&mut byte);
    assert!(
        early.is_err(),
        "nothing may be answered before key3: {early:?}"
    );
    stream.set_read_timeout(Some(support::DEADLINE)).unwrap();
    stream.write_all(V2_KEY3).unwrap();
    let mut got = vec![0u8; V2_RESPONSE_HEAD.len() + 16];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, [V2_RESPONSE_HEAD, V2_ANSWER].concat());
}

#[test]
fn v3_v4_hybi07_and_hybi08_exact_response() {
    let server = server();
    expect_exact(&server, &v3(7), V3_RESPONSE);
    expect_exact(&server, &v3(8), V3_RESPONSE);
}

#[test]
fn v5_rfc6455_exact_response() {
    expect_exact(&server(), V5_REQUEST, V5_RESPONSE);
}

#[test]
fn v7_hybi03_gets_the_hixie76_response() {
    let server = server();
    for draft in ["2", "3"] {
        let head = String::from_utf8(V2_HEAD.to_vec()).unwrap().replace(
            "Origin:",
            &format!("Sec-WebSocket-Draft: {draft}\r\nOrigin:"),
        );
        let request = [head.as_bytes(), V2_KEY3].concat();
        expect_exact(&server, &request, &[V2_RESPONSE_HEAD, V2_ANSWER].concat());
    }
}

#[test]
fn refusals_answer_with_the_right_status_and_close() {
    let server = server();
    let v5 = String::from_utf8(V5_REQUEST.to_vec()).unwrap();
    let v2 = String::from_utf8(V2_HEAD.to_vec()).unwrap();
    let cases: Vec<(String, u16, Option<&str>)> = vec![
        (
            v5.replace("Version: 13", "Version: 9"),
            426,
            Some("13, 8, 7, 6, 5, 4"),
        ),
        (
            v5.replace("Version: 13", "Version: 13, 8"),
            400,
            Some("13, 8, 7, 6, 5, 4"),
        ),
        (
            v5.replace("Sec-WebSocket-Version: 13\r\n", ""),
            400,
            Some("13, 8, 7, 6, 5, 4"),
        ),
        (
            v5.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ"),
            400,
            None,
        ),
        (v5.replace("GET", "POST"), 400, None),
        (v5.replace("HTTP/1.1", "HTTP/1.0"), 400, None),
        (
            v5.replace("Upgrade: websocket\r\n", "Upgrade: h2c\r\n"),
            400,
            None,
        ),
        (v2.replace("4 @1  46546xW%0l 1 5", "12345"), 400, None),
        (
            v2.replace("4 @1  46546xW%0l 1 5", "2 L785 8o% s9Sy9@V. 4<1P5"),
            400,
            None,
        ),
        (
            v2.replace("4 @1  46546xW%0l 1 5", "99999999999 x"),
            400,
            None,
        ),
        (
            v2.replace("Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n", ""),
            400,
            None,
        ),
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n".into(), 501, None),
    ];
    for (request, status, versions) in cases {
        let answer = exchange(server.addr, request.as_bytes());
        assert_eq!(
            status_of(&answer),
            status,
            "{request:?} → {:?}",
            String::from_utf8_lossy(&answer)
        );
        let text = String::from_utf8_lossy(&answer);
        if let Some(list) = versions {
            assert!(
                text.contains(&format!("Sec-WebSocket-Version: {list}")),
                "{text}"
            );
        }
    }
}

#[test]
fn a_head_over_the_limit_gets_431() {
    let server = TestServer::echo(Settings::default().max_head_bytes(1024));
    let mut request = b"GET /echo HTTP/1.1\r\nHost: x\r\n".to_vec();
    while request.len() < 2000 {
        request.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    request.extend_from_slice(b"\r\n");
    assert_eq!(status_of(&exchange(server.addr, &request)), 431);
}

#[test]
fn unknown_path_404_disallowed_origin_403_and_handler_rejection() {
    struct Picky;
    impl ws::Handler for Picky {
        fn on_request(
            &mut self,
            request: &ws::protocols::handshake::Request,
            _: Option<&str>,
        ) -> ws::Decision {
            match request.cookies().find(|(name, _)| *name == "session") {
                Some((_, "ok")) => ws::Decision::accept(),
                _ => ws::Decision::reject(401, "log in first"),
            }
        }
    }
    let server = TestServer::start(
        ws::Server::builder()
            .settings(
                Settings::default().origins(ws::OriginPolicy::AllowList(vec![
                    "http://good.example".into(),
                ])),
            )
            .route("/private", Picky),
    );
    let request = |path: &str, origin: &str, cookie: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\nCookie: {cookie}\r\n\r\n")
    };
    let status = |r: String| {
        let started = Instant::now();
        let status = status_of(&support::response_head(server.addr, r.as_bytes()));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "answered promptly"
        );
        status
    };
    assert_eq!(
        status(request("/elsewhere", "http://good.example", "session=ok")),
        404
    );
    assert_eq!(
        status(request("/private", "http://evil.example", "session=ok")),
        403
    );
    assert_eq!(
        status(request("/private", "http://good.example", "session=no")),
        401
    );
    assert_eq!(
        status(request(
            "/private",
            "http://good.example",
            "a=1; session=ok"
        )),
        101
    );
}

#[test]
fn a_slow_handshake_is_dropped_at_the_timeout() {
    let server =
        TestServer::echo(Settings::default().handshake_timeout(Duration::from_millis(300)));
    let mut stream = raw_connect(server.addr);
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let n = stream.read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(n, 0, "dropped without an answer");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "dropped by the timeout, not the test deadline"
    );
    assert_eq!(server.handle.stats().connections_open, 0);
}

#[test]
fn beyond_max_connections_new_clients_get_503() {
    let server = TestServer::echo(Settings::default().max_connections(2));
    let _a = support::Client::connect(server.addr, "/echo", ws::protocols::Dialect::Rfc6455);
    let _b = support::Client::connect(server.addr, "/echo", ws::protocols::Dialect::Hixie76);
    let answer = exchange(server.addr, V5_REQUEST);
    assert_eq!(status_of(&answer), 503);
}

/// Answers `/now` at once, `/inline` through the reply on the loop's own thread, `/thread`
/// from a thread of its own after a while, and drops the reply of `/never` unsent.
struct Replies;

impl ws::HttpHandler for Replies {
    fn handle(&mut self, _: &ws::HttpRequest) -> ws::HttpResponse {
        ws::HttpResponse::text(200, "now")
    }

    fn handle_later(
        &mut self,
        request: &ws::HttpRequest,
        reply: ws::HttpReply,
    ) -> Option<ws::HttpResponse> {
        match request.path.as_str() {
            "/inline" => reply.send(ws::HttpResponse::text(200, "inline")),
            "/thread" => {
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(200));
                    reply.send(ws::HttpResponse::text(200, "thread"));
                });
            }
            "/never" => drop(reply),
            _ => return Some(self.handle(request)),
        }
        None
    }
}

#[test]
fn plain_http_answered_now_inline_from_a_thread_or_never() {
    let server = TestServer::start(
        ws::Server::builder()
            .route("/ws", ws::Echo)
            .plain_http(Replies),
    );
    for (path, status, body) in [
        ("/now", 200, "now"),
        ("/inline", 200, "inline"),
        ("/thread", 200, "thread"),
        ("/never", 503, "no answer: try again later"),
    ] {
        let started = Instant::now();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let response = exchange(server.addr, request.as_bytes());
        assert_eq!(status_of(&response), status, "{path}");
        assert!(String::from_utf8_lossy(&response).contains(body), "{path}");
        // Each answer goes out when it is given, not at some later timeout.
        assert!(started.elapsed() < Duration::from_secs(2), "{path}");
    }
}
