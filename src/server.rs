//! Building and running a server, and reaching it from other threads.

use crate::event_loop::EventLoop;
use crate::handle::Handle;
use crate::handler::Handler;
use crate::loops::Link;
use crate::plain_http::HttpHandler;
use crate::router::Mount;
use crate::settings::Settings;
use crate::stats::Stats;
use crate::Error;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

/// Collects settings and mounts, then binds.
///
/// ```no_run
/// use ws::{Server, Settings, Handler};
/// struct Echo;
/// impl Handler for Echo {}
/// let server = Server::builder()
///     .settings(Settings::default().max_connections(1000))
///     .route("/echo", Echo)
///     .bind("127.0.0.1:0")?;
/// println!("listening on {:?}", server.local_addr());
/// server.run()?;
/// # Ok::<(), ws::Error>(())
/// ```
#[derive(Default)]
pub struct Builder {
    settings: Settings,
    mounts: Vec<Mount>,
    plain_http: Option<Box<dyn HttpHandler>>,
    tls: Option<crate::tls::TlsConfig>,
    threads: usize,
}

impl Builder {
    /// Use these settings (default: [`Settings::default`]).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Mount `handler` at `pattern` (`/exact`, `/prefix/*` or `*`). Routes are tried in the
    /// order they were added.
    pub fn route(self, pattern: &str, handler: impl Handler + 'static) -> Self {
        self.mount(Mount::new(pattern, handler))
    }

    /// Add a [`Mount`] (path pattern, subprotocol, delivery).
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Answer plain HTTP requests (no upgrade) with `handler` instead of `501 Not
    /// Implemented`: one request per connection, body up to 64 KiB by `Content-Length`.
    ///
    /// ```no_run
    /// use ws::{HttpHandler, HttpRequest, HttpResponse, Server};
    /// struct Health;
    /// impl HttpHandler for Health {
    ///     fn handle(&mut self, _request: &HttpRequest) -> HttpResponse {
    ///         HttpResponse::text(200, "ok")
    ///     }
    /// }
    /// let server = Server::builder().plain_http(Health).bind("127.0.0.1:0")?;
    /// # Ok::<(), ws::Error>(())
    /// ```
    pub fn plain_http(mut self, handler: impl HttpHandler + 'static) -> Self {
        self.plain_http = Some(Box::new(handler));
        self
    }

    /// Serve `wss://` beside `ws://` on the same port with this certificate and key
    /// ([`Settings::tls`] is set from it), and reread them on SIGHUP (with
    /// [`Server::handle_signals`]) and on [`Handle::reload_tls`].
    ///
    /// ```no_run
    /// use ws::tls::{TlsConfig, TlsFiles};
    /// let tls = TlsConfig::load(TlsFiles::new("chain.pem", "key.pem")).expect("certificate");
    /// let server = ws::Server::builder().tls(tls).route("/echo", ws::Echo).bind("0.0.0.0:443")?;
    /// # Ok::<(), ws::Error>(())
    /// ```
    pub fn tls(mut self, tls: crate::tls::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Listen on `addr`.
    pub fn bind(self, addr: impl ToSocketAddrs) -> Result<Server, Error> {
        let listener = TcpListener::bind(addr)?;
        crate::listener::widen_backlog(&listener);
        self.into_server(Some(listener))
    }

    /// Run `threads` loops, each on its own thread. The first accepts every connection and
    /// hands each to the loop with the fewest. Each loop is single-threaded as before; routes mounted with [`Mount::per_loop`] get a handler on
    /// each, routes mounted with [`Mount::new`] keep their one handler on the first loop,
    /// which serves all their connections, and connections a handler places together
    /// ([`crate::Placement`], a pipe session's members) meet on one loop. Counters, limits,
    /// [`Handle::status`], shutdown and certificate reloads span every loop. Default 1.
    ///
    /// ```
    /// use ws::{Echo, Mount, Server};
    /// let server = Server::builder()
    ///     .threads(2)
    ///     .mount(Mount::per_loop("/echo", || Echo))
    ///     .bind("127.0.0.1:0")?;
    /// let handle = server.handle();
    /// std::thread::spawn(move || server.run());
    /// handle.shutdown()?;
    /// # Ok::<(), ws::Error>(())
    /// ```
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    fn into_server(self, listener: Option<TcpListener>) -> Result<Server, Error> {
        let mut settings = self.settings;
        if let Some(tls) = &self.tls {
            settings.tls = Some(tls.current());
        }
        let threads = self.threads.max(1);
        // Each loop keeps its share of the handshake budget; every other limit is counted
        // over all of them.
        settings.max_handshaking = settings.max_handshaking.div_ceil(threads);
        let stats = Arc::new(Stats::default());
        let mut first =
            EventLoop::new(settings.clone(), self.mounts, listener, Arc::clone(&stats))?;
        first.plain_http = self.plain_http;
        first.tls_source = self.tls.clone();
        let mut loops = vec![first];
        for _ in 1..threads {
            let mounts = loops[0].replicate_mounts();
            let mut event_loop =
                EventLoop::new(settings.clone(), mounts, None, Arc::clone(&stats))?;
            event_loop.tls_source = self.tls.clone();
            loops.push(event_loop);
        }
        let links: Arc<[Link]> = loops
            .iter()
            .map(|l| Link {
                shared: Arc::clone(&l.shared),
                waker: Arc::clone(&l.waker),
            })
            .collect();
        for (index, event_loop) in loops.iter_mut().enumerate() {
            event_loop.index = index;
            event_loop.links = Arc::clone(&links);
        }
        Ok(Server { loops, links })
    }

    /// A server with no listener of its own: connections arrive through
    /// [`Handle::adopt`] from an HTTP server that already accepted them (see [`crate::attach`]).
    pub fn detached(self) -> Result<Server, Error> {
        self.into_server(None)
    }
}

/// A bound server, ready to [`Server::run`].
pub struct Server {
    /// The first loop takes signals, plain HTTP and the routes with one handler.
    loops: Vec<EventLoop>,
    links: Arc<[Link]>,
}

impl Server {
    /// Start building a server.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The address the listener is bound to (None for a detached server).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.loops[0].local_addr()
    }

