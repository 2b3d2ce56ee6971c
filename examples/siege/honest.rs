//! Honest members: clients of several dialects, on the crate's own blocking client, that
//! keep moving data through the server during an attack and check every byte of it.
//!
//! - Echo: one client per dialect on `/echo` sends a message, waits for it back and
//!   compares it byte for byte (text on hixie, text and binary alternately elsewhere).
//! - Pipes: in each of two pipe sessions a sender sends a message with the SHA-256 of its
//!   body in a header line; the mirror, of another dialect, checks the digest and sends the
//!   message back, and the sender compares it byte for byte.
//!
//! Each round trip's latency is noted; a failure (a timeout, a refusal, a wrong byte) is
//! noted with its time and the client reconnects. Messages stay at or under 8 KiB on
//! `/echo` (the server's memory budget may refuse unfinished messages over 16 KiB while it
//! is under pressure, by design), up to 64 KiB through pipes.

use crate::wire;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use ws::protocols::{Dialect, MessageKind};
use ws::{Client, ClientError, ClientEvent, ConnectOptions};

/// The echo clients' dialects.
const ECHO_DIALECTS: [Dialect; 6] = [
    Dialect::Rfc6455,
    Dialect::Hybi08,
    Dialect::Hybi07,
    Dialect::Hybi03,
    Dialect::Hixie76,
    Dialect::Hixie75,
];

/// The pipe sessions: sender dialect, mirror dialect, message kind.
const PIPES: [(Dialect, Dialect, MessageKind); 2] = [
    (Dialect::Rfc6455, Dialect::Hixie76, MessageKind::Text),
    (Dialect::Hybi07, Dialect::Hybi08, MessageKind::Binary),
];

const ECHO_SIZES: [usize; 7] = [0, 1, 125, 126, 1000, 4000, 8000];
const PIPE_SIZES: [usize; 7] = [0, 1, 125, 126, 1000, 8000, 65536];

/// Pause between round trips: a steady trickle, not load.
const PACE: Duration = Duration::from_millis(20);
/// Bound on a round trip, a connect, a handshake.
const PATIENCE: Duration = Duration::from_secs(5);
/// How long a mirror blocks in `recv` before looking at the stop flag.
const MIRROR_POLL: Duration = Duration::from_millis(300);

pub fn describe() -> String {
    let echo: Vec<&str> = ECHO_DIALECTS.iter().map(|d| d.name()).collect();
    let pipes: Vec<String> = PIPES
        .iter()
        .map(|(s, m, k)| format!("{} -> {} ({k:?})", s.name(), m.name()))
        .collect();
    format!(
        "echo in {}; pipe sessions {}",
        echo.join(", "),
        pipes.join(", ")
    )
}

#[derive(Default)]
struct Log {
    /// When each round trip ended, and how long it took.
    trips: Vec<(Instant, Duration)>,
    /// When a failure happened, and what it was.
    failures: Vec<(Instant, String)>,
}

type Shared = Arc<Mutex<Log>>;

fn note_trip(log: &Shared, latency: Duration) {
    if let Ok(mut log) = log.lock() {
        log.trips.push((Instant::now(), latency));
    }
}

fn note_failure(log: &Shared, what: String) {
    if let Ok(mut log) = log.lock() {
        log.failures.push((Instant::now(), what));
    }
}

/// What the honest members saw during an attack.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub ok: usize,
    pub failed: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// The first failures, with their time since the attack began.
    pub failures: Vec<(Duration, String)>,
}

/// The honest load, running.
pub struct Honest {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    log: Shared,
}

fn options(dialect: Dialect) -> ConnectOptions {
    ConnectOptions::default()
        .dialect(dialect)
        .connect_timeout(Some(PATIENCE))
        .handshake_timeout(PATIENCE)
        .read_timeout(Some(PATIENCE))
        .write_timeout(Some(PATIENCE))
        .close_timeout(Duration::from_secs(1))
}

/// Connect as an honest newcomer of `dialect`, echo one message, close: how long it took,
/// or why it failed (an HTTP refusal shows its status).
pub fn newcomer(addr: SocketAddr, dialect: Dialect) -> Result<Duration, String> {
    let start = Instant::now();
    let mut client =
        ws::connect_with(&format!("ws://{addr}/echo"), options(dialect)).map_err(|e| {
            match e.http_status() {
                Some(status) => format!("HTTP {status}"),
                None => e.to_string(),
            }
        })?;
    let text = format!("newcomer {}", dialect.name());
    client.send_text(&text).map_err(|e| e.to_string())?;
    match next_message(&mut client).map_err(|e| e.to_string())? {
        ClientEvent::Text(got) if got == text => {}
        other => return Err(format!("echoed {other:?}")),
    }
    let _ = client.close(1000, "");
    Ok(start.elapsed())
}

