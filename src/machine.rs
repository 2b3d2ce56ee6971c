//! What the machine offers, for defaults sized to it.

/// Used when the memory cannot be read (other systems, odd containers): 4 GiB.
const UNKNOWN_MEMORY: u64 = 4 << 30;

/// The memory this process may use: the machine's physical memory, or its control group's
/// limit where that is lower (a container's `memory.max`).
pub(crate) fn memory() -> u64 {
    let physical = physical_memory().unwrap_or(UNKNOWN_MEMORY);
    cgroup_limit().map_or(physical, |limit| limit.min(physical))
}

#[cfg(target_os = "linux")]
fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf only reads system configuration.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages > 0 && size > 0).then(|| pages as u64 * size as u64)
}

#[cfg(not(target_os = "linux"))]
fn physical_memory() -> Option<u64> {
    None
}

/// cgroup v2's `memory.max` for this process's group ("max" means none).
fn cgroup_limit() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let file = format!("/sys/fs/cgroup{}/memory.max", path.trim_end_matches('/'));
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_is_plausible() {
        let memory = super::memory();
        assert!(memory >= 64 << 20, "{memory}");
    }
}
