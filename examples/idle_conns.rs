//! Idle-connection memory benchmark: opens N WebSocket connections to one server, completes
//! every opening handshake, then reads the server's resident memory (`VmRSS`) and prints what
//! each idle connection costs it, as one line.
//!
//! It is a bench-only tool behind `scripts/bench-idle.sh` and `scripts/bench-deflate.sh`, built
//! from the root package's own dependencies (mio for the one-thread client loop; libc to raise
//! its descriptor limit; `ws-protocols` for compression and the first message):
//!
//! ```text
//! cargo build --release --example idle_conns
//! target/release/omniws --host 127.0.0.1 --port 9001 --max-connections 10016 &
//! target/release/examples/idle_conns --port 9001 --connections 10000 --server-pid $!
//! ```
//!
//! Options (defaults in brackets): `--port PORT` (required), `--host ADDR` [127.0.0.1],
//! `--path PATH` [/echo], `--connections N` [10000], `--dialects LIST` [rfc6455] (a comma list
//! used round-robin, of hixie-75, hixie-76, hybi-03, hybi-07, hybi-08, rfc6455; `13`, `8`,
//! `7`, `3`, `76`, `75` and `hybi-00` are accepted too), `--headers minimal|browser` [minimal]
//! (browser: the extra headers a browser sends, User-Agent, Origin, Accept-Language,
//! Sec-WebSocket-Extensions and the like, about 490 bytes of head instead of 160),
//! `--in-flight K` [256] handshakes under way at once (keep it under the server's
//! `--max-handshaking`, 1024 by default, or the server drops the oldest), `--server-pid PID`
//! whose `/proc/PID/status` is read (without it nothing is measured, the connections are
//! only opened and held), `--settle S` [1] seconds between the last handshake and the
//! measurement, `--hold S` [0] seconds to keep the connections open after it and measure
//! again (past the server's 30 s keepalive interval, this shows what an answered ping leaves
//! behind), `--timeout S` [120] to open them all, `--deflate` and `--send-first` (below).
//!
//! The requests are raw bytes (the handshake vectors of docs/protocols.md §8.1, with our host
//! and path), and every answer is checked: a `101` status line, the RFC 6455
//! `Sec-WebSocket-Accept` for the hybi dialects, the 16-byte MD5 answer for hixie-76 and
//! hybi-03. The connections then stay idle; the client answers keepalive pings (and a close)
//! so that a long `--hold` does not get them dropped.
//!
//! `VmRSS` is read once the server listens and before the first connection, and again
//! `--settle` seconds after the last `101`. Output, one line on stdout (KiB = 1024 bytes;
//! `bytes_per_conn` is `(rss_after - rss_before) / N`; `anon_delta_kib` is the part of the
//! growth that is anonymous memory, the heap; the kernel's socket buffers are not in `VmRSS`
//! at all):
//!
//! ```text
//! bytes_per_conn=2282 connections=10000 rss_before_kib=3212 rss_after_kib=25500 rss_delta_kib=22288 anon_delta_kib=22224 dialects=rfc6455 headers=minimal open_seconds=0.396
//! ```
//!
//! # Compression and traffic before idling
//!
//! `--deflate` offers `permessage-deflate; client_max_window_bits` (what npm `ws` and
//! browsers offer; hybi-07, hybi-08 and RFC 6455 only), and the server's answer is checked
//! against the offer with `ws-protocols`' client rules; the line then says what was agreed,
//! `agreed=client:BITS:kept|reset,server:BITS:kept|reset`, or `agreed=none` if the server
//! declined (every connection must agree the same).
//!
//! `--send-first` sends one message on each connection once it is open, `--first-size`
//! bytes [1024] of the JSON-like text of `examples/bench_json/` (message 0 of the
//! connection's stream), compressed when compression was agreed, and waits for its echo
//! (inflated, and checked byte for byte) before the connection counts as open; so by the
//! time memory is read, every connection's inflate and deflate state has been used once, on
//! both sides. The client's own `ws-protocols` connection for this exchange is dropped once
//! the echo is in (the server is not told: it keeps whatever context it agreed to keep).
//! The line then has `first_size=BYTES`.
//!
//! With `--hold S` the line goes on with `held_seconds`, `pings_answered`,
//! `rss_after_hold_kib` and `bytes_per_conn_after_hold`. Exit status 0 if every connection
//! opened (and stayed open while held), 1 otherwise (the problem on stderr), 2 for bad
//! arguments.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use ws_protocols::compression::{
    accept_response, dialect_compresses, offer, Compression, Inflater,
};
use ws_protocols::connection::{Connection, OutboundOptions};
use ws_protocols::{Event, Limits, MessageKind, Role};

