//! Mounting handlers by path (exact or prefix) and by subprotocol.

use crate::handler::Handler;
use crate::loops::Placement;
use crate::settings::Delivery;
use crate::socket::SocketId;
use std::collections::BTreeSet;
use std::sync::Arc;
use ws_protocols::compression::DeflatePolicy;

/// A handler mounted at a path pattern, optionally for one subprotocol.
///
/// Patterns: `/echo` matches exactly `/echo`; `/sessions/*` matches every path that starts
/// with `/sessions/`; `*` matches every path.
///
/// ```
/// use ws::{Handler, Mount, Delivery};
/// struct Chat;
/// impl Handler for Chat {}
/// let mount = Mount::new("/chat/*", Chat).protocol("chat.v2").delivery(Delivery::Stream);
/// assert!(mount.matches("/chat/lobby", &["chat.v1".into(), "chat.v2".into()]));
/// assert!(!mount.matches("/chat/lobby", &["chat.v1".into()]));
/// ```
pub struct Mount {
    pattern: Pattern,
    pub(crate) subprotocol: Option<String>,
    pub(crate) delivery: Option<Delivery>,
    /// Overrides the server's `max_frame` and `max_message` for this route.
    pub(crate) max_message: Option<u64>,
    /// Overrides the server's compression policy for this route.
    pub(crate) compression: Option<DeflatePolicy>,
    pub(crate) handler: Box<dyn Handler>,
    pub(crate) clients: BTreeSet<SocketId>,
    /// Makes this route's handler for each further loop of a server with several
    /// ([`Mount::per_loop`]). Without it the route's one handler lives on the first loop,
    /// and its connections are served there.
    factory: Option<Factory>,
}

type Factory = Arc<dyn Fn() -> Box<dyn Handler> + Send + Sync>;

/// The stand-in, on the other loops, for a route whose one handler lives on the first
/// loop: its connections are handed over before any callback could reach it.
struct OnFirstLoop;
impl Handler for OnFirstLoop {
    fn placement(&self, _request: &ws_protocols::handshake::Request) -> Placement {
        Placement::First
    }
}

enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Mount {
    /// Mount `handler` at `pattern`.
    pub fn new(pattern: &str, handler: impl Handler + 'static) -> Self {
        let pattern = match pattern.strip_suffix('*') {
            Some(prefix) => Pattern::Prefix(prefix.to_owned()),
            None => Pattern::Exact(pattern.to_owned()),
        };
        Mount {
            pattern,
            subprotocol: None,
            delivery: None,
            max_message: None,
            compression: None,
            handler: Box::new(handler),
            clients: BTreeSet::new(),
            factory: None,
        }
    }

    /// Mount a handler made by `make` on each loop of a server with several
    /// ([`crate::Builder::threads`]), so the route's connections are served on whichever
    /// loop accepted them (or where the handler's [`Handler::placement`] says). A route
    /// mounted with [`Mount::new`] has one handler, on the first loop, which serves all its
    /// connections.
    ///
    /// ```
    /// use ws::{Echo, Mount, Server};
    /// let server = Server::builder()
    ///     .threads(2)
    ///     .mount(Mount::per_loop("/echo", || Echo))
    ///     .bind("127.0.0.1:0")?;
    /// # Ok::<(), ws::Error>(())
    /// ```
    pub fn per_loop<H: Handler + 'static>(
        pattern: &str,
        make: impl Fn() -> H + Send + Sync + 'static,
    ) -> Self {
        let mut mount = Mount::new(pattern, make());
        mount.factory = Some(Arc::new(move || Box::new(make()) as Box<dyn Handler>));
        mount
    }

    /// This route as mounted on a further loop: a handler of its own where it has a
    /// factory, else a stand-in that sends its connections to the first loop.
    pub(crate) fn replica(&self) -> Mount {
        Mount {
            pattern: match &self.pattern {
                Pattern::Exact(p) => Pattern::Exact(p.clone()),
                Pattern::Prefix(p) => Pattern::Prefix(p.clone()),
            },
            subprotocol: self.subprotocol.clone(),
            delivery: self.delivery,
            max_message: self.max_message,
            compression: self.compression,
            handler: match &self.factory {
                Some(make) => make(),
                None => Box::new(OnFirstLoop),
            },
            clients: BTreeSet::new(),
            factory: self.factory.clone(),
        }
    }

    /// Where a connection to this route is served when the server has several loops.
    pub(crate) fn placement(&self, request: &ws_protocols::handshake::Request) -> Placement {
        match self.factory {
            Some(_) => self.handler.placement(request),
            None => Placement::First,
        }
    }

    /// Only for clients that offer `subprotocol`, which is then chosen.
    pub fn protocol(mut self, subprotocol: &str) -> Self {
        self.subprotocol = Some(subprotocol.to_owned());
        self
    }

    /// Deliver messages to this handler whole or streamed, whatever the server default.
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = Some(delivery);
        self
    }

    /// Let this route's clients send frames and messages of up to `bytes` (`u64::MAX`: any
    /// size), whatever the server's `max_frame` and `max_message`. Those bound what whole
    /// delivery holds in memory; a route with [`Delivery::Stream`] holds nothing whole and
    /// may lift them. With whole delivery this is also the largest message assembled.
    ///
    /// ```
    /// use ws::{Delivery, Handler, Mount};
    /// struct Upload;
    /// impl Handler for Upload {}
    /// let mount = Mount::new("/upload", Upload)
    ///     .delivery(Delivery::Stream)
    ///     .max_message(u64::MAX);
    /// # let _ = mount;
    /// ```
    pub fn max_message(mut self, bytes: u64) -> Self {
        self.max_message = Some(bytes);
        self
    }

    /// Agree to compression on this route as `policy` says, whatever the server's
    /// `Settings::compression` (for example [`DeflatePolicy::OFF`] for a route of
    /// incompressible payloads).
    ///
    /// ```
    /// use ws::protocols::compression::DeflatePolicy;
    /// use ws::{Handler, Mount};
    /// struct Video;
    /// impl Handler for Video {}
    /// let mount = Mount::new("/video", Video).compression(DeflatePolicy::OFF);
    /// # let _ = mount;
    /// ```
    pub fn compression(mut self, policy: DeflatePolicy) -> Self {
        self.compression = Some(policy);
        self
    }

    /// The limits for this route's connections: the server's, with this route's override.
    pub(crate) fn limits(&self, server: &ws_protocols::Limits) -> ws_protocols::Limits {
        match self.max_message {
            Some(bytes) => server.clone().max_frame(bytes).max_message(bytes),
            None => server.clone(),
        }
    }

    /// Does a request for `path` offering `offered` subprotocols belong here?
    pub fn matches(&self, path: &str, offered: &[String]) -> bool {
        self.matches_path(path)
            && self
                .subprotocol
                .as_ref()
                .is_none_or(|p| offered.iter().any(|o| o == p))
    }

    /// The pattern this mount was made with (`/echo`, `/sessions/*`).
    pub fn pattern(&self) -> String {
        match &self.pattern {
            Pattern::Exact(p) => p.clone(),
            Pattern::Prefix(p) => format!("{p}*"),
        }
    }

    fn matches_path(&self, path: &str) -> bool {
        match &self.pattern {
            Pattern::Exact(p) => path == p,
            Pattern::Prefix(p) => path.starts_with(p.as_str()),
        }
    }
}

/// Why no mount took a request.
pub(crate) enum NoRoute {
    /// No mount at this path: 404.
    Path,
    /// Mounts at this path, but none for a subprotocol the client offered: 400.
    Subprotocol,
}

/// The first mount that takes the request, in mounting order.
pub(crate) fn find(mounts: &[Mount], path: &str, offered: &[String]) -> Result<usize, NoRoute> {
    match mounts.iter().position(|m| m.matches(path, offered)) {
        Some(i) => Ok(i),
        None if mounts.iter().any(|m| m.matches_path(path)) => Err(NoRoute::Subprotocol),
        None => Err(NoRoute::Path),
    }
}
