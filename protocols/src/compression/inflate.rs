//! The receiving side: the peer's compressed payload inflated in caller-sized pieces, text
//! validated and the message limit counted on the inflated bytes.

use super::{zlib_window_bits, Compression, Scope, StreamParams, TAIL};
use crate::error::ProtocolError;
use crate::event::{Event, MessageKind};
use crate::utf8::Utf8Validator;
use flate2::{Decompress, FlushDecompress, Status};

/// What [`Inflater::feed`] or [`Inflater::resume`] did with its input.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fed {
    /// All of it inflated and delivered.
    Done,
    /// The receiver asked to stop: the rest is kept here until [`Inflater::resume`].
    Stopped,
}

/// The message being received.
#[derive(Copy, Clone, Debug)]
struct Open {
    kind: MessageKind,
    /// Plaintext bytes of it so far, inflated or not: what the message limit counts.
    len: u64,
    /// Whether any of it came compressed (under permessage-deflate: it is one stream, whose
    /// tail goes back on at its end).
    compressed: bool,
}

/// Where the 4-byte tail stands for the stream being inflated.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Tail {
    /// Not due.
    NotDue,
    /// Due once the kept input is inflated (a frame ended under deflate-frame while its
    /// payload was still kept).
    AfterStash,
}

/// Inflates the peer's payload; one per connection that negotiated compression. While it
/// is in use, the decoder leaves text validation to it (the decoder sees compressed bytes),
/// so every payload byte of the connection's messages passes here, compressed or not.
pub struct Inflater {
    scope: Scope,
    params: StreamParams,
    max_message: u64,
    /// The zlib state: present while a stream is open, or always with context takeover once
    /// the first compressed payload came. Boxed: an idle connection holds only the pointer.
    zlib: Option<Box<Decompress>>,
    open: Option<Open>,
    utf8: Utf8Validator,
    /// Compressed input the receiver had no room for yet, and how far it has been used.
    stash: Vec<u8>,
    stash_at: usize,
    tail: Tail,
    /// The last call filled the whole output piece: zlib may hold more output.
    more_output: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("scope", &self.scope)
            .field("params", &self.params)
            .field("has_state", &self.zlib.is_some())
            .field("stashed", &(self.stash.len() - self.stash_at))
            .finish()
    }
}

impl Inflater {
    /// The inflating side of `agreed` (its `theirs` stream), failing messages whose plaintext
    /// exceeds `max_message` bytes.
    pub fn new(agreed: &Compression, max_message: u64) -> Self {
        Inflater {
            scope: agreed.scope,
            params: agreed.theirs,
            max_message,
            zlib: None,
            open: None,
            utf8: Utf8Validator::new(),
            stash: Vec::new(),
            stash_at: 0,
            tail: Tail::NotDue,
            more_output: false,
        }
    }

