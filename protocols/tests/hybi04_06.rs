//! hybi-04, hybi-05 and hybi-06 (docs/protocols.md §3.3, §4.3, §4.4): client frames behind a
//! 4-byte key or nonce that masks the whole frame, header included; server frames in the
//! clear; close bodies opaque until hybi-06. Byte-exact frames, the decoder under every split
//! of the input, and whole client ⇄ server exchanges starting from the opening handshake.

mod support;

use sha1::{Digest, Sha1};
use support::{decode, hex, Ev, Feeder, TEST_KEY};
use ws_protocols::frame::{ConnectionKey, Control};
use ws_protocols::handshake::{accept, client_request, Accept, ClientConfig, Status};
use ws_protocols::{
    Decode, Decoder, Dialect, EncodeError, Encoder, Limits, MessageKind, ProtocolError, Role,
};

use Dialect::*;
use MessageKind::*;
use Role::*;

const DRAFTS: [Dialect; 3] = [Hybi04, Hybi05, Hybi06];

/// The mask a client of `dialect` put on a frame that starts with `front` (docs §4.3, §4.4).
fn frame_key(dialect: Dialect, front: [u8; 4], key: &ConnectionKey) -> Vec<u8> {
    match dialect {
        Hybi04 => {
            let mut sha = Sha1::new();
            sha.update(front);
            sha.update(key.0);
            sha.finalize().to_vec()
        }
        _ => front.to_vec(),
    }
}

/// Undo a client's masking by the definition: the 4 bytes in front, then every byte of the
/// frame from its first header byte XOR the key at `i mod len`.
fn unmask_frame(dialect: Dialect, wire: &[u8], key: &ConnectionKey) -> Vec<u8> {
    let front: [u8; 4] = wire[..4].try_into().unwrap();
    let mask = frame_key(dialect, front, key);
    wire[4..]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % mask.len()])
        .collect()
}

/// Mask `frame` as a client of `dialect` would behind `front`.
fn mask_frame(dialect: Dialect, front: [u8; 4], frame: &[u8], key: &ConnectionKey) -> Vec<u8> {
    let mask = frame_key(dialect, front, key);
    let mut wire = front.to_vec();
    wire.extend(
        frame
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % mask.len()]),
    );
    wire
}

fn client(dialect: Dialect) -> Encoder {
    Encoder::client_with_connection_key(dialect, [7; 16], Some(TEST_KEY))
}

fn whole(enc: &mut Encoder, kind: MessageKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    enc.message(kind, payload, &mut out).unwrap();
    out
}

fn message(kind: MessageKind, payload: &[u8]) -> Vec<Ev> {
    let mut v = vec![Ev::Start(kind, Some(payload.len() as u64))];
    if !payload.is_empty() {
        v.push(Ev::Data(payload.to_vec()));
    }
    v.push(Ev::End);
    v
}

// ---- what goes on the wire ----

#[test]
fn client_frames_are_the_plain_frame_masked_from_the_first_header_byte() {
    for d in DRAFTS {
        let mut enc = client(d);
        // "Hello", 300 bytes (16-bit length) and 70000 bytes (64-bit length): the mask
        // covers the extended length too.
        for (kind, payload, header) in [
            (Text, b"Hello".to_vec(), hex("84 05")),
            (Binary, vec![0x5a; 300], hex("85 7e 01 2c")),
            (
                Binary,
                vec![0xa5; 70000],
                hex("85 7f 00 00 00 00 00 01 11 70"),
            ),
        ] {
            let wire = whole(&mut enc, kind, &payload);
            assert_eq!(wire.len(), 4 + header.len() + payload.len(), "{d}");
            let plain = unmask_frame(d, &wire, &TEST_KEY);
            assert_eq!(plain, [header.as_slice(), &payload].concat(), "{d}");
        }
        // A fresh key or nonce for every frame.
        let a = whole(&mut enc, Text, b"x");
        let b = whole(&mut enc, Text, b"x");
        assert_ne!(a[..4], b[..4], "{d}");
    }
}

