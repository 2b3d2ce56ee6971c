//! wss:// on the same port as ws://: TLS sniffed from the first byte, every dialect through
//! it, the hixie Location saying wss://, plain connections refused under `tls_only`, bad TLS
//! costing nothing lasting. The certificates are generated here (a CA and a leaf it signs).

mod support;

use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use support::tls::TestCerts;
use support::{Client, Received, TestServer, DEADLINE};
use ws::protocols::handshake::ClientConfig;
use ws::protocols::{Decode, Decoder, Dialect, Encoder, Event, Limits, MessageKind, Role};
use ws::tls::{server_config, TlsFiles};
use ws::Settings;

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_settings(certs: &TestCerts) -> Settings {
    let files = TlsFiles {
        cert: certs.cert_path.clone(),
        key: certs.key_path.clone(),
    };
    Settings::default().tls(Some(server_config(&files).expect("test certificates load")))
}

fn tls_connect(addr: SocketAddr, certs: &TestCerts) -> TlsStream {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(DEADLINE)).unwrap();
    tcp.set_write_timeout(Some(DEADLINE)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = rustls::ClientConnection::new(certs.client_config(), name).expect("client");
    rustls::StreamOwned::new(tls, tcp)
}

/// A blocking WebSocket client of any dialect over TLS, built from the protocols crate.
struct TlsClient {
    stream: TlsStream,
    encoder: Encoder,
    decoder: Decoder,
    pending: Vec<u8>,
    /// The server's response head.
    head: String,
}

impl TlsClient {
    fn connect(addr: SocketAddr, certs: &TestCerts, dialect: Dialect, path: &str) -> TlsClient {
        let mut stream = tls_connect(addr, certs);
        let host = format!("localhost:{}", addr.port());
        let config = ClientConfig {
            origin: Some("https://example.com"),
            secure: true,
            ..ClientConfig::new(dialect, &host, path)
        };
        let (response, buf) =
            support::handshake(&mut stream, &config).unwrap_or_else(|e| panic!("{dialect}: {e}"));
        let limits = Limits::default().max_message(1 << 30).max_frame(1 << 30);
        TlsClient {
            stream,
            encoder: Encoder::client_with_connection_key(dialect, [5; 16], response.connection_key),
            decoder: Decoder::new(dialect, Role::Client, &limits),
            pending: buf[response.consumed..].to_vec(),
            head: String::from_utf8_lossy(&buf[..response.consumed]).into_owned(),
        }
    }

    fn send(&mut self, kind: MessageKind, payload: &[u8]) {
        let mut out = Vec::with_capacity(payload.len() + 32);
        self.encoder.message(kind, payload, &mut out).unwrap();
        self.stream.write_all(&out).unwrap();
    }

