//! The public client (`ws::connect`) against our server, one suite per dialect, over real
//! loopback sockets; then its error paths against scripted fake servers. Every wait is
//! bounded by a socket timeout; nothing sleeps to synchronise.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use support::cli::run_client as run_cli;
use support::{TestServer, DEADLINE};
use ws::protocols::handshake::{accept, Accept, Status};
use ws::protocols::{
    ClientHandshakeError, Decode, Decoder, Dialect, Event, Limits, MessageKind, ProtocolError, Role,
};
use ws::{
    Client, ClientError, ClientEvent, ClientPiece, ConnectOptions, HixieBinary, OriginPolicy,
    Server, Settings, UrlError,
};

const TEXT_SIZES: &[usize] = &[0, 125, 126, 65535, 65536];
/// The server's keepalive in the ping tests: it drops a peer that has not answered one ping
/// by the next, so this is also how late a pong may be on a busy machine.
const KEEPALIVE: Duration = Duration::from_millis(250);

fn options(dialect: Dialect) -> ConnectOptions {
    ConnectOptions::default()
        .dialect(dialect)
        .connect_timeout(Some(DEADLINE))
        .handshake_timeout(DEADLINE)
        .read_timeout(Some(DEADLINE))
        .write_timeout(Some(DEADLINE))
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("ws://{addr}{path}")
}

fn connect(server: &TestServer, dialect: Dialect) -> Client {
    ws::connect_with(&url(server.addr, "/echo"), options(dialect)).expect("connect")
}

/// Text of exactly `len` bytes with 2-, 3- and 4-byte characters in it.
fn text_of(len: usize) -> String {
    let pattern = "ascii κόσμε €𝄞 ";
    let mut s: String = pattern.chars().cycle().take(len).collect();
    while s.len() > len {
        s.pop();
    }
    while s.len() < len {
        s.push('.');
    }
    s
}

fn binary_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
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

fn unsupported(result: Result<impl std::fmt::Debug, ClientError>, dialect: Dialect) {
    match result {
        Err(ClientError::Unsupported { dialect: d, .. }) => assert_eq!(d, dialect),
        other => panic!("{dialect}: expected Unsupported, got {other:?}"),
    }
}

/// The close code our server's echo of a close comes back with.
fn echoed_code(dialect: Dialect, code: u16) -> u16 {
    if dialect.caps().close_codes {
        code
    } else {
        ws::protocols::close::NO_STATUS
    }
}

fn echo_text(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = connect(&server, dialect);
    assert_eq!(client.dialect(), dialect);
    for &len in TEXT_SIZES {
        let text = text_of(len);
        client.send_text(&text).unwrap();
        assert_eq!(
            next(&mut client),
            ClientEvent::Text(text),
            "{dialect} {len}"
        );
    }
    let multibyte = "κόσμε 𝄞 € \u{10ffff} \u{0} end";
    client.send_text(multibyte).unwrap();
    assert_eq!(next(&mut client), ClientEvent::Text(multibyte.into()));
}

fn echo_binary(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = connect(&server, dialect);
    if !dialect.caps().binary {
        // README "What a dialect cannot carry": refused, not dropped; still usable after.
        unsupported(client.send_binary(&[1, 2, 3]), dialect);
        client.send_text("still open").unwrap();
        assert_eq!(next(&mut client), ClientEvent::Text("still open".into()));
        return;
    }
    for &len in TEXT_SIZES {
        let data = binary_of(len);
        client.send_binary(&data).unwrap();
        assert_eq!(
            next(&mut client),
            ClientEvent::Binary(data),
            "{dialect} {len}"
        );
    }
}

fn echo_streamed(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = connect(&server, dialect);
    let text = text_of(10_000);
    let mut message = client.begin_message(MessageKind::Text).unwrap();
    // 777-byte pieces split multi-byte characters: allowed, the whole is UTF-8.
    for piece in text.as_bytes().chunks(777) {
        message.write_chunk(piece).unwrap();
    }
    message.finish().unwrap();
    assert_eq!(next(&mut client), ClientEvent::Text(text));

    let data = binary_of(10_000);
    if dialect.caps().fragments {
        let mut message = client.begin_message(MessageKind::Binary).unwrap();
        std::io::copy(&mut &data[..], &mut message).unwrap();
        message.finish().unwrap();
        assert_eq!(next(&mut client), ClientEvent::Binary(data));
    } else {
        unsupported(client.begin_message(MessageKind::Binary), dialect);
    }

    // A piece that is not UTF-8 is refused unsent; the message goes on.
    let mut message = client.begin_message(MessageKind::Text).unwrap();
    message.write_chunk(b"ok ").unwrap();
    assert!(matches!(
        message.write_chunk(b"\xff"),
        Err(ClientError::NotUtf8)
    ));
    message.write_chunk("still ok".as_bytes()).unwrap();
    message.finish().unwrap();
    assert_eq!(next(&mut client), ClientEvent::Text("ok still ok".into()));
}

