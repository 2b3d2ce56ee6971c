//! The load driver: one receiver and one sender in one session, one big binary message.
//!
//! # What happens
//! 1. The receiver connects, then the sender (plain blocking sockets, `TCP_NODELAY`). In
//!    WebSocket mode each does an RFC 6455 client handshake with our protocols crate
//!    (`client_request`, `ClientHandshake::read_response`) and waits for the text message
//!    `session ready`; in raw mode each waits for the line `session ready\n` from the relay.
//! 2. With `--server-pid`, the server's VmRSS is read from `/proc/PID/status` (idle: both
//!    members connected, nothing sent), and its peak-RSS mark is reset to the current RSS by
//!    writing `5` to `/proc/PID/clear_refs`, so the VmHWM read after the transfer is the
//!    peak *during this transfer*, not over the server's lifetime (several runs share one
//!    server process).
//! 3. The receiver thread blocks in `read`. The sender takes `t0` and writes: in WebSocket
//!    mode one masked binary frame of `--mib` MiB (length known up front, FIN set), the
//!    header together with the first 64 KiB, then 64 KiB per `write` (with `--fragment`, a
//!    fragmented message instead: see [Fragments](#fragments)); in raw mode the same payload
//!    bytes without framing.
//! 4. The receiver decodes (WebSocket: our `Decoder`, client role; raw: every byte is
//!    payload), counts and checksums the payload, and notes the instant of the `read` that
//!    returned the first payload byte and of the one that returned the last.
//! 5. The driver checks the count, the checksum (and in WebSocket mode that exactly one
//!    binary message of the declared length arrived), reads the server's CPU time and memory
//!    again, closes both connections, and prints one line.
//!
//! # The payload and masking
//! The payload repeats a pattern of 1 MiB + 4 KiB of pseudo-random bytes (not a multiple of
//! the 64 KiB write size, so no two writes in a row carry the same bytes). A masked byte
//! depends on its offset modulo 4 only, and the pattern length is a multiple of 4, so with
//! `--mask premasked` (the default) the pattern is masked once, before the clock starts, and
//! every write is sent from the masked copy: the driver spends no CPU on masking during the
//! transfer. That keeps the client's cost out of a measurement made on 2 shared cores, where
//! the sender, the receiver and the server compete for CPU, and where the raw relay's driver
//! would not mask at all. `--mask live` copies and masks each 64 KiB write as a real client
//! must. The server unmasks every byte either way.
//!
//! # Output
//! One line on stdout, `key=value` pairs. MB is decimal (10^6 bytes):
//!
//! ```text
//! mode=ws mask=premasked bytes=268435456 mb_per_sec=1234.5 ttfb_ms=0.123 seconds=0.217 checksum=ok
//!   [sha256=ok sha256_sent=HEX sha256_received=HEX] [fragment=BYTES]
//!   sender=hybi-13 receiver=hybi-13 kind=binary
//!   idle_rss_kib=2048 peak_rss_kib=3100 after_rss_kib=3000 server_cpu_s=0.210
//!   sender_cpu_s=0.150 receiver_cpu_s=0.120
//! ```
//!
//! - `mb_per_sec`: payload bytes / (last payload byte received - `t0`).
//! - `ttfb_ms`: first payload byte received - `t0`.
//! - `idle_rss_kib`: server VmRSS before the transfer; `peak_rss_kib`: server VmHWM after it
//!   (the peak during the transfer, see step 2); `after_rss_kib`: VmRSS after it.
//! - `server_cpu_s`: CPU time of all the server's threads between `t0` and the last byte.
//! - `sender_cpu_s`, `receiver_cpu_s`: CPU time of the driver's sending thread while it
//!   wrote and of its receiving thread while it read. On loopback the kernel's work for a
//!   segment is charged to whichever thread's system call triggers it, so these show where
//!   the TCP work went as well as what the driver itself cost.
//!
//! # Dialects and text
//! `--sender-dialect` and `--receiver-dialect` (default `hybi-13`; any name of
//! `Dialect::from_name`) measure a translated path, and `--kind text` sends a text message
//! (the pattern mapped to printable ASCII, so it is valid UTF-8 without `0xFF`): a hixie
//! sender's text, whose length is not on the wire, reaches hybi receivers as a fragmented
//! message. Binary to a hixie receiver needs the server's `--session-binary-to-hixie
//! length-prefixed`, and binary from a hixie sender its `--hixie-binary length-prefixed`.
//! The raw relay knows no dialects; its run is the same bytes unframed.
//!
//! # Fragments
//! `--fragment BYTES` sends the message as a fragmented message of unknown length, built by
//! our `Encoder` (`begin(kind, None)`, then `chunk` for each fragment's head, then `end`): a
//! first frame with the message's opcode and no FIN, continuation frames, all of BYTES except
//! perhaps the last data fragment, and a final empty continuation frame with FIN (hybi-03:
//! the same with the MORE bit). Heads and payload are gathered into 64 KiB writes. Each
//! fragment has its own masking key, so fragments are always masked live (`--mask premasked`
//! is refused with `--fragment`). hixie-75/76 senders have no fragments and are refused, as
//! is `--raw`.
//!
//! # SHA-256
//! `--sha256` hashes the payload bytes as the sender hands them to the socket (before
//! masking) and as the receiver decodes them, and compares the two digests: both are printed
//! (`sha256_sent=`, `sha256_received=` on the result line, or in the error on a mismatch,
//! which exits 1). The hashing runs on the sending and receiving threads during the
//! transfer, so it lowers `mb_per_sec`; without `--sha256` nothing is hashed and only the
//! checksum above is kept.
//!
//! # TLS
//! A `wss://` URL (with `--ca FILE`, the PEM certificates the server's chain must lead to)
//! makes both members rustls clients (ring provider, no resumption, ALPN `http/1.1`:
//! `examples/bench_tls/`); `--receiver-url URL` gives the receiver another URL, so one member
//! can be plain and the other TLS (the session name is in each URL). The TLS handshakes are
//! done before the clock starts; the transfer then costs the sender an encryption and the
//! receiver a decryption of every byte, on the same 2 cores as the server. The line says
//! `sender_scheme=` and `receiver_scheme=` (`ws` or `wss`).
//!
//! Exit status 0 only if the message arrived whole and right; 1 otherwise (problems on
//! stderr), 2 for bad arguments. Every socket operation has a timeout.

