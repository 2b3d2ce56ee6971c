//! Compression through the server and our client: permessage-deflate and deflate-frame
//! under each policy, on every dialect that has RSV1; the bomb, a corrupt stream and a
//! misplaced RSV1 answered with their close codes; pipe sessions between members with and
//! without compression, SHA-256 checked.

mod support;

use sha2::{Digest, Sha256};
use std::io::Write;
use std::net::SocketAddr;
use support::{Client, Received, TestServer};
use ws::protocols::compression::{Compression, DeflatePolicy, Deflater, Scope, StreamParams};
use ws::protocols::Dialect;
use ws::{ClientEvent, ConnectOptions, Settings};

/// JSON-like text: what compression is for.
fn json(records: usize) -> String {
    (0..records)
        .map(|i| {
            format!("{{\"id\":{i},\"name\":\"item {i}\",\"tags\":[\"a\",\"b\"],\"ok\":true}}\n")
        })
        .collect()
}

fn connect(addr: SocketAddr, dialect: Dialect, policy: DeflatePolicy) -> ws::Client {
    let options = ConnectOptions::default()
        .dialect(dialect)
        .compression(policy);
    ws::connect_with(&format!("ws://{addr}/echo"), options).expect("connect")
}

fn echo_round(client: &mut ws::Client) {
    let text = json(2000);
    for message in ["", "short", text.as_str(), &text[..1000]] {
        client.send_text(message).unwrap();
        assert_eq!(
            client.recv().unwrap(),
            ClientEvent::Text(message.to_owned())
        );
    }
    // A short period, within reach of a 9-bit window (zlib looks back 2^bits - 262 bytes).
    let binary: Vec<u8> = (0..300_000u32).map(|i| (i % 97) as u8).collect();
    client.send_binary(&binary).unwrap();
    assert_eq!(client.recv().unwrap(), ClientEvent::Binary(binary));
}

#[test]
fn every_policy_and_extension_echoes_on_every_dialect_with_rsv1() {
    let server_policies = [DeflatePolicy::default(), DeflatePolicy::keep_context()];
    let frame_only = DeflatePolicy {
        permessage_deflate: false,
        ..DeflatePolicy::default()
    };
    let small_windows = DeflatePolicy {
        our_max_window_bits: 9,
        peer_max_window_bits: 10,
        ..DeflatePolicy::keep_context()
    };
    for server_policy in server_policies {
        let server = TestServer::echo(Settings::default().compression(server_policy));
        for dialect in [Dialect::Hybi07, Dialect::Hybi08, Dialect::Rfc6455] {
            for client_policy in [
                DeflatePolicy::default(),
                DeflatePolicy::keep_context(),
                frame_only,
                small_windows,
            ] {
                let mut client = connect(server.addr, dialect, client_policy);
                let before = server.handle.stats().bytes_read;
                echo_round(&mut client);
                // 600 KB of payload went in; compressed, far less crossed the wire.
                let read = server.handle.stats().bytes_read - before;
                assert!(
                    read < 100_000,
                    "{dialect} {client_policy:?}: {read} bytes read"
                );
                client.close(1000, "").unwrap();
            }
        }
    }
}

#[test]
fn a_server_with_compression_off_declines_and_plain_messages_still_flow() {
    let server = TestServer::echo(Settings::default().compression(DeflatePolicy::OFF));
    let mut client = connect(server.addr, Dialect::Rfc6455, DeflatePolicy::default());
    let before = server.handle.stats().bytes_read;
    echo_round(&mut client);
    assert!(server.handle.stats().bytes_read - before > 400_000);
}

/// A raw client that offered permessage-deflate and got it (no context kept either way).
fn offered(addr: SocketAddr) -> Client {
    let offer = [("Sec-WebSocket-Extensions", "permessage-deflate")];
    Client::connect_full(addr, "/echo", Dialect::Rfc6455, &[], &offer).expect("handshake")
}

/// A masked binary frame with the zero key, RSV1 as given.
fn frame(rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x82 | if rsv1 { 0x40 } else { 0 }];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(payload);
    frame
}

fn deflated(data: &[u8]) -> Vec<u8> {
    let stream = StreamParams {
        window_bits: 15,
        keep_context: false,
    };
    let agreed = Compression {
        scope: Scope::Message,
        ours: stream,
        theirs: stream,
    };
    let mut out = Vec::new();
    Deflater::new(&agreed, 0).compress(data, &mut out, true);
    out
}

