//! One behavioural suite, instantiated for every dialect: echo of text and binary at the
//! boundary sizes, streamed (fragmented) input, ping/pong, clean close from either side.

mod support;

use support::{Client, Received, TestServer};
use ws::protocols::frame::Control;
use ws::protocols::{Dialect, MessageKind};
use ws::Settings;

const SIZES: &[usize] = &[0, 1, 125, 126, 65535, 65536];

fn text_of(len: usize) -> String {
    // Multi-byte characters included, cut to a char boundary at or below `len`.
    let pattern = "ascii κόσμε €𝄞 ";
    let mut s: String = pattern.chars().cycle().take(len).collect();
    while s.len() > len {
        s.pop();
    }
    s
}

fn binary_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

fn echo_sizes(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = Client::connect(server.addr, "/echo", dialect);
    for &len in SIZES {
        let text = text_of(len);
        client.send_text(&text);
        assert_eq!(
            client.recv_message(),
            Received::Text(text),
            "{dialect} text {len}"
        );
        if dialect.caps().binary {
            let data = binary_of(len);
            client.send(MessageKind::Binary, &data);
            assert_eq!(
                client.recv_message(),
                Received::Binary(data),
                "{dialect} binary {len}"
            );
        }
    }
}

fn echo_16_mib(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = Client::connect(server.addr, "/echo", dialect);
    let text = text_of(16 << 20);
    let writer_text = text.clone();
    // Write from another thread: the echo comes back while we are still sending.
    let mut writer = client.stream.try_clone().unwrap();
    let mut encoder = ws::protocols::Encoder::client(dialect, [3; 16]);
    let sender = std::thread::spawn(move || {
        let mut out = Vec::new();
        encoder
            .message(MessageKind::Text, writer_text.as_bytes(), &mut out)
            .unwrap();
        std::io::Write::write_all(&mut writer, &out).unwrap();
        encoder
    });
    assert!(
        client.recv_message() == Received::Text(text),
        "{dialect} 16 MiB text"
    );
    let mut encoder = sender.join().unwrap();
    if dialect.caps().binary {
        let data = binary_of(16 << 20);
        let mut out = Vec::new();
        encoder
            .message(MessageKind::Binary, &data, &mut out)
            .unwrap();
        let mut writer = client.stream.try_clone().unwrap();
        let sender =
            std::thread::spawn(move || std::io::Write::write_all(&mut writer, &out).unwrap());
        assert!(
            client.recv_message() == Received::Binary(data),
            "{dialect} 16 MiB binary"
        );
        sender.join().unwrap();
    }
}

fn streamed_input(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = Client::connect(server.addr, "/echo", dialect);
    let text = text_of(10_000);
    client.send_streamed(MessageKind::Text, text.as_bytes(), 777);
    assert_eq!(client.recv_message(), Received::Text(text));
    if dialect.caps().fragments {
        let data = binary_of(10_000);
        client.send_streamed(MessageKind::Binary, &data, 1000);
        assert_eq!(client.recv_message(), Received::Binary(data));
    }
}

fn ping_pong(dialect: Dialect) {
    assert!(dialect.caps().ping);
    let server = TestServer::echo(Settings::default());
    let mut client = Client::connect(server.addr, "/echo", dialect);
    client.send_control(Control::Ping, b"are you there");
    assert_eq!(client.recv(), Received::Pong(b"are you there".to_vec()));
}

fn client_closes(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = Client::connect(server.addr, "/echo", dialect);
    client.send_text("before close");
    assert_eq!(client.recv_message(), Received::Text("before close".into()));
    let caps = dialect.caps();
    if !caps.close_frame {
        // hixie-75: a TCP close is the close.
        client.stream.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(client.recv(), Received::Eof);
        return;
    }
    client.send_close(1000, "done");
    let expected = if caps.close_codes {
        Received::Close(Some(1000), String::new())
    } else {
        Received::Close(None, String::new())
    };
    assert_eq!(client.recv_message(), expected);
    // The server closes TCP first.
    assert_eq!(client.recv(), Received::Eof);
}

