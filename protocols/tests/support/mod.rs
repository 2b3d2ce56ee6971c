//! Shared test harness: feed bytes to a decoder in arbitrary chunks, the way a socket would,
//! and record owned events.
#![allow(dead_code)]

pub mod roundtrip;

use ws_protocols::frame::ConnectionKey;
use ws_protocols::{Decode, Decoder, Dialect, Event, Limits, MessageKind, ProtocolError, Role};

/// The hybi-04 connection key both ends of a test use (what a handshake would give them:
/// docs/protocols.md §4.3's key of `dGhlIHNhbXBsZSBub25jZQ==` and `AQIDBAUGBwgJCgsMDQ4PEC==`).
/// Every other dialect ignores it.
pub const TEST_KEY: ConnectionKey = ConnectionKey([
    0x41, 0xe1, 0x4f, 0x78, 0x31, 0x1e, 0x4c, 0x34, 0x28, 0x3e, 0x6d, 0x8b, 0x36, 0x3b, 0x88, 0x48,
    0xd5, 0x85, 0x91, 0xa7,
]);

/// The decoder a test uses: keyed with [`TEST_KEY`].
pub fn decoder(dialect: Dialect, role: Role, limits: &Limits) -> Decoder {
    Decoder::with_connection_key(dialect, role, limits, Some(TEST_KEY))
}

/// An owned copy of an event; consecutive `Data` chunks are merged so results do not depend
/// on how the input was split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Start(MessageKind, Option<u64>),
    Data(Vec<u8>),
    /// Compressed payload of one frame so far, and whether its frame has ended.
    Compressed(Vec<u8>, bool),
    End,
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String, Vec<u8>),
}

pub struct Feeder {
    pub decoder: Decoder,
    pending: Vec<u8>,
    pub events: Vec<Ev>,
    /// Total bytes presented so far (consumed or pending).
    pub fed: usize,
}

impl Feeder {
    pub fn new(dialect: Dialect, role: Role, limits: &Limits) -> Self {
        Feeder {
            decoder: decoder(dialect, role, limits),
            pending: Vec::new(),
            events: Vec::new(),
            fed: 0,
        }
    }

    /// Append `bytes` and decode what can be decoded; unconsumed bytes are kept.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        self.fed += bytes.len();
        self.pending.extend_from_slice(bytes);
        let events = &mut self.events;
        let consumed = self
            .decoder
            .decode_each(&mut self.pending, |e| push(events, e))?;
        self.pending.drain(..consumed);
        Ok(())
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

fn push(events: &mut Vec<Ev>, event: Event<'_>) {
    let ev = match event {
        Event::MessageStart { kind, len } => Ev::Start(kind, len),
        Event::Data(d) => {
            assert!(!d.is_empty(), "Data events are never empty");
            if let Some(Ev::Data(prev)) = events.last_mut() {
                prev.extend_from_slice(d);
                return;
            }
            Ev::Data(d.to_vec())
        }
        Event::Compressed { data, frame_end } => {
            assert!(!data.is_empty(), "Compressed events are never empty");
            if let Some(Ev::Compressed(prev, ended)) = events.last_mut() {
                if !*ended {
                    prev.extend_from_slice(data);
                    *ended = frame_end;
                    return;
                }
            }
            Ev::Compressed(data.to_vec(), frame_end)
        }
        Event::MessageEnd => Ev::End,
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close(c) => Ev::Close(c.code, c.reason.to_string(), c.body.to_vec()),
    };
    events.push(ev);
}

/// Decode `bytes` in one piece, and again one byte at a time; both must agree.
pub fn decode(dialect: Dialect, role: Role, bytes: &[u8]) -> Result<Vec<Ev>, ProtocolError> {
    decode_with(dialect, role, &Limits::default(), bytes)
}

pub fn decode_with(
    dialect: Dialect,
    role: Role,
    limits: &Limits,
    bytes: &[u8],
) -> Result<Vec<Ev>, ProtocolError> {
    let mut whole = Feeder::new(dialect, role, limits);
    let whole_result = whole.feed(bytes).map(|_| whole.events.clone());
    let mut bytewise = Feeder::new(dialect, role, limits);
    let mut bytewise_result = Ok(());
    for b in bytes {
        bytewise_result = bytewise.feed(std::slice::from_ref(b));
        if bytewise_result.is_err() {
            break;
        }
    }
    let bytewise_result = bytewise_result.map(|_| bytewise.events.clone());
    assert_eq!(whole_result, bytewise_result, "whole vs byte-at-a-time");
    let one_by_one = decode_one_call_per_event(dialect, role, limits, bytes);
    assert_eq!(whole_result, one_by_one, "decode_each vs decode");
    whole_result
}

/// Decode `bytes` in one piece with one `decode` call per event rather than `decode_each`
/// (which decoders may implement separately, for speed).
fn decode_one_call_per_event(
    dialect: Dialect,
    role: Role,
    limits: &Limits,
    bytes: &[u8],
) -> Result<Vec<Ev>, ProtocolError> {
    let mut decoder = decoder(dialect, role, limits);
    let mut buf = bytes.to_vec();
    let mut events = Vec::new();
    let mut pos = 0;
    loop {
        let (n, event) = decoder.decode(&mut buf[pos..])?;
        pos += n;
        match event {
            Some(event) => push(&mut events, event),
            None => return Ok(events),
        }
    }
}

pub fn text(s: &str) -> Vec<Ev> {
    vec![
        Ev::Start(MessageKind::Text, None),
        Ev::Data(s.as_bytes().to_vec()),
        Ev::End,
    ]
}

pub fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}
