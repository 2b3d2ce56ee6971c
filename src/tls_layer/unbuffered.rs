//! The TLS layer of the connections the loop accepts: rustls's unbuffered API
//! (`UnbufferedServerConnection`) over buffers this layer chooses, so that a long transfer
//! costs a few system calls per hundred kilobytes instead of two per 16 KiB record.
//!
//! **Reading.** Once the connection is open the loop hands us its 128 KiB read buffer, and the
//! records are received into that very buffer: one `recv` brings up to 112 KiB, about seven
//! records; rustls decrypts each in place, and its plaintext is copied to the front of the
//! same buffer. The records start [`MAX_PLAINTEXT`] bytes in, one record's plaintext ahead of
//! the plaintext written at the front, and each record adds more than its plaintext, so the
//! plaintext never overtakes a record not yet decrypted. Only
//! the end of a record the `recv` cut in two is kept between reads ([`Unbuffered::input`]).
//! Smaller buffers (the opening handshake's) are served from that kept buffer, one record at
//! a time.
//!
//! **Writing.** Records are encrypted into [`Session::output`], up to [`BATCH`] bytes of
//! plaintext at a time, and leave in one `write`. Each record carries [`RECORD_PLAINTEXT`]
//! bytes, 16 short of the maximum, for the reason given there.
//!
//! **What the buffered `ServerConnection` did for us, and now this file does:** handshake
//! records go out as they are made; a fatal error's alert goes out before the error is
//! returned, and the connection refuses everything after it (rustls would repeat the error
//! only when more records came); `close_notify` when the connection closes gracefully.
//! rustls 0.23's unbuffered API still copies each decrypted record into a `Vec` of its own
//! and each record to encrypt through one; what it saves us is rustls's own receive buffer
//! (one record per `recv`, and a copy to the front of it after each record).

use super::Notify;
use crate::buffer::WriteQueue;
use mio::net::TcpStream;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    AppDataRecord, ConnectionState, EncodeError, EncodeTlsData, EncryptError,
    InsufficientSizeError, UnbufferedStatus, WriteTraffic,
};
use std::io::{self, Read, Write};
use std::sync::Arc;

/// The most plaintext one record carries (RFC 8446 §5.1, RFC 5246 §6.2.1).
const MAX_PLAINTEXT: usize = 1 << 14;

/// The largest record rustls accepts: a 5-byte header and TLS 1.2's allowance of 2048 bytes
/// beyond the plaintext (RFC 5246 §6.2.3).
const MAX_RECORD: usize = 5 + MAX_PLAINTEXT + 2048;

/// What may wait in [`Unbuffered::input`]: rustls joins a handshake message that spans records
/// in place, and allows such a message 64 KiB (as its buffered connection does).
const MAX_INPUT: usize = 0xffff + MAX_RECORD;

/// The smallest read buffer records are received into directly: room for the plaintext
/// margin and three records.
const WIDE: usize = MAX_PLAINTEXT + 3 * MAX_RECORD;

/// The plaintext of each record we encrypt. rustls copies it with `memcpy`, whose `rep
/// movsb` runs several times slower when the destination sits a few bytes above the source
/// modulo 4 KiB (src/read_shift.rs). rustls's destination is a fresh allocation that tends
/// to come back at the same address, so with 16 KiB records, a multiple of 4 KiB, an unlucky
/// connection would pay that on every record; 16 bytes less moves the source by 16 bytes
/// from one record to the next, and the slow case to at most one record in 256.
const RECORD_PLAINTEXT: usize = MAX_PLAINTEXT - 16;

/// Plaintext encrypted before the records are written: what the layer holds beyond the
/// outgoing queue, where the water marks see the backlog (plus a record's worth).
const BATCH: usize = 128 << 10;

/// Room asked for besides a record's plaintext: the header, TLS 1.2's explicit nonce, the
/// tag and TLS 1.3's content type (5 + 8 + 16 + 1), rounded up. rustls says when more is
/// needed (a key update queued in front of the record).
const RECORD_OVERHEAD: usize = 64;

