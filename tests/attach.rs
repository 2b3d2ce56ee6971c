//! Embedding over real sockets: the hyper example (the HTTP server answers the 101) and the
//! blocking std example (`handle_upgrade`: our loop answers), each serving plain HTTP
//! itself, refusing upgrades its auth rejects, and handing granted ones to our loop, in
//! every dialect.

#[path = "../examples/attach_hyper.rs"]
mod attach_hyper;
#[path = "../examples/attach_std.rs"]
mod attach_std;
mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use support::{raw_connect, status_of, Client, Received};
use ws::protocols::{Dialect, MessageKind};

const COOKIE: (&str, &str) = ("Cookie", "theme=dark; session=letmein");

fn start_hyper() -> (SocketAddr, ws::Attached) {
    let attached = ws::attach(ws::Server::builder().route("/echo", ws::Echo)).unwrap();
    let handle = attached.handle.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let _ = attach_hyper::serve(listener, handle).await;
        });
    });
    (rx.recv().unwrap(), attached)
}

fn start_std() -> (SocketAddr, ws::Attached) {
    let attached = ws::attach(ws::Server::builder().route("/echo", ws::Echo)).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = attached.handle.clone();
    std::thread::spawn(move || attach_std::serve(listener, handle));
    (addr, attached)
}

fn plain_get(addr: SocketAddr) -> String {
    let mut s = raw_connect(addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn every_dialect_echoes(addr: SocketAddr, attached: &ws::Attached) {
    for dialect in Dialect::ALL {
        let mut client = Client::connect_full(addr, "/echo", dialect, &[], &[COOKIE])
            .unwrap_or_else(|e| panic!("{dialect}: {e}"));
        client.send_text("through the HTTP server");
        assert_eq!(
            client.recv_message(),
            Received::Text("through the HTTP server".into()),
            "{dialect}"
        );
        if dialect.caps().binary {
            client.send(MessageKind::Binary, &[0, 1, 2, 255]);
            assert_eq!(
                client.recv_message(),
                Received::Binary(vec![0, 1, 2, 255]),
                "{dialect}"
            );
        }
    }
    assert!(attached.handle.stats().connections_total >= 6);
}

fn auth_refusal_never_reaches_the_loop(addr: SocketAddr, attached: &ws::Attached) {
    let before = attached.handle.stats().connections_total;
    let refused = Client::connect_full(addr, "/echo", Dialect::Rfc6455, &[], &[]);
    assert!(refused.err().unwrap().contains("401"));
    assert_eq!(attached.handle.stats().connections_total, before);
}

#[test]
fn hyper_serves_http_and_hands_granted_upgrades_to_the_loop() {
    let (addr, attached) = start_hyper();
    assert!(plain_get(addr).contains("hello from hyper"));
    auth_refusal_never_reaches_the_loop(addr, &attached);
    every_dialect_echoes(addr, &attached);
}

#[test]
fn hyper_keeps_the_hixie75_first_lines_byte_exact() {
    let (addr, _attached) = start_hyper();
    let mut s = raw_connect(addr);
    s.write_all(b"GET /echo HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: example.com\r\nOrigin: http://example.com\r\nCookie: session=letmein\r\n\r\n").unwrap();
    let mut first = [0u8; 85];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first[..], &b"HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"[..]);
}

#[test]
fn hyper_relays_handshake_refusals_with_their_status() {
    let (addr, _attached) = start_hyper();
    let mut s = raw_connect(addr);
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 9\r\nCookie: session=letmein\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(status_of(&buf[..n]), 426);
    assert!(String::from_utf8_lossy(&buf[..n])
        .to_ascii_lowercase()
        .contains("sec-websocket-version: 13, 8, 7, 6, 5, 4\r\n"));
}

#[test]
fn std_server_hands_unanswered_upgrades_to_the_loop() {
    let (addr, attached) = start_std();
    assert!(plain_get(addr).contains("hello from std"));
    auth_refusal_never_reaches_the_loop(addr, &attached);
    every_dialect_echoes(addr, &attached);
}

#[test]
fn listen_serves_every_path_and_answers_plain_http_with_501() {
    // ws::listen binds all interfaces on a fixed port and runs until a signal; find a free
    // port, run it on a thread that outlives the test, and talk to it over loopback.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::thread::spawn(move || ws::listen(port, ws::Echo));
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let up = (0..250).any(|_| {
        std::net::TcpStream::connect(addr).is_ok() || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            false
        }
    });
    assert!(up, "ws::listen is accepting");
    let mut client = Client::connect(addr, "/any/path", Dialect::Hixie76);
    client.send_text("listen");
    assert_eq!(client.recv_message(), Received::Text("listen".into()));
    assert_eq!(
        status_of(&support::exchange(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        )),
        501
    );
}
