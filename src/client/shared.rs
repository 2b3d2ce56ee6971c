//! What the two halves of a connection share: the writing side, behind a lock, and the
//! control frames the reading side owes the server.
//!
//! The receiver must answer pings and closes, but it must never wait for the writer: a writer
//! blocked on a server that has stopped reading (because nobody reads what it sends us) would
//! otherwise block the very receiver that could unblock it. So the receiver records what it
//! owes and sends it only if the writer is free (`try_lock`); whoever holds the writer sends
//! what is owed before releasing it, then checks again after releasing. Every release is
//! followed by a check, so nothing owed is left behind. The writer is locked for one frame
//! (or one piece of a streamed message) at a time, so answers also go out between the
//! fragments of a streamed message, where RFC 6455 §5.4 allows control frames.

use super::error::ClientError;
use crate::settings::HixieBinary;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use std::thread;
use std::time::{Duration, Instant};
use ws_protocols::frame::Control;
use ws_protocols::utf8::Utf8Validator;
use ws_protocols::{Caps, Dialect, Encoder, Framing, MessageKind};

/// Bytes gathered before a write: frame header plus the first (masked) payload bytes.
const SCRATCH: usize = 64 << 10;

/// Control frames the receiver owes the server.
#[derive(Default)]
struct Owed {
    /// Only the latest ping needs an answer (RFC 6455 §5.5.3).
    pong: Option<Vec<u8>>,
    /// The raw body of the close to send: the echo of the server's close, or our failure code.
    close: Option<Vec<u8>>,
}

impl Owed {
    fn is_empty(&self) -> bool {
        self.pong.is_none() && self.close.is_none()
    }
}

/// A connection's facts and its writing side.
pub(crate) struct Shared {
    pub(crate) dialect: Dialect,
    pub(crate) subprotocol: Option<String>,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) peer_addr: Option<SocketAddr>,
    pub(crate) close_timeout: Duration,
    writer: Mutex<Writer>,
    owed: Mutex<Owed>,
    /// When our close went out (ours or our answer to the server's).
    close_sent_at: OnceLock<Instant>,
    /// The receiver has seen the end: nothing may be sent any more.
    finished: AtomicBool,
    /// The same, for the close watchdog to wait on.
    ended: Arc<(Mutex<bool>, Condvar)>,
}

/// Everything needed to put frames on the wire.
pub(crate) struct Writer {
    stream: TcpStream,
    encoder: Encoder,
    caps: &'static Caps,
    dialect: Dialect,
    fragment_size: Option<usize>,
    hixie_binary: HixieBinary,
    /// Bytes not yet written; empty between operations except after `begin_stream`.
    out: Vec<u8>,
    /// Validates a streamed text message, so hixie frames never carry an `FF`.
    utf8: Utf8Validator,
    close_sent: bool,
    /// A write failed, possibly part-way through a frame: nothing more can be sent.
    broken: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writer, locked for one operation (or for a whole streamed message). Owed frames go
/// out when it is taken and when it is released.
pub(crate) struct WriterGuard<'a> {
    shared: &'a Shared,
    guard: Option<MutexGuard<'a, Writer>>,
}

impl Deref for WriterGuard<'_> {
    type Target = Writer;
    fn deref(&self) -> &Writer {
        self.guard.as_ref().expect("held until dropped")
    }
}

