//! Server-wide counters, readable from any thread through a [`crate::Handle`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

#[derive(Default)]
pub(crate) struct Stats {
    pub connections_open: AtomicUsize,
    pub connections_total: AtomicU64,
    pub handshakes_rejected: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
    pub queued_bytes: AtomicUsize,
    pub queued_peak: AtomicUsize,
    pub reads_paused: AtomicU64,
    pub message_bytes: AtomicUsize,
    pub message_peak: AtomicUsize,
    pub session_held_bytes: AtomicUsize,
    pub unprocessed_bytes: AtomicUsize,
    pub memory_budget: AtomicUsize,
    pub refused_over_budget: AtomicU64,
    pub handshakes_evicted: AtomicU64,
    pub accept_errors: AtomicU64,
    pub tls_reloads: AtomicU64,
    pub tls_reload_failures: AtomicU64,
}

/// A snapshot of the server's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Connections open now (handshaking ones included).
    pub connections_open: usize,
    /// Connections accepted or adopted since start.
    pub connections_total: u64,
    /// Opening handshakes answered with an HTTP error.
    pub handshakes_rejected: u64,
    /// Bytes read from all sockets.
    pub bytes_read: u64,
    /// Bytes written to all sockets.
    pub bytes_written: u64,
    /// Bytes queued for sending now, over all connections.
    pub queued_bytes: usize,
    /// The largest single connection's outgoing queue seen since start.
    pub queued_peak: usize,
    /// Times reading from a connection was paused because its queue passed the high-water
    /// mark.
    pub reads_paused: u64,
    /// Bytes of memory held now in unfinished whole messages (`Delivery::Whole`), over all
    /// connections.
    pub message_bytes: usize,
    /// The most one connection's unfinished whole message has held since start.
    pub message_peak: usize,
    /// Bytes of memory held now in pipe sessions' hold queues (messages waiting for a
    /// receiver busy with another sender's message).
    pub session_held_bytes: usize,
    /// Bytes read from paused connections and not yet processed (at most one read each).
    pub unprocessed_bytes: usize,
    /// What the server holds now against its memory budget: the sum of `queued_bytes`,
    /// `message_bytes`, `session_held_bytes` and `unprocessed_bytes`.
    pub held_bytes: usize,
    /// The server-wide memory budget ([`crate::Settings::memory_budget`]).
    pub memory_budget: usize,
    /// Connections closed (1013 where the dialect has codes) because an unfinished message
    /// would have grown past the memory budget.
    pub refused_over_budget: u64,
    /// Connections still in their opening handshake dropped to make room for a new one
    /// ([`crate::Settings::max_handshaking`]).
    pub handshakes_evicted: u64,
    /// `accept` calls that failed (out of file descriptors, typically).
    pub accept_errors: u64,
    /// TLS certificate reloads that took effect (SIGHUP, [`crate::Handle::reload_tls`]).
    pub tls_reloads: u64,
    /// TLS certificate reloads that failed (the certificate before stayed).
    pub tls_reload_failures: u64,
}

impl Stats {
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections_open: self.connections_open.load(Relaxed),
            connections_total: self.connections_total.load(Relaxed),
            handshakes_rejected: self.handshakes_rejected.load(Relaxed),
            bytes_read: self.bytes_read.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
            queued_bytes: self.queued_bytes.load(Relaxed),
            queued_peak: self.queued_peak.load(Relaxed),
            reads_paused: self.reads_paused.load(Relaxed),
            message_bytes: self.message_bytes.load(Relaxed),
            message_peak: self.message_peak.load(Relaxed),
            session_held_bytes: self.session_held_bytes.load(Relaxed),
            unprocessed_bytes: self.unprocessed_bytes.load(Relaxed),
            held_bytes: self.held_bytes(),
            memory_budget: self.memory_budget.load(Relaxed),
            refused_over_budget: self.refused_over_budget.load(Relaxed),
            handshakes_evicted: self.handshakes_evicted.load(Relaxed),
            accept_errors: self.accept_errors.load(Relaxed),
            tls_reloads: self.tls_reloads.load(Relaxed),
            tls_reload_failures: self.tls_reload_failures.load(Relaxed),
        }
    }

    /// Everything held now that counts against the memory budget.
    pub(crate) fn held_bytes(&self) -> usize {
        self.queued_bytes.load(Relaxed)
            + self.message_bytes.load(Relaxed)
            + self.session_held_bytes.load(Relaxed)
            + self.unprocessed_bytes.load(Relaxed)
    }

    /// Whether `more` bytes on top of what is held would pass the memory budget.
    pub(crate) fn over_budget(&self, more: usize) -> bool {
        self.held_bytes() + more > self.memory_budget.load(Relaxed)
    }
}

/// Move gauge `gauge` from `before` to `after` (a connection's or handler's share of it).
pub(crate) fn adjust(gauge: &AtomicUsize, before: usize, after: usize) {
    if after > before {
        gauge.fetch_add(after - before, Relaxed);
    } else if before > after {
        gauge.fetch_sub(before - after, Relaxed);
    }
}