#[test]
fn f7_byte_exact_when_the_key_is_known() {
    // docs/protocols.md §8.2 F7 and §4.3's hybi-04 frame, built by the definition and
    // decoded by the server.
    let hello = hex("84 05 48 65 6c 6c 6f");
    let f7 = mask_frame(Hybi06, [0x37, 0xfa, 0x21, 0x3d], &hello, &TEST_KEY);
    assert_eq!(f7, hex("37 fa 21 3d b3 ff 69 58 5b 96 4e"));
    let f04 = mask_frame(Hybi04, [1, 2, 3, 4], &hello, &TEST_KEY);
    assert_eq!(f04, hex("01 02 03 04 1a 92 04 57 e8 74 fb"));
    assert_eq!(
        decode(Hybi04, Server, &f04).unwrap(),
        message(Text, b"Hello")
    );
}

#[test]
fn server_frames_are_not_masked() {
    for d in DRAFTS {
        let mut enc = Encoder::server(d);
        assert!(!enc.masks());
        assert_eq!(whole(&mut enc, Text, b"Hello"), hex("84 05 48 65 6c 6c 6f"));
        let mut out = Vec::new();
        enc.control(Control::Ping, b"hi", &mut out).unwrap();
        assert_eq!(out, hex("82 02 68 69"));
    }
}

#[test]
fn fragments_use_fin_not_more() {
    for d in DRAFTS {
        let mut enc = Encoder::server(d);
        let mut out = enc.begin(Text, None).unwrap().to_vec();
        out.extend_from_slice(&enc.chunk(3).unwrap());
        out.extend_from_slice(b"Hel");
        out.extend_from_slice(&enc.chunk(2).unwrap());
        out.extend_from_slice(b"lo");
        out.extend_from_slice(&enc.end().unwrap());
        assert_eq!(out, hex("04 03 48 65 6c 00 02 6c 6f 80 00"), "{d}");
        let events = decode(d, Client, &out).unwrap();
        assert_eq!(
            events,
            vec![Ev::Start(Text, None), Ev::Data(b"Hello".to_vec()), Ev::End]
        );
    }
}

#[test]
fn close_bodies_are_opaque_before_hybi06_and_carry_a_code_from_it() {
    // hybi-04/05: whatever the body, it is handed over whole to be echoed (em-websocket's
    // hybi-05 sends the single byte 0x53).
    for d in [Hybi04, Hybi05] {
        let close = mask_frame(d, [9, 8, 7, 6], &hex("81 01 53"), &TEST_KEY);
        assert_eq!(
            decode(d, Server, &close).unwrap(),
            vec![Ev::Close(None, String::new(), vec![0x53])],
            "{d}"
        );
        let mut out = Vec::new();
        Encoder::server(d)
            .close(Some(1000), "bye", &mut out)
            .unwrap();
        assert_eq!(out, hex("81 00"), "{d}: no code to send");
    }
    // hybi-06: a 2-byte code and a UTF-8 reason; 1004 ("frame too large") is still legal.
    let close = mask_frame(
        Hybi06,
        [9, 8, 7, 6],
        &hex("81 05 03 ec 62 69 67"),
        &TEST_KEY,
    );
    assert_eq!(
        decode(Hybi06, Server, &close).unwrap(),
        vec![Ev::Close(Some(1004), "big".into(), hex("03 ec 62 69 67"))]
    );
    let mut out = Vec::new();
    Encoder::server(Hybi06)
        .close(Some(1000), "bye", &mut out)
        .unwrap();
    assert_eq!(out, hex("81 05 03 e8 62 79 65"));
    let one_byte = mask_frame(Hybi06, [1, 1, 1, 1], &hex("81 01 03"), &TEST_KEY);
    assert_eq!(
        decode(Hybi06, Server, &one_byte),
        Err(ProtocolError::CloseBodyTooShort)
    );
}

