//! Close status codes: which may be received, which may be sent (RFC 6455 §7.4).

/// 1000: normal closure.
pub const NORMAL: u16 = 1000;
/// 1001: going away (server shutdown, page navigation).
pub const GOING_AWAY: u16 = 1001;
/// 1002: protocol error.
pub const PROTOCOL_ERROR: u16 = 1002;
/// 1003: a data type the endpoint cannot accept.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// 1005: no status code was received. An API value, never sent.
pub const NO_STATUS: u16 = 1005;
/// 1006: the connection closed without a close frame. An API value, never sent.
pub const ABNORMAL: u16 = 1006;
/// 1007: payload inconsistent with its type (invalid UTF-8).
pub const INVALID_PAYLOAD: u16 = 1007;
/// 1008: policy violation.
pub const POLICY: u16 = 1008;
/// 1009: message too big.
pub const TOO_BIG: u16 = 1009;
/// 1011: unexpected condition on the server.
pub const INTERNAL_ERROR: u16 = 1011;
/// 1013: try again later (registered with IANA after the RFC): the server is overloaded.
pub const TRY_AGAIN_LATER: u16 = 1013;

/// May `code` arrive in a close frame? `allow_1004` is true for hybi-06 and hybi-07 peers, for
/// whom 1004 still meant "frame too large" (`Caps::close_1004`).
pub fn is_valid_received(code: u16, allow_1004: bool) -> bool {
    match code {
        // 1012-1014 were registered with IANA after the RFC (restart, try again, bad gateway).
        1000..=1003 | 1007..=1014 | 3000..=4999 => true,
        1004 => allow_1004,
        // 0-999 unused; 1005, 1006, 1015 are API-only; 1016-2999 reserved for future RFCs.
        _ => false,
    }
}

/// May we put `code` in a close frame we send? Same set as receivable, minus 1004.
pub fn is_valid_sent(code: u16) -> bool {
    is_valid_received(code, false)
}

/// Map a code from one dialect's peer to what another dialect's peer may receive, for
/// translating closes: 1004 from a hybi-06/07 peer becomes 1009 ("too big") for others.
pub fn translate(code: u16, to_allows_1004: bool) -> u16 {
    if code == 1004 && !to_allows_1004 {
        TOO_BIG
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_codes_follow_rfc_6455_section_7_4() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1014, 3000, 4999,
        ] {
            assert!(is_valid_received(ok, false), "{ok}");
        }
        // Autobahn 7.9.x sends these and expects a protocol error.
        for bad in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_received(bad, false), "{bad}");
        }
        assert!(is_valid_received(1004, true));
        assert!(!is_valid_sent(1004));
    }

    #[test]
    fn code_1004_translates_to_1009_for_rfc_peers() {
        assert_eq!(translate(1004, false), TOO_BIG);
        assert_eq!(translate(1004, true), 1004);
        assert_eq!(translate(1000, false), 1000);
    }
}