    /// The next whole message's payload (pings and other events are skipped); what follows
    /// it stays for the next call.
    fn recv(&mut self) -> Vec<u8> {
        let mut message = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let mut pos = 0;
            let mut ended = false;
            while !ended {
                let (n, event) = self.decoder.decode(&mut self.pending[pos..]).unwrap();
                pos += n;
                match event {
                    Some(Event::Data(bytes)) => message.extend_from_slice(bytes),
                    Some(Event::MessageEnd) => ended = true,
                    Some(_) => {}
                    None => break,
                }
            }
            self.pending.drain(..pos);
            if ended {
                return message;
            }
            let n = self.stream.read(&mut chunk).unwrap();
            assert_ne!(n, 0, "closed before the message ended");
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Open a `dialect` WebSocket over TLS, send `text`, and return the echo and the response
/// head.
fn echo_over_tls(
    addr: SocketAddr,
    certs: &TestCerts,
    dialect: Dialect,
    text: &str,
) -> (String, String) {
    let mut client = TlsClient::connect(addr, certs, dialect, "/echo");
    client.send(MessageKind::Text, text.as_bytes());
    let echo = String::from_utf8(client.recv()).unwrap();
    (echo, client.head)
}

#[test]
fn every_dialect_over_tls_and_plain_on_the_same_port() {
    let certs = TestCerts::generate("localhost");
    let server = TestServer::echo(tls_settings(&certs));
    for dialect in Dialect::ALL {
        let text = format!("secure {dialect}");
        let (echo, head) = echo_over_tls(server.addr, &certs, dialect, &text);
        assert_eq!(echo, text);
        if matches!(
            dialect,
            Dialect::Hixie75 | Dialect::Hixie76 | Dialect::Hybi03
        ) {
            // The hixie family echoes the location, with the scheme of the connection.
            assert!(head.contains("wss://localhost"), "{dialect}: {head}");
        }
        // The same port still speaks plain ws:// to everyone else.
        let mut plain = Client::connect(server.addr, "/echo", dialect);
        plain.send_text("plain");
        assert_eq!(
            plain.recv_message(),
            Received::Text("plain".into()),
            "{dialect}"
        );
    }
}

#[test]
fn a_large_message_crosses_tls_both_ways_intact() {
    // 12 MiB each way: many records, partial writes, the TLS buffer limit and the outgoing
    // queue's water marks all in play.
    let certs = TestCerts::generate("localhost");
    let server = TestServer::echo(tls_settings(&certs));
    let text: String = (0..12u32 << 20)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let (echo, _) = echo_over_tls(server.addr, &certs, Dialect::Rfc6455, &text);
    assert!(echo == text, "the echo differs ({} bytes back)", echo.len());
}

#[test]
fn a_tls_only_port_refuses_plain_http_with_400() {
    let certs = TestCerts::generate("localhost");
    let server = TestServer::echo(tls_settings(&certs).tls_only(true));
    let request = b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let response = support::exchange(server.addr, request);
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("wss://"), "{text}");
    // TLS still works.
    let (echo, _) = echo_over_tls(server.addr, &certs, Dialect::Rfc6455, "still here");
    assert_eq!(echo, "still here");
}

#[test]
fn bad_tls_costs_nothing_lasting() {
    let certs = TestCerts::generate("localhost");
    let server = TestServer::echo(tls_settings(&certs));
    // A TLS record header followed by garbage: the server answers with an alert (or just
    // closes) and goes on serving.
    let mut garbage = TcpStream::connect(server.addr).unwrap();
    garbage.set_read_timeout(Some(DEADLINE)).unwrap();
    garbage
        .write_all(b"\x16\x03\x01\x00\x05hello-this-is-not-a-client-hello")
        .unwrap();
    let mut sink = Vec::new();
    let _ = garbage.read_to_end(&mut sink);
    // A client that vanishes mid-handshake.
    let mut vanishing = TcpStream::connect(server.addr).unwrap();
    vanishing.write_all(b"\x16\x03\x01\x02\x00\x01").unwrap();
    drop(vanishing);
    // A client that opens a WebSocket, then vanishes halfway through an application-data
    // record: the server drops it and goes on.
    let mut halfway = TlsClient::connect(server.addr, &certs, Dialect::Rfc6455, "/echo");
    halfway
        .stream
        .sock
        .write_all(b"\x17\x03\x03\x40\x00partial")
        .unwrap();
    drop(halfway);
    // A client that refuses our certificate (it trusts no CA): the handshake fails on its
    // side, and the server is unharmed.
    let tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(DEADLINE)).unwrap();
    let roots = rustls::RootCertStore::empty();
    let config = rustls::ClientConfig::builder_with_provider(support::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut distrustful = rustls::StreamOwned::new(
        rustls::ClientConnection::new(Arc::new(config), name).unwrap(),
        tcp,
    );
    assert!(
        distrustful.write_all(b"GET / HTTP/1.1\r\n\r\n").is_err() || {
            let mut b = [0u8; 16];
            distrustful.read(&mut b).is_err()
        }
    );
    let (echo, _) = echo_over_tls(server.addr, &certs, Dialect::Rfc6455, "unharmed");
    assert_eq!(echo, "unharmed");
    // Nothing of the bad clients is left behind. Polled, not waited for with round trips,
    // whose own connections would count.
    drop((garbage, distrustful));
    support::await_stats(&server, "the bad clients gone", |s| s.connections_open == 0);
}

#[test]
fn the_command_line_server_serves_wss_and_ws_on_one_port() {
    let certs = TestCerts::generate("localhost");
    let cert = certs.cert_path.to_str().unwrap().to_owned();
    let key = certs.key_path.to_str().unwrap().to_owned();
    let (_server, addr) =
        support::cli::start_cli(&["--tls-cert", &cert, "--tls-key", &key], |_| {});
    let (echo, _) = echo_over_tls(addr, &certs, Dialect::Rfc6455, "from the CLI");
    assert_eq!(echo, "from the CLI");
    let mut plain = Client::connect(addr, "/echo", Dialect::Hixie76);
    plain.send_text("plain beside it");
    assert_eq!(
        plain.recv_message(),
        Received::Text("plain beside it".into())
    );
}

#[test]
fn the_command_line_server_refuses_a_key_that_is_not_there() {
    let certs = TestCerts::generate("localhost");
    let cert = certs.cert_path.to_str().unwrap().to_owned();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_omniws"))
        .args([
            "--port",
            "0",
            "--tls-cert",
            &cert,
            "--tls-key",
            "/nonexistent/key.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/key.pem"), "{stderr}");
}

#[test]
fn a_session_pipes_64_mib_between_a_wss_member_and_a_plain_hixie_76_member() {
    use sha2::{Digest, Sha256};
    let certs = TestCerts::generate("localhost");
    let server = TestServer::start(ws::Server::builder().settings(tls_settings(&certs)).mount(
        ws::Sessions::mount("/sessions/*", ws::SessionOptions::default()),
    ));
    let mut secure = TlsClient::connect(server.addr, &certs, Dialect::Rfc6455, "/sessions/mixed");
    let mut plain = Client::connect(server.addr, "/sessions/mixed", Dialect::Hixie76);
    assert_eq!(secure.recv(), b"session ready");
    assert_eq!(plain.recv_message(), Received::Text("session ready".into()));
    // Text, the one kind hixie-76 browsers receive; 64 MiB in one frame of declared length,
    // forwarded cut-through into one hixie frame while the receiver reads.
    let payload: String = (0..64u32 << 20)
        .map(|i| char::from(b' ' + (i.wrapping_mul(2_654_435_761) >> 26) as u8))
        .collect();
    let expected = Sha256::digest(payload.as_bytes());
    let receiver = std::thread::spawn(move || {
        let Received::Text(text) = plain.recv_message() else {
            panic!("not text");
        };
        (Sha256::digest(text.as_bytes()), text.len(), plain)
    });
    secure.send(MessageKind::Text, payload.as_bytes());
    let (digest, len, mut plain) = receiver.join().unwrap();
    assert_eq!(len, payload.len());
    assert_eq!(digest, expected);
    // And back, from plain hixie-76 to the wss member.
    plain.send_text("and back over TLS");
    assert_eq!(secure.recv(), b"and back over TLS");
}

#[test]
fn a_stalled_tls_handshake_is_dropped_at_the_handshake_timeout() {
    let certs = TestCerts::generate("localhost");
    let timeout = std::time::Duration::from_millis(300);
    let server = TestServer::echo(tls_settings(&certs).handshake_timeout(timeout));
    let mut stalled = support::raw_connect(server.addr);
    // The first bytes of a ClientHello record, then nothing.
    stalled.write_all(b"\x16\x03\x01\x02\x00\x01\x00").unwrap();
    let started = std::time::Instant::now();
    let mut sink = Vec::new();
    let _ = stalled.read_to_end(&mut sink);
    let waited = started.elapsed();
    assert!(waited >= timeout / 2, "dropped too early: {waited:?}");
    assert!(waited < DEADLINE, "not dropped");
    let (echo, _) = echo_over_tls(server.addr, &certs, Dialect::Hybi08, "after the stall");
    assert_eq!(echo, "after the stall");
}

/// Whether a TLS client trusting `trusted`'s CA completes a WebSocket echo with `addr`.
fn echo_works(addr: SocketAddr, trusted: &TestCerts) -> bool {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(DEADLINE)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = rustls::ClientConnection::new(trusted.client_config(), name).unwrap();
    let mut stream = rustls::StreamOwned::new(tls, tcp);
    // The handshake runs on the first write; a certificate the client does not trust fails
    // it.
    let request = b"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    if stream.write_all(request).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 101")
}

