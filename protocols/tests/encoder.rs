//! The encoder, per dialect and role: exact bytes, and what each dialect cannot carry.

mod support;

use support::{decode, hex, Ev};
use ws_protocols::frame::Control;
use ws_protocols::{Dialect, EncodeError, Encoder, MessageKind, Role};

use Dialect::*;
use MessageKind::*;

/// Stream `pieces` as one message of unknown length.
fn streamed(enc: &mut Encoder, kind: MessageKind, pieces: &[&[u8]]) -> Vec<u8> {
    let mut out = enc.begin(kind, None).unwrap().to_vec();
    for piece in pieces {
        out.extend_from_slice(&enc.chunk(piece.len()).unwrap());
        let start = out.len();
        out.extend_from_slice(piece);
        enc.mask_payload(&mut out[start..]);
    }
    out.extend_from_slice(&enc.end().unwrap());
    out
}

#[test]
fn unknown_length_messages_per_family() {
    let pieces: &[&[u8]] = &[b"Hel", b"lo"];
    assert_eq!(
        streamed(&mut Encoder::server(Rfc6455), Text, pieces),
        hex("01 03 48 65 6c 00 02 6c 6f 80 00")
    );
    // MORE bit: set on every fragment but the last.
    assert_eq!(
        streamed(&mut Encoder::server(Hybi03), Text, pieces),
        hex("84 03 48 65 6c 80 02 6c 6f 00 00")
    );
    assert_eq!(
        streamed(&mut Encoder::server(Hixie76), Text, pieces),
        hex("00 48 65 6c 6c 6f ff")
    );
    // An empty streamed message is one empty final frame with the data opcode.
    assert_eq!(
        streamed(&mut Encoder::server(Rfc6455), Binary, &[]),
        hex("82 00")
    );
}

#[test]
fn known_length_messages_per_family() {
    let mut out = Vec::new();
    Encoder::server(Rfc6455)
        .message(Binary, &[1, 2, 3], &mut out)
        .unwrap();
    assert_eq!(out, hex("82 03 01 02 03"));
    out.clear();
    Encoder::server(Hybi03)
        .message(Text, b"Hello", &mut out)
        .unwrap();
    assert_eq!(out, hex("04 05 48 65 6c 6c 6f"));
    out.clear();
    Encoder::server(Hixie76)
        .message(Binary, &[0xaa; 300], &mut out)
        .unwrap();
    assert_eq!(&out[..3], hex("80 82 2c"));
    assert_eq!(out.len(), 303);
    out.clear();
    let payload = vec![0u8; 65536];
    Encoder::server(Rfc6455)
        .message(Binary, &payload, &mut out)
        .unwrap();
    assert_eq!(&out[..10], hex("82 7f 00 00 00 00 00 01 00 00"));
    out.clear();
    Encoder::server(Rfc6455)
        .message(Binary, &[0; 126], &mut out)
        .unwrap();
    assert_eq!(&out[..4], hex("82 7e 00 7e"));
}

#[test]
fn client_frames_are_masked_with_a_fresh_key_each_and_decode_on_a_server() {
    for d in [Hybi07, Hybi08, Rfc6455] {
        let mut enc = Encoder::client(d, [7; 16]);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        enc.message(Text, b"Hello", &mut a).unwrap();
        enc.message(Text, b"Hello", &mut b).unwrap();
        assert_eq!(a[1], 0x85, "mask bit set");
        assert_ne!(a[2..6], b[2..6], "keys differ between frames");
        assert_ne!(&a[6..], b"Hello", "payload is masked");
        let expected = vec![
            Ev::Start(Text, Some(5)),
            Ev::Data(b"Hello".to_vec()),
            Ev::End,
        ];
        assert_eq!(decode(d, Role::Server, &a).unwrap(), expected);
        assert_eq!(decode(d, Role::Server, &b).unwrap(), expected);
    }
    // Clients of older dialects do not mask.
    let mut out = Vec::new();
    Encoder::client(Hybi03, [7; 16])
        .message(Text, b"Hello", &mut out)
        .unwrap();
    assert_eq!(out, hex("04 05 48 65 6c 6c 6f"));
}

#[test]
fn masked_streamed_message_with_an_interleaved_ping_decodes() {
    let mut enc = Encoder::client(Rfc6455, [1; 16]);
    let mut out = enc.begin(Text, None).unwrap().to_vec();
    for (i, piece) in [&b"Hel"[..], b"lo"].iter().enumerate() {
        out.extend_from_slice(&enc.chunk(piece.len()).unwrap());
        let start = out.len();
        out.extend_from_slice(piece);
        enc.mask_payload(&mut out[start..]);
        if i == 0 {
            enc.control(Control::Ping, b"!", &mut out).unwrap();
        }
    }
    out.extend_from_slice(&enc.end().unwrap());
    let events = decode(Rfc6455, Role::Server, &out).unwrap();
    assert_eq!(
        events,
        vec![
            Ev::Start(Text, None),
            Ev::Data(b"Hel".to_vec()),
            Ev::Ping(b"!".to_vec()),
            Ev::Data(b"lo".to_vec()),
            Ev::End
        ]
    );
}

