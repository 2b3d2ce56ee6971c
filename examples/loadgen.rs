//! Load generator of the echo benchmarks: N WebSocket connections to one echo endpoint, each
//! keeping W messages in flight, for a fixed time; prints the echo throughput as one line.
//!
//! It is a bench-only tool built from the root package's dev-dependencies (a tokio-tungstenite
//! client on a current-thread runtime; `scripts/bench-echo.sh` pins it to its own core):
//!
//! ```text
//! cargo build --release --example loadgen
//! target/release/examples/loadgen --url ws://127.0.0.1:9001/echo --connections 100 \
//!     --size 20 --seconds 5 --window 16 --binary
//! target/release/examples/loadgen --url ws://127.0.0.1:9001/echo --connections 100 \
//!     --json --size 1024 --text --deflate --server-pid PID
//! ```
//!
//! Options (defaults in brackets): `--url URL` (required; `ws://` or `wss://`), `--ca FILE`
//! (PEM; the certificates a `wss://` server's chain must lead to, required with `wss://`),
//! `--connections N` [100], `--size BYTES` [20, or 1024 with `--json`], `--seconds S`
//! measured [5], `--warmup S` before measuring [1], `--window W` messages in flight per
//! connection [16], `--binary` [default] or `--text`, `--json` for the JSON-like payload
//! below, `--deflate` to offer permessage-deflate (below), `--server-pid PID` to report that
//! process's CPU use (all its threads) while measuring, `--handshakes` for the handshake mode
//! below.
//!
//! Over `wss://` each connection is a tokio-rustls client (rustls 0.23, ring, TLS 1.2 or 1.3,
//! ALPN `http/1.1`, no session resumption: `examples/bench_tls/`) and the rest is the same.
//!
//! Each connection sends W messages, then one more for every echo it receives. Every echo is
//! checked: its type (text for text, binary for binary), its length, and its content, which
//! names the connection and the message's sequence number, so a lost, reordered, truncated or
//! crossed echo is caught. When the time is up every connection stops sending, closes with the
//! closing handshake, and must have received every echo it was owed before the server's Close.
//!
//! # Payloads
//!
//! By default a message is its sequence number in hex over a per-connection pattern of
//! letters. With `--json` it is a JSON-like document of `--size` bytes (512 to 65536) from
//! `examples/bench_json/`: the same keys in every message, numbers, identifiers and names
//! that vary, a free-text field; 256 distinct documents, so a compressor sees realistic
//! redundancy rather than repeated bytes. At 1 KiB zlib level 6 makes about 0.53 of one
//! alone and about 0.29 of one within a stream that keeps its context.
//!
//! # Compression (`--deflate`)
//!
//! tungstenite has no permessage-deflate, so with `--deflate` each connection is spoken by
//! `ws-protocols` instead: its client handshake offers
//! `permessage-deflate; client_max_window_bits`, what npm `ws` and browsers offer by default
//! (full 15-bit windows both ways, context kept both ways unless the server asks otherwise),
//! and its `Connection` (client role, masking from the OS random source) compresses every
//! message it sends and inflates the server's through an `Inflater`. What the first
//! connection's server agreed is printed on stderr (the `Sec-WebSocket-Extensions` answer)
//! and in the line as `agreed=client:BITS:kept|reset,server:BITS:kept|reset` (or
//! `agreed=none` when the server declined: messages then go uncompressed, by the same code);
//! every connection must agree the same. The echo loop is the same closed loop: one task per
//! connection, which reads, checks each echo, and writes the next messages in one write.
//!
//! # Output
//!
//! One line on stdout (MB = 10^6 bytes of payload echoed; `client_cpu` is the share of one
//! core this process used while measuring, a value near 1 means the load generator itself may
//! be the limit; `server_cpu`, only with `--server-pid`, is the same for the server, and below
//! 1 it means the server was not saturated or lost its core to other work):
//!
//! ```text
//! msgs_per_sec=123456 mb_per_sec=2.47 connections=100 size=20 errors=0 mode=binary window=16 seconds=5.000 messages=617280 client_cpu=0.98 payload=pattern codec=tungstenite wire_out_per_msg=26.0 wire_in_per_msg=22.0 server_cpu=0.99 server_us_per_msg=1.61
//! ```
//!
//! `wire_out_per_msg` and `wire_in_per_msg` are the bytes this process wrote to and read from
//! its sockets while measuring (frame headers, masks and compressed payloads; over `wss://`
//! the WebSocket bytes before encryption), divided by the echoes received while measuring:
//! one message each way. `server_us_per_msg` is the server's CPU time while measuring divided
//! by those echoes (one message received and one sent per echo). With `--deflate` the line
//! ends with `agreed=...`.
//!
//! # Handshake mode
//!
//! With `--handshakes`, N connections at a time each loop: connect TCP, the TLS handshake
//! (`wss://`; a full one, never resumed), the WebSocket opening handshake, the closing
//! handshake (our Close, the server's Close, then the end of the stream), and again. No
//! message is sent; `--size`, `--window`, the message type and `--json` are ignored, and
//! `--deflate` is refused. The rate counts the opening handshakes completed while measuring; a
//! connection whose close fails is an error like any other:
//!
//! ```text
//! handshakes_per_sec=2345 connections=8 errors=0 seconds=5.000 handshakes=11725 client_cpu=1.00 server_cpu=0.62
//! ```
//!
//! The exit status is 0 only if every connection opened, every echo was right and every
//! connection closed cleanly; otherwise the problems go to stderr and the status is 1
//! (2 for bad arguments).

