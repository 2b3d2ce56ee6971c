//! A handler's reach during a callback ([`Cx`]): the server's connections, pausing, timers,
//! outgoing connections; and [`RouteWaker`], which other threads use to call a route's
//! handler.

use crate::handle::Command;
use crate::socket::{Socket, SocketId};
use crate::Error;

/// Wakes one route's handler from any thread: the loop calls [`crate::Handler::on_wake`] soon
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
    /// Ask the loop to call the route's [`crate::Handler::on_wake`]. Fails only when the server
    /// has stopped.
    pub fn wake(&self) -> Result<(), Error> {
        self.server.send(Command::Wake(self.route))
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
    pub(crate) shared: &'a std::sync::Arc<crate::handle::Shared>,
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
        let id = crate::conn::insert_conn(
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
        conn.opening().client_handshake = Some(handshake);
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
            server: crate::Handle::new(std::sync::Arc::new([crate::loops::Link {
                shared: std::sync::Arc::clone(self.shared),
                waker: std::sync::Arc::clone(self.waker),
            }])),
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

    /// Call [`crate::Handler::on_drain`] for `id` once its outgoing queue holds at most `level`
    /// bytes (at once if it already does, after the next flush). One watch per connection.
    pub fn notify_drain(&mut self, id: SocketId, level: usize) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.drain_watch = Some(level);
            self.touched.push(id);
        }
    }

    /// Call [`crate::Handler::on_timer`] for `id` after `delay` (one timer per connection: setting
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

    /// The open connections of the current route (empty unless client tracking is on), on
    /// this loop: with several loops ([`crate::Builder::threads`]) a handler made per loop
    /// sees its own loop's; a route mounted with [`crate::Mount::new`] has all of them here.
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

    /// How many connections the current route has open on this loop (see [`Cx::clients`]).
    pub fn client_count(&self) -> usize {
        self.clients.map_or(0, |c| c.len())
    }
}
