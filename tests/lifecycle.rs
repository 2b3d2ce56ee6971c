//! Timers and routing over real sockets: keepalive and dead peers, idle and close timeouts,
//! mounts by path and subprotocol.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};
use support::{Client, Received, TestServer};
use ws::protocols::frame::Control;
use ws::protocols::{Dialect, MessageKind};
use ws::{Mount, Server, Settings};

#[test]
fn keepalive_pings_and_drops_a_peer_that_never_answers() {
    let interval = Duration::from_millis(200);
    let server = TestServer::echo(Settings::default().keepalive(Some(interval)));
    let mut silent = Client::connect(server.addr, "/echo", Dialect::Rfc6455);
    let mut alive = Client::connect(server.addr, "/echo", Dialect::Rfc6455);
    // A peer that answers every ping at once stays open across several intervals.
    let answering = std::thread::spawn(move || {
        for _ in 0..3 {
            assert_eq!(alive.recv(), Received::Ping(vec![]));
            alive.send_control(Control::Pong, b"");
        }
        alive.send_text("still open");
        assert_eq!(alive.recv_message(), Received::Text("still open".into()));
    });
    let started = Instant::now();
    assert_eq!(silent.recv(), Received::Ping(vec![]));
    // The silent peer never answers: dropped at the next interval.
    assert_eq!(silent.recv(), Received::Eof);
    assert!(started.elapsed() < Duration::from_secs(5));
    answering.join().unwrap();
}

#[test]
fn a_peer_still_reading_a_backlog_from_kernel_buffers_is_not_taken_for_dead() {
    // The echo of 8 MiB leaves our queue for the kernel's socket buffers long before this
    // slow reader gets through it, and the keepalive ping goes out right behind it. A peer
    // cannot answer a ping it has not read yet; it is alive as long as its side keeps
    // taking our bytes.
    let interval = Duration::from_millis(300);
    let server = TestServer::echo(Settings::default().keepalive(Some(interval)));
    let mut client = Client::connect(server.addr, "/echo", Dialect::Rfc6455);
    let payload: Vec<u8> = (0..8u32 << 20).map(|i| (i * 7 + i / 4096) as u8).collect();
    client.send(MessageKind::Binary, &payload);
    // 64 KiB every 15 ms, about 4 MB/s: 2 s for the echo, several keepalive intervals.
    let mut raw = Vec::with_capacity(payload.len() + 64);
    let mut chunk = vec![0u8; 64 << 10];
    let started = Instant::now();
    let mut pongs = 0;
    while raw.len() < payload.len() + 10 + 2 {
        let n = client.stream.read(&mut chunk).unwrap();
        assert_ne!(
            n,
            0,
            "dropped after {:?} with {} of {} bytes read",
            started.elapsed(),
            raw.len(),
            payload.len() + 10
        );
        raw.extend_from_slice(&chunk[..n]);
        // Answer each ping, before the echo or after it, as a live peer's library would.
        while raw.starts_with(&[0x89, 0x00]) {
            raw.drain(..2);
            client.send_control(Control::Pong, b"");
        }
        while raw.len() >= payload.len() + 10 + 2 * (pongs + 1)
            && raw[payload.len() + 10 + 2 * pongs..].starts_with(&[0x89, 0x00])
        {
            client.send_control(Control::Pong, b"");
            pongs += 1;
        }
        std::thread::sleep(Duration::from_millis(15));
    }
    assert!(
        started.elapsed() > 2 * interval,
        "the read took more than one keepalive interval"
    );
    assert_eq!(&raw[..2], &[0x82, 127]);
    assert_eq!(&raw[2..10], &(payload.len() as u64).to_be_bytes());
    assert!(raw[10..10 + payload.len()] == payload[..], "echo intact");
    // Still open: it answers.
    client.send_text("still here");
    assert_eq!(client.recv_message(), Received::Text("still here".into()));
}

