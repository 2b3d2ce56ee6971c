//! Several loops in one server (`Builder::threads`): each loop is single-threaded and
//! shares nothing with the others but the server-wide counters. The first loop accepts
//! every connection and hands each new one to the loop with the fewest connections.
//!
//! Why one accepting loop rather than a listener per loop (`SO_REUSEPORT`): the kernel would
//! split the backlog by a hash of addresses, not by load, so connections could wait in the
//! queue of a busy loop, or of one that is out of descriptors, while the others idle; a
//! closed listener resets what waits in its queue; and shedding when out of descriptors
//! (one reserve descriptor, answer 503, take the reserve back) races between loops that
//! share one descriptor table. With one accepting loop all of that stays as it is with one
//! loop. The price is a command and a wake-up per connection handed over, a few
//! microseconds beside a handshake.
//!
//! A connection belongs where its handler's state is. After its request is routed, the
//! handler's [`Placement`] names a loop: anywhere (echo), the first loop (a handler with one
//! instance, such as the relay's registry of who is connected), or the loop that owns a key
//! (a pipe session's name: every member of a session meets on one loop, so cut-through,
//! ordering and backpressure work exactly as with one loop). A connection on the wrong loop
//! is handed over, socket, bytes read and TLS state, before its handshake is answered.

use crate::handle::{Command, Shared};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Where a connection's handler wants it served, when the server runs several loops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// On whichever loop accepted it.
    Anywhere,
    /// On the first loop, where the handler's single instance lives.
    First,
    /// On the loop that owns this key: connections with the same key meet on one loop.
    Keyed(String),
}

/// How one loop reaches another.
#[derive(Clone)]
pub(crate) struct Link {
    pub shared: Arc<Shared>,
    pub waker: Arc<mio::Waker>,
}

impl Link {
    /// Whether the loop is still running (it may have stopped, or panicked).
    pub(crate) fn alive(&self) -> bool {
        self.shared.running.load(Relaxed)
    }

    pub(crate) fn send(&self, command: Command) -> Result<(), crate::Error> {
        self.shared
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(command);
        self.waker.wake().map_err(|_| crate::Error::Closed)
    }
}

/// The loop among `loops` that owns `key`: FNV-1a, stable across runs and builds.
pub(crate) fn owner(key: &str, loops: usize) -> usize {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (hash % loops.max(1) as u64) as usize
}

/// The loop with the fewest connections, `here` where it is among the fewest.
pub(crate) fn least_loaded(links: &[Link], here: usize) -> usize {
    let load = |i: usize| {
        let shared = &links[i].shared;
        shared.connections.load(Relaxed) + shared.incoming.load(Relaxed)
    };
    (0..links.len())
        .filter(|&i| links[i].alive())
        .min_by_key(|&i| (load(i), i != here))
        .unwrap_or(here)
}

/// The loop that should serve a connection placed so, from loop `here` of `loops`.
pub(crate) fn target(placement: &Placement, here: usize, loops: usize) -> usize {
    match placement {
        Placement::Anywhere => here,
        Placement::First => 0,
        Placement::Keyed(key) => owner(key, loops),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_over_loops_and_stay_put() {
        let mut seen = [0usize; 4];
        for i in 0..400 {
            let key = format!("session-{i}");
            let loop_index = owner(&key, 4);
            assert_eq!(owner(&key, 4), loop_index);
            seen[loop_index] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
        assert_eq!(owner("anything", 1), 0);
        assert_eq!(target(&Placement::First, 3, 4), 0);
        assert_eq!(target(&Placement::Anywhere, 3, 4), 3);
    }
}
