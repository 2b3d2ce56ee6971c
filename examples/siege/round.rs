//! One round: an attack against its own server (or the running one) while the honest
//! members move data, with the server's memory measured from a baseline taken just before
//! the attack, and the checks every attack shares: the server survived, honest members
//! lost nothing and waited no longer than a bound, memory stayed under the attack's bound.

use crate::attacks::{Attack, Ctx};
use crate::honest::Honest;
use crate::probe::{self, Sampler};
use crate::report::{mib, MemoryUse, Report, Scale, MIB};
use crate::server::Target;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

/// Memory an attack may cost unless it says otherwise (the generous bound).
pub const DEFAULT_RSS_BOUND: u64 = 64 * MIB;

/// Time for the honest members to settle before the baseline is read.
const SETTLE: Duration = Duration::from_millis(300);

/// Honest members go on this long after the attack: the server must have recovered, and
/// even an attack over in a blink gets a fair sample of latencies.
const AFTERMATH: Duration = Duration::from_secs(1);

fn latency_bound(scale: Scale) -> Duration {
    match scale {
        Scale::Small => Duration::from_secs(2),
        Scale::Full => Duration::from_secs(3),
    }
}

pub fn run(attack: &Attack, target: &Target, scale: Scale) -> Report {
    let mut report = Report::new(attack.name, scale);
    let began = Instant::now();
    let flags = (attack.flags)(scale);
    let mut server = match target.start(attack.name, &flags) {
        Ok(server) => server,
        Err(e) if matches!(target, Target::Running { .. }) => {
            report.skipped = Some(e);
            return report;
        }
        Err(e) => {
            report.check("the server starts", false, e);
            return report;
        }
    };
    let honest = Honest::start(server.addr, attack.name);
    std::thread::sleep(SETTLE);
    let pid = server.pid;
    let baseline = pid.and_then(probe::memory);
    let baseline_fds = pid.and_then(probe::open_fds);
    let hwm_reset = pid.is_some_and(probe::reset_peak);
    let sampler = pid.map(Sampler::start);

    let start = Instant::now();
    let mut ctx = Ctx::new(
        &mut server,
        scale,
        start,
        (baseline, baseline_fds),
        &mut report,
    );
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (attack.run)(&mut ctx)));
    let rss_bound = ctx.rss_bound;
    std::thread::sleep(AFTERMATH);
    if let Err(panic) = outcome {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        report.check("the attack ran to its end", false, why);
    }

    let peak = sampler.map(Sampler::stop);
    let end = pid.and_then(probe::memory);
    report.honest = honest.stop(start);
    report.elapsed = began.elapsed();
    if let (Some(baseline), Some(peak), Some(end)) = (baseline, peak, end) {
        let peak_rss = if hwm_reset {
            end.hwm.max(peak.rss)
        } else {
            peak.rss
        };
        report.memory = Some(MemoryUse {
            baseline,
            peak_rss,
            end_rss: end.rss,
            peak_vsz: peak.vsz.max(end.vsz),
        });
    }
    shared_checks(&mut report, &mut server, rss_bound);
    report
}

fn shared_checks(report: &mut Report, server: &mut crate::server::Server, rss_bound: u64) {
    match server.alive() {
        Ok(()) => report.check("the server survives", true, ""),
        Err(e) => report.check("the server survives", false, e),
    }
    let h = report.honest.clone();
    let failures: Vec<String> = h
        .failures
        .iter()
        .map(|(at, what)| format!("@{:.1}s {what}", at.as_secs_f64()))
        .collect();
    report.check(
        "honest members lose nothing",
        h.failed == 0 && h.ok > 0,
        format!("{} ok, {} failed: {}", h.ok, h.failed, failures.join("; ")),
    );
    let bound = latency_bound(report.scale);
    report.check(
        format!("honest latency max under {bound:?}"),
        h.max < bound,
        format!("max {:?}", h.max),
    );
    if let Some(memory) = report.memory {
        report.check(
            format!("peak RSS under +{}", mib(rss_bound)),
            memory.peak_growth() <= rss_bound,
            format!("+{}", mib(memory.peak_growth())),
        );
    }
}
