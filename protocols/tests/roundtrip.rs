//! Property: whatever messages are encoded in any dialect, in either direction, whole or
//! streamed in pieces, with control frames between them, and however the bytes are split on
//! the way, the decoder gives the same messages back.

mod support;

use proptest::prelude::*;
use support::roundtrip::{encode, normalise, Item};
use support::Feeder;
use ws_protocols::{Dialect, Limits, MessageKind, Role};

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
