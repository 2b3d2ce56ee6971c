//! Optional assembly of whole messages from decoder events, up to a size limit.

use crate::error::ProtocolError;
use crate::event::{Event, MessageKind};

/// A complete message, borrowed from the assembler.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (already validated as UTF-8 by the decoder).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

/// The most reserved ahead of the bytes on a message's declared length: enough for a
/// typical message in one allocation, too little for declared lengths to add up to much
/// over many connections.
pub const RESERVE_AHEAD: usize = 16 << 10;

/// A buffer with more capacity than this is dropped, not kept, when its message is done.
const KEEP_CAPACITY: usize = 64 << 10;

/// Collects the payload of each message, for applications that want whole messages rather
/// than a stream of chunks. Memory is bounded by `max_message`, checked before growing: a
/// declared length over the limit is refused before anything is reserved. The buffer grows
/// with the bytes that arrive, never from the length a peer declares (a peer that declares
/// 16 MiB and sends nothing costs at most [`RESERVE_AHEAD`]), and a buffer grown large by
/// one message is given back when the next one starts.
///
/// ```
/// use ws_protocols::message::{Message, MessageAssembler};
/// use ws_protocols::{Event, MessageKind};
///
/// let mut asm = MessageAssembler::new(1024);
/// asm.push(&Event::MessageStart { kind: MessageKind::Text, len: None }).unwrap();
/// asm.push(&Event::Data(b"Hel")).unwrap();
/// asm.push(&Event::Data(b"lo")).unwrap();
/// assert_eq!(asm.push(&Event::MessageEnd).unwrap(), Some(Message::Text("Hello")));
/// ```
#[derive(Debug)]
pub struct MessageAssembler {
    max_message: usize,
    kind: Option<MessageKind>,
    payload: Vec<u8>,
}

impl MessageAssembler {
    /// An assembler that refuses messages over `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        MessageAssembler {
            max_message,
            kind: None,
            payload: Vec::new(),
        }
    }

    /// Feed one decoder event. Returns the whole message at its end; control events pass
    /// through untouched (returns `None`).
    pub fn push(&mut self, event: &Event<'_>) -> Result<Option<Message<'_>>, ProtocolError> {
        match *event {
            Event::MessageStart { kind, len } => {
                self.release();
                if let Some(len) = len {
                    if len > self.max_message as u64 {
                        return Err(ProtocolError::MessageTooLarge);
                    }
                    self.payload.reserve((len as usize).min(RESERVE_AHEAD));
                }
                self.kind = Some(kind);
                Ok(None)
            }
            Event::Data(bytes) => {
                if self.payload.len() + bytes.len() > self.max_message {
                    return Err(ProtocolError::MessageTooLarge);
                }
                self.payload.extend_from_slice(bytes);
                Ok(None)
            }
            Event::MessageEnd => match self.kind.take() {
                Some(MessageKind::Text) => std::str::from_utf8(&self.payload)
                    .map(|text| Some(Message::Text(text)))
                    .map_err(|_| ProtocolError::InvalidUtf8),
                Some(MessageKind::Binary) => Ok(Some(Message::Binary(&self.payload))),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// Bytes of the current message so far.
    pub fn message_len(&self) -> usize {
        self.payload.len()
    }

    /// Bytes of memory the assembler holds now (its buffer's capacity, not only the bytes
    /// of the message in it): what a server-wide budget must count.
    pub fn held(&self) -> usize {
        self.payload.capacity()
    }

    /// Forget the current message; keep the buffer only if it is small.
    pub fn release(&mut self) {
        self.payload.clear();
        if self.payload.capacity() > KEEP_CAPACITY {
            self.payload = Vec::new();
        }
        self.kind = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_length_reserves_little() {
        let mut asm = MessageAssembler::new(64 << 20);
        let start = Event::MessageStart {
            kind: MessageKind::Binary,
            len: Some(16 << 20),
        };
        asm.push(&start).unwrap();
        assert!(asm.held() <= RESERVE_AHEAD, "held {}", asm.held());
    }

    #[test]
    fn a_large_buffer_is_given_back() {
        let mut asm = MessageAssembler::new(64 << 20);
        let start = Event::MessageStart {
            kind: MessageKind::Binary,
            len: None,
        };
        asm.push(&start).unwrap();
        asm.push(&Event::Data(&vec![7; 1 << 20])).unwrap();
        assert!(asm.held() >= 1 << 20);
        asm.push(&Event::MessageEnd).unwrap();
        asm.release();
        assert_eq!(asm.held(), 0);
    }
}
