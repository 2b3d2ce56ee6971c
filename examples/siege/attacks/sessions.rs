//! Attacks through pipe sessions (`/sessions/NAME`): a receiver stuck mid-message while
//! another member floods it with empty messages, pings at a receiver stuck mid-frame,
//! receivers that read nothing, and thousands of sessions at once.

use super::{cycled, Attack, Ctx, OPENING};
use crate::pump::{pump, Until};
use crate::raw::{Piece, RawConn, Seen, IO_TIMEOUT};
use crate::report::{mib, Scale, Tally, MIB};
use crate::server::Flags;
use crate::wire::{self, hybi_frame, hybi_head, masked, OP_BINARY, OP_PING};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use ws::protocols::{Dialect, MessageKind};

const READY: &str = "session ready";

/// `count` RFC 6455 members of session `name`, joined in order, each past its ready
/// notice; `None` (with a failed check) if any could not join.
fn join(ctx: &mut Ctx, name: &str, count: usize) -> Option<Vec<RawConn>> {
    let path = format!("/sessions/{name}");
    let mut members = Vec::new();
    for i in 0..count {
        match RawConn::websocket(ctx.addr(), Dialect::Rfc6455, &path) {
            Ok(member) => members.push(member),
            Err(seen) => {
                ctx.check(format!("member {i} joins {name}"), false, seen.label());
                return None;
            }
        }
    }
    let deadline = Instant::now() + IO_TIMEOUT;
    for (i, member) in members.iter_mut().enumerate() {
        if let Err(seen) = member.await_text(READY, deadline) {
            ctx.check(
                format!("member {i} of {name} is told the session is ready"),
                false,
                seen.label(),
            );
            return None;
        }
    }
    Some(members)
}

/// Read from `conn` until `bytes` payload bytes have arrived (or it ends, or the deadline).
fn read_payload(conn: &mut RawConn, bytes: u64, deadline: Instant) -> Result<(), Seen> {
    let mut got = 0u64;
    while got < bytes {
        match conn.next(deadline, true) {
            Piece::Data(data) => got += data.len() as u64,
            Piece::Ended(seen) => return Err(seen),
            _ => {}
        }
    }
    Ok(())
}

// ===== 1. a receiver stuck mid-message, and a flood of empty messages for it =====

pub const STUCK_RECEIVER: Attack = Attack {
    name: "stuck-receiver",
    what: "S1 stops inside a 16 MiB + 1 KiB frame to R; S2 floods the session with empty \
           messages: S2 paused, memory bounded, R cut by the stuck timer (1008)",
    fix: Some(1),
    flags: |_| Flags {
        stuck_timeout: Some(2.0),
        ..Flags::default()
    },
    run: stuck_receiver,
};