#[path = "bench_deflate/mod.rs"]
mod bench_deflate;
use bench_deflate::{deflate_offer, describe};

#[path = "bench_json/mod.rs"]
mod bench_json;
use bench_json::JsonMessages;

/// The key of RFC 6455 §1.3 and the accept value it must get back.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
/// The keys of the hixie-76 example (docs/protocols.md §8.1, V2) and the MD5 answer to them;
/// the answer does not depend on the host or the path.
const KEY1: &str = "4 @1  46546xW%0l 1 5";
const KEY2: &str = "12998 5 Y3 1  .P00";
const KEY3: &[u8; 8] = b"^n:ds[4U";
const HIXIE76_ANSWER: &[u8; 16] = b"8jKS'y:G*Co,Wxa-";
/// What Chrome sends as its user agent; any long-ish string would do.
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                          Chrome/126.0.0.0 Safari/537.36";
/// Descriptors this process needs besides its connections (std streams, poll, slack).
const SPARE_FDS: u64 = 32;
/// Problems printed in full; the rest are only counted.
const MAX_REPORTED: usize = 10;
/// Largest `--first-size` (the JSON pool holds 256 messages of it).
const MAX_FIRST_SIZE: usize = 64 << 10;
/// Pieces the first message's echo is inflated in.
const INFLATE_PIECE: usize = 16 << 10;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Dialect {
    Hixie75,
    Hixie76,
    Hybi03,
    Hybi07,
    Hybi08,
    Rfc6455,
}

/// How the server's frames look to this client.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Framing {
    /// hixie-75/76: `00 .. FF` text, `FF 00` close (hixie-76 only), no ping.
    Sentinel,
    /// hybi-03: MORE bit, close 1, ping 2, pong 3, never masked.
    MoreBit,
    /// hybi-07+: FIN bit, close 8, ping 9, pong 10, client frames masked.
    Hybi,
}