use std::io;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{future, SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use ws_protocols::compression::{Compression, Inflater};
use ws_protocols::connection::{Connection, OutboundOptions};
use ws_protocols::handshake::{client_request, ClientConfig, Status};
use ws_protocols::{Dialect, Event, Limits, MessageKind, Role};

#[path = "bench_tls/mod.rs"]
mod bench_tls;
use bench_tls::MaybeTls;

#[path = "bench_deflate/mod.rs"]
mod bench_deflate;
use bench_deflate::{deflate_offer, describe};

#[path = "bench_json/mod.rs"]
mod bench_json;
use bench_json::JsonMessages;

/// Largest message and frame accepted, as in the peer server.
const MAX_SIZE: usize = 64 << 20;
/// Largest `--json` message: the pool holds 256 of them.
const MAX_JSON_SIZE: usize = 64 << 10;
/// Bound on opening one connection (TCP and opening handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on draining the echoes still in flight and closing, once the measurement is over.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Length of the sequence-number prefix of every message (hex digits).
const SEQ_DIGITS: usize = 16;
/// Problems printed in full; the rest are only counted.
const MAX_REPORTED: usize = 10;
/// The `--deflate` path's read buffer, and the pieces its inflater hands out.
const READ_BUF: usize = 64 << 10;
const INFLATE_PIECE: usize = 16 << 10;

#[derive(Debug, Clone)]
struct Options {
    url: String,
    ca: Option<String>,
    handshakes: bool,
    connections: usize,
    size: usize,
    seconds: f64,
    warmup: f64,
    window: usize,
    text: bool,
    json: bool,
    deflate: bool,
    server_pid: Option<u32>,
}

fn usage() -> String {
    "usage: loadgen --url ws[s]://127.0.0.1:PORT/echo [--ca FILE] [--handshakes] \
     [--connections N] [--size BYTES] [--seconds S] [--warmup S] [--window W] \
     [--binary|--text] [--json] [--deflate] [--server-pid PID]"
        .to_string()
}

fn parse_options() -> Result<Options, String> {
    let mut opts = Options {
        url: String::new(),
        ca: None,
        handshakes: false,
        connections: 100,
        size: 0,
        seconds: 5.0,
        warmup: 1.0,
        window: 16,
        text: false,
        json: false,
        deflate: false,
        server_pid: None,
    };
    let mut size = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--url" => opts.url = value("--url")?,
            "--ca" => opts.ca = Some(value("--ca")?),
            "--handshakes" => opts.handshakes = true,
            "--connections" => opts.connections = parse_num(&value("--connections")?)?,
            "--size" => size = Some(parse_num(&value("--size")?)?),
            "--seconds" => opts.seconds = parse_num(&value("--seconds")?)?,
            "--warmup" => opts.warmup = parse_num(&value("--warmup")?)?,
            "--window" => opts.window = parse_num(&value("--window")?)?,
            "--binary" => opts.text = false,
            "--text" => opts.text = true,
            "--json" => opts.json = true,
            "--deflate" => opts.deflate = true,
            "--server-pid" => opts.server_pid = Some(parse_num(&value("--server-pid")?)?),
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    opts.size = size.unwrap_or(if opts.json { 1024 } else { 20 });
    match (opts.url.split_once("://"), &opts.ca) {
        (Some(("ws", _)), None) | (Some(("wss", _)), Some(_)) => {}
        (Some(("ws", _)), Some(_)) => return Err("--ca is for wss:// URLs".to_string()),
        (Some(("wss", _)), None) => return Err("a wss:// URL needs --ca FILE".to_string()),
        _ => return Err(format!("--url must be a ws:// or wss:// URL\n{}", usage())),
    }
    if opts.connections == 0 || opts.window == 0 || opts.size == 0 || opts.size > MAX_SIZE {
        return Err(format!(
            "--connections and --window must be at least 1, --size between 1 and {MAX_SIZE}"
        ));
    }
    if opts.json && !(bench_json::MIN_SIZE..=MAX_JSON_SIZE).contains(&opts.size) {
        return Err(format!(
            "with --json, --size must be between {} and {MAX_JSON_SIZE}",
            bench_json::MIN_SIZE
        ));
    }
    if opts.handshakes && opts.deflate {
        return Err("--deflate is for the echo mode, not --handshakes".to_string());
    }
    if !(opts.seconds > 0.0 && opts.seconds <= 3600.0 && (0.0..=600.0).contains(&opts.warmup)) {
        return Err("--seconds must be in (0, 3600] and --warmup in [0, 600]".to_string());
    }
    Ok(opts)
}

fn parse_num<T: std::str::FromStr>(text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| format!("bad number {text:?}: {e}"))
}

