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

/// Collects the payload of each message, for applications that want whole messages rather
/// than a stream of chunks. Memory is bounded by `max_message`, checked before growing: a
/// declared length over the limit is refused before anything is reserved.
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
                self.payload.clear();
                if let Some(len) = len {
                    if len > self.max_message as u64 {
                        return Err(ProtocolError::MessageTooLarge);
                    }
                    self.payload.reserve(len as usize);
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
}
