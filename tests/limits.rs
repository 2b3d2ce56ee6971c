//! Limits and backpressure over real sockets: a reader that stops reading must not grow the
//! server's memory, and nothing it was sent may be lost.

mod support;

use std::io::Write;
use std::time::Duration;
use support::{Client, Received, TestServer};
use ws::protocols::{Dialect, Encoder, MessageKind};
use ws::Settings;

#[test]
fn a_reader_that_stops_reading_keeps_server_memory_bounded_and_loses_nothing() {
    let high = 256 << 10;
    let server = TestServer::echo(
        Settings::default()
            .write_high_water(high)
            .write_low_water(64 << 10),
    );
    let mut client = Client::connect(server.addr, "/echo", Dialect::Rfc6455);
    // Send 64 KiB messages without reading the echoes, until TCP pushes back (the server
    // stopped reading from us) and a write times out.
    client
        .stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut encoder = Encoder::client(Dialect::Rfc6455, [5; 16]);
    let message: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let mut frame = Vec::new();
    let mut sent = 0;
    let mut partial = None;
    for _ in 0..100_000 {
        frame.clear();
        encoder
            .message(MessageKind::Binary, &message, &mut frame)
            .unwrap();
        match client.stream.write(&frame) {
            Ok(n) if n == frame.len() => sent += 1,
            Ok(n) => {
                partial = Some(n);
                break;
            }
            Err(_) => break,
        }
    }
    let stats = server.handle.stats();
    assert!(
        stats.reads_paused >= 1,
        "the server paused reading: {stats:?}"
    );
    // The queue passes the high-water mark by at most one echo before reading stops.
    assert!(
        stats.queued_peak <= high + 2 * (message.len() + 14),
        "queue stayed bounded: peak {} with high water {high}",
        stats.queued_peak
    );
    assert!(
        sent > 10,
        "enough was sent to fill every buffer ({sent} messages)"
    );
    // Finish the frame cut by the timeout, then read everything back: nothing lost.
    client
        .stream
        .set_write_timeout(Some(support::DEADLINE))
        .unwrap();
    let mut writer = client.stream.try_clone().unwrap();
    let rest = partial.map(|n| frame[n..].to_vec());
    let finisher = std::thread::spawn(move || {
        if let Some(rest) = rest {
            writer.write_all(&rest).unwrap();
        }
    });
    let expected = sent + usize::from(partial.is_some());
    for i in 0..expected {
        assert_eq!(
            client.recv_message(),
            Received::Binary(message.clone()),
            "echo {i} of {expected}"
        );
    }
    finisher.join().unwrap();
    assert!(server.handle.stats().queued_bytes <= 14 + message.len());
}

#[test]
fn a_message_over_the_limit_is_closed_with_1009() {
    let server = TestServer::echo(Settings::default().max_message(1000).max_frame(1000));
    for dialect in [Dialect::Rfc6455, Dialect::Hybi08] {
        let mut client = Client::connect(server.addr, "/echo", dialect);
        client.send(MessageKind::Binary, &[0; 1001]);
        assert_eq!(
            client.recv(),
            Received::Close(Some(1009), String::new()),
            "{dialect}"
        );
        assert_eq!(client.recv(), Received::Eof);
    }
    // Across fragments too.
    let mut client = Client::connect(server.addr, "/echo", Dialect::Rfc6455);
    client.send_streamed(MessageKind::Binary, &[0; 1500], 500);
    assert_eq!(client.recv(), Received::Close(Some(1009), String::new()));
    // hixie has no codes: the connection just ends.
    let mut hixie = Client::connect(server.addr, "/echo", Dialect::Hixie75);
    hixie.send_text(&"x".repeat(1001));
    assert_eq!(hixie.recv(), Received::Eof);
}

#[test]
fn protocol_errors_close_with_their_code_and_the_server_keeps_serving() {
    let server = TestServer::echo(Settings::default());
    let mut bad = support::raw_connect(server.addr);
    let mut good = Client::connect(server.addr, "/echo", Dialect::Rfc6455);
    // An unmasked client frame after a valid handshake.
    let mut handshake = Client::connect(server.addr, "/echo", Dialect::Rfc6455);
    handshake
        .stream
        .write_all(&[0x81, 0x02, b'h', b'i'])
        .unwrap();
    assert_eq!(handshake.recv(), Received::Close(Some(1002), String::new()));
    // Garbage instead of a handshake.
    bad.write_all(&[0xff; 64]).unwrap();
    let answer = {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut bad, &mut v);
        v
    };
    assert_eq!(support::status_of(&answer), 400);
    // Invalid UTF-8.
    let mut utf8 = Client::connect(server.addr, "/echo", Dialect::Rfc6455);
    utf8.send(MessageKind::Text, b"\xed\xa0\x80");
    assert_eq!(utf8.recv(), Received::Close(Some(1007), String::new()));
    good.send_text("still here");
    assert_eq!(good.recv_message(), Received::Text("still here".into()));
}
