//! The sending side: our payload compressed with a sync flush per call, so what the peer has
//! received always inflates completely.

use super::{Compression, Scope, StreamParams, TAIL};
use flate2::{Compress, FlushCompress};

/// Compresses our payload; one per connection that negotiated compression.
pub struct Deflater {
    scope: Scope,
    params: StreamParams,
    /// Messages shorter than this go out uncompressed (both extensions allow it).
    min_size: usize,
    /// The zlib state: present while a message is being written, or always with context
    /// takeover once the first message was compressed. Boxed: an idle connection holds only
    /// the pointer.
    zlib: Option<Box<Compress>>,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("scope", &self.scope)
            .field("params", &self.params)
            .field("min_size", &self.min_size)
            .field("has_state", &self.zlib.is_some())
            .finish()
    }
}

/// zlib-rs's level. Its 6 (zlib-ng's "medium" strategy) is faster than zlib's 6 and
/// compresses less: 1 KiB JSON echoed with context kept took 313 bytes a message against
/// npm ws's (zlib 6) 298. Its 7 is the classic lazy matching zlib's 6 uses: 297 bytes, for
/// 24 % more CPU with context kept and 4 % more without (scripts/bench-deflate.sh, one run
/// of each level, 2026-12-05).
const LEVEL: u32 = 7;

impl Deflater {
    /// The compressing side of `agreed` (its `ours` stream); whole messages shorter than
    /// `min_size` bytes are sent as they are.
    pub fn new(agreed: &Compression, min_size: usize) -> Self {
        Deflater {
            scope: agreed.scope,
            params: agreed.ours,
            min_size,
            zlib: None,
        }
    }

    /// Per message or per frame.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Whether a message (of `len` bytes, when known) is to be compressed. Never with an
    /// agreed 8-bit window, which zlib cannot honour (see the module's `zlib_window_bits`).
    pub fn wants(&self, len: Option<usize>) -> bool {
        self.params.window_bits >= 9 && len.is_none_or(|len| len >= self.min_size)
    }

    /// Whether a zlib state is allocated now (for measuring memory per connection).
    pub fn holds_state(&self) -> bool {
        self.zlib.is_some()
    }

    /// Compress `input` and append it to `out`, sync-flushed so the peer can inflate all of
    /// it now. With `last` the stream ends here (the message's under permessage-deflate,
    /// each frame's under deflate-frame): it ends on the header of an empty stored block
    /// whose 4-byte tail the peer adds back, and without context takeover the state is let
    /// go.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>, last: bool) {
        let bits = self.params.window_bits;
        let zlib = self.zlib.get_or_insert_with(|| spare::take(bits));
        let start = out.len();
        let mut used = 0;
        loop {
            // Deflate output of incompressible input is a little longer than it; a sync
            // flush adds a few bytes more.
            out.reserve(input.len() - used + 64);
            let before = zlib.total_in();
            zlib.compress_vec(&input[used..], out, FlushCompress::Sync)
                .expect("deflate of a valid state cannot fail");
            used += (zlib.total_in() - before) as usize;
            // Done once all input is in and the flush fitted (room was left over).
            if used == input.len() && out.len() < out.capacity() {
                break;
            }
        }
        if last {
            if out.len() > start {
                // A sync flush ends with an empty stored block: its header bits, then
                // LEN/NLEN `00 00 FF FF`, which the peer puts back.
                debug_assert!(out[start..].ends_with(&TAIL));
                out.truncate(out.len() - TAIL.len());
            } else {
                // Nothing new since the last flush, which already ended on a whole stored
                // block (zlib writes nothing for a repeated flush). The peer will still add
                // `00 00 FF FF`: give it the header those bytes complete, an empty stored
                // block's (BFINAL 0, BTYPE 00, padding), as RFC 7692 §7.2.3.6 sends an
                // empty message.
                out.push(0x00);
            }
            self.end_stream();
        }
    }

    /// Let go of the kept context between messages (an idle connection's memory): the next
    /// message starts a fresh stream. Always allowed to the sender: a stream that refers to
    /// nothing earlier inflates the same in a peer that kept its window, so nothing is
    /// negotiated for it. Only between messages (permessage-deflate) or frames
    /// (deflate-frame), never inside one.
    pub fn forget_context(&mut self) {
        if let Some(zlib) = self.zlib.take() {
            spare::give_back(self.params.window_bits, zlib);
        }
    }

    /// The stream ended without a last call to [`Deflater::compress`] (a message whose
    /// remaining bytes were none): drop the state unless the context is kept.
    pub fn end_stream(&mut self) {
        if !self.params.keep_context {
            self.forget_context();
        }
    }
}

