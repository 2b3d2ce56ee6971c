//! Size limits, enforced before anything is allocated.

/// Limits on what a peer may make us parse or hold. Every check happens on declared sizes
/// (HTTP head length, frame length fields) *before* any buffer is sized from them: a peer
/// that declares a 2^62-byte frame gets a close, not an allocation (faye-websocket#26).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest opening-handshake head (request line + headers + CRLF CRLF), in bytes.
    /// Default 8 KiB, what nginx and most HTTP servers allow; beyond it: HTTP 431.
    pub max_head_bytes: usize,
    /// Most header lines in an opening handshake. Default 64; beyond it: HTTP 431.
    pub max_headers: usize,
    /// Largest payload of a single frame (hybi) or length-prefixed frame (hixie).
    /// Default 16 MiB; beyond it: close 1009.
    pub max_frame: u64,
    /// Largest message, summed over its fragments (hybi) or up to its `FF` (hixie text).
    /// Default 64 MiB, enough for the Autobahn 9.* cases (16 MiB); beyond it: close 1009.
    /// Streaming consumers may raise it freely since the codec never holds a message.
    pub max_message: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 8 * 1024,
            max_headers: 64,
            max_frame: 16 * 1024 * 1024,
            max_message: 64 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Set the largest handshake head.
    pub fn max_head_bytes(mut self, bytes: usize) -> Self {
        self.max_head_bytes = bytes;
        self
    }
    /// Set the most header lines.
    pub fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }
    /// Set the largest frame payload.
    pub fn max_frame(mut self, bytes: u64) -> Self {
        self.max_frame = bytes;
        self
    }
    /// Set the largest message.
    pub fn max_message(mut self, bytes: u64) -> Self {
        self.max_message = bytes;
        self
    }
}