/// Collect one message with `recv_piece`: its start, its pieces, its end.
fn recv_in_pieces(client: &mut Client) -> (MessageKind, Option<u64>, Vec<Vec<u8>>) {
    let (kind, len) = loop {
        match client.recv_piece().expect("recv_piece") {
            ClientPiece::Start { kind, len } => break (kind, len),
            ClientPiece::Other(ClientEvent::Ping(_) | ClientEvent::Pong(_)) => {}
            other => panic!("expected a message start, got {other:?}"),
        }
    };
    let mut pieces = Vec::new();
    loop {
        match client.recv_piece().expect("recv_piece") {
            ClientPiece::Data(bytes) => pieces.push(bytes),
            ClientPiece::End => return (kind, len, pieces),
            ClientPiece::Other(ClientEvent::Ping(_) | ClientEvent::Pong(_)) => {}
            other => panic!("expected data or the end, got {other:?}"),
        }
    }
}

fn receive_in_pieces(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = connect(&server, dialect);
    // Bigger than the client's 64 KiB read buffer: it must come in several pieces.
    let text = text_of(300_000);
    client.send_text(&text).unwrap();
    let (kind, len, pieces) = recv_in_pieces(&mut client);
    assert_eq!(kind, MessageKind::Text);
    // Our server sends a whole message as one frame of declared length; hixie text has none.
    let declared = dialect.caps().framing != ws::protocols::Framing::Sentinel;
    assert_eq!(len, declared.then_some(300_000), "{dialect}");
    assert!(pieces.len() > 1, "{dialect}: {} piece(s)", pieces.len());
    assert!(pieces.concat() == text.as_bytes(), "{dialect}: text intact");

    if dialect.caps().binary {
        let data = binary_of(300_000);
        client.send_binary(&data).unwrap();
        let (kind, len, pieces) = recv_in_pieces(&mut client);
        assert_eq!(
            (kind, len),
            (MessageKind::Binary, Some(300_000)),
            "{dialect}"
        );
        assert!(pieces.concat() == data, "{dialect}: binary intact");
    }

    // A message begun by recv_piece is finished by recv_piece; recv refuses in between and
    // consumes nothing. Then recv works again.
    client.send_text("in pieces").unwrap();
    assert!(matches!(
        client.recv_piece().unwrap(),
        ClientPiece::Start {
            kind: MessageKind::Text,
            ..
        }
    ));
    assert!(matches!(client.recv(), Err(ClientError::MessageOpen)));
    assert_eq!(
        client.recv_piece().unwrap(),
        ClientPiece::Data(b"in pieces".to_vec())
    );
    assert_eq!(client.recv_piece().unwrap(), ClientPiece::End);
    client.send_text("whole").unwrap();
    assert_eq!(next(&mut client), ClientEvent::Text("whole".into()));
}

fn fragment_size(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let options = options(dialect).fragment_size(Some(1000));
    let mut client = ws::connect_with(&url(server.addr, "/echo"), options).unwrap();
    let text = text_of(5_000);
    client.send_text(&text).unwrap();
    assert_eq!(next(&mut client), ClientEvent::Text(text));
}

fn ping_pong(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = connect(&server, dialect);
    if !dialect.caps().ping {
        unsupported(client.ping(b"x"), dialect);
        return;
    }
    client.ping(b"are you there").unwrap();
    assert_eq!(
        client.recv().unwrap(),
        ClientEvent::Pong(b"are you there".to_vec())
    );
    assert!(matches!(
        client.ping(&[0; 126]),
        Err(ClientError::Invalid(_))
    ));
}

