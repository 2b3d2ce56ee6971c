//! What the loop shares with other threads: the commands they hand it, the counters they
//! read, and the [`Handle`] through which they do both.

use crate::loops::Link;
use crate::stats::{Stats, StatsSnapshot};
use crate::status::{Disclosure, Status};
use crate::Error;
use std::sync::{Arc, Mutex};

/// Work handed to the loop from other threads.
pub(crate) enum Command {
    /// A connection accepted by other code: its socket and the bytes already read from it.
    /// `answered` is `Some(subprotocol)` when the other code already wrote the 101 head.
    Adopt {
        stream: std::net::TcpStream,
        read: Vec<u8>,
        answered: Option<Option<String>>,
        /// The TLS session of a connection whose TLS another server terminated.
        tls: Option<Box<rustls::ServerConnection>>,
    },
    /// Start a graceful shutdown.
    Shutdown,
    /// Call this route's [`Handler::on_wake`] (a [`crate::RouteWaker`] was woken).
    Wake(usize),
    /// Read the TLS certificate and key files again (`Builder::tls`), and give the other
    /// loops what was read.
    ReloadTls,
    /// Serve new connections with this TLS configuration (another loop reloaded it).
    UseTls(Arc<rustls::ServerConfig>),
    /// Take a status snapshot and send it back.
    Status {
        disclosure: crate::status::Disclosure,
        reply: std::sync::mpsc::SyncSender<crate::status::Status>,
        /// Wake this loop once the reply is sent (another loop gathering a status page).
        wake: Option<Arc<mio::Waker>>,
    },
    /// A connection another loop of this server accepted, whose handler lives here
    /// ([`crate::Placement`]): what it read so far, its TLS state, and whether another
    /// server already answered its handshake.
    HandOver {
        stream: mio::net::TcpStream,
        peer: Option<std::net::SocketAddr>,
        read: Vec<u8>,
        answered: Option<Option<String>>,
        tls: Option<Box<crate::tls_layer::TlsLayer>>,
    },
}

/// What one loop shares with other threads.
pub(crate) struct Shared {
    /// Server-wide counters, one set for all the server's loops.
    pub stats: Arc<Stats>,
    pub commands: Mutex<Vec<Command>>,
    /// The loop is running (false once it has stopped, or panicked).
    pub running: std::sync::atomic::AtomicBool,
    /// Connections on this loop, as it last published (for placing new ones where there
    /// are fewest), and connections handed to it and not yet taken.
    pub connections: std::sync::atomic::AtomicUsize,
    pub incoming: std::sync::atomic::AtomicUsize,
}