#[test]
fn idle_timeout_closes_quiet_connections_of_dialects_without_ping() {
    let server = TestServer::echo(
        Settings::default()
            .idle_timeout(Some(Duration::from_millis(200)))
            .close_timeout(Duration::from_millis(200)),
    );
    let mut hixie75 = Client::connect(server.addr, "/echo", Dialect::Hixie75);
    let mut hixie76 = Client::connect(server.addr, "/echo", Dialect::Hixie76);
    assert_eq!(hixie75.recv(), Received::Eof);
    assert_eq!(hixie76.recv(), Received::Close(None, String::new()));
    assert_eq!(hixie76.recv(), Received::Eof);
}

#[test]
fn close_timeout_drops_a_peer_that_never_answers_our_close() {
    let server = TestServer::echo(Settings::default().close_timeout(Duration::from_millis(300)));
    let mut client = Client::connect(server.addr, "/echo", Dialect::Rfc6455);
    server.handle.shutdown().unwrap();
    let started = Instant::now();
    assert_eq!(
        client.recv(),
        Received::Close(Some(1001), "server shutting down".into())
    );
    // We never answer: the server gives up after the close timeout and exits cleanly.
    assert_eq!(client.recv(), Received::Eof);
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop().unwrap();
}

#[test]
fn mounts_route_by_exact_path_prefix_and_subprotocol() {
    struct Tag(&'static str);
    impl ws::Handler for Tag {
        fn on_open(&mut self, cx: &mut ws::Cx<'_>, id: ws::SocketId) {
            let count = cx.client_count();
            if let Some(s) = cx.socket(id) {
                let _ = s.send_text(&format!("{} {}", self.0, count));
            }
        }
    }
    let server = TestServer::start(
        Server::builder()
            .mount(Mount::new("/chat", Tag("chat-v2")).protocol("v2"))
            .route("/chat", Tag("chat"))
            .route("/rooms/*", Tag("rooms"))
            .settings(Settings::default()),
    );
    let greeting = |path: &str, protocols: &[&str]| {
        let mut c = Client::connect_with(server.addr, path, Dialect::Rfc6455, protocols).unwrap();
        let sub = c.subprotocol.clone();
        (c.recv_message(), sub, c)
    };
    let (g, sub, _a) = greeting("/chat", &["v1", "v2"]);
    assert_eq!(
        (g, sub.as_deref()),
        (Received::Text("chat-v2 1".into()), Some("v2"))
    );
    let (g, sub, _b) = greeting("/chat", &["v1"]);
    assert_eq!((g, sub), (Received::Text("chat 1".into()), None));
    let (g, _, _c) = greeting("/rooms/blue", &[]);
    assert_eq!(g, Received::Text("rooms 1".into()));
    let (g, _, _d) = greeting("/rooms/red", &[]);
    assert_eq!(
        g,
        Received::Text("rooms 2".into()),
        "client tracking counts the route's clients"
    );
    assert!(Client::connect_with(server.addr, "/nowhere", Dialect::Rfc6455, &[]).is_err());
}

#[test]
fn the_request_is_the_handlers_until_on_open_returns() {
    // Kept for on_open (the path, query and headers are read there), then dropped: an open
    // connection does not carry its request head.
    struct Probe;
    impl ws::Handler for Probe {
        fn on_open(&mut self, cx: &mut ws::Cx<'_>, id: ws::SocketId) {
            let query = cx
                .socket(id)
                .and_then(|s| s.request())
                .and_then(|r| r.query().map(str::to_owned));
            if let Some(s) = cx.socket(id) {
                let _ = s.send_text(&format!("open {query:?}"));
            }
        }
        fn on_message(
            &mut self,
            cx: &mut ws::Cx<'_>,
            id: ws::SocketId,
            _: ws::protocols::message::Message<'_>,
        ) {
            if let Some(s) = cx.socket(id) {
                let kept = s.request().is_some();
                let _ = s.send_text(&format!("later {kept}"));
            }
        }
    }
    let server = TestServer::start(
        Server::builder()
            .route("/probe", Probe)
            .settings(Settings::default()),
    );
    let mut client = Client::connect(server.addr, "/probe?room=7", Dialect::Rfc6455);
    assert_eq!(
        client.recv_message(),
        Received::Text("open Some(\"room=7\")".into())
    );
    client.send_text("anything");
    assert_eq!(client.recv_message(), Received::Text("later false".into()));
}