/// The server pings every KEEPALIVE and drops a peer that has not answered by the next ping:
/// staying open across several pings proves they are answered.
fn server_pings(dialect: Dialect) {
    let server = TestServer::echo(Settings::default().keepalive(Some(KEEPALIVE)));
    let mut client = connect(&server, dialect);
    for _ in 0..3 {
        assert_eq!(client.recv().unwrap(), ClientEvent::Ping(Vec::new()));
    }
    client.send_text("still open").unwrap();
    assert_eq!(next(&mut client), ClientEvent::Text("still open".into()));
}

fn client_closes(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = connect(&server, dialect);
    client.send_text("before close").unwrap();
    client.close(1000, "done").unwrap();
    // Closing twice does nothing; sending after the close is refused.
    client.close(1000, "again").unwrap();
    assert!(matches!(client.send_text("late"), Err(ClientError::Closed)));
    // What was in flight still arrives, then the server's answer.
    assert_eq!(next(&mut client), ClientEvent::Text("before close".into()));
    let ClientEvent::Close(info) = next(&mut client) else {
        panic!("{dialect}: expected the close")
    };
    assert_eq!(info.code, echoed_code(dialect, 1000), "{dialect}");
    assert!(info.clean, "{dialect}: {info:?}");
    assert!(matches!(client.recv(), Err(ClientError::Closed)));
}

fn server_closes(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = connect(&server, dialect);
    client.send_text("hi").unwrap();
    assert_eq!(next(&mut client), ClientEvent::Text("hi".into()));
    server.handle.shutdown().unwrap();
    let ClientEvent::Close(info) = next(&mut client) else {
        panic!("{dialect}: expected the close")
    };
    assert!(info.clean, "{dialect}: {info:?}");
    assert_eq!(info.code, echoed_code(dialect, 1001), "{dialect}");
    if dialect.caps().close_codes {
        assert_eq!(info.reason, "server shutting down");
    }
    assert!(matches!(client.recv(), Err(ClientError::Closed)));
    assert!(matches!(client.send_text("late"), Err(ClientError::Closed)));
    // The server saw our answer (or, for hixie-75, our TCP close) and stopped cleanly.
    server.stop().unwrap();
}

fn subprotocols(dialect: Dialect) {
    let server = TestServer::echo(Settings::default().subprotocols(vec!["chat".into()]));
    let offer: &[&str] = if dialect.caps().handshake == ws::protocols::HandshakeFamily::KeyAccept {
        &["superchat", "chat"]
    } else {
        // hixie and hybi-03 carry one string, echoed whole.
        &["chat"]
    };
    let options = options(dialect).subprotocols(offer.iter().copied());
    let client = ws::connect_with(&url(server.addr, "/echo"), options).unwrap();
    assert_eq!(client.subprotocol(), Some("chat"), "{dialect}");
    assert_eq!(connect(&server, dialect).subprotocol(), None);
}

fn refusals(dialect: Dialect) {
    let server = TestServer::start(
        Server::builder()
            .settings(
                Settings::default()
                    .origins(OriginPolicy::AllowList(vec!["http://good.example".into()])),
            )
            .route("/echo", ws::Echo),
    );
    let err = ws::connect_with(
        &url(server.addr, "/missing"),
        options(dialect).origin("http://good.example"),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Handshake(ClientHandshakeError::Status(404))
        ),
        "{dialect}: {err:?}"
    );
    assert_eq!(err.http_status(), Some(404));
    let err = ws::connect_with(
        &url(server.addr, "/echo"),
        options(dialect).origin("http://evil.example"),
    )
    .unwrap_err();
    assert_eq!(err.http_status(), Some(403), "{dialect}: {err:?}");
    // The origin goes in the header the dialect uses (Sec-WebSocket-Origin for 7 and 8).
    let mut client = ws::connect_with(
        &url(server.addr, "/echo?x=1"),
        options(dialect).origin("http://good.example"),
    )
    .unwrap();
    client.send_text("allowed").unwrap();
    assert_eq!(next(&mut client), ClientEvent::Text("allowed".into()));
}

/// A streamed message whose writer is dropped unfinished: the echo server must not get it as
/// a message (it would echo it), and the connection ends.
fn abandoned(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = connect(&server, dialect);
    let mut message = client.begin_message(MessageKind::Text).unwrap();
    message
        .write_chunk(b"the first half of a message that ")
        .unwrap();
    drop(message);
    match client.recv() {
        Ok(ClientEvent::Close(info)) => {
            if dialect.caps().close_codes {
                assert_eq!(info.code, 1011, "{dialect}: the server echoes our code");
            }
        }
        Err(ClientError::Closed) | Err(ClientError::Io(_)) => {}
        other => panic!("{dialect}: the abandoned message came back: {other:?}"),
    }
    assert!(matches!(
        client.send_text("more"),
        Err(ClientError::Closed) | Err(ClientError::Io(_))
    ));
}