/// A plain echo round trip through the loop.
fn round_trip(addr: SocketAddr) {
    let mut plain = Client::connect(addr, "/echo", Dialect::Rfc6455);
    plain.send_text("sync");
    assert_eq!(plain.recv_message(), Received::Text("sync".into()));
}

/// Round trips until the server's counters say `done` (a command sent through the handle
/// is handled on one of the loop's next turns), at most 100.
fn until(server: &TestServer, done: impl Fn(&ws::StatsSnapshot) -> bool) {
    for _ in 0..100 {
        if done(&server.handle.stats()) {
            return;
        }
        round_trip(server.addr);
    }
    panic!("the server never got there: {:?}", server.handle.stats());
}

#[test]
fn a_certificate_reload_serves_new_connections_and_keeps_open_ones() {
    let old = TestCerts::generate("localhost");
    let new = TestCerts::generate("localhost");
    let files = TlsFiles::new(&old.cert_path, &old.key_path);
    let server = TestServer::start(
        ws::Server::builder()
            .tls(ws::tls::TlsConfig::load(files).unwrap())
            .route("/echo", ws::Echo),
    );
    let mut open = TlsClient::connect(server.addr, &old, Dialect::Rfc6455, "/echo");
    assert!(echo_works(server.addr, &old) && !echo_works(server.addr, &new));
    // Traffic through a connection that stays open across the reload: every echo comes back,
    // in order, before, during and after it.
    let mut busy = TlsClient::connect(server.addr, &old, Dialect::Hybi07, "/echo");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let mut sent = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || sent < 50 {
                let message = format!("message {sent}").repeat(40);
                busy.send(MessageKind::Binary, message.as_bytes());
                assert_eq!(busy.recv(), message.as_bytes(), "echo {sent}");
                sent += 1;
            }
            sent
        }
    });
    // Renew the files in place, then reload.
    std::fs::copy(&new.cert_path, &old.cert_path).unwrap();
    std::fs::copy(&new.key_path, &old.key_path).unwrap();
    server.handle.reload_tls().unwrap();
    until(&server, |stats| stats.tls_reloads == 1);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let echoed = traffic.join().expect("the busy connection lost nothing");
    assert!(echoed >= 50);
    assert!(
        echo_works(server.addr, &new),
        "new connections get the new certificate"
    );
    assert!(!echo_works(server.addr, &old));
    // The connection opened before is not dropped.
    open.send(MessageKind::Text, b"still open");
    assert_eq!(open.recv(), b"still open");
    // A reload that fails (a half-written file) keeps the certificate before.
    std::fs::write(&old.cert_path, b"-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    server.handle.reload_tls().unwrap();
    until(&server, |stats| stats.tls_reload_failures == 1);
    assert_eq!(server.handle.stats().tls_reloads, 1);
    assert!(echo_works(server.addr, &new));
}

