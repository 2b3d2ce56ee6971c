//! Checks shared by the fuzz targets. Each target is a few lines that build an input and
//! call one of these; the harness that feeds bytes to a decoder is the one the crate's own
//! tests use, included from there rather than copied.

#[path = "../../protocols/tests/support/mod.rs"]
pub mod support;

use support::Feeder;
use ws_protocols::{Dialect, Limits, Role};

/// Limits small enough that fuzzed lengths reach them.
pub fn small_limits() -> Limits {
    Limits::default().max_frame(1 << 16).max_message(1 << 17)
}

/// The boundaries of `len` bytes cut at `cuts` (clamped to `len`): sorted, from 0 to `len`,
/// so that `points.windows(2)` walks the pieces in order.
pub fn cut_points(cuts: &[u16], len: usize) -> Vec<usize> {
    let mut points: Vec<usize> = cuts.iter().map(|&c| usize::from(c).min(len)).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points
}

/// Decode `wire` in one piece and again cut at `cuts`: the outcome (events or error, and the
/// unconsumed tail) must not depend on how the bytes were split, and errors must be sticky.
pub fn check_split_invariance(dialect: Dialect, role: Role, wire: &[u8], cuts: &[u16]) {
    let limits = small_limits();
    let mut whole = Feeder::new(dialect, role, &limits);
    let whole_result = whole.feed(wire);

    let points = cut_points(cuts, wire.len());
    let mut split = Feeder::new(dialect, role, &limits);
    let mut split_result = Ok(());
    for w in points.windows(2) {
        split_result = split.feed(&wire[w[0]..w[1]]);
        if split_result.is_err() {
            break;
        }
    }
    assert_eq!(
        whole_result, split_result,
        "{dialect} {role:?}: error depends on chunking"
    );
    match whole_result {
        Ok(()) => {
            assert_eq!(
                whole.events, split.events,
                "{dialect} {role:?}: events depend on chunking"
            );
            assert_eq!(whole.pending(), split.pending());
        }
        Err(e) => {
            assert_eq!(whole.feed(b"\x00\x81"), Err(e), "errors are sticky");
            assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
        }
    }
}

/// An HTTP response we wrote must parse as HTTP/1.1 with the status we meant.
pub fn check_http_response(bytes: &[u8], status: u16) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => assert_eq!(response.code, Some(status)),
        other => panic!("our response does not parse as HTTP: {other:?}"),
    }
}