impl Dialect {
    fn parse(name: &str) -> Option<Dialect> {
        Some(match name {
            "hixie-75" | "75" => Dialect::Hixie75,
            "hixie-76" | "hybi-00" | "76" => Dialect::Hixie76,
            "hybi-03" | "3" => Dialect::Hybi03,
            "hybi-07" | "7" => Dialect::Hybi07,
            "hybi-08" | "8" => Dialect::Hybi08,
            "rfc6455" | "13" => Dialect::Rfc6455,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Dialect::Hixie75 => "hixie-75",
            Dialect::Hixie76 => "hixie-76",
            Dialect::Hybi03 => "hybi-03",
            Dialect::Hybi07 => "hybi-07",
            Dialect::Hybi08 => "hybi-08",
            Dialect::Rfc6455 => "rfc6455",
        }
    }

    /// The same dialect in `ws-protocols`.
    fn protocols(self) -> ws_protocols::Dialect {
        match self {
            Dialect::Hixie75 => ws_protocols::Dialect::Hixie75,
            Dialect::Hixie76 => ws_protocols::Dialect::Hixie76,
            Dialect::Hybi03 => ws_protocols::Dialect::Hybi03,
            Dialect::Hybi07 => ws_protocols::Dialect::Hybi07,
            Dialect::Hybi08 => ws_protocols::Dialect::Hybi08,
            Dialect::Rfc6455 => ws_protocols::Dialect::Rfc6455,
        }
    }

    /// Whether its request offers permessage-deflate (`--deflate`, or a browser's headers).
    fn offers_deflate(self, browser: bool, deflate: bool) -> bool {
        self.framing() == Framing::Hybi && (browser || deflate)
    }

    fn framing(self) -> Framing {
        match self {
            Dialect::Hixie75 | Dialect::Hixie76 => Framing::Sentinel,
            Dialect::Hybi03 => Framing::MoreBit,
            Dialect::Hybi07 | Dialect::Hybi08 | Dialect::Rfc6455 => Framing::Hybi,
        }
    }

    /// Bytes of the server's answer after its head: the MD5 answer of the hixie-76 family.
    fn answer_len(self) -> usize {
        match self {
            Dialect::Hixie76 | Dialect::Hybi03 => HIXIE76_ANSWER.len(),
            _ => 0,
        }
    }

    /// The opening handshake request, key3 included.
    fn request(self, host: &str, path: &str, browser: bool, deflate: bool) -> Vec<u8> {
        let mut head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n");
        let mut add = |name: &str, value: &str| {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        };
        let origin = format!("http://{host}");
        match self.framing() {
            Framing::Sentinel | Framing::MoreBit => {
                add("Upgrade", "WebSocket");
                add("Connection", "Upgrade");
                if self != Dialect::Hixie75 {
                    add("Sec-WebSocket-Key1", KEY1);
                    add("Sec-WebSocket-Key2", KEY2);
                }
                if self == Dialect::Hybi03 {
                    add("Sec-WebSocket-Draft", "3");
                }
                if browser {
                    add("Origin", &origin);
                    add("User-Agent", USER_AGENT);
                }
            }
            Framing::Hybi => {
                add("Upgrade", "websocket");
                add("Connection", "Upgrade");
                add("Sec-WebSocket-Key", KEY);
                let version = match self {
                    Dialect::Hybi07 => "7",
                    Dialect::Hybi08 => "8",
                    _ => "13",
                };
                add("Sec-WebSocket-Version", version);
                if browser {
                    // Chrome's request, less the values that identify a machine.
                    add("Pragma", "no-cache");
                    add("Cache-Control", "no-cache");
                    add("User-Agent", USER_AGENT);
                    let origin_header = match self {
                        Dialect::Hybi07 => "Sec-WebSocket-Origin",
                        _ => "Origin",
                    };
                    add(origin_header, &origin);
                    add("Accept-Encoding", "gzip, deflate, br, zstd");
                    add("Accept-Language", "en-US,en;q=0.9");
                }
                if self.offers_deflate(browser, deflate) {
                    // Chrome's offer, npm ws's too: `deflate_offer()`'s.
                    let offer = offer(&deflate_offer()).unwrap_or_default();
                    add("Sec-WebSocket-Extensions", &offer);
                }
            }
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        if self.answer_len() > 0 {
            request.extend_from_slice(KEY3);
        }
        request
    }

    /// Whether `head` (status line to blank line) and the `answer` after it open the
    /// connection; otherwise what is wrong.
    fn check_answer(self, head: &[u8], answer: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(head);
        let status = text.lines().next().unwrap_or_default();
        if !status.starts_with("HTTP/1.1 101 ") {
            return Err(format!("answered {status:?}, not 101"));
        }
        match self {
            Dialect::Hybi07 | Dialect::Hybi08 | Dialect::Rfc6455 if !text.contains(ACCEPT) => {
                Err("101 without the right Sec-WebSocket-Accept".to_string())
            }
            Dialect::Hixie76 | Dialect::Hybi03 if answer != HIXIE76_ANSWER => {
                Err(format!("wrong key3 answer {answer:02x?}"))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug)]
struct Options {
    host: String,
    port: u16,
    path: String,
    connections: usize,
    dialects: Vec<Dialect>,
    browser: bool,
    in_flight: usize,
    server_pid: Option<u32>,
    settle: f64,
    hold: f64,
    timeout: f64,
    deflate: bool,
    /// `--send-first`: the size of the message each connection sends and gets back.
    send_first: Option<usize>,
}

fn usage() -> String {
    "usage: idle_conns --port PORT [--host ADDR] [--path PATH] [--connections N] \
     [--dialects rfc6455,hybi-08,hybi-07,hybi-03,hixie-76,hixie-75] [--headers minimal|browser] \
     [--in-flight K] [--server-pid PID] [--settle S] [--hold S] [--timeout S] [--deflate] \
     [--send-first] [--first-size BYTES]"
        .to_string()
}

fn parse_num<T: std::str::FromStr>(text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| format!("bad number {text:?}: {e}"))
}

fn parse_options() -> Result<Options, String> {
    let mut opts = Options {
        host: "127.0.0.1".to_string(),
        port: 0,
        path: "/echo".to_string(),
        connections: 10_000,
        dialects: vec![Dialect::Rfc6455],
        browser: false,
        in_flight: 256,
        server_pid: None,
        settle: 1.0,
        hold: 0.0,
        timeout: 120.0,
        deflate: false,
        send_first: None,
    };
    let (mut send_first, mut first_size) = (false, 1024);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--host" => opts.host = value("--host")?,
            "--port" => opts.port = parse_num(&value("--port")?)?,
            "--path" => opts.path = value("--path")?,
            "--connections" => opts.connections = parse_num(&value("--connections")?)?,
            "--dialects" => {
                opts.dialects = value("--dialects")?
                    .split(',')
                    .map(|d| Dialect::parse(d.trim()).ok_or(format!("unknown dialect {d:?}")))
                    .collect::<Result<_, _>>()?;
            }
            "--headers" => {
                opts.browser = match value("--headers")?.as_str() {
                    "minimal" => false,
                    "browser" => true,
                    other => return Err(format!("--headers: minimal or browser, not {other:?}")),
                }
            }
            "--in-flight" => opts.in_flight = parse_num(&value("--in-flight")?)?,
            "--server-pid" => opts.server_pid = Some(parse_num(&value("--server-pid")?)?),
            "--settle" => opts.settle = parse_num(&value("--settle")?)?,
            "--hold" => opts.hold = parse_num(&value("--hold")?)?,
            "--timeout" => opts.timeout = parse_num(&value("--timeout")?)?,
            "--deflate" => opts.deflate = true,
            "--send-first" => send_first = true,
            "--first-size" => first_size = parse_num(&value("--first-size")?)?,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    if opts.port == 0 {
        return Err(format!("--port is required\n{}", usage()));
    }
    if send_first {
        if !(bench_json::MIN_SIZE..=MAX_FIRST_SIZE).contains(&first_size) {
            return Err(format!(
                "--first-size must be between {} and {MAX_FIRST_SIZE}",
                bench_json::MIN_SIZE
            ));
        }
        opts.send_first = Some(first_size);
    }
    if opts.deflate {
        if let Some(d) = opts
            .dialects
            .iter()
            .find(|d| !dialect_compresses(d.protocols()))
        {
            return Err(format!("--deflate: {} has no compression", d.name()));
        }
    }
    if opts.connections == 0 || opts.in_flight == 0 || opts.dialects.is_empty() {
        return Err("--connections, --in-flight and --dialects must not be empty".to_string());
    }
    let seconds = |s: f64| (0.0..=3600.0).contains(&s);
    if !(seconds(opts.settle) && seconds(opts.hold) && opts.timeout > 0.0 && seconds(opts.timeout))
    {
        return Err("--settle, --hold and --timeout are seconds in [0, 3600]".to_string());
    }
    Ok(opts)
}

/// Raise this process's soft descriptor limit to `needed` if the hard limit allows; the
/// limit that is in force afterwards.
#[cfg(target_os = "linux")]
fn raise_fd_limit(needed: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < needed {
            let raised = libc::rlimit {
                rlim_cur: needed.min(limit.rlim_max),
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = raised.rlim_cur;
            }
        }
    }
    limit.rlim_cur
}

#[cfg(not(target_os = "linux"))]
fn raise_fd_limit(needed: u64) -> u64 {
    needed
}

/// A `/proc/PID/status` field in KiB (`VmRSS`, `RssAnon`, ...).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[derive(Copy, Clone, Debug)]
struct Memory {
    rss_kib: u64,
    anon_kib: u64,
}

fn memory(pid: u32) -> Result<Memory, String> {
    match (status_kib(pid, "VmRSS"), status_kib(pid, "RssAnon")) {
        (Some(rss_kib), Some(anon_kib)) => Ok(Memory { rss_kib, anon_kib }),
        _ => Err(format!(
            "cannot read VmRSS and RssAnon of /proc/{pid}/status (is the server running?)"
        )),
    }
}

#[derive(PartialEq, Eq)]
enum Phase {
    /// `connect` under way.
    Connecting,
    /// Request (partly) written, answer not complete.
    Handshake,
    /// `--send-first`: open, the first message sent, its echo not complete.
    Echo,
    /// Idle: answering pings.
    Open,
    /// Closed by the server (or failed); not counted as open.
    Gone,
}

struct Conn {
    stream: TcpStream,
    dialect: Dialect,
    phase: Phase,
    /// Bytes of the request written so far.
    sent: usize,
    /// What the server sent and we have not consumed.
    got: Vec<u8>,
    /// `--send-first`, while in [`Phase::Echo`].
    exchange: Option<Box<Exchange>>,
}

/// The first message's round trip: a `ws-protocols` client connection (compressing and
/// inflating when that was agreed), kept only until the echo is in.
struct Exchange {
    conn: Connection,
    inflater: Option<Inflater>,
    /// Our bytes not yet written (the socket's buffer was full).
    out: Vec<u8>,
    echo: Vec<u8>,
    piece: Vec<u8>,
}

/// What every connection needs to know about the first message, and what was agreed.
struct First {
    /// `--send-first`: the messages (message 0 of each connection's stream).
    messages: Option<JsonMessages>,
    /// `--headers browser` (which offers permessage-deflate on the hybi dialects).
    browser: bool,
    /// `--deflate`.
    deflate: bool,
    /// With `--deflate`, what the first connection agreed (`describe`d), which every other
    /// must agree too.
    agreed: Option<String>,
}

/// The compression the server's answer `head` agreed to, checked against our offer.
fn agreed_in(head: &[u8]) -> Result<Option<Compression>, String> {
    let text = String::from_utf8_lossy(head);
    let values = text.lines().filter_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("Sec-WebSocket-Extensions")
            .then_some(value.trim())
    });
    accept_response(values, &deflate_offer())
        .map_err(|e| format!("the server's Sec-WebSocket-Extensions: {e:?}"))
}

