//! Where in the loop's read buffer each `read` puts its bytes.
//!
//! Copying memory with `rep movsb` (what the kernel's `recv` copy uses on CPUs with fast
//! short `rep movsb`, and what glibc's `memcpy` uses for large copies) runs several times
//! slower when the destination sits a few dozen bytes above the source modulo 4 KiB: the
//! CPU mistakes the copy's loads for reloads of its own earlier stores (4K aliasing). We
//! measured 2 to 4 times the CPU per byte on this project's benchmark machine (AMD EPYC).
//!
//! The kernel's source address is the sender's socket memory, which we cannot see. When the
//! reads come back full, as in a long transfer, the distance between source and destination
//! stays the same from one read to the next, so one unlucky connection would pay the slow case
//! on every read for its whole life. Moving the destination by a different multiple of 64
//! bytes on every read turns that into a few slow reads in every 64.

/// The largest shift [`ReadShift::next`] returns; the read buffer needs this much slack.
pub(crate) const MAX_READ_SHIFT: usize = PAGE - LINE;

const PAGE: usize = 4096;
const LINE: usize = 64;
/// Odd, so that `LINE * STRIDE` walks through every multiple of `LINE` in a page before it
/// repeats, and far from 1, so that consecutive reads land far apart.
const STRIDE: usize = 23;

/// Cycles through every cache-line offset within a page.
#[derive(Debug, Default)]
pub(crate) struct ReadShift {
    step: usize,
}

impl ReadShift {
    /// The offset for the next read: a multiple of 64 in `0..=MAX_READ_SHIFT`.
    pub(crate) fn next(&mut self) -> usize {
        self.step = (self.step + STRIDE) % (PAGE / LINE);
        self.step * LINE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_every_line_of_a_page_once_per_cycle() {
        let mut shift = ReadShift::default();
        let mut seen: Vec<usize> = (0..PAGE / LINE).map(|_| shift.next()).collect();
        assert!(seen.iter().all(|&s| s % LINE == 0 && s <= MAX_READ_SHIFT));
        assert_ne!(
            seen[0] + LINE,
            seen[1],
            "consecutive reads should land far apart"
        );
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), PAGE / LINE);
    }
}
