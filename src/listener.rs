//! The listening socket, and what to do when `accept` fails for want of file descriptors.
//!
//! Out of descriptors (EMFILE, ENFILE), `accept` fails and the connection stays in the
//! kernel's backlog. Readiness is edge-triggered, so no new event comes for it: the server
//! would go deaf until another client arrives (and a level-triggered loop would spin at 100%
//! CPU instead). So the listener keeps one descriptor in reserve (`/dev/null`): when it runs
//! out, it gives the reserve up, accepts the waiting connection, answers it `503`, closes it
//! and takes the reserve back, until the backlog is empty. Clients get a clear answer, the
//! loop stays idle, and once connections close the server accepts as before. Where even
//! that fails (no reserve, or other errors such as ENOBUFS), accepting pauses for a short
//! while and is retried, by timer or as soon as a connection is dropped.

use mio::net::{TcpListener, TcpStream};
use std::fs::File;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};
use ws_protocols::handshake::write_error_response;

/// How long accepting pauses after an error it cannot shed.
const PAUSE: Duration = Duration::from_millis(100);
/// At most one warning about failing accepts this often.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// What one call to [`Listener::accept`] gives.
pub(crate) enum Accepted {
    /// A new connection.
    Conn(TcpStream, SocketAddr),
    /// A connection was accepted on the reserve descriptor, answered 503 and closed.
    Shed,
    /// Nothing more to accept now (the backlog is empty, or accepting is paused).
    Done,
}

pub(crate) struct Listener {
    socket: TcpListener,
    /// The descriptor held in reserve for shedding.
    reserve: Option<File>,
    /// Accepting is paused until then.
    paused_until: Option<Instant>,
    last_warning: Option<Instant>,
}

impl Listener {
    pub(crate) fn new(socket: TcpListener) -> Self {
        Listener {
            socket,
            reserve: open_reserve(),
            paused_until: None,
            last_warning: None,
        }
    }

    pub(crate) fn socket_mut(&mut self) -> &mut TcpListener {
        &mut self.socket
    }

    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }

    /// When accepting should be tried again, if it is paused.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// A descriptor is being freed: if accepting is paused, try again at the loop's next
    /// turn rather than at the end of the pause.
    pub(crate) fn unpause(&mut self) {
        if self.paused_until.is_some() {
            self.paused_until = Some(Instant::now());
        }
    }

    /// Accept the next connection. `errors` counts failed accepts.
    pub(crate) fn accept(&mut self, now: Instant, errors: &mut u64) -> Accepted {
        if self.paused_until.is_some_and(|until| now < until) {
            return Accepted::Done;
        }
        self.paused_until = None;
        loop {
            match self.socket.accept() {
                Ok((stream, peer)) => {
                    // Frames are written whole (one writev per flush), so Nagle only delays
                    // them: a small answer behind unacknowledged bytes (a 101 after TLS
                    // session tickets, an echo after the last one) would wait for the
                    // peer's delayed ACK, up to 40 ms on Linux.
                    if let Err(e) = stream.set_nodelay(true) {
                        log::debug!("TCP_NODELAY refused for {peer}: {e}");
                    }
                    return Accepted::Conn(stream, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Accepted::Done,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    *errors += 1;
                    self.warn(now, &e);
                    if out_of_descriptors(&e) && self.shed_one() {
                        return Accepted::Shed;
                    }
                    self.paused_until = Some(now + PAUSE);
                    return Accepted::Done;
                }
            }
        }
    }

    /// Give up the reserve descriptor to accept one connection, answer it 503 and close
    /// it, then take the reserve back. Whether a connection was shed.
    fn shed_one(&mut self) -> bool {
        if self.reserve.take().is_none() {
            return false;
        }
        let shed = match self.socket.accept() {
            Ok((mut stream, peer)) => {
                let mut response = Vec::new();
                write_error_response(503, "server out of file descriptors", &[], &mut response);
                // Best effort: the socket is fresh, its send buffer empty, so this fits.
                let _ = stream.write(&response);
                let _ = stream.shutdown(Shutdown::Write);
                log::debug!("shed {peer}: out of file descriptors");
                true
            }
            Err(_) => false,
        };
        self.reserve = open_reserve();
        shed
    }

    fn warn(&mut self, now: Instant, error: &io::Error) {
        if self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= WARN_EVERY)
        {
            self.last_warning = Some(now);
            log::warn!("accept failed: {error} (new clients get 503 while this lasts)");
        }
    }
}

/// Connections the kernel may hold for us before we accept them. std listens with 128, which
/// a burst of clients overflows (each overflow costs that client a SYN retransmit, one second
/// or more); the kernel caps this at `net.core.somaxconn`.
const BACKLOG: i32 = 4096;

/// Listen on `listener` with a backlog of [`BACKLOG`] (listening again only changes the
/// backlog, on Linux).
pub(crate) fn widen_backlog(listener: &std::net::TcpListener) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: listen on a descriptor we own; it only changes the socket's backlog.
        if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
            log::debug!("listen backlog unchanged: {}", io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (listener, BACKLOG);
}

fn open_reserve() -> Option<File> {
    File::open("/dev/null").ok()
}

/// EMFILE (this process) or ENFILE (the whole system): 24 and 23 on Linux and the BSDs.
fn out_of_descriptors(error: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(error.raw_os_error(), Some(24 | 23))
    }
    #[cfg(not(unix))]
    {
        let _ = error;
        false
    }
}