/// Counters and problems of the whole run.
#[derive(Default)]
struct Tally {
    opened: usize,
    in_flight: usize,
    pings_answered: u64,
    closed_by_server: usize,
    errors: Vec<String>,
}

struct Client {
    poll: Poll,
    conns: Vec<Conn>,
    requests: Vec<Vec<u8>>,
    addr: SocketAddr,
    tally: Tally,
    first: First,
}

/// What one connection's readable or writable event led to.
enum Step {
    Nothing,
    Opened,
    Failed(String),
    /// The server closed an open connection.
    Closed(String),
}

impl Client {
    fn connect(&mut self, dialect: Dialect) -> io::Result<()> {
        let index = self.conns.len();
        let mut stream = TcpStream::connect(self.addr)?;
        self.poll.registry().register(
            &mut stream,
            Token(index),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.conns.push(Conn {
            stream,
            dialect,
            phase: Phase::Connecting,
            sent: 0,
            got: Vec::new(),
            exchange: None,
        });
        self.tally.in_flight += 1;
        Ok(())
    }

    /// Wait for events until `until`, or until every connection is open when
    /// `until_open`; start new connections as handshakes finish.
    fn pump(&mut self, until: Instant, opts: &Options, until_open: bool) -> Result<(), String> {
        let mut events = Events::with_capacity(1024);
        loop {
            while until_open
                && self.tally.in_flight < opts.in_flight
                && self.conns.len() < opts.connections
            {
                // Connection i speaks dialect i % len, and sends request i % len.
                let dialect = opts.dialects[self.conns.len() % opts.dialects.len()];
                if let Err(e) = self.connect(dialect) {
                    return Err(format!(
                        "connection {}: connect: {e}{}",
                        self.conns.len(),
                        connect_hint(&e)
                    ));
                }
            }
            if until_open && self.tally.opened == opts.connections {
                return Ok(());
            }
            let now = Instant::now();
            if now >= until {
                return if until_open {
                    Err(format!(
                        "{} of {} connections open after {} s ({} handshakes under way): \
                         the server is slow or stopped accepting (see its log)",
                        self.tally.opened, opts.connections, opts.timeout, self.tally.in_flight
                    ))
                } else {
                    Ok(())
                };
            }
            let wait = (until - now).min(Duration::from_millis(100));
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(format!("poll: {e}"));
                }
            }
            for event in events.iter() {
                let index = event.token().0;
                let conn = &mut self.conns[index];
                if conn.phase == Phase::Gone {
                    continue;
                }
                let request = &self.requests[index % self.requests.len()];
                let first = &mut self.first;
                match on_event(conn, index, request, first, &mut self.tally.pings_answered) {
                    Step::Nothing => {}
                    Step::Opened => {
                        self.tally.in_flight -= 1;
                        self.tally.opened += 1;
                    }
                    Step::Failed(e) => {
                        self.tally.in_flight -= 1;
                        self.gone(index);
                        return Err(format!("connection {index}: {e}{}", refusal_hint(&e)));
                    }
                    Step::Closed(e) => {
                        self.tally.opened -= 1;
                        self.tally.closed_by_server += 1;
                        self.gone(index);
                        if self.tally.errors.len() < MAX_REPORTED {
                            self.tally.errors.push(format!("connection {index}: {e}"));
                        }
                    }
                }
            }
        }
    }

    fn gone(&mut self, index: usize) {
        let conn = &mut self.conns[index];
        conn.phase = Phase::Gone;
        let _ = self.poll.registry().deregister(&mut conn.stream);
        let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        conn.got = Vec::new();
        conn.exchange = None;
    }
}

