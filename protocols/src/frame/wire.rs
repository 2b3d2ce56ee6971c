//! The length-framed wire formats as data: hybi-01..03 ("MORE bit"), hybi-04..06 (FIN bit,
//! the old opcodes) and hybi-07 onwards (RFC 6455 §5.2). They share the layout of the first
//! two bytes and the 7/16/64-bit length, and differ only in what this table says. Where a
//! client's mask goes (after the length, or in front of the whole frame) is the dialect's
//! `Caps::masking`, not the wire's.

use crate::dialect::Framing;

/// What a frame is, whatever number the wire gives it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Op {
    pub(crate) fn is_control(self) -> bool {
        matches!(self, Op::Close | Op::Ping | Op::Pong)
    }
}

/// One row per length-framed family.
#[derive(Debug)]
pub(crate) struct Wire {
    /// Bit 7 of byte 0 is MORE (1 = more fragments follow) rather than FIN.
    pub more_bit: bool,
    /// Reserved bits of byte 0 (RSV1-3 / R1-R3).
    pub reserved0: u8,
    /// Reserved bits of byte 1 (R4 in hybi-01..06; the MASK bit in hybi-07+).
    pub reserved1: u8,
    /// Bit 7 of byte 1 says whether a 4-byte masking key follows the length.
    pub mask_bit: bool,
    /// Opcode number → meaning; `None` is reserved.
    pub ops: [Option<Op>; 16],
}

/// The opcodes of hybi-01..06: 0 continuation, 1 close, 2 ping, 3 pong, 4 text, 5 binary.
const DRAFT_OPS: [Option<Op>; 16] = {
    let mut ops = [None; 16];
    ops[0] = Some(Op::Continuation);
    ops[1] = Some(Op::Close);
    ops[2] = Some(Op::Ping);
    ops[3] = Some(Op::Pong);
    ops[4] = Some(Op::Text);
    ops[5] = Some(Op::Binary);
    ops
};

/// hybi-01..03 (docs/protocols.md §4.2): MORE bit, opcodes 0-5, never masked.
pub(crate) static MORE_BIT: Wire = Wire {
    more_bit: true,
    reserved0: 0x70,
    reserved1: 0x80,
    mask_bit: false,
    ops: DRAFT_OPS,
};

/// hybi-04..06 (docs/protocols.md §4.3, §4.4): MORE became FIN (its meaning inverted, as
/// pywebsocket's hybi-04 notes say); the opcodes and R4 stay. No MASK bit: client frames are
/// masked from in front (`Masking::Sha1Nonce`, `Masking::WholeFrame`).
pub(crate) static FIN_BIT: Wire = Wire {
    more_bit: false,
    ..MORE_BIT
};

/// hybi-07, hybi-08, RFC 6455: FIN bit, opcodes 0-2 and 8-10, masks from clients.
pub(crate) static HYBI: Wire = Wire {
    more_bit: false,
    reserved0: 0x70,
    reserved1: 0x00,
    mask_bit: true,
    ops: {
        let mut ops = [None; 16];
        ops[0x0] = Some(Op::Continuation);
        ops[0x1] = Some(Op::Text);
        ops[0x2] = Some(Op::Binary);
        ops[0x8] = Some(Op::Close);
        ops[0x9] = Some(Op::Ping);
        ops[0xa] = Some(Op::Pong);
        ops
    },
};

impl Wire {
    /// The wire of a length-framed family; `None` for sentinel framing.
    pub(crate) fn of(framing: Framing) -> Option<&'static Wire> {
        match framing {
            Framing::Sentinel => None,
            Framing::MoreBit => Some(&MORE_BIT),
            Framing::Hybi04 => Some(&FIN_BIT),
            Framing::Hybi => Some(&HYBI),
        }
    }

    /// The opcode number of `op` on this wire.
    pub(crate) fn opcode(&self, op: Op) -> u8 {
        // Every Op has a number in both tables; the search is over 16 entries.
        self.ops.iter().position(|o| *o == Some(op)).unwrap_or(0) as u8
    }
}

/// The largest frame header: 2 bytes, 8 of extended length, 4 of mask (or, in hybi-04..06, 4
/// of key or nonce in front).
pub const MAX_HEADER: usize = 14;

/// A frame header (or hixie prefix/suffix) built on the stack: no allocation per frame.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameHead {
    bytes: [u8; MAX_HEADER],
    len: u8,
}

impl FrameHead {
    pub(crate) fn empty() -> Self {
        Self::default()
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let at = usize::from(self.len);
        self.bytes[at..at + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len() as u8;
    }

    /// The bytes written so far, to mask them in place (hybi-04..06 clients mask the header).
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.bytes[..usize::from(self.len)]
    }

    /// Set RSV1 (0x40 of the first header byte).
    pub(crate) fn set_rsv1(&mut self) {
        self.bytes[0] |= 0x40;
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Self {
        let mut head = Self::empty();
        head.push(bytes);
        head
    }

    /// Write a length-framed header.
    pub(crate) fn framed(wire: &Wire, op: Op, fin: bool, len: u64, mask: Option<[u8; 4]>) -> Self {
        let final_bit = if fin != wire.more_bit { 0x80 } else { 0 };
        let mask_bit = if mask.is_some() { 0x80 } else { 0 };
        let mut head = Self::empty();
        let b0 = final_bit | wire.opcode(op);
        if len < 126 {
            head.push(&[b0, mask_bit | len as u8]);
        } else if len <= 0xffff {
            head.push(&[b0, mask_bit | 126]);
            head.push(&(len as u16).to_be_bytes());
        } else {
            head.push(&[b0, mask_bit | 127]);
            head.push(&len.to_be_bytes());
        }
        if let Some(key) = mask {
            head.push(&key);
        }
        head
    }
}

impl std::ops::Deref for FrameHead {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}
