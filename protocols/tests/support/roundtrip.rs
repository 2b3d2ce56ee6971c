//! Encoding a list of messages in any dialect, and the normal form decoded events are
//! compared in, shared by the property test and the round-trip fuzz target.

use super::{Ev, TEST_KEY};
use ws_protocols::frame::Control;
use ws_protocols::{Dialect, Encoder, MessageKind, Role};

#[derive(Clone, Debug)]
pub enum Item {
    /// A data message; `pieces` = None sends it whole, Some(cuts) streams it.
    Message {
        kind: MessageKind,
        payload: Vec<u8>,
        pieces: Option<Vec<usize>>,
        declared: bool,
    },
    Ping(Vec<u8>),
}

/// Encode `items` with `sender` and return the wire bytes plus the events a decoder must
/// produce. Items a dialect cannot carry are left out of both.
pub fn encode(dialect: Dialect, sender: Role, items: &[Item]) -> (Vec<u8>, Vec<Ev>) {
    let caps = dialect.caps();
    let mut enc = match sender {
        Role::Client => Encoder::client_with_connection_key(dialect, [42; 16], Some(TEST_KEY)),
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
pub fn normalise(events: Vec<Ev>) -> Vec<Ev> {
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