/// Handle the events of one connection (number `index`): write the request, read the
/// answer, the first message's echo (`--send-first`) or frames.
fn on_event(
    conn: &mut Conn,
    index: usize,
    request: &[u8],
    first: &mut First,
    pings_answered: &mut u64,
) -> Step {
    if conn.phase == Phase::Connecting {
        match conn.stream.take_error() {
            Ok(Some(e)) | Err(e) => return Step::Failed(format!("connect: {e}")),
            Ok(None) => {}
        }
        match conn.stream.peer_addr() {
            Ok(_) => conn.phase = Phase::Handshake,
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Step::Nothing,
            Err(e) => return Step::Failed(format!("connect: {e}")),
        }
    }
    if conn.phase == Phase::Handshake && conn.sent < request.len() {
        loop {
            match conn.stream.write(&request[conn.sent..]) {
                Ok(n) => {
                    conn.sent += n;
                    if conn.sent == request.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Step::Failed(format!("writing the request: {e}")),
            }
        }
    }
    let mut eof = false;
    let mut chunk = [0u8; 4096];
    loop {
        match conn.stream.read(&mut chunk) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => conn.got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return match conn.phase {
                    Phase::Open => Step::Closed(format!("read: {e}")),
                    _ => Step::Failed(format!("read: {e}")),
                };
            }
        }
    }
    let mut step = Step::Nothing;
    if conn.phase == Phase::Handshake {
        let Some(head_end) = find(&conn.got, b"\r\n\r\n").map(|at| at + 4) else {
            return if eof {
                Step::Failed(format!(
                    "closed during the handshake after {:?}",
                    String::from_utf8_lossy(&conn.got)
                ))
            } else {
                Step::Nothing
            };
        };
        let answer_end = head_end + conn.dialect.answer_len();
        if conn.got.len() < answer_end {
            return if eof {
                Step::Failed("closed before the key3 answer".to_string())
            } else {
                Step::Nothing
            };
        }
        let answer = &conn.got[head_end..answer_end];
        if let Err(e) = conn.dialect.check_answer(&conn.got[..head_end], answer) {
            return Step::Failed(e);
        }
        let agreed = if conn.dialect.offers_deflate(first.browser, first.deflate) {
            match agreed_in(&conn.got[..head_end]) {
                Ok(agreed) => agreed,
                Err(e) => return Step::Failed(e),
            }
        } else {
            None
        };
        if first.deflate {
            let described = describe(agreed.as_ref());
            match &first.agreed {
                Some(earlier) if *earlier != described => {
                    return Step::Failed(format!(
                        "agreed {described}, an earlier connection {earlier}"
                    ));
                }
                Some(_) => {}
                None => first.agreed = Some(described),
            }
        }
        conn.got.drain(..answer_end);
        match &first.messages {
            Some(messages) => {
                let mut message = Vec::new();
                messages.message(index, 0, &mut message);
                match start_exchange(conn.dialect, agreed.as_ref(), &message) {
                    Ok(exchange) => conn.exchange = Some(exchange),
                    Err(e) => return Step::Failed(e),
                }
                conn.phase = Phase::Echo;
            }
            None => {
                conn.got.shrink_to_fit();
                conn.phase = Phase::Open;
                step = Step::Opened;
            }
        }
    }
    if conn.phase == Phase::Echo {
        let messages = first.messages.as_ref().expect("--send-first");
        match echo_progress(conn, |echo| messages.matches(index, 0, echo)) {
            Ok(true) => {
                conn.exchange = None;
                conn.got.shrink_to_fit();
                conn.phase = Phase::Open;
                step = Step::Opened;
            }
            Ok(false) if eof => return Step::Failed("closed before the echo".to_string()),
            Ok(false) => return Step::Nothing,
            Err(e) => return Step::Failed(e),
        }
    }
    if conn.phase == Phase::Open {
        let over = match answer_frames(conn) {
            Ok(pongs) => {
                *pings_answered += pongs;
                eof.then(|| "closed by the server".to_string())
            }
            Err(e) => Some(e),
        };
        if let Some(e) = over {
            // Closed at once after its 101 is a failed opening, not a dropped idle one.
            return match step {
                Step::Opened => Step::Failed(e),
                _ => Step::Closed(e),
            };
        }
    }
    step
}