fn server_closes_on_shutdown(dialect: Dialect) {
    let server = TestServer::echo(Settings::default());
    let mut client = Client::connect(server.addr, "/echo", dialect);
    client.send_text("hi");
    assert_eq!(client.recv_message(), Received::Text("hi".into()));
    server.handle.shutdown().unwrap();
    let caps = dialect.caps();
    if caps.close_frame {
        let expected = if caps.close_codes {
            Received::Close(Some(1001), "server shutting down".into())
        } else {
            Received::Close(None, String::new())
        };
        assert_eq!(client.recv_message(), expected);
        client.send_close(1001, "");
    }
    assert_eq!(client.recv(), Received::Eof);
    server.stop().unwrap();
}

macro_rules! suite {
    ($($module:ident => $dialect:expr),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[test] fn echo_boundary_sizes() { echo_sizes($dialect) }
            #[test] fn echo_16_mib_messages() { echo_16_mib($dialect) }
            #[test] fn echo_streamed_input() { streamed_input($dialect) }
            #[test] fn clean_close_from_the_client() { client_closes($dialect) }
            #[test] fn clean_close_from_the_server() { server_closes_on_shutdown($dialect) }
        }
    )*};
}

macro_rules! ping_suite {
    ($($module:ident => $dialect:expr),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[test] fn answers_ping_with_pong() { ping_pong($dialect) }
        }
    )*};
}

// hixie-75/76 have no ping.
ping_suite! {
    hybi03_ping => Dialect::Hybi03,
    hybi07_ping => Dialect::Hybi07,
    hybi08_ping => Dialect::Hybi08,
    rfc6455_ping => Dialect::Rfc6455,
}

suite! {
    hixie75 => Dialect::Hixie75,
    hixie76 => Dialect::Hixie76,
    hybi03 => Dialect::Hybi03,
    hybi07 => Dialect::Hybi07,
    hybi08 => Dialect::Hybi08,
    rfc6455 => Dialect::Rfc6455,
}

#[test]
fn binary_to_a_hixie_peer_is_refused_with_a_close_not_dropped() {
    let server = TestServer::echo(Settings::default());
    // A hixie-76 client (ours decodes length-prefixed frames) sends binary: the echo cannot
    // go back under HixieBinary::Refuse, so the server closes (FF 00) instead of dropping it.
    let mut client = Client::connect(server.addr, "/echo", Dialect::Hixie76);
    client.send(MessageKind::Binary, &[1, 2, 3]);
    assert_eq!(client.recv(), Received::Close(None, String::new()));
}

#[test]
fn binary_to_a_hixie_peer_as_length_prefixed_frames_when_configured() {
    let server =
        TestServer::echo(Settings::default().hixie_binary(ws::HixieBinary::LengthPrefixed));
    let mut client = Client::connect(server.addr, "/echo", Dialect::Hixie76);
    client.send(MessageKind::Binary, &[1, 2, 3]);
    assert_eq!(client.recv(), Received::Binary(vec![1, 2, 3]));
}

#[test]
fn streaming_delivery_echoes_cut_through() {
    let server = TestServer::echo(Settings::default().delivery(ws::Delivery::Stream));
    let mut client = Client::connect(server.addr, "/echo", Dialect::Rfc6455);
    let data = binary_of(300_000);
    client.send_streamed(MessageKind::Binary, &data, 50_000);
    assert_eq!(client.recv_message(), Received::Binary(data));
    let mut hixie = Client::connect(server.addr, "/echo", Dialect::Hixie75);
    let text = text_of(100_000);
    hixie.send_text(&text);
    assert_eq!(hixie.recv_message(), Received::Text(text));
}

