//! Property: whatever messages are encoded in any dialect, in either direction, whole or
//! streamed in pieces, with control frames between them, and however the bytes are split on
//! the way, the decoder gives the same messages back.

mod support;

use proptest::prelude::*;
use support::{Ev, Feeder};
use ws_protocols::frame::Control;
use ws_protocols::{Dialect, Encoder, Limits, MessageKind, Role};

#[derive(Clone, Debug)]
enum Item {
    /// A data message; `pieces` = None sends it whole, Some(cuts) streams it.
    Message {
        kind: MessageKind,
        payload: Vec<u8>,
        pieces: Option<Vec<usize>>,
        declared: bool,
    },
    Ping(Vec<u8>),
}

fn item() -> impl Strategy<Value = Item> {
    let text = ".{0,300}".prop_map(|s: String| (MessageKind::Text, s.into_bytes()));
    let binary = prop::collection::vec(any::<u8>(), 0..3000).prop_map(|b| (MessageKind::Binary, b));
    let message = (
        prop_oneof![text, binary],
        prop::option::of(prop::collection::vec(0usize..4000, 0..6)),
        any::<bool>(),
    )
        .prop_map(|((kind, payload), pieces, declared)| Item::Message {
            kind,
            payload,
            pieces,
            declared,
        });
    prop_oneof![
        4 => message,
        1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Item::Ping),
    ]
}

/// Encode `items` with `sender` and return the wire bytes plus the events a decoder must
/// produce. Items a dialect cannot carry are left out of both.
fn encode(dialect: Dialect, sender: Role, items: &[Item]) -> (Vec<u8>, Vec<Ev>) {
    let caps = dialect.caps();
    let mut enc = match sender {
        Role::Client => Encoder::client(dialect, [42; 16]),
        Role::Server => Encoder::server(dialect),
    };
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for item in items {
        match item {
            Item::Ping(p) if caps.ping => {
                enc.control(Control::Ping, p, &mut wire).unwrap();
                expected.push(Ev::Ping(p.clone()));
            }
            Item::Ping(_) => {}
            Item::Message {
                kind,
                payload,
                pieces,
                declared,
            } => {
                let streamed_binary_on_hixie = !caps.fragments && *kind == MessageKind::Binary;
                let declared = *declared || pieces.is_none() || streamed_binary_on_hixie;
                let len = declared.then_some(payload.len() as u64);
                wire.extend_from_slice(&enc.begin(*kind, len).unwrap());
                let mut cuts: Vec<usize> = pieces
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| c.min(payload.len()))
                    .collect();
                cuts.push(0);
                cuts.push(payload.len());
                cuts.sort_unstable();
                let mut pong_sent = false;
                for w in cuts.windows(2) {
                    let piece = &payload[w[0]..w[1]];
                    wire.extend_from_slice(&enc.chunk(piece.len()).unwrap());
                    let start = wire.len();
                    wire.extend_from_slice(piece);
                    enc.mask_payload(&mut wire[start..]);
                    // Control frames may interleave with fragments where the dialect allows;
                    // the message is open on the wire once a non-empty fragment is out.
                    if caps.ping && caps.fragments && !declared && !piece.is_empty() && !pong_sent {
                        enc.control(Control::Pong, b"mid", &mut wire).unwrap();
                        pong_sent = true;
                    }
                }
                wire.extend_from_slice(&enc.end().unwrap());
                expected.push(Ev::Start(*kind, None));
                if pong_sent {
                    expected.push(Ev::Pong(b"mid".to_vec()));
                }
                if !payload.is_empty() {
                    expected.push(Ev::Data(payload.clone()));
                }
                expected.push(Ev::End);
            }
        }
    }
    (wire, expected)
}

/// Drop declared lengths (after checking them) and move mid-message pongs to the front of
/// their message, so the comparison is about content, not about how it was chunked.
fn normalise(events: Vec<Ev>) -> Vec<Ev> {
    let mut out: Vec<Ev> = Vec::new();
    let mut open: Option<(usize, Option<u64>, u64)> = None;
    for ev in events {
        match ev {
            Ev::Start(kind, len) => {
                open = Some((out.len(), len, 0));
                out.push(Ev::Start(kind, None));
            }
            Ev::Data(d) => {
                if let Some((_, _, n)) = open.as_mut() {
                    *n += d.len() as u64;
                }
                match out.last_mut() {
                    Some(Ev::Data(prev)) => prev.extend_from_slice(&d),
                    _ => out.push(Ev::Data(d)),
                }
            }
            Ev::End => {
                let (_, len, n) = open.take().expect("End without Start");
                if let Some(len) = len {
                    assert_eq!(len, n, "declared length matches the payload");
                }
                out.push(Ev::End);
            }
            Ev::Pong(p) if open.is_some() => {
                let (start, _, _) = open.unwrap();
                out.insert(start + 1, Ev::Pong(p));
            }
            other => out.push(other),
        }
    }
    out
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=N runs more.
    #[test]
    fn encode_split_decode_gives_the_messages_back(
        dialect in prop::sample::select(Dialect::ALL.to_vec()),
        sender in prop::sample::select(vec![Role::Client, Role::Server]),
        items in prop::collection::vec(item(), 0..8),
        splits in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let (wire, expected) = encode(dialect, sender, &items);
        let receiver = match sender { Role::Client => Role::Server, Role::Server => Role::Client };
        let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(wire.len() + 1)).collect();
        cuts.push(0);
        cuts.push(wire.len());
        cuts.sort_unstable();
        let mut feeder = Feeder::new(dialect, receiver, &Limits::default());
        for w in cuts.windows(2) {
            feeder.feed(&wire[w[0]..w[1]]).unwrap();
        }
        prop_assert_eq!(feeder.pending(), 0, "every byte consumed");
        prop_assert_eq!(normalise(feeder.events), normalise(expected));
    }
}
