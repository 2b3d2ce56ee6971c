//! Compression end to end: a client `Connection` that compresses (either scope, any window,
//! with or without context takeover, any size threshold) sends arbitrary messages, whole or
//! streamed, to a server that inflates them through `Inflater::route` in tiny pieces, its
//! receiver stopping and resuming at arbitrary points; arbitrary raw bytes may be injected.
//! Nothing panics, no message delivers more plaintext than the limit, and without injected
//! bytes every message arrives exactly as sent.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ws_protocols::compression::{Compression, Fed, Scope, StreamParams};
use ws_protocols::connection::{Connection, OutboundOptions};
use ws_protocols::{Dialect, Event, Limits, MessageKind, Role};

#[derive(Arbitrary, Debug)]
enum Op {
    Send {
        binary: bool,
        payload: Vec<u8>,
        streamed: bool,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    frame_scope: bool,
    client_bits: u8,
    server_bits: u8,
    keep: bool,
    min_size: u8,
    fragment: u8,
    /// Bit i: stop after the i-th delivery (mod 8).
    stops: u8,
    ops: Vec<Op>,
}

const MAX_MESSAGE: u64 = 1 << 16;

fuzz_target!(|input: Input| {
    let scope = if input.frame_scope {
        Scope::Frame
    } else {
        Scope::Message
    };
    let stream = |bits: u8, keep| StreamParams {
        window_bits: 8 + bits % 8,
        keep_context: keep,
    };
    let (client_stream, server_stream) = (
        stream(input.client_bits, input.keep),
        stream(input.server_bits, !input.keep),
    );
    let mut limits = Limits::default();
    limits.max_message = MAX_MESSAGE;
    limits.max_frame = MAX_MESSAGE;
    let options = OutboundOptions {
        fragment_size: (input.fragment > 0).then_some(usize::from(input.fragment)),
        ..Default::default()
    };
    let dialect = Dialect::Rfc6455;
    let mut client = Connection::new(dialect, Role::Client, &limits, [1; 16], options);
    let mut server = Connection::new(dialect, Role::Server, &limits, [0; 16], options);
    let _ = client.set_compression(
        &Compression {
            scope,
            ours: client_stream,
            theirs: server_stream,
        },
        usize::from(input.min_size),
        MAX_MESSAGE,
    );
    let mut inflater = server.set_compression(
        &Compression {
            scope,
            ours: server_stream,
            theirs: client_stream,
        },
        0,
        MAX_MESSAGE,
    );
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    let mut injected = false;
    for op in input.ops.into_iter().take(16) {
        match op {
            Op::Send {
                binary,
                payload,
                streamed,
            } => {
                let (kind, payload) = if binary {
                    (MessageKind::Binary, payload)
                } else {
                    let text = String::from_utf8_lossy(&payload).into_owned();
                    (MessageKind::Text, text.into_bytes())
                };
                let out = &mut client.outbound;
                if streamed {
                    out.begin(kind, None, &mut wire).unwrap();
                    for piece in payload.chunks(50) {
                        out.chunk(piece, &mut wire).unwrap();
                    }
                    out.end(&mut wire).unwrap();
                } else {
                    out.send_whole(kind, &payload, &mut wire).unwrap();
                }
                sent.push(payload);
            }
            Op::Raw(bytes) => {
                injected = true;
                wire.extend_from_slice(&bytes);
            }
        }
    }
    let mut received: Vec<Vec<u8>> = Vec::new();
    let mut message: Option<Vec<u8>> = None;
    let mut answers = Vec::new();
    let mut out = [0u8; 37];
    let mut deliveries = 0u32;
    let mut pos = 0;
    'reading: loop {
        let (n, event) = match server.read(&mut wire[pos..], &mut answers) {
            Ok((n, Some(event))) => (n, event),
            Ok((_, None)) | Err(_) => break,
        };
        pos += n;
        let mut take = |event: Event<'_>| {
            deliveries += 1;
            match event {
                Event::MessageStart { .. } => message = Some(Vec::new()),
                Event::Data(data) => {
                    let open = message.as_mut().expect("data inside a message");
                    open.extend_from_slice(data);
                    assert!(open.len() as u64 <= MAX_MESSAGE);
                }
                Event::MessageEnd => received.push(message.take().expect("an open message")),
                Event::Compressed { .. } => panic!("compressed payload delivered"),
                _ => {}
            }
            input.stops & (1 << (deliveries % 8)) == 0
        };
        let mut fed = match inflater.route(event, &mut out, &mut take) {
            Ok(fed) => fed,
            Err(_) => break,
        };
        while fed == Fed::Stopped {
            fed = match inflater.resume(&mut out, |piece| take(Event::Data(piece))) {
                Ok(fed) => fed,
                Err(_) => break 'reading,
            };
        }
    }
    if !injected {
        assert_eq!(received, sent, "answers {answers:x?}");
    }
});
