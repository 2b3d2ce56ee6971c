//! Attacks on the server's memory through `/echo` (whole-message delivery): declared
//! lengths never sent, unfinished messages past the server-wide budget, senders that never
//! read their echoes or pongs, frames over the limit, hixie text that never ends.

use super::{cycled, Attack, Ctx, OPENING};
use crate::crowd;
use crate::honest;
use crate::pump::{pump, Pumped, Until};
use crate::raw::{RawConn, Seen};
use crate::report::{mib, Scale, Tally, MIB};
use crate::server::Flags;
use crate::wire::{self, hixie_binary_head, hybi_frame, hybi_head, masked, OP_BINARY, OP_PING};
use std::time::{Duration, Instant};
use ws::protocols::{Dialect, MessageKind};

/// Open `count` connections of `dialect(i)` to `/echo`, each sending `first(i)` at once.
/// None is expected to fail.
fn crowd_on_echo(
    ctx: &mut Ctx,
    count: usize,
    dialect: impl Fn(usize) -> Dialect + Sync,
    first: impl Fn(usize) -> Vec<u8> + Sync,
) -> Vec<RawConn> {
    let addr = ctx.addr();
    let (opened, failed) = ctx.crowd(count, Instant::now() + OPENING, |i| {
        RawConn::websocket(addr, dialect(i), "/echo")?.sending(&first(i))
    });
    ctx.check(
        "every attacker connects",
        failed == 0,
        format!("{failed} of {count} failed"),
    );
    opened.into_iter().map(|(_, conn)| conn).collect()
}

/// Pump `source` into every connection until `limit` each or paused for 2 s.
fn pump_all(conns: &[RawConn], source: &[u8], limit: u64) -> Vec<Pumped> {
    let streams: Vec<_> = conns.iter().map(|c| &c.stream).collect();
    pump(
        &streams,
        source,
        limit,
        Until::Blocked(Duration::from_secs(2)),
        Instant::now() + Duration::from_secs(60),
    )
}

/// A tally of how far each pump got.
fn pump_tally(pumped: &[Pumped]) -> Tally {
    let mut tally = Tally::default();
    for p in pumped {
        let label = match (&p.paused_at, &p.error) {
            (_, Some(e)) => format!("write failed after ~{} MiB ({e})", p.written / MIB),
            (Some(at), None) => format!("paused after ~{} MiB", at / MIB),
            (None, None) => format!("sent all {}", mib(p.written)),
        };
        tally.count(label);
    }
    tally
}

// ===== 3. declared lengths =====

pub const DECLARED_LENGTHS: Attack = Attack {
    name: "declared-lengths",
    what: "connections each send a frame head declaring 16 MiB to /echo and nothing else: \
           nothing reserved from the declared length",
    fix: Some(3),
    flags: |scale| Flags {
        max_connections: (scale == Scale::Full).then_some(FULL_DECLARERS + 64),
        ..Flags::default()
    },
    run: declared_lengths,
};

const FULL_DECLARERS: usize = 8000;

fn declared_lengths(ctx: &mut Ctx) {
    let count = ctx.pick(1000, FULL_DECLARERS);
    let head = hybi_head(OP_BINARY, 16 << 20);
    let mut conns = crowd_on_echo(ctx, count, |_| Dialect::Rfc6455, |_| head.clone());
    // Time for the server to read every head.
    std::thread::sleep(Duration::from_secs(1));
    let declared = conns.len() as u64 * (16 << 20);
    if let (Some(rss), Some(vsz)) = (ctx.rss_growth(), ctx.vsz_growth()) {
        ctx.saw(
            "memory",
            format!(
                "{} declared by {} connections: RSS +{}, VmSize +{}",
                mib(declared),
                conns.len(),
                mib(rss),
                mib(vsz)
            ),
        );
        let vsz_bound = 256 * MIB + count as u64 * (64 << 10);
        ctx.check(
            format!("VmSize grows under +{}", mib(vsz_bound)),
            vsz <= vsz_bound,
            format!("+{}", mib(vsz)),
        );
    }
    let outcomes = crowd::watch_quietly(&mut conns, ctx.start, Duration::from_millis(500));
    ctx.saw("attackers", Tally::of(&outcomes));
    ctx.rss_bound = 32 * MIB + count as u64 * (16 << 10);
}