    /// A handle to shut the server down, hand it connections, or read its counters, from
    /// any thread.
    pub fn handle(&self) -> Handle {
        Handle::new(Arc::clone(&self.links))
    }

    /// Shut down gracefully on SIGINT and SIGTERM (what the command-line server does).
    /// Installs process-wide signal handlers, so it is opt-in for embedders.
    pub fn handle_signals(mut self) -> Result<Self, Error> {
        self.loops[0].handle_signals()?;
        Ok(self)
    }

    /// Run the event loop on this thread until shutdown: stop accepting, send a close
    /// (1001 where the dialect has codes) to every connection, wait at most the close
    /// timeout, return. With [`Builder::threads`], the first loop runs on this thread and
    /// each other one on a thread of its own; this returns once all have stopped. A loop
    /// that panics (in a handler) takes its own connections down and no others: the rest
    /// go on serving, new connections that belong to it are refused with 503, and the
    /// panic is logged and returned here as [`Error::LoopPanicked`].
    pub fn run(self) -> Result<(), Error> {
        let mut loops = self.loops.into_iter();
        let first = loops.next().expect("a server has a loop");
        let others: Vec<_> = loops
            .enumerate()
            .map(|(i, event_loop)| {
                std::thread::Builder::new()
                    .name(format!("omniws-loop-{}", i + 1))
                    .spawn(move || event_loop.run())
            })
            .collect::<Result<_, _>>()?;
        let mut result = first.run();
        for (i, thread) in others.into_iter().enumerate() {
            let outcome = thread.join().unwrap_or_else(|_| {
                log::error!("loop {} panicked: its connections were lost", i + 1);
                Err(Error::LoopPanicked(i + 1))
            });
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

/// Run a server on all interfaces at `port` with `handler` mounted at every path; plain
/// HTTP requests get `501 Not Implemented`. Blocks until SIGINT or SIGTERM.
///
/// ```no_run
/// use ws::{Cx, Handler, SocketId};
/// use ws::protocols::message::Message;
///
/// struct Echo;
/// impl Handler for Echo {
///     fn on_message(&mut self, cx: &mut Cx<'_>, id: SocketId, message: Message<'_>) {
///         if let Some(socket) = cx.socket(id) {
///             let _ = socket.send(message);
///         }
///     }
/// }
/// ws::listen(8088, Echo)?;
/// # Ok::<(), ws::Error>(())
/// ```
pub fn listen(port: u16, handler: impl Handler + 'static) -> Result<(), Error> {
    let server = Server::builder()
        .route("*", handler)
        .bind(("0.0.0.0", port))?;
    log::info!("listening on {:?}", server.local_addr());
    server.handle_signals()?.run()
}