/// Bytes in `buf[start..end]`. `buf` stays initialised to its length, so only growth zeroes
/// memory.
#[derive(Default)]
struct Bytes {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The highest `end` since the buffer last emptied.
    peak: usize,
}

impl Bytes {
    fn len(&self) -> usize {
        self.end - self.start
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }

    /// At least `need` bytes of room after the data.
    fn room(&mut self, need: usize) -> &mut [u8] {
        if self.buf.len() - self.end < need && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < need {
            self.buf.resize(self.end + need, 0);
        }
        &mut self.buf[self.end..]
    }

    /// `n` bytes were written into [`Bytes::room`].
    fn filled(&mut self, n: usize) {
        self.end += n;
        self.peak = self.peak.max(self.end);
    }

    /// The first `n` bytes are done with. Once empty, the buffer starts over at its front,
    /// and its memory is given back unless the fill that just emptied used at least half of
    /// it: a connection that streams keeps its buffer, one that went quiet does not.
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.is_empty() {
            if self.peak * 2 < self.buf.len() {
                self.buf = Vec::new();
            }
            self.start = 0;
            self.end = 0;
            self.peak = 0;
        }
    }

    /// Append `bytes`.
    fn push(&mut self, bytes: &[u8]) {
        self.room(bytes.len())[..bytes.len()].copy_from_slice(bytes);
        self.filled(bytes.len());
    }

    /// Hold exactly `bytes` from now on (nothing at all, memory included, if it is empty).
    fn replace(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            *self = Bytes::default();
            return;
        }
        self.start = 0;
        self.end = 0;
        self.push(bytes);
    }
}

/// What a step found the connection needing.
enum Step {
    /// Call again: it did something and may do more.
    Again,
    /// More received bytes.
    NeedInput,
    /// The plaintext (or `close_notify`) asked for has been encrypted.
    Encrypted,
}

/// What to do if the connection can carry application data.
enum Send<'q> {
    Nothing,
    Queue(&'q mut WriteQueue),
    CloseNotify,
}

/// Everything but the received bytes.
struct Session {
    conn: UnbufferedServerConnection,
    /// Records for the socket.
    output: Bytes,
    /// Plaintext of a record that did not fit the reader's buffer: the next read's.
    left: Bytes,
    /// rustls made handshake records (or an alert) since the last read wrote them.
    encoded: bool,
    /// Plaintext taken from the queue since `output` last emptied: an upper bound on what
    /// still waits in it, counted in the queue the water marks and `buffered_amount` see.
    handed: usize,
    notify: Notify,
    /// The peer's `close_notify` came: nothing more will be read.
    peer_closed: bool,
    /// A fatal error happened: every later call returns it.
    failed: Option<rustls::Error>,
}

/// The engine of the connections the loop accepts (see the module's documentation).
pub(super) struct Unbuffered {
    session: Session,
    /// Received bytes rustls is not done with: between reads, the start of a record the last
    /// `recv` cut off (and any pieces of a handshake message being joined).
    input: Bytes,
}

impl Unbuffered {
    pub(super) fn new(config: Arc<rustls::ServerConfig>) -> Result<Self, rustls::Error> {
        Ok(Unbuffered {
            session: Session {
                conn: UnbufferedServerConnection::new(config)?,
                output: Bytes::default(),
                left: Bytes::default(),
                encoded: false,
                handed: 0,
                notify: Notify::NotSent,
                peer_closed: false,
                failed: None,
            },
            input: Bytes::default(),
        })
    }