/// What a message is made of.
enum Body {
    /// A per-connection pattern of ASCII letters under the sequence number's hex digits.
    Pattern(Vec<u8>),
    /// The JSON-like documents of `bench_json`, shared by every connection.
    Json(Arc<JsonMessages>),
}

/// The messages of one connection (valid UTF-8 either way, so the same bytes serve text and
/// binary runs).
struct Payloads {
    body: Body,
    connection: usize,
    text: bool,
}

impl Payloads {
    fn new(connection: usize, opts: &Options, json: Option<&Arc<JsonMessages>>) -> Self {
        let body = match json {
            Some(json) => Body::Json(json.clone()),
            None => Body::Pattern(
                (0..opts.size)
                    .map(|i| b'a' + ((i * 7 + connection * 13) % 26) as u8)
                    .collect(),
            ),
        };
        Payloads {
            body,
            connection,
            text: opts.text,
        }
    }

    /// Hex digits of `seq`; a message shorter than them carries the low digits.
    fn prefix(seq: u64, size: usize) -> ([u8; SEQ_DIGITS], usize) {
        let mut digits = [0u8; SEQ_DIGITS];
        for (i, d) in digits.iter_mut().enumerate() {
            let nibble = (seq >> (4 * (SEQ_DIGITS - 1 - i))) & 0xf;
            *d = b"0123456789abcdef"[nibble as usize];
        }
        (digits, size.min(SEQ_DIGITS))
    }

    /// Message `seq`, written over `out`.
    fn write(&self, seq: u64, out: &mut Vec<u8>) {
        match &self.body {
            Body::Pattern(pattern) => {
                let (digits, len) = Self::prefix(seq, pattern.len());
                out.clear();
                out.extend_from_slice(&digits[SEQ_DIGITS - len..]);
                out.extend_from_slice(&pattern[len..]);
            }
            Body::Json(json) => json.message(self.connection, seq, out),
        }
    }

    fn message(&self, seq: u64) -> Message {
        let mut bytes = Vec::new();
        self.write(seq, &mut bytes);
        if self.text {
            // Hex digits and ASCII only, so this never fails.
            Message::text(String::from_utf8(bytes).expect("ASCII payload"))
        } else {
            Message::Binary(Bytes::from(bytes))
        }
    }

    /// Whether `body` is the content of message `seq`.
    fn check_body(&self, seq: u64, body: &[u8]) -> Result<(), String> {
        let right = match &self.body {
            Body::Pattern(pattern) => {
                let (digits, len) = Self::prefix(seq, pattern.len());
                body.len() == pattern.len()
                    && body[..len] == digits[SEQ_DIGITS - len..]
                    && body[len..] == pattern[len..]
            }
            Body::Json(json) => json.matches(self.connection, seq, body),
        };
        if right {
            Ok(())
        } else {
            Err(format!(
                "echo #{seq}: {} bytes that differ from the message sent",
                body.len()
            ))
        }
    }

    fn check(&self, seq: u64, echo: &Message) -> Result<(), String> {
        let body: &[u8] = match (echo, self.text) {
            (Message::Text(t), true) => t.as_bytes(),
            (Message::Binary(b), false) => b,
            (Message::Text(_), false) => return Err(format!("echo #{seq}: text for binary")),
            (Message::Binary(_), true) => return Err(format!("echo #{seq}: binary for text")),
            (other, _) => return Err(format!("echo #{seq}: unexpected {other:?}")),
        };
        self.check_body(seq, body)
    }
}