use crate::bench_tls;
use crate::checksum::Checksum;
use crate::stream::{Stream, TlsClient};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};
use ws::protocols::handshake::{client_request, ClientConfig, Status};
use ws::protocols::{Decode, Decoder, Dialect, Encoder, Event, Limits, MessageKind, Role};

/// Bytes per `write` of the sender.
const WRITE: usize = 64 << 10;
/// Bytes per `read` of the receiver.
const READ: usize = 256 << 10;
/// Length of the repeating payload pattern: a multiple of 4 (see the module docs), not of
/// `WRITE`.
const PATTERN: usize = (1 << 20) + (4 << 10);
/// Bound on every blocking socket operation.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// The ready notice of a WebSocket session, and of the raw relay (with a newline).
const READY: &str = "session ready";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mask {
    /// The pattern is masked once before the clock starts.
    Premasked,
    /// Each write is copied and masked during the transfer.
    Live,
}

/// A WebSocket URL, taken apart.
#[derive(Debug, Clone)]
struct Endpoint {
    /// `HOST:PORT`.
    host: String,
    path: String,
    tls: bool,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint, String> {
        let (tls, rest) = match url.split_once("://") {
            Some(("ws", rest)) => (false, rest),
            Some(("wss", rest)) => (true, rest),
            _ => {
                return Err(format!(
                    "a URL must be ws:// or wss://HOST:PORT/PATH, not {url:?}"
                ))
            }
        };
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        Ok(Endpoint {
            host: host.to_owned(),
            path: path.to_owned(),
            tls,
        })
    }

    fn scheme(&self) -> &'static str {
        if self.tls {
            "wss"
        } else {
            "ws"
        }
    }
}

