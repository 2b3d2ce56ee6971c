//! Translating a message between dialects (docs/protocols.md §7), as a table: how a message
//! one peer sends is carried to a peer of another dialect. Framing needs no row: each
//! receiver's own encoder frames what it is given (a known length as one frame or one
//! length-prefixed frame, an unknown length as fragments or one hixie text frame). What
//! needs a decision is binary for receivers that have no binary messages (hixie browsers).

use crate::dialect::Caps;
use crate::event::MessageKind;

/// What binary from a member with binary messages becomes for hixie members, whose browsers
/// cannot receive binary (docs/protocols.md §7.3).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BinaryToHixie {
    /// The draft's length-prefixed frame (`80 <length> <bytes>`), which non-browser hixie
    /// clients can decode. Needs the length up front: a fragmented binary message (length
    /// unknown) is refused as under `Refuse`.
    LengthPrefixed,
    /// Base64 of the bytes, inside a text frame (streamed; nothing is held).
    Base64,
    /// Not delivered to hixie members.
    Refuse,
}

/// How one message is carried to one receiver.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Carry {
    /// As it is: the same kind, with the sender's length when it declared one.
    AsIs,
    /// As text holding the base64 of the bytes, streamed (length unknown).
    Base64Text,
    /// Not at all: the receiver's dialect cannot carry it under the policy.
    Refuse,
}

/// One row: a message of `kind`, whose length is known up front or not (`None`: either),
/// for a receiver with binary messages or not, under a policy (`None`: any).
struct Rule {
    receiver_binary: Option<bool>,
    kind: Option<MessageKind>,
    policy: Option<BinaryToHixie>,
    len_known: Option<bool>,
    carry: Carry,
}

const fn rule(
    receiver_binary: Option<bool>,
    kind: Option<MessageKind>,
    policy: Option<BinaryToHixie>,
    len_known: Option<bool>,
    carry: Carry,
) -> Rule {
    Rule {
        receiver_binary,
        kind,
        policy,
        len_known,
        carry,
    }
}

use BinaryToHixie as P;
use Carry as C;
use MessageKind as K;

impl Rule {
    fn matches(
        &self,
        kind: MessageKind,
        len_known: bool,
        receiver: &Caps,
        policy: BinaryToHixie,
    ) -> bool {
        self.receiver_binary.is_none_or(|b| b == receiver.binary)
            && self.kind.is_none_or(|k| k == kind)
            && self.policy.is_none_or(|p| p == policy)
            && self.len_known.is_none_or(|l| l == len_known)
    }
}

/// The first matching row wins.
static RULES: [Rule; 6] = [
    // A receiver with binary messages, or any text: as it is.
    rule(Some(true), None, None, None, C::AsIs),
    rule(None, Some(K::Text), None, None, C::AsIs),
    // Binary for a hixie receiver: by policy.
    rule(None, None, Some(P::LengthPrefixed), Some(true), C::AsIs),
    rule(None, None, Some(P::LengthPrefixed), Some(false), C::Refuse),
    rule(None, None, Some(P::Base64), None, C::Base64Text),
    rule(None, None, Some(P::Refuse), None, C::Refuse),
];

/// How a message of `kind` (of known length or not) reaches a receiver with `receiver`'s
/// capabilities under `policy`.
///
/// ```
/// use ws_protocols::translate::{carry, BinaryToHixie, Carry};
/// use ws_protocols::{Dialect, MessageKind};
///
/// let hixie = Dialect::Hixie76.caps();
/// let policy = BinaryToHixie::LengthPrefixed;
/// assert_eq!(carry(MessageKind::Binary, true, hixie, policy), Carry::AsIs);
/// assert_eq!(carry(MessageKind::Binary, false, hixie, policy), Carry::Refuse);
/// assert_eq!(carry(MessageKind::Binary, false, Dialect::Rfc6455.caps(), policy), Carry::AsIs);
/// ```
pub fn carry(kind: MessageKind, len_known: bool, receiver: &Caps, policy: BinaryToHixie) -> Carry {
    RULES
        .iter()
        .find(|r| r.matches(kind, len_known, receiver, policy))
        .map_or(Carry::Refuse, |r| r.carry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect;

    #[test]
    fn every_combination_has_a_row() {
        for dialect in Dialect::ALL {
            for kind in [K::Text, K::Binary] {
                for policy in [P::LengthPrefixed, P::Base64, P::Refuse] {
                    for len_known in [true, false] {
                        let caps = dialect.caps();
                        let found = RULES
                            .iter()
                            .any(|r| r.matches(kind, len_known, caps, policy));
                        assert!(found, "{dialect} {kind:?} {policy:?} {len_known}");
                        let carried = carry(kind, len_known, caps, policy);
                        if caps.binary || kind == K::Text {
                            assert_eq!(carried, C::AsIs);
                        }
                    }
                }
            }
        }
    }
}