fn stuck_receiver(ctx: &mut Ctx) {
    let Some(members) = join(ctx, "siege-stuck", 3) else {
        return;
    };
    let [mut s1, mut r, s2] = <[RawConn; 3]>::try_from(members).ok().expect("three");
    let declared = (16 << 20) + 1024;
    let mut opening = hybi_head(OP_BINARY, declared);
    opening.extend_from_slice(&masked(&[7; 1024], 0));
    if let Err(e) = s1.send(&opening) {
        return ctx.check("S1 opens its message", false, e);
    }
    if let Err(seen) = read_payload(&mut r, 1024, Instant::now() + IO_TIMEOUT) {
        return ctx.check("R gets the start of S1's message", false, seen.label());
    }
    let messages: u64 = ctx.pick(4_000_000, 16_000_000);
    let frame = hybi_frame(OP_BINARY, &[]);
    let flood_bytes = messages * frame.len() as u64;
    let stuck = Duration::from_secs_f64(ctx.server.stuck_timeout);
    let deadline = Instant::now() + stuck + Duration::from_secs(15);
    let flood_start = ctx.since();
    let flood_done = AtomicBool::new(false);
    let (pumped, r_end, s1_end) = std::thread::scope(|scope| {
        // S1 keeps reading (whatever the session sends it once R is gone) until the flood
        // is over.
        let s1_thread = scope.spawn(|| loop {
            match s1.next(Instant::now() + Duration::from_millis(100), false) {
                Piece::Ended(Seen::Open) if flood_done.load(Ordering::Relaxed) => break Seen::Open,
                Piece::Ended(Seen::Open) => {}
                Piece::Ended(seen) => break seen,
                _ => {}
            }
        });
        let s2_thread = scope.spawn(|| {
            let source = cycled(&frame);
            pump(&[&s2.stream], &source, flood_bytes, Until::Limit, deadline).remove(0)
        });
        let r_end = r.wait_end(deadline);
        let at = ctx.since();
        let pumped = s2_thread.join().expect("S2 pump");
        flood_done.store(true, Ordering::Relaxed);
        (pumped, (r_end, at), s1_thread.join().expect("S1 reader"))
    });
    ctx.saw(
        "S2",
        format!(
            "{} of {messages} empty messages sent; longest stall {:.1}s, from {} on",
            pumped.written / frame.len() as u64,
            pumped.longest_stall.as_secs_f64(),
            mib(pumped.paused_at.unwrap_or(0)),
        ),
    );
    ctx.saw(
        "R",
        format!("{} @{:.1}s", r_end.0.label(), r_end.1.as_secs_f64()),
    );
    ctx.saw("S1", s1_end.label());
    ctx.check(
        "S2 is paused while R is stuck",
        pumped.longest_stall >= Duration::from_secs(1)
            && pumped.paused_at.is_some_and(|at| at < flood_bytes),
        format!("longest stall {:?}", pumped.longest_stall),
    );
    let cut_in = r_end.1.saturating_sub(flood_start);
    ctx.check(
        format!(
            "R is cut by the stuck timer ({stuck:?}) within {:?}",
            stuck + Duration::from_secs(8)
        ),
        matches!(r_end.0, Seen::Eof | Seen::Reset | Seen::Close(1008, _))
            && cut_in <= stuck + Duration::from_secs(8),
        format!("{} after {:.1}s", r_end.0.label(), cut_in.as_secs_f64()),
    );
    ctx.check_log("the server logs R as stuck", "receiver stuck");
    // Once R is gone S2's messages flow again (to S1): at least another MiB of them, or
    // all that were left.
    let resumed_by = pumped
        .paused_at
        .map_or(u64::MAX, |at| (at + MIB).min(flood_bytes));
    ctx.check(
        "S2 goes on once R is gone",
        pumped.written >= resumed_by,
        format!(
            "{} of {} bytes, stalled at {}",
            pumped.written,
            flood_bytes,
            mib(pumped.paused_at.unwrap_or(0))
        ),
    );
}

// ===== 2. pings at a receiver stuck mid-frame =====

pub const PONG_FLOOD: Attack = Attack {
    name: "pong-flood",
    what: "S stops halfway through a 16 MiB frame to R; R sends pings of 125 bytes: memory \
           bounded, one pong held, the latest",
    fix: Some(2),
    flags: |_| Flags::default(),
    run: pong_flood,
};

fn ping(n: u32) -> Vec<u8> {
    let mut payload = [b'.'; 125];
    payload[..4].copy_from_slice(&n.to_be_bytes());
    hybi_frame(OP_PING, &payload)
}

