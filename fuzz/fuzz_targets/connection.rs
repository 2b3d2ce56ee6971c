//! Arbitrary interleavings of sends, pings, closes, raw bytes and deliveries in arbitrary
//! pieces, into a client and a server `Connection` of any dialect: nothing panics, what one
//! call writes is bounded by what it was given, nothing but the close's answer follows a
//! close, and every close either side reports carries a code it may carry.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ws_protocols::close;
use ws_protocols::connection::{Connection, HixieBinary, OutboundOptions};
use ws_protocols::frame::{ConnectionKey, Control};
use ws_protocols::{Dialect, Event, Limits, MessageKind, Role};

#[derive(Arbitrary, Debug)]
enum Op {
    Send {
        client: bool,
        binary: bool,
        payload: Vec<u8>,
        streamed: bool,
    },
    Ping {
        client: bool,
        payload: Vec<u8>,
    },
    Close {
        client: bool,
        code: u16,
        reason: String,
    },
    Raw {
        to_client: bool,
        bytes: Vec<u8>,
    },
    Deliver {
        to_client: bool,
        len: u16,
    },
}

struct Side {
    connection: Connection,
    inbox: Vec<u8>,
    /// Bytes written towards the other side, not yet delivered.
    wire: Vec<u8>,
}

fn side(dialect: Dialect, role: Role, limits: &Limits) -> Side {
    let options = OutboundOptions {
        fragment_size: Some(64),
        hixie_binary: HixieBinary::LengthPrefixed,
    };
    Side {
        // Both sides hold the hybi-04 connection key a handshake would have given them.
        connection: Connection::with_connection_key(
            dialect,
            role,
            limits,
            [3; 16],
            options,
            Some(ConnectionKey([0x3c; 20])),
        ),
        inbox: Vec::new(),
        wire: Vec::new(),
    }
}

/// The bound on what one call may write: the payload, plus frame heads (one per fragment of
/// 64 bytes, at most 14 bytes each), plus at most one held pong, ping and close.
fn bound(payload: usize) -> usize {
    payload + (payload / 64 + 2) * 14 + 3 * (14 + 125)
}

fn check_close(dialect: Dialect, event: &Event<'_>) {
    if let Event::Close(frame) = event {
        if let Some(code) = frame.code {
            assert!(dialect.caps().close_codes);
            assert!(close::is_valid_received(code, dialect.caps().close_1004));
        }
    }
}

fuzz_target!(|input: (u8, Vec<Op>)| {
    let (dialect, ops) = input;
    let dialect = Dialect::ALL[usize::from(dialect) % Dialect::ALL.len()];
    let mut limits = Limits::default();
    limits.max_message = 1 << 16;
    limits.max_frame = 1 << 16;
    let mut client = side(dialect, Role::Client, &limits);
    let mut server = side(dialect, Role::Server, &limits);
    for op in ops.into_iter().take(64) {
        match op {
            Op::Send {
                client: c,
                binary,
                payload,
                streamed,
            } => {
                let s = if c { &mut client } else { &mut server };
                let before = s.wire.len();
                let kind = if binary {
                    MessageKind::Binary
                } else {
                    MessageKind::Text
                };
                let payload = if binary {
                    payload
                } else {
                    String::from_utf8_lossy(&payload).into_owned().into_bytes()
                };
                let out = &mut s.connection.outbound;
                if streamed {
                    if out.begin(kind, None, &mut s.wire).is_ok() {
                        for piece in payload.chunks(50) {
                            let _ = out.chunk(piece, &mut s.wire);
                        }
                        let _ = out.end(&mut s.wire);
                    }
                } else {
                    let _ = out.send_whole(kind, &payload, &mut s.wire);
                }
                assert!(s.wire.len() - before <= bound(payload.len()));
                assert!(!out.in_message());
            }
            Op::Ping { client: c, payload } => {
                let s = if c { &mut client } else { &mut server };
                let before = s.wire.len();
                let _ = s
                    .connection
                    .outbound
                    .control(Control::Ping, &payload, &mut s.wire);
                assert!(s.wire.len() - before <= bound(0));
            }
            Op::Close {
                client: c,
                code,
                reason,
            } => {
                let s = if c { &mut client } else { &mut server };
                let before = s.wire.len();
                let _ = s.connection.outbound.close(code, &reason, &mut s.wire);
                assert!(s.wire.len() - before <= bound(0));
                if s.connection.outbound.close_sent() {
                    let after = s.wire.len();
                    let late =
                        s.connection
                            .outbound
                            .send_whole(MessageKind::Text, b"x", &mut s.wire);
                    assert!(late.is_err());
                    assert_eq!(s.wire.len(), after);
                }
            }
            Op::Raw { to_client, bytes } => {
                let s = if to_client { &mut server } else { &mut client };
                s.wire.extend_from_slice(&bytes);
            }
            Op::Deliver { to_client, len } => {
                let (from, to) = if to_client {
                    (&mut server, &mut client)
                } else {
                    (&mut client, &mut server)
                };
                let n = usize::from(len).min(from.wire.len());
                to.inbox.extend(from.wire.drain(..n));
                let mut pos = 0;
                loop {
                    let before = to.wire.len();
                    match to.connection.read(&mut to.inbox[pos..], &mut to.wire) {
                        Ok((used, Some(event))) => {
                            pos += used;
                            check_close(dialect, &event);
                            // An answer is one control frame at most.
                            assert!(to.wire.len() - before <= 14 + 125);
                        }
                        Ok((used, None)) => {
                            pos += used;
                            break;
                        }
                        Err(_) => {
                            assert!(!to.connection.outbound.is_open());
                            pos = to.inbox.len();
                            break;
                        }
                    }
                }
                to.inbox.drain(..pos);
                if to.connection.inbound.peer_closed() {
                    // Nothing after the peer's close is decoded: a receiver drops it.
                    to.inbox.clear();
                }
                // What stays is at most an incomplete header or control frame.
                assert!(to.inbox.len() <= 14 + 125 + 4);
            }
        }
    }
});
