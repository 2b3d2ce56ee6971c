//! Incremental UTF-8 validation that survives chunk and fragment boundaries.
//!
//! RFC 6455 §5.6 lets a frame split a code point, and Autobahn 6.4.x grades an endpoint strict
//! only if it fails *as soon as the first impossible byte arrives*, not at the end of the
//! message. So each chunk is validated on arrival, and up to three bytes of an unfinished
//! sequence are carried to the next chunk.

/// Where a text stream stopped being UTF-8.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Utf8Error {
    /// Offset, counted from the first byte fed since the last reset, of the first byte of the
    /// sequence that is invalid or incomplete: the same as `std::str::Utf8Error::valid_up_to`
    /// on the whole stream.
    pub valid_up_to: u64,
}

/// Streaming UTF-8 validator. Feed chunks in order with [`Utf8Validator::feed`]; call
/// [`Utf8Validator::finish`] at the end of the message.
///
/// ```
/// use ws_protocols::utf8::Utf8Validator;
/// let euro = "€".as_bytes(); // e2 82 ac
/// let mut v = Utf8Validator::new();
/// v.feed(&euro[..1]).unwrap();
/// v.feed(&euro[1..]).unwrap();
/// assert!(v.finish().is_ok());
/// // U+110000 is rejected on its second byte, before the sequence is complete.
/// assert!(v.feed(&[0xf4]).is_ok());
/// assert_eq!(v.feed(&[0x90]).unwrap_err().valid_up_to, 0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: u8,
    fed: u64,
}

/// Length of the sequence a valid lead byte starts (0 for bytes that never start one).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget everything: the next byte starts a new message.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Validate the next chunk. Fails on the chunk that holds the first byte which cannot
    /// continue valid UTF-8; after a failure the validator must be reset before reuse.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Utf8Error> {
        let start = self.fed;
        self.fed += chunk.len() as u64;
        let mut rest = chunk;
        if self.pending_len > 0 {
            let have = usize::from(self.pending_len);
            let need = sequence_len(self.pending[0]) - have;
            let take = need.min(rest.len());
            self.pending[have..have + take].copy_from_slice(&rest[..take]);
            let len = have + take;
            let seq_start = start - have as u64;
            match std::str::from_utf8(&self.pending[..len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix and the chunk is exhausted.
                    self.pending_len = len as u8;
                    return Ok(());
                }
                Err(_) => {
                    return Err(Utf8Error {
                        valid_up_to: seq_start,
                    })
                }
            }
            rest = &rest[take..];
        }
        match simdutf8::compat::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &rest[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
            Err(e) => Err(Utf8Error {
                valid_up_to: start + (chunk.len() - rest.len() + e.valid_up_to()) as u64,
            }),
        }
    }

    /// End of message: fails if it ended inside a multi-byte sequence. Resets the validator.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let result = if self.pending_len == 0 {
            Ok(())
        } else {
            Err(Utf8Error {
                valid_up_to: self.fed - u64::from(self.pending_len),
            })
        };
        self.reset();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_split(bytes: &[u8], at: &[usize]) -> Result<(), (usize, Utf8Error)> {
        let mut v = Utf8Validator::new();
        let mut prev = 0;
        for (i, &cut) in at.iter().chain(std::iter::once(&bytes.len())).enumerate() {
            v.feed(&bytes[prev..cut]).map_err(|e| (i, e))?;
            prev = cut;
        }
        v.finish().map_err(|e| (usize::MAX, e))
    }

    #[test]
    fn valid_text_split_anywhere_is_accepted() {
        let text = "κόσμε €𝄞 ascii".as_bytes();
        for a in 0..=text.len() {
            for b in a..=text.len() {
                assert_eq!(feed_split(text, &[a, b]), Ok(()), "cuts {a} {b}");
            }
        }
    }

    #[test]
    fn autobahn_6_4_fails_on_the_fragment_holding_the_bad_byte() {
        // κόσμε, then U+110000 (f4 90 80 80), then "edited": must fail on fragment 2.
        let bytes = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited";
        let err = feed_split(bytes, &[11, 15]).unwrap_err();
        assert_eq!(err.0, 1);
        assert_eq!(err.1.valid_up_to, 11);
        // Split between f4 and 90: still fails on the chunk holding 90.
        let err = feed_split(bytes, &[12]).unwrap_err();
        assert_eq!((err.0, err.1.valid_up_to), (1, 11));
    }

    #[test]
    fn rejects_surrogates_overlongs_and_out_of_range() {
        for bad in [
            &b"\xed\xa0\x80"[..],
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xf5\x80\x80\x80",
            b"\xff",
        ] {
            assert!(feed_split(bad, &[]).is_err(), "{bad:x?}");
        }
    }

    #[test]
    fn incomplete_sequence_at_the_end_is_an_error() {
        let err = feed_split(b"ab\xe2\x82", &[]).unwrap_err();
        assert_eq!((err.0, err.1.valid_up_to), (usize::MAX, 2));
    }
}