#[test]
fn close_frames_per_dialect() {
    let close = |d: Dialect, code: Option<u16>, reason: &str| {
        let mut out = Vec::new();
        Encoder::server(d)
            .close(code, reason, &mut out)
            .map(|_| out)
    };
    assert_eq!(close(Rfc6455, Some(1000), "").unwrap(), hex("88 02 03 e8"));
    assert_eq!(close(Rfc6455, None, "").unwrap(), hex("88 00"));
    assert_eq!(
        close(Hybi08, Some(1001), "bye").unwrap(),
        hex("88 05 03 e9 62 79 65")
    );
    assert_eq!(close(Hybi03, Some(1000), "ignored").unwrap(), hex("01 00"));
    assert_eq!(close(Hixie76, Some(1000), "").unwrap(), hex("ff 00"));
    assert_eq!(
        close(Hixie75, None, ""),
        Err(EncodeError::Unsupported("a close frame"))
    );
    for bad in [1004, 1005, 1006, 1015, 999, 2000, 5000] {
        assert_eq!(
            close(Rfc6455, Some(bad), ""),
            Err(EncodeError::InvalidCloseCode(bad))
        );
    }
    assert_eq!(
        close(Rfc6455, Some(1000), &"x".repeat(124)),
        Err(EncodeError::ControlTooLong)
    );
    assert!(close(Rfc6455, Some(1000), &"x".repeat(123)).is_ok());
    assert_eq!(
        close(Rfc6455, None, "reason without code"),
        Err(EncodeError::InvalidCloseCode(1005))
    );
}

#[test]
fn what_hixie_cannot_carry_is_refused_not_dropped() {
    let mut out = Vec::new();
    for d in [Hixie75, Hixie76] {
        let mut enc = Encoder::server(d);
        assert_eq!(
            enc.begin(Binary, None),
            Err(EncodeError::Unsupported("binary of unknown length"))
        );
        assert_eq!(
            enc.control(Control::Ping, b"", &mut out),
            Err(EncodeError::Unsupported("ping or pong"))
        );
    }
    // hixie-76's close cannot interrupt an open text frame: FF would end the frame early.
    let mut enc = Encoder::server(Hixie76);
    enc.begin(Text, None).unwrap();
    assert_eq!(
        enc.close(None, "", &mut out),
        Err(EncodeError::MessageInProgress)
    );
    assert!(out.is_empty());
}

#[test]
fn encoder_state_errors() {
    let mut out = Vec::new();
    let mut enc = Encoder::server(Rfc6455);
    assert_eq!(enc.end(), Err(EncodeError::NoMessage));
    assert_eq!(enc.chunk(1), Err(EncodeError::NoMessage));
    enc.begin(Binary, Some(3)).unwrap();
    assert!(enc.in_message());
    assert_eq!(enc.begin(Binary, None), Err(EncodeError::MessageInProgress));
    enc.chunk(2).unwrap();
    assert_eq!(enc.chunk(2), Err(EncodeError::LengthMismatch));
    assert_eq!(enc.end(), Err(EncodeError::LengthMismatch));
    enc.chunk(1).unwrap();
    assert!(enc.end().is_ok());
    assert_eq!(
        enc.control(Control::Ping, &[0; 126], &mut out),
        Err(EncodeError::ControlTooLong)
    );
}

#[test]
fn no_control_frame_inside_a_frame_of_declared_length() {
    for dialect in [Dialect::Hybi03, Dialect::Hybi07, Dialect::Rfc6455] {
        let mut enc = Encoder::server(dialect);
        let mut out = Vec::new();
        enc.begin(MessageKind::Binary, Some(10)).unwrap();
        assert!(enc.mid_frame());
        enc.chunk(4).unwrap();
        assert_eq!(
            enc.control(Control::Pong, b"x", &mut out),
            Err(EncodeError::InsideFrame),
            "{dialect}"
        );
        assert_eq!(
            enc.close(Some(1000), "", &mut out),
            Err(EncodeError::InsideFrame)
        );
        assert!(out.is_empty(), "nothing written");
        enc.chunk(6).unwrap();
        assert!(!enc.mid_frame(), "the frame's bytes are all announced");
        assert!(enc.control(Control::Pong, b"x", &mut out).is_ok());
        enc.end().unwrap();
        // Between the fragments of an unknown-length message, controls are fine.
        enc.begin(MessageKind::Text, None).unwrap();
        enc.chunk(3).unwrap();
        assert!(!enc.mid_frame());
        assert!(enc.control(Control::Ping, b"", &mut out).is_ok());
    }
}