macro_rules! suite {
    ($($module:ident => $dialect:expr),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[test] fn echoes_text_of_every_boundary_size() { echo_text($dialect) }
            #[test] fn echoes_binary_or_refuses_it() { echo_binary($dialect) }
            #[test] fn streams_messages_of_unknown_length() { echo_streamed($dialect) }
            #[test] fn receives_messages_in_pieces() { receive_in_pieces($dialect) }
            #[test] fn sends_fragments_of_the_set_size() { fragment_size($dialect) }
            #[test] fn pings_or_refuses_to() { ping_pong($dialect) }
            #[test] fn closes_cleanly_from_the_client() { client_closes($dialect) }
            #[test] fn closes_cleanly_from_the_server() { server_closes($dialect) }
            #[test] fn negotiates_a_subprotocol() { subprotocols($dialect) }
            #[test] fn reports_refusals_with_their_status() { refusals($dialect) }
            #[test] fn an_abandoned_message_never_arrives_whole() { abandoned($dialect) }
        }
    )*};
}

suite! {
    hixie75 => Dialect::Hixie75,
    hixie76 => Dialect::Hixie76,
    hybi03 => Dialect::Hybi03,
    hybi07 => Dialect::Hybi07,
    hybi08 => Dialect::Hybi08,
    rfc6455 => Dialect::Rfc6455,
}

macro_rules! ping_suite {
    ($($module:ident => $dialect:expr),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[test] fn answers_server_pings() { server_pings($dialect) }
        }
    )*};
}

ping_suite! {
    hybi03_keepalive => Dialect::Hybi03,
    hybi07_keepalive => Dialect::Hybi07,
    hybi08_keepalive => Dialect::Hybi08,
    rfc6455_keepalive => Dialect::Rfc6455,
}

#[test]
fn hixie_binary_as_length_prefixed_frames_when_both_sides_agree() {
    let server = TestServer::echo(Settings::default().hixie_binary(HixieBinary::LengthPrefixed));
    for dialect in [Dialect::Hixie75, Dialect::Hixie76] {
        let options = options(dialect).hixie_binary(HixieBinary::LengthPrefixed);
        let mut client = ws::connect_with(&url(server.addr, "/echo"), options).unwrap();
        let data = binary_of(300);
        client.send_binary(&data).unwrap();
        assert_eq!(next(&mut client), ClientEvent::Binary(data), "{dialect}");
    }
}