/// Counters shared by every connection and the measuring loop (one thread, relaxed atomics).
struct Shared {
    /// Echoes received, or in the handshake mode opening handshakes completed.
    done: AtomicU64,
    /// Bytes read from and written to every connection's socket.
    wire_in: AtomicU64,
    wire_out: AtomicU64,
    stop: AtomicBool,
}

/// A connection's stream, counting what passes through it into [`Shared`].
struct Counted {
    inner: MaybeTls,
    shared: Arc<Shared>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.shared
            .wire_in
            .fetch_add(read as u64, Ordering::Relaxed);
        result
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = result {
            self.shared
                .wire_out
                .fetch_add(written as u64, Ordering::Relaxed);
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(written)) = result {
            self.shared
                .wire_out
                .fetch_add(written as u64, Ordering::Relaxed);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

type Ws = tokio_tungstenite::WebSocketStream<Counted>;

/// Where connections go: the URL, its `HOST:PORT`, its authority and resource, and for
/// `wss://` the TLS connector and the name the certificate must carry.
struct Target {
    url: String,
    addr: String,
    authority: String,
    resource: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Target {
    fn new(opts: &Options) -> Result<Target, String> {
        let (scheme, rest) = opts.url.split_once("://").unwrap_or_default();
        let (authority, resource) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let has_port = authority.rsplit_once(':').is_some() && !authority.ends_with(']');
        let addr = match (has_port, scheme) {
            (true, _) => authority.to_owned(),
            (false, "wss") => format!("{authority}:443"),
            (false, _) => format!("{authority}:80"),
        };
        let tls = match &opts.ca {
            Some(ca) => Some((
                TlsConnector::from(bench_tls::client_config(ca.as_ref())?),
                bench_tls::server_name(authority)?,
            )),
            None => None,
        };
        Ok(Target {
            url: opts.url.clone(),
            addr,
            authority: authority.to_owned(),
            resource: resource.to_owned(),
            tls,
        })
    }

    /// TCP (with `TCP_NODELAY`, as servers and real clients set it) and TLS for `wss://`,
    /// counted.
    async fn connect(&self, shared: &Arc<Shared>) -> Result<Counted, String> {
        let tcp = tokio::net::TcpStream::connect(&self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true)
            .map_err(|e| format!("set_nodelay: {e}"))?;
        let tls = self.tls.as_ref().map(|(connector, name)| (connector, name));
        let inner = MaybeTls::connect(tls, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        Ok(Counted {
            inner,
            shared: shared.clone(),
        })
    }

    /// One tungstenite connection: [`Target::connect`] and the opening handshake, within
    /// `CONNECT_TIMEOUT`.
    async fn open(&self, shared: &Arc<Shared>) -> Result<Ws, String> {
        let open = async {
            let stream = self.connect(shared).await?;
            let (ws, _response) = tokio_tungstenite::client_async_with_config(
                self.url.as_str(),
                stream,
                Some(config()),
            )
            .await
            .map_err(|e| format!("opening handshake: {e}"))?;
            Ok(ws)
        };
        tokio::time::timeout(CONNECT_TIMEOUT, open)
            .await
            .unwrap_or_else(|_| Err(format!("no handshake within {CONNECT_TIMEOUT:?}")))
    }

    /// One `ws-protocols` connection offering permessage-deflate ([`deflate_offer`]):
    /// [`Target::connect`] and the opening handshake, within `CONNECT_TIMEOUT`.
    async fn open_own(&self, shared: &Arc<Shared>) -> Result<Own, String> {
        let open = async {
            let mut stream = self.connect(shared).await?;
            let cfg = ClientConfig {
                secure: self.tls.is_some(),
                compression: Some(deflate_offer()),
                ..ClientConfig::new(Dialect::Rfc6455, &self.authority, &self.resource)
            };
            let mut request = Vec::new();
            let mut random = Ok(());
            let handshake = client_request(
                &cfg,
                &mut |buf| {
                    if let Err(e) = getrandom::fill(buf) {
                        random = Err(format!("OS random source: {e}"));
                    }
                },
                &mut request,
            );
            random?;
            stream
                .write_all(&request)
                .await
                .map_err(|e| format!("writing the request: {e}"))?;
            let mut got = Vec::with_capacity(1024);
            let response = loop {
                let mut chunk = [0u8; 2048];
                let n = stream
                    .read(&mut chunk)
                    .await
                    .map_err(|e| format!("reading the response: {e}"))?;
                if n == 0 {
                    return Err("closed during the opening handshake".to_string());
                }
                got.extend_from_slice(&chunk[..n]);
                match handshake.read_response(&got) {
                    Ok(Status::Complete(response)) => break response,
                    Ok(Status::Partial) => {}
                    Err(e) => return Err(format!("opening handshake: {e}")),
                }
            };
            let mut seed = [0u8; 16];
            getrandom::fill(&mut seed).map_err(|e| format!("OS random source: {e}"))?;
            let limits = Limits::default()
                .max_frame(MAX_SIZE as u64)
                .max_message(MAX_SIZE as u64);
            let mut conn = Connection::new(
                Dialect::Rfc6455,
                Role::Client,
                &limits,
                seed,
                OutboundOptions::default(),
            );
            let inflater = response
                .compression
                .map(|agreed| conn.set_compression(&agreed, 0, MAX_SIZE as u64));
            let extensions: Vec<String> = response
                .headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
                .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
                .collect();
            Ok(Own {
                stream,
                conn,
                inflater,
                leftover: got[response.consumed..].to_vec(),
                agreed: response.compression,
                extensions: extensions.join(", "),
            })
        };
        tokio::time::timeout(CONNECT_TIMEOUT, open)
            .await
            .unwrap_or_else(|_| Err(format!("no handshake within {CONNECT_TIMEOUT:?}")))
    }
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_SIZE))
        .max_frame_size(Some(MAX_SIZE))
}

/// A connection spoken by `ws-protocols` (the `--deflate` path).
struct Own {
    stream: Counted,
    conn: Connection,
    /// Present when compression was agreed.
    inflater: Option<Inflater>,
    /// Bytes read past the server's response: frames already.
    leftover: Vec<u8>,
    agreed: Option<Compression>,
    /// The server's `Sec-WebSocket-Extensions` answer ("" if none).
    extensions: String,
}

/// Drives one connection until `shared.stop`, then closes it; returns its problems, if any.
async fn drive(
    ws: Ws,
    id: usize,
    payloads: Payloads,
    window: usize,
    shared: Arc<Shared>,
) -> Vec<String> {
    let (mut tx, mut rx) = ws.split();
    let credits = Semaphore::new(window);
    let sent = AtomicU64::new(0);
    let closing = AtomicBool::new(false);

    let writer = async {
        let mut seq = 0u64;
        let result = async {
            // Wait for one credit, then spend every credit at hand before one flush.
            while let Ok(permit) = credits.acquire().await {
                permit.forget();
                if shared.stop.load(Ordering::Relaxed) {
                    break;
                }
                tx.feed(payloads.message(seq)).await?;
                seq += 1;
                while let Ok(permit) = credits.try_acquire() {
                    permit.forget();
                    tx.feed(payloads.message(seq)).await?;
                    seq += 1;
                }
                tx.flush().await?;
            }
            sent.store(seq, Ordering::Relaxed);
            if credits.is_closed() {
                return Ok(()); // the reader failed and has reported why; nothing to close
            }
            closing.store(true, Ordering::Relaxed);
            tx.close().await
        }
        .await;
        result.map_err(|e| format!("send: {e}"))
    };

    let reader = async {
        let mut received = 0u64;
        let fail = |e: String| {
            // Wake the writer so that the connection ends now rather than at the drain bound.
            credits.close();
            Err(e)
        };
        loop {
            match rx.next().await {
                Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => {
                    if let Err(e) = payloads.check(received, &msg) {
                        return fail(e);
                    }
                    received += 1;
                    shared.done.fetch_add(1, Ordering::Relaxed);
                    credits.add_permits(1);
                }
                Some(Ok(Message::Close(frame))) => {
                    if !closing.load(Ordering::Relaxed) {
                        return fail(format!("server closed the connection first: {frame:?}"));
                    }
                }
                Some(Ok(_)) => {} // pings are answered by tungstenite; pongs are not ours
                Some(Err(e)) => return fail(format!("receive: {e}")),
                None if closing.load(Ordering::Relaxed) => break,
                None => return fail("connection ended before it was closed".to_string()),
            }
        }
        let owed = sent.load(Ordering::Relaxed);
        if received != owed {
            return Err(format!("{received} echoes before the Close, sent {owed}"));
        }
        Ok(())
    };

    let (sent_result, received_result) = future::join(writer, reader).await;
    [sent_result, received_result]
        .into_iter()
        .filter_map(Result::err)
        .map(|e| format!("connection {id}: {e}"))
        .collect()
}

/// [`drive`] for a `ws-protocols` connection: one task that reads, checks each echo (inflated
/// when compressed) and writes the next messages, the pongs and closes its `Connection` owes,
/// in one write per read.
async fn drive_own(
    own: Own,
    id: usize,
    payloads: Payloads,
    window: usize,
    shared: Arc<Shared>,
) -> Vec<String> {
    echo_own(own, &payloads, window, &shared)
        .await
        .err()
        .map(|e| format!("connection {id}: {e}"))
        .into_iter()
        .collect()
}

async fn echo_own(
    mut own: Own,
    payloads: &Payloads,
    window: usize,
    shared: &Shared,
) -> Result<(), String> {
    let kind = if payloads.text {
        MessageKind::Text
    } else {
        MessageKind::Binary
    };
    // Bytes read and not yet decoded are buf[start..end].
    let mut buf = std::mem::take(&mut own.leftover);
    let (mut start, mut end) = (0, buf.len());
    buf.resize(READ_BUF.max(end), 0);
    let mut out = vec![0u8; INFLATE_PIECE];
    let mut tx = Vec::new();
    let mut message = Vec::new();
    let mut echo = Vec::new();
    let (mut sent, mut received) = (0u64, 0u64);
    let mut closing = false;
    let mut peer_closed = false;
    let mut send = |seq: u64, conn: &mut Connection, tx: &mut Vec<u8>| {
        payloads.write(seq, &mut message);
        conn.outbound
            .send_whole(kind, &message, tx)
            .map_err(|e| format!("send: {e}"))
    };
    while sent < window as u64 {
        send(sent, &mut own.conn, &mut tx)?;
        sent += 1;
    }
    loop {
        if !closing && shared.stop.load(Ordering::Relaxed) && received == sent {
            own.conn
                .outbound
                .close(1000, "", &mut tx)
                .map_err(|e| format!("close: {e}"))?;
            closing = true;
        }
        if !tx.is_empty() {
            own.stream
                .write_all(&tx)
                .await
                .map_err(|e| format!("send: {e}"))?;
            tx.clear();
        }
        if start == end {
            (start, end) = (0, 0);
        } else if end == buf.len() {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        let n = own
            .stream
            .read(&mut buf[end..])
            .await
            .map_err(|e| format!("receive: {e}"))?;
        if n == 0 {
            return match (closing, peer_closed) {
                (true, true) if received == sent => Ok(()),
                (true, true) => Err(format!("{received} echoes before the Close, sent {sent}")),
                _ => Err("connection ended before it was closed".to_string()),
            };
        }
        end += n;
        // Until the decoder wants more bytes (a message's end may come with none left).
        while !peer_closed {
            let (used, event) = own
                .conn
                .read(&mut buf[start..end], &mut tx)
                .map_err(|e| format!("receive: {e}"))?;
            start += used;
            let Some(event) = event else {
                if used == 0 {
                    break; // a partial frame: wait for more bytes
                }
                continue;
            };
            // What the (inflated) event says, gathered here and acted on below.
            let mut started = None;
            let mut ended = false;
            let mut close = None;
            let mut take = |event: Event<'_>| {
                match event {
                    Event::MessageStart { kind, .. } => {
                        started = Some(kind);
                        echo.clear();
                    }
                    Event::Data(data) => echo.extend_from_slice(data),
                    Event::MessageEnd => ended = true,
                    Event::Close(frame) => close = Some(frame.code),
                    _ => {} // pings were answered by `read`; pongs are not ours
                }
                true
            };
            match own.inflater.as_mut() {
                Some(inflater) => {
                    inflater
                        .route(event, &mut out, &mut take)
                        .map_err(|e| format!("inflate: {e}"))?;
                }
                None => {
                    take(event);
                }
            }
            if started.is_some_and(|got| got != kind) {
                return Err(format!("echo #{received}: {started:?} for {kind:?}"));
            }
            if ended {
                payloads.check_body(received, &echo)?;
                received += 1;
                shared.done.fetch_add(1, Ordering::Relaxed);
                if !shared.stop.load(Ordering::Relaxed) {
                    send(sent, &mut own.conn, &mut tx)?;
                    sent += 1;
                }
            }
            if let Some(code) = close {
                if !closing {
                    return Err(format!("server closed the connection first: {code:?}"));
                }
                peer_closed = true;
            }
        }
    }
}

/// The handshake mode's connection slot: open a connection, count it, close it with the
/// closing handshake, again, until `shared.stop`. Returns its problem, if any (the first
/// ends the slot).
async fn cycle(id: usize, target: Arc<Target>, shared: Arc<Shared>) -> Vec<String> {
    let result = async {
        while !shared.stop.load(Ordering::Relaxed) {
            let mut ws = target.open(&shared).await?;
            shared.done.fetch_add(1, Ordering::Relaxed);
            let close = async {
                ws.close(None).await.map_err(|e| format!("close: {e}"))?;
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Close(_))) => {}
                        None => return Ok(()),
                        Some(Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed)) => {
                            return Ok(())
                        }
                        Some(Ok(other)) => return Err(format!("unexpected {other:?}")),
                        Some(Err(e)) => return Err(format!("closing: {e}")),
                    }
                }
            };
            tokio::time::timeout(CONNECT_TIMEOUT, close)
                .await
                .unwrap_or_else(|_| Err(format!("not closed within {CONNECT_TIMEOUT:?}")))?;
        }
        Ok::<(), String>(())
    }
    .await;
    result
        .err()
        .map(|e| format!("connection slot {id}: {e}"))
        .into_iter()
        .collect()
}

