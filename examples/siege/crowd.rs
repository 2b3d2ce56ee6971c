//! Many attacker connections at once: opened from a few threads, then watched from one, each
//! connection's outcome noted with the time it was first seen.

use crate::raw::{RawConn, Seen};
use std::time::{Duration, Instant};

/// Threads that open connections: handshakes are round trips, so a few overlap them.
const OPENERS: usize = 4;

/// How often a watch looks at every connection.
const SWEEP: Duration = Duration::from_millis(10);

/// Connections opened (with their index), and the failures (with theirs).
pub type Opened = (Vec<(usize, RawConn)>, Vec<(usize, Seen)>);

/// Open `count` connections with `open_one(i)`, from a few threads, until `deadline` (those
/// not tried by then fail as not tried: a server that stops accepting makes each connect
/// wait its whole timeout). Returns those opened (with their index) and the failures (with
/// theirs), each in index order.
pub fn open<F>(count: usize, deadline: Instant, open_one: F) -> Opened
where
    F: Fn(usize) -> Result<RawConn, Seen> + Sync,
{
    let results: Vec<(usize, Result<RawConn, Seen>)> = std::thread::scope(|scope| {
        let open_one = &open_one;
        let workers: Vec<_> = (0..OPENERS)
            .map(|w| {
                scope.spawn(move || {
                    (w..count)
                        .step_by(OPENERS)
                        .map(|i| {
                            if Instant::now() < deadline {
                                (i, open_one(i))
                            } else {
                                (i, Err(Seen::Failed("not tried: out of time".into())))
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("opener thread"))
            .collect()
    });
    let (mut opened, mut failed) = (Vec::new(), Vec::new());
    for (i, result) in results {
        match result {
            Ok(conn) => opened.push((i, conn)),
            Err(seen) => failed.push((i, seen)),
        }
    }
    opened.sort_by_key(|(i, _)| *i);
    failed.sort_by_key(|(i, _)| *i);
    (opened, failed)
}

/// Watch `conns` until each has ended or `deadline` passes, calling `on_tick` every `tick`
/// (to dribble bytes, say). Returns, for each connection, how it ended and when (since
/// `since`); [`Seen::Open`] for those still open at the deadline.
pub fn watch(
    conns: &mut [RawConn],
    since: Instant,
    deadline: Instant,
    tick: Duration,
    mut on_tick: impl FnMut(&mut [RawConn]),
) -> Vec<(Seen, Duration)> {
    let mut outcomes: Vec<Option<(Seen, Duration)>> = vec![None; conns.len()];
    let mut next_tick = Instant::now() + tick;
    loop {
        for (conn, outcome) in conns.iter_mut().zip(outcomes.iter_mut()) {
            if outcome.is_none() {
                *outcome = conn.poll().map(|seen| (seen, since.elapsed()));
            }
        }
        if outcomes.iter().all(Option::is_some) || Instant::now() >= deadline {
            break;
        }
        if Instant::now() >= next_tick {
            on_tick(conns);
            next_tick += tick;
        }
        std::thread::sleep(SWEEP);
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| (Seen::Open, since.elapsed())))
        .collect()
}

/// [`watch`] with nothing to do on ticks.
pub fn watch_quietly(
    conns: &mut [RawConn],
    since: Instant,
    wait: Duration,
) -> Vec<(Seen, Duration)> {
    watch(conns, since, Instant::now() + wait, wait, |_| {})
}
