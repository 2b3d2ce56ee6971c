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
//!
//! What to answer, what may be sent and how is decided by the protocol crate's
//! [`Outbound`], the same rules the server follows; this file only carries the answers
//! across threads and does the writing.

use super::error::ClientError;
use super::transport::Transport;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use std::thread;
use std::time::{Duration, Instant};
use ws_protocols::connection::{CloseOutcome, Mask, Outbound, Reply, SendError, Transmit};
use ws_protocols::frame::Control;
use ws_protocols::utf8::Utf8Validator;
use ws_protocols::{Dialect, MessageKind};

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
    /// Plain TCP, or the TLS session shared with the receiver.
    transport: Transport,
    outbound: Outbound,
    /// Bytes not yet written; empty between operations except after `begin_stream`.
    out: Vec<u8>,
    /// Validates a streamed text message, so hixie frames never carry an `FF`.
    utf8: Utf8Validator,
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
        if self.broken || !self.outbound.is_open() || self.shared.finished.load(Ordering::Acquire) {
            Err(ClientError::Closed)
        } else {
            Ok(())
        }
    }

    /// Send our close: code and reason where the dialect carries them, `FF 00` on hixie-76, an
    /// empty close frame on hybi-03, a TCP half-close on hixie-75. Does nothing when a close
    /// has already been sent or the connection has ended.
    pub(crate) fn close(&mut self, code: u16, reason: &str) -> Result<(), ClientError> {
        if self.outbound.close_sent() || self.shared.finished.load(Ordering::Acquire) {
            return Ok(());
        }
        if self.broken {
            return Err(ClientError::Closed);
        }
        let shared = self.shared;
        let w = &mut **self;
        let dialect = w.outbound.dialect();
        let outcome = w
            .outbound
            .close(code, reason, &mut w.out)
            .map_err(|e| refused(dialect, e))?;
        w.closing(shared, outcome)
    }
}

