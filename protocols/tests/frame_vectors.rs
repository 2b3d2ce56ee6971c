//! Every framing vector of docs/protocols.md §8.2 (positive and negative), decoded in one piece
//! and one byte at a time.

mod support;

use support::{decode, decode_with, hex, text, Ev, Feeder};
use ws_protocols::{Dialect, Limits, MessageKind, ProtocolError, Role};

use Dialect::*;
use MessageKind::*;
use Role::*;

fn with_len(kind: MessageKind, payload: &[u8]) -> Vec<Ev> {
    let mut v = vec![Ev::Start(kind, Some(payload.len() as u64))];
    if !payload.is_empty() {
        v.push(Ev::Data(payload.to_vec()));
    }
    v.push(Ev::End);
    v
}

fn mask(key: [u8; 4], payload: &[u8]) -> Vec<u8> {
    payload
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ key[i % 4])
        .collect()
}

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

// ---- hixie-75 / hixie-76 ----

#[test]
fn f1_hixie_text_hello() {
    for d in [Hixie75, Hixie76] {
        for role in [Server, Client] {
            assert_eq!(
                decode(d, role, &hex("00 48 65 6c 6c 6f ff")).unwrap(),
                text("Hello")
            );
        }
    }
}

#[test]
fn f2_hixie76_close_and_hixie75_empty_frame() {
    let close = Ev::Close(None, String::new(), vec![]);
    assert_eq!(decode(Hixie76, Server, &hex("ff 00")).unwrap(), vec![close]);
    // hixie-75 has no closing handshake: FF 00 is an empty length-prefixed frame, discarded.
    assert_eq!(
        decode(Hixie75, Server, &hex("ff 00 00 41 ff")).unwrap(),
        text("A")
    );
}

#[test]
fn f3_length_prefixed_frames_binary_80_delivered_other_types_discarded() {
    let payload: Vec<u8> = (0..300).map(|i| i as u8).collect();
    let mut wire = hex("80 82 2c");
    wire.extend_from_slice(&payload);
    assert_eq!(
        decode(Hixie76, Server, &wire).unwrap(),
        with_len(Binary, &payload)
    );
    // Type 0x81 (and any other 0x81..0xFE) is read by its length and discarded.
    wire[0] = 0x81;
    wire.extend_from_slice(&hex("00 41 ff"));
    assert_eq!(decode(Hixie76, Server, &wire).unwrap(), text("A"));
}

#[test]
fn f4_hixie_text_euro_and_unknown_sentinel_type_skipped() {
    assert_eq!(
        decode(Hixie76, Server, &hex("00 e2 82 ac ff")).unwrap(),
        text("€")
    );
    // A sentinel frame of type 0x01 is skipped up to its FF.
    assert_eq!(
        decode(Hixie75, Server, &hex("01 41 42 ff 00 43 ff")).unwrap(),
        text("C")
    );
}

#[test]
fn hixie_data_after_close_is_ignored() {
    let events = decode(Hixie76, Server, &hex("ff 00 00 41 ff")).unwrap();
    assert_eq!(events, vec![Ev::Close(None, String::new(), vec![])]);
}

#[test]
fn hixie_text_must_be_utf8() {
    let err = decode(Hixie76, Server, &hex("00 41 ed a0 80 ff")).unwrap_err();
    assert_eq!((err, err.close_code()), (ProtocolError::InvalidUtf8, 1007));
    assert_eq!(
        decode(Hixie75, Server, &hex("00 41 e2 82 ff")).unwrap_err(),
        ProtocolError::IncompleteUtf8
    );
}

#[test]
fn hixie_limits_are_checked_before_payload() {
    let limits = Limits::default().max_frame(1000).max_message(10);
    // Text over max_message fails as soon as the 11th byte is seen, before any FF.
    let mut f = Feeder::new(Hixie76, Server, &limits);
    f.feed(&hex("00 41 41 41 41 41 41 41 41 41 41")).unwrap();
    assert_eq!(f.feed(b"A"), Err(ProtocolError::MessageTooLarge));
    // A length prefix over max_frame fails on the length byte itself.
    let limits = Limits::default().max_frame(300);
    assert_eq!(
        decode_with(Hixie76, Server, &limits, &hex("80 83 00")),
        Err(ProtocolError::FrameTooLarge)
    );
    // Ten base-128 digits of zeros are a hostile prefix.
    assert_eq!(
        decode(Hixie76, Server, &hex("81 80 80 80 80 80 80 80 80 80 00")),
        Err(ProtocolError::LengthOverflow)
    );
}

// ---- hybi-03 (MORE bit) ----

#[test]
fn f5_f6_hybi03_text_and_fragmented_text() {
    assert_eq!(
        decode(Hybi03, Server, &hex("04 05 48 65 6c 6c 6f")).unwrap(),
        with_len(Text, b"Hello")
    );
    let events = decode(Hybi03, Server, &hex("84 03 48 65 6c 00 02 6c 6f")).unwrap();
    assert_eq!(events, text("Hello"));
}

