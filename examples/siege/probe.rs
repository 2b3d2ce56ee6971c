//! What the server process costs, read from `/proc/PID`: memory (`status`), CPU time
//! (`stat`), open descriptors (`fd/`), and a sampler thread for the peak of an attack.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Memory figures of `/proc/PID/status`, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss: u64,
    /// VmHWM: the peak resident size since the process started or the mark was reset.
    pub hwm: u64,
    /// VmSize: address space reserved.
    pub vsz: u64,
}

fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(Memory {
        rss: status_kib(&status, "VmRSS")?,
        hwm: status_kib(&status, "VmHWM")?,
        vsz: status_kib(&status, "VmSize")?,
    })
}

/// Reset VmHWM to the current VmRSS (`5` to `/proc/PID/clear_refs`), so the next VmHWM read
/// is the peak since now. False where that is not allowed (another user's process).
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// utime + stime, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name's closing parenthesis; utime and stime are the
    // 14th and 15th of the line.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// The CPU the process used while `during` ran, as a fraction of one core.
pub fn cpu_share(pid: u32, during: impl FnOnce()) -> Option<f64> {
    let start = std::time::Instant::now();
    let before = cpu_ticks(pid)?;
    during();
    let used = cpu_ticks(pid)?.saturating_sub(before);
    Some(used as f64 / ticks_per_second() as f64 / start.elapsed().as_secs_f64())
}

/// Descriptors the process has open.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Samples memory every few milliseconds until stopped, keeping the peaks: VmHWM misses
/// nothing but only covers RSS, and cannot be reset on every system.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Memory>,
}

const SAMPLE_EVERY: Duration = Duration::from_millis(20);

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = Memory::default();
            loop {
                if let Some(m) = memory(pid) {
                    peak.rss = peak.rss.max(m.rss);
                    peak.hwm = peak.hwm.max(m.hwm);
                    peak.vsz = peak.vsz.max(m.vsz);
                }
                if flag.load(Ordering::Relaxed) {
                    return peak;
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Sampler { stop, thread }
    }

    /// The peaks seen (zeros if the process could not be read).
    pub fn stop(self) -> Memory {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}
