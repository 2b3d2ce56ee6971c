//! How a connection ends, as the application is told: one rule per way of ending, for server
//! and client alike (docs/protocols.md §5).

use crate::close;
use crate::dialect::Caps;
use crate::event::CloseFrame;

/// How a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code: the peer's (or ours, if we closed first), 1005 when a close frame had
    /// no code (hixie-76 `FF 00`, hybi-03), 1006 when no close frame was exchanged.
    pub code: u16,
    /// The reason that came with the code.
    pub reason: String,
    /// True when the closing handshake completed (or, for hixie-75, which has none, when the
    /// peer closed TCP cleanly).
    pub clean: bool,
}

impl CloseInfo {
    /// The peer's close frame arrived. RFC 6455 §7.1.5: the connection's close code is the
    /// first one received.
    ///
    /// ```
    /// use ws_protocols::connection::CloseInfo;
    /// use ws_protocols::CloseFrame;
    ///
    /// let frame = CloseFrame { code: None, reason: "", body: &[] };
    /// assert_eq!(CloseInfo::received(&frame).code, 1005);
    /// ```
    pub fn received(frame: &CloseFrame<'_>) -> CloseInfo {
        CloseInfo {
            code: frame.code_or_no_status(),
            reason: frame.reason.to_owned(),
            clean: true,
        }
    }

    /// We closed first with `code`. On hixie-75, which has no closing handshake, our TCP
    /// close is the whole of it, so the close is clean; elsewhere it becomes clean when the
    /// peer's answer arrives (and replaces this one's place in the report).
    pub fn sent(caps: &Caps, code: u16, reason: &str) -> CloseInfo {
        CloseInfo {
            code,
            reason: reason.to_owned(),
            clean: !caps.close_frame,
        }
    }

    /// The peer closed TCP. A clean close on hixie-75 (a TCP close is its closing
    /// protocol); elsewhere 1006, "abnormal".
    ///
    /// ```
    /// use ws_protocols::connection::CloseInfo;
    /// use ws_protocols::Dialect;
    ///
    /// assert!(CloseInfo::end_of_stream(Dialect::Hixie75.caps()).clean);
    /// assert_eq!(CloseInfo::end_of_stream(Dialect::Rfc6455.caps()).code, 1006);
    /// ```
    pub fn end_of_stream(caps: &Caps) -> CloseInfo {
        if caps.close_frame {
            CloseInfo::abnormal("connection closed without a close frame")
        } else {
            CloseInfo::no_status()
        }
    }

    /// Our close was not answered in time (`reason` says so in the caller's words). On
    /// hixie-75 nothing answers a close, so this is the normal end.
    pub fn close_timed_out(caps: &Caps, reason: &str) -> CloseInfo {
        if caps.close_frame {
            CloseInfo::abnormal(reason)
        } else {
            CloseInfo::no_status()
        }
    }

    /// The connection failed: `code` is what we sent (or would have, on a dialect without
    /// codes) and `reason` says why.
    pub fn failed(code: u16, reason: String) -> CloseInfo {
        CloseInfo {
            code,
            reason,
            clean: false,
        }
    }

    /// 1006 with a reason: no close frame was exchanged.
    pub fn abnormal(reason: &str) -> CloseInfo {
        CloseInfo {
            code: close::ABNORMAL,
            reason: reason.to_owned(),
            clean: false,
        }
    }

    fn no_status() -> CloseInfo {
        CloseInfo {
            code: close::NO_STATUS,
            reason: String::new(),
            clean: true,
        }
    }
}

/// The longest prefix of `reason` that fits a close frame beside its 2-byte code (RFC 6455
/// §5.5: 125 bytes of control payload), cut at a character boundary.
///
/// ```
/// use ws_protocols::connection::fit_close_reason;
///
/// let long = "é".repeat(100);
/// assert_eq!(fit_close_reason(&long).len(), 122);
/// ```
pub fn fit_close_reason(reason: &str) -> &str {
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    &reason[..cut]
}

/// The body of the close that answers the peer's: its code echoed (RFC 6455 §5.5.1), or its
/// whole body on hybi-03, whose peers match it (docs/protocols.md §5); empty for hixie-76's
/// `FF 00`.
pub fn close_echo<'a>(frame: &CloseFrame<'a>) -> &'a [u8] {
    match frame.code {
        Some(_) => &frame.body[..2],
        None => frame.body,
    }
}

/// The body of the close that fails a connection: the error's code where the dialect has
/// codes, empty otherwise (hybi-03, hixie-76).
pub fn fail_body(caps: &Caps, code: u16) -> FailBody {
    FailBody {
        code: code.to_be_bytes(),
        with_code: caps.close_codes,
    }
}

/// A failure close body, on the stack.
#[derive(Copy, Clone, Debug)]
pub struct FailBody {
    code: [u8; 2],
    with_code: bool,
}

impl std::ops::Deref for FailBody {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        if self.with_code {
            &self.code
        } else {
            &[]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect;

    #[test]
    fn echo_is_the_code_or_the_whole_body() {
        let rfc = CloseFrame {
            code: Some(1000),
            reason: "bye",
            body: b"\x03\xe8bye",
        };
        assert_eq!(close_echo(&rfc), b"\x03\xe8");
        let hybi03 = CloseFrame {
            code: None,
            reason: "",
            body: b"S",
        };
        assert_eq!(close_echo(&hybi03), b"S");
    }

    #[test]
    fn failing_carries_a_code_only_where_the_dialect_has_codes() {
        assert_eq!(&*fail_body(Dialect::Rfc6455.caps(), 1002), b"\x03\xea");
        assert!(fail_body(Dialect::Hybi03.caps(), 1002).is_empty());
        assert!(fail_body(Dialect::Hixie76.caps(), 1002).is_empty());
    }

    #[test]
    fn reasons_are_cut_to_123_bytes_at_a_character_boundary() {
        assert_eq!(fit_close_reason(&"a".repeat(200)).len(), 123);
        assert_eq!(fit_close_reason("short"), "short");
        assert_eq!(fit_close_reason(&"€".repeat(50)).len(), 123);
        assert_eq!(fit_close_reason(&"é".repeat(62)).len(), 122);
    }

    #[test]
    fn only_hixie_75_ends_cleanly_without_a_close_frame() {
        for d in Dialect::ALL {
            let eof = CloseInfo::end_of_stream(d.caps());
            assert_eq!(eof.clean, d == Dialect::Hixie75, "{d}");
            assert_eq!(
                CloseInfo::sent(d.caps(), 1000, "").clean,
                d == Dialect::Hixie75
            );
        }
    }
}