#[test]
fn a_bomb_a_corrupt_stream_and_a_misplaced_rsv1_get_their_close_codes() {
    let limit = 1 << 20;
    let server = TestServer::echo(Settings::default().max_message(limit));
    // 256 MiB of zeros in about 256 KB: closed with 1009 once a MiB is inflated, having
    // held nothing like it.
    let bomb = deflated(&vec![0u8; 256 << 20]);
    assert!(bomb.len() < 300 << 10);
    let mut client = offered(server.addr);
    let _ = client.stream.write_all(&frame(true, &bomb));
    assert!(matches!(client.recv(), Received::Close(Some(1009), _)));
    let stats = server.handle.stats();
    assert!(
        stats.message_peak <= limit as usize + (64 << 10),
        "{stats:?}"
    );
    // A reserved block type: 1007.
    let mut client = offered(server.addr);
    client
        .stream
        .write_all(&frame(true, &[0xff, 0xff, 0xff]))
        .unwrap();
    assert!(matches!(client.recv(), Received::Close(Some(1007), _)));
    // RSV1 on a continuation: 1002.
    let mut client = offered(server.addr);
    let mut bytes = vec![0x02, 0x81, 0, 0, 0, 0, b'a'];
    bytes.extend_from_slice(&[0xc0, 0x80, 0, 0, 0, 0]);
    client.stream.write_all(&bytes).unwrap();
    assert!(matches!(client.recv(), Received::Close(Some(1002), _)));
    // RSV1 without an offer: 1002.
    let mut client = Client::connect(server.addr, "/echo", Dialect::Rfc6455);
    client
        .stream
        .write_all(&frame(true, &deflated(b"hi")))
        .unwrap();
    assert!(matches!(client.recv(), Received::Close(Some(1002), _)));
    // The server serves on: a good compressed message, and an uncompressed one.
    let mut client = offered(server.addr);
    client
        .stream
        .write_all(&frame(true, &deflated(b"fine")))
        .unwrap();
    client.stream.write_all(&frame(false, b"plain")).unwrap();
    assert_eq!(client.recv_message(), Received::Binary(b"fine".to_vec()));
    assert_eq!(client.recv_message(), Received::Binary(b"plain".to_vec()));
}

#[test]
fn pipe_sessions_translate_between_compressed_and_plain_members() {
    let server = TestServer::start(
        ws::Server::builder()
            .settings(Settings::default().keepalive(None))
            .mount(ws::Sessions::mount("/sessions/*", Default::default())),
    );
    let text = json(200_000); // about 13 MB
    let digest = Sha256::digest(text.as_bytes());
    for (i, (from, to)) in [
        (DeflatePolicy::default(), DeflatePolicy::OFF),
        (DeflatePolicy::OFF, DeflatePolicy::keep_context()),
        (DeflatePolicy::keep_context(), DeflatePolicy::default()),
    ]
    .into_iter()
    .enumerate()
    {
        let url = format!("ws://{}/sessions/s{i}", server.addr);
        let join =
            |policy| ws::connect_with(&url, ConnectOptions::default().compression(policy)).unwrap();
        let mut receiver = join(to);
        let mut hixie =
            ws::connect_with(&url, ConnectOptions::default().dialect(Dialect::Hixie76)).unwrap();
        let mut sender = join(from);
        // The session says when everyone is in (see tests/pipe.rs); members then send.
        for member in [&mut receiver, &mut hixie, &mut sender] {
            while !matches!(member.recv().unwrap(), ClientEvent::Text(t) if t.contains("ready")) {}
        }
        // Cut-through: receivers move at the pace of the slowest, so read both at once.
        let readers: Vec<_> = [receiver, hixie]
            .into_iter()
            .map(|mut member| {
                std::thread::spawn(move || match member.recv().unwrap() {
                    ClientEvent::Text(got) => Sha256::digest(got.as_bytes()),
                    other => panic!("{other:?}"),
                })
            })
            .collect();
        sender.send_text(&text).unwrap();
        for reader in readers {
            assert_eq!(reader.join().unwrap(), digest, "pair {i}");
        }
    }
}

