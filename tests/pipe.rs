//! Pipe sessions over real sockets: integrity across every ordered dialect pair, more than
//! two members, joins and leaves mid-message, a stuck receiver, the ready notice, a sender
//! failing mid-message.

mod support;

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;
use support::{Client, Received, TestServer};
use ws::protocols::{Dialect, Encoder, MessageKind};
use ws::{BinaryToHixie, SessionOptions, Sessions, Settings};

fn server(options: SessionOptions) -> TestServer {
    // Pipes stream, so big messages cost no memory: allow 128 MiB frames and messages.
    let settings = Settings::default()
        .max_frame(128 << 20)
        .max_message(128 << 20);
    TestServer::start(
        ws::Server::builder()
            .settings(settings)
            .mount(Sessions::mount("/sessions/*", options)),
    )
}

fn options() -> SessionOptions {
    let mut options = SessionOptions::default();
    options.binary_to_hixie = BinaryToHixie::LengthPrefixed;
    options
}

fn ready(client: &mut Client) {
    assert_eq!(
        client.recv_message(),
        Received::Text("session ready".into()),
        "{}",
        client.dialect
    );
}

fn join_pair(addr: SocketAddr, name: &str, a: Dialect, b: Dialect) -> (Client, Client) {
    let path = format!("/sessions/{name}");
    let mut first = Client::connect(addr, &path, a);
    let mut second = Client::connect(addr, &path, b);
    ready(&mut first);
    ready(&mut second);
    (first, second)
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn text(seed: u64, len: usize) -> String {
    let chars = ['a', 'Z', '0', ' ', 'é', 'κ', '€', '𝄞'];
    let mut s = String::with_capacity(len);
    for b in noise(seed, len) {
        let c = chars[usize::from(b) % chars.len()];
        if s.len() + c.len_utf8() > len {
            break;
        }
        s.push(c);
    }
    while s.len() < len {
        s.push('.');
    }
    s
}

/// Encode `messages` as `dialect`'s client would and write them in writes of random sizes.
fn send_split(
    client: &Client,
    messages: Vec<(MessageKind, Vec<u8>)>,
    seed: u64,
) -> std::thread::JoinHandle<()> {
    let mut stream = client.stream.try_clone().unwrap();
    let dialect = client.dialect;
    std::thread::spawn(move || {
        let mut encoder = Encoder::client(dialect, [seed as u8; 16]);
        let mut wire = Vec::new();
        for (kind, payload) in &messages {
            encoder.message(*kind, payload, &mut wire).unwrap();
        }
        let cuts = noise(seed, 64);
        let mut pos = 0;
        let mut i = 0;
        while pos < wire.len() {
            let step = 1 + (usize::from(cuts[i % cuts.len()]) * 997) % 70_000;
            let end = (pos + step).min(wire.len());
            stream.write_all(&wire[pos..end]).unwrap();
            pos = end;
            i += 1;
        }
    })
}

const SIZES: &[usize] = &[0, 1, 125, 126, 65535, 65536, 1 << 20];

/// A message as the checks compare it: its kind, its length and the SHA-256 of its payload
/// (small enough to print when a check fails, unlike a 64 MiB payload).
#[derive(Debug, PartialEq)]
struct Fingerprint {
    kind: MessageKind,
    len: usize,
    sha256: [u8; 32],
}

impl Fingerprint {
    fn of(kind: MessageKind, payload: &[u8]) -> Self {
        Fingerprint {
            kind,
            len: payload.len(),
            sha256: Sha256::digest(payload).into(),
        }
    }

    /// `None` for anything but a data message.
    fn received(got: &Received) -> Option<Self> {
        match got {
            Received::Text(text) => Some(Self::of(MessageKind::Text, text.as_bytes())),
            Received::Binary(bytes) => Some(Self::of(MessageKind::Binary, bytes)),
            _ => None,
        }
    }
}

/// Receive one message and check it against what was sent.
fn expect_message(receiver: &mut Client, kind: MessageKind, payload: &[u8], what: &str) {
    let got = receiver.recv_message();
    match Fingerprint::received(&got) {
        Some(fingerprint) => assert_eq!(fingerprint, Fingerprint::of(kind, payload), "{what}"),
        None => panic!("{what}: expected a message, got {got:?}"),
    }
}

fn check_pair(addr: SocketAddr, a: Dialect, b: Dialect) {
    let name = format!("{}-to-{}", a.name(), b.name());
    let (sender, mut receiver) = join_pair(addr, &name, a, b);
    let mut messages = Vec::new();
    for (i, &len) in SIZES.iter().enumerate() {
        messages.push((MessageKind::Text, text(i as u64 + 1, len).into_bytes()));
        // Binary reaches hixie receivers as length-prefixed frames (the session's policy);
        // hixie senders send binary the same way.
        messages.push((MessageKind::Binary, noise(i as u64 + 100, len)));
    }
    let writer = send_split(&sender, messages.clone(), 7);
    for (i, (kind, payload)) in messages.into_iter().enumerate() {
        expect_message(
            &mut receiver,
            kind,
            &payload,
            &format!("{name}: message {i}"),
        );
    }
    writer.join().unwrap();
}

macro_rules! pairs {
    ($($test:ident: $from:ident => [$($to:ident),*];)*) => {$(
        #[test]
        fn $test() {
            let server = server(options());
            let threads: Vec<_> = [$(Dialect::$to),*]
                .into_iter()
                .map(|to| {
                    let addr = server.addr;
                    std::thread::spawn(move || check_pair(addr, Dialect::$from, to))
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
    )*};
}

pairs! {
    from_hixie75: Hixie75 => [Hixie75, Hixie76, Hybi03, Hybi07, Hybi08, Rfc6455];
    from_hixie76: Hixie76 => [Hixie75, Hixie76, Hybi03, Hybi07, Hybi08, Rfc6455];
    from_hybi03: Hybi03 => [Hixie75, Hixie76, Hybi03, Hybi07, Hybi08, Rfc6455];
    from_hybi07: Hybi07 => [Hixie75, Hixie76, Hybi03, Hybi07, Hybi08, Rfc6455];
    from_hybi08: Hybi08 => [Hixie75, Hixie76, Hybi03, Hybi07, Hybi08, Rfc6455];
    from_rfc6455: Rfc6455 => [Hixie75, Hixie76, Hybi03, Hybi07, Hybi08, Rfc6455];
}

/// One 64 MiB message from `a` to `b`, then another from `b` to `a`, through one session.
fn sixty_four_mib_each_way(server: &TestServer, kind: MessageKind, a: Dialect, b: Dialect) {
    let name = format!("big-{}-{}", a.name(), b.name());
    let (mut first, mut second) = join_pair(server.addr, &name, a, b);
    for seed in [11, 12] {
        let (from, to) = if seed == 11 {
            (&first, &mut second)
        } else {
            (&second, &mut first)
        };
        let payload = match kind {
            MessageKind::Text => text(seed, 64 << 20).into_bytes(),
            MessageKind::Binary => noise(seed, 64 << 20),
        };
        let what = format!("{} → {}", from.dialect, to.dialect);
        let writer = send_split(from, vec![(kind, payload.clone())], seed);
        expect_message(to, kind, &payload, &what);
        writer.join().unwrap();
    }
}

#[test]
fn sixty_four_mib_of_text_each_way_between_hixie76_and_rfc6455() {
    let server = server(options());
    sixty_four_mib_each_way(
        &server,
        MessageKind::Text,
        Dialect::Hixie76,
        Dialect::Rfc6455,
    );
    let stats = server.handle.stats();
    assert!(
        stats.queued_peak < 8 << 20,
        "never held whole: queue peak {}",
        stats.queued_peak
    );
    // Most of it went straight from the read buffer to the socket; it still counts.
    assert!(
        stats.bytes_written >= 2 * (64 << 20) && stats.bytes_read >= 2 * (64 << 20),
        "counted: read {} written {}",
        stats.bytes_read,
        stats.bytes_written
    );
}

#[test]
fn sixty_four_mib_of_binary_each_way_between_hixie75_and_hybi07() {
    // Binary reaches the hixie-75 member as a length-prefixed frame (the session's policy).
    let server = server(options());
    sixty_four_mib_each_way(
        &server,
        MessageKind::Binary,
        Dialect::Hixie75,
        Dialect::Hybi07,
    );
    let peak = server.handle.stats().queued_peak;
    assert!(peak < 8 << 20, "never held whole: queue peak {peak}");
}

#[test]
fn every_member_gets_every_other_members_messages_in_order() {
    let server = server(options());
    let path = "/sessions/three";
    let mut a = Client::connect(server.addr, path, Dialect::Rfc6455);
    let mut b = Client::connect(server.addr, path, Dialect::Hixie76);
    ready(&mut a);
    ready(&mut b);
    let mut c = Client::connect(server.addr, path, Dialect::Hybi03);
    ready(&mut c);
    a.send_text("from a");
    b.send_text("from b");
    c.send_text("from c");
    let mut got_a = vec![a.recv_message(), a.recv_message()];
    let mut got_b = vec![b.recv_message(), b.recv_message()];
    let mut got_c = vec![c.recv_message(), c.recv_message()];
    for got in [&mut got_a, &mut got_b, &mut got_c] {
        got.sort_by_key(|r| format!("{r:?}"));
    }
    let t = |s: &str| Received::Text(s.into());
    assert_eq!(got_a, vec![t("from b"), t("from c")]);
    assert_eq!(got_b, vec![t("from a"), t("from c")]);
    assert_eq!(got_c, vec![t("from a"), t("from b")]);
}

#[test]
fn messages_from_two_senders_are_never_interleaved_at_a_receiver() {
    let server = server(options());
    let path = "/sessions/interleave";
    let mut r = Client::connect(server.addr, path, Dialect::Hixie75);
    let mut a = Client::connect(server.addr, path, Dialect::Rfc6455);
    ready(&mut r);
    ready(&mut a);
    let mut b = Client::connect(server.addr, path, Dialect::Hybi08);
    ready(&mut b);
    // a opens a message and sends half of it; b sends a whole one meanwhile.
    let mut enc = Encoder::client(Dialect::Rfc6455, [1; 16]);
    let mut out = enc.begin(MessageKind::Text, None).unwrap().to_vec();
    out.extend_from_slice(&enc.chunk(5).unwrap());
    let start = out.len();
    out.extend_from_slice(b"first");
    enc.mask_payload(&mut out[start..]);
    a.stream.write_all(&out).unwrap();
    // The first half is on its way to r (cut-through) before b starts.
    r.wait_for_bytes(b"\x00first");
    b.send_text("second, whole");
    // a is free as a receiver, so b's message reaches it at once: proof that the server has
    // it while a's message is open on r and b (and is holding it for them).
    assert_eq!(a.recv_message(), Received::Text("second, whole".into()));
    let mut rest = enc.chunk(6).unwrap().to_vec();
    let start = rest.len();
    rest.extend_from_slice(b" half!");
    enc.mask_payload(&mut rest[start..]);
    rest.extend_from_slice(&enc.end().unwrap());
    a.stream.write_all(&rest).unwrap();
    assert_eq!(r.recv_message(), Received::Text("first half!".into()));
    assert_eq!(r.recv_message(), Received::Text("second, whole".into()));
    assert_eq!(b.recv_message(), Received::Text("first half!".into()));
}

#[test]
fn the_ready_notice_reaches_every_dialect_and_later_joiners() {
    let server = server(options());
    for (i, d) in Dialect::ALL.into_iter().enumerate() {
        let name = format!("/sessions/ready{i}");
        let mut first = Client::connect(server.addr, &name, d);
        let mut second = Client::connect(server.addr, &name, Dialect::Rfc6455);
        ready(&mut first);
        ready(&mut second);
        let mut third = Client::connect(server.addr, &name, d);
        ready(&mut third);
    }
}

#[test]
fn bad_names_get_400_and_a_full_session_409() {
    let mut options = options();
    options.max_members = 2;
    let server = server(options);
    let status = |path: &str| match Client::connect_with(server.addr, path, Dialect::Rfc6455, &[]) {
        Ok(_) => 101,
        Err(e) => {
            let code = e
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 3)
                .unwrap_or("0");
            code.parse().unwrap()
        }
    };
    assert_eq!(status("/sessions/"), 400);
    assert_eq!(status("/sessions/a%20b"), 400);
    assert_eq!(status(&format!("/sessions/{}", "x".repeat(65))), 400);
    let _a = Client::connect(server.addr, "/sessions/full", Dialect::Rfc6455);
    let _b = Client::connect(server.addr, "/sessions/full", Dialect::Hixie76);
    assert_eq!(status("/sessions/full"), 409);
}

#[test]
fn a_joiner_mid_message_gets_only_later_messages_and_a_leaver_does_not_stop_the_rest() {
    let server = server(options());
    let path = "/sessions/churn";
    let mut a = Client::connect(server.addr, path, Dialect::Rfc6455);
    let mut b = Client::connect(server.addr, path, Dialect::Hybi07);
    let mut c = Client::connect(server.addr, path, Dialect::Hixie76);
    ready(&mut a);
    ready(&mut b);
    ready(&mut c);
    let mut enc = Encoder::client(Dialect::Rfc6455, [2; 16]);
    let part = |enc: &mut Encoder, bytes: &[u8]| {
        let mut out = enc.chunk(bytes.len()).unwrap().to_vec();
        let start = out.len();
        out.extend_from_slice(bytes);
        enc.mask_payload(&mut out[start..]);
        out
    };
    let mut out = enc.begin(MessageKind::Text, None).unwrap().to_vec();
    out.extend(part(&mut enc, b"in flight "));
    a.stream.write_all(&out).unwrap();
    // c leaves while the message is open towards it. A closing 0xFF would
    // end c's open hixie text frame and pass the half message off as whole,
    // so the server answers c's close by cutting TCP instead.
    let mut seen = Vec::new();
    let mut chunk = [0u8; 64];
    while seen.len() < b"\x00in flight ".len() {
        let n = c.stream.read(&mut chunk).unwrap();
        assert_ne!(n, 0, "EOF before the message started");
        seen.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(seen, b"\x00in flight ");
    c.send_close(1000, "bye");
    assert_eq!(c.recv_message(), Received::Eof);
    // d joins while the message is still open.
    let mut d = Client::connect(server.addr, path, Dialect::Hybi03);
    ready(&mut d);
    let mut rest = part(&mut enc, b"and done");
    rest.extend_from_slice(&enc.end().unwrap());
    a.stream.write_all(&rest).unwrap();
    assert_eq!(
        b.recv_message(),
        Received::Text("in flight and done".into())
    );
    a.send_text("later");
    assert_eq!(b.recv_message(), Received::Text("later".into()));
    assert_eq!(
        d.recv_message(),
        Received::Text("later".into()),
        "d missed the message begun before it joined"
    );
}

#[test]
fn invalid_utf8_mid_message_cuts_receivers_that_got_part_of_it() {
    let server = server(options());
    let path = "/sessions/badutf8";
    let mut a = Client::connect(server.addr, path, Dialect::Rfc6455);
    let mut hybi = Client::connect(server.addr, path, Dialect::Hybi08);
    let mut hixie = Client::connect(server.addr, path, Dialect::Hixie76);
    ready(&mut a);
    ready(&mut hybi);
    ready(&mut hixie);
    let mut enc = Encoder::client(Dialect::Rfc6455, [3; 16]);
    let mut out = enc.begin(MessageKind::Text, None).unwrap().to_vec();
    for piece in [&b"valid start "[..], b"\xed\xa0\x80 never forwarded"] {
        out.extend_from_slice(&enc.chunk(piece.len()).unwrap());
        let start = out.len();
        out.extend_from_slice(piece);
        enc.mask_payload(&mut out[start..]);
    }
    a.stream.write_all(&out).unwrap();
    assert_eq!(a.recv_message(), Received::Close(Some(1007), String::new()));
    // The hybi receiver got the first fragment, then a close mid-message: its library
    // discards the unfinished message.
    assert_eq!(
        hybi.recv_message(),
        Received::Close(Some(1011), "sender failed mid-message".into())
    );
    // The hixie receiver loses the connection before any FF: nothing is delivered.
    assert_eq!(hixie.recv_message(), Received::Eof);
}

#[test]
fn a_receiver_that_pings_inside_a_piped_frame_gets_the_frame_intact_then_its_pong() {
    let server = server(options());
    let path = "/sessions/pinginside";
    let mut a = Client::connect(server.addr, path, Dialect::Rfc6455);
    let mut r = Client::connect(server.addr, path, Dialect::Hybi07);
    ready(&mut a);
    ready(&mut r);
    // One binary frame of declared length, sent in two parts: the server forwards the first
    // part as the start of one frame of the same length.
    let payload = noise(9, 300_000);
    let mut enc = Encoder::client(Dialect::Rfc6455, [4; 16]);
    let mut out = enc
        .begin(MessageKind::Binary, Some(payload.len() as u64))
        .unwrap()
        .to_vec();
    let (first, second) = payload.split_at(1000);
    out.extend_from_slice(&enc.chunk(first.len()).unwrap());
    let start = out.len();
    out.extend_from_slice(first);
    enc.mask_payload(&mut out[start..]);
    a.stream.write_all(&out).unwrap();
    r.wait_for_bytes(&first[first.len() - 16..]);
    // r pings while the frame is open towards it, and a keeps going.
    r.send_control(ws::protocols::frame::Control::Ping, b"inside?");
    std::thread::sleep(Duration::from_millis(50));
    let mut rest = enc.chunk(second.len()).unwrap().to_vec();
    let start = rest.len();
    rest.extend_from_slice(second);
    enc.mask_payload(&mut rest[start..]);
    rest.extend_from_slice(&enc.end().unwrap());
    a.stream.write_all(&rest).unwrap();
    assert!(r.recv() == Received::Binary(payload), "frame intact");
    assert_eq!(r.recv(), Received::Pong(b"inside?".to_vec()));
    // The session carries on.
    a.send_text("after");
    assert_eq!(r.recv_message(), Received::Text("after".into()));
}

#[test]
fn a_sender_failing_inside_a_frame_of_declared_length_cuts_its_receivers() {
    let server = server(options());
    let path = "/sessions/failinside";
    let mut a = Client::connect(server.addr, path, Dialect::Rfc6455);
    let mut hybi = Client::connect(server.addr, path, Dialect::Hybi08);
    let mut hixie = Client::connect(server.addr, path, Dialect::Hixie75);
    ready(&mut a);
    ready(&mut hybi);
    ready(&mut hixie);
    let mut enc = Encoder::client(Dialect::Rfc6455, [5; 16]);
    let mut out = enc.begin(MessageKind::Text, Some(1000)).unwrap().to_vec();
    let piece = b"half of a thousand bytes";
    out.extend_from_slice(&enc.chunk(piece.len()).unwrap());
    let start = out.len();
    out.extend_from_slice(piece);
    enc.mask_payload(&mut out[start..]);
    a.stream.write_all(&out).unwrap();
    hybi.wait_for_bytes(piece);
    hixie.wait_for_bytes(piece);
    drop(a);
    // No close frame can go inside the open frame: both lose the connection, and neither
    // decodes a message from the short frame.
    assert_eq!(hybi.recv(), Received::Eof);
    assert_eq!(hixie.recv(), Received::Eof);
}

#[test]
fn a_slow_receiver_of_a_long_frame_is_not_taken_for_dead_by_the_keepalive() {
    // Keepalive every 300 ms; the receiver takes seconds to read one 48 MiB frame, and our
    // ping waits behind it (nothing can go inside a frame), so it cannot answer in time. It
    // is alive, though: it keeps reading.
    let settings = Settings::default()
        .max_frame(128 << 20)
        .max_message(128 << 20)
        .keepalive(Some(Duration::from_millis(300)));
    let server = TestServer::start(
        ws::Server::builder()
            .settings(settings)
            .mount(Sessions::mount("/sessions/*", options())),
    );
    // Everything slow happens before connecting: an idle peer that does not answer pings is
    // rightly dropped after two intervals.
    let payload = noise(11, 48 << 20);
    let mut wire = Vec::with_capacity(payload.len() + 14);
    Encoder::client(Dialect::Rfc6455, [6; 16])
        .message(MessageKind::Binary, &payload, &mut wire)
        .unwrap();
    let path = "/sessions/slowreader";
    let mut sender = Client::connect(server.addr, path, Dialect::Rfc6455);
    let mut receiver = Client::connect(server.addr, path, Dialect::Rfc6455);
    ready(&mut sender);
    ready(&mut receiver);
    let mut stream = sender.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for piece in wire.chunks(64 << 10) {
            stream.write_all(piece).unwrap();
        }
    });
    // Read 256 KiB every 20 ms: about 4 s for the frame, a dozen keepalive intervals.
    let mut raw = Vec::with_capacity(payload.len() + 16);
    let mut chunk = vec![0u8; 256 << 10];
    let started = std::time::Instant::now();
    while raw.len() < payload.len() + 10 {
        let n = receiver.stream.read(&mut chunk).unwrap();
        assert_ne!(
            n,
            0,
            "dropped after {:?} with {} bytes read",
            started.elapsed(),
            raw.len()
        );
        raw.extend_from_slice(&chunk[..n]);
        // A ping that came before the frame began gets its pong, as a live peer's would.
        while raw.starts_with(&[0x89, 0x00]) {
            raw.drain(..2);
            receiver.send_control(ws::protocols::frame::Control::Pong, b"");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    writer.join().unwrap();
    assert!(
        started.elapsed() > Duration::from_millis(900),
        "the read took several keepalive intervals"
    );
    // One binary frame of the payload's length (127 + an 8-byte length), intact.
    assert_eq!(&raw[..2], &[0x82, 127]);
    assert_eq!(&raw[2..10], &(payload.len() as u64).to_be_bytes());
    assert!(raw[10..10 + payload.len()] == payload[..], "payload intact");
}

#[test]
fn a_stuck_receiver_pauses_the_sender_then_is_closed_and_the_rest_go_on() {
    let mut options = options();
    options.buffer_per_receiver = 256 << 10;
    options.stuck_timeout = Duration::from_millis(500);
    let server = server(options);
    let path = "/sessions/stuck";
    let mut sender = Client::connect(server.addr, path, Dialect::Rfc6455);
    let mut stuck = Client::connect(server.addr, path, Dialect::Rfc6455);
    ready(&mut sender);
    ready(&mut stuck);
    let mut healthy = Client::connect(server.addr, path, Dialect::Hixie76);
    ready(&mut healthy);
    // `stuck` never reads. 64 MiB through the session: far more than every buffer holds.
    let count = 256;
    let chunk = noise(5, 256 << 10);
    let writer = send_split(
        &sender,
        (0..count)
            .map(|_| (MessageKind::Binary, chunk.clone()))
            .collect(),
        13,
    );
    for i in 0..count {
        assert!(
            healthy.recv_message() == Received::Binary(chunk.clone()),
            "message {i} to the healthy member"
        );
    }
    writer.join().unwrap();
    // 64 MiB went through while one member read nothing: the server's memory stayed bounded
    // (the sender was paused, then the stuck member cut off).
    let peak = server.handle.stats().queued_peak;
    assert!(peak < 4 << 20, "largest outgoing queue {peak} bytes");
    drop(stuck.stream.set_read_timeout(Some(Duration::from_secs(5))));
    // The stuck member was closed: after draining what was queued for it, its socket ends.
    loop {
        match stuck.recv() {
            Received::Eof | Received::Close(Some(1008), _) => break,
            Received::Binary(_) | Received::Ping(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}