fn pong_flood(ctx: &mut Ctx) {
    let Some(members) = join(ctx, "siege-pong", 2) else {
        return;
    };
    let [mut s, mut r] = <[RawConn; 2]>::try_from(members).ok().expect("two");
    let declared: u64 = 16 << 20;
    let half = declared / 2;
    let unit = masked(&wire::payload(2, 64 << 10, MessageKind::Binary), 0);
    let source = cycled(&unit);
    let deadline = Instant::now() + Duration::from_secs(30);
    if let Err(e) = s.send(&hybi_head(OP_BINARY, declared)) {
        return ctx.check("S opens its frame", false, e);
    }
    // R must read for S's half to get through.
    let got = std::thread::scope(|scope| {
        let sender = scope.spawn(|| pump(&[&s.stream], &source, half, Until::Limit, deadline));
        let got = read_payload(&mut r, half, deadline);
        sender.join().expect("S pump");
        got
    });
    if let Err(seen) = got {
        return ctx.check("R gets the first half", false, seen.label());
    }
    let pings: u32 = ctx.pick(200_000, 1_000_000);
    let flood: Vec<u8> = (0..pings).flat_map(ping).collect();
    let sent = pump(
        &[&r.stream],
        &flood,
        flood.len() as u64,
        Until::Blocked(Duration::from_secs(3)),
        deadline,
    )
    .remove(0);
    ctx.saw(
        "R",
        format!(
            "{} of {pings} pings sent @{:.1}s",
            sent.written / 131,
            ctx.since().as_secs_f64()
        ),
    );
    ctx.check(
        "the server reads every ping",
        sent.written == flood.len() as u64,
        format!("{} of {} bytes", sent.written, flood.len()),
    );
    // Let the server work through the pings it has buffered before the frame can end.
    std::thread::sleep(Duration::from_secs(1));
    let rest = std::thread::scope(|scope| {
        let sender = scope.spawn(|| pump(&[&s.stream], &source, half, Until::Limit, deadline));
        let got = read_payload(&mut r, half, deadline);
        sender.join().expect("S pump");
        got
    });
    if let Err(seen) = rest {
        return ctx.check("R gets the whole frame", false, seen.label());
    }
    // The pongs R gets before the answer to one more ping.
    let mut pongs = Vec::new();
    let after = hybi_frame(OP_PING, b"after");
    let until = Instant::now() + IO_TIMEOUT;
    let answered = r
        .send(&after)
        .map_err(|e| e.to_string())
        .and_then(|()| loop {
            match r.next(until, false) {
                Piece::Pong(p) if p == b"after" => break Ok(()),
                Piece::Pong(p) => pongs.push(p),
                Piece::Ended(seen) => break Err(seen.label()),
                _ => {}
            }
        });
    let numbers: Vec<u32> = pongs
        .iter()
        .filter_map(|p| Some(u32::from_be_bytes(p.get(..4)?.try_into().ok()?)))
        .collect();
    ctx.saw(
        "R's pongs",
        format!(
            "{} before the next ping's, numbered {:?}",
            pongs.len(),
            &numbers[..numbers.len().min(3)]
        ),
    );
    ctx.check(
        "R's later ping is answered",
        answered.is_ok(),
        format!("{answered:?}"),
    );
    ctx.check(
        "one pong, for the latest ping",
        numbers == [pings - 1],
        format!(
            "{} pongs, first numbers {:?}",
            pongs.len(),
            &numbers[..numbers.len().min(3)]
        ),
    );
    ctx.rss_bound = 32 * MIB;
}

// ===== receivers that read nothing =====

pub const SLOW_READERS: Attack = Attack {
    name: "slow-readers",
    what: "session receivers that read nothing while their senders send 64 KiB messages: \
           senders paused, memory bounded",
    fix: None,
    flags: |_| Flags::default(),
    run: slow_readers,
};

fn slow_readers(ctx: &mut Ctx) {
    let pairs = ctx.pick(4, 64);
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for i in 0..pairs {
        let Some(members) = join(ctx, &format!("siege-slow-{i}"), 2) else {
            return;
        };
        let [s, r] = <[RawConn; 2]>::try_from(members).ok().expect("two");
        senders.push(s);
        receivers.push(r);
    }
    let frame = hybi_frame(OP_BINARY, &wire::payload(3, 64 << 10, MessageKind::Binary));
    let source = cycled(&frame);
    let limit = 256 * MIB;
    let streams: Vec<_> = senders.iter().map(|s| &s.stream).collect();
    let pumped = pump(
        &streams,
        &source,
        limit,
        Until::Blocked(Duration::from_secs(2)),
        Instant::now() + Duration::from_secs(40),
    );
    let paused = pumped.iter().filter(|p| p.paused()).count();
    let mut tally = Tally::default();
    for p in &pumped {
        let label = match p.paused_at {
            Some(at) => format!("paused after ~{} MiB", at / MIB),
            None => format!("not paused ({})", mib(p.written)),
        };
        tally.count(label);
    }
    ctx.saw("senders", tally);
    ctx.check(
        "every sender is paused",
        paused == pairs,
        format!("{paused} of {pairs}"),
    );
    ctx.rss_bound = 64 * MIB + pairs as u64 * 3 * MIB;
    drop(receivers);
}