impl DerefMut for WriterGuard<'_> {
    fn deref_mut(&mut self) -> &mut Writer {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl WriterGuard<'_> {
    /// Send what the receiver owes, where the wire allows it now.
    pub(crate) fn flush_owed(&mut self) {
        let shared = self.shared;
        if let Some(writer) = self.guard.as_mut() {
            writer.flush_owed(shared);
        }
    }

    /// Fail unless messages may still be sent.
    pub(crate) fn check_open(&self) -> Result<(), ClientError> {
        if self.broken || self.close_sent || self.shared.finished.load(Ordering::Acquire) {
            Err(ClientError::Closed)
        } else {
            Ok(())
        }
    }

    /// Send our close: code and reason where the dialect carries them, `FF 00` on hixie-76, an
    /// empty close frame on hybi-03, a TCP half-close on hixie-75. Does nothing when a close
    /// has already been sent or the connection has ended.
    pub(crate) fn close(&mut self, code: u16, reason: &str) -> Result<(), ClientError> {
        if self.close_sent || self.shared.finished.load(Ordering::Acquire) {
            return Ok(());
        }
        if self.broken {
            return Err(ClientError::Closed);
        }
        let shared = self.shared;
        let w = &mut **self;
        if !w.caps.close_frame {
            // hixie-75 has no closing handshake: the TCP close is the close.
            w.stream.shutdown(Shutdown::Write)?;
        } else {
            let mut cut = reason.len().min(123);
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            w.encoder
                .close(Some(code), &reason[..cut], &mut w.out)
                .map_err(|e| ClientError::encode(w.dialect, e))?;
            w.write_out()?;
        }
        w.close_sent = true;
        let _ = shared.close_sent_at.set(Instant::now());
        shared.watch_close(&w.stream);
        Ok(())
    }
}

impl WriterGuard<'_> {
    /// The streamed message will never be finished (its writer was dropped): make sure the
    /// server cannot take what was sent of it for a whole message. On dialects with
    /// fragments a close frame goes between two fragments (1011, where there are codes), and
    /// the server drops the unfinished message; no frame can interrupt hixie's `00 …`, so
    /// there the TCP connection goes (an unterminated hixie frame is never delivered).
    pub(crate) fn abandon_stream(&mut self) {
        if self.close_sent || self.broken || self.shared.finished.load(Ordering::Acquire) {
            return;
        }
        if self.caps.fragments {
            let _ = self.close(1011, "message abandoned");
        } else {
            let w = &mut **self;
            let _ = w.stream.shutdown(Shutdown::Both);
            w.broken = true;
        }
    }
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        self.flush_owed();
        self.guard = None;
        self.shared.kick();
    }
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        stream: TcpStream,
        dialect: Dialect,
        mask_seed: [u8; 16],
        fragment_size: Option<usize>,
        hixie_binary: HixieBinary,
        subprotocol: Option<String>,
        headers: Vec<(String, Vec<u8>)>,
        close_timeout: Duration,
    ) -> Shared {
        let peer_addr = stream.peer_addr().ok();
        Shared {
            dialect,
            subprotocol,
            headers,
            peer_addr,
            close_timeout,
            writer: Mutex::new(Writer {
                stream,
                encoder: Encoder::client(dialect, mask_seed),
                caps: dialect.caps(),
                dialect,
                fragment_size,
                hixie_binary,
                out: Vec::new(),
                utf8: Utf8Validator::new(),
                close_sent: false,
                broken: false,
            }),
            owed: Mutex::new(Owed::default()),
            close_sent_at: OnceLock::new(),
            finished: AtomicBool::new(false),
            ended: Arc::new((Mutex::new(false), Condvar::new())),
        }
    }

    /// Take the writer, waiting for another sender to finish.
    pub(crate) fn lock(&self) -> WriterGuard<'_> {
        let mut guard = WriterGuard {
            shared: self,
            guard: Some(lock(&self.writer)),
        };
        guard.flush_owed();
        guard
    }

    /// Send owed frames now if nobody holds the writer; otherwise its holder will.
    pub(crate) fn kick(&self) {
        while !lock(&self.owed).is_empty() {
            let mut writer = match self.writer.try_lock() {
                Ok(writer) => writer,
                Err(TryLockError::WouldBlock) => return,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
            };
            if !writer.flush_owed(self) {
                return;
            }
        }
    }

    pub(crate) fn owe_pong(&self, payload: Vec<u8>) {
        lock(&self.owed).pong = Some(payload);
        self.kick();
    }

    pub(crate) fn owe_close(&self, body: Vec<u8>) {
        lock(&self.owed).close = Some(body);
        self.kick();
    }

    pub(crate) fn close_sent_at(&self) -> Option<Instant> {
        self.close_sent_at.get().copied()
    }

    pub(crate) fn finish(&self) {
        self.finished.store(true, Ordering::Release);
        let (ended, changed) = &*self.ended;
        *lock(ended) = true;
        changed.notify_all();
    }

    /// After our close: if the connection has not ended within `close_timeout`, close the
    /// socket, so that a receiver already blocked in a read without a deadline (on another
    /// thread) wakes up and reports the missing close.
    fn watch_close(&self, stream: &TcpStream) {
        let Ok(stream) = stream.try_clone() else {
            return;
        };
        let ended = Arc::clone(&self.ended);
        let timeout = self.close_timeout;
        let _ = thread::Builder::new()
            .name("ws-client-close".into())
            .spawn(move || {
                let (flag, changed) = &*ended;
                let guard = lock(flag);
                let (guard, _) = changed
                    .wait_timeout_while(guard, timeout, |ended| !*ended)
                    .unwrap_or_else(PoisonError::into_inner);
                if !*guard {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            });
    }
}

