//! One connection's TLS layer, driven without blocking from the mio loop: records come off
//! the socket, plaintext goes into the loop's read buffer; plaintext from the outgoing queue
//! is encrypted, records go to the socket.
//!
//! Two engines do this:
//! - [`unbuffered`], for every connection the loop accepted itself: rustls's unbuffered API
//!   over buffers this layer owns, many records per system call (the wss:// pipe's cost);
//! - [`adopted`], for a session another server began and handed over with
//!   `Handle::adopt_tls`: that arrives as a buffered `rustls::ServerConnection`, perhaps with
//!   plaintext already inside, and goes on as one.
//!
//! Both promise the loop the same things: plaintext still inside the layer is counted in
//! [`TlsLayer::waiting`] (the water marks and `buffered_amount` see it), a fatal error's
//! alert is written before the error is returned, and `close_notify` ends a graceful close.

mod adopted;
#[cfg(test)]
mod tests;
mod unbuffered;

use crate::buffer::WriteQueue;
use mio::net::TcpStream;
use rustls::ServerConnection;
use std::io;
use std::sync::Arc;

/// The first byte of a TLS record carrying a handshake message (a ClientHello): how a
/// connection on a port that serves both schemes is recognised as TLS.
pub(crate) const HANDSHAKE_RECORD: u8 = 0x16;

/// Whether our `close_notify` has been queued.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Notify {
    NotSent,
    Sent,
}

/// The TLS state of one connection.
pub(crate) struct TlsLayer {
    engine: Engine,
}

enum Engine {
    Unbuffered(unbuffered::Unbuffered),
    Adopted(adopted::Adopted),
}

impl TlsLayer {
    pub(crate) fn new(config: Arc<rustls::ServerConfig>) -> Result<Self, rustls::Error> {
        Ok(TlsLayer {
            engine: Engine::Unbuffered(unbuffered::Unbuffered::new(config)?),
        })
    }

    /// Go on with a session another server began (`Handle::adopt_tls`).
    pub(crate) fn adopt(tls: ServerConnection) -> Self {
        TlsLayer {
            engine: Engine::Adopted(adopted::Adopted::new(tls)),
        }
    }

    /// Read plaintext into `buf`: `Ok(0)` once the stream has ended (after the peer's
    /// `close_notify`, or TCP's end without it), `WouldBlock` when nothing is there yet.
    /// Handshake answers go out on the way.
    pub(crate) fn read(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.engine {
            Engine::Unbuffered(e) => e.read(stream, buf),
            Engine::Adopted(e) => e.read(stream, buf),
        }
    }

    /// Encrypt what the layer takes of `queue` and write records to the socket until it
    /// blocks. Returns the bytes written to the socket.
    pub(crate) fn write_from(
        &mut self,
        stream: &mut TcpStream,
        queue: &mut WriteQueue,
    ) -> io::Result<usize> {
        match &mut self.engine {
            Engine::Unbuffered(e) => e.write_from(stream, queue),
            Engine::Adopted(e) => e.write_from(stream, queue),
        }
    }

    /// Write pending records until none is left or the socket blocks; returns the bytes
    /// written.
    pub(crate) fn flush(&mut self, stream: &mut TcpStream) -> io::Result<usize> {
        match &mut self.engine {
            Engine::Unbuffered(e) => e.flush(stream),
            Engine::Adopted(e) => e.flush(stream),
        }
    }

    /// Plaintext the layer took from the queue that has not all reached the socket yet (an
    /// upper bound).
    pub(crate) fn waiting(&self) -> usize {
        match &self.engine {
            Engine::Unbuffered(e) => e.waiting(),
            Engine::Adopted(e) => e.waiting(),
        }
    }

    /// Records are waiting for the socket.
    pub(crate) fn has_pending_output(&self) -> bool {
        match &self.engine {
            Engine::Unbuffered(e) => e.has_pending_output(),
            Engine::Adopted(e) => e.has_pending_output(),
        }
    }

    /// Queue our `close_notify` (the TLS end, after the WebSocket close), once.
    pub(crate) fn close_notify(&mut self) {
        match &mut self.engine {
            Engine::Unbuffered(e) => e.close_notify(),
            Engine::Adopted(e) => e.close_notify(),
        }
    }
}
