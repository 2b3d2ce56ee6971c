//! The in-memory pair harness: a client and a server [`Connection`] of every dialect, wired
//! together without sockets, the bytes between them cut at pseudo-random places. Each test
//! runs one part of a connection's life (messages, pings, both close directions, failures)
//! for every dialect and several ways of cutting the wire, and checks what each side saw.

use ws_protocols::compression::{Compression, Fed, Inflater, Scope, StreamParams};
use ws_protocols::connection::{
    Assembly, CloseInfo, CloseOutcome, Connection, HixieBinary, OutboundOptions,
};
use ws_protocols::frame::{ConnectionKey, Control};
use ws_protocols::message::Message;
use ws_protocols::{close, Dialect, Event, Limits, MessageKind, ProtocolError, Role};

/// What one side was told, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(CloseInfo),
    Failed(ProtocolError),
}

/// The hybi-04 connection key of every pair.
const PAIR_KEY: ConnectionKey = ConnectionKey([0x5c; 20]);

/// Small deterministic generator for chunk sizes (xorshift).
struct Cuts(u64);

impl Cuts {
    fn next(&mut self, max: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        1 + (self.0 % max as u64) as usize
    }
}

/// One end: its protocol life, whole-message assembly, the bytes it has received but not
/// yet consumed, and what it was told.
struct End {
    connection: Connection,
    assembly: Assembly,
    /// Present once compression is on: events go through it.
    inflater: Option<Inflater>,
    inbox: Vec<u8>,
    seen: Vec<Seen>,
}