#[test]
fn the_command_line_server_reloads_its_certificate_on_sighup() {
    let old = TestCerts::generate("localhost");
    let new = TestCerts::generate("localhost");
    let cert = old.cert_path.to_str().unwrap().to_owned();
    let key = old.key_path.to_str().unwrap().to_owned();
    let (server, addr) = support::cli::start_cli(&["--tls-cert", &cert, "--tls-key", &key], |_| {});
    assert!(echo_works(addr, &old));
    std::fs::copy(&new.cert_path, &old.cert_path).unwrap();
    std::fs::copy(&new.key_path, &old.key_path).unwrap();
    let pid = server.0.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    // The signal reaches the loop as an event; a round trip later it has been handled
    // (bounded: 50 round trips).
    let reloaded = (0..50).any(|_| {
        round_trip(addr);
        echo_works(addr, &new)
    });
    assert!(reloaded, "SIGHUP did not reload the certificate");
    // Every loop serves the new certificate (connections go to the loop with the fewest, so
    // these reach both), and the files were read once for all of them.
    let open: Vec<TlsClient> = (0..4)
        .map(|_| TlsClient::connect(addr, &new, Dialect::Rfc6455, "/echo"))
        .collect();
    let response = support::exchange(addr, b"GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n");
    let text = String::from_utf8(response).unwrap();
    let status: serde_json::Value =
        serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(status["tls"]["reloads"], 1, "{}", status["tls"]);
    assert!(status["loops"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n.as_u64() >= Some(2)));
    drop(open);
}

