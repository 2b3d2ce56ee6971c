//! Server settings, with their defaults and the reason for each.

use std::sync::Arc;
use std::time::Duration;
use ws_protocols::compression::DeflatePolicy;
use ws_protocols::Limits;

/// How messages reach a handler.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// `on_message` with the whole message, assembled up to `Limits::max_message`.
    Whole,
    /// `on_message_start` / `on_message_data` / `on_message_end` as bytes arrive: nothing is
    /// held, so a message of any size passes with bounded memory.
    Stream,
}

pub use ws_protocols::connection::HixieBinary;

/// Which origins may connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginPolicy {
    /// Any origin, or none (the default: most non-browser clients send none).
    Any,
    /// Only these exact origins (`scheme://host[:port]`); others get HTTP 403.
    AllowList(Vec<String>),
}

impl OriginPolicy {
    pub(crate) fn allows(&self, origin: Option<&str>) -> bool {
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::AllowList(list) => {
                origin.is_some_and(|o| list.iter().any(|a| a.eq_ignore_ascii_case(o)))
            }
        }
    }
}

/// Everything tunable about a server. Build with `Settings::default()` and the setters.
///
/// ```
/// use std::time::Duration;
/// let settings = ws::Settings::default()
///     .max_connections(10_000)
///     .keepalive(Some(Duration::from_secs(20)))
///     .max_message(16 << 20);
/// assert_eq!(settings.max_connections, 10_000);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// Handshake and frame size limits (see [`Limits`] for each default).
    pub limits: Limits,
    /// Connections at once, handshaking ones included. When every slot is taken, a new
    /// connection takes the slot of the oldest one still in its opening handshake (which
    /// is dropped); only when every slot holds an open connection is it answered HTTP 503.
    /// Default 4096.
    pub max_connections: usize,
    /// Connections that may be in their opening handshake at once; beyond it the oldest of
    /// them is dropped to make room for the new one. Connections that never finish their
    /// handshake (slowloris) thus cannot keep honest clients out: a handshake takes a
    /// round trip, so an honest client is only dropped if this many newer connections
    /// arrive while it handshakes. Default 1024.
    pub max_handshaking: usize,
    /// Server-wide budget, in bytes, for what connections make the server hold: unfinished
    /// whole messages, outgoing queues, pipe sessions' hold queues and bytes read but not
    /// yet processed. Past it, an unfinished message that grows beyond 16 KiB is refused:
    /// the connection is closed with 1013 (Try Again Later; dialects without close codes
    /// are just closed), and pipe senders are paused rather than held. Established
    /// traffic of small messages keeps flowing. Default a quarter of the machine's memory
    /// (or of its control group's limit).
    pub memory_budget: usize,
    /// A client that has not completed its handshake in this time is dropped (slowloris).
    /// Default 10 s.
    pub handshake_timeout: Duration,
    /// Ping every this often on dialects that have ping; a peer that has not answered (with
    /// a pong or anything else) by the next ping is dead and dropped, unless it is still
    /// reading its way towards our ping (a slow reader of a long message), which earns it
    /// another interval: our ping waits in our queue behind data the peer keeps reading, or,
    /// on Linux, the peer's TCP acknowledged more of our bytes during the interval (so a
    /// backlog in the kernel's buffers counts too). Default 30 s; `None` disables.
    pub keepalive: Option<Duration>,
    /// After sending our close frame, wait this long for the peer's, then drop. Also the
    /// linger after shutting down our side. Default 5 s.
    pub close_timeout: Duration,
    /// Drop a connection that has received nothing for this long (the only dead-peer
    /// detection hixie dialects have). Default `None`.
    pub idle_timeout: Option<Duration>,
    /// Whole messages or streamed chunks. Default [`Delivery::Whole`].
    pub delivery: Delivery,
    /// Split outgoing whole messages larger than this into fragments of this size (dialects
    /// with fragmentation only). Default `None`: one frame per message.
    pub fragment_size: Option<usize>,
    /// When a connection's outgoing queue passes this many bytes, stop reading from it (and
    /// tell handlers feeding it, via `buffered_amount`) until it falls below
    /// `write_low_water`. Default 1 MiB.
    pub write_high_water: usize,
    /// See `write_high_water`. Default 256 KiB.
    pub write_low_water: usize,
    /// Hard cap on one connection's outgoing queue: a send that would pass it is refused
    /// with `SendError::BufferFull`. Default 80 MiB (a 64 MiB message plus headroom).
    pub max_write_buffer: usize,
    /// Which origins may connect. Default [`OriginPolicy::Any`].
    pub origins: OriginPolicy,
    /// Subprotocols this server speaks, in order of preference; the first one a client
    /// offers is chosen (routes and handlers may choose otherwise). Default none.
    pub subprotocols: Vec<String>,
    /// Keep a table of open clients per route (`Cx::clients`). Default true.
    pub client_tracking: bool,
    /// hixie-76: write the 101 head as soon as the request head is parsed and the 16-byte
    /// answer when key3 arrives, because HAProxy withholds key3 until it sees a 101
    /// (docs/protocols.md §3.2). Default true.
    pub hixie76_headers_first: bool,
    /// What `send_binary` does on hixie connections. Default [`HixieBinary::Refuse`].
    pub hixie_binary: HixieBinary,
    /// TLS for `wss://`, on the same port as plain `ws://`: a connection whose first byte
    /// is a TLS handshake record (0x16) is TLS, any other is plain. Default `None` (plain
    /// only).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// With `tls` set: refuse plain connections (HTTP 400 saying to use `wss://`). Default
    /// false.
    pub tls_only: bool,
    /// Compression agreed to with clients that offer it: permessage-deflate (every current
    /// browser), else deflate-frame (`x-webkit-deflate-frame`, WebKit and Chrome of
    /// 2012-2013), on hybi-07, hybi-08 and RFC 6455. Default
    /// [`DeflatePolicy::default`]: both, keeping no compression context between messages
    /// either way, so an idle connection holds no compression state; messages under 64
    /// bytes go uncompressed. [`DeflatePolicy::OFF`] declines every offer. Routes may
    /// choose otherwise ([`crate::Mount::compression`]).
    pub compression: DeflatePolicy,
    /// The server's own pages on plain `GET` requests: the demo page and the status pages
    /// ([`crate::Pages`]). All off by default; they answer before any
    /// [`crate::Builder::plain_http`] handler, which gets every other request.
    pub pages: crate::face::Pages,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limits: Limits::default(),
            max_connections: 4096,
            max_handshaking: 1024,
            memory_budget: (crate::machine::memory() / 4) as usize,
            handshake_timeout: Duration::from_secs(10),
            keepalive: Some(Duration::from_secs(30)),
            close_timeout: Duration::from_secs(5),
            idle_timeout: None,
            delivery: Delivery::Whole,
            fragment_size: None,
            write_high_water: 1 << 20,
            write_low_water: 256 << 10,
            max_write_buffer: 80 << 20,
            origins: OriginPolicy::Any,
            subprotocols: Vec::new(),
            client_tracking: true,
            hixie76_headers_first: true,
            hixie_binary: HixieBinary::Refuse,
            tls: None,
            tls_only: false,
            compression: DeflatePolicy::default(),
            pages: crate::face::Pages::default(),
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl Settings {
            $($(#[$doc])* pub fn $name(mut self, value: $ty) -> Self {
                self.$name = value;
                self
            })*
        }
    };
}