#[derive(Debug)]
pub struct Options {
    /// `Some` in WebSocket mode, `None` with `raw`.
    ws: Option<Endpoint>,
    /// `--receiver-url`: the receiver's, if not `ws`.
    receiver_ws: Option<Endpoint>,
    /// `--ca FILE`, for `wss://`.
    ca: Option<String>,
    raw: Option<String>,
    bytes: u64,
    mask: Mask,
    server_pid: Option<u32>,
    sender: Dialect,
    receiver: Dialect,
    kind: MessageKind,
    /// `--fragment BYTES`: send a fragmented message of unknown length, BYTES per fragment.
    fragment: Option<u64>,
    /// `--sha256`: hash what was sent and what was received, and compare.
    sha256: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            ws: None,
            receiver_ws: None,
            ca: None,
            raw: None,
            bytes: 256 << 20,
            mask: Mask::Premasked,
            server_pid: None,
            sender: Dialect::Rfc6455,
            receiver: Dialect::Rfc6455,
            kind: MessageKind::Binary,
            fragment: None,
            sha256: false,
        };
        let mut mask = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--url" => options.ws = Some(Endpoint::parse(value()?)?),
                "--receiver-url" => options.receiver_ws = Some(Endpoint::parse(value()?)?),
                "--ca" => options.ca = Some(value()?.to_owned()),
                "--raw" => options.raw = Some(value()?.to_owned()),
                "--mib" => {
                    let mib: u64 = value()?.parse().map_err(|e| format!("--mib: {e}"))?;
                    if !(1..=4096).contains(&mib) {
                        return Err("--mib must be between 1 and 4096".into());
                    }
                    options.bytes = mib << 20;
                }
                "--mask" => {
                    mask = Some(match value()?.as_str() {
                        "premasked" => Mask::Premasked,
                        "live" => Mask::Live,
                        other => return Err(format!("--mask premasked|live, not {other:?}")),
                    })
                }
                "--sender-dialect" | "--receiver-dialect" => {
                    let name = value()?;
                    let dialect = Dialect::from_name(name)
                        .ok_or(format!("{arg}: no dialect called {name:?}"))?;
                    if arg == "--sender-dialect" {
                        options.sender = dialect;
                    } else {
                        options.receiver = dialect;
                    }
                }
                "--kind" => {
                    options.kind = match value()?.as_str() {
                        "binary" => MessageKind::Binary,
                        "text" => MessageKind::Text,
                        other => return Err(format!("--kind binary|text, not {other:?}")),
                    }
                }
                "--server-pid" => {
                    let pid = value()?.parse().map_err(|e| format!("--server-pid: {e}"))?;
                    options.server_pid = Some(pid);
                }
                "--fragment" => {
                    let bytes: u64 = value()?.parse().map_err(|e| format!("--fragment: {e}"))?;
                    if !(1..=u64::from(u32::MAX)).contains(&bytes) {
                        return Err("--fragment must be between 1 and 4294967295 bytes".into());
                    }
                    options.fragment = Some(bytes);
                }
                "--sha256" => options.sha256 = true,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if options.ws.is_some() == options.raw.is_some() {
            return Err("give exactly one of --url and --raw".into());
        }
        if options.receiver_ws.is_some() && options.ws.is_none() {
            return Err("--receiver-url needs --url".into());
        }
        let tls = [&options.ws, &options.receiver_ws]
            .into_iter()
            .flatten()
            .any(|endpoint| endpoint.tls);
        if tls != options.ca.is_some() {
            return Err("--ca FILE goes with wss:// URLs, and only with them".into());
        }
        if options.fragment.is_some() {
            if options.raw.is_some() {
                return Err("--fragment needs --url: the raw relay has no frames".into());
            }
            if !options.sender.caps().fragments {
                return Err(format!(
                    "--fragment: the sender dialect {} has no fragmented messages (only \
                     hybi-03 and later do); choose another --sender-dialect",
                    options.sender.name()
                ));
            }
            // Every fragment gets its own masking key, so a copy masked once up front
            // cannot be reused: fragments are masked as they are written.
            if mask == Some(Mask::Premasked) && options.sender.caps().client_masks {
                return Err(format!(
                    "--mask premasked cannot be used with --fragment: a {} client masks each \
                     fragment with its own key (fragments are always masked live)",
                    options.sender.name()
                ));
            }
            mask = Some(Mask::Live);
        }
        options.mask = mask.unwrap_or(Mask::Premasked);
        Ok(options)
    }
}

// ===== the server's memory and CPU, from /proc =====

/// A `kB` field of `/proc/PID/status`.
fn status_kib(pid: u32, field: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("no {field} in /proc/{pid}/status")))
}

/// CPU time all live threads of `pid` have used, in nanoseconds (`schedstat`).
fn process_cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// CPU time the calling thread has used, in nanoseconds (`schedstat`; 0 if unreadable).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

// ===== the payload =====

/// The pattern, extended by its first `WRITE` bytes so that any write is one contiguous
/// slice: the payload byte at offset `i` is `pattern[i % PATTERN]`. For text, each byte is
/// mapped to printable ASCII.
fn pattern(kind: MessageKind) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes: Vec<u8> = (0..PATTERN / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    bytes.extend_from_within(..WRITE);
    if kind == MessageKind::Text {
        for b in &mut bytes {
            *b = b' ' + *b % 95;
        }
    }
    bytes
}

/// The payload bytes of the write at offset `pos`.
fn piece(source: &[u8], pos: u64, total: u64) -> &[u8] {
    let len = (total - pos).min(WRITE as u64) as usize;
    let at = (pos % PATTERN as u64) as usize;
    &source[at..at + len]
}

/// Not cryptographic; enough to vary keys between runs of a benchmark.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32) | 1
}

/// Lower-case hex of a digest.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ===== connecting =====

/// A TCP connection to `addr`, TLS over it with `tls`.
fn connect(addr: &str, tls: Option<&TlsClient>) -> io::Result<Stream> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    Stream::new(tcp, tls)
}