#[test]
fn hybi03_control_frames_binary_and_close() {
    assert_eq!(
        decode(Hybi03, Client, &hex("02 05 48 65 6c 6c 6f")).unwrap(),
        vec![Ev::Ping(b"Hello".to_vec())]
    );
    assert_eq!(
        decode(Hybi03, Client, &hex("03 05 48 65 6c 6c 6f")).unwrap(),
        vec![Ev::Pong(b"Hello".to_vec())]
    );
    let payload = vec![7u8; 256];
    let mut wire = hex("05 7e 01 00");
    wire.extend_from_slice(&payload);
    assert_eq!(
        decode(Hybi03, Server, &wire).unwrap(),
        with_len(Binary, &payload)
    );
    let payload = vec![9u8; 65536];
    let mut wire = hex("05 7f 00 00 00 00 00 01 00 00");
    wire.extend_from_slice(&payload);
    assert_eq!(
        decode(Hybi03, Server, &wire).unwrap(),
        with_len(Binary, &payload)
    );
    // Close bodies are opaque before hybi-06: reported raw, to be echoed.
    assert_eq!(
        decode(Hybi03, Server, &hex("01 00")).unwrap(),
        vec![Ev::Close(None, String::new(), vec![])]
    );
    assert_eq!(
        decode(Hybi03, Server, &hex("01 01 53")).unwrap(),
        vec![Ev::Close(None, String::new(), vec![0x53])]
    );
}

#[test]
fn hybi03_rejects_reserved_bits_and_opcodes() {
    assert_eq!(
        decode(Hybi03, Server, &hex("44 00")),
        Err(ProtocolError::ReservedBits)
    );
    assert_eq!(
        decode(Hybi03, Server, &hex("04 80")),
        Err(ProtocolError::ReservedBits)
    );
    assert_eq!(
        decode(Hybi03, Server, &hex("06 00")),
        Err(ProtocolError::ReservedOpcode(6))
    );
    assert_eq!(
        decode(Hybi03, Server, &hex("82 00")),
        Err(ProtocolError::FragmentedControlFrame)
    );
}

// ---- hybi-04 / hybi-05 / hybi-06 (more in tests/hybi04_06.rs) ----

#[test]
fn f7_hybi06_key_in_front_masks_the_header_too() {
    for d in [Hybi05, Hybi06] {
        let events = decode(d, Server, &hex("37 fa 21 3d b3 ff 69 58 5b 96 4e")).unwrap();
        assert_eq!(events, with_len(Text, b"Hello"), "{d}");
    }
    // hybi-04 (docs/protocols.md §4.3): the same frame behind the nonce 01 02 03 04, masked
    // with SHA-1(nonce ++ connection key); the tests' decoders hold §4.3's connection key.
    let events = decode(Hybi04, Server, &hex("01 02 03 04 1a 92 04 57 e8 74 fb")).unwrap();
    assert_eq!(events, with_len(Text, b"Hello"));
    // Server to client, nothing is masked.
    for d in [Hybi04, Hybi05, Hybi06] {
        let events = decode(d, Client, &hex("84 05 48 65 6c 6c 6f")).unwrap();
        assert_eq!(events, with_len(Text, b"Hello"), "{d}");
    }
}

// ---- RFC 6455 / hybi-07 / hybi-08 ----

#[test]
fn f8_unmasked_text_to_a_client() {
    assert_eq!(
        decode(Rfc6455, Client, &hex("81 05 48 65 6c 6c 6f")).unwrap(),
        with_len(Text, b"Hello")
    );
}

#[test]
fn f9_masked_text_to_a_server_every_hybi_version() {
    for d in [Hybi07, Hybi08, Rfc6455] {
        let events = decode(d, Server, &hex("81 85 37 fa 21 3d 7f 9f 4d 51 58")).unwrap();
        assert_eq!(events, with_len(Text, b"Hello"), "{d}");
    }
}

#[test]
fn f10_fragmented_text() {
    assert_eq!(
        decode(Rfc6455, Client, &hex("01 03 48 65 6c 80 02 6c 6f")).unwrap(),
        text("Hello")
    );
}