impl Writer {
    /// Send what is owed; false when something had to stay owed (a close that cannot
    /// interrupt an open hixie text frame: it goes out when the message ends).
    fn flush_owed(&mut self, shared: &Shared) -> bool {
        let mut owed = lock(&shared.owed);
        if owed.is_empty() {
            return true;
        }
        if self.broken || self.close_sent {
            // Nothing may follow our close (RFC 6455 §5.5.1).
            *owed = Owed::default();
            return true;
        }
        let mut complete = true;
        if let Some(payload) = owed.pong.take() {
            // Only dialects with ping get here; an error would be a local bug, not worth a
            // failed connection.
            let _ = self.encoder.control(Control::Pong, &payload, &mut self.out);
        }
        if let Some(body) = owed.close.take() {
            if self.caps.framing == Framing::Sentinel && self.encoder.in_message() {
                owed.close = Some(body);
                complete = false;
            } else if self
                .encoder
                .control(Control::Close, &body, &mut self.out)
                .is_ok()
            {
                self.close_sent = true;
                let _ = shared.close_sent_at.set(Instant::now());
            }
        }
        drop(owed);
        let _ = self.write_out();
        complete
    }

    fn io(&mut self, result: io::Result<()>) -> Result<(), ClientError> {
        result.map_err(|e| {
            self.broken = true;
            ClientError::Io(e)
        })
    }