/// The first message's exchange, its message queued and as much of it written as fits.
fn start_exchange(
    dialect: Dialect,
    agreed: Option<&Compression>,
    message: &[u8],
) -> Result<Box<Exchange>, String> {
    let mut seed = [0u8; 16];
    getrandom::fill(&mut seed).map_err(|e| format!("OS random source: {e}"))?;
    let limits = Limits::default();
    let mut conn = Connection::new(
        dialect.protocols(),
        Role::Client,
        &limits,
        seed,
        OutboundOptions::default(),
    );
    let inflater = agreed.map(|agreed| conn.set_compression(agreed, 0, limits.max_message));
    let mut out = Vec::new();
    conn.outbound
        .send_whole(MessageKind::Text, message, &mut out)
        .map_err(|e| format!("the first message: {e}"))?;
    Ok(Box::new(Exchange {
        conn,
        inflater,
        out,
        echo: Vec::with_capacity(message.len()),
        piece: vec![0; INFLATE_PIECE],
    }))
}

/// Write what the exchange owes, decode what came; whether the echo is complete and
/// `right`, or what is wrong.
fn echo_progress(conn: &mut Conn, right: impl Fn(&[u8]) -> bool) -> Result<bool, String> {
    let exchange = &mut **conn.exchange.as_mut().expect("in Phase::Echo");
    let mut start = 0;
    let mut done = false;
    while !done {
        let (used, event) = exchange
            .conn
            .read(&mut conn.got[start..], &mut exchange.out)
            .map_err(|e| format!("the echo: {e}"))?;
        start += used;
        let Some(event) = event else {
            if used == 0 {
                break; // more bytes needed
            }
            continue;
        };
        let mut ended = false;
        let mut closed = None;
        let echo = &mut exchange.echo;
        let mut take = |event: Event<'_>| {
            match event {
                Event::Data(data) => echo.extend_from_slice(data),
                Event::MessageEnd => ended = true,
                Event::Close(frame) => closed = Some(frame.code),
                _ => {}
            }
            true
        };
        match exchange.inflater.as_mut() {
            Some(inflater) => {
                inflater
                    .route(event, &mut exchange.piece, &mut take)
                    .map_err(|e| format!("inflating the echo: {e}"))?;
            }
            None => {
                take(event);
            }
        }
        if let Some(code) = closed {
            return Err(format!("the server closed ({code:?}) before the echo"));
        }
        if ended {
            if !right(&exchange.echo) {
                return Err(format!(
                    "the echo ({} bytes) differs from the first message",
                    exchange.echo.len()
                ));
            }
            done = true;
        }
    }
    conn.got.drain(..start);
    while !exchange.out.is_empty() {
        match conn.stream.write(&exchange.out) {
            Ok(n) => {
                exchange.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("writing the first message: {e}")),
        }
    }
    Ok(done)
}

