//! Attacks on the opening handshake: connections that never finish it (holding every slot,
//! or dribbling a head forever), heads over the limit, garbage, resets half-way.

use super::{Attack, Ctx, OPENING};
use crate::crowd;
use crate::honest;
use crate::raw::{RawConn, Seen};
use crate::report::{Scale, Tally};
use crate::server::Flags;
use crate::wire;
use std::time::{Duration, Instant};
use ws::protocols::Dialect;

/// Open `count` plain TCP connections, each sending `first(i)`.
fn crowd_of(ctx: &mut Ctx, count: usize, first: impl Fn(usize) -> Vec<u8> + Sync) -> Vec<RawConn> {
    let addr = ctx.addr();
    let (opened, _) = ctx.crowd(count, Instant::now() + OPENING, |i| {
        RawConn::tcp(addr)?.sending(&first(i))
    });
    opened.into_iter().map(|(_, conn)| conn).collect()
}

/// Watch `conns` for `wait` and check that every one got HTTP `status`.
fn expect_status(ctx: &mut Ctx, mut conns: Vec<RawConn>, wait: Duration, status: u16) {
    let outcomes = crowd::watch_quietly(&mut conns, ctx.start, wait);
    let answered = outcomes
        .iter()
        .filter(|(seen, _)| *seen == Seen::Http(status))
        .count();
    ctx.saw("attackers", Tally::of(&outcomes));
    ctx.check(
        format!("every attacker gets {status}"),
        answered == outcomes.len() && !outcomes.is_empty(),
        format!("{answered} of {}", outcomes.len()),
    );
}

/// Honest newcomers of several dialects: each must get its 101 and its echo.
fn newcomers(ctx: &mut Ctx, dialects: &[Dialect]) {
    let mut served = 0;
    let mut results = Vec::new();
    for &dialect in dialects {
        let outcome = honest::newcomer(ctx.addr(), dialect);
        served += usize::from(outcome.is_ok());
        results.push(format!(
            "{} {}",
            dialect.name(),
            honest::describe_outcome(&outcome)
        ));
    }
    ctx.saw("newcomers", results.join(", "));
    ctx.check(
        "honest newcomers get their 101 and echo",
        served == dialects.len(),
        format!("{served} of {}", dialects.len()),
    );
}

// ===== 6. every slot held by handshakes that never finish =====

pub const EVICTION: Attack = Attack {
    name: "handshake-eviction",
    what: "every --max-connections slot taken by connections that never finish their \
           handshake: honest newcomers still get 101 and echo (the oldest handshake is evicted)",
    fix: Some(6),
    flags: |scale| {
        let slots = slots(scale);
        Flags {
            max_connections: Some(slots),
            max_handshaking: Some(slots),
            handshake_timeout: Some(60.0),
            ..Flags::default()
        }
    },
    run: eviction,
};

fn slots(scale: Scale) -> usize {
    match scale {
        Scale::Small => 64,
        Scale::Full => 2000,
    }
}

fn eviction(ctx: &mut Ctx) {
    let count = slots(ctx.scale);
    // Half send nothing, half the start of a head.
    let mut conns = crowd_of(ctx, count, |i| {
        if i % 2 == 0 {
            Vec::new()
        } else {
            wire::head_start("/echo")
        }
    });
    // Time for the server to accept them all.
    std::thread::sleep(Duration::from_millis(500));
    newcomers(
        ctx,
        &[
            Dialect::Rfc6455,
            Dialect::Hixie76,
            Dialect::Hybi07,
            Dialect::Hixie75,
        ],
    );
    let outcomes = crowd::watch_quietly(&mut conns, ctx.start, Duration::from_secs(1));
    let evicted = outcomes
        .iter()
        .filter(|(seen, _)| seen.ended_by_server())
        .count();
    ctx.saw("attackers", Tally::of(&outcomes));
    ctx.check(
        "attackers are evicted to make room",
        evicted >= 4,
        format!("{evicted} of {}", outcomes.len()),
    );
}

// ===== slowloris =====

pub const SLOWLORIS: Attack = Attack {
    name: "slowloris",
    what: "connections dribbling a header line every 0.5 s, never ending the head: dropped \
           at the handshake timeout (2 s)",
    fix: None,
    flags: |scale| Flags {
        handshake_timeout: Some(2.0),
        max_connections: (scale == Scale::Full).then_some(FULL_LORISES + 64),
        max_handshaking: (scale == Scale::Full).then_some(FULL_LORISES + 64),
        ..Flags::default()
    },
    run: slowloris,
};