impl WriterGuard<'_> {
    /// The streamed message will never be finished (its writer was dropped): make sure the
    /// server cannot take what was sent of it for a whole message. On dialects with
    /// fragments a close frame goes between two fragments (1011, where there are codes), and
    /// the server drops the unfinished message; no frame can interrupt hixie's `00 …`, so
    /// there the TCP connection goes (an unterminated hixie frame is never delivered).
    pub(crate) fn abandon_stream(&mut self) {
        if self.outbound.close_sent() || self.broken || self.shared.finished.load(Ordering::Acquire)
        {
            return;
        }
        if self.outbound.dialect().caps().fragments {
            let _ = self.close(1011, "message abandoned");
        } else {
            let w = &mut **self;
            let _ = w.stream.shutdown(Shutdown::Both);
            w.outbound.abandon();
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
    pub(crate) fn new(
        stream: TcpStream,
        transport: Transport,
        outbound: Outbound,
        subprotocol: Option<String>,
        headers: Vec<(String, Vec<u8>)>,
        close_timeout: Duration,
    ) -> Shared {
        let peer_addr = stream.peer_addr().ok();
        Shared {
            dialect: outbound.dialect(),
            subprotocol,
            headers,
            peer_addr,
            close_timeout,
            writer: Mutex::new(Writer {
                stream,
                transport,
                outbound,
                out: Vec::new(),
                utf8: Utf8Validator::new(),
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

    /// Owe the server what `reply` asks for (the receiver decoded a ping or a close, or is
    /// failing the connection).
    pub(crate) fn owe(&self, reply: Reply<'_>) {
        {
            let mut owed = lock(&self.owed);
            match reply {
                Reply::Pong(payload) => owed.pong = Some(payload.to_vec()),
                Reply::Close(body) => owed.close = Some(body.to_vec()),
            }
        }
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

/// The client's error for something [`Outbound`] refused.
fn refused(dialect: Dialect, e: SendError) -> ClientError {
    match e {
        SendError::Closed => ClientError::Closed,
        SendError::Unsupported(dialect, "binary messages") => ClientError::Unsupported {
            dialect,
            what: "binary messages (see ConnectOptions::hixie_binary)",
        },
        SendError::Unsupported(dialect, what) => ClientError::Unsupported { dialect, what },
        SendError::Invalid(e) => ClientError::encode(dialect, e),
    }
}

/// Where the writer's bytes go: gathered in `out`, written whenever [`SCRATCH`] bytes are;
/// a large unmasked payload goes to the socket as it is, without a copy.
struct Gather<'a> {
    stream: &'a mut TcpStream,
    transport: &'a Transport,
    out: &'a mut Vec<u8>,
    /// The first write that failed; nothing is written after it.
    error: Option<io::Error>,
}

impl Gather<'_> {
    fn write_out(&mut self) {
        if self.error.is_none() && !self.out.is_empty() {
            if let Err(e) = self.transport.write_all(self.stream, self.out) {
                self.error = Some(e);
            }
        }
        self.out.clear();
        if self.out.capacity() > 4 * SCRATCH {
            self.out.shrink_to(SCRATCH);
        }
    }
}

impl Transmit for Gather<'_> {
    fn queue(&mut self) -> &mut Vec<u8> {
        self.out
    }

    fn payload(&mut self, mut data: &[u8], mut mask: Mask<'_>) {
        if !mask.masks() && data.len() >= SCRATCH {
            // Unmasked: no need to copy a large payload, write it as it is.
            self.write_out();
            if self.error.is_none() {
                if let Err(e) = self.transport.write_all(self.stream, data) {
                    self.error = Some(e);
                }
            }
            return;
        }
        while !data.is_empty() {
            if self.out.len() >= SCRATCH {
                self.write_out();
            }
            let take = data.len().min(SCRATCH - self.out.len());
            let start = self.out.len();
            self.out.extend_from_slice(&data[..take]);
            mask.apply_part(&mut self.out[start..]);
            data = &data[take..];
        }
    }
}

impl Writer {
    /// Run one sending operation on [`Outbound`], gathering into `out` (which keeps what
    /// was not written: a hixie text frame's opening `00` after `begin_stream`), then check
    /// for a failed write.
    fn send<T>(
        &mut self,
        write: bool,
        op: impl FnOnce(&mut Outbound, &mut Gather<'_>) -> Result<T, SendError>,
    ) -> Result<T, ClientError> {
        let dialect = self.outbound.dialect();
        let mut gather = Gather {
            stream: &mut self.stream,
            transport: &self.transport,
            out: &mut self.out,
            error: None,
        };
        let result = op(&mut self.outbound, &mut gather);
        if write || result.is_err() {
            gather.write_out();
        }
        if let Some(e) = gather.error {
            self.broken = true;
            self.outbound.abandon();
            return Err(ClientError::Io(e));
        }
        result.map_err(|e| refused(dialect, e))
    }

    /// After our close went out (or was decided on): mark when, and watch for the answer.
    fn closing(&mut self, shared: &Shared, outcome: CloseOutcome) -> Result<(), ClientError> {
        match outcome {
            CloseOutcome::FrameQueued => self.send(true, |_, _| Ok(()))?,
            // hixie-75 has no closing handshake: the TCP close is the close.
            CloseOutcome::TcpOnly => self.transport.shutdown_write(&mut self.stream)?,
            CloseOutcome::Deferred | CloseOutcome::AlreadyClosing => return Ok(()),
        }
        let _ = shared.close_sent_at.set(Instant::now());
        shared.watch_close(&self.stream);
        Ok(())
    }

    /// Send what is owed; false when something had to stay owed (a close that cannot
    /// interrupt an open hixie text frame: it goes out when the message ends).
    fn flush_owed(&mut self, shared: &Shared) -> bool {
        let mut owed = lock(&shared.owed);
        if owed.is_empty() {
            return true;
        }
        if self.broken || self.outbound.close_sent() {
            // Nothing may follow our close (RFC 6455 §5.5.1).
            *owed = Owed::default();
            return true;
        }
        let mut complete = true;
        if let Some(payload) = owed.pong.take() {
            self.outbound.answer(Reply::Pong(&payload), &mut self.out);
        }
        if let Some(body) = owed.close.take() {
            if !self.outbound.can_send_close() {
                owed.close = Some(body);
                complete = false;
            } else if self.outbound.answer_close(&body, &mut self.out) == CloseOutcome::FrameQueued
            {
                let _ = shared.close_sent_at.set(Instant::now());
            }
        }
        drop(owed);
        let _ = self.send(true, |_, _| Ok(()));
        complete
    }

    /// Send a whole message: one frame, or fragments of `fragment_size`.
    pub(crate) fn send_message(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
    ) -> Result<(), ClientError> {
        self.send(true, |outbound, tx| outbound.send_whole(kind, payload, tx))
    }

    /// Send a ping.
    pub(crate) fn ping(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        self.send(true, |outbound, tx| {
            outbound.control(Control::Ping, payload, tx)
        })
    }

    /// Start a message of unknown length.
    pub(crate) fn begin_stream(&mut self, kind: MessageKind) -> Result<(), ClientError> {
        // Its head goes with the first piece (hixie's 00) or is nothing at all (framed
        // dialects).
        self.send(false, |outbound, tx| outbound.begin(kind, None, tx))?;
        self.utf8.reset();
        Ok(())
    }

    /// Send the next piece of the open message.
    pub(crate) fn stream_chunk(&mut self, data: &[u8]) -> Result<(), ClientError> {
        if self.outbound.open_kind() == Some(MessageKind::Text) {
            let before = self.utf8.clone();
            if self.utf8.feed(data).is_err() {
                self.utf8 = before;
                return Err(ClientError::NotUtf8);
            }
        }
        if data.is_empty() {
            return Ok(());
        }
        self.send(true, |outbound, tx| outbound.chunk(data, tx))
    }

    /// Finish the open message (writing its end only if `write`: the connection may have
    /// ended meanwhile). Text that ends inside a character is still ended (the server will
    /// refuse it) and reported as `NotUtf8`.
    pub(crate) fn end_stream(&mut self, write: bool) -> Result<(), ClientError> {
        let complete =
            self.outbound.open_kind() != Some(MessageKind::Text) || self.utf8.finish().is_ok();
        if !write || self.outbound.close_sent() || self.broken {
            // Our close may have gone out between fragments: nothing may follow it.
            let _ = self.send(false, |outbound, tx| outbound.end(tx));
            self.out.clear();
            return Err(ClientError::Closed);
        }
        self.send(true, |outbound, tx| outbound.end(tx))?;
        if complete {
            Ok(())
        } else {
            Err(ClientError::NotUtf8)
        }
    }
}
