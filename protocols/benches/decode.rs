//! Decoder throughput, side by side with tungstenite 0.27 in the same run.
//!
//! Run with `cargo bench -p ws-protocols --bench decode`.
//!
//! # Inputs
//! One criterion group per input. Each input is a buffer of back-to-back masked client
//! frames (RFC 6455, FIN set, a different masking key per frame), about 1 MiB in all:
//!
//! - `binary_20B`, `binary_1KiB`, `binary_64KiB`: binary frames with 20-byte, 1024-byte and
//!   65536-byte payloads;
//! - `text_ascii_64KiB`, `text_multibyte_64KiB`: text frames with 65536-byte payloads of valid
//!   UTF-8, all ASCII or mostly 2-, 3- and 4-byte sequences.
//!
//! Throughput, in decimal GB/s, is the whole buffer (frame headers included) divided by the
//! time to decode it.
//!
//! # What one iteration does, each side
//! Before every iteration, untimed and identical for every function, the pristine masked
//! bytes are copied into one reused work buffer (both decoders unmask in place, so the
//! buffer must be restored). Only the decode itself is timed (`iter_custom`).
//!
//! - `ws_protocols`: a fresh `Decoder::new(Rfc6455, Server, &Limits::default())`, then
//!   `decode_each` over the whole buffer. Per frame this parses and checks the header
//!   (reserved bits, opcode, mask required, minimal length, frame and message limits, message
//!   state), unmasks the payload in place, and for text validates it as UTF-8; it delivers
//!   `MessageStart`, `Data` and `MessageEnd`. The consumer passes the message kind and the
//!   payload slice through `black_box`.
//! - `tungstenite`: its frame layer driven the way its own `FrameCodec::read_frame` and
//!   `WebSocketContext::read_message_frame` drive it, but in place on the work buffer: the
//!   public `FrameHeader::parse` on a `Cursor` at the frame's start, the checks those two
//!   functions make (frame size limit, reserved bits, mask required, FIN data frame), then
//!   unmasking with tungstenite's own algorithm, and for text `std::str::from_utf8`, which
//!   is what its message layer runs (`Frame::into_text` -> `Utf8Bytes::try_from`). The frame
//!   layer does not export its unmasking (`protocol::frame::mask` is private and
//!   `FrameSocket::read` returns payloads still masked), so `tungstenite_apply_mask` below is
//!   a verbatim copy of tungstenite 0.27.0's `apply_mask_fast32`. The opcode and the payload
//!   slice go through `black_box`. No copy and no allocation: the most favourable way to run
//!   tungstenite's parser.
//! - `tungstenite_websocket`: tungstenite's real public read path, for reference: a fresh
//!   `WebSocket::from_raw_socket(stream, Role::Server, None)` over an in-memory stream that
//!   reads the work buffer, and `read()` once per frame; every message goes through
//!   `black_box`. This includes what tungstenite does beyond parsing: copying into its own
//!   read buffer and handing out `Bytes`.

use std::hint::black_box;
use std::io::{self, Cursor, Read, Write};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::{Role as TRole, WebSocket};
use tungstenite::Message;
use ws_protocols::frame::mask::apply_mask_reference;
use ws_protocols::frame::{Decode, Decoder};
use ws_protocols::{Dialect, Event, Limits, Role};

/// About this many bytes of frames per input.
const TARGET_BYTES: usize = 1 << 20;
/// tungstenite's default `max_frame_size`.
const TUNGSTENITE_MAX_FRAME: usize = 16 << 20;

/// One input: the masked wire bytes, and the payloads they carry, for the sanity check.
struct Input {
    name: &'static str,
    wire: Vec<u8>,
    frames: usize,
    payload: Vec<u8>,
}

