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
        }
    }
}
