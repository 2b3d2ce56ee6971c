//! Load generator of the echo benchmark: N WebSocket connections to one echo endpoint, each
//! keeping W messages in flight, for a fixed time; prints the echo throughput as one line.
//!
//! It is a bench-only tool built from the root package's dev-dependencies (a tokio-tungstenite
//! client on a current-thread runtime; `scripts/bench-echo.sh` pins it to its own core):
//!
//! ```text
//! cargo build --release --example loadgen
//! target/release/examples/loadgen --url ws://127.0.0.1:9001/echo --connections 100 \
//!     --size 20 --seconds 5 --window 16 --binary
//! ```
//!
//! Options (defaults in brackets): `--url URL` (required; `ws://` or `wss://`), `--ca FILE`
//! (PEM; the certificates a `wss://` server's chain must lead to, required with `wss://`),
//! `--connections N` [100], `--size BYTES` [20], `--seconds S` measured [5], `--warmup S`
//! before measuring [1], `--window W` messages in flight per connection [16], `--binary`
//! [default] or `--text`, `--server-pid PID` to report that process's CPU use (all its
//! threads) while measuring, `--handshakes` for the handshake mode below.
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
//! Output, one line on stdout (MB = 10^6 bytes of payload echoed; `client_cpu` is the share of
//! one core this process used while measuring, a value near 1 means the load generator itself
//! may be the limit; `server_cpu`, only with `--server-pid`, is the same for the server, and
//! below 1 it means the server was not saturated or lost its core to other work):
//!
//! ```text
//! msgs_per_sec=123456 mb_per_sec=2.47 connections=100 size=20 errors=0 mode=binary window=16 seconds=5.000 messages=617280 client_cpu=0.98 server_cpu=0.99
//! ```
//!
//! # Handshake mode
//!
//! With `--handshakes`, N connections at a time each loop: connect TCP, the TLS handshake
//! (`wss://`; a full one, never resumed), the WebSocket opening handshake, the closing
//! handshake (our Close, the server's Close, then the end of the stream), and again. No
//! message is sent; `--size`, `--window` and the message type are ignored. The rate counts
//! the opening handshakes completed while measuring; a connection whose close fails is an
//! error like any other:
//!
//! ```text
//! handshakes_per_sec=2345 connections=8 errors=0 seconds=5.000 handshakes=11725 client_cpu=1.00 server_cpu=0.62
//! ```
//!
//! The exit status is 0 only if every connection opened, every echo was right and every
//! connection closed cleanly; otherwise the problems go to stderr and the status is 1
//! (2 for bad arguments).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{future, SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};

#[path = "bench_tls/mod.rs"]
mod bench_tls;
use bench_tls::MaybeTls;

/// Largest message and frame accepted, as in the peer server.
const MAX_SIZE: usize = 64 << 20;
/// Bound on opening one connection (TCP and opening handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on draining the echoes still in flight and closing, once the measurement is over.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Length of the sequence-number prefix of every message (hex digits).
const SEQ_DIGITS: usize = 16;
/// Problems printed in full; the rest are only counted.
const MAX_REPORTED: usize = 10;

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
    server_pid: Option<u32>,
}

fn usage() -> String {
    "usage: loadgen --url ws[s]://127.0.0.1:PORT/echo [--ca FILE] [--handshakes] \
     [--connections N] [--size BYTES] [--seconds S] [--warmup S] [--window W] \
     [--binary|--text] [--server-pid PID]"
        .to_string()
}