    /// Read plaintext into `buf`: one `recv`'s worth of records (more only while none of
    /// them carried plaintext). `Ok(0)` at the end of the stream, `WouldBlock` when nothing
    /// is there.
    pub(super) fn read(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.session.failed {
            return Err(tls_error(e.clone()));
        }
        let left = &mut self.session.left;
        if !left.is_empty() {
            let n = left.len().min(buf.len());
            buf[..n].copy_from_slice(&left.data()[..n]);
            left.consume(n);
            if left.is_empty() {
                *left = Bytes::default();
            }
            return Ok(n);
        }
        if self.session.peer_closed {
            return Ok(0);
        }
        let result = if buf.len() >= WIDE && self.input.len() <= MAX_RECORD {
            self.read_wide(stream, buf)
        } else {
            self.read_narrow(stream, buf)
        };
        if std::mem::take(&mut self.session.encoded) {
            // Handshake records, or the alert of a failure, go out now (the loop counts only
            // what its own flushes write). A WouldBlock leaves them for the next flush.
            let _ = self.session.flush(stream);
        }
        result
    }

    /// Records received into `buf` itself, laid out as
    /// `[plaintext out | margin | records not yet decrypted | free]`.
    fn read_wide(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        let mut start = MAX_PLAINTEXT;
        let mut end = start + self.input.len();
        buf[start..end].copy_from_slice(self.input.data());
        let mut filled = 0;
        loop {
            let (received, ended) = match stream.read(&mut buf[end..]) {
                Ok(0) => (0, Ended::Yes),
                Ok(n) => (n, Ended::No),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => (0, Ended::NotYet),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.input.replace(&buf[start..end]);
                    return Err(e);
                }
            };
            end += received;
            loop {
                let (plain, input) = buf.split_at_mut(start);
                let (discard, step) = self.session.step(
                    &mut input[..end - start],
                    plain,
                    &mut filled,
                    &mut Send::Nothing,
                );
                start += discard;
                match step {
                    Ok(Step::Again) => {}
                    Ok(Step::NeedInput | Step::Encrypted) => break,
                    Err(e) => return Err(self.session.fail(&mut buf[start..end], e)),
                }
            }
            let done = filled > 0 || self.session.peer_closed || ended != Ended::No;
            if done || end - start > MAX_RECORD {
                self.input.replace(&buf[start..end]);
                if !done {
                    // A handshake message longer than a record: joined in `input`.
                    return self.read_narrow(stream, buf);
                }
                return match ended {
                    _ if filled > 0 => Ok(filled),
                    Ended::NotYet if !self.session.peer_closed => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    _ => Ok(0),
                };
            }
            // Only the start of a record so far: receive the rest behind it.
            if buf.len() - end < MAX_RECORD {
                buf.copy_within(start..end, MAX_PLAINTEXT);
                end -= start - MAX_PLAINTEXT;
                start = MAX_PLAINTEXT;
            }
        }
    }

    /// Records received into [`Unbuffered::input`], their plaintext copied to `buf` (what
    /// does not fit waits in `Session::left`).
    fn read_narrow(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        let result = loop {
            loop {
                let (discard, step) =
                    self.session
                        .step(self.input.data_mut(), buf, &mut filled, &mut Send::Nothing);
                self.input.consume(discard);
                match step {
                    Ok(Step::Again) => {}
                    Ok(Step::NeedInput | Step::Encrypted) => break,
                    Err(e) => return Err(self.session.fail(self.input.data_mut(), e)),
                }
            }
            if filled > 0 || !self.session.left.is_empty() || self.session.peer_closed {
                break Ok(filled);
            }
            if self.input.len() >= MAX_INPUT {
                let e = rustls::Error::General("TLS message too large".into());
                return Err(self.session.fail(self.input.data_mut(), e));
            }
            let room = MAX_RECORD.min(MAX_INPUT - self.input.len());
            match stream.read(&mut self.input.room(room)[..room]) {
                Ok(0) => break Ok(0),
                Ok(n) => self.input.filled(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        if self.input.is_empty() {
            self.input = Bytes::default();
        }
        result
    }

    /// Encrypt from `queue`, [`BATCH`] at a time, and write the records until the socket
    /// blocks. Returns the bytes written to the socket.
    pub(super) fn write_from(
        &mut self,
        stream: &mut TcpStream,
        queue: &mut WriteQueue,
    ) -> io::Result<usize> {
        if let Some(e) = &self.session.failed {
            return Err(tls_error(e.clone()));
        }
        let mut written = self.session.flush(stream)?;
        while !queue.is_empty() && self.session.output.is_empty() {
            match self.drive(Send::Queue(queue)) {
                Ok(true) => written += self.session.flush(stream)?,
                Ok(false) => break, // still handshaking
                Err(e) => {
                    // Its alert goes out before the connection is dropped.
                    let _ = self.session.flush(stream);
                    return Err(e);
                }
            }
        }
        Ok(written)
    }

    /// Steps until `send` is done, or the connection cannot send application data yet.
    fn drive(&mut self, mut send: Send<'_>) -> io::Result<bool> {
        loop {
            let (discard, step) =
                self.session
                    .step(self.input.data_mut(), &mut [], &mut 0, &mut send);
            self.input.consume(discard);
            match step {
                Ok(Step::Again) => {}
                Ok(Step::Encrypted) => return Ok(true),
                Ok(Step::NeedInput) => return Ok(false),
                Err(e) => return Err(self.session.fail(self.input.data_mut(), e)),
            }
        }
    }

    /// Write pending records until none is left or the socket blocks; returns the bytes
    /// written.
    pub(super) fn flush(&mut self, stream: &mut TcpStream) -> io::Result<usize> {
        self.session.flush(stream)
    }

    /// Plaintext taken from the queue whose records have not all been written.
    pub(super) fn waiting(&self) -> usize {
        if self.session.output.is_empty() {
            0
        } else {
            self.session.handed
        }
    }

    /// Records are waiting for the socket.
    pub(super) fn has_pending_output(&self) -> bool {
        !self.session.output.is_empty()
    }

    /// Queue our `close_notify` (the TLS end, after the WebSocket close), once. The
    /// unbuffered API sends it only once the handshake is done; before that the connection
    /// just closes.
    pub(super) fn close_notify(&mut self) {
        if self.session.notify == Notify::NotSent && self.session.failed.is_none() {
            self.session.notify = Notify::Sent;
            let _ = self.drive(Send::CloseNotify);
        }
    }
}

/// How a `recv` ended.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Ended {
    /// Bytes came.
    No,
    /// The socket had nothing (`WouldBlock`).
    NotYet,
    /// The stream ended.
    Yes,
}

impl Session {
    /// One step of rustls over `input`, the received bytes it is not done with: plaintext
    /// goes to `plain[*filled..]` (what does not fit, to `left`), handshake records to
    /// `output`, and `send` is carried out if the connection can send application data.
    /// Returns how many bytes at the front of `input` rustls is done with.
    fn step(
        &mut self,
        input: &mut [u8],
        plain: &mut [u8],
        filled: &mut usize,
        send: &mut Send<'_>,
    ) -> (usize, Result<Step, rustls::Error>) {
        let UnbufferedStatus { mut discard, state } = self.conn.process_tls_records(input);
        let step = match state {
            Err(e) => Err(e),
            Ok(ConnectionState::ReadTraffic(mut traffic)) => {
                let mut result = Ok(Step::Again);
                while let Some(record) = traffic.next_record() {
                    match record {
                        Ok(AppDataRecord {
                            discard: more,
                            payload,
                        }) => {
                            discard += more;
                            let n = payload.len().min(plain.len() - *filled);
                            plain[*filled..*filled + n].copy_from_slice(&payload[..n]);
                            *filled += n;
                            self.left.push(&payload[n..]);
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                result
            }
            Ok(ConnectionState::ReadEarlyData(mut early)) => {
                // 0-RTT data (only if the configuration allows it) is not read, as the
                // buffered connection's was not: the request must come once the handshake
                // has made it safe from replay.
                let mut result = Ok(Step::Again);
                while let Some(record) = early.next_record() {
                    match record {
                        Ok(record) => discard += record.discard,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                result
            }
            Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                encode_into(&mut encode, &mut self.output);
                self.encoded = true;
                Ok(Step::Again)
            }
            // `output` is written by the caller.
            Ok(ConnectionState::TransmitTlsData(transmit)) => {
                transmit.done();
                Ok(Step::Again)
            }
            Ok(ConnectionState::PeerClosed) => {
                self.peer_closed = true;
                Ok(Step::Again)
            }
            Ok(ConnectionState::WriteTraffic(mut traffic)) => match send {
                Send::Nothing => Ok(Step::NeedInput),
                Send::Queue(queue) => {
                    encrypt_from(&mut traffic, queue, &mut self.output).map(|taken| {
                        self.handed += taken;
                        Step::Encrypted
                    })
                }
                Send::CloseNotify => close_notify_into(&mut traffic, &mut self.output),
            },
            // BlockedHandshake, Closed (both `close_notify`s are out: nothing more to do)
            Ok(_) => Ok(Step::NeedInput),
        };
        (discard, step)
    }

    /// After a fatal error: put the alert rustls queued, if it sends one, in `output` (for
    /// the caller to write), and refuse everything from now on. Only records rustls already
    /// made are taken: another step would read `input` again and meet the same error.
    fn fail(&mut self, input: &mut [u8], error: rustls::Error) -> io::Error {
        let mut at = 0;
        while self.conn.wants_write() {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(&mut input[at..]);
            let encoded = match state {
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    encode_into(&mut encode, &mut self.output);
                    self.encoded = true;
                    true
                }
                _ => false,
            };
            at += discard;
            if !encoded {
                break;
            }
        }
        self.failed = Some(error.clone());
        tls_error(error)
    }

    /// Write `output` until it is empty or the socket blocks; returns the bytes written.
    fn flush(&mut self, stream: &mut TcpStream) -> io::Result<usize> {
        let mut written = 0;
        while !self.output.is_empty() {
            match stream.write(self.output.data()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.output.consume(n);
                    written += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.output.is_empty() {
            self.handed = 0;
        }
        Ok(written)
    }
}

/// Encrypt up to [`BATCH`] of `queue` into `output`, [`RECORD_PLAINTEXT`] per record; returns
/// the plaintext taken.
fn encrypt_from(
    traffic: &mut WriteTraffic<'_, ServerConnectionData>,
    queue: &mut WriteQueue,
    output: &mut Bytes,
) -> Result<usize, rustls::Error> {
    let mut taken = 0;
    while !queue.is_empty() && taken < BATCH {
        let plain = &queue.front()[..queue.len().min(RECORD_PLAINTEXT)];
        let mut need = plain.len() + RECORD_OVERHEAD;
        let written =
            loop {
                match traffic.encrypt(plain, output.room(need)) {
                    Ok(n) => break n,
                    Err(EncryptError::InsufficientSize(InsufficientSizeError {
                        required_size,
                    })) if required_size > need => need = required_size,
                    Err(_) => return Err(rustls::Error::EncryptError),
                }
            };
        output.filled(written);
        let n = plain.len();
        queue.consume(n);
        taken += n;
    }
    Ok(taken)
}

/// A handshake record (or alert) rustls made, into `output`.
fn encode_into(encode: &mut EncodeTlsData<'_, ServerConnectionData>, output: &mut Bytes) {
    let mut need = 0;
    loop {
        match encode.encode(output.room(need)) {
            Ok(n) => return output.filled(n),
            Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size }))
                if required_size > need =>
            {
                need = required_size
            }
            Err(_) => return,
        }
    }
}

/// Our `close_notify`, encrypted into `output`.
fn close_notify_into(
    traffic: &mut WriteTraffic<'_, ServerConnectionData>,
    output: &mut Bytes,
) -> Result<Step, rustls::Error> {
    let mut need = RECORD_OVERHEAD;
    loop {
        match traffic.queue_close_notify(output.room(need)) {
            Ok(n) => {
                output.filled(n);
                return Ok(Step::Encrypted);
            }
            Err(EncryptError::InsufficientSize(InsufficientSizeError { required_size }))
                if required_size > need =>
            {
                need = required_size
            }
            Err(_) => return Err(rustls::Error::EncryptError),
        }
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}