/// Answer the pings (and a close) among the frames in `conn.got`; returns the pongs sent, or
/// why the connection is over (the server closed it).
fn answer_frames(conn: &mut Conn) -> Result<u64, String> {
    let mut pongs = 0;
    let mut replies = Vec::new();
    let mut closed = None;
    match conn.dialect.framing() {
        Framing::Sentinel => {
            if conn.got.starts_with(&[0xff, 0x00]) {
                replies.extend_from_slice(&[0xff, 0x00]);
                closed = Some("the server sent a close frame".to_string());
            }
            // Nothing else is expected on an idle hixie connection; drop it unread.
            conn.got.clear();
        }
        Framing::MoreBit | Framing::Hybi => {
            let hybi = conn.dialect.framing() == Framing::Hybi;
            let mut at = 0;
            while let [b0, b1, ..] = conn.got[at..] {
                let len7 = usize::from(b1 & 0x7f);
                let (len, mut head) = match len7 {
                    126 if conn.got.len() >= at + 4 => (
                        usize::from(u16::from_be_bytes([conn.got[at + 2], conn.got[at + 3]])),
                        4,
                    ),
                    127 if conn.got.len() >= at + 10 => {
                        let bytes: [u8; 8] = conn.got[at + 2..at + 10].try_into().expect("8");
                        (u64::from_be_bytes(bytes) as usize, 10)
                    }
                    126 | 127 => break,
                    len => (len, 2),
                };
                if hybi && b1 & 0x80 != 0 {
                    head += 4; // a masked frame from a server: not expected, but skip it whole
                }
                let Some(end) = (at + head).checked_add(len) else {
                    return Err("a frame length past usize".to_string());
                };
                if conn.got.len() < end {
                    break;
                }
                let payload = &conn.got[at + head..end];
                let opcode = b0 & 0x0f;
                let (ping, close) = if hybi { (0x9, 0x8) } else { (0x2, 0x1) };
                if opcode == ping || opcode == close {
                    // The answer carries the same payload (a close echoes the code): a pong
                    // (0x8A / 0x03) or a close (0x88 / 0x01), masked with a zero key on hybi.
                    let answer_op = if opcode == ping {
                        pongs += 1;
                        if hybi {
                            0x8a
                        } else {
                            0x03
                        }
                    } else {
                        closed = Some(format!("the server sent a close frame {payload:02x?}"));
                        if hybi {
                            0x88
                        } else {
                            0x01
                        }
                    };
                    if payload.len() <= 125 {
                        replies.push(answer_op);
                        if hybi {
                            replies.push(0x80 | payload.len() as u8);
                            replies.extend_from_slice(&[0; 4]);
                        } else {
                            replies.push(payload.len() as u8);
                        }
                        replies.extend_from_slice(payload);
                    }
                }
                at = end;
            }
            conn.got.drain(..at);
        }
    }
    if !replies.is_empty() {
        // A few bytes on an idle socket: they fit its send buffer.
        if let Err(e) = conn.stream.write_all(&replies) {
            return Err(format!("answering the server's frames: {e}"));
        }
    }
    match closed {
        Some(why) => Err(why),
        None => Ok(pongs),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn connect_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(24) => " (this process is out of descriptors: raise `ulimit -n`)",
        Some(99) => {
            " (out of local ports: see /proc/sys/net/ipv4/ip_local_port_range, and wait for \
             TIME_WAIT sockets of earlier runs to go)"
        }
        _ => "",
    }
}

