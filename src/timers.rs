//! Connection timers: a deadline heap with lazy cancellation. Each connection remembers the
//! deadline it wants per kind; a heap entry that no longer matches is stale and skipped.

use crate::socket::SocketId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What a timer is for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    /// The opening handshake must complete by then.
    Handshake = 0,
    /// Time for the next keepalive ping (and to check the last one was answered).
    Ping = 1,
    /// Our close frame was sent (or our side shut down): drop if the peer is not done.
    Close = 2,
    /// Nothing received for too long.
    Idle = 3,
    /// Set by a handler (`Cx::set_timer`).
    App = 4,
}

pub(crate) const TIMER_KINDS: usize = 5;

/// Per-connection wanted deadlines, indexed by `TimerKind`.
pub(crate) type Deadlines = [Option<Instant>; TIMER_KINDS];

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, SocketId, TimerKind)>>,
}

impl Timers {
    /// Arm `kind` for `id` at `at`, recording it in the connection's `deadlines`.
    pub(crate) fn arm(
        &mut self,
        deadlines: &mut Deadlines,
        id: SocketId,
        kind: TimerKind,
        at: Instant,
    ) {
        deadlines[kind as usize] = Some(at);
        self.heap.push(Reverse((at, id, kind)));
    }

    /// The earliest pending deadline (possibly stale; a spurious wake-up is harmless).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Pop the next entry due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, SocketId, TimerKind)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }
}
