//! hybi-04, hybi-05 and hybi-06 over real loopback sockets: our client (`ws::connect_with`,
//! its dialect chosen in `ConnectOptions`) against our server (`ws::Echo` on port 0), echoing
//! text, binary and pings, and closing from either side. Then the same server against a
//! client that writes the frames by hand, so that the bytes on the wire are the drafts' own:
//! the key or nonce first, the whole frame masked (docs/protocols.md §4.3, §4.4). Every wait
//! is bounded by a socket timeout; nothing sleeps.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use support::{TestServer, DEADLINE};
use ws::protocols::frame::mask::hybi04_frame_key;
use ws::protocols::frame::ConnectionKey;
use ws::protocols::handshake::{client_request, ClientConfig, Status};
use ws::protocols::{close, Dialect, MessageKind};
use ws::{Client, ClientEvent, ConnectOptions, Server, Settings};

fn server() -> TestServer {
    TestServer::start(Server::builder().route("/echo", ws::Echo))
}

fn options(dialect: Dialect) -> ConnectOptions {
    ConnectOptions::default()
        .dialect(dialect)
        .origin("http://example.com")
        .connect_timeout(Some(DEADLINE))
        .handshake_timeout(DEADLINE)
        .read_timeout(Some(DEADLINE))
        .write_timeout(Some(DEADLINE))
}

fn connect(addr: SocketAddr, dialect: Dialect) -> Client {
    ws::connect_with(&format!("ws://{addr}/echo"), options(dialect)).expect("connect")
}

/// The next message or close, skipping pings and pongs.
fn next(client: &mut Client) -> ClientEvent {
    loop {
        match client.recv().expect("recv") {
            ClientEvent::Ping(_) | ClientEvent::Pong(_) => {}
            other => return other,
        }
    }
}

fn echoes_text_binary_and_pings(dialect: Dialect) {
    let server = server();
    let mut client = connect(server.addr, dialect);
    assert_eq!(client.dialect(), dialect);
    // Lengths on both sides of the 7-bit, 16-bit and 64-bit forms: the extended length is
    // masked with the rest of the header.
    for len in [0, 5, 125, 126, 65535, 65536, 200_000] {
        let text: String = "hybi κόσμε 𝄞 ".chars().cycle().take(len).collect();
        client.send_text(&text).unwrap();
        assert_eq!(
            next(&mut client),
            ClientEvent::Text(text),
            "{dialect} {len}"
        );
        let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        client.send_binary(&data).unwrap();
        assert_eq!(
            next(&mut client),
            ClientEvent::Binary(data),
            "{dialect} {len}"
        );
    }
    // A message of unknown length goes as fragments (FIN clear, then FIN set).
    let mut message = client.begin_message(MessageKind::Text).unwrap();
    for piece in ["in ", "three ", "fragments"] {
        message.write_chunk(piece.as_bytes()).unwrap();
    }
    message.finish().unwrap();
    assert_eq!(
        next(&mut client),
        ClientEvent::Text("in three fragments".into())
    );
    client.ping(b"are you there").unwrap();
    assert_eq!(
        client.recv().unwrap(),
        ClientEvent::Pong(b"are you there".to_vec()),
        "{dialect}"
    );
}

fn client_closes(dialect: Dialect) {
    let server = server();
    let mut client = connect(server.addr, dialect);
    client.send_text("before close").unwrap();
    client.close(1000, "done").unwrap();
    assert_eq!(next(&mut client), ClientEvent::Text("before close".into()));
    let ClientEvent::Close(info) = next(&mut client) else {
        panic!("{dialect}: expected the close");
    };
    assert!(info.clean, "{dialect}: {info:?}");
    // Status codes exist from hybi-06; hybi-04/05 close bodies carry none.
    let expected = if dialect.caps().close_codes {
        1000
    } else {
        close::NO_STATUS
    };
    assert_eq!(info.code, expected, "{dialect}");
}

fn server_closes(dialect: Dialect) {
    let server = server();
    let mut client = connect(server.addr, dialect);
    client.send_text("hi").unwrap();
    assert_eq!(next(&mut client), ClientEvent::Text("hi".into()));
    server.handle.shutdown().unwrap();
    let ClientEvent::Close(info) = next(&mut client) else {
        panic!("{dialect}: expected the close");
    };
    assert!(info.clean, "{dialect}: {info:?}");
    if dialect.caps().close_codes {
        assert_eq!(info.code, 1001, "{dialect}");
        assert_eq!(info.reason, "server shutting down");
    } else {
        assert_eq!(info.code, close::NO_STATUS, "{dialect}");
    }
    // The server saw our answer and stopped cleanly.
    server.stop().unwrap();
}

fn answers_server_pings(dialect: Dialect) {
    let keepalive = std::time::Duration::from_millis(250);
    let server = TestServer::start(
        Server::builder()
            .settings(Settings::default().keepalive(Some(keepalive)))
            .route("/echo", ws::Echo),
    );
    let mut client = connect(server.addr, dialect);
    for _ in 0..3 {
        assert_eq!(client.recv().unwrap(), ClientEvent::Ping(Vec::new()));
    }
    client.send_text("still open").unwrap();
    assert_eq!(next(&mut client), ClientEvent::Text("still open".into()));
}

macro_rules! suite {
    ($($module:ident => $dialect:expr),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[test] fn echoes_text_binary_and_pings() { super::echoes_text_binary_and_pings($dialect) }
            #[test] fn closes_cleanly_from_the_client() { super::client_closes($dialect) }
            #[test] fn closes_cleanly_from_the_server() { super::server_closes($dialect) }
            #[test] fn answers_server_pings() { super::answers_server_pings($dialect) }
            #[test] fn echoes_hand_masked_frames_in_the_clear() {
                super::hand_masked_frames_are_echoed_in_the_clear($dialect)
            }
        }
    )*};
}

