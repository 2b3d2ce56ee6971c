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
//!    header together with the first 64 KiB, then 64 KiB per `write`; in raw mode the same
//!    payload bytes without framing.
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
//! Exit status 0 only if the message arrived whole and right; 1 otherwise (problems on
//! stderr), 2 for bad arguments. Every socket operation has a timeout.

use crate::checksum::Checksum;
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

#[derive(Debug)]
pub struct Options {
    /// `Some((host:port, path))` in WebSocket mode, `None` with `raw`.
    ws: Option<(String, String)>,
    raw: Option<String>,
    bytes: u64,
    mask: Mask,
    server_pid: Option<u32>,
    sender: Dialect,
    receiver: Dialect,
    kind: MessageKind,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            ws: None,
            raw: None,
            bytes: 256 << 20,
            mask: Mask::Premasked,
            server_pid: None,
            sender: Dialect::Rfc6455,
            receiver: Dialect::Rfc6455,
            kind: MessageKind::Binary,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--url" => {
                    let url = value()?;
                    let rest = url
                        .strip_prefix("ws://")
                        .ok_or(format!("--url must be ws://HOST:PORT/PATH, not {url:?}"))?;
                    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    let path = if path.is_empty() { "/" } else { path };
                    options.ws = Some((host.to_owned(), path.to_owned()));
                }
                "--raw" => options.raw = Some(value()?.to_owned()),
                "--mib" => {
                    let mib: u64 = value()?.parse().map_err(|e| format!("--mib: {e}"))?;
                    if !(1..=4096).contains(&mib) {
                        return Err("--mib must be between 1 and 4096".into());
                    }
                    options.bytes = mib << 20;
                }
                "--mask" => {
                    options.mask = match value()?.as_str() {
                        "premasked" => Mask::Premasked,
                        "live" => Mask::Live,
                        other => return Err(format!("--mask premasked|live, not {other:?}")),
                    }
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
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if options.ws.is_some() == options.raw.is_some() {
            return Err("give exactly one of --url and --raw".into());
        }
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

// ===== connecting =====

fn connect(addr: &str) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// One end of the session: its socket and, in WebSocket mode, its codec and the bytes read
/// past what has been decoded.
struct Peer {
    stream: TcpStream,
    ws: Option<(Encoder, Decoder)>,
    pending: Vec<u8>,
}

impl Peer {
    fn raw(addr: &str) -> io::Result<Peer> {
        let mut stream = connect(addr)?;
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
    fn ws(dialect: Dialect, host: &str, path: &str, seed: u64) -> io::Result<Peer> {
        let mut stream = connect(host)?;
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
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
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
    problems: Vec<String>,
}

/// Read the message: every byte in raw mode; in WebSocket mode, one message of `kind` and
/// `total` bytes (its length announced or not; pings skipped). Returns when it is complete,
/// or at the first problem.
fn receive(peer: &mut Peer, kind: MessageKind, total: u64) -> Received {
    let mut got = Received {
        first: None,
        last: None,
        checksum: Checksum::default(),
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
                ended = got.checksum.bytes() >= total;
            }
            Some((_, decoder)) => {
                let mut problem = None;
                let checksum = &mut got.checksum;
                let result = decoder.decode_each(&mut buf[..kept + n], |event| match event {
                    Event::MessageStart { kind: k, len }
                        if k == kind
                            && len.is_none_or(|len| len == total)
                            && checksum.bytes() == 0 => {}
                    Event::Data(d) => checksum.update(d),
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

/// Write the message, starting with `head` (the frame header, empty in raw mode). Returns
/// the instant just before the first write.
fn send(
    peer: &mut Peer,
    mut head: Vec<u8>,
    total: u64,
    mask: Mask,
    source: &[u8],
) -> io::Result<Instant> {
    let mut scratch = vec![0u8; WRITE];
    let mut pos = 0u64;
    let start = Instant::now();
    while pos < total {
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
    let (mut receiver, mut sender) = match (&options.ws, &options.raw) {
        (Some((host, path)), _) => {
            let receiver = Peer::ws(options.receiver, host, path, seed)
                .map_err(|e| format!("receiver: {e}"))?;
            let sender = Peer::ws(options.sender, host, path, seed.rotate_left(17) ^ 0x5555)
                .map_err(|e| format!("sender: {e}"))?;
            (receiver, sender)
        }
        (None, Some(addr)) => {
            // The relay pairs connections in accept order and greets both once paired, so
            // the receiver's greeting comes only after the sender has connected.
            let receiver = connect(addr).map_err(|e| format!("receiver: {e}"))?;
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
    let mut head = Vec::new();
    let masked;
    let mut source: &[u8] = &plain;
    if let Some((encoder, _)) = sender.ws.as_mut() {
        let frame = encoder
            .begin(options.kind, Some(total))
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
    let receiving = std::thread::spawn(move || {
        let cpu = thread_cpu_ns();
        let got = receive(&mut receiver, options_kind, total);
        (receiver, got, thread_cpu_ns().saturating_sub(cpu))
    });
    let sender_cpu = thread_cpu_ns();
    let sent = send(&mut sender, head, total, options.mask, source);
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
    if options.ws.is_some() {
        line += &format!(
            " sender={} receiver={} kind={}",
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