#[test]
fn every_dialect_at_once_on_one_port() {
    let server = TestServer::echo(Settings::default());
    let mut clients: Vec<Client> = Dialect::ALL
        .iter()
        .map(|&d| Client::connect(server.addr, "/echo", d))
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.send_text(&format!("hello from {}", i));
    }
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(
            client.recv_message(),
            Received::Text(format!("hello from {}", i))
        );
    }
    assert_eq!(server.handle.stats().connections_open, Dialect::ALL.len());
}

#[test]
fn fragment_size_splits_outgoing_messages_on_the_wire() {
    use std::io::Read;
    let server = TestServer::echo(Settings::default().fragment_size(Some(1000)));
    let mut client = Client::connect(server.addr, "/echo", Dialect::Rfc6455);
    client.send(MessageKind::Binary, &binary_of(2500));
    // Read the raw echo: 1000 + 1000 + 500 bytes, then an empty final frame.
    let mut wire = vec![0u8; 3 * 4 + 2500 + 2];
    client.stream.read_exact(&mut wire).unwrap();
    assert_eq!(
        &wire[..4],
        &[0x02, 126, 0x03, 0xe8],
        "first fragment: binary, not final, 1000"
    );
    assert_eq!(
        &wire[1004..1008],
        &[0x00, 126, 0x03, 0xe8],
        "continuation, 1000"
    );
    assert_eq!(
        &wire[2008..2012],
        &[0x00, 126, 0x01, 0xf4],
        "continuation, 500"
    );
    assert_eq!(&wire[2512..], &[0x80, 0x00], "empty final continuation");
}

#[test]
fn a_streamed_text_chunk_holding_0xff_is_refused_on_hixie_and_the_message_goes_on() {
    // 0xFF would end the hixie text frame early; the chunk is refused, not sent.
    struct Streamer(std::sync::Arc<std::sync::Mutex<Vec<String>>>);
    impl ws::Handler for Streamer {
        fn on_open(&mut self, cx: &mut ws::Cx<'_>, id: ws::SocketId) {
            let Some(socket) = cx.socket(id) else { return };
            let mut results = Vec::new();
            results.push(format!(
                "{:?}",
                socket.begin_message(MessageKind::Text, None)
            ));
            let long_and_clean = "a".repeat(70_000);
            results.push(format!(
                "{:?}",
                socket.send_chunk(long_and_clean.as_bytes())
            ));
            let mut bad = vec![b'b'; 70_000];
            bad[69_999] = 0xff;
            results.push(format!("{:?}", socket.send_chunk(&bad)));
            results.push(format!("{:?}", socket.send_chunk(b"end")));
            results.push(format!("{:?}", socket.end_message()));
            *self.0.lock().unwrap() = results;
        }
    }
    let results = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = TestServer::start(
        ws::Server::builder().route("/stream", Streamer(std::sync::Arc::clone(&results))),
    );
    let mut client = Client::connect(server.addr, "/stream", Dialect::Hixie76);
    let expected = format!("{}end", "a".repeat(70_000));
    assert_eq!(client.recv_message(), Received::Text(expected));
    let results = results.lock().unwrap().clone();
    assert_eq!(results[..2], ["Ok(())", "Ok(())"]);
    assert!(results[2].starts_with("Err("), "{results:?}");
    assert!(results[2].contains("0xFF"), "{results:?}");
    assert_eq!(results[3..], ["Ok(())", "Ok(())"]);
}

#[test]
fn echo_accepts_the_first_offered_subprotocol_in_every_dialect() {
    let server = TestServer::echo(Settings::default());
    for dialect in Dialect::ALL {
        let mut client = Client::connect_with(server.addr, "/echo", dialect, &["sample"])
            .unwrap_or_else(|e| panic!("{dialect}: {e}"));
        assert_eq!(client.subprotocol.as_deref(), Some("sample"), "{dialect}");
        client.send_text("with a subprotocol");
        assert_eq!(
            client.recv_message(),
            Received::Text("with a subprotocol".into()),
            "{dialect}"
        );
    }
}