impl End {
    fn new(dialect: Dialect, role: Role, options: OutboundOptions) -> End {
        let limits = Limits::default();
        End {
            // Both ends hold the same hybi-04 connection key, as their handshake would
            // give them (other dialects ignore it).
            connection: Connection::with_connection_key(
                dialect,
                role,
                &limits,
                [9; 16],
                options,
                Some(PAIR_KEY),
            ),
            assembly: Assembly::new(1 << 24),
            inflater: None,
            inbox: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// Take `bytes` off the wire and process them; answers go to `back`.
    fn receive(&mut self, bytes: &[u8], back: &mut Vec<u8>) {
        self.inbox.extend_from_slice(bytes);
        let mut pos = 0;
        let mut inbox = std::mem::take(&mut self.inbox);
        loop {
            match self.connection.read(&mut inbox[pos..], back) {
                Ok((n, Some(event))) => {
                    pos += n;
                    let Some(inflater) = self.inflater.as_mut() else {
                        self.event(event);
                        continue;
                    };
                    // Small pieces, so a message inflates over many of them.
                    let mut out = [0u8; 100];
                    let (assembly, seen) = (&mut self.assembly, &mut self.seen);
                    match inflater.route(event, &mut out, |e| {
                        End::record(assembly, seen, e);
                        true
                    }) {
                        Ok(fed) => assert_eq!(fed, Fed::Done),
                        Err(e) => {
                            self.seen.push(Seen::Failed(e));
                            pos = inbox.len();
                            break;
                        }
                    }
                }
                Ok((n, None)) => {
                    pos += n;
                    break;
                }
                Err(e) => {
                    self.seen.push(Seen::Failed(e));
                    pos = inbox.len();
                    break;
                }
            }
        }
        inbox.drain(..pos);
        self.inbox = inbox;
    }

    fn event(&mut self, event: Event<'_>) {
        End::record(&mut self.assembly, &mut self.seen, event);
    }

    fn record(assembly: &mut Assembly, seen_so_far: &mut Vec<Seen>, event: Event<'_>) {
        let seen = match event {
            Event::Ping(p) => Seen::Ping(p.to_vec()),
            Event::Pong(p) => Seen::Pong(p.to_vec()),
            Event::Close(frame) => Seen::Close(CloseInfo::received(&frame)),
            Event::Compressed { .. } => panic!("compressed payload reached the application"),
            message => match assembly.push(message, |_, _| true) {
                Ok(Some(Message::Text(t))) => Seen::Text(t.to_owned()),
                Ok(Some(Message::Binary(b))) => Seen::Binary(b.to_vec()),
                Ok(None) => return,
                Err(e) => panic!("assembly: {e:?}"),
            },
        };
        seen_so_far.push(seen);
    }

    /// Speak `agreed`, compressing messages of at least `min_size` bytes.
    fn compress(&mut self, agreed: &Compression, min_size: usize) {
        let limit = Limits::default().max_message;
        self.inflater = Some(self.connection.set_compression(agreed, min_size, limit));
    }
}

/// A client and a server, and the bytes on the wire each way.
struct Pair {
    client: End,
    server: End,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    cuts: Cuts,
}

impl Pair {
    fn new(dialect: Dialect, seed: u64) -> Pair {
        let options = OutboundOptions {
            fragment_size: Some(1000),
            hixie_binary: HixieBinary::LengthPrefixed,
        };
        Pair {
            client: End::new(dialect, Role::Client, options),
            server: End::new(dialect, Role::Server, options),
            to_server: Vec::new(),
            to_client: Vec::new(),
            cuts: Cuts(seed | 1),
        }
    }

    /// Move every byte on the wire, both ways, in pseudo-random pieces, until both are
    /// quiet (answers produce more bytes, which move too).
    fn settle(&mut self) {
        while !self.to_server.is_empty() || !self.to_client.is_empty() {
            let wire = std::mem::take(&mut self.to_server);
            let mut rest = &wire[..];
            while !rest.is_empty() {
                let n = self.cuts.next(rest.len().min(300));
                self.server.receive(&rest[..n], &mut self.to_client);
                rest = &rest[n..];
            }
            let wire = std::mem::take(&mut self.to_client);
            let mut rest = &wire[..];
            while !rest.is_empty() {
                let n = self.cuts.next(rest.len().min(300));
                self.client.receive(&rest[..n], &mut self.to_server);
                rest = &rest[n..];
            }
        }
    }
}

const SEEDS: [u64; 4] = [1, 7, 0xdead_beef, 0x1234_5678_9abc];

fn every_pair(mut test: impl FnMut(Dialect, Pair)) {
    for dialect in Dialect::ALL {
        for seed in SEEDS {
            test(dialect, Pair::new(dialect, seed));
        }
    }
}

#[test]
fn messages_cross_both_ways_whole_and_in_fragments() {
    every_pair(|dialect, mut pair| {
        let long: String = "Größe ".repeat(5000);
        let texts = ["", "hello", "é€𝄞", long.as_str()];
        for text in texts {
            pair.client
                .connection
                .outbound
                .send_whole(MessageKind::Text, text.as_bytes(), &mut pair.to_server)
                .unwrap();
            pair.server
                .connection
                .outbound
                .send_whole(MessageKind::Text, text.as_bytes(), &mut pair.to_client)
                .unwrap();
        }
        let binary: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
        pair.client
            .connection
            .outbound
            .send_whole(MessageKind::Binary, &binary, &mut pair.to_server)
            .unwrap();
        pair.settle();
        let mut expected: Vec<Seen> = texts.iter().map(|t| Seen::Text(t.to_string())).collect();
        assert_eq!(pair.client.seen, expected, "{dialect}: client");
        expected.push(Seen::Binary(binary));
        assert_eq!(pair.server.seen, expected, "{dialect}: server");
    });
}

#[test]
fn a_streamed_message_arrives_whole() {
    every_pair(|dialect, mut pair| {
        let out = &mut pair.client.connection.outbound;
        out.begin(MessageKind::Text, None, &mut pair.to_server)
            .unwrap();
        for piece in ["stre", "amed", " ", "text"] {
            out.chunk(piece.as_bytes(), &mut pair.to_server).unwrap();
        }
        assert_eq!(out.end(&mut pair.to_server).unwrap(), None);
        pair.settle();
        assert_eq!(
            pair.server.seen,
            [Seen::Text("streamed text".into())],
            "{dialect}"
        );
    });
}

#[test]
fn pings_are_answered_by_the_connection_itself() {
    every_pair(|dialect, mut pair| {
        let sent = pair.client.connection.outbound.control(
            Control::Ping,
            b"are you there",
            &mut pair.to_server,
        );
        if !dialect.caps().ping {
            assert!(sent.is_err(), "{dialect} has no ping");
            return;
        }
        sent.unwrap();
        pair.settle();
        assert_eq!(pair.server.seen, [Seen::Ping(b"are you there".to_vec())]);
        assert_eq!(pair.client.seen, [Seen::Pong(b"are you there".to_vec())]);
    });
}

/// One side closes with 1000 "bye"; both sides end as each dialect prescribes.
fn close_from(dialect: Dialect, mut pair: Pair, client_first: bool) {
    let (closer, closer_wire) = if client_first {
        (&mut pair.client, &mut pair.to_server)
    } else {
        (&mut pair.server, &mut pair.to_client)
    };
    let outcome = closer
        .connection
        .outbound
        .close(1000, "bye", closer_wire)
        .unwrap();
    let caps = dialect.caps();
    if !caps.close_frame {
        // hixie-75: the TCP close is all; the other side sees the end of the stream.
        assert_eq!(outcome, CloseOutcome::TcpOnly);
        assert!(closer_wire.is_empty());
        assert!(CloseInfo::end_of_stream(caps).clean);
        return;
    }
    assert_eq!(outcome, CloseOutcome::FrameQueued, "{dialect}");
    pair.settle();
    let (closer, other) = if client_first {
        (&pair.client, &pair.server)
    } else {
        (&pair.server, &pair.client)
    };
    let (code, reason) = if caps.close_codes {
        (1000, "bye")
    } else {
        (close::NO_STATUS, "")
    };
    let heard = CloseInfo {
        code,
        reason: reason.into(),
        clean: true,
    };
    assert_eq!(
        other.seen,
        [Seen::Close(heard)],
        "{dialect}: the other side"
    );
    // The answer echoes the code (without the reason) or the whole body.
    let echo = CloseInfo {
        code,
        reason: String::new(),
        clean: true,
    };
    assert_eq!(closer.seen, [Seen::Close(echo)], "{dialect}: the closer");
    assert!(closer.connection.outbound.close_sent());
    assert!(other.connection.outbound.close_sent());
    assert!(closer.connection.inbound.peer_closed() && other.connection.inbound.peer_closed());
}

#[test]
fn the_client_closes_and_the_server_answers() {
    every_pair(|dialect, pair| close_from(dialect, pair, true));
}

#[test]
fn the_server_closes_and_the_client_answers() {
    every_pair(|dialect, pair| close_from(dialect, pair, false));
}

#[test]
fn nothing_is_sent_after_a_close() {
    every_pair(|dialect, mut pair| {
        let out = &mut pair.server.connection.outbound;
        out.close(1001, "going", &mut pair.to_client).unwrap();
        let before = pair.to_client.len();
        assert!(out
            .send_whole(MessageKind::Text, b"late", &mut pair.to_client)
            .is_err());
        assert_eq!(pair.to_client.len(), before, "{dialect}");
    });
}

#[test]
fn a_close_during_hixie_text_waits_for_the_end_of_the_message() {
    for dialect in Dialect::ALL {
        let mut pair = Pair::new(dialect, 3);
        let out = &mut pair.server.connection.outbound;
        out.begin(MessageKind::Text, None, &mut pair.to_client)
            .unwrap();
        out.chunk(b"half", &mut pair.to_client).unwrap();
        let outcome = out.close(1000, "", &mut pair.to_client).unwrap();
        let expected = match dialect.caps() {
            caps if !caps.close_frame => CloseOutcome::TcpOnly,
            caps if !caps.fragments => CloseOutcome::Deferred,
            _ => CloseOutcome::FrameQueued,
        };
        assert_eq!(outcome, expected, "{dialect}");
        if outcome == CloseOutcome::Deferred {
            out.chunk(b" and the rest", &mut pair.to_client).unwrap();
            assert_eq!(
                out.end(&mut pair.to_client).unwrap(),
                Some(CloseOutcome::FrameQueued)
            );
            pair.settle();
            assert_eq!(pair.client.seen[0], Seen::Text("half and the rest".into()));
            assert!(matches!(pair.client.seen[1], Seen::Close(_)), "{dialect}");
        }
    }
}

/// Bytes no client of `dialect` may send: each dialect's framing broken in its own way.
fn garbage(dialect: Dialect) -> Vec<u8> {
    use ws_protocols::dialect::Masking;
    use ws_protocols::frame::mask::hybi04_frame_key;
    // Reserved opcode 0xF.
    let reserved = [0x8f, 0x00];
    match dialect.caps().masking {
        // A text frame that is not UTF-8.
        _ if dialect.caps().framing == ws_protocols::Framing::Sentinel => {
            b"\x00\xc0\xaf\xff".to_vec()
        }
        // hybi-05/06: behind a zero key, which masks nothing.
        Masking::WholeFrame => [&[0; 4][..], &reserved].concat(),
        // hybi-04: behind a nonce, masked with the frame key it gives.
        Masking::Sha1Nonce => {
            let key = hybi04_frame_key([0; 4], &PAIR_KEY);
            let masked = [reserved[0] ^ key[0], reserved[1] ^ key[1]];
            [&[0; 4][..], &masked].concat()
        }
        // Unmasked: a second fault for the dialects whose clients must mask.
        _ => reserved.to_vec(),
    }
}

#[test]
fn a_protocol_error_fails_the_connection_with_its_code() {
    every_pair(|dialect, mut pair| {
        // The server receives bytes that break the rules (written raw, as a broken client
        // would).
        pair.to_server.extend_from_slice(&garbage(dialect));
        pair.settle();
        let Some(Seen::Failed(error)) = pair.server.seen.last().cloned() else {
            panic!("{dialect}: server saw {:?}", pair.server.seen);
        };
        assert!(!pair.server.connection.outbound.is_open());
        let caps = dialect.caps();
        if !caps.close_frame {
            assert!(pair.client.seen.is_empty(), "{dialect}");
            return;
        }
        let code = if caps.close_codes {
            error.close_code()
        } else {
            close::NO_STATUS
        };
        assert_eq!(
            pair.client.seen,
            [Seen::Close(CloseInfo {
                code,
                reason: String::new(),
                clean: true
            })],
            "{dialect}"
        );
    });
}

#[test]
fn a_large_message_in_one_frame_survives_any_cut() {
    every_pair(|dialect, mut pair| {
        let payload: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let out = &mut pair.client.connection.outbound;
        out.begin(
            MessageKind::Text,
            Some(payload.len() as u64),
            &mut pair.to_server,
        )
        .unwrap_or_else(|e| panic!("{dialect}: {e}"));
        for piece in payload.chunks(7777) {
            out.chunk(piece, &mut pair.to_server).unwrap();
        }
        out.end(&mut pair.to_server).unwrap();
        pair.settle();
        assert_eq!(
            pair.server.seen,
            [Seen::Text(String::from_utf8(payload).unwrap())],
            "{dialect}"
        );
    });
}

/// Both ends of `dialect` speaking `scope` with each policy: the client's view of what was
/// agreed, and the server's (the same streams, seen from the other side).
fn compressed_pairs(mut test: impl FnMut(String, Pair, usize)) {
    for dialect in [Dialect::Hybi07, Dialect::Hybi08, Dialect::Rfc6455] {
        for scope in [Scope::Message, Scope::Frame] {
            for (client_bits, server_bits, keep) in [(15, 15, true), (9, 12, false), (10, 9, true)]
            {
                for (seed, min_size) in [(1, 0), (7, 64)] {
                    let client_stream = StreamParams {
                        window_bits: client_bits,
                        keep_context: keep,
                    };
                    let server_stream = StreamParams {
                        window_bits: server_bits,
                        keep_context: !keep,
                    };
                    let mut pair = Pair::new(dialect, seed);
                    pair.client.compress(
                        &Compression {
                            scope,
                            ours: client_stream,
                            theirs: server_stream,
                        },
                        min_size,
                    );
                    pair.server.compress(
                        &Compression {
                            scope,
                            ours: server_stream,
                            theirs: client_stream,
                        },
                        min_size,
                    );
                    let name = format!("{dialect} {scope:?} {client_bits}/{server_bits} {keep}");
                    test(name, pair, min_size);
                }
            }
        }
    }
}

#[test]
fn compressed_messages_cross_both_ways_whole_fragmented_and_streamed() {
    compressed_pairs(|name, mut pair, _| {
        let long: String = "Größe ".repeat(5000);
        let texts = ["", "hi", "é€𝄞", long.as_str(), long.as_str()];
        let mut sent = 0;
        for text in texts {
            let before = pair.to_server.len();
            pair.client
                .connection
                .outbound
                .send_whole(MessageKind::Text, text.as_bytes(), &mut pair.to_server)
                .unwrap();
            if text.len() > 1000 {
                // Compressed, in fragments of at most 1000 bytes: far fewer bytes.
                assert!(pair.to_server.len() - before < text.len() / 10, "{name}");
            }
            sent += 1;
            pair.server
                .connection
                .outbound
                .send_whole(MessageKind::Text, text.as_bytes(), &mut pair.to_client)
                .unwrap();
        }
        // Streamed, with chunks that cut characters.
        let out = &mut pair.server.connection.outbound;
        out.begin(MessageKind::Text, None, &mut pair.to_client)
            .unwrap();
        for piece in long.as_bytes().chunks(333) {
            out.chunk(piece, &mut pair.to_client).unwrap();
        }
        out.end(&mut pair.to_client).unwrap();
        // Streamed with a declared length: compressed, it goes in fragments all the same.
        let binary: Vec<u8> = (0..30_000u32).map(|i| (i % 13) as u8).collect();
        let out = &mut pair.client.connection.outbound;
        out.begin(
            MessageKind::Binary,
            Some(binary.len() as u64),
            &mut pair.to_server,
        )
        .unwrap();
        for piece in binary.chunks(4096) {
            out.chunk(piece, &mut pair.to_server).unwrap();
        }
        out.end(&mut pair.to_server).unwrap();
        // A ping between fragments of a compressed stream.
        pair.client
            .connection
            .outbound
            .control(Control::Ping, b"p", &mut pair.to_server)
            .unwrap();
        pair.settle();
        let mut expected: Vec<Seen> = texts.iter().map(|t| Seen::Text(t.to_string())).collect();
        let mut client_expected = expected.clone();
        client_expected.push(Seen::Text(long.clone()));
        client_expected.push(Seen::Pong(b"p".to_vec()));
        assert_eq!(pair.client.seen, client_expected, "{name}: client");
        expected.push(Seen::Binary(binary));
        expected.push(Seen::Ping(b"p".to_vec()));
        assert_eq!(pair.server.seen, expected, "{name}: server ({sent} sent)");
        // Without context takeover, nothing is held between messages.
        for end in [&pair.client, &pair.server] {
            let inflater = end.inflater.as_ref().unwrap();
            assert!(!inflater.is_pending());
        }
    });
}

#[test]
fn small_messages_go_uncompressed_and_compressed_ones_carry_rsv1() {
    compressed_pairs(|name, mut pair, min_size| {
        let mut wire = Vec::new();
        let out = &mut pair.server.connection.outbound;
        out.send_whole(MessageKind::Text, &[b'a'; 63], &mut wire)
            .unwrap();
        let compressed = wire[0] & 0x40 != 0;
        assert_eq!(compressed, min_size <= 63, "{name}");
        wire.clear();
        out.send_whole(MessageKind::Text, &[b'a'; 200], &mut wire)
            .unwrap();
        assert_eq!(wire[0], 0xc1, "{name}: FIN, RSV1, text");
        assert!(wire.len() < 30, "{name}");
    });
}

#[test]
fn incompressible_messages_go_as_they_are_and_the_stream_goes_on() {
    compressed_pairs(|name, mut pair, _| {
        if !name.contains("Message") {
            // deflate-frame compresses each fragment as it is streamed (these pairs fragment
            // at 1000 bytes), before the whole can be weighed.
            return;
        }
        // Bytes deflate cannot shrink (an LCG's high bytes), then text it can, twice each:
        // the random ones leave without RSV1 and no larger than they are, and the text after
        // them still inflates in a peer that keeps its window.
        let mut x = 0x2545_f491u32;
        let random: Vec<u8> = (0..2000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 24) as u8
            })
            .collect();
        let text = "the same words again and again; ".repeat(60);
        let out = &mut pair.client.connection.outbound;
        for _ in 0..2 {
            let mut wire = Vec::new();
            out.send_whole(MessageKind::Binary, &random, &mut wire)
                .unwrap();
            assert_eq!(wire[0] & 0x40, 0, "{name}: no RSV1 on incompressible bytes");
            // The header (and mask), at most 1000-byte fragments: no deflate overhead.
            assert!(
                wire.len() <= random.len() + 2 * 14,
                "{name}: {}",
                wire.len()
            );
            pair.to_server.extend_from_slice(&wire);
            let mut wire = Vec::new();
            out.send_whole(MessageKind::Text, text.as_bytes(), &mut wire)
                .unwrap();
            assert_eq!(wire[0] & 0x40, 0x40, "{name}: RSV1 on text");
            pair.to_server.extend_from_slice(&wire);
        }
        pair.settle();
        let expected = [
            Seen::Binary(random.clone()),
            Seen::Text(text.clone()),
            Seen::Binary(random),
            Seen::Text(text),
        ];
        assert_eq!(pair.server.seen, expected, "{name}");
    });
}

