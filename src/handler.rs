//! What an application implements: callbacks for one route's connections.

use crate::socket::{CloseInfo, Socket, SocketId};
use crate::Error;
use ws_protocols::handshake::Request;
use ws_protocols::message::Message;
use ws_protocols::MessageKind;

/// The answer to an upgrade request, given before the handshake completes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Accept, with this subprotocol (which the client must have offered).
    Accept {
        /// The chosen subprotocol, if any.
        subprotocol: Option<String>,
    },
    /// Refuse with this HTTP status and a one-line reason.
    Reject {
        /// 4xx or 5xx.
        status: u16,
        /// One line for the response body and the log.
        reason: String,
    },
}

impl Decision {
    /// Accept without a subprotocol.
    pub fn accept() -> Self {
        Decision::Accept { subprotocol: None }
    }

    /// Refuse with `status` and `reason`.
    pub fn reject(status: u16, reason: impl Into<String>) -> Self {
        Decision::Reject {
            status,
            reason: reason.into(),
        }
    }
}

/// Callbacks for the connections of one route. One handler object serves all of the
/// route's connections (the loop is single-threaded); each callback names the connection
/// by id, and [`Cx`] reaches it or any other connection.
///
/// Every method has a default: implement only what you need.
///
/// ```
/// use ws::{Cx, Handler, SocketId};
/// use ws::protocols::message::Message;
///
/// /// Echo every message back to its sender.
/// struct Echo;
///
/// impl Handler for Echo {
///     fn on_message(&mut self, cx: &mut Cx<'_>, id: SocketId, message: Message<'_>) {
///         if let Some(socket) = cx.socket(id) {
///             // A full buffer is the only likely failure; the loop's backpressure
///             // (reading pauses above the high-water mark) keeps that rare.
///             let _ = socket.send(message);
///         }
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait Handler: Send {
    /// Inspect an upgrade request (path, headers, cookies, origin) before the handshake
    /// completes. `suggested` is the subprotocol the route and settings would pick.
    fn on_request(&mut self, request: &Request, suggested: Option<&str>) -> Decision {
        Decision::Accept {
            subprotocol: suggested.map(str::to_owned),
        }
    }
    /// The handshake completed; the socket is open.
    fn on_open(&mut self, cx: &mut Cx<'_>, id: SocketId) {}
    /// A whole message arrived (`Delivery::Whole`).
    fn on_message(&mut self, cx: &mut Cx<'_>, id: SocketId, message: Message<'_>) {}
    /// A message begins (`Delivery::Stream`); `len` when the wire says it up front.
    fn on_message_start(
        &mut self,
        cx: &mut Cx<'_>,
        id: SocketId,
        kind: MessageKind,
        len: Option<u64>,
    ) {
    }
    /// The next bytes of the current message (`Delivery::Stream`).
    fn on_message_data(&mut self, cx: &mut Cx<'_>, id: SocketId, data: &[u8]) {}
    /// The current message is complete (`Delivery::Stream`).
    fn on_message_end(&mut self, cx: &mut Cx<'_>, id: SocketId) {}
    /// A ping arrived; the pong has already been queued.
    fn on_ping(&mut self, cx: &mut Cx<'_>, id: SocketId, payload: &[u8]) {}
    /// A pong arrived.
    fn on_pong(&mut self, cx: &mut Cx<'_>, id: SocketId, payload: &[u8]) {}
    /// The connection ended (after `on_open`). The socket is no longer reachable.
    fn on_close(&mut self, cx: &mut Cx<'_>, id: SocketId, close: &CloseInfo) {}
    /// Something went wrong on the connection (a protocol error from the peer, an I/O
    /// error); `on_close` follows.
    fn on_error(&mut self, cx: &mut Cx<'_>, id: SocketId, error: &Error) {}
    /// The connection's outgoing queue fell below the low-water mark after passing the high
    /// one, or to the level asked with [`Cx::notify_drain`]: a good time to resume whatever
    /// feeds it.
    fn on_drain(&mut self, cx: &mut Cx<'_>, id: SocketId) {}
    /// The timer set with [`Cx::set_timer`] for this connection fired.
    fn on_timer(&mut self, cx: &mut Cx<'_>, id: SocketId) {}
    /// A [`RouteWaker`] of this route was woken (from any thread): a good time to pick up
    /// work other threads left for the handler, such as messages to send.
    fn on_wake(&mut self, cx: &mut Cx<'_>) {}
}

/// Wakes one route's handler from any thread: the loop calls [`Handler::on_wake`] soon
/// after [`RouteWaker::wake`]. Get one with [`Cx::waker`]; cheap to clone.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use ws::{Cx, Handler, RouteWaker, SocketId};
///
/// /// Broadcasts lines that other threads push into `outbox`.
/// #[derive(Default)]
/// struct Broadcast {
///     outbox: Arc<Mutex<Vec<String>>>,
///     waker: Arc<Mutex<Option<RouteWaker>>>,
///     members: Vec<SocketId>,
/// }
///
/// impl Handler for Broadcast {
///     fn on_open(&mut self, cx: &mut Cx<'_>, id: SocketId) {
///         self.members.push(id);
///         *self.waker.lock().unwrap() = Some(cx.waker());
///     }
///     fn on_wake(&mut self, cx: &mut Cx<'_>) {
///         for line in self.outbox.lock().unwrap().drain(..) {
///             for &id in &self.members {
///                 if let Some(socket) = cx.socket(id) {
///                     let _ = socket.send_text(&line);
///                 }
///             }
///         }
///     }
/// }
/// ```
#[derive(Clone)]
pub struct RouteWaker {
    route: usize,
    server: crate::Handle,
}

impl RouteWaker {
    /// Ask the loop to call the route's [`Handler::on_wake`]. Fails only when the server
    /// has stopped.
    pub fn wake(&self) -> Result<(), Error> {
        self.server
            .send(crate::event_loop::Command::Wake(self.route))
    }
}

impl std::fmt::Debug for RouteWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RouteWaker(route {})", self.route)
    }
}

/// The handler's access to the server's connections during a callback.
pub struct Cx<'a> {
    pub(crate) conns: &'a mut crate::slab::Slab<crate::conn::Conn>,
    pub(crate) touched: &'a mut Vec<SocketId>,
    pub(crate) clients: Option<&'a std::collections::BTreeSet<SocketId>>,
    pub(crate) timers: &'a mut crate::timers::Timers,
    pub(crate) route: usize,
    pub(crate) shared: &'a std::sync::Arc<crate::event_loop::Shared>,
    pub(crate) waker: &'a std::sync::Arc<mio::Waker>,
    pub(crate) registry: &'a mio::Registry,
    pub(crate) settings: &'a crate::Settings,
}

impl Cx<'_> {
    /// [`Cx::connect`] by URL, with the blocking client's [`crate::ConnectOptions`]: its
    /// dialect, subprotocols, origin and extra headers (its timeouts and limits are the
    /// blocking client's; here the server's settings apply). The host name is resolved
    /// here, on the loop, which blocks while the resolver works: pass an IP address (as
    /// in `ws://127.0.0.1:9000/feed`) or resolve beforehand on another thread to keep the
    /// loop responsive.
    ///
    /// ```no_run
    /// use ws::protocols::Dialect;
    /// use ws::{ConnectOptions, Cx, Handler, SocketId};
    ///
    /// struct Upstream;
    /// impl Handler for Upstream {
    ///     fn on_open(&mut self, cx: &mut Cx<'_>, id: SocketId) {
    ///         let options = ConnectOptions::default().dialect(Dialect::Hybi07);
    ///         let _ = cx.connect_url("ws://127.0.0.1:9000/feed", &options);
    ///     }
    /// }
    /// ```
    pub fn connect_url(
        &mut self,
        url: &str,
        options: &crate::ConnectOptions,
    ) -> Result<SocketId, crate::ClientError> {
        use std::net::ToSocketAddrs;
        options.validate().map_err(crate::ClientError::Config)?;
        let url = crate::client::WsUrl::parse(url)?;
        let addr = (url.dns_host(), url.port())
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "the host has no address")
            })?;
        crate::client::with_config(&url, options, |config| self.connect(addr, config)).map_err(
            |e| match e {
                Error::Io(e) => crate::ClientError::Io(e),
                other => crate::ClientError::Io(std::io::Error::other(other.to_string())),
            },
        )
    }

    /// Open a WebSocket connection to a server at `addr`, in any dialect, served by this
    /// route's handler like the connections it accepts: `on_open` when the server's answer
    /// passes every check, then the same events and the same [`Socket`] calls (our frames
    /// are masked, as a client's must be). If the connection or the handshake fails, the
    /// handler gets `on_error` (with [`Error::Connect`] for a refused or wrong answer) and
    /// `on_close` with 1006, without `on_open`. The server settings apply (handshake
    /// timeout, limits, keepalive); `max_connections` counts only accepted connections.
    ///
    /// Connecting does not block: the id is returned at once. Resolve host names before,
    /// off the loop; `config.host` is only what the `Host` header says.
    ///
    /// ```no_run
    /// use ws::protocols::handshake::ClientConfig;
    /// use ws::protocols::Dialect;
    /// use ws::{Cx, Handler, SocketId};
    ///
    /// /// Relays what its clients say to an upstream hixie-76 server.
    /// struct Bridge { upstream: Option<SocketId> }
    ///
    /// impl Handler for Bridge {
    ///     fn on_open(&mut self, cx: &mut Cx<'_>, id: SocketId) {
    ///         if self.upstream.is_none() {
    ///             let addr = "127.0.0.1:9000".parse().unwrap();
    ///             let config = ClientConfig::new(Dialect::Hixie76, "127.0.0.1:9000", "/feed");
    ///             self.upstream = cx.connect(addr, &config).ok();
    ///         }
    ///     }
    /// }
    /// ```
    pub fn connect(
        &mut self,
        addr: std::net::SocketAddr,
        config: &ws_protocols::handshake::ClientConfig<'_>,
    ) -> Result<SocketId, Error> {
        let (handshake, request) = crate::client::opening_request(config)?;
        let stream = mio::net::TcpStream::connect(addr)?;
        let id = crate::event_loop::insert_conn(
            self.conns,
            self.registry,
            self.timers,
            self.settings,
            &self.shared.stats,
            stream,
            Some(addr),
        )?;
        let conn = self.conns.get_mut(id).expect("just inserted");
        conn.route = Some(self.route);
        conn.outgoing = true;
        conn.client_handshake = Some(handshake);
        // Sent once the connection is up: until then writes would block, and the
        // writable event that follows the connect flushes the queue.
        conn.out.extend(&request);
        self.touched.push(id);
        log::debug!("{id}: connecting to {addr} ({})", config.dialect);
        Ok(id)
    }

    /// A waker for this route's handler, to hand to other threads.
    pub fn waker(&self) -> RouteWaker {
        RouteWaker {
            route: self.route,
            server: crate::Handle::new(self.shared, self.waker),
        }
    }

    /// The open (or closing) connection `id`, if it still exists.
    pub fn socket(&mut self, id: SocketId) -> Option<&mut dyn Socket> {
        let conn = self.conns.get_mut(id)?;
        self.touched.push(id);
        Some(conn as &mut dyn Socket)
    }

    /// Stop reading from `id` (its peer's TCP window then fills and it slows down) until
    /// [`Cx::resume`]. This is how a handler applies backpressure across connections.
    pub fn pause(&mut self, id: SocketId) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.paused_by_app = true;
            self.touched.push(id);
        }
    }

    /// Resume reading from `id` after [`Cx::pause`].
    pub fn resume(&mut self, id: SocketId) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.paused_by_app = false;
            self.touched.push(id);
        }
    }

    /// Call [`Handler::on_drain`] for `id` once its outgoing queue holds at most `level`
    /// bytes (at once if it already does, after the next flush). One watch per connection.
    pub fn notify_drain(&mut self, id: SocketId, level: usize) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.drain_watch = Some(level);
            self.touched.push(id);
        }
    }

    /// Call [`Handler::on_timer`] for `id` after `delay` (one timer per connection: setting
    /// it again replaces it; [`Cx::cancel_timer`] cancels it).
    pub fn set_timer(&mut self, id: SocketId, delay: std::time::Duration) {
        if let Some(conn) = self.conns.get_mut(id) {
            let at = std::time::Instant::now() + delay;
            self.timers
                .arm(&mut conn.deadlines, id, crate::timers::TimerKind::App, at);
        }
    }

    /// Cancel the timer set with [`Cx::set_timer`] for `id`.
    pub fn cancel_timer(&mut self, id: SocketId) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.deadlines[crate::timers::TimerKind::App as usize] = None;
        }
    }

    /// The open connections of the current route (empty unless client tracking is on).
    pub fn clients(&self) -> impl Iterator<Item = SocketId> + '_ {
        self.clients.into_iter().flatten().copied()
    }

    /// A handler that holds bytes on its connections' behalf (pipe sessions' hold queues)
    /// tells the server's memory budget that its share went from `before` to `after`.
    pub(crate) fn held_changed(&mut self, before: usize, after: usize) {
        crate::stats::adjust(&self.shared.stats.session_held_bytes, before, after);
    }

    /// Whether the server holds more than its memory budget allows.
    pub(crate) fn over_memory_budget(&self) -> bool {
        self.shared.stats.over_budget(0)
    }

    /// How many connections the current route has open.
    pub fn client_count(&self) -> usize {
        self.clients.map_or(0, |c| c.len())
    }
}