/// CPU time used by one thread, in nanoseconds, from its `schedstat` file (Linux; 0 elsewhere).
fn schedstat_ns(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time this process's main thread (the runtime's only thread) has used, in nanoseconds.
fn own_cpu_ns() -> u64 {
    schedstat_ns("/proc/thread-self/schedstat".as_ref())
}

/// CPU time all live threads of process `pid` have used, in nanoseconds.
fn process_cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .map(|task| schedstat_ns(&task.path().join("schedstat")))
        .sum()
}

struct Report {
    /// Echoes received, or handshakes completed, while measuring.
    count: u64,
    elapsed: Duration,
    client_cpu: f64,
    /// The server's CPU time while measuring, in nanoseconds.
    server_cpu_ns: Option<u64>,
    /// Bytes written to and read from the sockets while measuring.
    wire_out: u64,
    wire_in: u64,
    /// With `--deflate`: what was agreed.
    agreed: Option<String>,
    errors: Vec<String>,
}

/// A snapshot of the counters.
struct Mark {
    at: Instant,
    done: u64,
    wire_in: u64,
    wire_out: u64,
    own_cpu: u64,
    server_cpu: Option<u64>,
}

impl Mark {
    fn now(shared: &Shared, server_pid: Option<u32>) -> Mark {
        Mark {
            at: Instant::now(),
            done: shared.done.load(Ordering::Relaxed),
            wire_in: shared.wire_in.load(Ordering::Relaxed),
            wire_out: shared.wire_out.load(Ordering::Relaxed),
            own_cpu: own_cpu_ns(),
            server_cpu: server_pid.map(process_cpu_ns),
        }
    }
}