    /// Write everything gathered in `out`.
    fn write_out(&mut self) -> Result<(), ClientError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = self.stream.write_all(&self.out);
        self.out.clear();
        if self.out.capacity() > 4 * SCRATCH {
            self.out.shrink_to(SCRATCH);
        }
        self.io(result)
    }

    /// Append `payload` after the header already in `out`, masked if this dialect masks,
    /// writing whenever `SCRATCH` bytes are gathered. The last piece stays in `out`.
    fn append_payload(&mut self, mut payload: &[u8]) -> Result<(), ClientError> {
        if !self.caps.client_masks && payload.len() >= SCRATCH {
            // Unmasked: no need to copy a large payload, write it as it is.
            self.write_out()?;
            let result = self.stream.write_all(payload);
            return self.io(result);
        }
        while !payload.is_empty() {
            if self.out.len() >= SCRATCH {
                self.write_out()?;
            }
            let take = payload.len().min(SCRATCH - self.out.len());
            let start = self.out.len();
            self.out.extend_from_slice(&payload[..take]);
            self.encoder.mask_payload(&mut self.out[start..]);
            payload = &payload[take..];
        }
        Ok(())
    }

    fn encode_err(&self, e: ws_protocols::EncodeError) -> ClientError {
        ClientError::encode(self.dialect, e)
    }

    /// Send a whole message: one frame, or fragments of `fragment_size`.
    pub(crate) fn send_message(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
    ) -> Result<(), ClientError> {
        if kind == MessageKind::Binary
            && !self.caps.binary
            && self.hixie_binary == HixieBinary::Refuse
        {
            return Err(ClientError::Unsupported {
                dialect: self.dialect,
                what: "binary messages (see ConnectOptions::hixie_binary)",
            });
        }
        let fragment = self
            .fragment_size
            .filter(|&size| self.caps.fragments && payload.len() > size);
        if let Some(size) = fragment {
            let head = self
                .encoder
                .begin(kind, None)
                .map_err(|e| self.encode_err(e))?;
            self.out.extend_from_slice(&head);
            for piece in payload.chunks(size) {
                let head = self
                    .encoder
                    .chunk(piece.len())
                    .map_err(|e| self.encode_err(e))?;
                self.out.extend_from_slice(&head);
                self.append_payload(piece)?;
            }
        } else {
            let len = payload.len();
            let head = self
                .encoder
                .begin(kind, Some(len as u64))
                .map_err(|e| self.encode_err(e))?;
            self.encoder.chunk(len).map_err(|e| self.encode_err(e))?;
            self.out.extend_from_slice(&head);
            self.append_payload(payload)?;
        }
        let tail = self.encoder.end().map_err(|e| self.encode_err(e))?;
        self.out.extend_from_slice(&tail);
        self.write_out()
    }

    /// Send a ping.
    pub(crate) fn ping(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        if !self.caps.ping {
            return Err(ClientError::Unsupported {
                dialect: self.dialect,
                what: "ping",
            });
        }
        self.encoder
            .control(Control::Ping, payload, &mut self.out)
            .map_err(|e| self.encode_err(e))?;
        self.write_out()
    }

    /// Start a message of unknown length.
    pub(crate) fn begin_stream(&mut self, kind: MessageKind) -> Result<(), ClientError> {
        let head = self
            .encoder
            .begin(kind, None)
            .map_err(|e| self.encode_err(e))?;
        // Sent with the first piece (hixie's 00) or nothing at all (framed dialects).
        self.out.extend_from_slice(&head);
        self.utf8.reset();
        Ok(())
    }

    /// Send the next piece of the open message.
    pub(crate) fn stream_chunk(&mut self, data: &[u8]) -> Result<(), ClientError> {
        if self.encoder.open_kind() == Some(MessageKind::Text) {
            let before = self.utf8.clone();
            if self.utf8.feed(data).is_err() {
                self.utf8 = before;
                return Err(ClientError::NotUtf8);
            }
        }
        if data.is_empty() {
            return Ok(());
        }
        let head = self
            .encoder
            .chunk(data.len())
            .map_err(|e| self.encode_err(e))?;
        self.out.extend_from_slice(&head);
        self.append_payload(data)?;
        self.write_out()
    }

    /// Finish the open message (writing its end only if `write`: the connection may have
    /// ended meanwhile). Text that ends inside a character is still ended (the server will
    /// refuse it) and reported as `NotUtf8`.
    pub(crate) fn end_stream(&mut self, write: bool) -> Result<(), ClientError> {
        let complete =
            self.encoder.open_kind() != Some(MessageKind::Text) || self.utf8.finish().is_ok();
        let tail = self.encoder.end().map_err(|e| self.encode_err(e))?;
        if !write || self.close_sent || self.broken {
            // Our close may have gone out between fragments: nothing may follow it.
            self.out.clear();
            return Err(ClientError::Closed);
        }
        self.out.extend_from_slice(&tail);
        self.write_out()?;
        if complete {
            Ok(())
        } else {
            Err(ClientError::NotUtf8)
        }
    }
}