/// The 101 the command-line server at `addr` answers to a permessage-deflate offer.
fn answer_to_offer(addr: SocketAddr) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(support::DEADLINE)).unwrap();
    let request = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(std::io::Read::read(&mut stream, &mut byte).unwrap(), 1);
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[test]
fn the_command_line_server_compresses_by_default_and_the_client_offers_with_deflate() {
    let (_server, addr) = support::cli::start_cli(&[], |_| {});
    let head = answer_to_offer(addr);
    assert!(
        head.contains(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             client_no_context_takeover\r\n"
        ),
        "{head}"
    );
    let lines = json(300);
    let url = format!("ws://{addr}/echo");
    for dialect in ["rfc6455", "hybi-08", "hybi-07"] {
        let (code, out, err) = support::cli::run_client(
            &[
                "connect",
                &url,
                "--deflate",
                "--dialect",
                dialect,
                "--await-echo",
            ],
            lines.as_bytes(),
        );
        assert_eq!(code, Some(0), "{dialect}: {err}");
        assert!(out == lines, "{dialect}: the echo differs");
    }
    let (_off, addr) = support::cli::start_cli(&["--compression", "off"], |_| {});
    assert!(!answer_to_offer(addr).contains("Sec-WebSocket-Extensions"));
}

/// Streams each message back as a digest, pausing its sender after every piece and resuming
/// it a millisecond later: inflation must stop and resume inside compressed payload.
struct PausingDigest {
    hasher: Sha256,
    pieces: usize,
}

impl ws::Handler for PausingDigest {
    fn on_message_start(
        &mut self,
        _cx: &mut ws::Cx<'_>,
        _id: ws::SocketId,
        _kind: ws::protocols::MessageKind,
        _len: Option<u64>,
    ) {
        self.hasher = Sha256::new();
        self.pieces = 0;
    }

    fn on_message_data(&mut self, cx: &mut ws::Cx<'_>, id: ws::SocketId, data: &[u8]) {
        assert!(data.len() <= 32 << 10, "inflated pieces are bounded");
        self.hasher.update(data);
        self.pieces += 1;
        cx.pause(id);
        cx.set_timer(id, std::time::Duration::from_millis(1));
    }

    fn on_timer(&mut self, cx: &mut ws::Cx<'_>, id: ws::SocketId) {
        cx.resume(id);
    }

    fn on_message_end(&mut self, cx: &mut ws::Cx<'_>, id: ws::SocketId) {
        let digest = std::mem::replace(&mut self.hasher, Sha256::new()).finalize();
        let answer = format!("{} {:x}", self.pieces, digest);
        if let Some(socket) = cx.socket(id) {
            let _ = socket.send_text(&answer);
        }
    }
}

#[test]
fn a_handler_that_pauses_inside_a_compressed_message_gets_all_of_it_in_order() {
    let server = TestServer::start(
        ws::Server::builder()
            .settings(Settings::default().delivery(ws::Delivery::Stream))
            .route(
                "/echo",
                PausingDigest {
                    hasher: Sha256::new(),
                    pieces: 0,
                },
            ),
    );
    let mut client = connect(server.addr, Dialect::Rfc6455, DeflatePolicy::default());
    // 4 MB of text that compresses about 15:1: one read holds many inflated pieces.
    let text = json(60_000);
    for _ in 0..2 {
        client.send_text(&text).unwrap();
        let answer = match client.recv().unwrap() {
            ClientEvent::Text(answer) => answer,
            other => panic!("a digest, not {other:?}"),
        };
        let (pieces, digest) = answer.split_once(' ').unwrap();
        assert_eq!(digest, format!("{:x}", Sha256::digest(text.as_bytes())));
        assert!(pieces.parse::<usize>().unwrap() >= text.len() / (32 << 10));
    }
}

