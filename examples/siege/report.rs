//! What one attack found, and its one line of output: the server's memory over its
//! baseline, the honest members' latency and failures, what the attackers saw and when,
//! and the checks of the expected outcome.

use crate::honest::Summary;
use crate::probe::Memory;
use crate::raw::Seen;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Small,
    Full,
}

impl Scale {
    pub fn name(self) -> &'static str {
        match self {
            Scale::Small => "small",
            Scale::Full => "full",
        }
    }
}

pub const MIB: u64 = 1 << 20;

/// Outcomes of many connections grouped by label: how many, and when the first and the
/// last were seen (if that means anything).
#[derive(Default)]
pub struct Tally(BTreeMap<String, (usize, Option<(Duration, Duration)>)>);

impl Tally {
    /// Count one `label` seen `at` this time since the attack began.
    pub fn add(&mut self, label: String, at: Duration) {
        let entry = self.0.entry(label).or_insert((0, Some((at, at))));
        entry.0 += 1;
        if let Some((first, last)) = &mut entry.1 {
            *first = (*first).min(at);
            *last = (*last).max(at);
        }
    }

    /// Count one `label` whose time does not matter.
    pub fn count(&mut self, label: String) {
        self.0.entry(label).or_insert((0, None)).0 += 1;
    }

    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a (Seen, Duration)>) -> Tally {
        let mut tally = Tally::default();
        for (seen, at) in outcomes {
            tally.add(seen.label(), *at);
        }
        tally
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(
                |(label, &(n, times))| match times.map(|(a, b)| (secs(a), secs(b))) {
                    None => format!("{label} x{n}"),
                    Some((first, last)) if first == last => format!("{label} x{n} @{first}"),
                    Some((first, last)) => format!("{label} x{n} @{first}-{last}"),
                },
            )
            .collect();
        if parts.is_empty() {
            write!(f, "nothing")
        } else {
            write!(f, "{}", parts.join(", "))
        }
    }
}

/// One expected outcome and whether it held.
pub struct Check {
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

/// The server's memory during the attack, against its baseline just before.
#[derive(Clone, Copy, Debug)]
pub struct MemoryUse {
    pub baseline: Memory,
    /// The peak resident size (VmHWM after a reset, or the sampled VmRSS).
    pub peak_rss: u64,
    pub end_rss: u64,
    pub peak_vsz: u64,
}

impl MemoryUse {
    /// Peak RSS over the baseline, in bytes.
    pub fn peak_growth(&self) -> u64 {
        self.peak_rss.saturating_sub(self.baseline.rss) << 10
    }

    /// Peak VmSize over the baseline, in bytes.
    pub fn vsz_growth(&self) -> u64 {
        self.peak_vsz.saturating_sub(self.baseline.vsz) << 10
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

pub fn ms(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.0} ms", d.as_secs_f64() * 1e3)
    }
}

pub struct Report {
    pub attack: &'static str,
    pub scale: Scale,
    pub skipped: Option<String>,
    pub memory: Option<MemoryUse>,
    pub honest: Summary,
    /// What attackers (and anyone else worth naming) saw: who, what.
    pub seen: Vec<(String, String)>,
    pub checks: Vec<Check>,
    pub elapsed: Duration,
}

impl Report {
    pub fn new(attack: &'static str, scale: Scale) -> Report {
        Report {
            attack,
            scale,
            skipped: None,
            memory: None,
            honest: Summary::default(),
            seen: Vec::new(),
            checks: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    pub fn check(&mut self, what: impl Into<String>, ok: bool, detail: impl fmt::Display) {
        self.checks.push(Check {
            what: what.into(),
            ok,
            detail: detail.to_string(),
        });
    }

    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }

    /// The attack's line.
    pub fn line(&self) -> String {
        let verdict = match (&self.skipped, self.passed()) {
            (Some(_), _) => "SKIP",
            (None, true) => "PASS",
            (None, false) => "FAIL",
        };
        let head = format!("{verdict} {:<20} {:<5}", self.attack, self.scale.name());
        if let Some(why) = &self.skipped {
            return format!("{head} | {why}");
        }
        let memory = match &self.memory {
            Some(m) => format!(
                "rss peak +{} (VmHWM {} KiB, VmRSS {} -> {} KiB, VmSize +{})",
                mib(m.peak_growth()),
                m.peak_rss,
                m.baseline.rss,
                m.end_rss,
                mib(m.vsz_growth())
            ),
            None => "rss n/a".into(),
        };
        let h = &self.honest;
        let honest = format!(
            "honest {} ok {} failed, p50 {} p99 {} max {}",
            h.ok,
            h.failed,
            ms(h.p50),
            ms(h.p99),
            ms(h.max)
        );
        let seen: Vec<String> = self
            .seen
            .iter()
            .map(|(who, what)| format!("{who}: {what}"))
            .collect();
        format!(
            "{head} | {memory} | {honest} | {} | {}",
            seen.join("; "),
            secs(self.elapsed)
        )
    }
}
