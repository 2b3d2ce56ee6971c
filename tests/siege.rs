//! What a peer must not be able to do to the server's memory, and what honest clients still
//! get while peers try: held messages and held pongs stay bounded, declared lengths
//! reserve nothing, the server-wide memory budget refuses with 1013, handshakes that never
//! finish cannot keep honest clients out.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use support::{await_stats, raw_connect, status_of, Client, Received, TestServer};
use ws::protocols::frame::Control;
use ws::protocols::{Dialect, MessageKind};
use ws::{SessionOptions, Sessions, Settings};

/// The head of a masked RFC 6455 binary frame declaring `len` payload bytes, with the
/// all-zero mask key, so the payload goes on the wire as it is.
fn frame_head(fin: bool, len: u64) -> Vec<u8> {
    let mut head = vec![if fin { 0x82 } else { 0x02 }];
    match len {
        0..=125 => head.push(0x80 | len as u8),
        126..=0xFFFF => {
            head.push(0x80 | 126);
            head.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            head.push(0x80 | 127);
            head.extend_from_slice(&len.to_be_bytes());
        }
    }
    head.extend_from_slice(&[0; 4]);
    head
}

fn sessions(options: SessionOptions) -> TestServer {
    TestServer::start(
        ws::Server::builder()
            .settings(Settings::default().keepalive(None))
            .mount(Sessions::mount("/sessions/*", options)),
    )
}

fn member(addr: SocketAddr, name: &str) -> Client {
    Client::connect(addr, &format!("/sessions/{name}"), Dialect::Rfc6455)
}

fn ready(client: &mut Client) {
    assert_eq!(
        client.recv_message(),
        Received::Text("session ready".into())
    );
}

