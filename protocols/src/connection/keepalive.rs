//! The keepalive decision: when our ping is due, whether the peer is alive, when to give up.
//!
//! A ping can wait a long time behind data we queued for a slow reader: that reader is
//! alive even though its pong is late. So the verdict looks at progress, passed in by the
//! caller (bytes written, bytes queued, and where the system can tell, how much of what we
//! wrote the peer's TCP has acknowledged), never at a clock or a socket of its own.

/// Where the connection's outgoing bytes stand, as the caller sees them now.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes written to the socket so far.
    pub written: u64,
    /// Bytes queued behind them, control frames held for the end of a frame included.
    pub queued: u64,
    /// Some control frames wait for the end of a half-written data frame (so a ping just
    /// asked for is not in the queue yet).
    pub held: bool,
    /// Of `written`, how much the peer's TCP has acknowledged, where the system tells.
    pub acknowledged: Option<u64>,
}

/// What the keepalive timer should do now.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send a ping (then call [`Keepalive::ping_sent`]) and check again after an interval.
    SendPing,
    /// Our ping waits behind data the peer is still reading: check again after an interval.
    Wait,
    /// The peer neither answered nor read anything for a whole interval: drop it.
    Dead,
}

/// Keepalive state, a named enum: idle, or waiting for an answer to our ping.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Keepalive {
    /// No ping outstanding (or the peer has spoken since the last one).
    #[default]
    Idle,
    /// Our ping is sent or queued and nothing has arrived since.
    AwaitingPong {
        /// `written` when the ping was asked for, or when last seen to move.
        written: u64,
        /// The `written` at which the ping itself is on the wire (`None` while it is held
        /// behind a frame of declared length).
        on_wire_at: Option<u64>,
        /// `acknowledged` when last looked at.
        acknowledged: Option<u64>,
    },
}

impl Keepalive {
    /// Anything arrived from the peer: it is alive, and the ping is answered in effect.
    pub fn heard_from_peer(&mut self) {
        *self = Keepalive::Idle;
    }

    /// The ping went into the queue (or into the held controls); `progress` is as it is
    /// just after.
    pub fn ping_sent(&mut self, progress: Progress) {
        *self = Keepalive::AwaitingPong {
            written: progress.written,
            on_wire_at: (!progress.held).then_some(progress.written + progress.queued),
            acknowledged: progress.acknowledged,
        };
    }

    /// The keepalive interval has passed.
    ///
    /// ```
    /// use ws_protocols::connection::{Keepalive, Progress, Verdict};
    ///
    /// let mut keepalive = Keepalive::default();
    /// let now = Progress { written: 100, queued: 0, held: false, acknowledged: None };
    /// assert_eq!(keepalive.on_interval(now), Verdict::SendPing);
    /// keepalive.ping_sent(now);
    /// // A whole interval later nothing moved and nothing arrived.
    /// assert_eq!(keepalive.on_interval(Progress { written: 102, ..now }), Verdict::Dead);
    /// ```
    pub fn on_interval(&mut self, now: Progress) -> Verdict {
        let Keepalive::AwaitingPong {
            written,
            on_wire_at,
            acknowledged,
        } = self
        else {
            return Verdict::SendPing;
        };
        if on_wire_at.is_none() && !now.held {
            // The held ping has joined the queue: it is on the wire once all that is queued
            // now has been written.
            *on_wire_at = Some(now.written + now.queued);
        }
        let ping_out = on_wire_at.is_some_and(|at| now.written >= at);
        // Even with our ping in the kernel, a peer whose TCP took more of our bytes this
        // interval is reading its way towards the ping.
        let peer_reading = matches!(
            (*acknowledged, now.acknowledged),
            (Some(before), Some(now)) if now > before
        );
        if (ping_out || now.written == *written) && !peer_reading {
            return Verdict::Dead;
        }
        // Our ping still waits behind data the peer is reading, slowly: alive.
        *written = now.written;
        *acknowledged = now.acknowledged;
        Verdict::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_behind_a_slowly_read_queue_keeps_the_peer_alive() {
        let mut keepalive = Keepalive::default();
        let start = Progress {
            written: 0,
            queued: 1_000_000,
            held: false,
            acknowledged: None,
        };
        keepalive.ping_sent(start);
        let later = Progress {
            written: 400_000,
            queued: 600_000,
            ..start
        };
        assert_eq!(keepalive.on_interval(later), Verdict::Wait);
        // Stuck: nothing more written in a whole interval.
        assert_eq!(keepalive.on_interval(later), Verdict::Dead);
    }

    #[test]
    fn a_peer_whose_tcp_acknowledges_more_is_reading() {
        let mut keepalive = Keepalive::default();
        let sent = Progress {
            written: 10,
            queued: 0,
            held: false,
            acknowledged: Some(5),
        };
        keepalive.ping_sent(sent);
        let reading = Progress {
            acknowledged: Some(8),
            ..sent
        };
        assert_eq!(keepalive.on_interval(reading), Verdict::Wait);
        assert_eq!(keepalive.on_interval(reading), Verdict::Dead);
    }

    #[test]
    fn a_held_ping_counts_from_when_it_joins_the_queue() {
        let mut keepalive = Keepalive::default();
        let held = Progress {
            written: 0,
            queued: 50,
            held: true,
            acknowledged: None,
        };
        keepalive.ping_sent(held);
        let moving = Progress {
            written: 40,
            queued: 60,
            held: false,
            acknowledged: None,
        };
        assert_eq!(keepalive.on_interval(moving), Verdict::Wait);
        let ping_written = Progress {
            written: 100,
            queued: 0,
            ..moving
        };
        assert_eq!(keepalive.on_interval(ping_written), Verdict::Dead);
        keepalive.heard_from_peer();
        assert_eq!(keepalive.on_interval(ping_written), Verdict::SendPing);
    }
}