#[test]
fn a_connection_whose_tls_another_server_terminated_is_handed_to_the_loop() {
    // The "other server": accepts TCP, completes TLS with rustls, reads the upgrade request's
    // head through it, then hands socket, session and head over (what tokio-rustls'
    // `into_inner()` allows). The loop goes on with the same TLS session.
    let certs = TestCerts::generate("localhost");
    let config = tls_settings(&certs).tls.expect("configured");
    let server = ws::Server::builder()
        .route("/echo", ws::Echo)
        .detached()
        .unwrap();
    let handle = server.handle();
    let running = std::thread::spawn(move || server.run());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let other_server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(DEADLINE)).unwrap();
        let session = rustls::ServerConnection::new(config).unwrap();
        let mut stream = rustls::StreamOwned::new(session, tcp);
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let (session, tcp) = stream.into_parts();
        handle.adopt_tls(tcp, session, head).unwrap();
        handle
    });
    // hixie-76: its key3 follows the head in the same TLS record, so it is still inside
    // the handed-over session's plaintext buffer, and must be read from there.
    let (echo, head) = echo_over_tls(addr, &certs, Dialect::Hixie76, "handed over");
    assert_eq!(echo, "handed over");
    assert!(head.contains("wss://localhost"), "{head}");
    let handle = other_server.join().unwrap();
    handle.shutdown().unwrap();
    running.join().unwrap().unwrap();
}

#[test]
fn our_client_speaks_every_dialect_over_wss() {
    let certs = TestCerts::generate("localhost");
    let server = TestServer::echo(tls_settings(&certs));
    let url = format!("wss://localhost:{}/echo", server.addr.port());
    for dialect in Dialect::ALL {
        let options = ws::ConnectOptions::default()
            .dialect(dialect)
            .origin("https://example.com")
            .ca_file(certs.dir.join("ca.pem"));
        let mut client =
            ws::connect_with(&url, options).unwrap_or_else(|e| panic!("{dialect}: {e}"));
        let text = format!("{dialect} over TLS, from our client");
        client.send_text(&text).unwrap();
        assert_eq!(client.recv().unwrap(), ws::ClientEvent::Text(text));
        if dialect.caps().binary {
            let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
            client.send_binary(&big).unwrap();
            assert_eq!(client.recv().unwrap(), ws::ClientEvent::Binary(big));
        }
        client.close(1000, "done").unwrap();
        match client.recv().unwrap() {
            ws::ClientEvent::Close(info) => assert!(info.clean, "{dialect}: {info:?}"),
            other => panic!("{dialect}: {other:?}"),
        }
    }
}

