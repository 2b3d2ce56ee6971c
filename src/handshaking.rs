//! The accepted connections still in their opening handshake, oldest first, so that when
//! the server is full the oldest of them can make room for a new connection.
//!
//! Why the oldest: a client that never finishes its handshake (slowloris) only ages, while
//! an honest handshake takes one round trip. Dropping the oldest handshaking connection
//! when the handshake budget or the connection table is full therefore drops attackers
//! first, and an honest client is only at risk if `max_handshaking` newer connections
//! arrive during its round trip.
//!
//! Connections leave their handshake in many ways (opened, refused, dropped); rather than
//! tracking each, the queue keeps their ids and skips the ones that have left when it is
//! asked, compacting itself whenever it has grown to the limit.

use crate::conn::{Conn, Phase};
use crate::slab::Slab;
use crate::socket::SocketId;
use std::collections::VecDeque;

#[derive(Default)]
pub(crate) struct Handshaking {
    ids: VecDeque<SocketId>,
}

fn still_handshaking(conns: &Slab<Conn>, id: SocketId) -> bool {
    conns
        .get(id)
        .is_some_and(|c| matches!(c.phase, Phase::Handshake | Phase::AwaitKey3 { .. }))
}

impl Handshaking {
    /// An accepted connection starts its handshake.
    pub(crate) fn push(&mut self, id: SocketId) {
        self.ids.push_back(id);
    }

    /// How many connections are still handshaking, forgetting those that are not. Costs a
    /// pass over the queue only once it holds more than `limit` ids.
    pub(crate) fn count(&mut self, conns: &Slab<Conn>, limit: usize) -> usize {
        if self.ids.len() >= limit {
            self.ids.retain(|&id| still_handshaking(conns, id));
        }
        self.ids.len()
    }

    /// The oldest connection still handshaking, taken out of the queue.
    pub(crate) fn pop_oldest(&mut self, conns: &Slab<Conn>) -> Option<SocketId> {
        while let Some(id) = self.ids.pop_front() {
            if still_handshaking(conns, id) {
                return Some(id);
            }
        }
        None
    }
}