/// Write `bytes` from a thread until done or blocked for `patience`; returns how many
/// were taken (possibly ending inside a frame).
fn write_until_blocked(
    stream: &TcpStream,
    bytes: Vec<u8>,
    patience: Duration,
) -> std::thread::JoinHandle<usize> {
    let mut stream = stream.try_clone().unwrap();
    stream.set_write_timeout(Some(patience)).unwrap();
    std::thread::spawn(move || {
        let mut written = 0;
        while written < bytes.len() {
            let end = bytes.len().min(written + (64 << 10));
            match stream.write(&bytes[written..end]) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        written
    })
}

#[test]
fn empty_messages_held_for_a_busy_receiver_pause_their_sender() {
    let server = sessions(SessionOptions::default());
    let (mut s1, mut r) = (member(server.addr, "hold"), member(server.addr, "hold"));
    ready(&mut s1);
    ready(&mut r);
    let mut s2 = member(server.addr, "hold");
    ready(&mut s2);
    // S1 opens a long message on R and stops: every other message must wait for R.
    let declared = (16 << 20) + 1024;
    s1.stream.write_all(&frame_head(true, declared)).unwrap();
    s1.stream.write_all(&[7; 1024]).unwrap();
    r.wait_for_bytes(&[7; 1024]);
    // S2 sends four million empty messages (24 MB on the wire): more than the kernel's
    // buffers hold, so S2 blocks once the server stops reading from it.
    let flood: Vec<u8> = frame_head(true, 0).repeat(4_000_000);
    let total = flood.len();
    let writer = write_until_blocked(&s2.stream, flood, Duration::from_secs(3));
    let written = writer.join().unwrap();
    assert!(
        written < total,
        "S2 was never paused: wrote all {total} bytes"
    );
    let stats = server.handle.stats();
    // What is held for R is bounded by its buffer (1 MiB) and its count (1024 messages),
    // plus what the loop read before the pause took effect.
    assert!(
        stats.session_held_bytes <= (1 << 20) + (64 << 10),
        "held {} bytes",
        stats.session_held_bytes
    );
    assert!(stats.unprocessed_bytes <= 256 << 10, "{stats:?}");
    // S2 goes; S1 finishes its message. R gets it whole, then the empty messages held
    // for it, and then what a newcomer says: nothing is stuck.
    drop(s2);
    let mut rest = s1.stream.try_clone().unwrap();
    let finisher = std::thread::spawn(move || {
        rest.write_all(&vec![7; declared as usize - 1024]).unwrap();
    });
    match r.recv() {
        Received::Binary(b) => assert_eq!(b.len() as u64, declared),
        other => panic!("expected S1's message, got {other:?}"),
    }
    finisher.join().unwrap();
    let mut s3 = member(server.addr, "hold");
    ready(&mut s3);
    s3.send_text("still here");
    let mut empties = 0;
    loop {
        match r.recv_message() {
            Received::Binary(b) if b.is_empty() => empties += 1,
            Received::Text(t) if t == "session ready" => {}
            other => {
                assert_eq!(other, Received::Text("still here".into()));
                break;
            }
        }
    }
    assert!(empties >= 1, "R got none of S2's messages");
    await_stats(&server, "everything released", |s| {
        s.session_held_bytes == 0 && s.unprocessed_bytes == 0
    });
}

#[test]
fn pings_to_a_receiver_mid_frame_are_answered_by_one_pong_the_latest() {
    let server = sessions(SessionOptions::default());
    let (mut s, mut r) = (member(server.addr, "pong"), member(server.addr, "pong"));
    ready(&mut s);
    ready(&mut r);
    let declared = 16 << 20;
    s.stream.write_all(&frame_head(true, declared)).unwrap();
    s.stream.write_all(&[1; 1024]).unwrap();
    r.wait_for_bytes(&[1; 1024]);
    let before = server.handle.stats().bytes_read;
    let pings = 20_000u32;
    let mut flood = Vec::new();
    for i in 0..pings {
        let mut payload = [b'.'; 125];
        payload[..4].copy_from_slice(&i.to_be_bytes());
        flood.extend_from_slice(&[0x89, 0x80 | 125, 0, 0, 0, 0]);
        flood.extend_from_slice(&payload);
    }
    let flood_len = flood.len() as u64;
    r.stream.write_all(&flood).unwrap();
    await_stats(&server, "the pings were read", |st| {
        st.bytes_read >= before + flood_len
    });
    let stats = server.handle.stats();
    assert!(stats.queued_bytes < 64 << 10, "{stats:?}");
    // S finishes the frame (from a thread: R must read for S to get through): R gets the
    // message, then one pong, for the last ping.
    let mut rest = s.stream.try_clone().unwrap();
    let finisher = std::thread::spawn(move || {
        rest.write_all(&vec![1; declared as usize - 1024]).unwrap();
    });
    match r.recv() {
        Received::Binary(b) => assert_eq!(b.len() as u64, declared),
        other => panic!("expected the message, got {other:?}"),
    }
    match r.recv() {
        Received::Pong(p) => assert_eq!(p[..4], (pings - 1).to_be_bytes()),
        other => panic!("expected one pong, got {other:?}"),
    }
    r.send_control(Control::Ping, b"after");
    assert_eq!(r.recv(), Received::Pong(b"after".to_vec()));
    finisher.join().unwrap();
}

#[test]
fn declared_lengths_reserve_nothing() {
    let server = TestServer::echo(Settings::default().keepalive(None));
    let mut peers = Vec::new();
    for _ in 0..100 {
        let mut peer = Client::connect(server.addr, "/", Dialect::Rfc6455);
        peer.stream.write_all(&frame_head(true, 16 << 20)).unwrap();
        peer.stream.write_all(b"x").unwrap();
        peers.push(peer);
    }
    let read = 100 * (frame_head(true, 16 << 20).len() as u64 + 1);
    await_stats(&server, "every head was read", |s| s.bytes_read >= read);
    // Reserving the declared lengths would hold 1.6 GB.
    let stats = server.handle.stats();
    assert!(
        stats.message_bytes <= 100 * ws::protocols::message::RESERVE_AHEAD,
        "{stats:?}"
    );
}

#[test]
fn past_the_memory_budget_unfinished_messages_get_1013_and_small_ones_still_pass() {
    let budget = 8 << 20;
    let server = TestServer::echo(Settings::default().keepalive(None).memory_budget(budget));
    assert_eq!(server.handle.stats().memory_budget, budget);
    let mut honest = Client::connect(server.addr, "/", Dialect::Hybi07);
    let mut refused = 0;
    let mut attackers = Vec::new();
    for i in 0..8 {
        let mut a = Client::connect(server.addr, "/", Dialect::Rfc6455);
        a.stream.write_all(&frame_head(true, 16 << 20)).unwrap();
        // 2 MiB each, written in pieces so the server assembles them over many reads.
        for _ in 0..32 {
            if a.stream.write_all(&[b'a'; 64 << 10]).is_err() {
                break;
            }
        }
        honest.send_text(&format!("honest {i}"));
        assert_eq!(honest.recv_message(), Received::Text(format!("honest {i}")));
        attackers.push(a);
    }
    // On a loaded machine the server may still be reading the last pieces.
    await_stats(&server, "someone was refused", |s| {
        s.refused_over_budget >= 1
    });
    for a in &mut attackers {
        a.stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut byte = [0u8; 4];
        if let Ok(4) = a.stream.read(&mut byte) {
            // 88 02 03 F5: close 1013.
            assert_eq!(byte, [0x88, 0x02, 0x03, 0xF5]);
            refused += 1;
        }
    }
    let stats = server.handle.stats();
    assert!(refused >= 1, "nobody was refused: {stats:?}");
    assert!(stats.refused_over_budget >= refused, "{stats:?}");
    assert!(stats.held_bytes <= budget + (2 << 20), "{stats:?}");
    honest.send(MessageKind::Binary, &[5; 100_000]);
    assert_eq!(honest.recv_message(), Received::Binary(vec![5; 100_000]));
}

#[test]
fn handshakes_that_never_finish_make_room_for_honest_clients() {
    let server = TestServer::echo(Settings::default().max_connections(16).keepalive(None));
    // Every slot taken by a connection that never sends its request.
    let silent: Vec<TcpStream> = (0..16).map(|_| raw_connect(server.addr)).collect();
    await_stats(&server, "all slots taken", |s| s.connections_open == 16);
    let mut honest = Vec::new();
    for round in 0..3 {
        let mut client = Client::connect(server.addr, "/", Dialect::Hixie76);
        client.send_text(&format!("round {round}"));
        assert_eq!(
            client.recv_message(),
            Received::Text(format!("round {round}"))
        );
        honest.push(client);
    }
    assert!(server.handle.stats().handshakes_evicted >= 3);
    // The oldest were dropped, with a 503.
    let mut first = &silent[0];
    let mut answer = Vec::new();
    let _ = first.read_to_end(&mut answer);
    assert_eq!(status_of(&answer), 503);
}

#[test]
fn the_handshake_budget_drops_the_oldest_handshakes() {
    let server = TestServer::echo(Settings::default().max_handshaking(4).keepalive(None));
    let silent: Vec<TcpStream> = (0..10).map(|_| raw_connect(server.addr)).collect();
    await_stats(&server, "six evicted", |s| s.handshakes_evicted >= 6);
    assert_eq!(server.handle.stats().connections_open, 4);
    let mut honest = Client::connect(server.addr, "/", Dialect::Rfc6455);
    honest.send_text("in");
    assert_eq!(honest.recv_message(), Received::Text("in".into()));
    drop(silent);
}

#[test]
fn open_connections_are_never_evicted() {
    let server = TestServer::echo(Settings::default().max_connections(4).keepalive(None));
    let mut open: Vec<Client> = (0..4)
        .map(|_| Client::connect(server.addr, "/", Dialect::Rfc6455))
        .collect();
    let mut late = raw_connect(server.addr);
    let mut answer = Vec::new();
    let _ = late.read_to_end(&mut answer);
    assert_eq!(status_of(&answer), 503);
    for (i, c) in open.iter_mut().enumerate() {
        c.send_text(&format!("{i}"));
        assert_eq!(c.recv_message(), Received::Text(format!("{i}")));
    }
}

#[test]
fn a_burst_of_connections_waits_in_the_listen_backlog() {
    // Bound but not yet running: every connection waits in the kernel's backlog. std's
    // default of 128 would drop the SYNs beyond it (clients retransmit after a second).
    let server = ws::Server::builder().bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let waiting: Vec<TcpStream> = (0..600)
        .map(|i| {
            TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                .unwrap_or_else(|e| panic!("connection {i} not taken into the backlog: {e}"))
        })
        .collect();
    assert_eq!(waiting.len(), 600);
}