/// Frames of `payload`, masked as a client sends them, back to back until about
/// `TARGET_BYTES`.
fn input(name: &'static str, text: bool, payload: &[u8]) -> Input {
    let mut wire = Vec::with_capacity(TARGET_BYTES + 2 * payload.len());
    let mut plain = Vec::new();
    let mut frames = 0usize;
    while wire.len() < TARGET_BYTES {
        let opcode = if text { 0x1 } else { 0x2 };
        wire.push(0x80 | opcode);
        let len = payload.len();
        if len < 126 {
            wire.push(0x80 | len as u8);
        } else if len <= 0xffff {
            wire.push(0x80 | 126);
            wire.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            wire.push(0x80 | 127);
            wire.extend_from_slice(&(len as u64).to_be_bytes());
        }
        let seed = (frames as u32).wrapping_mul(0x9e37_79b9) ^ 0xa5c3_0f17;
        let key = seed.to_be_bytes();
        wire.extend_from_slice(&key);
        let start = wire.len();
        wire.extend_from_slice(payload);
        apply_mask_reference(&mut wire[start..], key, 0);
        plain.extend_from_slice(payload);
        frames += 1;
    }
    Input {
        name,
        wire,
        frames,
        payload: plain,
    }
}

/// 65536 bytes of valid UTF-8, mostly multi-byte (2, 3 and 4 bytes per character).
fn multibyte_text() -> Vec<u8> {
    let unit = "κόσμε Ελληνικά 中文字符 日本語の文 한국어 𝄞𝄢😀🚀 ";
    let mut text = String::with_capacity(65536);
    'fill: loop {
        for c in unit.chars() {
            if text.len() + c.len_utf8() > 65536 {
                break 'fill;
            }
            text.push(c);
        }
    }
    while text.len() < 65536 {
        text.push('.');
    }
    text.into_bytes()
}

fn inputs() -> Vec<Input> {
    let binary = |n: usize| (0..n).map(|i| (i * 31 + 7) as u8).collect::<Vec<u8>>();
    let ascii: Vec<u8> = b"The quick brown fox jumps over the lazy dog. 0123456789\n"
        .iter()
        .copied()
        .cycle()
        .take(65536)
        .collect();
    let multibyte = multibyte_text();
    assert!(std::str::from_utf8(&multibyte).is_ok());
    assert!(multibyte.iter().filter(|b| !b.is_ascii()).count() > 65536 * 3 / 4);
    vec![
        input("binary_20B", false, &binary(20)),
        input("binary_1KiB", false, &binary(1024)),
        input("binary_64KiB", false, &binary(65536)),
        input("text_ascii_64KiB", true, &ascii),
        input("text_multibyte_64KiB", true, &multibyte),
    ]
}

/// ws_protocols: decode every frame in `buf`; returns the payload bytes seen.
fn ws_protocols_decode(buf: &mut [u8]) -> usize {
    let mut decoder = Decoder::new(Dialect::Rfc6455, Role::Server, &Limits::default());
    let mut payload = 0;
    let consumed = decoder
        .decode_each(buf, |event| match event {
            Event::MessageStart { kind, .. } => {
                black_box(kind);
            }
            Event::Data(data) => {
                payload += data.len();
                black_box(data);
            }
            Event::MessageEnd => {}
            other => panic!("unexpected event {other:?}"),
        })
        .expect("valid frames");
    debug_assert_eq!(consumed, buf.len());
    payload
}

/// tungstenite 0.27.0 `protocol/frame/mask.rs`, `apply_mask_fallback`, verbatim.
#[inline]
fn tungstenite_apply_mask_fallback(buf: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// tungstenite 0.27.0 `protocol/frame/mask.rs`, `apply_mask_fast32` (what its `apply_mask`
/// calls), verbatim: the module is private to tungstenite.
#[inline]
fn tungstenite_apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let mask_u32 = u32::from_ne_bytes(mask);

    // SAFETY: any bit pattern is a valid u32 (as in tungstenite).
    let (prefix, words, suffix) = unsafe { buf.align_to_mut::<u32>() };
    tungstenite_apply_mask_fallback(prefix, mask);
    let head = prefix.len() & 3;
    let mask_u32 = if head > 0 {
        if cfg!(target_endian = "big") {
            mask_u32.rotate_left(8 * head as u32)
        } else {
            mask_u32.rotate_right(8 * head as u32)
        }
    } else {
        mask_u32
    };
    for word in words.iter_mut() {
        *word ^= mask_u32;
    }
    tungstenite_apply_mask_fallback(suffix, mask_u32.to_ne_bytes());
}

