//! Structured messages → encode in any dialect and direction → split → decode: the same
//! messages come back.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ws_protocols::{Dialect, Limits, MessageKind, Role};
use ws_protocols_fuzz::cut_points;
use ws_protocols_fuzz::support::roundtrip::{encode, normalise, Item};
use ws_protocols_fuzz::support::Feeder;

#[derive(Arbitrary, Debug)]
enum FuzzItem {
    Message {
        binary: bool,
        payload: Vec<u8>,
        pieces: Option<Vec<u16>>,
        declared: bool,
    },
    Ping(Vec<u8>),
}

fuzz_target!(|input: (u8, bool, Vec<FuzzItem>, Vec<u16>)| {
    let (dialect, client, items, cuts) = input;
    let dialect = Dialect::ALL[usize::from(dialect) % Dialect::ALL.len()];
    let (sender, receiver) = if client {
        (Role::Client, Role::Server)
    } else {
        (Role::Server, Role::Client)
    };
    let items: Vec<Item> = items
        .into_iter()
        .map(|item| match item {
            FuzzItem::Message {
                binary,
                payload,
                pieces,
                declared,
            } => Item::Message {
                kind: if binary {
                    MessageKind::Binary
                } else {
                    MessageKind::Text
                },
                payload: if binary {
                    payload
                } else {
                    String::from_utf8_lossy(&payload).into_owned().into_bytes()
                },
                pieces: pieces.map(|p| p.into_iter().map(usize::from).collect()),
                declared,
            },
            FuzzItem::Ping(mut p) => {
                p.truncate(125);
                Item::Ping(p)
            }
        })
        .collect();
    let (wire, expected) = encode(dialect, sender, &items);
    let points = cut_points(&cuts, wire.len());
    let mut feeder = Feeder::new(dialect, receiver, &Limits::default());
    for w in points.windows(2) {
        feeder
            .feed(&wire[w[0]..w[1]])
            .expect("our own encoding decodes");
    }
    assert_eq!(feeder.pending(), 0);
    assert_eq!(normalise(feeder.events), normalise(expected));
});
