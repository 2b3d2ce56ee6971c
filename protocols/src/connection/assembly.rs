//! Whole-message delivery for one connection: a message that arrives as one frame whose
//! payload comes in one piece is handed over borrowed from the caller's buffer, no copy;
//! anything else is gathered by a [`MessageAssembler`], up to the message limit.

use crate::error::ProtocolError;
use crate::event::{Event, MessageKind};
use crate::message::{Message, MessageAssembler};

/// Why [`Assembly::push`] took no more.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AssemblyError {
    /// The message broke a protocol rule (over the limit, not UTF-8).
    Protocol(ProtocolError),
    /// The caller's admission check refused to let the message grow (a memory budget).
    Refused,
}

/// What [`Assembly::direct`] decided for one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Direct<'b> {
    /// This whole message, borrowed from the caller's buffer.
    Deliver(Message<'b>),
    /// Nothing to do: the start of a message that may still come in one piece (the
    /// assembler hears of it only if it does not), or the end of one already delivered.
    Swallow,
    /// Give the event to [`Assembly::assemble`].
    Assemble,
}

/// One connection's whole-message delivery.
///
/// ```
/// use ws_protocols::connection::Assembly;
/// use ws_protocols::message::Message;
/// use ws_protocols::{Event, MessageKind};
///
/// let mut assembly = Assembly::new(1 << 20);
/// let start = Event::MessageStart { kind: MessageKind::Text, len: Some(2) };
/// assert_eq!(assembly.push(start, |_, _| true), Ok(None));
/// // The whole payload in one piece: handed over as it is.
/// assert_eq!(assembly.push(Event::Data(b"hi"), |_, _| true), Ok(Some(Message::Text("hi"))));
/// assert_eq!(assembly.push(Event::MessageEnd, |_, _| true), Ok(None));
/// ```
#[derive(Debug)]
pub struct Assembly {
    assembler: MessageAssembler,
    /// The open message's kind and declared length while it may still come in one piece.
    direct: Option<(MessageKind, u64)>,
    /// Where the open message stands on the fast way.
    fast: Fast,
}

/// Where the open message stands on the fast way.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Fast {
    /// No message, or one the assembler knows of.
    Off,
    /// A message of declared length started, and the assembler has not heard of it yet: if
    /// its payload does not come in one piece, its start goes to the assembler first.
    StartHeld(MessageKind, u64),
    /// The open message was delivered directly: its `MessageEnd` is to be skipped.
    Delivered,
}

impl Assembly {
    /// Delivery of messages up to `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Assembly {
            assembler: MessageAssembler::new(max_message),
            direct: None,
            fast: Fast::Off,
        }
    }

    /// The fast way first: whether `event` completes a message that can be handed over
    /// borrowed from the caller's buffer (a single frame whose payload came in one piece),
    /// is the end of one already handed over, or must go to [`Assembly::push`]. Nothing is
    /// copied or moved on the fast way.
    #[inline]
    pub fn direct<'b>(&mut self, event: &Event<'b>) -> Direct<'b> {
        match *event {
            Event::MessageStart { kind, len } => {
                self.direct = len.map(|n| (kind, n));
                match len {
                    Some(n) => {
                        self.fast = Fast::StartHeld(kind, n);
                        Direct::Swallow
                    }
                    None => {
                        self.fast = Fast::Off;
                        Direct::Assemble
                    }
                }
            }
            Event::Data(bytes) => {
                let whole = match self.direct.take() {
                    Some((kind, n)) if bytes.len() as u64 == n => match kind {
                        MessageKind::Binary => Some(Message::Binary(bytes)),
                        // The decoder validated it; a complete single frame is valid UTF-8.
                        MessageKind::Text => std::str::from_utf8(bytes).ok().map(Message::Text),
                    },
                    _ => None,
                };
                match whole {
                    Some(message) => {
                        self.fast = Fast::Delivered;
                        Direct::Deliver(message)
                    }
                    None => Direct::Assemble,
                }
            }
            Event::MessageEnd if self.fast == Fast::Delivered => {
                self.fast = Fast::Off;
                Direct::Swallow
            }
            _ => Direct::Assemble,
        }
    }

    /// Feed one decoder event that [`Assembly::direct`] left to assembly (or any event, for
    /// a caller that does not care for the fast way); a whole message comes back when it is
    /// complete. `admit` is asked, with the assembler and the bytes about to be added, before
    /// a message held in the assembler grows: it returns false to refuse (the message is
    /// then dropped). Control events pass through (`None`).
    pub fn push<'a>(
        &'a mut self,
        event: Event<'a>,
        admit: impl FnOnce(&MessageAssembler, usize) -> bool,
    ) -> Result<Option<Message<'a>>, AssemblyError> {
        match self.direct(&event) {
            Direct::Deliver(message) => return Ok(Some(message)),
            Direct::Swallow => return Ok(None),
            Direct::Assemble => {}
        }
        self.assemble(event, admit)
    }

    /// Gather `event` in the assembler (after [`Assembly::direct`] said so).
    pub fn assemble<'a>(
        &'a mut self,
        event: Event<'a>,
        admit: impl FnOnce(&MessageAssembler, usize) -> bool,
    ) -> Result<Option<Message<'a>>, AssemblyError> {
        if let Fast::StartHeld(kind, len) = self.fast {
            // Not in one piece after all (or empty): the assembler hears of the start now.
            self.fast = Fast::Off;
            let start = Event::MessageStart {
                kind,
                len: Some(len),
            };
            self.assembler
                .push(&start)
                .map_err(AssemblyError::Protocol)?;
        }
        if let Event::Data(bytes) = event {
            if !admit(&self.assembler, bytes.len()) {
                self.assembler.release();
                return Err(AssemblyError::Refused);
            }
        }
        self.assembler.push(&event).map_err(AssemblyError::Protocol)
    }

    /// Memory the unfinished message holds (the assembler's buffer).
    pub fn held(&self) -> usize {
        self.assembler.held()
    }

    /// Give back a large buffer now (after a message is delivered, or when refusing one).
    pub fn release(&mut self) {
        self.assembler.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: &MessageAssembler, _: usize) -> bool {
        true
    }

    #[test]
    fn a_message_in_pieces_is_assembled() {
        let mut a = Assembly::new(100);
        let start = Event::MessageStart {
            kind: MessageKind::Binary,
            len: Some(4),
        };
        assert_eq!(a.push(start, all), Ok(None));
        assert_eq!(a.push(Event::Data(b"ab"), all), Ok(None));
        assert_eq!(a.push(Event::Data(b"cd"), all), Ok(None));
        assert_eq!(
            a.push(Event::MessageEnd, all),
            Ok(Some(Message::Binary(b"abcd")))
        );
    }

    #[test]
    fn the_limit_and_the_budget_refuse() {
        let mut a = Assembly::new(3);
        let start = Event::MessageStart {
            kind: MessageKind::Text,
            len: None,
        };
        a.push(start, all).unwrap();
        assert_eq!(
            a.push(Event::Data(b"abcd"), all),
            Err(AssemblyError::Protocol(ProtocolError::MessageTooLarge))
        );
        let mut b = Assembly::new(100);
        let start = Event::MessageStart {
            kind: MessageKind::Text,
            len: None,
        };
        b.push(start, all).unwrap();
        assert_eq!(
            b.push(Event::Data(b"ab"), |_, n| n < 2),
            Err(AssemblyError::Refused)
        );
    }
}
