//! Control frames owed to a peer while a data frame of declared length is half-written to
//! it (a piped message): nothing can go between a frame's payload bytes, so they wait for
//! the frame's last byte.
//!
//! The hold is bounded by construction: one slot per kind. RFC 6455 §5.5.3 lets an
//! endpoint that gets several pings before it can answer answer only the most recent one,
//! so a new pong replaces the held one; our own keepalive ping is sent at most once per
//! interval, so a new one replaces the held one too; a close is sent once. A peer that
//! floods pings at a receiver stuck mid-frame therefore costs us at most one pong.

use crate::error::EncodeError;
use crate::frame::{Control, Encoder};

/// The largest control payload (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// What one held close frame carries.
struct HeldClose {
    code: Option<u16>,
    reason: String,
}

/// The control frames held for the end of the current data frame: out of line, since they
/// exist only while a frame of declared length is half-written, and a connection that holds
/// none should not carry their room.
#[derive(Default)]
pub(super) struct HeldControls(Option<Box<Held>>);

#[derive(Default)]
pub(super) struct Held {
    pong: Option<Vec<u8>>,
    ping: Option<Vec<u8>>,
    close: Option<HeldClose>,
}

impl HeldControls {
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn held(&mut self) -> &mut Held {
        self.0.get_or_insert_with(Box::default)
    }

    /// Bytes these frames will take on the wire (heads at their largest), so they count
    /// toward the connection's outgoing queue.
    pub(super) fn len(&self) -> usize {
        const HEAD: usize = 2 + 4;
        let Some(held) = self.0.as_deref() else {
            return 0;
        };
        let payload = |p: &Option<Vec<u8>>| p.as_ref().map_or(0, |p| HEAD + p.len());
        payload(&held.pong)
            + payload(&held.ping)
            + held.close.as_ref().map_or(0, |c| HEAD + 2 + c.reason.len())
    }

    /// Hold a ping or pong, replacing one of the same kind already held.
    pub(super) fn hold_control(
        &mut self,
        control: Control,
        payload: &[u8],
    ) -> Result<(), EncodeError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(EncodeError::ControlTooLong);
        }
        let held = self.held();
        let slot = match control {
            Control::Ping => &mut held.ping,
            Control::Pong => &mut held.pong,
            // Our close is held with its code and reason (`hold_close`).
            Control::Close => return Err(EncodeError::Unsupported("a raw close body")),
        };
        let held = slot.get_or_insert_with(Vec::new);
        held.clear();
        held.extend_from_slice(payload);
        Ok(())
    }

    /// Hold our close frame; a second one is ignored (a close is sent once).
    pub(super) fn hold_close(
        &mut self,
        code: Option<u16>,
        reason: &str,
    ) -> Result<(), EncodeError> {
        let held = self.held();
        if held.close.is_none() {
            held.close = Some(HeldClose {
                code,
                reason: reason.to_owned(),
            });
        }
        Ok(())
    }

    /// Encode everything held into `out` (the data frame has ended), close last.
    pub(super) fn release(&mut self, encoder: &mut Encoder, out: &mut Vec<u8>) {
        let Some(held) = self.0.take() else {
            return;
        };
        // Checked when held; nothing else can fail now that the frame is complete.
        if let Some(payload) = held.pong {
            let _ = encoder.control(Control::Pong, &payload, out);
        }
        if let Some(payload) = held.ping {
            let _ = encoder.control(Control::Ping, &payload, out);
        }
        if let Some(close) = held.close {
            let _ = encoder.close(close.code, &close.reason, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pong_flood_holds_one_pong_the_latest() {
        let mut held = HeldControls::default();
        for i in 0..100_000u32 {
            held.hold_control(Control::Pong, &i.to_be_bytes()).unwrap();
        }
        assert_eq!(held.len(), 6 + 4);
        let mut encoder = Encoder::server(crate::Dialect::Rfc6455);
        let mut out = Vec::new();
        held.release(&mut encoder, &mut out);
        assert_eq!(out, [0x8A, 4, 0, 1, 0x86, 0x9F]);
        assert!(held.is_empty());
    }

    #[test]
    fn close_goes_last_and_only_once() {
        let mut held = HeldControls::default();
        held.hold_close(Some(1000), "bye").unwrap();
        held.hold_close(Some(1011), "again").unwrap();
        held.hold_control(Control::Ping, b"p").unwrap();
        let mut encoder = Encoder::server(crate::Dialect::Rfc6455);
        let mut out = Vec::new();
        held.release(&mut encoder, &mut out);
        assert_eq!(out, [0x89, 1, b'p', 0x88, 5, 0x03, 0xE8, b'b', b'y', b'e']);
    }

    #[test]
    fn an_oversized_control_is_refused() {
        let mut held = HeldControls::default();
        assert_eq!(
            held.hold_control(Control::Ping, &[0; 126]),
            Err(EncodeError::ControlTooLong)
        );
        assert!(held.is_empty());
    }
}