// ===== thousands of sessions =====

pub const MANY_SESSIONS: Attack = Attack {
    name: "many-sessions",
    what: "thousands of /sessions/NAME pairs of mixed dialects, one message each: all \
           delivered exactly, memory per connection bounded",
    fix: None,
    flags: |scale| Flags {
        max_connections: (scale == Scale::Full).then_some(2 * FULL_PAIRS + 64),
        ..Flags::default()
    },
    run: many_sessions,
};

const FULL_PAIRS: usize = 4000;

/// Sender dialect, receiver dialect, message kind: pair `i` uses row `i % 4`.
const PAIRS: [(Dialect, Dialect, MessageKind); 4] = [
    (Dialect::Rfc6455, Dialect::Hybi08, MessageKind::Binary),
    (Dialect::Hixie76, Dialect::Rfc6455, MessageKind::Text),
    (Dialect::Hixie75, Dialect::Hybi07, MessageKind::Text),
    (Dialect::Hybi03, Dialect::Rfc6455, MessageKind::Binary),
];

fn many_sessions(ctx: &mut Ctx) {
    let pairs = ctx.pick(500, FULL_PAIRS);
    let addr = ctx.addr();
    let (opened, failed) = ctx.crowd(2 * pairs, Instant::now() + OPENING, |j| {
        let (sender, receiver, _) = PAIRS[(j / 2) % PAIRS.len()];
        let dialect = if j % 2 == 0 { sender } else { receiver };
        RawConn::websocket(addr, dialect, &format!("/sessions/siege-many-{}", j / 2))
    });
    ctx.saw(
        "joining",
        format!(
            "{} connections open @{:.1}s",
            opened.len(),
            ctx.since().as_secs_f64()
        ),
    );
    ctx.check(
        "every member joins",
        failed == 0,
        format!("{failed} refused"),
    );
    let mut conns: Vec<(usize, RawConn)> = opened;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut outcomes = Tally::default();
    let mut exact = 0;
    for (j, conn) in conns.iter_mut() {
        if let Err(seen) = conn.await_text(READY, deadline) {
            outcomes.add(format!("no ready notice: {}", seen.label()), ctx.since());
            *j = usize::MAX;
        }
    }
    let message = |pair: usize| {
        let (_, _, kind) = PAIRS[pair % PAIRS.len()];
        (kind, wire::payload(pair as u64, 1024, kind))
    };
    for (j, conn) in conns
        .iter_mut()
        .filter(|(j, _)| j % 2 == 0 && *j != usize::MAX)
    {
        let (kind, payload) = message(*j / 2);
        if let Err(e) = conn.send_message(kind, &payload) {
            outcomes.add(format!("send failed: {e}"), ctx.since());
        }
    }
    for (j, conn) in conns
        .iter_mut()
        .filter(|(j, _)| j % 2 == 1 && *j != usize::MAX)
    {
        let expected = message(*j / 2);
        match conn.recv_message(deadline) {
            Ok(got) if got == expected => exact += 1,
            Ok(_) => outcomes.add("wrong message".into(), ctx.since()),
            Err(seen) => outcomes.add(format!("no message: {}", seen.label()), ctx.since()),
        }
    }
    ctx.saw(
        "receivers",
        format!("{exact} of {pairs} got their message exactly; others: {outcomes}"),
    );
    ctx.check(
        "every message delivered exactly",
        exact == pairs,
        format!("{exact} of {pairs}"),
    );
    let conns_total = 2 * pairs as u64;
    if let Some(growth) = ctx.rss_growth() {
        ctx.saw(
            "memory",
            format!(
                "+{} with {conns_total} members connected: {:.1} KiB each",
                mib(growth),
                growth as f64 / conns_total as f64 / 1024.0
            ),
        );
    }
    ctx.rss_bound = 32 * MIB + conns_total * (64 << 10);
}