#[test]
fn split_halves_send_and_receive_at_once() {
    let server = TestServer::echo(Settings::default());
    for dialect in [Dialect::Hixie76, Dialect::Rfc6455] {
        let (mut sender, mut receiver) = connect(&server, dialect).split();
        const COUNT: usize = 200;
        // 200 × 20 KiB each way: more than the socket buffers hold, so the halves must
        // really run at once.
        let body = text_of(20_000);
        let writer = thread::spawn(move || {
            for i in 0..COUNT {
                sender.send_text(&format!("{i:05}{body}")).unwrap();
            }
            sender.close(1000, "").unwrap();
        });
        for i in 0..COUNT {
            match receiver.recv().unwrap() {
                ClientEvent::Text(text) => assert!(text.starts_with(&format!("{i:05}"))),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(receiver.recv().unwrap(), ClientEvent::Close(_)));
        writer.join().unwrap();
    }
}

#[test]
fn pongs_go_out_while_a_streamed_message_waits_for_its_next_piece() {
    let server = TestServer::echo(Settings::default().keepalive(Some(KEEPALIVE)));
    let (mut sender, mut receiver) = connect(&server, Dialect::Rfc6455).split();
    let (pinged, wait) = mpsc::channel();
    let writer = thread::spawn(move || {
        let mut message = sender.begin_message(MessageKind::Text).unwrap();
        message.write_chunk(b"first half, ").unwrap();
        // Hold the message open across three keepalive pings: the server drops a peer that
        // misses one, so each must be answered between the pieces.
        wait.recv_timeout(DEADLINE).unwrap();
        message.write_chunk(b"second half").unwrap();
        message.finish().unwrap();
    });
    for _ in 0..3 {
        assert_eq!(receiver.recv().unwrap(), ClientEvent::Ping(Vec::new()));
    }
    pinged.send(()).unwrap();
    loop {
        match receiver.recv().unwrap() {
            ClientEvent::Ping(_) => {}
            other => break assert_eq!(other, ClientEvent::Text("first half, second half".into())),
        }
    }
    writer.join().unwrap();
}

#[test]
fn urls_that_cannot_be_opened_are_typed_errors() {
    for (u, expected) in [
        ("ftp://127.0.0.1:1/", UrlError::Scheme),
        ("http://127.0.0.1:1/", UrlError::Scheme),
        ("ws:///echo", UrlError::MissingHost),
        ("ws://127.0.0.1:99999/", UrlError::InvalidPort),
        ("ws://127.0.0.1:1/#x", UrlError::Fragment),
    ] {
        match ws::connect(u) {
            Err(ClientError::Url(e)) => assert_eq!(e, expected, "{u}"),
            other => panic!("{u}: {other:?}"),
        }
    }
    assert!(matches!(
        ws::connect_with(
            "ws://127.0.0.1:1/",
            ConnectOptions::default().fragment_size(Some(0))
        ),
        Err(ClientError::Config(_))
    ));
    assert!(matches!(
        ws::connect_with(
            "ws://127.0.0.1:1/",
            ConnectOptions::default().header("Bad Name", "x")
        ),
        Err(ClientError::Config(_))
    ));
}

#[test]
fn a_closed_port_is_an_io_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    match ws::connect(&format!("ws://127.0.0.1:{port}/")) {
        Err(ClientError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("{other:?}"),
    }
}

#[test]
fn read_timeout_leaves_the_connection_usable() {
    let server = TestServer::echo(Settings::default());
    let options = options(Dialect::Rfc6455).read_timeout(Some(Duration::from_millis(50)));
    let mut client = ws::connect_with(&url(server.addr, "/echo"), options).unwrap();
    assert!(matches!(client.recv(), Err(ClientError::TimedOut)));
    client.send_text("after the timeout").unwrap();
    assert_eq!(
        client.recv().unwrap(),
        ClientEvent::Text("after the timeout".into())
    );
}

/// A scripted server: accepts one connection, answers its handshake (any dialect), then runs
/// `script` on the socket (with any bytes read past the handshake).
fn fake_server(
    script: impl FnOnce(TcpStream, Vec<u8>) + Send + 'static,
) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let accepted = loop {
            if let Status::Complete(done) =
                accept(&buf, &Limits::default(), |_| Accept::default()).unwrap()
            {
                break done;
            }
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "client closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        };
        stream.write_all(&accepted.response).unwrap();
        script(stream, buf[accepted.consumed..].to_vec())
    });
    (addr, thread)
}