setters! {
    /// Set `pages`.
    pages: crate::face::Pages,
    /// Set `max_connections`.
    max_connections: usize,
    /// Set `max_handshaking`.
    max_handshaking: usize,
    /// Set `memory_budget`.
    memory_budget: usize,
    /// Set `handshake_timeout`.
    handshake_timeout: Duration,
    /// Set `keepalive`.
    keepalive: Option<Duration>,
    /// Set `close_timeout`.
    close_timeout: Duration,
    /// Set `idle_timeout`.
    idle_timeout: Option<Duration>,
    /// Set `delivery`.
    delivery: Delivery,
    /// Set `fragment_size`.
    fragment_size: Option<usize>,
    /// Set `write_high_water`.
    write_high_water: usize,
    /// Set `write_low_water`.
    write_low_water: usize,
    /// Set `max_write_buffer`.
    max_write_buffer: usize,
    /// Set `origins`.
    origins: OriginPolicy,
    /// Set `subprotocols`.
    subprotocols: Vec<String>,
    /// Set `client_tracking`.
    client_tracking: bool,
    /// Set `hixie76_headers_first`.
    hixie76_headers_first: bool,
    /// Set `hixie_binary`.
    hixie_binary: HixieBinary,
    /// Set `tls`.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Set `compression`.
    compression: DeflatePolicy,
    /// Set `tls_only`.
    tls_only: bool,
}

impl Settings {
    /// Set the largest frame payload (`limits.max_frame`).
    pub fn max_frame(mut self, bytes: u64) -> Self {
        self.limits.max_frame = bytes;
        self
    }

    /// Set the largest message (`limits.max_message`).
    pub fn max_message(mut self, bytes: u64) -> Self {
        self.limits.max_message = bytes;
        self
    }

    /// Set the largest handshake head (`limits.max_head_bytes`).
    pub fn max_head_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_head_bytes = bytes;
        self
    }

    /// Check the settings for contradictions.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let fail = |why: &'static str| Err(crate::Error::Config(why));
        if self.write_low_water > self.write_high_water {
            return fail("write_low_water must not exceed write_high_water");
        }
        if self.max_write_buffer < self.write_high_water {
            return fail("max_write_buffer must be at least write_high_water");
        }
        if self.max_connections == 0 {
            return fail("max_connections must be at least 1");
        }
        if self.max_handshaking == 0 {
            return fail("max_handshaking must be at least 1");
        }
        if self.fragment_size == Some(0) {
            return fail("fragment_size must be at least 1");
        }
        if self.tls_only && self.tls.is_none() {
            return fail("tls_only needs tls");
        }
        if self.limits.max_head_bytes < 64 {
            return fail("max_head_bytes below 64 cannot hold any handshake");
        }
        Ok(())
    }
}
