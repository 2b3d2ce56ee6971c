//! Arbitrary and mutated input never panics either side.

use super::support::*;
use proptest::prelude::*;
use ws_protocols::handshake::{accept, read_request, Accept, ClientHandshakeError, Status};
use ws_protocols::{Dialect, Limits};

// ===== garbage never panics =====

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let limits = Limits::default().max_head_bytes(512).max_headers(8);
        let _ = read_request(&bytes, &limits);
        let _ = accept(&bytes, &limits, |r| Accept {
            subprotocol: r.subprotocols().first().map(|_| "x"),
            ..Accept::default()
        });
        for dialect in Dialect::ALL {
            let (hs, _) = client(&config(dialect), 9);
            let _ = hs.read_response(&bytes);
        }
    }

    /// Valid handshakes with bytes mutated: any outcome but a panic, and a refusal's answer
    /// is always well-formed HTTP.
    #[test]
    fn mutated_handshakes_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut input = [
            V1_REQUEST.to_vec(),
            cat(&[V2_HEAD, V2_KEY3]),
            V3_REQUEST.to_vec(),
            V5_REQUEST.to_vec(),
        ][which].clone();
        for (at, byte) in edits {
            let i = at.index(input.len());
            input[i] = byte;
        }
        let limits = Limits::default();
        match accept(&input, &limits, |_| Accept::default()) {
            Err(err) => check_refusal_bytes(err),
            Ok(Status::Complete(done)) => {
                prop_assert!(done.consumed <= input.len());
                // The same answer whichever prefix made it complete.
                let again = complete(accept(&input[..done.consumed], &limits, |_| Accept::default()));
                prop_assert_eq!(again.response, done.response);
            }
            Ok(Status::Partial) => {}
        }
        // A prefix is never an error that the whole is not, for the head size checks aside.
        let prefix = &input[..cut.index(input.len() + 1)];
        if let Err(err) = read_request(prefix, &limits) {
            prop_assert_eq!(read_request(&input, &limits).err(), Some(err));
        }
        for dialect in Dialect::ALL {
            let (hs, _) = client(&config(dialect), 9);
            let _ = hs.read_response(&input);
        }
    }

    /// Honest responses mutated: the client never panics and never accepts a changed
    /// proof byte.
    #[test]
    fn mutated_responses_never_panic(
        dialect in 0usize..6,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let dialect = Dialect::ALL[dialect];
        let (hs, response) = honest(dialect);
        let mut wrong = response.clone();
        let i = at.index(wrong.len());
        wrong[i] = byte;
        let outcome = hs.read_response(&wrong);
        if dialect.caps().handshake == ws_protocols::HandshakeFamily::Hixie76
            && i >= response.len() - 16
            && byte != response[i]
        {
            prop_assert_eq!(outcome, Err(ClientHandshakeError::WrongChallengeAnswer));
        }
    }
}
