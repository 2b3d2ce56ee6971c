//! Compressed payloads: permessage-deflate (RFC 7692) and the older deflate-frame (also
//! offered as x-webkit-deflate-frame), as raw-deflate streams fed and drained in slices.
//!
//! What was negotiated arrives as a [`Compression`]: the scope (one stream per message, or a
//! flush per frame) and, for each direction, the window and whether its context survives a
//! message. [`Inflater`] turns the peer's compressed payload into plaintext in pieces of a
//! size the caller chooses, counting them against the message limit as it goes, so a small
//! frame that inflates to gigabytes fails having allocated nothing. [`Deflater`] compresses
//! ours. Neither keeps a compression state while it is not needed: without context takeover
//! the zlib state exists only while a message is being read or written.
//!
//! ```
//! use ws_protocols::compression::{Compression, Deflater, Inflater, Scope, StreamParams};
//! use ws_protocols::MessageKind;
//!
//! let params = StreamParams { window_bits: 15, keep_context: true };
//! let agreed = Compression { scope: Scope::Message, ours: params, theirs: params };
//! let mut deflater = Deflater::new(&agreed, 0);
//! let mut inflater = Inflater::new(&agreed, u64::MAX);
//!
//! let mut wire = Vec::new();
//! deflater.compress(b"hello hello hello hello", &mut wire, true);
//! assert!(wire.len() < 23);
//!
//! let mut out = [0u8; 64];
//! let mut text = Vec::new();
//! inflater.start(MessageKind::Text);
//! inflater.feed(&wire, false, &mut out, |piece| { text.extend_from_slice(piece); true }).unwrap();
//! inflater.end(&mut out, |piece| text.extend_from_slice(piece)).unwrap();
//! assert_eq!(text, b"hello hello hello hello");
//! ```

mod deflate;
mod extension_list;
mod inflate;
mod negotiation;

pub use deflate::Deflater;
pub use extension_list::{elements, parse_element, Element};
pub use inflate::{Fed, Inflater};
pub use negotiation::{
    accept_response, dialect_compresses, negotiate, offer, Agreed, DeflatePolicy, ExtensionError,
    DEFLATE_FRAME_NAMES, PERMESSAGE_DEFLATE,
};

/// The 4 bytes a sync flush ends with (an empty stored block), which the sender strips and
/// the receiver puts back (RFC 7692 §7.2.1, §7.2.2).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// How compressed payload relates to frames.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// permessage-deflate: a compressed message is one stream across its frames, RSV1 on
    /// the first frame only, the tail stripped once at the message's end.
    Message,
    /// deflate-frame / x-webkit-deflate-frame: each frame with RSV1 is compressed on its
    /// own flush, its tail stripped; frames without RSV1 are plain, in any message.
    Frame,
}

/// One direction's stream.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct StreamParams {
    /// The LZ77 window, 2^bits bytes (8 to 15).
    pub window_bits: u8,
    /// Whether the compression context carries over from one message (or, per frame, one
    /// frame) to the next. Without it the state exists only while one is in flight.
    pub keep_context: bool,
}

impl StreamParams {
    /// The largest window, context kept: what a peer that asked for nothing uses.
    pub const DEFAULT: StreamParams = StreamParams {
        window_bits: 15,
        keep_context: true,
    };
}

/// What the handshake agreed, from one endpoint's point of view.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Compression {
    /// Per message or per frame.
    pub scope: Scope,
    /// The stream we compress.
    pub ours: StreamParams,
    /// The stream the peer compresses, which we inflate.
    pub theirs: StreamParams,
}