impl Drop for Deflater {
    /// A closing connection's state serves the next one.
    fn drop(&mut self) {
        self.forget_context();
    }
}

/// zlib states let go of by this thread's connections, kept for the next message that
/// needs one: without context takeover every message starts a fresh stream, and resetting
/// a state costs about two thirds of making one (a 1 KiB JSON message: 5.4 against 8.5 µs
/// with zlib-rs, window 15, level 7, compressing included). A loop runs on one thread and
/// compresses one message at a time per connection, so a few states serve all of its lean
/// connections; beyond [`spare::MAX`] a state is freed. What a connection holds between
/// messages is unchanged: nothing, unless it keeps its context.
mod spare {
    use super::LEVEL;
    use flate2::{Compress, Compression as Level};
    use std::cell::RefCell;

    /// Spare states kept per thread, about 300 KiB each.
    pub(super) const MAX: usize = 4;

    thread_local! {
        /// Each with the window it was made for (a reset keeps it).
        static SPARE: RefCell<Vec<(u8, Box<Compress>)>> = const { RefCell::new(Vec::new()) };
    }

    /// A state for a fresh stream with a `bits` window: a spare one reset, or a new one.
    pub(super) fn take(bits: u8) -> Box<Compress> {
        let spare = SPARE.with(|spare| {
            let mut spare = spare.borrow_mut();
            let at = spare.iter().position(|(b, _)| *b == bits)?;
            Some(spare.swap_remove(at).1)
        });
        match spare {
            Some(mut zlib) => {
                zlib.reset();
                zlib
            }
            None => Box::new(Compress::new_with_window_bits(
                Level::new(LEVEL),
                false,
                bits,
            )),
        }
    }

    /// Keep `zlib` (made for a `bits` window) for another stream, or free it.
    pub(super) fn give_back(bits: u8, zlib: Box<Compress>) {
        // While the thread ends, its spares are gone: the state is just freed.
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < MAX {
                spare.push((bits, zlib));
            }
        });
    }

    /// How many states this thread keeps now.
    #[cfg(test)]
    pub(super) fn count() -> usize {
        SPARE.with(|spare| spare.borrow().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::{Compression, Scope, StreamParams};

    fn lean(bits: u8) -> Deflater {
        let params = StreamParams {
            window_bits: bits,
            keep_context: false,
        };
        let agreed = Compression {
            scope: Scope::Message,
            ours: params,
            theirs: params,
        };
        Deflater::new(&agreed, 0)
    }

    fn message(deflater: &mut Deflater, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        deflater.compress(text, &mut out, true);
        out
    }

    #[test]
    fn a_spare_state_compresses_as_a_new_one_and_the_spares_are_bounded() {
        // Runs on a thread of its own: the spares are per thread.
        std::thread::spawn(|| {
            let text = br#"{"name":"value","list":[1,2,3],"name2":"value"}"#.repeat(20);
            let other = b"something else entirely, twice: something else entirely".to_vec();
            let mut first = lean(15);
            let fresh = message(&mut first, &text);
            assert!(
                !first.holds_state(),
                "a lean connection holds nothing between messages"
            );
            assert_eq!(spare::count(), 1);
            // Reused for another stream, after a different one: no history carried over.
            let mut second = lean(15);
            message(&mut second, &other);
            assert_eq!(message(&mut second, &text), fresh);
            assert_eq!(spare::count(), 1);
            // Another window gets a state of its own.
            let mut narrow = lean(10);
            let narrow_out = message(&mut narrow, &text);
            assert_eq!(message(&mut lean(10), &text), narrow_out);
            assert_eq!(spare::count(), 2);
            // Many connections mid-message at once, then all done: at most MAX kept.
            let mut many: Vec<Deflater> = (0..10).map(|_| lean(15)).collect();
            for d in &mut many {
                let mut out = Vec::new();
                d.compress(&text, &mut out, false);
            }
            drop(many);
            assert_eq!(spare::count(), spare::MAX);
        })
        .join()
        .unwrap();
    }
}
