//! A receiver's hold queue: messages from other senders (and the server's notices) that
//! wait while another sender's message is open on the receiver.
//!
//! What a held message costs is counted as memory, not as payload: its entry and its
//! buffer's capacity. An empty message costs its entry, so two million empty messages held
//! for a busy receiver count as the tens of MiB they take, and the session's backpressure
//! pauses their sender long before that; a cap on the number of entries bounds it twice.

use crate::socket::SocketId;
use std::collections::VecDeque;
use ws_protocols::MessageKind;

/// What one entry costs beyond its buffer: the entry itself in the queue and the
/// allocator's bookkeeping for the buffer, rounded up.
pub(crate) const ENTRY_COST: usize = std::mem::size_of::<Held>() + 16;

/// A message waiting for a receiver that is busy with another one.
pub(super) struct Held {
    /// The sender, or `None` for the server's own notices.
    pub from: Option<SocketId>,
    pub kind: MessageKind,
    pub len: Option<u64>,
    pub bytes: Vec<u8>,
    /// The sender has finished it.
    pub ended: bool,
}

/// The messages held for one receiver, in the order they started, with their cost.
#[derive(Default)]
pub(super) struct HoldQueue {
    entries: VecDeque<Held>,
    cost: usize,
}

impl HoldQueue {
    /// Bytes of memory the held messages take.
    pub fn cost(&self) -> usize {
        self.cost
    }

    /// How many messages are held.
    pub fn count(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Hold the start of a message.
    pub fn start(&mut self, from: Option<SocketId>, kind: MessageKind, len: Option<u64>) {
        self.entries.push_back(Held {
            from,
            kind,
            len,
            bytes: Vec::new(),
            ended: false,
        });
        self.cost += ENTRY_COST;
    }

    /// Add `data` to the newest message held from `from`; whether there is one.
    pub fn append(&mut self, from: Option<SocketId>, data: &[u8]) -> bool {
        let Some(held) = self.entries.iter_mut().rev().find(|h| h.from == from) else {
            return false;
        };
        let before = held.bytes.capacity();
        held.bytes.extend_from_slice(data);
        self.cost += held.bytes.capacity() - before;
        true
    }

    /// Mark the newest message held from `from` as finished by its sender.
    pub fn end(&mut self, from: Option<SocketId>) {
        if let Some(held) = self.entries.iter_mut().rev().find(|h| h.from == from) {
            held.ended = true;
        }
    }

    /// Take the oldest held message out.
    pub fn pop(&mut self) -> Option<Held> {
        let held = self.entries.pop_front()?;
        self.cost -= ENTRY_COST + held.bytes.capacity();
        Some(held)
    }

    /// Forget the unfinished messages of a sender that is gone (its finished ones are
    /// still delivered).
    pub fn forget_unfinished(&mut self, from: SocketId) {
        self.entries.retain(|h| h.from != Some(from) || h.ended);
        self.cost = self
            .entries
            .iter()
            .map(|h| ENTRY_COST + h.bytes.capacity())
            .sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_messages_cost_their_entries() {
        let mut queue = HoldQueue::default();
        for _ in 0..1000 {
            queue.start(None, MessageKind::Binary, Some(0));
            queue.end(None);
        }
        assert_eq!(queue.count(), 1000);
        assert_eq!(queue.cost(), 1000 * ENTRY_COST);
        while queue.pop().is_some() {}
        assert_eq!(queue.cost(), 0);
    }

    #[test]
    fn cost_follows_capacity_and_forgetting() {
        let a = SocketId {
            index: 1,
            generation: 0,
        };
        let b = SocketId {
            index: 2,
            generation: 0,
        };
        let mut queue = HoldQueue::default();
        queue.start(Some(a), MessageKind::Text, None);
        queue.start(Some(b), MessageKind::Text, None);
        assert!(queue.append(Some(a), &[b'x'; 1000]));
        assert!(queue.append(Some(b), &[b'y'; 10]));
        assert!(!queue.append(None, b"nobody"));
        assert!(queue.cost() >= 2 * ENTRY_COST + 1010);
        queue.end(Some(b));
        queue.forget_unfinished(a);
        assert_eq!(queue.count(), 1);
        let held = queue.pop().unwrap();
        assert_eq!(
            (held.from, held.bytes.as_slice()),
            (Some(b), &[b'y'; 10][..])
        );
        assert_eq!(queue.cost(), 0);
    }
}