/// Read frames from the client (masked, as a server expects) until its close frame or its
/// TCP close; then close TCP, as a server does first (RFC 6455 §7.1.1).
fn client_frames(mut stream: TcpStream, mut pending: Vec<u8>) -> Vec<String> {
    let mut decoder = Decoder::new(Dialect::Rfc6455, Role::Server, &Limits::default());
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let used = decoder
            .decode_each(&mut pending, |event| {
                seen.push(match event {
                    Event::Close(c) => format!("close {:?}", c.code),
                    Event::Ping(p) => format!("ping {p:?}"),
                    Event::Pong(p) => format!("pong {p:?}"),
                    other => format!("{other:?}"),
                })
            })
            .expect("the client's frames are valid and masked");
        pending.drain(..used);
        if decoder.is_closed() {
            return seen;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return seen,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn a_masked_frame_from_the_server_fails_the_connection_with_1002() {
    let (tx, rx) = mpsc::channel();
    let (addr, server) = fake_server(move |mut stream, pending| {
        // A masked text frame: servers must not mask (RFC 6455 §5.1).
        stream
            .write_all(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2])
            .unwrap();
        tx.send(client_frames(stream, pending)).unwrap();
    });
    let mut client = ws::connect_with(&url(addr, "/"), options(Dialect::Rfc6455)).unwrap();
    match client.recv() {
        Err(ClientError::Protocol(ProtocolError::MaskedFrame)) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(client.recv(), Err(ClientError::Closed)));
    assert!(matches!(client.send_text("x"), Err(ClientError::Closed)));
    assert_eq!(rx.recv_timeout(DEADLINE).unwrap(), ["close Some(1002)"]);
    server.join().unwrap();
}

#[test]
fn invalid_utf8_in_text_received_in_pieces_fails_before_the_bad_bytes_are_handed_out() {
    let (tx, rx) = mpsc::channel();
    let (addr, server) = fake_server(move |mut stream, pending| {
        // A text message in two fragments: "ok " then a byte that is never UTF-8.
        stream.write_all(&[0x01, 0x03, b'o', b'k', b' ']).unwrap();
        stream.write_all(&[0x80, 0x02, b'x', 0xff]).unwrap();
        tx.send(client_frames(stream, pending)).unwrap();
    });
    let mut client = ws::connect_with(&url(addr, "/"), options(Dialect::Rfc6455)).unwrap();
    let start = ClientPiece::Start {
        kind: MessageKind::Text,
        len: None,
    };
    assert_eq!(client.recv_piece().unwrap(), start);
    assert_eq!(
        client.recv_piece().unwrap(),
        ClientPiece::Data(b"ok ".to_vec())
    );
    match client.recv_piece() {
        Err(ClientError::Protocol(ProtocolError::InvalidUtf8)) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(client.recv_piece(), Err(ClientError::Closed)));
    assert_eq!(rx.recv_timeout(DEADLINE).unwrap(), ["close Some(1007)"]);
    server.join().unwrap();
}

#[test]
fn a_server_ping_is_answered_with_the_same_payload() {
    let (tx, rx) = mpsc::channel();
    let (addr, server) = fake_server(move |mut stream, pending| {
        stream.write_all(&[0x89, 0x03, b'a', b'b', b'c']).unwrap();
        stream.write_all(&[0x88, 0x02, 0x03, 0xe8]).unwrap();
        tx.send(client_frames(stream, pending)).unwrap();
    });
    let mut client = ws::connect_with(&url(addr, "/"), options(Dialect::Rfc6455)).unwrap();
    assert_eq!(client.recv().unwrap(), ClientEvent::Ping(b"abc".to_vec()));
    let ClientEvent::Close(info) = client.recv().unwrap() else {
        panic!("expected the close")
    };
    assert_eq!((info.code, info.clean), (1000, true));
    // The pong, then the close echoing the server's code, both masked.
    assert_eq!(
        rx.recv_timeout(DEADLINE).unwrap(),
        ["pong [97, 98, 99]", "close Some(1000)"]
    );
    server.join().unwrap();
}

#[test]
fn a_tcp_close_without_a_close_frame_is_an_unclean_1006() {
    let (addr, server) = fake_server(|mut stream, _| {
        stream.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    });
    let mut client = ws::connect_with(&url(addr, "/"), options(Dialect::Rfc6455)).unwrap();
    assert_eq!(client.recv().unwrap(), ClientEvent::Text("hi".into()));
    let ClientEvent::Close(info) = client.recv().unwrap() else {
        panic!("expected the end")
    };
    assert_eq!((info.code, info.clean), (1006, false));
    server.join().unwrap();
}

#[test]
fn a_server_that_never_answers_our_close_is_dropped_after_the_close_timeout() {
    let (done, finished) = mpsc::channel::<()>();
    let (addr, server) = fake_server(move |stream, _| {
        // Read nothing, answer nothing, keep the socket open until the test is over.
        let _ = finished.recv_timeout(DEADLINE);
        drop(stream);
    });
    let options = options(Dialect::Rfc6455).close_timeout(Duration::from_millis(200));
    let mut client = ws::connect_with(&url(addr, "/"), options).unwrap();
    client.close(1000, "").unwrap();
    let started = Instant::now();
    let ClientEvent::Close(info) = client.recv().unwrap() else {
        panic!("expected the end")
    };
    assert_eq!((info.code, info.clean), (1006, false));
    assert!(started.elapsed() < Duration::from_secs(5));
    done.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn a_receiver_blocked_on_another_thread_wakes_up_when_our_close_goes_unanswered() {
    let (done, finished) = mpsc::channel::<()>();
    let (addr, server) = fake_server(move |stream, _| {
        let _ = finished.recv_timeout(DEADLINE);
        drop(stream);
    });
    let options = options(Dialect::Rfc6455).close_timeout(Duration::from_millis(200));
    let (mut sender, mut receiver) = ws::connect_with(&url(addr, "/"), options).unwrap().split();
    let (started_tx, started_rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        started_tx.send(()).unwrap();
        // Blocks in a read whose only deadline is DEADLINE: the close watchdog must end it.
        receiver.recv()
    });
    started_rx.recv_timeout(DEADLINE).unwrap();
    let started = Instant::now();
    sender.close(1000, "").unwrap();
    let Ok(ClientEvent::Close(info)) = reader.join().unwrap() else {
        panic!("expected the end")
    };
    assert_eq!((info.code, info.clean), (1006, false));
    assert_eq!(info.reason, "no close from the server in time");
    assert!(started.elapsed() < Duration::from_secs(5));
    done.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn a_hixie75_close_is_clean_even_if_the_server_keeps_its_side_open() {
    // hixie-75 has no closing handshake; faye's websocket-driver under Node keeps its side
    // of a half-closed socket open, for instance.
    let (done, finished) = mpsc::channel::<()>();
    let (addr, server) = fake_server(move |stream, _| {
        let _ = finished.recv_timeout(DEADLINE);
        drop(stream);
    });
    let options = options(Dialect::Hixie75).close_timeout(Duration::from_millis(200));
    let mut client = ws::connect_with(&url(addr, "/"), options).unwrap();
    client.close(1000, "").unwrap();
    let ClientEvent::Close(info) = client.recv().unwrap() else {
        panic!("expected the end")
    };
    assert_eq!((info.code, info.clean), (1005, true));
    done.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn a_server_that_never_answers_the_handshake_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let options = options(Dialect::Hixie76).handshake_timeout(Duration::from_millis(200));
    let started = Instant::now();
    assert!(matches!(
        ws::connect_with(&url(addr, "/"), options),
        Err(ClientError::TimedOut)
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
}

// The command-line client, as a user runs it.

#[test]
fn cli_echoes_stdin_lines_in_every_dialect() {
    let server = TestServer::echo(Settings::default());
    let url = url(server.addr, "/echo");
    let long = "x".repeat(64 << 10);
    let lines = ["hello", "κόσμε 𝄞 €", "", long.as_str(), "last, with CRLF"];
    let input = format!(
        "{}\n{}\n\n{}\n{}\r\n",
        lines[0], lines[1], lines[3], lines[4]
    );
    let expected: String = lines.iter().map(|l| format!("{l}\n")).collect();
    for dialect in Dialect::ALL {
        let name = dialect.name();
        let (code, out, err) = run_cli(
            &["connect", &url, "--dialect", name, "-v"],
            input.as_bytes(),
        );
        assert_eq!(code, Some(0), "{name}: {err}");
        assert!(
            out == expected,
            "{name}: stdout differs ({} bytes)",
            out.len()
        );
        assert!(
            err.contains(&format!("({name}, subprotocol none, extensions none)")),
            "{err}"
        );
        assert!(err.contains("(clean)"), "{err}");
    }
}

#[test]
fn cli_sends_binary_lines_and_prints_them_as_hex_or_base64() {
    let server = TestServer::echo(Settings::default());
    let url = url(server.addr, "/echo");
    let (code, out, err) = run_cli(&["connect", &url, "--binary"], b"\x00\xff\n\n");
    assert_eq!((code, out.as_str()), (Some(0), "00ff\n\n"), "{err}");
    let args = ["connect", &url, "--binary", "--binary-output", "base64"];
    let (code, out, err) = run_cli(&args, b"hi!\n");
    assert_eq!((code, out.as_str()), (Some(0), "aGkh\n"), "{err}");
}

#[test]
fn cli_offers_subprotocols_and_sends_origin_and_headers() {
    let server = TestServer::echo(
        Settings::default()
            .subprotocols(vec!["chat".into()])
            .origins(OriginPolicy::AllowList(vec!["http://good.example".into()])),
    );
    let url = url(server.addr, "/echo");
    let args = [
        "connect",
        &url,
        "--dialect",
        "hybi-08",
        "--protocol",
        "superchat",
        "--protocol",
        "chat",
        "--origin",
        "http://good.example",
        "--header",
        "Cookie: a=b",
        "--await-echo",
        "-v",
    ];
    let (code, out, err) = run_cli(&args, b"one\n");
    assert_eq!((code, out.as_str()), (Some(0), "one\n"), "{err}");
    assert!(
        err.contains("(hybi-08, subprotocol chat, extensions none)"),
        "{err}"
    );
}

#[test]
fn cli_failures_exit_non_zero_with_the_reason_on_stderr() {
    let server = TestServer::start(Server::builder().route("/echo", ws::Echo));
    let base = format!("ws://{}", server.addr);
    for (args, input, reason) in [
        (vec!["connect", "/missing"], "x\n", "404"),
        (
            vec!["connect", "/echo", "--dialect", "hixie-76", "--binary"],
            "x\n",
            "cannot carry binary",
        ),
        (vec!["connect", "/echo"], "ok\n\u{fffd}\n", ""),
    ] {
        let url = format!("{base}{}", args[1]);
        let mut args = args.clone();
        args[1] = &url;
        let (code, _, err) = run_cli(&args, input.as_bytes());
        if reason.is_empty() {
            assert_eq!(code, Some(0), "{err}");
            continue;
        }
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains(reason), "{args:?}: {err}");
    }
    let (code, _, err) = run_cli(
        &["connect", "ws://127.0.0.1:1/", "--dialect", "hybi-09"],
        b"",
    );
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run_cli(&["connect", &format!("{base}/echo")], b"\xff\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("line 1 is not UTF-8"), "{err}");
    // wss:// to a server that speaks no TLS: the TLS handshake fails, and says so.
    let secure = format!("{}/echo", base.replacen("ws://", "wss://", 1));
    let (code, _, err) = run_cli(&["connect", &secure, "--insecure"], b"");
    assert_eq!(code, Some(1));
    assert!(err.contains("TLS"), "{err}");
}

/// Byte `i` of the piped payload.
fn piped_byte(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

#[test]
fn two_clients_pipe_a_big_payload_through_a_session_without_holding_it_whole() {
    // What the pipe's users do: one client streams a message it never holds whole, the
    // other takes it in pieces; the server forwards it cut-through, in another dialect.
    let server = TestServer::start(Server::builder().mount(ws::Sessions::mount(
        "/sessions/*",
        ws::SessionOptions::default(),
    )));
    let url = url(server.addr, "/sessions/big");
    let mut receiver = ws::connect_with(&url, options(Dialect::Rfc6455)).unwrap();
    let mut sender = ws::connect_with(&url, options(Dialect::Hybi07)).unwrap();
    assert_eq!(
        next(&mut receiver),
        ClientEvent::Text("session ready".into())
    );
    assert_eq!(next(&mut sender), ClientEvent::Text("session ready".into()));
    const TOTAL: usize = 32 << 20;
    let writer = thread::spawn(move || {
        let mut message = sender.begin_message(MessageKind::Binary).unwrap();
        let mut piece = vec![0u8; 100_000];
        let mut sent = 0;
        while sent < TOTAL {
            let n = piece.len().min(TOTAL - sent);
            for (k, b) in piece[..n].iter_mut().enumerate() {
                *b = piped_byte(sent + k);
            }
            message.write_chunk(&piece[..n]).unwrap();
            sent += n;
        }
        message.finish().unwrap();
        sender
    });
    let mut got = 0;
    let mut pieces = 0;
    let mut largest = 0;
    match receiver.recv_piece().unwrap() {
        // hybi-07 streams a message of unknown length as fragments.
        ClientPiece::Start { kind, len } => assert_eq!((kind, len), (MessageKind::Binary, None)),
        other => panic!("expected the message to start, got {other:?}"),
    }
    loop {
        match receiver.recv_piece().unwrap() {
            ClientPiece::Data(bytes) => {
                let wrong = bytes
                    .iter()
                    .enumerate()
                    .find(|&(k, &b)| b != piped_byte(got + k));
                assert!(wrong.is_none(), "byte {} differs", got + wrong.unwrap().0);
                got += bytes.len();
                pieces += 1;
                largest = largest.max(bytes.len());
            }
            ClientPiece::End => break,
            ClientPiece::Other(ClientEvent::Ping(_) | ClientEvent::Pong(_)) => {}
            other => panic!("expected data or the end, got {other:?}"),
        }
    }
    assert_eq!(got, TOTAL);
    assert!(pieces > 100, "{pieces} pieces");
    assert!(
        largest <= 64 << 10,
        "pieces no bigger than a read: {largest}"
    );
    let mut sender = writer.join().unwrap();
    sender.send_text("done").unwrap();
    assert_eq!(next(&mut receiver), ClientEvent::Text("done".into()));
}