// ===== 4. the server-wide budget for unfinished messages =====

pub const MEMORY_BUDGET: Attack = Attack {
    name: "memory-budget",
    what: "connections each hold an unfinished 4 MiB of a 16 MiB message on /echo, past a \
           64 MB server-wide budget: 1013 for some, honest echo goes on, memory near the budget",
    fix: Some(4),
    flags: |_| Flags {
        memory_budget: Some(BUDGET),
        ..Flags::default()
    },
    run: memory_budget,
};

const BUDGET: u64 = 64_000_000;

fn memory_budget(ctx: &mut Ctx) {
    let count = ctx.pick(32, 256);
    let head = hybi_head(OP_BINARY, 16 << 20);
    let mut conns = crowd_on_echo(ctx, count, |_| Dialect::Rfc6455, |_| head.clone());
    let unit = masked(&wire::payload(4, 64 << 10, MessageKind::Binary), 0);
    let pumped = pump_all(&conns, &cycled(&unit), 4 * MIB);
    ctx.saw("pumps", pump_tally(&pumped));
    let outcomes = crowd::watch_quietly(&mut conns, ctx.start, Duration::from_secs(2));
    let refused = outcomes
        .iter()
        .filter(|(seen, _)| matches!(seen, Seen::Close(1013, _)))
        .count();
    ctx.saw("attackers", Tally::of(&outcomes));
    ctx.check(
        "attackers past the budget get close 1013",
        refused > 0,
        format!("{refused} of {count}"),
    );
    let newcomer = honest::newcomer(ctx.addr(), Dialect::Hybi08);
    ctx.saw("newcomer", honest::describe_outcome(&newcomer));
    ctx.check(
        "a newcomer's echo works",
        newcomer.is_ok(),
        honest::describe_outcome(&newcomer),
    );
    ctx.rss_bound = BUDGET + 32 * MIB;
}

// ===== floods: senders that never read =====

pub const ECHO_FLOOD: Attack = Attack {
    name: "echo-flood",
    what: "fast senders of 16 KiB messages to /echo that never read: paused, memory bounded",
    fix: None,
    flags: |_| Flags::default(),
    run: echo_flood,
};

/// Memory a paused peer may cost: its outgoing queue (1 MiB high-water mark plus a message)
/// and buffers.
const PER_PAUSED_PEER: u64 = 3 * MIB;

fn echo_flood(ctx: &mut Ctx) {
    let count = ctx.pick(8, 128);
    let mut conns = crowd_on_echo(ctx, count, |_| Dialect::Rfc6455, |_| Vec::new());
    let frame = hybi_frame(OP_BINARY, &wire::payload(5, 16 << 10, MessageKind::Binary));
    let pumped = pump_all(&conns, &cycled(&frame), 1 << 30);
    let paused = pumped.iter().filter(|p| p.paused()).count();
    ctx.saw("flooders", pump_tally(&pumped));
    ctx.check(
        "every flooder is paused",
        paused == count,
        format!("{paused} of {count}"),
    );
    let outcomes = crowd::watch_quietly(&mut conns, ctx.start, Duration::ZERO);
    ctx.saw("flooders' connections", Tally::of(&outcomes));
    ctx.rss_bound = 64 * MIB + count as u64 * PER_PAUSED_PEER;
}

// ===== ping floods =====

pub const PING_FLOOD: Attack = Attack {
    name: "ping-flood",
    what: "senders of 125-byte pings to /echo that never read the pongs: paused, memory \
           bounded",
    fix: None,
    flags: |_| Flags::default(),
    run: ping_flood,
};

fn ping_flood(ctx: &mut Ctx) {
    let count = ctx.pick(4, 64);
    let conns = crowd_on_echo(ctx, count, |_| Dialect::Rfc6455, |_| Vec::new());
    let ping = hybi_frame(OP_PING, &[b'p'; 125]);
    let pumped = pump_all(&conns, &cycled(&ping), 256 * MIB);
    let paused = pumped.iter().filter(|p| p.paused()).count();
    ctx.saw("pingers", pump_tally(&pumped));
    ctx.check(
        "every pinger is paused",
        paused == count,
        format!("{paused} of {count}"),
    );
    ctx.rss_bound = 64 * MIB + count as u64 * PER_PAUSED_PEER;
}