suite! {
    hybi04 => Dialect::Hybi04,
    hybi05 => Dialect::Hybi05,
    hybi06 => Dialect::Hybi06,
}

// ---- the drafts' bytes, written by hand ----

/// A raw connection after a handshake in `dialect`: the request from the protocols crate,
/// everything after it written and read as bytes.
struct Raw {
    stream: TcpStream,
    /// Bytes read past the 101 head.
    leftover: Vec<u8>,
    /// hybi-04's connection key, from the server's nonce.
    key: Option<[u8; 20]>,
}

impl Raw {
    fn open(addr: SocketAddr, dialect: Dialect) -> Raw {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_write_timeout(Some(DEADLINE)).unwrap();
        let host = addr.to_string();
        let config = ClientConfig::new(dialect, &host, "/echo");
        let mut n = 0u8;
        let mut random = |buf: &mut [u8]| {
            for b in buf {
                n = n.wrapping_mul(7).wrapping_add(3);
                *b = n;
            }
        };
        let mut request = Vec::new();
        let handshake = client_request(&config, &mut random, &mut request);
        stream.write_all(&request).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let response = loop {
            if let Status::Complete(response) = handshake.read_response(&buf).unwrap() {
                break response;
            }
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        };
        Raw {
            stream,
            leftover: buf.split_off(response.consumed),
            key: response.connection_key.map(|k| k.0),
        }
    }

    fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut out: Vec<u8> = self.leftover.drain(..n.min(self.leftover.len())).collect();
        let mut rest = vec![0u8; n - out.len()];
        self.stream.read_exact(&mut rest).unwrap();
        out.extend_from_slice(&rest);
        out
    }
}

/// `frame` masked as a client of `dialect` masks it behind `front` (docs §4.3, §4.4),
/// computed here from the definition rather than with the crate's encoder.
fn masked(dialect: Dialect, front: [u8; 4], frame: &[u8], key: Option<[u8; 20]>) -> Vec<u8> {
    let mask: Vec<u8> = match dialect {
        // SHA-1(nonce ++ connection key): the crate's function, checked against
        // docs/protocols.md §4.3's vector in its own tests.
        Dialect::Hybi04 => hybi04_frame_key(
            front,
            &ConnectionKey(key.expect("hybi-04 has a connection key")),
        )
        .to_vec(),
        _ => front.to_vec(),
    };
    let mut wire = front.to_vec();
    wire.extend(
        frame
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % mask.len()]),
    );
    wire
}

fn hand_masked_frames_are_echoed_in_the_clear(dialect: Dialect) {
    let server = server();
    let mut raw = Raw::open(server.addr, dialect);
    assert_eq!(raw.key.is_some(), dialect == Dialect::Hybi04);
    // docs/protocols.md §8.2 F7's "Hello" (for hybi-06 exactly F7's bytes), written a
    // byte at a time so the server meets every split of the masked header.
    let hello = masked(dialect, [0x37, 0xfa, 0x21, 0x3d], b"\x84\x05Hello", raw.key);
    if dialect == Dialect::Hybi06 {
        assert_eq!(
            hello,
            [0x37, 0xfa, 0x21, 0x3d, 0xb3, 0xff, 0x69, 0x58, 0x5b, 0x96, 0x4e]
        );
    }
    for byte in &hello {
        raw.stream.write_all(std::slice::from_ref(byte)).unwrap();
    }
    assert_eq!(raw.read_exact(7), b"\x84\x05Hello", "{dialect}");
    // A ping (opcode 2) is answered by a pong (opcode 3), unmasked.
    let ping = masked(dialect, [1, 2, 3, 4], b"\x82\x02hi", raw.key);
    raw.stream.write_all(&ping).unwrap();
    assert_eq!(raw.read_exact(4), b"\x83\x02hi", "{dialect}");
    // 300 bytes of binary: a 16-bit length, masked.
    let payload = vec![0xa5; 300];
    let frame = [&b"\x85\x7e\x01\x2c"[..], &payload].concat();
    let binary = masked(dialect, [9, 9, 9, 9], &frame, raw.key);
    raw.stream.write_all(&binary).unwrap();
    assert_eq!(raw.read_exact(304), frame, "{dialect}");
    // The close (opcode 1) is answered: its body echoed whole before hybi-06 (here the
    // one byte em-websocket's hybi-05 closes with), its code from hybi-06.
    let body: &[u8] = if dialect == Dialect::Hybi06 {
        b"\x03\xe8"
    } else {
        b"\x53"
    };
    let frame = [&[0x81, body.len() as u8][..], body].concat();
    let close = masked(dialect, [5, 6, 7, 8], &frame, raw.key);
    raw.stream.write_all(&close).unwrap();
    assert_eq!(raw.read_exact(frame.len()), frame, "{dialect}");
    let mut rest = Vec::new();
    raw.stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{dialect}: nothing after the close");
}

#[test]
fn a_frame_that_is_not_masked_from_in_front_fails_the_connection() {
    let server = server();
    for dialect in [Dialect::Hybi05, Dialect::Hybi06] {
        let mut raw = Raw::open(server.addr, dialect);
        // An RFC-style frame: to a hybi-05/06 server its first 4 bytes are the key, and
        // what they unmask is no valid frame.
        raw.stream
            .write_all(&[
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ])
            .unwrap();
        let mut rest = raw.leftover.clone();
        raw.stream.read_to_end(&mut rest).unwrap();
        // The server fails the connection: at most its close frame, then EOF.
        assert!(
            rest.len() <= 4 && rest.first().is_none_or(|b| b & 0x0f == 1),
            "{dialect}: {rest:?}"
        );
    }
}