#[test]
fn f11_ping_and_masked_pong() {
    assert_eq!(
        decode(Rfc6455, Client, &hex("89 05 48 65 6c 6c 6f")).unwrap(),
        vec![Ev::Ping(b"Hello".to_vec())]
    );
    let events = decode(Rfc6455, Server, &hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58")).unwrap();
    assert_eq!(events, vec![Ev::Pong(b"Hello".to_vec())]);
}

#[test]
fn f12_f13_extended_lengths() {
    let payload: Vec<u8> = (0..256).map(|i| i as u8).collect();
    let mut wire = hex("82 7e 01 00");
    wire.extend_from_slice(&payload);
    assert_eq!(
        decode(Rfc6455, Client, &wire).unwrap(),
        with_len(Binary, &payload)
    );
    let payload: Vec<u8> = (0..65536).map(|i| (i * 7) as u8).collect();
    let mut wire = hex("82 7f 00 00 00 00 00 01 00 00");
    wire.extend_from_slice(&payload);
    assert_eq!(
        decode(Rfc6455, Client, &wire).unwrap(),
        with_len(Binary, &payload)
    );
}

#[test]
fn f14_f15_close_1000() {
    let close = vec![Ev::Close(Some(1000), String::new(), vec![0x03, 0xe8])];
    assert_eq!(decode(Rfc6455, Client, &hex("88 02 03 e8")).unwrap(), close);
    assert_eq!(
        decode(Rfc6455, Server, &hex("88 82 37 fa 21 3d 34 12")).unwrap(),
        close
    );
}

#[test]
fn f16_empty_text_and_empty_final_continuation() {
    assert_eq!(
        decode(Rfc6455, Client, &hex("81 00")).unwrap(),
        with_len(Text, b"")
    );
    assert_eq!(
        decode(Rfc6455, Client, &hex("01 00 80 00")).unwrap(),
        vec![Ev::Start(Text, None), Ev::End]
    );
}

#[test]
fn control_frames_interleave_inside_a_fragmented_message() {
    let events = decode(Rfc6455, Client, &hex("01 03 48 65 6c 89 01 21 80 02 6c 6f")).unwrap();
    assert_eq!(
        events,
        vec![
            Ev::Start(Text, None),
            Ev::Data(b"Hel".to_vec()),
            Ev::Ping(b"!".to_vec()),
            Ev::Data(b"lo".to_vec()),
            Ev::End,
        ]
    );
}

#[test]
fn close_with_reason() {
    let mut body = vec![0x03, 0xe9];
    body.extend_from_slice("bye ✓".as_bytes());
    let mut wire = vec![0x88, body.len() as u8];
    wire.extend_from_slice(&body);
    let events = decode(Rfc6455, Client, &wire).unwrap();
    assert_eq!(events, vec![Ev::Close(Some(1001), "bye ✓".into(), body)]);
}

/// A masked client frame for a server.
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut wire = vec![b0];
    match payload.len() {
        n if n < 126 => wire.push(0x80 | n as u8),
        n if n <= 0xffff => {
            wire.push(0x80 | 126);
            wire.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            wire.push(0x80 | 127);
            wire.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    wire.extend_from_slice(&KEY);
    wire.extend_from_slice(&mask(KEY, payload));
    wire
}

#[test]
fn negative_frames_from_protocols_md_8_2() {
    use ProtocolError::*;
    let cases: Vec<(Vec<u8>, ProtocolError, u16)> = vec![
        (hex("81 05 48 65 6c 6c 6f"), UnmaskedFrame, 1002),
        (client_frame(0xc1, b"Hello"), ReservedBits, 1002),
        (hex("83 80 00 00 00 00"), ReservedOpcode(3), 1002),
        (hex("8b 80 00 00 00 00"), ReservedOpcode(0xb), 1002),
        (hex("09 80 00 00 00 00"), FragmentedControlFrame, 1002),
        (client_frame(0x89, &[0; 126]), ControlFrameTooLong, 1002),
        (hex("80 80 00 00 00 00"), UnexpectedContinuation, 1002),
        (
            [hex("01 80 00 00 00 00"), hex("81 80 00 00 00 00")].concat(),
            MessageNotFinished,
            1002,
        ),
        (client_frame(0x88, &[0x03]), CloseBodyTooShort, 1002),
        (
            client_frame(0x88, &[0x03, 0xec]),
            InvalidCloseCode(1004),
            1002,
        ),
        (
            client_frame(0x88, &[0x03, 0xed]),
            InvalidCloseCode(1005),
            1002,
        ),
        (
            client_frame(0x88, &[0x03, 0xe8, 0xff]),
            InvalidCloseReason,
            1007,
        ),
        (client_frame(0x81, b"\xed\xa0\x80"), InvalidUtf8, 1007),
        (client_frame(0x81, b"ab\xe2\x82"), IncompleteUtf8, 1007),
        (
            hex("82 ff 80 00 00 00 00 00 00 00 00 00 00 00"),
            LengthTopBit,
            1002,
        ),
    ];
    for (wire, expected, code) in cases {
        let err = decode(Rfc6455, Server, &wire).unwrap_err();
        assert_eq!(err, expected, "{wire:02x?}");
        assert_eq!(err.close_code(), code, "{expected:?}");
    }
}

#[test]
fn non_minimal_length_is_an_error_in_13_only() {
    let mut wire = hex("81 fe 00 7c");
    wire.extend_from_slice(&KEY);
    wire.extend_from_slice(&mask(KEY, &[b'a'; 124]));
    assert_eq!(
        decode(Rfc6455, Server, &wire),
        Err(ProtocolError::NonMinimalLength)
    );
    assert_eq!(
        decode(Hybi08, Server, &wire).unwrap(),
        with_len(Text, &[b'a'; 124])
    );
}

#[test]
fn close_1004_is_legal_from_hybi_07_peers_only() {
    let wire = client_frame(0x88, &[0x03, 0xec]);
    let events = decode(Hybi07, Server, &wire).unwrap();
    assert_eq!(
        events,
        vec![Ev::Close(Some(1004), String::new(), vec![0x03, 0xec])]
    );
    // Autobahn 7.9.3 in hybi-10 mode (version 8) expects a protocol error.
    assert_eq!(
        decode(Hybi08, Server, &wire),
        Err(ProtocolError::InvalidCloseCode(1004))
    );
}

#[test]
fn a_client_rejects_masked_frames() {
    let wire = client_frame(0x81, b"Hello");
    assert_eq!(
        decode(Rfc6455, Client, &wire),
        Err(ProtocolError::MaskedFrame)
    );
}

#[test]
fn invalid_utf8_fails_on_the_fragment_that_holds_it_autobahn_6_4() {
    // κόσμε | f4 90 80 80 | edited, each fragment a frame; must fail on fragment 2.
    let wire = [
        client_frame(0x01, &hex("ce ba e1 bd b9 cf 83 ce bc ce b5")),
        client_frame(0x00, &hex("f4 90 80 80")),
        client_frame(0x80, b"edited"),
    ];
    let mut f = Feeder::new(Rfc6455, Server, &Limits::default());
    f.feed(&wire[0]).unwrap();
    // Header of fragment 2 and the first payload byte (f4, a valid lead byte) are fine ...
    f.feed(&wire[1][..7]).unwrap();
    // ... the next byte (90) makes U+110000: rejected at once.
    assert_eq!(f.feed(&wire[1][7..8]), Err(ProtocolError::InvalidUtf8));
    // Only a valid prefix was emitted: fragment 1 and the lead byte f4; never the 90.
    let data: Vec<u8> = f
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Data(d) => Some(d.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(data, hex("ce ba e1 bd b9 cf 83 ce bc ce b5 f4"));
}

#[test]
fn errors_are_sticky() {
    let mut f = Feeder::new(Rfc6455, Server, &Limits::default());
    assert_eq!(f.feed(&hex("81 05")), Err(ProtocolError::UnmaskedFrame));
    assert_eq!(
        f.feed(&client_frame(0x81, b"ok")),
        Err(ProtocolError::UnmaskedFrame)
    );
}

#[test]
fn frame_and_message_limits_fail_on_the_header_before_any_payload() {
    let limits = Limits::default().max_frame(100).max_message(150);
    let mut f = Feeder::new(Rfc6455, Server, &limits);
    // Only the header of a 101-byte frame: rejected without waiting for its payload.
    assert_eq!(
        f.feed(&client_frame(0x82, &[0; 101])[..8]),
        Err(ProtocolError::FrameTooLarge)
    );
    let mut f = Feeder::new(Rfc6455, Server, &limits);
    f.feed(&client_frame(0x02, &[0; 100])).unwrap();
    assert_eq!(
        f.feed(&client_frame(0x80, &[0; 51])[..8]),
        Err(ProtocolError::MessageTooLarge)
    );
    // A declared length near 2^63 is refused, not allocated.
    let huge = hex("82 ff 7f ff ff ff ff ff ff ff 00 00 00 00");
    assert_eq!(
        decode(Rfc6455, Server, &huge),
        Err(ProtocolError::FrameTooLarge)
    );
}

#[test]
fn payload_streams_out_before_the_frame_is_complete() {
    let wire = client_frame(0x82, &[0xab; 1000]);
    let mut f = Feeder::new(Rfc6455, Server, &Limits::default());
    // 2 header bytes, a 16-bit length, a 4-byte key, then the first 10 payload bytes.
    f.feed(&wire[..8 + 10]).unwrap();
    assert_eq!(
        f.events,
        vec![Ev::Start(Binary, Some(1000)), Ev::Data(vec![0xab; 10])]
    );
    assert_eq!(f.pending(), 0, "payload bytes are consumed as they arrive");
}

#[test]
fn nothing_after_a_close_frame_is_decoded() {
    let wire = [hex("88 82 37 fa 21 3d 34 12"), client_frame(0x81, b"late")].concat();
    let events = decode(Rfc6455, Server, &wire).unwrap();
    assert_eq!(events.len(), 1);
}
