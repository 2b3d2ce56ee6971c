//! Writing as fast as the server lets us, to see whether it stops reading: non-blocking
//! writes to many sockets from one thread, noting for each how long it was blocked.
//!
//! A server that pauses a connection stops reading it; the kernel's buffers fill and
//! `write` returns `WouldBlock`. A stall is a stretch of `WouldBlock`s; the longest stall
//! and the bytes written before the first long one say whether and when a sender was
//! paused.

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// When to stop pumping a socket (besides its byte limit and the deadline).
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// Give up on a socket once it has been blocked this long: it is paused.
    Blocked(Duration),
    /// Keep trying until the limit or the deadline, however long a stall lasts.
    Limit,
}

/// What happened to one socket.
#[derive(Clone, Debug, Default)]
pub struct Pumped {
    pub written: u64,
    /// Bytes written when the socket first stayed blocked for a whole `Until::Blocked`
    /// patience (or, with `Until::Limit`, when its longest stall began).
    pub paused_at: Option<u64>,
    pub longest_stall: Duration,
    /// The write error that ended it, if any (a reset after the server closed, say).
    pub error: Option<String>,
}

impl Pumped {
    pub fn paused(&self) -> bool {
        self.paused_at.is_some()
    }
}

/// At most this much goes to one socket before the next gets its turn.
const TURN: u64 = 1 << 20;

/// Write `limit` bytes to each stream, cycling through `source` (the byte at stream offset
/// `i` is `source[i % source.len()]`), until each is done, blocked per `until`, failed, or
/// `deadline` passes. Each stream is left in blocking mode.
pub fn pump(
    streams: &[&TcpStream],
    source: &[u8],
    limit: u64,
    until: Until,
    deadline: Instant,
) -> Vec<Pumped> {
    let mut results = vec![Pumped::default(); streams.len()];
    let mut stalled_since: Vec<Option<(Instant, u64)>> = vec![None; streams.len()];
    let mut active: Vec<bool> = streams
        .iter()
        .map(|s| s.set_nonblocking(true).is_ok())
        .collect();
    while active.iter().any(|&a| a) && Instant::now() < deadline {
        let mut progressed = false;
        for (i, mut stream) in streams.iter().copied().enumerate() {
            if !active[i] {
                continue;
            }
            let result = &mut results[i];
            let turn_end = (result.written + TURN).min(limit);
            while result.written < turn_end {
                let at = (result.written % source.len() as u64) as usize;
                let len = (source.len() - at).min((turn_end - result.written) as usize);
                match stream.write(&source[at..at + len]) {
                    Ok(n) => {
                        result.written += n as u64;
                        progressed = true;
                        if let Some((since, written)) = stalled_since[i].take() {
                            if since.elapsed() > result.longest_stall {
                                result.longest_stall = since.elapsed();
                                if matches!(until, Until::Limit) {
                                    result.paused_at = Some(written);
                                }
                            }
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        let (since, written) =
                            *stalled_since[i].get_or_insert((Instant::now(), result.written));
                        if let Until::Blocked(patience) = until {
                            if since.elapsed() >= patience {
                                result.longest_stall = result.longest_stall.max(since.elapsed());
                                result.paused_at = Some(written);
                                active[i] = false;
                            }
                        }
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        result.error = Some(e.to_string());
                        active[i] = false;
                        break;
                    }
                }
            }
            if result.written >= limit {
                active[i] = false;
            }
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // A stall still running at the end counts too.
    for (result, stall) in results.iter_mut().zip(&stalled_since) {
        if let Some((since, written)) = stall {
            if since.elapsed() > result.longest_stall {
                result.longest_stall = since.elapsed();
                if matches!(until, Until::Limit) {
                    result.paused_at = Some(*written);
                }
            }
        }
    }
    for stream in streams {
        let _ = stream.set_nonblocking(false);
    }
    results
}