/// A newcomer's outcome in a few words: `ok in 1.20 ms`, or why not.
pub fn describe_outcome(outcome: &Result<Duration, String>) -> String {
    match outcome {
        Ok(took) => format!("ok in {}", crate::report::ms(*took)),
        Err(e) => e.clone(),
    }
}

/// The next message, skipping pings, pongs and session notices.
fn next_message(client: &mut Client) -> Result<ClientEvent, ClientError> {
    loop {
        match client.recv()? {
            ClientEvent::Ping(_) | ClientEvent::Pong(_) => {}
            ClientEvent::Text(t) if t == "session ready" => {}
            other => return Ok(other),
        }
    }
}

fn send(client: &mut Client, kind: MessageKind, payload: &[u8]) -> Result<(), ClientError> {
    match kind {
        // Text payloads are built from ASCII.
        MessageKind::Text => client.send_text(std::str::from_utf8(payload).unwrap_or("")),
        MessageKind::Binary => client.send_binary(payload),
    }
}

fn as_bytes(event: ClientEvent) -> Option<(MessageKind, Vec<u8>)> {
    match event {
        ClientEvent::Text(t) => Some((MessageKind::Text, t.into_bytes())),
        ClientEvent::Binary(b) => Some((MessageKind::Binary, b)),
        _ => None,
    }
}

/// Sleep `total` in short steps, returning early when stopped.
fn pace(stop: &AtomicBool, total: Duration) {
    let end = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10).min(total));
    }
}

/// Run `round` on a connection made by `connect` until stopped; on a failure note it,
/// drop the connection and make a new one. `ready` is told once the first round is done.
fn keep_going(
    stop: &AtomicBool,
    log: &Shared,
    name: &str,
    connect: impl Fn() -> Result<Client, ClientError>,
    mut round: impl FnMut(&mut Client, u64) -> Result<(), String>,
    ready: Sender<()>,
) {
    let mut ready = Some(ready);
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut client = match connect() {
            Ok(client) => client,
            Err(e) => {
                note_failure(log, format!("{name}: connect: {e}"));
                pace(stop, Duration::from_millis(200));
                continue;
            }
        };
        while !stop.load(Ordering::Relaxed) {
            seq += 1;
            if let Err(e) = round(&mut client, seq) {
                note_failure(log, format!("{name}: {e}"));
                break;
            }
            if let Some(ready) = ready.take() {
                let _ = ready.send(());
            }
            pace(stop, PACE);
        }
        if stop.load(Ordering::Relaxed) {
            let _ = client.close(1000, "");
        } else {
            pace(stop, Duration::from_millis(200));
        }
    }
}

/// Send message `seq` and wait until the same bytes come back (the echo, or the mirror's
/// copy); the latency is noted.
fn round_trip(
    client: &mut Client,
    seq: u64,
    kind: MessageKind,
    message: &[u8],
    log: &Shared,
) -> Result<(), String> {
    let start = Instant::now();
    send(client, kind, message).map_err(|e| format!("send #{seq}: {e}"))?;
    let got = next_message(client).map_err(|e| format!("#{seq} back: {e}"))?;
    match as_bytes(got) {
        Some((k, bytes)) if k == kind && bytes == message => {
            note_trip(log, start.elapsed());
            Ok(())
        }
        other => Err(format!(
            "#{seq} came back different: {:?}",
            other.map(|(k, b)| (k, b.len()))
        )),
    }
}

/// An echo message: pseudo-random bytes of one of the sizes in turn.
fn echo_message(seq: u64, kind: MessageKind) -> Vec<u8> {
    wire::payload(seq, ECHO_SIZES[seq as usize % ECHO_SIZES.len()], kind)
}

/// A pipe message: `SEQ SHA256HEX\n` then the body.
fn pipe_message(seq: u64, kind: MessageKind) -> Vec<u8> {
    let body = wire::payload(seq, PIPE_SIZES[seq as usize % PIPE_SIZES.len()], kind);
    let mut message = format!("{seq} {:x}\n", Sha256::digest(&body)).into_bytes();
    message.extend_from_slice(&body);
    message
}

/// Whether a pipe message's body matches the digest in its header line.
fn pipe_intact(message: &[u8]) -> bool {
    let Some(newline) = message.iter().position(|&b| b == b'\n') else {
        return false;
    };
    let (head, body) = (&message[..newline], &message[newline + 1..]);
    let digest = format!("{:x}", Sha256::digest(body));
    head.split(|&b| b == b' ').nth(1) == Some(digest.as_bytes())
}