#[test]
fn bad_frames_fail_even_behind_the_mask() {
    for d in DRAFTS {
        for (frame, error) in [
            // R1 and R4 are reserved.
            (hex("c4 00"), ProtocolError::ReservedBits),
            (hex("84 80"), ProtocolError::ReservedBits),
            // Opcodes 6 to 15 are reserved; 8 is a close only from hybi-07.
            (hex("86 00"), ProtocolError::ReservedOpcode(6)),
            (hex("88 00"), ProtocolError::ReservedOpcode(8)),
            // A ping without FIN, a ping of 126 bytes.
            (hex("02 00"), ProtocolError::FragmentedControlFrame),
            (
                [hex("82 7e 00 7e"), vec![0; 126]].concat(),
                ProtocolError::ControlFrameTooLong,
            ),
            // A continuation with no message open; a new message inside one.
            (hex("80 00"), ProtocolError::UnexpectedContinuation),
        ] {
            let wire = mask_frame(d, [0x10, 0x20, 0x30, 0x40], &frame, &TEST_KEY);
            assert_eq!(decode(d, Server, &wire), Err(error), "{d} {frame:02x?}");
        }
        let open = mask_frame(d, [1, 2, 3, 4], &hex("04 01 61"), &TEST_KEY);
        let again = mask_frame(d, [5, 6, 7, 8], &hex("84 01 62"), &TEST_KEY);
        assert_eq!(
            decode(d, Server, &[open, again].concat()),
            Err(ProtocolError::MessageNotFinished),
            "{d}"
        );
        // From the server, R4 (the bit that became MASK in hybi-07) is reserved too.
        assert_eq!(
            decode(d, Client, &hex("84 85 00 00 00 00 48 65 6c 6c 6f")),
            Err(ProtocolError::ReservedBits),
            "{d}"
        );
    }
}

#[test]
fn a_hybi04_frame_under_another_connection_key_does_not_decode_as_sent() {
    let other = ConnectionKey([0x77; 20]);
    let wire = mask_frame(Hybi04, [1, 2, 3, 4], &hex("84 05 48 65 6c 6c 6f"), &other);
    assert_ne!(
        decode(Hybi04, Server, &wire).ok(),
        Some(message(Text, b"Hello"))
    );
}

#[test]
fn without_its_connection_key_hybi04_refuses_rather_than_guess() {
    let mut decoder = Decoder::new(Hybi04, Server, &Limits::default());
    let mut wire = hex("01 02 03 04 1a 92 04 57 e8 74 fb");
    assert_eq!(
        decoder.decode(&mut wire).map(|(n, _)| n),
        Err(ProtocolError::MissingConnectionKey)
    );
    assert_eq!(ProtocolError::MissingConnectionKey.close_code(), 1011);
    // Fewer than 6 bytes: nothing to decide yet.
    let mut decoder = Decoder::new(Hybi04, Server, &Limits::default());
    assert_eq!(decoder.decode(&mut [1, 2, 3]).map(|(n, _)| n), Ok(0));

    let mut enc = Encoder::client(Hybi04, [1; 16]);
    assert!(matches!(
        enc.begin(Text, Some(1)),
        Err(EncodeError::Unsupported(_))
    ));
    assert!(matches!(
        enc.control(Control::Ping, b"", &mut Vec::new()),
        Err(EncodeError::Unsupported(_))
    ));
    // The client's decoder and the server's encoder need no key.
    assert_eq!(
        decode(Hybi04, Client, &hex("84 01 61")).unwrap(),
        message(Text, b"a")
    );
}

// ---- the decoder under every split ----

