//! Running the server out of file descriptors: more connections than its RLIMIT_NOFILE.

use super::{Attack, Ctx};
use crate::crowd;
use crate::honest;
use crate::probe;
use crate::raw::{RawConn, Seen};
use crate::report::{Scale, Tally};
use crate::server::Flags;
use crate::wire;
use std::time::{Duration, Instant};
use ws::protocols::Dialect;

// ===== 7. out of descriptors =====

pub const OUT_OF_DESCRIPTORS: Attack = Attack {
    name: "out-of-descriptors",
    what: "more connections (each a complete RFC 6455 request) than the server's \
           RLIMIT_NOFILE: it does not spin, answers or closes the excess, serves newcomers \
           once descriptors free up",
    fix: Some(7),
    flags: |scale| Flags {
        nofile: Some(nofile(scale)),
        handshake_timeout: Some(60.0),
        ..Flags::default()
    },
    run: out_of_descriptors,
};

fn nofile(scale: Scale) -> u64 {
    match scale {
        Scale::Small => 128,
        Scale::Full => 1024,
    }
}

/// Highest share of one core the server may use while its accept backlog is full.
const MAX_CPU: f64 = 0.5;

fn out_of_descriptors(ctx: &mut Ctx) {
    let nofile = nofile(ctx.scale);
    let count = ctx.pick(400, 4000);
    let addr = ctx.addr();
    let host = addr.to_string();
    // Connects beyond a backlog nobody drains wait out their timeout: bound the opening.
    let (opened, failed) = ctx.crowd(count, Instant::now() + Duration::from_secs(20), |i| {
        let (request, _) = wire::request(Dialect::Rfc6455, &host, "/echo", i as u64);
        RawConn::tcp(addr)?.sending(&request)
    });
    let mut conns: Vec<RawConn> = opened.into_iter().map(|(_, conn)| conn).collect();
    std::thread::sleep(Duration::from_millis(500));
    if let Some(pid) = ctx.server.pid {
        let share = probe::cpu_share(pid, || std::thread::sleep(Duration::from_secs(2)));
        if let Some(share) = share {
            ctx.saw(
                "server CPU",
                format!("{:.0}% of a core over 2 s", share * 100.0),
            );
            ctx.check(
                format!(
                    "the server does not spin (under {:.0}% of a core)",
                    MAX_CPU * 100.0
                ),
                share < MAX_CPU,
                format!("{:.0}%", share * 100.0),
            );
        }
        if let Some(fds) = probe::open_fds(pid) {
            ctx.saw("server descriptors", format!("{fds} of {nofile}"));
        }
    }
    let during = honest::newcomer(addr, Dialect::Rfc6455);
    ctx.saw("newcomer while full", honest::describe_outcome(&during));
    let outcomes = crowd::watch_quietly(&mut conns, ctx.start, Duration::from_secs(1));
    let unanswered = outcomes
        .iter()
        .filter(|(seen, _)| *seen == Seen::Open)
        .count()
        + failed;
    ctx.saw("attackers", Tally::of(&outcomes));
    ctx.check(
        "the excess is answered or closed",
        unanswered as u64 <= nofile,
        format!("{unanswered} unanswered with {nofile} descriptors"),
    );
    // Descriptors free up: newcomers are served again (once the server has seen the
    // closes).
    drop(conns);
    let deadline = Instant::now() + Duration::from_secs(10);
    let served = loop {
        match honest::newcomer(addr, Dialect::Hixie76) {
            Ok(took) => break Ok(took),
            Err(e) if Instant::now() >= deadline => break Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let served_text = honest::describe_outcome(&served);
    ctx.saw(
        "newcomer after",
        format!("{served_text} @{:.1}s", ctx.since().as_secs_f64()),
    );
    ctx.check(
        "newcomers are served once descriptors free up",
        served.is_ok(),
        served_text,
    );
}