impl Shared {
    pub(crate) fn new(stats: Arc<Stats>) -> Self {
        Shared {
            stats,
            commands: Mutex::new(Vec::new()),
            running: std::sync::atomic::AtomicBool::new(true),
            connections: std::sync::atomic::AtomicUsize::new(0),
            incoming: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

/// Reaches a running server from any thread. Cheap to clone.
#[derive(Clone)]
pub struct Handle {
    /// Every loop of the server; the first takes what needs one loop.
    loops: Arc<[Link]>,
}

impl Handle {
    pub(crate) fn new(loops: Arc<[Link]>) -> Self {
        Handle { loops }
    }

    /// Send to the first loop (which hands connections on where they belong).
    pub(crate) fn send(&self, command: Command) -> Result<(), Error> {
        self.loops[0].send(command)
    }

    /// Send a command to every loop.
    fn broadcast(&self, command: impl Fn() -> Command) -> Result<(), Error> {
        self.loops
            .iter()
            .map(|l| l.send(command()))
            .fold(Ok(()), Result::and)
    }

    /// Begin a graceful shutdown (of every loop).
    pub fn shutdown(&self) -> Result<(), Error> {
        self.broadcast(|| Command::Shutdown)
    }

    /// Hand over a connection accepted by other code, with the bytes already read from it
    /// (the request head, at least partly, and anything after it). The server reads the
    /// rest of the handshake, answers it, and serves the connection.
    pub fn adopt(&self, stream: std::net::TcpStream, already_read: Vec<u8>) -> Result<(), Error> {
        self.send(Command::Adopt {
            stream,
            read: already_read,
            answered: None,
            tls: None,
        })
    }

    /// [`Handle::adopt`] for a connection on which another server terminated TLS (and read
    /// the request head through it): the socket, its rustls session, and the plaintext
    /// already read. The loop goes on with the same TLS session, so the peer notices
    /// nothing. With tokio-rustls, `TlsStream::into_inner()` gives the tokio socket (then
    /// `into_std()`, set back to blocking mode or not: the loop sets what it needs) and the
    /// `rustls::ServerConnection`; the plaintext the HTTP server buffered after the head
    /// must come along in `already_read`.
    ///
    /// ```no_run
    /// # fn demo(handle: ws::Handle, tcp: std::net::TcpStream, tls: rustls::ServerConnection, head: Vec<u8>) {
    /// // `tls` has finished its handshake and yielded `head`, the upgrade request.
    /// handle.adopt_tls(tcp, tls, head).expect("the loop is running");
    /// # }
    /// ```
    pub fn adopt_tls(
        &self,
        stream: std::net::TcpStream,
        tls: rustls::ServerConnection,
        already_read: Vec<u8>,
    ) -> Result<(), Error> {
        self.send(Command::Adopt {
            stream,
            read: already_read,
            answered: None,
            tls: Some(Box::new(tls)),
        })
    }

    /// Hand over an upgrade request whose head another HTTP server has read (and answered
    /// nothing): `request_head` up to and including the blank line, then whatever was read
    /// after it. Our loop routes it, asks the mounted handler, and answers in its dialect.
    pub fn handle_upgrade(
        &self,
        request_head: &[u8],
        stream: std::net::TcpStream,
        already_read: &[u8],
    ) -> Result<(), Error> {
        self.adopt(stream, [request_head, already_read].concat())
    }

    /// Hand over a connection whose `101` another HTTP server already wrote, built with
    /// [`crate::upgrade_response`] (hyper's way): `request_head` up to and including the
    /// blank line, the subprotocol written into the 101, and the bytes the HTTP server read
    /// after the head (hixie-76's key3 may be among them). The mounted handler's
    /// `on_request` is not asked again: the HTTP server decided.
    pub fn adopt_answered(
        &self,
        request_head: &[u8],
        subprotocol: Option<String>,
        stream: std::net::TcpStream,
        already_read: &[u8],
    ) -> Result<(), Error> {
        self.send(Command::Adopt {
            stream,
            read: [request_head, already_read].concat(),
            answered: Some(subprotocol),
            tls: None,
        })
    }

    /// Read the TLS certificate and key again (what SIGHUP does), for new connections;
    /// open ones keep theirs. A reload that fails keeps the certificate before and is
    /// logged; [`crate::StatsSnapshot::tls_reloads`] and `tls_reload_failures` count both.
    /// Does nothing (but log) on a server built without [`crate::Builder::tls`].
    ///
    /// ```no_run
    /// # let tls = ws::tls::TlsConfig::load(ws::tls::TlsFiles::new("chain.pem", "key.pem")).unwrap();
    /// let server = ws::Server::builder().tls(tls).route("/echo", ws::Echo).bind("0.0.0.0:443")?;
    /// let handle = server.handle();
    /// std::thread::spawn(move || server.run());
    /// // ... after the certificate files were renewed:
    /// handle.reload_tls()?;
    /// # Ok::<(), ws::Error>(())
    /// ```
    pub fn reload_tls(&self) -> Result<(), Error> {
        self.send(Command::ReloadTls)
    }

    /// A snapshot of the server taken on its loop: connections by endpoint and dialect,
    /// handshakes, histograms, sessions and relay clients, and as many names as
    /// `disclosure` allows. Render it with [`Status::to_json`], [`Status::to_prometheus`]
    /// or [`Status::to_html`] to serve it from your own HTTP server. Waits for the loop
    /// (at most 5 seconds); [`Error::Closed`] if it is gone or does not answer.
    ///
    /// ```
    /// # fn main() -> Result<(), ws::Error> {
    /// let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// let handle = server.handle();
    /// std::thread::spawn(move || server.run());
    /// let status = handle.status(ws::Disclosure::Aggregates)?;
    /// assert_eq!(status.endpoints[0].endpoint, "/echo");
    /// let metrics = status.to_prometheus(); // for GET /metrics in your own server
    /// assert!(metrics.contains("# TYPE omniws_handshakes_accepted_total counter"));
    /// # handle.shutdown()
    /// # }
    /// ```
    pub fn status(&self, disclosure: Disclosure) -> Result<Status, Error> {
        let (reply, answers) = std::sync::mpsc::sync_channel(self.loops.len());
        let mut asked = 0;
        for link in self.loops.iter() {
            let command = Command::Status {
                disclosure: disclosure.clone(),
                reply: reply.clone(),
                wake: None,
            };
            if link.alive() && link.send(command).is_ok() {
                asked += 1;
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut merged: Option<Status> = None;
        for _ in 0..asked {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let part = answers.recv_timeout(left).map_err(|_| Error::Closed)?;
            merged = Some(match merged {
                Some(status) => status.merge(part),
                None => part,
            });
        }
        merged.ok_or(Error::Closed)
    }

    /// The server's counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.loops[0].shared.stats.snapshot()
    }
}