async fn run(opts: Options) -> Report {
    let opts = Arc::new(opts);
    let shared = Arc::new(Shared {
        done: AtomicU64::new(0),
        wire_in: AtomicU64::new(0),
        wire_out: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let mut report = Report {
        count: 0,
        elapsed: Duration::ZERO,
        client_cpu: 0.0,
        server_cpu_ns: None,
        wire_out: 0,
        wire_in: 0,
        agreed: None,
        errors: Vec::new(),
    };

    let target = match Target::new(&opts) {
        Ok(target) => Arc::new(target),
        Err(e) => {
            report.errors.push(e);
            return report;
        }
    };
    let json = match opts.json.then(|| JsonMessages::new(opts.size)).transpose() {
        Ok(json) => json.map(Arc::new),
        Err(e) => {
            report.errors.push(e);
            return report;
        }
    };
    let payloads = |id| Payloads::new(id, &opts, json.as_ref());

    let tasks: Vec<_> = if opts.handshakes {
        (0..opts.connections)
            .map(|id| tokio::spawn(cycle(id, target.clone(), shared.clone())))
            .collect()
    } else if opts.deflate {
        // Every connection is open before any sends, and agreed the same.
        let mut conns = Vec::with_capacity(opts.connections);
        for id in 0..opts.connections {
            let own = match target.open_own(&shared).await {
                Ok(own) => own,
                Err(e) => {
                    report.errors.push(format!("connection {id}: {e}"));
                    return report;
                }
            };
            let agreed = describe(own.agreed.as_ref());
            match &report.agreed {
                None => {
                    eprintln!(
                        "loadgen: offered {:?}; the server answered {:?} ({agreed})",
                        ws_protocols::compression::offer(&deflate_offer()).unwrap_or_default(),
                        own.extensions
                    );
                    report.agreed = Some(agreed);
                }
                Some(first) if *first != agreed => {
                    report.errors.push(format!(
                        "connection {id}: agreed {agreed}, the first connection {first}"
                    ));
                    return report;
                }
                Some(_) => {}
            }
            conns.push(own);
        }
        conns
            .into_iter()
            .enumerate()
            .map(|(id, own)| {
                tokio::spawn(drive_own(
                    own,
                    id,
                    payloads(id),
                    opts.window,
                    shared.clone(),
                ))
            })
            .collect()
    } else {
        // Every connection is open before any sends, so the warm-up starts from the same
        // state on every server.
        let mut sockets = Vec::with_capacity(opts.connections);
        for id in 0..opts.connections {
            match target.open(&shared).await {
                Ok(ws) => sockets.push(ws),
                Err(e) => {
                    report.errors.push(format!("connection {id}: {e}"));
                    return report;
                }
            }
        }
        sockets
            .into_iter()
            .enumerate()
            .map(|(id, ws)| tokio::spawn(drive(ws, id, payloads(id), opts.window, shared.clone())))
            .collect()
    };

    tokio::time::sleep(Duration::from_secs_f64(opts.warmup)).await;
    let start = Mark::now(&shared, opts.server_pid);
    tokio::time::sleep(Duration::from_secs_f64(opts.seconds)).await;
    let end = Mark::now(&shared, opts.server_pid);
    shared.stop.store(true, Ordering::Relaxed);
    report.count = end.done - start.done;
    report.elapsed = end.at - start.at;
    report.wire_in = end.wire_in - start.wire_in;
    report.wire_out = end.wire_out - start.wire_out;
    let wall_ns = report.elapsed.as_nanos() as f64;
    report.client_cpu = end.own_cpu.saturating_sub(start.own_cpu) as f64 / wall_ns;
    report.server_cpu_ns = start
        .server_cpu
        .zip(end.server_cpu)
        .map(|(a, b)| b.saturating_sub(a));

    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    for (id, task) in tasks.into_iter().enumerate() {
        let abort = task.abort_handle();
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(problems)) => report.errors.extend(problems),
            Ok(Err(e)) => report.errors.push(format!("connection {id}: task: {e}")),
            Err(_) => {
                abort.abort();
                report.errors.push(format!(
                    "connection {id}: not drained and closed within {DRAIN_TIMEOUT:?} of the end"
                ));
            }
        }
    }
    report
}

fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the current-thread runtime");
    let report = runtime.block_on(run(opts.clone()));
    // Connections not yet closed (after an early failure) are dropped with the runtime.
    drop(runtime);

    let seconds = report.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        report.count as f64 / seconds
    } else {
        0.0
    };
    let server_cpu = report.server_cpu_ns.map_or(String::new(), |ns| {
        format!(" server_cpu={:.2}", ns as f64 / (seconds * 1e9))
    });
    if opts.handshakes {
        println!(
            "handshakes_per_sec={rate:.0} connections={} errors={} seconds={seconds:.3} \
             handshakes={} client_cpu={:.2}{server_cpu}",
            opts.connections,
            report.errors.len(),
            report.count,
            report.client_cpu,
        );
    } else {
        let per_msg = |total: f64| {
            if report.count > 0 {
                total / report.count as f64
            } else {
                0.0
            }
        };
        let server_us = report.server_cpu_ns.map_or(String::new(), |ns| {
            format!(" server_us_per_msg={:.2}", per_msg(ns as f64 / 1e3))
        });
        let agreed = report
            .agreed
            .as_ref()
            .map_or(String::new(), |agreed| format!(" agreed={agreed}"));
        println!(
            "msgs_per_sec={rate:.0} mb_per_sec={:.2} connections={} size={} errors={} mode={} \
             window={} seconds={seconds:.3} messages={} client_cpu={:.2} payload={} codec={} \
             wire_out_per_msg={:.1} wire_in_per_msg={:.1}{server_cpu}{server_us}{agreed}",
            rate * opts.size as f64 / 1e6,
            opts.connections,
            opts.size,
            report.errors.len(),
            if opts.text { "text" } else { "binary" },
            opts.window,
            report.count,
            report.client_cpu,
            if opts.json { "json" } else { "pattern" },
            if opts.deflate {
                "ws-protocols"
            } else {
                "tungstenite"
            },
            per_msg(report.wire_out as f64),
            per_msg(report.wire_in as f64),
        );
    }
    for e in report.errors.iter().take(MAX_REPORTED) {
        eprintln!("loadgen: {e}");
    }
    if report.errors.len() > MAX_REPORTED {
        eprintln!(
            "loadgen: ... and {} more",
            report.errors.len() - MAX_REPORTED
        );
    }
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
