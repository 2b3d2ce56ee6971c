//! The sending side: our payload compressed with a sync flush per call, so what the peer has
//! received always inflates completely.

use super::{Compression, Scope, StreamParams, TAIL};
use flate2::{Compress, Compression as Level, FlushCompress};

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
        let zlib = self.zlib.get_or_insert_with(|| {
            Box::new(Compress::new_with_window_bits(
                Level::new(LEVEL),
                false,
                bits,
            ))
        });
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
        self.zlib = None;
    }

    /// The stream ended without a last call to [`Deflater::compress`] (a message whose
    /// remaining bytes were none): drop the state unless the context is kept.
    pub fn end_stream(&mut self) {
        if !self.params.keep_context {
            self.zlib = None;
        }
    }
}
