//! The attacks, as a table: a name, what it does, the issue number of the fix it checks
//! (for the bugs being fixed; `None` for behaviour that already held), the server options
//! it needs at each scale, and the code that runs it.
//!
//! An attack gets a [`Ctx`]: the server, the scale, the instant it began, and where to put
//! what attackers saw (`saw`) and its checks of the expected outcome (`check`). The memory,
//! honest-member and survival checks are shared ([`crate::round`]); an attack sets its own
//! memory bound (`rss_bound`) where the default of 64 MiB does not fit it.

mod descriptors;
mod handshakes;
mod memory;
mod sessions;

use crate::crowd;
use crate::probe::{self, Memory};
use crate::raw::{RawConn, Seen};
use crate::report::{Report, Scale, Tally};
use crate::round::DEFAULT_RSS_BOUND;
use crate::server::{Flags, Server};
use std::fmt::Display;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long opening a crowd of attackers may take.
pub const OPENING: Duration = Duration::from_secs(60);

pub struct Attack {
    pub name: &'static str,
    pub what: &'static str,
    /// The number of the fix this attack checks, in the list.
    pub fix: Option<u8>,
    pub flags: fn(Scale) -> Flags,
    pub run: fn(&mut Ctx),
}

pub const ALL: &[Attack] = &[
    sessions::STUCK_RECEIVER,
    sessions::PONG_FLOOD,
    memory::DECLARED_LENGTHS,
    memory::MEMORY_BUDGET,
    handshakes::EVICTION,
    descriptors::OUT_OF_DESCRIPTORS,
    handshakes::SLOWLORIS,
    sessions::SLOW_READERS,
    memory::ECHO_FLOOD,
    handshakes::OVERSIZE_HEADS,
    memory::OVERSIZE_FRAMES,
    handshakes::GARBAGE,
    handshakes::RESETS,
    memory::PING_FLOOD,
    sessions::MANY_SESSIONS,
    memory::UNTERMINATED_HIXIE,
];

pub fn find(name: &str) -> Option<&'static Attack> {
    ALL.iter().find(|a| a.name == name)
}

pub struct Ctx<'a> {
    pub server: &'a mut Server,
    pub scale: Scale,
    /// When the attack began: attackers' times are measured from here.
    pub start: Instant,
    /// The server's memory and open descriptors just before the attack.
    pub baseline: Option<Memory>,
    pub baseline_fds: Option<usize>,
    report: &'a mut Report,
    /// Peak RSS over the baseline the attack may cost.
    pub rss_bound: u64,
}

impl<'a> Ctx<'a> {
    pub fn new(
        server: &'a mut Server,
        scale: Scale,
        start: Instant,
        baseline: (Option<Memory>, Option<usize>),
        report: &'a mut Report,
    ) -> Ctx<'a> {
        Ctx {
            server,
            scale,
            start,
            baseline: baseline.0,
            baseline_fds: baseline.1,
            report,
            rss_bound: DEFAULT_RSS_BOUND,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// `small` or `full`, by scale.
    pub fn pick<T>(&self, small: T, full: T) -> T {
        match self.scale {
            Scale::Small => small,
            Scale::Full => full,
        }
    }

    /// The server's resident memory now over its baseline, in bytes (when it can be read).
    pub fn rss_growth(&self) -> Option<u64> {
        let now = probe::memory(self.server.pid?)?;
        Some(now.rss.saturating_sub(self.baseline?.rss) << 10)
    }

    /// The server's address space now over its baseline, in bytes.
    pub fn vsz_growth(&self) -> Option<u64> {
        let now = probe::memory(self.server.pid?)?;
        Some(now.vsz.saturating_sub(self.baseline?.vsz) << 10)
    }

    /// Time since the attack began.
    pub fn since(&self) -> Duration {
        self.start.elapsed()
    }

    /// Note what `who` saw.
    pub fn saw(&mut self, who: impl Into<String>, what: impl Display) {
        self.report.seen.push((who.into(), what.to_string()));
    }

    /// Check one expected outcome.
    pub fn check(&mut self, what: impl Into<String>, ok: bool, detail: impl Display) {
        self.report.check(what, ok, detail);
    }

    /// Open `count` connections with `open_one(i)` until `deadline` ([`crowd::open`]);
    /// failures are tallied under "connecting". The connections with their index, and how
    /// many failed.
    pub fn crowd<F>(
        &mut self,
        count: usize,
        deadline: Instant,
        open_one: F,
    ) -> (Vec<(usize, RawConn)>, usize)
    where
        F: Fn(usize) -> Result<RawConn, Seen> + Sync,
    {
        let (opened, failed) = crowd::open(count, deadline, open_one);
        if !failed.is_empty() {
            let at = self.since();
            let mut tally = Tally::default();
            for (_, seen) in &failed {
                tally.add(seen.label(), at);
            }
            self.saw("connecting", tally);
        }
        (opened, failed.len())
    }

    /// Check that the server's log has at least one line containing `needle` (when we
    /// started the server and have its log).
    pub fn check_log(&mut self, what: &str, needle: &str) {
        if let Some(count) = self.server.log_count(needle) {
            self.saw("server log", format!("{needle:?} x{count}"));
            self.check(what, count > 0, format!("{count} lines with {needle:?}"));
        }
    }
}

/// A payload source for [`crate::pump::pump`]: whole copies of `unit`, at least 64 KiB.
/// A masked payload unit must be a multiple of 4 bytes long, so the mask still lines up
/// each time the pump starts the source over.
pub fn cycled(unit: &[u8]) -> Vec<u8> {
    unit.repeat((64usize << 10).div_ceil(unit.len().max(1)))
}