#[test]
fn our_client_checks_the_certificate_unless_told_not_to() {
    let certs = TestCerts::generate("localhost");
    let server = TestServer::echo(tls_settings(&certs));
    let port = server.addr.port();
    // The system's roots do not know our test CA.
    let refused = ws::connect(&format!("wss://localhost:{port}/echo")).unwrap_err();
    assert!(matches!(refused, ws::ClientError::Tls(_)), "{refused}");
    // A certificate for another name is refused even with the right CA.
    let other = TestCerts::generate("elsewhere.example");
    let elsewhere = TestServer::echo(tls_settings(&other));
    let options = ws::ConnectOptions::default().ca_file(other.dir.join("ca.pem"));
    let url = format!("wss://localhost:{}/echo", elsewhere.addr.port());
    let refused = ws::connect_with(&url, options).unwrap_err();
    assert!(matches!(refused, ws::ClientError::Tls(_)), "{refused}");
    // --insecure accepts it.
    let mut client =
        ws::connect_with(&url, ws::ConnectOptions::default().insecure()).expect("insecure");
    client.send_text("trusting anyone").unwrap();
    assert_eq!(
        client.recv().unwrap(),
        ws::ClientEvent::Text("trusting anyone".into())
    );
}

#[test]
fn the_command_line_client_connects_with_wss_and_a_private_ca() {
    let certs = TestCerts::generate("localhost");
    let server = TestServer::echo(tls_settings(&certs));
    let url = format!("wss://localhost:{}/echo", server.addr.port());
    let ca = certs.dir.join("ca.pem");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_omniws-client"))
        .args([
            "connect",
            &url,
            "--dialect",
            "hybi-08",
            "--await-echo",
            "--ca",
        ])
        .arg(&ca)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout, "one\ntwo\n");
}

#[test]
fn a_tls_1_0_client_hello_gets_an_alert_and_the_server_serves_on() {
    let certs = TestCerts::generate("localhost");
    let server = TestServer::echo(tls_settings(&certs));
    // A ClientHello offering TLS 1.0 only (no supported_versions extension), one cipher
    // suite of that era: rustls answers with a fatal alert and closes.
    let mut hello = vec![0x03, 0x01]; // client_version TLS 1.0
    hello.extend_from_slice(&[0x42; 32]); // random
    hello.push(0); // no session id
    hello.extend_from_slice(&[0x00, 0x02, 0x00, 0x2f]); // TLS_RSA_WITH_AES_128_CBC_SHA
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00, 0x00, hello.len() as u8];
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    let mut old = support::raw_connect(server.addr);
    old.write_all(&record).unwrap();
    let mut answer = Vec::new();
    let _ = old.read_to_end(&mut answer);
    // An alert record (content type 21), fatal (level 2).
    assert_eq!(answer.first(), Some(&0x15), "{answer:02x?}");
    assert_eq!(answer.get(5), Some(&0x02), "{answer:02x?}");
    let (echo, _) = echo_over_tls(server.addr, &certs, Dialect::Rfc6455, "serving on");
    assert_eq!(echo, "serving on");
}

#[test]
fn sessions_over_wss_meet_on_their_loop_whichever_loop_accepted_the_tls_connection() {
    let certs = TestCerts::generate("localhost");
    let cert = certs.cert_path.to_str().unwrap().to_owned();
    let key = certs.key_path.to_str().unwrap().to_owned();
    let (_server, addr) = support::cli::start_cli(
        &["--threads", "2", "--tls-cert", &cert, "--tls-key", &key],
        |_| {},
    );
    // Four sessions of a wss member and a plain one: the first loop accepts both and hands
    // each to the loop with fewer connections, and whichever is not the session's loop is
    // handed on again, TLS session and all, before its handshake is answered.
    for s in 0..4 {
        let path = format!("/sessions/tls-{s}");
        let mut secure = TlsClient::connect(addr, &certs, Dialect::Rfc6455, &path);
        let mut plain = Client::connect(addr, &path, Dialect::Hybi07);
        assert_eq!(secure.recv(), b"session ready");
        assert_eq!(plain.recv_message(), Received::Text("session ready".into()));
        secure.send(MessageKind::Binary, &[s; 20_000]);
        assert_eq!(plain.recv_message(), Received::Binary(vec![s; 20_000]));
        plain.send_text("over TLS, back");
        assert_eq!(secure.recv(), b"over TLS, back");
    }
}
