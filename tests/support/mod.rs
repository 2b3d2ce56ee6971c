//! Test support: a server on 127.0.0.1:0 in a thread, and a blocking client of any dialect
//! built from the protocols crate. Every socket operation has a deadline; no sleeps for
//! synchronisation.
#![allow(dead_code)]

pub mod cli;
pub mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;
use ws::protocols::handshake::{client_request, ClientConfig, Status};
use ws::protocols::{Decode, Decoder, Dialect, Encoder, Event, Limits, MessageKind, Role};
use ws::{Handle, Server, Settings};

pub const DEADLINE: Duration = Duration::from_secs(30);

/// Poll the server's stats until `done` holds, or fail after a deadline.
pub fn await_stats(server: &TestServer, what: &str, done: impl Fn(&ws::StatsSnapshot) -> bool) {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let stats = server.handle.stats();
        if done(&stats) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {stats:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: Handle,
    thread: Option<JoinHandle<Result<(), ws::Error>>>,
}

impl TestServer {
    /// Echo mounted at every path.
    pub fn echo(settings: Settings) -> Self {
        Self::start(Server::builder().settings(settings).route("*", ws::Echo))
    }

    pub fn start(builder: ws::Builder) -> Self {
        // RUST_LOG=ws=debug shows the server's side of a failing test.
        let _ = env_logger::builder().is_test(true).try_init();
        let server = builder.bind("127.0.0.1:0").expect("bind");
        let addr = server.local_addr().expect("bound");
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run());
        TestServer {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    /// Shut down and wait for the loop to return.
    pub fn stop(mut self) -> Result<(), ws::Error> {
        self.handle.shutdown().expect("shutdown");
        self.thread
            .take()
            .expect("running")
            .join()
            .expect("loop thread")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.handle.shutdown();
            let _ = thread.join();
        }
    }
}

pub fn raw_connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Send `request` and read until the server closes; returns everything it sent.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = raw_connect(addr);
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// Send `request` and read just the response head (up to CRLF CRLF).
pub fn response_head(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = raw_connect(addr);
    stream.write_all(request).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    head
}

/// The HTTP status of a response.
pub fn status_of(response: &[u8]) -> u16 {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    r.parse(response).expect("HTTP response");
    r.code.expect("status")
}

/// A deterministic "random" source for tests.
/// Send `config`'s opening handshake on `stream` and read the answer: the server's response
/// and every byte read (the response head, then whatever followed it).
pub fn handshake(
    stream: &mut (impl Read + Write),
    config: &ClientConfig,
) -> Result<(ws::protocols::handshake::ServerResponse, Vec<u8>), String> {
    let mut request = Vec::new();
    let handshake = client_request(config, &mut counter_random(), &mut request);
    stream.write_all(&request).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match handshake.read_response(&buf) {
            Ok(Status::Complete(response)) => return Ok((response, buf)),
            Ok(Status::Partial) => {}
            Err(e) => return Err(format!("{e} in {:?}", String::from_utf8_lossy(&buf))),
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "closed during handshake: {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub fn counter_random() -> impl FnMut(&mut [u8]) {
    let mut n = 0u8;
    move |buf: &mut [u8]| {
        for b in buf {
            n = n.wrapping_mul(73).wrapping_add(41);
            *b = n;
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    /// The server closed TCP.
    Eof,
}

pub struct Client {
    pub stream: TcpStream,
    pub dialect: Dialect,
    encoder: Encoder,
    decoder: Decoder,
    pending: Vec<u8>,
    message: Option<(MessageKind, Vec<u8>)>,
    pub subprotocol: Option<String>,
}

impl Client {
    pub fn connect(addr: SocketAddr, path: &str, dialect: Dialect) -> Self {
        Self::connect_with(addr, path, dialect, &[]).expect("handshake")
    }

    pub fn connect_with(
        addr: SocketAddr,
        path: &str,
        dialect: Dialect,
        subprotocols: &[&str],
    ) -> Result<Self, String> {
        Self::connect_full(addr, path, dialect, subprotocols, &[])
    }

    pub fn connect_full(
        addr: SocketAddr,
        path: &str,
        dialect: Dialect,
        subprotocols: &[&str],
        extra_headers: &[(&str, &str)],
    ) -> Result<Self, String> {
        let mut stream = raw_connect(addr);
        let host = addr.to_string();
        let config = ClientConfig {
            origin: Some("http://example.com"),
            subprotocols,
            extra_headers,
            ..ClientConfig::new(dialect, &host, path)
        };
        let (response, buf) = handshake(&mut stream, &config)?;
        Ok(Client {
            stream,
            dialect,
            // hybi-04: the connection key the server's nonce gave (docs/protocols.md §3.3).
            encoder: Encoder::client_with_connection_key(dialect, [9; 16], response.connection_key),
            decoder: Decoder::new(
                dialect,
                Role::Client,
                &Limits::default().max_message(1 << 30).max_frame(1 << 30),
            ),
            pending: buf[response.consumed..].to_vec(),
            message: None,
            subprotocol: response.subprotocol,
        })
    }

    pub fn send(&mut self, kind: MessageKind, payload: &[u8]) {
        let mut out = Vec::with_capacity(payload.len() + 14);
        self.encoder
            .message(kind, payload, &mut out)
            .expect("encodable");
        self.stream.write_all(&out).expect("write");
    }

    pub fn send_text(&mut self, text: &str) {
        self.send(MessageKind::Text, text.as_bytes());
    }

    /// Send `payload` as a streamed message in pieces of `piece` bytes (fragments on hybi).
    pub fn send_streamed(&mut self, kind: MessageKind, payload: &[u8], piece: usize) {
        let mut out = self.encoder.begin(kind, None).unwrap().to_vec();
        for part in payload.chunks(piece) {
            out.extend_from_slice(&self.encoder.chunk(part.len()).unwrap());
            let start = out.len();
            out.extend_from_slice(part);
            self.encoder.mask_payload(&mut out[start..]);
        }
        out.extend_from_slice(&self.encoder.end().unwrap());
        self.stream.write_all(&out).unwrap();
    }

    pub fn send_control(&mut self, control: ws::protocols::frame::Control, payload: &[u8]) {
        let mut out = Vec::new();
        self.encoder.control(control, payload, &mut out).unwrap();
        self.stream.write_all(&out).unwrap();
    }

    pub fn send_close(&mut self, code: u16, reason: &str) {
        let mut out = Vec::new();
        self.encoder.close(Some(code), reason, &mut out).unwrap();
        self.stream.write_all(&out).unwrap();
    }

    /// The next message or control frame (or EOF).
    pub fn recv(&mut self) -> Received {
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let mut found = None;
            let mut pos = 0;
            while found.is_none() {
                let (n, event) = self
                    .decoder
                    .decode(&mut self.pending[pos..])
                    .expect("valid frames from the server");
                pos += n;
                let Some(event) = event else { break };
                found = match event {
                    Event::MessageStart { kind, .. } => {
                        self.message = Some((kind, Vec::new()));
                        None
                    }
                    Event::Data(d) => {
                        self.message
                            .as_mut()
                            .expect("open message")
                            .1
                            .extend_from_slice(d);
                        None
                    }
                    Event::MessageEnd => match self.message.take().expect("open message") {
                        (MessageKind::Text, b) => {
                            Some(Received::Text(String::from_utf8(b).unwrap()))
                        }
                        (MessageKind::Binary, b) => Some(Received::Binary(b)),
                    },
                    Event::Ping(p) => Some(Received::Ping(p.to_vec())),
                    Event::Pong(p) => Some(Received::Pong(p.to_vec())),
                    Event::Close(c) => Some(Received::Close(c.code, c.reason.to_owned())),
                    Event::Compressed { .. } => panic!("this decoder negotiated no compression"),
                };
            }
            self.pending.drain(..pos);
            if let Some(found) = found {
                return found;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Received::Eof,
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Received::Eof,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Read, without decoding, until the bytes not yet decoded contain `needle` (the start
    /// of a message the server is still forwarding, say). Later `recv` calls decode them.
    pub fn wait_for_bytes(&mut self, needle: &[u8]) {
        let mut chunk = vec![0u8; 64 << 10];
        while !self.pending.windows(needle.len()).any(|w| w == needle) {
            let n = self.stream.read(&mut chunk).expect("read");
            assert_ne!(n, 0, "EOF while waiting for {needle:?}");
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next data message, skipping pings (the server may keepalive).
    pub fn recv_message(&mut self) -> Received {
        loop {
            match self.recv() {
                Received::Ping(_) | Received::Pong(_) => {}
                other => return other,
            }
        }
    }
}

/// Send a `mib` MiB binary message of deterministic bytes from `sender` (streamed in 1 MiB
/// fragments, from a thread, while `receiver` reads) and check by SHA-256 that `receiver`
/// gets it whole. Gives the sender back.
pub fn pipe_checked(sender: Client, receiver: &mut Client, mib: u32) -> Client {
    use sha2::{Digest, Sha256};
    let payload: Vec<u8> = (0..mib << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let expected = Sha256::digest(&payload);
    let mut sender = sender;
    let writer = std::thread::spawn(move || {
        sender.send_streamed(MessageKind::Binary, &payload, 1 << 20);
        sender
    });
    match receiver.recv_message() {
        Received::Binary(got) => assert_eq!(Sha256::digest(&got), expected, "{mib} MiB"),
        other => panic!("expected the {mib} MiB message, got {other:?}"),
    }
    writer.join().unwrap()
}