/// A client stream in `dialect`: a fragmented text with a ping between its fragments, a
/// 300-byte binary (16-bit length), a pong, an empty text and a close.
fn client_stream(d: Dialect) -> (Vec<u8>, Vec<Ev>) {
    let mut enc = client(d);
    let mut wire = enc.begin(Text, None).unwrap().to_vec();
    for piece in [&b"caf"[..], "\u{e9} au lait".as_bytes()] {
        wire.extend_from_slice(&enc.chunk(piece.len()).unwrap());
        let at = wire.len();
        wire.extend_from_slice(piece);
        enc.mask_payload(&mut wire[at..]);
        if piece == b"caf" {
            enc.control(Control::Ping, b"are you there", &mut wire)
                .unwrap();
        }
    }
    wire.extend_from_slice(&enc.end().unwrap());
    let binary: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    // Payload masked in two pieces: the rotation continues across calls.
    let head = enc.begin(Binary, Some(300)).unwrap();
    wire.extend_from_slice(&head);
    for piece in binary.chunks(123) {
        wire.extend_from_slice(&enc.chunk(piece.len()).unwrap());
        let at = wire.len();
        wire.extend_from_slice(piece);
        enc.mask_payload(&mut wire[at..]);
    }
    wire.extend_from_slice(&enc.end().unwrap());
    enc.control(Control::Pong, b"yes", &mut wire).unwrap();
    enc.message(Text, b"", &mut wire).unwrap();
    enc.close(Some(1000), "done", &mut wire).unwrap();

    let close = if d == Hybi06 {
        Ev::Close(Some(1000), "done".into(), hex("03 e8 64 6f 6e 65"))
    } else {
        Ev::Close(None, String::new(), vec![])
    };
    let mut expected = vec![
        Ev::Start(Text, None),
        Ev::Data(b"caf".to_vec()),
        Ev::Ping(b"are you there".to_vec()),
        Ev::Data("\u{e9} au lait".as_bytes().to_vec()),
        Ev::End,
    ];
    expected.extend(message(Binary, &binary));
    expected.push(Ev::Pong(b"yes".to_vec()));
    expected.extend(message(Text, b""));
    expected.push(close);
    (wire, expected)
}

#[test]
fn every_one_and_two_point_split_gives_the_same_events() {
    for d in DRAFTS {
        let (wire, expected) = client_stream(d);
        assert_eq!(decode(d, Server, &wire).unwrap(), expected, "{d}");
        let limits = Limits::default();
        for i in 0..=wire.len() {
            let mut f = Feeder::new(d, Server, &limits);
            f.feed(&wire[..i]).unwrap();
            f.feed(&wire[i..]).unwrap();
            assert_eq!(f.events, expected, "{d}: split at {i}");
            assert_eq!(f.pending(), 0);
        }
        // Two cuts, a few bytes apart, around every header.
        for i in (0..wire.len()).step_by(3) {
            for j in [i + 1, i + 2, i + 5, i + 11] {
                let j = j.min(wire.len());
                let mut f = Feeder::new(d, Server, &limits);
                for piece in [&wire[..i], &wire[i..j], &wire[j..]] {
                    f.feed(piece).unwrap();
                }
                assert_eq!(f.events, expected, "{d}: cut at {i} and {j}");
            }
        }
    }
}

#[test]
fn payload_is_never_held_back_and_only_a_header_or_control_frame_is_kept() {
    for d in DRAFTS {
        let payload = vec![0x42; 1000];
        let wire = whole(&mut client(d), Binary, &payload);
        // 4 bytes in front, 2 of header, 2 of 16-bit length: 8 before the payload.
        let mut f = Feeder::new(d, Server, &Limits::default());
        f.feed(&wire[..7]).unwrap();
        assert!(f.events.is_empty());
        assert_eq!(
            f.pending(),
            7,
            "{d}: an incomplete header is kept as it came"
        );
        f.feed(&wire[7..8 + 10]).unwrap();
        assert_eq!(
            f.events,
            vec![Ev::Start(Binary, Some(1000)), Ev::Data(vec![0x42; 10])],
            "{d}"
        );
        assert_eq!(
            f.pending(),
            0,
            "{d}: payload bytes are consumed as they arrive"
        );
        f.feed(&wire[18..]).unwrap();
        assert_eq!(f.events, message(Binary, &payload), "{d}");

        // A control frame is kept until it is whole.
        let mut ping = Vec::new();
        client(d)
            .control(Control::Ping, &[1; 125], &mut ping)
            .unwrap();
        let mut f = Feeder::new(d, Server, &Limits::default());
        f.feed(&ping[..ping.len() - 1]).unwrap();
        assert!(f.events.is_empty());
        assert_eq!(f.pending(), ping.len() - 1);
        assert!(f.pending() <= 139, "the decoder contract's bound");
        f.feed(&ping[ping.len() - 1..]).unwrap();
        assert_eq!(f.events, vec![Ev::Ping(vec![1; 125])]);
    }
}

