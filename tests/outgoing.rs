//! Outgoing connections on the server's own loop (`Cx::connect`), in every dialect: a bridge
//! route opens a connection to an upstream echo server for each client and passes messages
//! both ways, so every byte crosses our client-role codec (masking included) and an
//! upstream server that insists on the client rules.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use support::{Client, Received, TestServer};
use ws::protocols::handshake::ClientConfig;
use ws::protocols::message::Message;
use ws::protocols::Dialect;
use ws::{CloseInfo, Cx, Error, Handler, Server, Settings, SocketId};

/// For each client: an upstream connection to `upstream` in the dialect named by the
/// client's query (`?hixie-76`), at the path after `/bridge`.
struct Bridge {
    upstream: SocketAddr,
    /// Connect with `Cx::connect_url` and `ConnectOptions` instead of `Cx::connect`.
    by_url: bool,
    partner: HashMap<SocketId, SocketId>,
    outgoing: HashMap<SocketId, SocketId>,
}

impl Bridge {
    fn tell(cx: &mut Cx<'_>, id: SocketId, text: &str) {
        if let Some(s) = cx.socket(id) {
            let _ = s.send_text(text);
        }
    }
}

impl Handler for Bridge {
    fn on_open(&mut self, cx: &mut Cx<'_>, id: SocketId) {
        if let Some(&down) = self.outgoing.get(&id) {
            let dialect = cx
                .socket(id)
                .and_then(|s| s.protocol_version())
                .unwrap_or("?");
            let protocol = cx
                .socket(id)
                .and_then(|s| s.protocol().map(str::to_owned))
                .unwrap_or_default();
            return Bridge::tell(cx, down, &format!("upstream open {dialect} {protocol}"));
        }
        let (dialect, path) = {
            let request = cx.socket(id).and_then(|s| s.request()).expect("accepted");
            let dialect = request
                .query()
                .and_then(Dialect::from_name)
                .unwrap_or(Dialect::Rfc6455);
            let path = request.path().trim_start_matches("/bridge").to_owned();
            (dialect, path)
        };
        let host = self.upstream.to_string();
        let config = ClientConfig {
            origin: Some("http://bridge.example"),
            subprotocols: &["chat"],
            ..ClientConfig::new(dialect, &host, &path)
        };
        let connected = if self.by_url {
            let url = format!("ws://{host}{path}");
            let options = ws::ConnectOptions::default()
                .dialect(dialect)
                .origin("http://bridge.example")
                .subprotocol("chat");
            cx.connect_url(&url, &options).map_err(|e| e.to_string())
        } else {
            cx.connect(self.upstream, &config)
                .map_err(|e| e.to_string())
        };
        match connected {
            Ok(up) => {
                self.outgoing.insert(up, id);
                self.partner.insert(id, up);
                self.partner.insert(up, id);
            }
            Err(e) => Bridge::tell(cx, id, &format!("connect failed: {e}")),
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, id: SocketId, message: Message<'_>) {
        if let Some(&other) = self.partner.get(&id) {
            if let Some(s) = cx.socket(other) {
                s.send(message).expect("forward");
            }
        }
    }

    fn on_error(&mut self, cx: &mut Cx<'_>, id: SocketId, error: &Error) {
        if let Some(&down) = self.outgoing.get(&id) {
            let kind = match error {
                Error::Connect(_) => "handshake",
                Error::Io(_) => "io",
                _ => "other",
            };
            Bridge::tell(cx, down, &format!("upstream error {kind}: {error}"));
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, id: SocketId, close: &CloseInfo) {
        if let Some(down) = self.outgoing.remove(&id) {
            Bridge::tell(cx, down, &format!("upstream closed {}", close.code));
        }
        if let Some(other) = self.partner.remove(&id) {
            self.partner.remove(&other);
            if let Some(s) = cx.socket(other) {
                let _ = s.close(1000, "partner left");
            }
        }
    }
}

fn bridge_to(upstream: SocketAddr) -> TestServer {
    bridge(upstream, false)
}

fn bridge(upstream: SocketAddr, by_url: bool) -> TestServer {
    TestServer::start(Server::builder().route(
        "/bridge*",
        Bridge {
            upstream,
            by_url,
            partner: HashMap::new(),
            outgoing: HashMap::new(),
        },
    ))
}

fn text(c: &mut Client) -> String {
    match c.recv_message() {
        Received::Text(t) => t,
        other => panic!("expected text, got {other:?}"),
    }
}

/// A client of `bridge` whose upstream connection in `dialect` has opened, with `chat`.
fn bridged(bridge: &TestServer, dialect: Dialect) -> Client {
    let mut c = Client::connect(
        bridge.addr,
        &format!("/bridge/echo?{dialect}"),
        Dialect::Rfc6455,
    );
    assert_eq!(
        text(&mut c),
        format!("upstream open {} chat", dialect.name()),
        "{dialect}"
    );
    c
}

#[test]
fn the_loop_connects_out_in_every_dialect_and_frames_as_a_client() {
    let upstream = TestServer::echo(
        Settings::default()
            .subprotocols(vec!["chat".into()])
            .hixie_binary(ws::HixieBinary::LengthPrefixed),
    );
    let bridge = bridge_to(upstream.addr);
    for dialect in Dialect::ALL {
        let mut c = bridged(&bridge, dialect);
        for size in [0usize, 1, 125, 126, 65535, 65536, 300_000] {
            let payload: String = (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            c.send_text(&payload);
            assert_eq!(
                c.recv_message(),
                Received::Text(payload),
                "{dialect} {size}"
            );
        }
        let multibyte = "é😀 ".repeat(5000);
        c.send_text(&multibyte);
        assert_eq!(c.recv_message(), Received::Text(multibyte), "{dialect}");
        if dialect.caps().binary {
            let bytes: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
            c.send(ws::protocols::MessageKind::Binary, &bytes);
            assert_eq!(c.recv_message(), Received::Binary(bytes), "{dialect}");
        }
        c.send_close(1000, "done");
        // The bridge answers with the code (the reason stays with the closer).
        assert_eq!(c.recv_message(), Received::Close(Some(1000), String::new()));
    }
}

#[test]
fn a_refused_handshake_and_a_refused_connection_reach_the_handler() {
    let upstream = TestServer::start(Server::builder().route("/only-here", ws::Echo));
    let bridge = bridge_to(upstream.addr);
    let mut c = Client::connect(bridge.addr, "/bridge/elsewhere?rfc6455", Dialect::Rfc6455);
    let error = text(&mut c);
    assert!(
        error.starts_with("upstream error handshake: opening handshake failed")
            && error.contains("404"),
        "{error}"
    );
    assert_eq!(text(&mut c), "upstream closed 1006");

    // Nothing listens on this port any more.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let bridge = bridge_to(closed);
    let mut c = Client::connect(bridge.addr, "/bridge/echo?hixie-76", Dialect::Hybi08);
    assert!(text(&mut c).starts_with("upstream error io:"));
    assert_eq!(text(&mut c), "upstream closed 1006");
}

#[test]
fn connect_url_takes_the_blocking_clients_options() {
    let upstream = TestServer::echo(Settings::default().subprotocols(vec!["chat".into()]));
    let bridge = bridge(upstream.addr, true);
    for dialect in [Dialect::Hixie76, Dialect::Hybi07, Dialect::Rfc6455] {
        let mut c = bridged(&bridge, dialect);
        c.send_text("by url");
        assert_eq!(c.recv_message(), Received::Text("by url".into()));
    }
}