fn refusal_hint(error: &str) -> &'static str {
    if error.contains(" 503 ") {
        " (over the server's --max-connections or --max-handshaking, or the server ran out of \
         descriptors: its RLIMIT_NOFILE)"
    } else if error.contains("reset") || error.contains("closed during the handshake") {
        " (dropped by the server while handshaking: with every --max-connections slot taken, \
         or --max-handshaking handshakes under way, it drops the oldest handshaking connection \
         to make room for a new one)"
    } else {
        ""
    }
}

fn run(opts: &Options) -> Result<String, String> {
    let addr = (opts.host.as_str(), opts.port)
        .to_socket_addrs()
        .map_err(|e| format!("{}:{}: {e}", opts.host, opts.port))?
        .next()
        .ok_or(format!("{}:{} resolves to nothing", opts.host, opts.port))?;
    let needed = opts.connections as u64 + SPARE_FDS;
    let limit = raise_fd_limit(needed);
    if limit < needed {
        return Err(format!(
            "this process may open {limit} descriptors, {needed} needed for {} connections: \
             raise the hard limit (ulimit -Hn) or open fewer",
            opts.connections
        ));
    }
    let host = if opts.port == 80 {
        opts.host.clone()
    } else {
        format!("{}:{}", opts.host, opts.port)
    };
    let requests: Vec<Vec<u8>> = opts
        .dialects
        .iter()
        .map(|d| d.request(&host, &opts.path, opts.browser, opts.deflate))
        .collect();
    let messages = opts.send_first.map(JsonMessages::new).transpose()?;
    let mut client = Client {
        poll: Poll::new().map_err(|e| format!("poll: {e}"))?,
        conns: Vec::with_capacity(opts.connections),
        requests,
        addr,
        tally: Tally::default(),
        first: First {
            messages,
            browser: opts.browser,
            deflate: opts.deflate,
            agreed: None,
        },
    };

    let before = opts.server_pid.map(memory).transpose()?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(opts.timeout);
    client.pump(deadline, opts, true)?;
    let open_seconds = start.elapsed().as_secs_f64();
    client.pump(
        Instant::now() + Duration::from_secs_f64(opts.settle),
        opts,
        false,
    )?;
    let after = opts.server_pid.map(memory).transpose()?;

    let n = opts.connections as f64;
    let per_conn = |b: Memory, a: Memory| (a.rss_kib as f64 - b.rss_kib as f64) * 1024.0 / n;
    let dialects: Vec<&str> = opts.dialects.iter().map(|d| d.name()).collect();
    let mut line = String::new();
    if let (Some(b), Some(a)) = (before, after) {
        line.push_str(&format!(
            "bytes_per_conn={:.0} connections={} rss_before_kib={} rss_after_kib={} \
             rss_delta_kib={} anon_delta_kib={} ",
            per_conn(b, a),
            opts.connections,
            b.rss_kib,
            a.rss_kib,
            a.rss_kib as i64 - b.rss_kib as i64,
            a.anon_kib as i64 - b.anon_kib as i64,
        ));
    } else {
        line.push_str(&format!("connections={} ", opts.connections));
    }
    line.push_str(&format!(
        "dialects={} headers={} open_seconds={open_seconds:.3}",
        dialects.join(","),
        if opts.browser { "browser" } else { "minimal" },
    ));
    if let Some(agreed) = &client.first.agreed {
        line.push_str(&format!(" agreed={agreed}"));
    }
    if let Some(size) = opts.send_first {
        line.push_str(&format!(" first_size={size}"));
    }
    if opts.hold > 0.0 {
        client.pump(
            Instant::now() + Duration::from_secs_f64(opts.hold),
            opts,
            false,
        )?;
        line.push_str(&format!(
            " held_seconds={} pings_answered={} closed_by_server={}",
            opts.hold, client.tally.pings_answered, client.tally.closed_by_server
        ));
        if let (Some(b), Some(pid)) = (before, opts.server_pid) {
            let held = memory(pid)?;
            line.push_str(&format!(
                " rss_after_hold_kib={} bytes_per_conn_after_hold={:.0}",
                held.rss_kib,
                per_conn(b, held)
            ));
        }
    }
    if client.tally.closed_by_server > 0 {
        println!("{line}");
        let mut problems = client.tally.errors.join("\n");
        if client.tally.closed_by_server > client.tally.errors.len() {
            problems.push_str(&format!(
                "\n... {} connections closed by the server in all",
                client.tally.closed_by_server
            ));
        }
        return Err(problems);
    }
    Ok(line)
}

fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("idle_conns: {e}");
            ExitCode::FAILURE
        }
    }
}