#[test]
fn limits_are_checked_on_the_unmasked_header() {
    for d in DRAFTS {
        let limits = Limits::default().max_frame(100);
        let wire = whole(&mut client(d), Binary, &[0; 101]);
        let mut f = Feeder::new(d, Server, &limits);
        // The header alone (4 + 2 bytes) is enough to refuse.
        assert_eq!(f.feed(&wire[..6]), Err(ProtocolError::FrameTooLarge), "{d}");
    }
}

// ---- client ⇄ server, from the opening handshake ----

#[test]
fn handshake_then_messages_both_ways() {
    for d in DRAFTS {
        let mut random = {
            let mut n = 0u8;
            move |buf: &mut [u8]| {
                for b in buf {
                    n = n.wrapping_mul(13).wrapping_add(101);
                    *b = n;
                }
            }
        };
        let cfg = ClientConfig {
            origin: Some("http://example.com"),
            subprotocols: &["chat"],
            ..ClientConfig::new(d, "example.com", "/echo")
        };
        let mut request = Vec::new();
        let handshake = client_request(&cfg, &mut random, &mut request);
        let text = String::from_utf8(request.clone()).unwrap();
        assert!(text.contains(&format!(
            "\r\nSec-WebSocket-Version: {}\r\n",
            d.caps().version.unwrap()
        )));
        assert!(text.contains("\r\nSec-WebSocket-Origin: http://example.com\r\n"));

        let mut nonce = [0u8; 16];
        random(&mut nonce);
        let Ok(Status::Complete(accepted)) = accept(&request, &Limits::default(), |_| Accept {
            subprotocol: Some("chat"),
            nonce: Some(nonce),
            ..Accept::default()
        }) else {
            panic!("{d}: our own request was refused");
        };
        assert_eq!(accepted.request.dialect(), d);
        let Ok(Status::Complete(response)) = handshake.read_response(&accepted.response) else {
            panic!("{d}: our own answer was refused");
        };
        assert_eq!(response.subprotocol.as_deref(), Some("chat"));
        assert_eq!(response.connection_key, accepted.connection_key, "{d}");
        assert_eq!(response.connection_key.is_some(), d == Hybi04, "{d}");

        // Client to server, with the keys each side got from its handshake.
        let mut enc = Encoder::client_with_connection_key(d, [3; 16], response.connection_key);
        let mut up = Vec::new();
        enc.message(Text, "héllo".as_bytes(), &mut up).unwrap();
        enc.message(Binary, &[0, 1, 2, 255], &mut up).unwrap();
        enc.control(Control::Ping, b"p", &mut up).unwrap();
        enc.close(Some(1000), "", &mut up).unwrap();
        let limits = Limits::default();
        let mut server = Decoder::with_connection_key(d, Server, &limits, accepted.connection_key);
        let mut got = Vec::new();
        server
            .decode_each(&mut up, |e| got.push(format!("{e:?}")))
            .unwrap();
        assert!(server.is_closed(), "{d}");
        assert_eq!(got.len(), 8, "{d}: {got:?}");

        // Server to client.
        let mut enc = Encoder::server(d);
        let mut down = Vec::new();
        enc.message(Text, b"pong", &mut down).unwrap();
        enc.control(Control::Pong, b"p", &mut down).unwrap();
        let mut client = Decoder::with_connection_key(d, Client, &limits, response.connection_key);
        let mut got = Vec::new();
        client
            .decode_each(&mut down, |e| got.push(format!("{e:?}")))
            .unwrap();
        assert_eq!(got.len(), 4, "{d}: {got:?}");
    }
}