fn parse_options() -> Result<Options, String> {
    let mut opts = Options {
        url: String::new(),
        ca: None,
        handshakes: false,
        connections: 100,
        size: 20,
        seconds: 5.0,
        warmup: 1.0,
        window: 16,
        text: false,
        server_pid: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--url" => opts.url = value("--url")?,
            "--ca" => opts.ca = Some(value("--ca")?),
            "--handshakes" => opts.handshakes = true,
            "--connections" => opts.connections = parse_num(&value("--connections")?)?,
            "--size" => opts.size = parse_num(&value("--size")?)?,
            "--seconds" => opts.seconds = parse_num(&value("--seconds")?)?,
            "--warmup" => opts.warmup = parse_num(&value("--warmup")?)?,
            "--window" => opts.window = parse_num(&value("--window")?)?,
            "--binary" => opts.text = false,
            "--text" => opts.text = true,
            "--server-pid" => opts.server_pid = Some(parse_num(&value("--server-pid")?)?),
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
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

/// The messages of one connection: a sequence-number prefix over a per-connection pattern of
/// ASCII letters (valid UTF-8, so the same bytes serve text and binary runs).
struct Payloads {
    pattern: Vec<u8>,
    text: bool,
}

impl Payloads {
    fn new(connection: usize, size: usize, text: bool) -> Self {
        let pattern = (0..size)
            .map(|i| b'a' + ((i * 7 + connection * 13) % 26) as u8)
            .collect();
        Payloads { pattern, text }
    }

    /// Hex digits of `seq`; a message shorter than them carries the low digits.
    fn prefix(&self, seq: u64) -> ([u8; SEQ_DIGITS], usize) {
        let mut digits = [0u8; SEQ_DIGITS];
        for (i, d) in digits.iter_mut().enumerate() {
            let nibble = (seq >> (4 * (SEQ_DIGITS - 1 - i))) & 0xf;
            *d = b"0123456789abcdef"[nibble as usize];
        }
        let len = self.pattern.len().min(SEQ_DIGITS);
        (digits, len)
    }

    fn message(&self, seq: u64) -> Message {
        let (digits, len) = self.prefix(seq);
        let mut bytes = Vec::with_capacity(self.pattern.len());
        bytes.extend_from_slice(&digits[SEQ_DIGITS - len..]);
        bytes.extend_from_slice(&self.pattern[len..]);
        if self.text {
            // Hex digits and ASCII letters only, so this never fails.
            Message::text(String::from_utf8(bytes).expect("ASCII payload"))
        } else {
            Message::Binary(Bytes::from(bytes))
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
        if body.len() != self.pattern.len() {
            return Err(format!(
                "echo #{seq}: {} bytes, sent {}",
                body.len(),
                self.pattern.len()
            ));
        }
        let (digits, len) = self.prefix(seq);
        if body[..len] != digits[SEQ_DIGITS - len..] || body[len..] != self.pattern[len..] {
            return Err(format!(
                "echo #{seq}: content differs from the message sent"
            ));
        }
        Ok(())
    }
}

/// Counters shared by every connection and the measuring loop (one thread, relaxed atomics).
struct Shared {
    /// Echoes received, or in the handshake mode opening handshakes completed.
    done: AtomicU64,
    stop: AtomicBool,
}

type Ws = tokio_tungstenite::WebSocketStream<MaybeTls>;

/// Where connections go: the URL, its `HOST:PORT`, and for `wss://` the TLS connector and
/// the name the certificate must carry.
struct Target {
    url: String,
    addr: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Target {
    fn new(opts: &Options) -> Result<Target, String> {
        let (scheme, rest) = opts.url.split_once("://").unwrap_or_default();
        let authority = rest.split('/').next().unwrap_or_default();
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
            tls,
        })
    }

    /// One connection: TCP (with `TCP_NODELAY`, as servers and real clients set it), TLS for
    /// `wss://`, the opening handshake; all within `CONNECT_TIMEOUT`.
    async fn open(&self) -> Result<Ws, String> {
        let open = async {
            let tcp = tokio::net::TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            tcp.set_nodelay(true)
                .map_err(|e| format!("set_nodelay: {e}"))?;
            let tls = self.tls.as_ref().map(|(connector, name)| (connector, name));
            let stream = MaybeTls::connect(tls, tcp)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
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
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_SIZE))
        .max_frame_size(Some(MAX_SIZE))
}

/// Drives one connection until `shared.stop`, then closes it; returns its problems, if any.
async fn drive(ws: Ws, id: usize, opts: Arc<Options>, shared: Arc<Shared>) -> Vec<String> {
    let payloads = Payloads::new(id, opts.size, opts.text);
    let (mut tx, mut rx) = ws.split();
    let credits = Semaphore::new(opts.window);
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

/// The handshake mode's connection slot: open a connection, count it, close it with the
/// closing handshake, again, until `shared.stop`. Returns its problem, if any (the first
/// ends the slot).
async fn cycle(id: usize, target: Arc<Target>, shared: Arc<Shared>) -> Vec<String> {
    let result = async {
        while !shared.stop.load(Ordering::Relaxed) {
            let mut ws = target.open().await?;
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
    server_cpu: Option<f64>,
    errors: Vec<String>,
}

async fn run(opts: Options) -> Report {
    let opts = Arc::new(opts);
    let shared = Arc::new(Shared {
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let mut report = Report {
        count: 0,
        elapsed: Duration::ZERO,
        client_cpu: 0.0,
        server_cpu: None,
        errors: Vec::new(),
    };

    let target = match Target::new(&opts) {
        Ok(target) => Arc::new(target),
        Err(e) => {
            report.errors.push(e);
            return report;
        }
    };

    let tasks: Vec<_> = if opts.handshakes {
        (0..opts.connections)
            .map(|id| tokio::spawn(cycle(id, target.clone(), shared.clone())))
            .collect()
    } else {
        // Every connection is open before any sends, so the warm-up starts from the same
        // state on every server.
        let mut sockets = Vec::with_capacity(opts.connections);
        for id in 0..opts.connections {
            match target.open().await {
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
            .map(|(id, ws)| tokio::spawn(drive(ws, id, opts.clone(), shared.clone())))
            .collect()
    };

    tokio::time::sleep(Duration::from_secs_f64(opts.warmup)).await;
    let server_cpu_ns = || opts.server_pid.map(process_cpu_ns);
    let (start, start_done, start_cpu, start_server) = (
        Instant::now(),
        shared.done.load(Ordering::Relaxed),
        own_cpu_ns(),
        server_cpu_ns(),
    );
    tokio::time::sleep(Duration::from_secs_f64(opts.seconds)).await;
    let (end, end_done, end_cpu, end_server) = (
        Instant::now(),
        shared.done.load(Ordering::Relaxed),
        own_cpu_ns(),
        server_cpu_ns(),
    );
    shared.stop.store(true, Ordering::Relaxed);
    report.count = end_done - start_done;
    report.elapsed = end - start;
    let wall_ns = report.elapsed.as_nanos() as f64;
    report.client_cpu = end_cpu.saturating_sub(start_cpu) as f64 / wall_ns;
    report.server_cpu = start_server
        .zip(end_server)
        .map(|(a, b)| b.saturating_sub(a) as f64 / wall_ns);

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
    let server_cpu = report
        .server_cpu
        .map_or(String::new(), |share| format!(" server_cpu={share:.2}"));
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
        println!(
            "msgs_per_sec={rate:.0} mb_per_sec={:.2} connections={} size={} errors={} mode={} \
             window={} seconds={seconds:.3} messages={} client_cpu={:.2}{server_cpu}",
            rate * opts.size as f64 / 1e6,
            opts.connections,
            opts.size,
            report.errors.len(),
            if opts.text { "text" } else { "binary" },
            opts.window,
            report.count,
            report.client_cpu,
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