// ===== oversize frames =====

pub const OVERSIZE_FRAMES: Attack = Attack {
    name: "oversize-frames",
    what: "frame heads over the 16 MiB frame limit (16 MiB + 1, 1 GiB, 2^62; hixie-76 \
           `80` + 1 GiB): close 1009, hixie closed",
    fix: None,
    flags: |_| Flags::default(),
    run: oversize_frames,
};

/// Dialect and declared length of attacker `i % 4`.
const OVERSIZE: [(Dialect, u64); 4] = [
    (Dialect::Rfc6455, (16 << 20) + 1),
    (Dialect::Hybi07, 1 << 30),
    (Dialect::Hybi08, 1 << 62),
    (Dialect::Hixie76, 1 << 30),
];

fn oversize_frames(ctx: &mut Ctx) {
    let count = ctx.pick(64, 2000);
    let mut conns = crowd_on_echo(
        ctx,
        count,
        |i| OVERSIZE[i % OVERSIZE.len()].0,
        |i| match OVERSIZE[i % OVERSIZE.len()] {
            (Dialect::Hixie76, len) => hixie_binary_head(len),
            (_, len) => hybi_head(OP_BINARY, len),
        },
    );
    let outcomes = crowd::watch_quietly(&mut conns, ctx.start, Duration::from_secs(3));
    let mut hybi = Vec::new();
    let mut hixie = Vec::new();
    for (conn, outcome) in conns.iter().zip(outcomes) {
        match conn.dialect() {
            Some(Dialect::Hixie76) => hixie.push(outcome),
            _ => hybi.push(outcome),
        }
    }
    ctx.saw("hybi", Tally::of(&hybi));
    ctx.saw("hixie-76", Tally::of(&hixie));
    let too_big = hybi
        .iter()
        .filter(|(seen, _)| matches!(seen, Seen::Close(1009, _)))
        .count();
    ctx.check(
        "every hybi attacker gets close 1009",
        too_big == hybi.len(),
        format!("{too_big} of {}", hybi.len()),
    );
    let closed = hixie
        .iter()
        .filter(|(seen, _)| seen.ended_by_server())
        .count();
    ctx.check(
        "every hixie attacker is closed",
        closed == hixie.len(),
        format!("{closed} of {}", hixie.len()),
    );
}

// ===== unterminated hixie frames =====

pub const UNTERMINATED_HIXIE: Attack = Attack {
    name: "unterminated-hixie",
    what: "hixie-75/76 text frames (`00` then text) that never end, past a 16 MiB message \
           limit: closed, memory bounded by the limit",
    fix: None,
    flags: |_| Flags {
        max_message: Some(HIXIE_LIMIT),
        ..Flags::default()
    },
    run: unterminated_hixie,
};

const HIXIE_LIMIT: u64 = 16 << 20;

fn unterminated_hixie(ctx: &mut Ctx) {
    let count = ctx.pick(4, 32);
    let mut conns = crowd_on_echo(
        ctx,
        count,
        |i| [Dialect::Hixie76, Dialect::Hixie75][i % 2],
        |_| vec![wire::HIXIE_TEXT_START],
    );
    let text = wire::payload(6, 64 << 10, MessageKind::Text);
    let pumped = pump_all(&conns, &text, 2 * HIXIE_LIMIT);
    ctx.saw("senders", pump_tally(&pumped));
    let outcomes = crowd::watch_quietly(&mut conns, ctx.start, Duration::from_secs(3));
    let closed = outcomes
        .iter()
        .filter(|(seen, _)| seen.ended_by_server())
        .count();
    ctx.saw("attackers", Tally::of(&outcomes));
    ctx.check(
        "every unterminated frame is closed",
        closed == count,
        format!("{closed} of {count}"),
    );
    ctx.rss_bound = 64 * MIB + count as u64 * 2 * HIXIE_LIMIT;
}