/// The window zlib is asked for. zlib has no raw-deflate stream with an 8-bit window: it
/// makes 9 of it. Inflating with a larger window than the sender's is always safe (every
/// distance it may use is still in reach), so an agreed 8 is inflated with 9. Compressing is
/// another matter (a 512-byte window could emit distances a 256-byte peer cannot follow):
/// [`Deflater`] sends an agreed-8 stream uncompressed instead.
fn zlib_window_bits(bits: u8) -> u8 {
    bits.clamp(9, 15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ProtocolError;
    use crate::event::MessageKind;

    fn agreed(scope: Scope, window_bits: u8, keep_context: bool) -> Compression {
        let params = StreamParams {
            window_bits,
            keep_context,
        };
        Compression {
            scope,
            ours: params,
            theirs: params,
        }
    }

    /// Inflate one message from `frames`, the plaintext in pieces of `piece` bytes.
    fn inflate(
        inflater: &mut Inflater,
        kind: MessageKind,
        frames: &[Vec<u8>],
        piece: usize,
    ) -> Result<Vec<u8>, ProtocolError> {
        let mut out = vec![0u8; piece];
        let mut text = Vec::new();
        inflater.start(kind);
        for frame in frames {
            let fed = inflater.feed(frame, true, &mut out, |p| {
                assert!(!p.is_empty() && p.len() <= piece);
                text.extend_from_slice(p);
                true
            })?;
            assert_eq!(fed, Fed::Done);
        }
        inflater.end(&mut out, |p| text.extend_from_slice(p))?;
        Ok(text)
    }

    #[test]
    fn rfc_7692_examples_inflate() {
        // §7.2.3.1: "Hello" compressed, one frame; §7.2.3.2 the same in two fragments.
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        for keep in [true, false] {
            let mut inflater = Inflater::new(&agreed(Scope::Message, 15, keep), 1 << 20);
            let got = inflate(&mut inflater, MessageKind::Text, &[hello.to_vec()], 3).unwrap();
            assert_eq!(got, b"Hello");
            let got = inflate(
                &mut inflater,
                MessageKind::Text,
                &[hello[..3].to_vec(), hello[3..].to_vec()],
                64,
            )
            .unwrap();
            assert_eq!(got, b"Hello");
        }
        // §7.2.3.2: with context takeover the second "Hello" refers back to the first.
        let mut inflater = Inflater::new(&agreed(Scope::Message, 15, true), 1 << 20);
        let first = inflate(&mut inflater, MessageKind::Text, &[hello.to_vec()], 64).unwrap();
        let second = [0xf2, 0x00, 0x11, 0x00, 0x00];
        let again = inflate(&mut inflater, MessageKind::Text, &[second.to_vec()], 64).unwrap();
        assert_eq!((first, again), (b"Hello".to_vec(), b"Hello".to_vec()));
        // §7.2.3.3: a stored (uncompressed) block; §7.2.3.5: two blocks in one message.
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        let got = inflate(&mut inflater, MessageKind::Text, &[stored.to_vec()], 64).unwrap();
        assert_eq!(got, b"Hello");
        let two_blocks = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        let mut fresh = Inflater::new(&agreed(Scope::Message, 15, true), 1 << 20);
        let got = inflate(&mut fresh, MessageKind::Text, &[two_blocks.to_vec()], 2).unwrap();
        assert_eq!(got, b"Hello");
    }

    #[test]
    fn deflate_then_inflate_round_trips_in_every_scope_and_policy() {
        let text: Vec<u8> = (0..5_000u32)
            .flat_map(|i| format!("{{\"id\":{i},\"name\":\"κόσμε\"}}").into_bytes())
            .collect();
        for scope in [Scope::Message, Scope::Frame] {
            for bits in [9, 12, 15] {
                for keep in [true, false] {
                    let agreed = agreed(scope, bits, keep);
                    let mut deflater = Deflater::new(&agreed, 0);
                    let mut inflater = Inflater::new(&agreed, u64::MAX);
                    for _ in 0..3 {
                        // Split at arbitrary points (inside characters too): per message,
                        // one stream flushed at each piece; per frame, one stream per piece.
                        let pieces: Vec<&[u8]> = text.chunks(3777).collect();
                        let frames: Vec<Vec<u8>> = pieces
                            .iter()
                            .enumerate()
                            .map(|(i, piece)| {
                                let mut frame = Vec::new();
                                let last = scope == Scope::Frame || i == pieces.len() - 1;
                                deflater.compress(piece, &mut frame, last);
                                frame
                            })
                            .collect();
                        let wire: usize = frames.iter().map(Vec::len).sum();
                        assert!(wire < text.len() / 4, "{scope:?} {bits} {keep}: {wire}");
                        let got = inflate(&mut inflater, MessageKind::Text, &frames, 1000);
                        assert!(got.unwrap() == text, "{scope:?} {bits} {keep}");
                        assert_eq!(deflater.holds_state(), keep);
                        assert_eq!(inflater.holds_state(), keep);
                    }
                }
            }
        }
    }

    #[test]
    fn a_stream_that_ends_on_a_flush_still_ends_where_the_peer_adds_the_tail() {
        // With context takeover, a message streamed as a flushed piece then an end with
        // nothing new, then an empty message, then a short one: each must leave the peer's
        // inflater where the next message starts (a found bug: the end wrote nothing, and
        // the tail the peer added then began a stored block of 0xFF00 bytes).
        let agreed = agreed(Scope::Message, 13, true);
        let mut deflater = Deflater::new(&agreed, 0);
        let mut inflater = Inflater::new(&agreed, u64::MAX);
        let mut streamed = Vec::new();
        deflater.compress(b"UU", &mut streamed, false);
        let mut end = Vec::new();
        deflater.compress(&[], &mut end, true);
        assert_eq!(end, [0x00], "an empty stored block's header");
        let got = inflate(&mut inflater, MessageKind::Binary, &[streamed, end], 64);
        assert_eq!(got.unwrap(), b"UU");
        for message in [&b""[..], b"\x17\x9c", b""] {
            let mut frame = Vec::new();
            deflater.compress(message, &mut frame, true);
            let got = inflate(&mut inflater, MessageKind::Binary, &[frame], 64);
            assert_eq!(got.unwrap(), message);
        }
    }

    #[test]
    fn a_kept_context_forgotten_between_messages_still_inflates_in_a_peer_that_kept_its_own() {
        // The idle-memory rule: the sender drops its context without a word, the peer keeps
        // its window; the next message refers to nothing and costs its full size again.
        for scope in [Scope::Message, Scope::Frame] {
            let agreed = agreed(scope, 15, true);
            let mut deflater = Deflater::new(&agreed, 0);
            let mut inflater = Inflater::new(&agreed, u64::MAX);
            let text: Vec<u8> = (0..40)
                .flat_map(|i| format!("{{\"id\":{i},\"ok\":true}}").into_bytes())
                .collect();
            let mut sizes = Vec::new();
            for forget in [false, false, true, false] {
                if forget {
                    deflater.forget_context();
                    assert!(!deflater.holds_state());
                }
                let mut frame = Vec::new();
                deflater.compress(&text, &mut frame, true);
                sizes.push(frame.len());
                let got = inflate(&mut inflater, MessageKind::Text, &[frame], 256);
                assert!(got.unwrap() == text, "{scope:?}");
            }
            // With history the repeat is a few bytes; without it, the first message's size.
            assert!(sizes[1] * 4 < sizes[0], "{scope:?} {sizes:?}");
            assert_eq!(sizes[2], sizes[0], "{scope:?} {sizes:?}");
            assert!(sizes[3] * 4 < sizes[0], "{scope:?} {sizes:?}");
        }
    }

    #[test]
    fn a_bomb_fails_at_the_limit_having_inflated_one_piece_past_it() {
        // 16 MiB of zeros compresses to about 16 KiB.
        let agreed = agreed(Scope::Message, 15, false);
        let mut deflater = Deflater::new(&agreed, 0);
        let mut bomb = Vec::new();
        deflater.compress(&vec![0u8; 16 << 20], &mut bomb, true);
        assert!(bomb.len() < 32 << 10, "{}", bomb.len());
        let mut inflater = Inflater::new(&agreed, 1 << 20);
        let mut out = vec![0u8; 16 << 10];
        let mut delivered = 0usize;
        inflater.start(MessageKind::Binary);
        let result = inflater.feed(&bomb, false, &mut out, |piece| {
            delivered += piece.len();
            true
        });
        assert_eq!(result, Err(ProtocolError::MessageTooLarge));
        assert_eq!(delivered, 1 << 20, "exactly the limit was delivered");
    }

    #[test]
    fn a_receiver_that_stops_gets_the_rest_on_resume() {
        let agreed = agreed(Scope::Frame, 15, true);
        let mut deflater = Deflater::new(&agreed, 0);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut frame = Vec::new();
        deflater.compress(&data, &mut frame, true);
        let mut inflater = Inflater::new(&agreed, u64::MAX);
        let mut out = vec![0u8; 4096];
        let mut got = Vec::new();
        inflater.start(MessageKind::Binary);
        let mut fed = inflater
            .feed(&frame, true, &mut out, |p| {
                got.extend_from_slice(p);
                false
            })
            .unwrap();
        let mut resumes = 0;
        while fed == Fed::Stopped {
            assert!(inflater.is_pending());
            resumes += 1;
            fed = inflater
                .resume(&mut out, |p| {
                    got.extend_from_slice(p);
                    got.len() % 3 != 0
                })
                .unwrap();
        }
        inflater
            .end(&mut out, |p| got.extend_from_slice(p))
            .unwrap();
        assert!(resumes > 5);
        assert!(!inflater.is_pending());
        assert!(got == data);
    }

    #[test]
    fn broken_streams_and_text_fail_with_their_codes() {
        let agreed = agreed(Scope::Message, 15, true);
        let mut inflater = Inflater::new(&agreed, u64::MAX);
        // A reserved block type (BTYPE 11).
        let bad = inflate(
            &mut inflater,
            MessageKind::Binary,
            &[vec![0xff, 0xff, 0xff]],
            64,
        );
        assert_eq!(bad, Err(ProtocolError::BadCompressedData));
        assert_eq!(ProtocolError::BadCompressedData.close_code(), 1007);
        // Text that inflates to invalid UTF-8, and text cut inside a character.
        let mut deflater = Deflater::new(&agreed, 0);
        for (text, error) in [
            (&b"ok \xff"[..], ProtocolError::InvalidUtf8),
            (&"é".as_bytes()[..1], ProtocolError::IncompleteUtf8),
        ] {
            let mut frame = Vec::new();
            deflater.compress(text, &mut frame, true);
            let mut inflater = Inflater::new(&agreed, u64::MAX);
            let got = inflate(&mut inflater, MessageKind::Text, &[frame], 64);
            assert_eq!(got, Err(error));
        }
    }

    #[test]
    fn small_messages_and_an_8_bit_window_go_uncompressed() {
        let deflater = Deflater::new(&agreed(Scope::Message, 15, false), 32);
        assert!(!deflater.wants(Some(31)) && deflater.wants(Some(32)) && deflater.wants(None));
        let deflater = Deflater::new(&agreed(Scope::Message, 8, false), 0);
        assert!(!deflater.wants(Some(1000)));
        // Inflating an agreed 8 works (with 9): a stream made with a 9-bit window inflates.
        let agreed = agreed(Scope::Message, 8, false);
        let nine = Compression {
            ours: StreamParams {
                window_bits: 9,
                keep_context: false,
            },
            ..agreed
        };
        let mut frame = Vec::new();
        Deflater::new(&nine, 0).compress(&[7u8; 5000], &mut frame, true);
        let mut inflater = Inflater::new(&agreed, u64::MAX);
        let got = inflate(&mut inflater, MessageKind::Binary, &[frame], 512).unwrap();
        assert_eq!(got, vec![7u8; 5000]);
    }
}
