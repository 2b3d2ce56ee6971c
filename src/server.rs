//! Building and running a server, and reaching it from other threads.

use crate::event_loop::EventLoop;
use crate::handle::Handle;
use crate::handler::Handler;
use crate::plain_http::HttpHandler;
use crate::router::Mount;
use crate::settings::Settings;
use crate::Error;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

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

    fn into_server(self, listener: Option<TcpListener>) -> Result<Server, Error> {
        let mut settings = self.settings;
        if let Some(tls) = &self.tls {
            settings.tls = Some(tls.current());
        }
        let mut event_loop = EventLoop::new(settings, self.mounts, listener)?;
        event_loop.plain_http = self.plain_http;
        event_loop.tls_source = self.tls;
        Ok(Server { event_loop })
    }

    /// A server with no listener of its own: connections arrive through
    /// [`Handle::adopt`] from an HTTP server that already accepted them (see [`crate::attach`]).
    pub fn detached(self) -> Result<Server, Error> {
        self.into_server(None)
    }
}

/// A bound server, ready to [`Server::run`].
pub struct Server {
    event_loop: EventLoop,
}

impl Server {
    /// Start building a server.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The address the listener is bound to (None for a detached server).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.event_loop.local_addr()
    }

    /// A handle to shut the server down, hand it connections, or read its counters, from
    /// any thread.
    pub fn handle(&self) -> Handle {
        Handle::new(&self.event_loop.shared, &self.event_loop.waker)
    }

    /// Shut down gracefully on SIGINT and SIGTERM (what the command-line server does).
    /// Installs process-wide signal handlers, so it is opt-in for embedders.
    pub fn handle_signals(mut self) -> Result<Self, Error> {
        self.event_loop.handle_signals()?;
        Ok(self)
    }

    /// Run the event loop on this thread until shutdown: stop accepting, send a close
    /// (1001 where the dialect has codes) to every connection, wait at most the close
    /// timeout, return.
    pub fn run(self) -> Result<(), Error> {
        self.event_loop.run()
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