/// tungstenite's frame layer, in place: see the module documentation. Returns the payload
/// bytes seen.
fn tungstenite_decode(buf: &mut [u8]) -> usize {
    let mut pos = 0;
    let mut payload_total = 0;
    while pos < buf.len() {
        let mut cursor = Cursor::new(&buf[pos..]);
        let (header, len) = FrameHeader::parse(&mut cursor)
            .expect("valid header")
            .expect("whole header");
        let start = pos + cursor.position() as usize;
        let len = len as usize;
        assert!(len <= TUNGSTENITE_MAX_FRAME, "frame too long");
        let end = start + len;
        assert!(end <= buf.len(), "whole frame");
        assert!(
            !(header.rsv1 || header.rsv2 || header.rsv3),
            "reserved bits"
        );
        let mask = header.mask.expect("masked frame");
        let payload = &mut buf[start..end];
        tungstenite_apply_mask(payload, mask);
        match black_box(header.opcode) {
            OpCode::Data(Data::Text) if header.is_final => {
                std::str::from_utf8(payload).expect("valid UTF-8");
            }
            OpCode::Data(Data::Binary) if header.is_final => {}
            other => panic!("unexpected frame {other:?}"),
        }
        payload_total += payload.len();
        black_box(&*payload);
        pos = end;
    }
    payload_total
}

/// An in-memory stream for `WebSocket`: reads the given bytes, discards writes.
struct Stream<'a>(&'a [u8]);

impl Read for Stream<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read(out)
    }
}

impl Write for Stream<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// tungstenite's `WebSocket::read`, once per frame. Returns the payload bytes seen.
fn tungstenite_websocket_decode(buf: &[u8], frames: usize) -> usize {
    let mut ws = WebSocket::from_raw_socket(Stream(buf), TRole::Server, None);
    let mut payload = 0;
    for _ in 0..frames {
        let len = match ws.read().expect("valid message") {
            Message::Binary(bytes) => black_box(bytes).len(),
            Message::Text(text) => black_box(text).len(),
            other => panic!("unexpected message {other:?}"),
        };
        payload += len;
    }
    payload
}

/// Each side must see the same frames and recover the same payloads.
fn sanity_check(input: &Input) {
    let mut work = input.wire.clone();
    assert_eq!(ws_protocols_decode(&mut work), input.payload.len());
    let ours = work.clone();
    work.copy_from_slice(&input.wire);
    assert_eq!(tungstenite_decode(&mut work), input.payload.len());
    assert_eq!(ours, work, "{}: both sides unmask the same", input.name);
    let mut payloads = Vec::new();
    let mut pos = 0;
    while pos < work.len() {
        let mut cursor = Cursor::new(&work[pos..]);
        let (_, len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
        let start = pos + cursor.position() as usize;
        payloads.extend_from_slice(&work[start..start + len as usize]);
        pos = start + len as usize;
    }
    assert_eq!(
        payloads, input.payload,
        "{}: payloads recovered",
        input.name
    );
    assert_eq!(
        tungstenite_websocket_decode(&input.wire, input.frames),
        input.payload.len()
    );
}

/// Time `decode` on a fresh copy of `wire` per iteration, the copy untimed.
fn bench_restoring(
    b: &mut criterion::Bencher<'_>,
    wire: &[u8],
    mut decode: impl FnMut(&mut [u8]) -> usize,
) {
    let mut work = wire.to_vec();
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            work.copy_from_slice(wire);
            let start = Instant::now();
            black_box(decode(black_box(&mut work)));
            total += start.elapsed();
        }
        total
    });
}

fn decode(c: &mut Criterion) {
    for input in inputs() {
        sanity_check(&input);
        let mut group = c.benchmark_group(input.name);
        group.throughput(Throughput::BytesDecimal(input.wire.len() as u64));
        eprintln!(
            "{}: {} frames, {} bytes on the wire",
            input.name,
            input.frames,
            input.wire.len()
        );
        group.bench_function("ws_protocols", |b| {
            bench_restoring(b, &input.wire, ws_protocols_decode)
        });
        group.bench_function("tungstenite", |b| {
            bench_restoring(b, &input.wire, tungstenite_decode)
        });
        group.bench_function("tungstenite_websocket", |b| {
            bench_restoring(b, &input.wire, |work| {
                tungstenite_websocket_decode(work, input.frames)
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // The machine is small and shared: short runs, repeated when noisy.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40);
    targets = decode
}
criterion_main!(benches);