/// The mirror: every message checked against its digest and sent back, until stopped.
fn mirror(stop: &AtomicBool, log: &Shared, name: &str, url: &str, dialect: Dialect) {
    while !stop.load(Ordering::Relaxed) {
        let mut client =
            match ws::connect_with(url, options(dialect).read_timeout(Some(MIRROR_POLL))) {
                Ok(client) => client,
                Err(e) => {
                    note_failure(log, format!("{name}: connect: {e}"));
                    pace(stop, Duration::from_millis(200));
                    continue;
                }
            };
        let failure = loop {
            if stop.load(Ordering::Relaxed) {
                let _ = client.close(1000, "");
                return;
            }
            let event = match next_message(&mut client) {
                Err(ClientError::TimedOut) => continue,
                Err(e) => break e.to_string(),
                Ok(event) => event,
            };
            let Some((kind, bytes)) = as_bytes(event) else {
                continue;
            };
            if !pipe_intact(&bytes) {
                note_failure(
                    log,
                    format!("{name}: SHA-256 mismatch ({} bytes)", bytes.len()),
                );
            }
            if let Err(e) = send(&mut client, kind, &bytes) {
                break e.to_string();
            }
        };
        note_failure(log, format!("{name}: {failure}"));
        pace(stop, Duration::from_millis(200));
    }
}

impl Honest {
    /// Start every honest member against `addr` (pipe sessions named after `tag`), and
    /// wait until each has completed a round trip (or the patience runs out: failures
    /// are in the log either way).
    pub fn start(addr: SocketAddr, tag: &str) -> Honest {
        let stop = Arc::new(AtomicBool::new(false));
        let log: Shared = Arc::default();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        let mut workers = 0;
        for dialect in ECHO_DIALECTS {
            let (stop, log) = (stop.clone(), log.clone());
            let ready = ready_tx.clone();
            let url = format!("ws://{addr}/echo");
            let hixie = !dialect.caps().binary;
            workers += 1;
            threads.push(std::thread::spawn(move || {
                let name = format!("echo {}", dialect.name());
                let kind_of = |seq: u64| {
                    if hixie || seq % 2 == 0 {
                        MessageKind::Text
                    } else {
                        MessageKind::Binary
                    }
                };
                keep_going(
                    &stop,
                    &log,
                    &name,
                    || ws::connect_with(&url, options(dialect)),
                    |client, seq| {
                        let kind = kind_of(seq);
                        round_trip(client, seq, kind, &echo_message(seq, kind), &log)
                    },
                    ready,
                );
            }));
        }
        for (i, (sender, mirror_dialect, kind)) in PIPES.into_iter().enumerate() {
            let url = format!("ws://{addr}/sessions/honest-{tag}-{i}");
            let name = format!("pipe {} -> {}", sender.name(), mirror_dialect.name());
            {
                let (stop, log, url, name) = (stop.clone(), log.clone(), url.clone(), name.clone());
                threads.push(std::thread::spawn(move || {
                    mirror(&stop, &log, &format!("{name} mirror"), &url, mirror_dialect)
                }));
            }
            let (stop, log) = (stop.clone(), log.clone());
            let ready = ready_tx.clone();
            workers += 1;
            threads.push(std::thread::spawn(move || {
                keep_going(
                    &stop,
                    &log,
                    &name,
                    || {
                        let mut client = ws::connect_with(&url, options(sender))?;
                        // Messages sent before the mirror is in go to nobody.
                        loop {
                            if let ClientEvent::Text(t) = client.recv()? {
                                if t == "session ready" {
                                    return Ok(client);
                                }
                            }
                        }
                    },
                    |client, seq| round_trip(client, seq, kind, &pipe_message(seq, kind), &log),
                    ready,
                );
            }));
        }
        let deadline = Instant::now() + 2 * PATIENCE;
        for _ in 0..workers {
            let left = deadline.saturating_duration_since(Instant::now());
            if ready_rx.recv_timeout(left).is_err() {
                break;
            }
        }
        Honest { stop, threads, log }
    }

    /// Stop every member; what they saw from `since` on (failures: all of them).
    pub fn stop(self, since: Instant) -> Summary {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        let log = self
            .log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        let mut latencies: Vec<Duration> = log
            .trips
            .iter()
            .filter(|(at, _)| *at >= since)
            .map(|&(_, latency)| latency)
            .collect();
        latencies.sort();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Summary {
            ok: latencies.len(),
            failed: log.failures.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: latencies.last().copied().unwrap_or_default(),
            failures: log
                .failures
                .into_iter()
                .take(3)
                .map(|(at, what)| (at.saturating_duration_since(since), what))
                .collect(),
        }
    }
}