const FULL_LORISES: usize = 4000;

fn slowloris(ctx: &mut Ctx) {
    let count = ctx.pick(200, FULL_LORISES);
    let mut conns = crowd_of(ctx, count, |_| wire::head_start("/echo"));
    let opened = ctx.since();
    let timeout = Duration::from_secs_f64(ctx.server.handshake_timeout);
    let mut line = 0;
    let outcomes = crowd::watch(
        &mut conns,
        ctx.start,
        Instant::now() + timeout + Duration::from_secs(8),
        Duration::from_millis(500),
        |conns| {
            line += 1;
            for conn in conns.iter_mut().filter(|c| c.ended.is_none()) {
                let _ = conn.send(&wire::dribble_line(line));
            }
        },
    );
    let dropped = outcomes
        .iter()
        .filter(|(seen, _)| seen.ended_by_server())
        .count();
    let last = outcomes.iter().map(|(_, at)| *at).max().unwrap_or_default();
    ctx.saw("lorises", Tally::of(&outcomes));
    ctx.check(
        "every slowloris is dropped",
        dropped == outcomes.len() && dropped == count,
        format!("{dropped} of {count}"),
    );
    let bound = opened + timeout + Duration::from_secs(3);
    ctx.check(
        format!("the last is dropped by {:.1}s", bound.as_secs_f64()),
        last <= bound,
        format!("@{:.1}s", last.as_secs_f64()),
    );
}

// ===== oversize heads =====

pub const OVERSIZE_HEADS: Attack = Attack {
    name: "oversize-heads",
    what: "request heads over the 8 KiB limit: 431",
    fix: None,
    flags: |_| Flags::default(),
    run: oversize_heads,
};

fn oversize_heads(ctx: &mut Ctx) {
    let count = ctx.pick(50, 1000);
    let conns = crowd_of(ctx, count, |_| wire::oversize_head("/echo", 9000));
    expect_status(ctx, conns, Duration::from_secs(5), 431);
}

// ===== garbage =====

pub const GARBAGE: Attack = Attack {
    name: "garbage",
    what: "a TLS ClientHello, random bytes, a header without a colon, an upgrade without its \
           key: 400",
    fix: None,
    flags: |_| Flags::default(),
    run: garbage,
};

fn garbage(ctx: &mut Ctx) {
    let count = ctx.pick(60, 1200);
    let conns = crowd_of(ctx, count, |i| wire::garbage(i, i as u64));
    expect_status(ctx, conns, Duration::from_secs(5), 400);
}

// ===== resets mid-handshake =====

pub const RESETS: Attack = Attack {
    name: "resets",
    what: "connections that send part of an opening request of any dialect, then reset: \
           every descriptor given back, newcomers served",
    fix: None,
    flags: |_| Flags::default(),
    run: resets,
};

fn resets(ctx: &mut Ctx) {
    let count = ctx.pick(500, 5000);
    let addr = ctx.addr();
    let host = addr.to_string();
    // In waves, so a full-scale run stays under the handshaking limit.
    let wave = 500;
    let mut reset = 0;
    for start in (0..count).step_by(wave) {
        let conns = crowd_of(ctx, wave.min(count - start), |i| {
            let i = start + i;
            let dialect = Dialect::ALL[i % Dialect::ALL.len()];
            let (request, _) = wire::request(dialect, &host, "/echo", i as u64);
            // Anywhere from nothing to all of it (the server may have answered, then).
            let cut = (i * 37) % (request.len() + 1);
            request[..cut].to_vec()
        });
        std::thread::sleep(Duration::from_millis(50));
        reset += conns.len();
        conns.into_iter().for_each(RawConn::reset);
    }
    ctx.saw(
        "attackers",
        format!("{reset} reset @{:.1}s", ctx.since().as_secs_f64()),
    );
    std::thread::sleep(Duration::from_secs(1));
    if let (Some(pid), Some(before)) = (ctx.server.pid, ctx.baseline_fds) {
        let after = crate::probe::open_fds(pid).unwrap_or(usize::MAX);
        ctx.saw(
            "server descriptors",
            format!("{before} before, {after} after"),
        );
        ctx.check(
            "every descriptor is given back",
            after <= before + 8,
            format!("{before} before, {after} after"),
        );
    }
    newcomers(ctx, &[Dialect::Rfc6455, Dialect::Hixie76]);
}