#[test]
fn sixty_four_mib_through_a_session_between_both_extensions_plain_and_hixie_76() {
    // One 64 MiB text message from an RFC 6455 member with permessage-deflate (context kept)
    // to a hybi-07 member that agreed deflate-frame only, an RFC 6455 member without
    // compression and a hixie-76 member: inflated as it arrives, compressed anew per frame
    // for the deflate-frame member, SHA-256 checked at every receiver.
    let server = TestServer::start(
        ws::Server::builder()
            .settings(Settings::default().keepalive(None))
            .mount(ws::Sessions::mount("/sessions/*", Default::default())),
    );
    let mut text = json(1_200_000);
    text.truncate(64 << 20);
    assert_eq!(text.len(), 64 << 20);
    let digest = Sha256::digest(text.as_bytes());
    let url = format!("ws://{}/sessions/big", server.addr);
    let frame_only = DeflatePolicy {
        permessage_deflate: false,
        ..DeflatePolicy::default()
    };
    let receivers = [
        (Dialect::Hybi07, frame_only),
        (Dialect::Rfc6455, DeflatePolicy::OFF),
        (Dialect::Hixie76, DeflatePolicy::OFF),
    ];
    let mut members: Vec<ws::Client> = receivers
        .iter()
        .map(|&(dialect, policy)| {
            let options = ConnectOptions::default()
                .dialect(dialect)
                .compression(policy);
            ws::connect_with(&url, options).unwrap()
        })
        .collect();
    let agreed = |client: &ws::Client| {
        client
            .response_header("Sec-WebSocket-Extensions")
            .map(str::to_owned)
    };
    assert_eq!(
        agreed(&members[0]).as_deref(),
        Some("x-webkit-deflate-frame")
    );
    assert_eq!(agreed(&members[1]), None);
    let options = ConnectOptions::default().compression(DeflatePolicy::keep_context());
    let mut sender = ws::connect_with(&url, options).unwrap();
    assert!(agreed(&sender).is_some_and(|e| e.starts_with("permessage-deflate")));
    for member in members.iter_mut().chain([&mut sender]) {
        while !matches!(member.recv().unwrap(), ClientEvent::Text(t) if t.contains("ready")) {}
    }
    let before = server.handle.stats().bytes_read;
    let readers: Vec<_> = members
        .into_iter()
        .zip(receivers)
        .map(|(mut member, (dialect, _))| {
            std::thread::spawn(move || match member.recv().unwrap() {
                ClientEvent::Text(got) => (dialect, Sha256::digest(got.as_bytes())),
                other => panic!("{dialect}: {other:?}"),
            })
        })
        .collect();
    sender.send_text(&text).unwrap();
    for reader in readers {
        let (dialect, got) = reader.join().unwrap();
        assert_eq!(got, digest, "{dialect}");
    }
    // It crossed the sender's link compressed.
    let read = server.handle.stats().bytes_read - before;
    assert!(read < (16 << 20), "{read} bytes read for 64 MiB");
}

/// The payload length of the next data frame from the server (pings skipped; the kernel's
/// ACKs keep the keepalive content meanwhile), read off the wire: compressed, as sent.
fn next_data_frame_len(stream: &mut std::net::TcpStream) -> usize {
    use std::io::Read;
    loop {
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).unwrap();
        let len = match head[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                stream.read_exact(&mut ext).unwrap();
                u16::from_be_bytes(ext) as usize
            }
            127 => {
                let mut ext = [0u8; 8];
                stream.read_exact(&mut ext).unwrap();
                u64::from_be_bytes(ext) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).unwrap();
        if head[0] & 0x0f != 0x9 {
            assert_eq!(head[0], 0xc2, "FIN, RSV1, binary");
            return len;
        }
    }
}

#[test]
fn a_kept_context_is_given_back_on_a_quiet_connections_timer_tick() {
    // Under `keep` our deflater's history makes a repeated message cost a few bytes; on the
    // keepalive tick a quiet connection lets that history go (about 300 KiB of zlib state),
    // so the next repeat costs its full size once. Measured on the wire: the echo frames'
    // compressed lengths.
    use std::time::Duration;
    let tick = Duration::from_secs(1);
    let settings = Settings::default()
        .compression(DeflatePolicy::keep_context())
        .keepalive(Some(tick));
    let server = TestServer::echo(settings);
    let offer = [("Sec-WebSocket-Extensions", "permessage-deflate")];
    let mut client =
        Client::connect_full(server.addr, "/echo", Dialect::Rfc6455, &[], &offer).unwrap();
    let text = json(40);
    let mut echo_len = || {
        client
            .stream
            .write_all(&frame(false, text.as_bytes()))
            .unwrap();
        next_data_frame_len(&mut client.stream)
    };
    // A first message and its repeat, right after the handshake: well before the first tick.
    let first = echo_len();
    let repeat = echo_len();
    assert!(repeat * 4 < first, "first {first} B, repeat {repeat} B");
    // Quiet past two ticks: the history is gone, and the next message costs its full size.
    std::thread::sleep(tick * 2 + Duration::from_millis(300));
    let after_tick = echo_len();
    assert!(
        after_tick * 4 > first * 3,
        "first {first} B, after the tick {after_tick} B"
    );
    // And history builds up again from there (the message after it is small, unless a tick
    // fell just between them: then the one after that).
    assert!((0..5).any(|_| echo_len() * 4 < first));
}
