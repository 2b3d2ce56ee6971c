//! The TLS layer of a connection whose TLS another server began (`Handle::adopt_tls`): it
//! arrives as a buffered `rustls::ServerConnection`, perhaps with plaintext already inside it,
//! and goes on as one. Records come off the socket into rustls, plaintext comes out into the
//! loop's read buffer; plaintext from the outgoing queue goes into rustls, records go to the
//! socket. rustls keeps at most [`BUFFER_LIMIT`] bytes of plaintext waiting to be encrypted,
//! so the outgoing queue, which the water marks watch, stays where the backlog is.

use super::Notify;
use crate::buffer::WriteQueue;
use mio::net::TcpStream;
use rustls::ServerConnection;
use std::io::{self, Read, Write};

/// Plaintext rustls may hold for encryption beyond what it has written; the rest waits in
/// the connection's outgoing queue, where the backpressure rules see it.
const BUFFER_LIMIT: usize = 64 << 10;

pub(super) struct Adopted {
    tls: ServerConnection,
    notify: Notify,
    /// Plaintext handed to rustls since its records last all reached the socket: an upper
    /// bound on what it still holds for us (rustls does not say), counted in the queue the
    /// water marks and `buffered_amount` see.
    handed_since_drained: usize,
}

impl Adopted {
    pub(super) fn new(mut tls: ServerConnection) -> Self {
        tls.set_buffer_limit(Some(BUFFER_LIMIT));
        Adopted {
            tls,
            notify: Notify::NotSent,
            handed_since_drained: 0,
        }
    }

    /// Read plaintext into `buf`: records are taken off the socket until some plaintext is
    /// there, the socket has nothing more (`WouldBlock`), or it ends (`Ok(0)`, also after
    /// the peer's `close_notify`). Handshake answers go out on the way.
    pub(super) fn read(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed TCP without close_notify: an end like any other for us
                // (the WebSocket close, or its absence, says whether it was clean).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.tls.read_tls(stream)? == 0 {
                return Ok(0);
            }
            if let Err(e) = self.tls.process_new_packets() {
                // Its alert goes out before the connection is dropped.
                let _ = self.flush(stream);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            if self.tls.wants_write() {
                // A WouldBlock here leaves the records for the next flush.
                let _ = self.flush(stream);
            }
        }
    }

    /// Move as much of `queue` as rustls takes into it, encrypted, and write records to
    /// the socket until it blocks. Returns the bytes written to the socket.
    pub(super) fn write_from(
        &mut self,
        stream: &mut TcpStream,
        queue: &mut WriteQueue,
    ) -> io::Result<usize> {
        let mut written = self.flush(stream)?;
        while !queue.is_empty() && !self.tls.is_handshaking() {
            let taken = self.tls.writer().write(queue.front())?;
            if taken == 0 {
                break;
            }
            queue.consume(taken);
            self.handed_since_drained += taken;
            let n = self.flush(stream)?;
            written += n;
            if self.tls.wants_write() {
                break; // the socket is full
            }
        }
        Ok(written)
    }

    /// Write pending records until none is left or the socket blocks; returns the bytes
    /// written.
    pub(super) fn flush(&mut self, stream: &mut TcpStream) -> io::Result<usize> {
        let mut written = 0;
        while self.tls.wants_write() {
            match self.tls.write_tls(stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if !self.tls.wants_write() {
            self.handed_since_drained = 0;
        }
        Ok(written)
    }

    /// Plaintext rustls may still hold for the socket (at most about [`BUFFER_LIMIT`]).
    pub(super) fn waiting(&self) -> usize {
        if self.tls.wants_write() {
            self.handed_since_drained
        } else {
            0
        }
    }

    /// Records are waiting for the socket.
    pub(super) fn has_pending_output(&self) -> bool {
        self.tls.wants_write()
    }

    /// Queue our `close_notify` (the TLS end, after the WebSocket close), once.
    pub(super) fn close_notify(&mut self) {
        if self.notify == Notify::NotSent {
            self.tls.send_close_notify();
            self.notify = Notify::Sent;
        }
    }
}