/// One end of the session: its connection and, in WebSocket mode, its codec and the bytes
/// read past what has been decoded.
struct Peer {
    stream: Stream,
    ws: Option<(Encoder, Decoder)>,
    pending: Vec<u8>,
}

impl Peer {
    fn raw(addr: &str) -> io::Result<Peer> {
        let mut stream = connect(addr, None)?;
        let mut line = [0u8; READY.len() + 1];
        stream.read_exact(&mut line)?;
        if line[..READY.len()] != *READY.as_bytes() || line[READY.len()] != b'\n' {
            return Err(io::Error::other(format!(
                "raw relay said {:?}, not the ready line",
                String::from_utf8_lossy(&line)
            )));
        }
        Ok(Peer {
            stream,
            ws: None,
            pending: Vec::new(),
        })
    }

    /// Connect and complete `dialect`'s opening handshake (waiting for `session ready` is
    /// separate, since it comes only once both members are in).
    fn ws(
        dialect: Dialect,
        endpoint: &Endpoint,
        tls: Option<&TlsClient>,
        seed: u64,
    ) -> io::Result<Peer> {
        let (host, path) = (endpoint.host.as_str(), endpoint.path.as_str());
        let mut stream = connect(host, tls.filter(|_| endpoint.tls))?;
        let mut x = seed;
        let mut random = |buf: &mut [u8]| {
            for b in buf {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
        };
        let config = ClientConfig::new(dialect, host, path);
        let mut request = Vec::new();
        let handshake = client_request(&config, &mut random, &mut request);
        stream.write_all(&request)?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let consumed = loop {
            match handshake.read_response(&buf) {
                Ok(Status::Complete(response)) => break response.consumed,
                Ok(Status::Partial) => {}
                Err(e) => return Err(io::Error::other(format!("handshake: {e}"))),
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::other("closed during the handshake"));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let mut mask_seed = [0u8; 16];
        random(&mut mask_seed);
        let limits = Limits::default().max_frame(u64::MAX).max_message(u64::MAX);
        Ok(Peer {
            stream,
            ws: Some((
                Encoder::client(dialect, mask_seed),
                Decoder::new(dialect, Role::Client, &limits),
            )),
            pending: buf.split_off(consumed),
        })
    }

    /// WebSocket mode: read until the text message `session ready` (pings are skipped).
    fn await_ready(&mut self) -> io::Result<()> {
        let Some((_, decoder)) = self.ws.as_mut() else {
            return Ok(());
        };
        let mut text = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let mut done = false;
            let mut unexpected = None;
            let used = decoder
                .decode_each(&mut self.pending, |event| match event {
                    Event::MessageStart {
                        kind: MessageKind::Text,
                        ..
                    } => text.clear(),
                    Event::Data(d) => text.extend_from_slice(d),
                    Event::MessageEnd if text == READY.as_bytes() => done = true,
                    Event::Ping(_) | Event::Pong(_) => {}
                    other => unexpected = Some(format!("{other:?}")),
                })
                .map_err(|e| io::Error::other(format!("waiting for ready: {e}")))?;
            self.pending.drain(..used);
            if let Some(what) = unexpected {
                return Err(io::Error::other(format!("{what} before the ready notice")));
            }
            if done {
                return Ok(());
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::other("closed before the ready notice"));
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// Best effort, bounded: send a close (WebSocket), shut down our side, read to EOF.
    fn close(mut self) {
        if let Some((encoder, _)) = self.ws.as_mut() {
            let mut out = Vec::new();
            if encoder.close(Some(1000), "", &mut out).is_ok() {
                let _ = self.stream.write_all(&out);
            }
        }
        let _ = self.stream.shutdown_write();
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut sink = [0u8; 4096];
        while matches!(self.stream.read(&mut sink), Ok(n) if n > 0) {}
    }
}

// ===== the transfer =====

/// What the receiver saw.
struct Received {
    first: Option<Instant>,
    last: Option<Instant>,
    checksum: Checksum,
    /// With `--sha256`: the hash of every payload byte received.
    sha: Option<Sha256>,
    problems: Vec<String>,
}

/// Read the message: every byte in raw mode; in WebSocket mode, one message of `kind` and
/// `total` bytes (its length announced or not; pings skipped). Returns when it is complete,
/// or at the first problem. With `sha256`, the payload is also hashed.
fn receive(peer: &mut Peer, kind: MessageKind, total: u64, sha256: bool) -> Received {
    let mut got = Received {
        first: None,
        last: None,
        checksum: Checksum::default(),
        sha: sha256.then(Sha256::new),
        problems: Vec::new(),
    };
    let mut buf = vec![0u8; READ + 64];
    let mut kept = peer.pending.len();
    if kept > 64 {
        got.problems
            .push(format!("{kept} bytes arrived before the message"));
        return got;
    }
    buf[..kept].copy_from_slice(&peer.pending);
    let mut ended = false;
    while !ended {
        let n = match peer.stream.read(&mut buf[kept..kept + READ]) {
            Ok(0) => {
                got.problems.push("connection closed mid-message".into());
                return got;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                got.problems.push(format!("read: {e}"));
                return got;
            }
        };
        let now = Instant::now();
        let before = got.checksum.bytes();
        match peer.ws.as_mut() {
            None => {
                got.checksum.update(&buf[..n]);
                if let Some(sha) = got.sha.as_mut() {
                    sha.update(&buf[..n]);
                }
                ended = got.checksum.bytes() >= total;
            }
            Some((_, decoder)) => {
                let mut problem = None;
                let checksum = &mut got.checksum;
                let sha = &mut got.sha;
                let result = decoder.decode_each(&mut buf[..kept + n], |event| match event {
                    Event::MessageStart { kind: k, len }
                        if k == kind
                            && len.is_none_or(|len| len == total)
                            && checksum.bytes() == 0 => {}
                    Event::Data(d) => {
                        checksum.update(d);
                        if let Some(sha) = sha.as_mut() {
                            sha.update(d);
                        }
                    }
                    Event::MessageEnd => ended = true,
                    Event::Ping(_) | Event::Pong(_) => {}
                    other => problem = Some(format!("unexpected {other:?}")),
                });
                let used = match result {
                    Ok(used) => used,
                    Err(e) => {
                        got.problems.push(format!("decoding: {e}"));
                        return got;
                    }
                };
                if let Some(problem) = problem {
                    got.problems.push(problem);
                    return got;
                }
                // At most one incomplete frame header is left; move it to the front.
                buf.copy_within(used..kept + n, 0);
                kept = kept + n - used;
            }
        }
        if before == 0 && got.checksum.bytes() > 0 {
            got.first = Some(now);
        }
        if ended {
            got.last = Some(now);
        }
    }
    got
}

/// Write the message as one frame, starting with `head` (the frame header, empty in raw
/// mode), from `source` (the pattern, or its masked copy with `--mask premasked`). With
/// `sha`, the payload bytes (`plain`, unmasked) are hashed as they are written. Returns the
/// instant just before the first write.
fn send(
    peer: &mut Peer,
    mut head: Vec<u8>,
    total: u64,
    mask: Mask,
    source: &[u8],
    plain_source: &[u8],
    mut sha: Option<&mut Sha256>,
) -> io::Result<Instant> {
    let mut scratch = vec![0u8; WRITE];
    let mut pos = 0u64;
    let start = Instant::now();
    while pos < total {
        if let Some(sha) = sha.as_deref_mut() {
            sha.update(piece(plain_source, pos, total));
        }
        let plain = piece(source, pos, total);
        let bytes: &[u8] = match (peer.ws.as_mut(), mask) {
            (Some((encoder, _)), Mask::Live) => {
                encoder.chunk(plain.len()).map_err(io::Error::other)?;
                let out = &mut scratch[..plain.len()];
                out.copy_from_slice(plain);
                encoder.mask_payload(out);
                out
            }
            (Some((encoder, _)), Mask::Premasked) => {
                encoder.chunk(plain.len()).map_err(io::Error::other)?;
                plain
            }
            (None, _) => plain,
        };
        if pos == 0 && !head.is_empty() {
            head.extend_from_slice(bytes);
            peer.stream.write_all(&head)?;
        } else {
            peer.stream.write_all(bytes)?;
        }
        pos += plain.len() as u64;
    }
    if let Some((encoder, _)) = peer.ws.as_mut() {
        // Checks that exactly the declared length was written; the frame needs no trailer.
        let tail = encoder.end().map_err(io::Error::other)?;
        peer.stream.write_all(&tail)?;
    }
    Ok(start)
}

/// Write the message as a fragmented message of unknown length (`peer` is in WebSocket mode
/// and `Encoder::begin(kind, None)` has been called): each fragment's head from
/// `Encoder::chunk`, `fragment` payload bytes (the last one may be shorter), then the final
/// frame from `Encoder::end` (an empty frame with FIN, or for hybi-03 without MORE). Heads and
/// payload are gathered into writes of `WRITE` bytes, so small fragments do not cost one
/// system call each; every fragment is masked as it is copied in (each has its own key; a
/// no-op for hybi-03, whose clients do not mask). Returns the instant just before the first
/// write.
fn send_fragments(
    peer: &mut Peer,
    total: u64,
    fragment: u64,
    plain: &[u8],
    mut sha: Option<&mut Sha256>,
) -> io::Result<Instant> {
    let Some((encoder, _)) = peer.ws.as_mut() else {
        return Err(io::Error::other("fragments need WebSocket mode"));
    };
    let stream = &mut peer.stream;
    let mut out: Vec<u8> = Vec::with_capacity(WRITE + 64);
    let mut pos = 0u64;
    let mut left = 0u64;
    let start = Instant::now();
    while pos < total {
        if left == 0 {
            left = fragment.min(total - pos);
            out.extend_from_slice(&encoder.chunk(left as usize).map_err(io::Error::other)?);
        }
        let room = WRITE.saturating_sub(out.len()) as u64;
        let len = room.min(left).min(total - pos) as usize;
        let at = (pos % PATTERN as u64) as usize;
        let bytes = &plain[at..at + len];
        if let Some(sha) = sha.as_deref_mut() {
            sha.update(bytes);
        }
        let from = out.len();
        out.extend_from_slice(bytes);
        encoder.mask_payload(&mut out[from..]);
        pos += len as u64;
        left -= len as u64;
        if out.len() >= WRITE {
            stream.write_all(&out)?;
            out.clear();
        }
    }
    out.extend_from_slice(&encoder.end().map_err(io::Error::other)?);
    stream.write_all(&out)?;
    Ok(start)
}

pub fn run(options: &Options) -> Result<(), String> {
    let total = options.bytes;
    let plain = pattern(options.kind);
    let mut expected = Checksum::default();
    let mut pos = 0;
    while pos < total {
        let p = piece(&plain, pos, total);
        expected.update(p);
        pos += p.len() as u64;
    }
    let expected = expected.finish();

    let seed = seed();
    let tls = match &options.ca {
        Some(ca) => {
            let name = [&options.ws, &options.receiver_ws]
                .into_iter()
                .flatten()
                .find(|endpoint| endpoint.tls)
                .map_or(Ok(None), |endpoint| {
                    bench_tls::server_name(&endpoint.host).map(Some)
                })?;
            Some(TlsClient {
                config: bench_tls::client_config(ca.as_ref())?,
                name: name.ok_or("--ca without a wss:// URL")?,
            })
        }
        None => None,
    };
    let (mut receiver, mut sender) = match (&options.ws, &options.raw) {
        (Some(endpoint), _) => {
            let at = options.receiver_ws.as_ref().unwrap_or(endpoint);
            let receiver = Peer::ws(options.receiver, at, tls.as_ref(), seed)
                .map_err(|e| format!("receiver: {e}"))?;
            let sender_seed = seed.rotate_left(17) ^ 0x5555;
            let sender = Peer::ws(options.sender, endpoint, tls.as_ref(), sender_seed)
                .map_err(|e| format!("sender: {e}"))?;
            (receiver, sender)
        }
        (None, Some(addr)) => {
            // The relay pairs connections in accept order and greets both once paired, so
            // the receiver's greeting comes only after the sender has connected.
            let receiver = connect(addr, None).map_err(|e| format!("receiver: {e}"))?;
            let sender = Peer::raw(addr).map_err(|e| format!("sender: {e}"))?;
            let mut receiver = Peer {
                stream: receiver,
                ws: None,
                pending: Vec::new(),
            };
            let mut line = [0u8; READY.len() + 1];
            receiver
                .stream
                .read_exact(&mut line)
                .map_err(|e| format!("receiver: {e}"))?;
            if line[..READY.len()] != *READY.as_bytes() {
                return Err("receiver: no ready line from the raw relay".into());
            }
            (receiver, sender)
        }
        (None, None) => unreachable!("checked by Options::parse"),
    };
    receiver
        .await_ready()
        .map_err(|e| format!("receiver: {e}"))?;
    sender.await_ready().map_err(|e| format!("sender: {e}"))?;

    // The frame header, and with `--mask premasked` the masked copy of the pattern, made
    // before the clock starts. `mask_payload` continues the key rotation where it stopped,
    // and the copy's length is a multiple of 4, so live masking is not mixed in afterwards.
    // With `--fragment` the message's length is left unknown (no header yet: each fragment
    // brings its own) and masking is live (`Options::parse` saw to it).
    let mut head = Vec::new();
    let masked;
    let mut source: &[u8] = &plain;
    if let Some((encoder, _)) = sender.ws.as_mut() {
        let len = if options.fragment.is_some() {
            None
        } else {
            Some(total)
        };
        let frame = encoder
            .begin(options.kind, len)
            .map_err(|e| e.to_string())?;
        head.extend_from_slice(&frame);
        if options.mask == Mask::Premasked {
            let mut copy = plain.clone();
            encoder.mask_payload(&mut copy);
            masked = copy;
            source = &masked;
        }
    }

    let mut idle_rss = None;
    if let Some(pid) = options.server_pid {
        idle_rss = Some(status_kib(pid, "VmRSS").map_err(|e| e.to_string())?);
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
            .map_err(|e| format!("cannot reset the server's peak RSS: {e}"))?;
    }
    let cpu_before = options.server_pid.map(process_cpu_ns);

    let options_kind = options.kind;
    let sha256 = options.sha256;
    let receiving = std::thread::spawn(move || {
        let cpu = thread_cpu_ns();
        let got = receive(&mut receiver, options_kind, total, sha256);
        (receiver, got, thread_cpu_ns().saturating_sub(cpu))
    });
    let mut sent_sha = options.sha256.then(Sha256::new);
    let sender_cpu = thread_cpu_ns();
    let sent = match options.fragment {
        Some(fragment) => send_fragments(&mut sender, total, fragment, &plain, sent_sha.as_mut()),
        None => send(
            &mut sender,
            head,
            total,
            options.mask,
            source,
            &plain,
            sent_sha.as_mut(),
        ),
    };
    let sender_cpu = thread_cpu_ns().saturating_sub(sender_cpu);
    let (receiver, got, receiver_cpu) = receiving
        .join()
        .map_err(|_| "the receiver thread panicked".to_string())?;
    let cpu_after = options.server_pid.map(process_cpu_ns);
    let memory = match options.server_pid {
        Some(pid) => Some((
            status_kib(pid, "VmHWM").map_err(|e| e.to_string())?,
            status_kib(pid, "VmRSS").map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    receiver.close();
    sender.close();

    let t0 = sent.map_err(|e| format!("sender: {e}"))?;
    let mut problems = got.problems;
    let bytes = got.checksum.bytes();
    if problems.is_empty() && bytes != total {
        problems.push(format!("received {bytes} payload bytes, sent {total}"));
    }
    let checksum = got.checksum.finish();
    if problems.is_empty() && checksum != expected {
        problems.push(format!("checksum {checksum}, expected {expected}"));
    }
    // Both digests are printed, on stdout when they match and in the error when not.
    let digests = match (sent_sha, got.sha) {
        (Some(sent), Some(received)) => {
            let (sent, received) = (hex(&sent.finalize()), hex(&received.finalize()));
            if problems.is_empty() && sent != received {
                problems.push(format!(
                    "SHA-256 mismatch: sent {sent}, received {received}"
                ));
            }
            Some((sent, received))
        }
        _ => None,
    };
    let (Some(first), Some(last), true) = (got.first, got.last, problems.is_empty()) else {
        return Err(problems.join("; "));
    };

    let seconds = last.duration_since(t0).as_secs_f64();
    let ttfb = first.duration_since(t0).as_secs_f64();
    let mut line = format!(
        "mode={} mask={} bytes={total} mb_per_sec={:.1} ttfb_ms={:.3} seconds={seconds:.3} \
         checksum=ok",
        if options.ws.is_some() { "ws" } else { "raw" },
        match (&options.ws, options.mask) {
            (None, _) => "none",
            (_, Mask::Premasked) => "premasked",
            (_, Mask::Live) => "live",
        },
        total as f64 / seconds / 1e6,
        ttfb * 1e3,
    );
    if let Some((sent, received)) = &digests {
        line += &format!(" sha256=ok sha256_sent={sent} sha256_received={received}");
    }
    if let Some(fragment) = options.fragment {
        line += &format!(" fragment={fragment}");
    }
    if let Some(endpoint) = &options.ws {
        let at = options.receiver_ws.as_ref().unwrap_or(endpoint);
        line += &format!(
            " sender_scheme={} receiver_scheme={} sender={} receiver={} kind={}",
            endpoint.scheme(),
            at.scheme(),
            options.sender.name(),
            options.receiver.name(),
            match options.kind {
                MessageKind::Text => "text",
                MessageKind::Binary => "binary",
            }
        );
    }
    if let (Some(idle), Some((peak, after))) = (idle_rss, memory) {
        line += &format!(" idle_rss_kib={idle} peak_rss_kib={peak} after_rss_kib={after}");
    }
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        line += &format!(
            " server_cpu_s={:.3}",
            after.saturating_sub(before) as f64 / 1e9
        );
    }
    line += &format!(
        " sender_cpu_s={:.3} receiver_cpu_s={:.3}",
        sender_cpu as f64 / 1e9,
        receiver_cpu as f64 / 1e9
    );
    println!("{line}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Runs `send_fragments` for a `dialect` client over loopback and returns the bytes on
    /// the wire and the expected payload.
    fn fragmented_wire(dialect: Dialect, total: u64, fragment: u64) -> (Vec<u8>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let reading = std::thread::spawn(move || {
            let mut wire = Vec::new();
            server.read_to_end(&mut wire).unwrap();
            wire
        });
        let limits = Limits::default();
        let mut peer = Peer {
            stream: Stream::Plain(client),
            ws: Some((
                Encoder::client(dialect, [7; 16]),
                Decoder::new(dialect, Role::Client, &limits),
            )),
            pending: Vec::new(),
        };
        let plain = pattern(MessageKind::Binary);
        let (encoder, _) = peer.ws.as_mut().unwrap();
        assert!(encoder.begin(MessageKind::Binary, None).unwrap().is_empty());
        let mut sha = Sha256::new();
        send_fragments(&mut peer, total, fragment, &plain, Some(&mut sha)).unwrap();
        drop(peer);
        let wire = reading.join().unwrap();
        let expected: Vec<u8> = (0..total)
            .map(|i| plain[(i % PATTERN as u64) as usize])
            .collect();
        assert_eq!(hex(&sha.finalize()), hex(&Sha256::digest(&expected)));
        (wire, expected)
    }

    #[test]
    fn fragments_follow_the_rfc_layout() {
        let (wire, expected) = fragmented_wire(Dialect::Rfc6455, 300_000, 100_000);
        // (FIN, opcode, payload unmasked) of each frame, parsed by hand.
        let mut frames = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let (fin, op, masked) = (wire[at] & 0x80 != 0, wire[at] & 0x0f, wire[at + 1] & 0x80);
            assert_ne!(masked, 0, "a client frame must be masked");
            let (len, head) = match wire[at + 1] & 0x7f {
                126 => (u16::from_be_bytes([wire[at + 2], wire[at + 3]]) as usize, 4),
                127 => (
                    u64::from_be_bytes(wire[at + 2..at + 10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (n as usize, 2),
            };
            let key = &wire[at + head..at + head + 4];
            let start = at + head + 4;
            let payload: Vec<u8> = wire[start..start + len]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect();
            frames.push((fin, op, payload));
            at = start + len;
        }
        let shape: Vec<(bool, u8, usize)> =
            frames.iter().map(|(f, o, p)| (*f, *o, p.len())).collect();
        assert_eq!(
            shape,
            [
                (false, 2, 100_000),
                (false, 0, 100_000),
                (false, 0, 100_000),
                (true, 0, 0)
            ]
        );
        let payload: Vec<u8> = frames.into_iter().flat_map(|(_, _, p)| p).collect();
        assert!(payload == expected, "payload differs");
    }

    /// Small fragments gathered across writes, in both fragmenting framings, decode as one
    /// message with the right bytes.
    #[test]
    fn fragments_decode_as_one_message() {
        for (dialect, fragment) in [
            (Dialect::Rfc6455, 1000),
            (Dialect::Hybi07, 65_530),
            (Dialect::Hybi03, 1000),
            (Dialect::Hybi03, 1 << 20),
        ] {
            let (mut wire, expected) = fragmented_wire(dialect, 200_003, fragment);
            let limits = Limits::default().max_frame(u64::MAX).max_message(u64::MAX);
            let mut decoder = Decoder::new(dialect, Role::Server, &limits);
            let (mut starts, mut ends, mut data) = (0, 0, Vec::new());
            let used = decoder
                .decode_each(&mut wire, |event| match event {
                    Event::MessageStart {
                        kind: MessageKind::Binary,
                        len: None,
                    } => starts += 1,
                    Event::Data(d) => data.extend_from_slice(d),
                    Event::MessageEnd => ends += 1,
                    other => panic!("{dialect:?}: unexpected {other:?}"),
                })
                .unwrap();
            assert_eq!(used, wire.len(), "{dialect:?}");
            assert_eq!((starts, ends), (1, 1), "{dialect:?} {fragment}");
            assert!(data == expected, "{dialect:?} {fragment}: payload differs");
        }
    }

    #[test]
    fn fragment_needs_a_fragmenting_sender() {
        let args = |extra: &[&str]| -> Vec<String> {
            ["--url", "ws://127.0.0.1:1/sessions/x", "--fragment", "1000"]
                .iter()
                .chain(extra)
                .map(|s| s.to_string())
                .collect()
        };
        for dialect in ["hixie-75", "hixie-76"] {
            let err = Options::parse(&args(&["--sender-dialect", dialect])).unwrap_err();
            assert!(err.contains("no fragmented messages"), "{err}");
        }
        assert!(Options::parse(&args(&["--mask", "premasked"])).is_err());
        let options = Options::parse(&args(&["--sender-dialect", "hybi-03"])).unwrap();
        assert_eq!(options.mask, Mask::Live);
    }
}