#[test]
fn misplaced_compressed_bits_fail_the_connection_with_1002() {
    let agreed = Compression {
        scope: Scope::Message,
        ours: StreamParams::DEFAULT,
        theirs: StreamParams::DEFAULT,
    };
    // RSV1 on a continuation (permessage-deflate), and on a ping (either scope).
    let continuation = [0x01, 0x01, b'a', 0xc0, 0x00];
    let ping = [0xc9, 0x00];
    for (scope, bytes) in [
        (Scope::Message, &continuation[..]),
        (Scope::Message, &ping[..]),
        (Scope::Frame, &ping[..]),
    ] {
        let mut pair = Pair::new(Dialect::Rfc6455, 1);
        pair.client.compress(&Compression { scope, ..agreed }, 0);
        pair.client.receive(bytes, &mut pair.to_server);
        assert_eq!(
            pair.client.seen.last(),
            Some(&Seen::Failed(ProtocolError::MisplacedCompressedBit)),
            "{scope:?} {bytes:x?}"
        );
        // A masked close with code 1002.
        let close = &pair.to_server;
        assert_eq!(close[..2], [0x88, 0x82]);
        let code = [close[6] ^ close[2], close[7] ^ close[3]];
        assert_eq!(u16::from_be_bytes(code), 1002);
    }
    // RSV1 where nothing was negotiated: reserved.
    let mut pair = Pair::new(Dialect::Rfc6455, 1);
    pair.client
        .receive(&[0xc1, 0x01, b'a'], &mut pair.to_server);
    assert_eq!(
        pair.client.seen.last(),
        Some(&Seen::Failed(ProtocolError::ReservedBits))
    );
}