    /// Route one decoded event to `deliver` as the application is to see it: compressed
    /// payload inflated into pieces of at most `out.len()` bytes (as [`Event::Data`]), every
    /// other event as it is, after the bookkeeping it needs (text validated, the message
    /// limit counted, a stream's tail put back at its end). `deliver` returns false to stop:
    /// compressed input not yet inflated is then kept, [`Fed::Stopped`] returned, and
    /// [`Inflater::resume`] must come before the next event. Plain events are delivered
    /// whole whatever `deliver` returns.
    pub fn route(
        &mut self,
        event: Event<'_>,
        out: &mut [u8],
        mut deliver: impl FnMut(Event<'_>) -> bool,
    ) -> Result<Fed, ProtocolError> {
        match event {
            Event::MessageStart { kind, .. } => self.start(kind),
            Event::Data(data) => self.plain(data)?,
            Event::Compressed { data, frame_end } => {
                return self.feed(data, frame_end, out, |piece| deliver(Event::Data(piece)));
            }
            Event::MessageEnd => self.end(out, |piece| {
                deliver(Event::Data(piece));
            })?,
            Event::Ping(_) | Event::Pong(_) | Event::Close(_) => {}
        }
        deliver(event);
        Ok(Fed::Done)
    }

    /// A message begins.
    pub fn start(&mut self, kind: MessageKind) {
        self.open = Some(Open {
            kind,
            len: 0,
            compressed: false,
        });
        self.utf8.reset();
    }

    /// Uncompressed payload of the open message: counted and, for text, validated.
    pub fn plain(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        self.count(data)
    }

    /// Whether input is kept for [`Inflater::resume`], or output may be waiting in zlib.
    pub fn is_pending(&self) -> bool {
        self.stash_at < self.stash.len() || self.more_output || self.tail != Tail::NotDue
    }

    /// Whether a zlib state is allocated now (for measuring memory per connection).
    pub fn holds_state(&self) -> bool {
        self.zlib.is_some()
    }

    /// Inflate compressed payload of the open message, handing the plaintext to `deliver`
    /// in pieces of at most `out.len()` bytes; `frame_end` says these are the last bytes of
    /// their frame. When `deliver` returns false, what is left is kept (a copy, at most
    /// `input`) for [`Inflater::resume`] and [`Fed::Stopped`] returned; the caller must
    /// resume before giving this inflater anything else.
    pub fn feed(
        &mut self,
        input: &[u8],
        frame_end: bool,
        out: &mut [u8],
        mut deliver: impl FnMut(&[u8]) -> bool,
    ) -> Result<Fed, ProtocolError> {
        debug_assert!(!self.is_pending(), "resume before feeding more");
        if let Some(open) = self.open.as_mut() {
            open.compressed = true;
        }
        let used = self.inflate_all(input, out, &mut deliver)?;
        if used < input.len() || self.more_output {
            self.stash.clear();
            self.stash.extend_from_slice(&input[used..]);
            self.stash_at = 0;
            if frame_end && self.scope == Scope::Frame {
                self.tail = Tail::AfterStash;
            }
            return Ok(Fed::Stopped);
        }
        if frame_end && self.scope == Scope::Frame {
            self.finish_stream(out, |piece| {
                deliver(piece);
            })?;
        }
        Ok(Fed::Done)
    }

    /// Go on with the input kept when `deliver` last asked to stop.
    pub fn resume(
        &mut self,
        out: &mut [u8],
        mut deliver: impl FnMut(&[u8]) -> bool,
    ) -> Result<Fed, ProtocolError> {
        let stash = std::mem::take(&mut self.stash);
        let result = self.inflate_all(&stash[self.stash_at..], out, &mut deliver);
        self.stash = stash;
        let used = result?;
        self.stash_at += used;
        if self.stash_at < self.stash.len() || self.more_output {
            return Ok(Fed::Stopped);
        }
        self.release_stash();
        if self.tail == Tail::AfterStash {
            self.tail = Tail::NotDue;
            self.finish_stream(out, |piece| {
                deliver(piece);
            })?;
        }
        Ok(Fed::Done)
    }

    /// The open message ended: a permessage-deflate stream gets its tail back (what that
    /// inflates to is delivered: a few bytes at most, from a peer that flushed oddly), the
    /// text must end on a whole character, and without context takeover the zlib state is
    /// let go.
    pub fn end(
        &mut self,
        out: &mut [u8],
        mut deliver: impl FnMut(&[u8]),
    ) -> Result<(), ProtocolError> {
        let open = self.open.take();
        if self.scope == Scope::Message && open.is_some_and(|o| o.compressed) {
            // Put the message back as open while its last bytes are counted.
            self.open = open;
            self.finish_stream(out, &mut deliver)?;
            self.open = None;
        }
        if open.is_some_and(|o| o.kind == MessageKind::Text) && self.utf8.finish().is_err() {
            return Err(ProtocolError::IncompleteUtf8);
        }
        Ok(())
    }

    /// Feed the tail that ends a stream (the message's or, per frame, the frame's), deliver
    /// what comes out, and let the state go unless the context is kept.
    fn finish_stream(
        &mut self,
        out: &mut [u8],
        mut deliver: impl FnMut(&[u8]),
    ) -> Result<(), ProtocolError> {
        let mut tail: &[u8] = &TAIL;
        loop {
            let (used, produced) = self.inflate_once(tail, out)?;
            tail = &tail[used..];
            if produced > 0 {
                self.count(&out[..produced])?;
                deliver(&out[..produced]);
            }
            if tail.is_empty() && produced < out.len() {
                break;
            }
            if used == 0 && produced == 0 {
                return Err(ProtocolError::BadCompressedData);
            }
        }
        self.more_output = false;
        if !self.params.keep_context {
            self.zlib = None;
        }
        Ok(())
    }

    /// Inflate `input` and deliver until it is used up and zlib has nothing more, or the
    /// receiver stops; returns the input bytes used.
    fn inflate_all(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        deliver: &mut impl FnMut(&[u8]) -> bool,
    ) -> Result<usize, ProtocolError> {
        let mut used = 0;
        loop {
            let (n, produced) = self.inflate_once(&input[used..], out)?;
            used += n;
            self.more_output = produced == out.len();
            if produced > 0 {
                self.count(&out[..produced])?;
                if !deliver(&out[..produced]) {
                    return Ok(used);
                }
            }
            if used == input.len() && !self.more_output {
                return Ok(used);
            }
            if n == 0 && produced == 0 {
                // Input left that zlib will not take, with room to write: a stream that
                // ended (a final block) or is broken.
                return Err(ProtocolError::BadCompressedData);
            }
        }
    }

    /// One zlib call: returns (input used, output written). The output is capped at one byte
    /// past the message limit, so [`Inflater::count`] finds the excess having inflated
    /// nothing more.
    fn inflate_once(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), ProtocolError> {
        let bits = zlib_window_bits(self.params.window_bits);
        let zlib = self
            .zlib
            .get_or_insert_with(|| Box::new(Decompress::new_with_window_bits(false, bits)));
        let room = self
            .open
            .map_or(u64::MAX, |o| self.max_message.saturating_sub(o.len));
        let cap = out.len().min(
            usize::try_from(room)
                .unwrap_or(usize::MAX)
                .saturating_add(1),
        );
        let (before_in, before_out) = (zlib.total_in(), zlib.total_out());
        let status = zlib
            .decompress(input, &mut out[..cap], FlushDecompress::Sync)
            .map_err(|_| ProtocolError::BadCompressedData)?;
        let used = (zlib.total_in() - before_in) as usize;
        let produced = (zlib.total_out() - before_out) as usize;
        if status == Status::StreamEnd {
            // A block marked final: RFC 7692 §7.2.3.4 lets a sender end with one, after
            // which the stream must start over for the next message.
            zlib.reset(false);
        }
        Ok((used, produced))
    }

    /// Count plaintext of the open message against the limit; validate text.
    fn count(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        open.len += data.len() as u64;
        if open.len > self.max_message {
            return Err(ProtocolError::MessageTooLarge);
        }
        if open.kind == MessageKind::Text && self.utf8.feed(data).is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        Ok(())
    }

    fn release_stash(&mut self) {
        self.stash_at = 0;
        self.stash.clear();
        if self.stash.capacity() > 64 << 10 {
            self.stash = Vec::new();
        }
    }
}
