//! The client side of every dialect: [`connect`] to a `ws://` URL in hixie-75, hixie-76,
//! hybi-03 to hybi-08 or RFC 6455 (the default), then send and receive with blocking calls on
//! a [`Client`].
//!
//! The handshakes and framing are the [`crate::protocols`] crate's, in the client role:
//! hybi-04 onwards masks every frame with keys derived from an OS-random seed (hybi-04 also
//! with the connection key of its handshake), and checks that the server's frames are
//! unmasked; the hixie-76 family sends key1/key2/key3 and checks the MD5 answer; hixie-75
//! checks the exact response prefix and the origin and location echoes. Handshake keys and
//! the masking seed come from the OS random source.
//!
//! `wss://` runs over TLS (rustls), checking the server's certificate against the system's
//! roots, or a private CA ([`ConnectOptions::ca_file`]), or not at all
//! ([`ConnectOptions::insecure`]). Not supported: proxies, redirects, extensions (no
//! compression).
//!
//! ```
//! # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
//! # let url = format!("ws://{}/echo", server.local_addr().unwrap());
//! # std::thread::spawn(move || server.run());
//! use ws::ClientEvent;
//!
//! let mut client = ws::connect(&url)?; // e.g. "ws://127.0.0.1:8088/echo"
//! client.send_text("Hello")?;
//! assert_eq!(client.recv()?, ClientEvent::Text("Hello".into()));
//! client.close(1000, "")?;
//! while !matches!(client.recv()?, ClientEvent::Close(_)) {}
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod blocking;
mod error;
mod event;
mod handshake;
mod options;
mod receiver;
mod sender;
mod shared;
pub mod transfer;
mod transport;
mod url;

pub(crate) use handshake::{opening_request, with_config};
pub(crate) use url::WsUrl;

pub use blocking::Client;
pub use error::ClientError;
pub use event::{ClientEvent, ClientPiece};
pub use options::ConnectOptions;
pub use receiver::ClientReceiver;
pub use sender::{ClientSender, MessageWriter};
pub use transport::ServerVerification;
pub use url::UrlError;

use shared::Shared;
use std::sync::Arc;
use ws_protocols::connection::{Connection, OutboundOptions};
use ws_protocols::Role;

/// Connect to `url` (`ws://host[:port]/path?query`) speaking RFC 6455, with the default
/// [`ConnectOptions`]: no subprotocol, no origin, 10 s to connect and 10 s to handshake.
///
/// # Errors
/// [`ClientError::Url`] for a URL that is not `ws://` (`wss://` included),
/// [`ClientError::Io`] or [`ClientError::TimedOut`] if the server cannot be reached,
/// [`ClientError::Handshake`] if it refuses (with its HTTP status) or answers wrongly.
///
/// ```
/// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
/// # let addr = server.local_addr().unwrap();
/// # std::thread::spawn(move || server.run());
/// let mut client = ws::connect(&format!("ws://{addr}/echo"))?;
/// client.send_text("ping?")?;
/// assert_eq!(client.recv()?, ws::ClientEvent::Text("ping?".into()));
///
/// let refused = ws::connect(&format!("ws://{addr}/nowhere")).unwrap_err();
/// assert_eq!(refused.http_status(), Some(404));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect(url: &str) -> Result<Client, ClientError> {
    connect_with(url, ConnectOptions::default())
}

/// Connect to `url` with `options`: the dialect, subprotocols, origin, extra headers,
/// timeouts and limits.
///
/// ```
/// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
/// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
/// # std::thread::spawn(move || server.run());
/// use ws::protocols::Dialect;
/// use ws::ConnectOptions;
///
/// for dialect in Dialect::ALL {
///     let options = ConnectOptions::default()
///         .dialect(dialect)
///         .origin("http://example.com");
///     let mut client = ws::connect_with(&url, options)?;
///     client.send_text(dialect.name())?;
///     assert_eq!(client.recv()?, ws::ClientEvent::Text(dialect.name().into()));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect_with(url: &str, options: ConnectOptions) -> Result<Client, ClientError> {
    options.validate().map_err(ClientError::Config)?;
    let url = url::WsUrl::parse(url)?;
    let opened = handshake::open(&url, &options)?;
    let mut mask_seed = [0u8; 16];
    handshake::os_random(&mut mask_seed)?;
    let reader = opened.stream.try_clone()?;
    let mut connection = Connection::with_connection_key(
        options.dialect,
        Role::Client,
        &options.limits,
        mask_seed,
        OutboundOptions {
            fragment_size: options.fragment_size,
            hixie_binary: options.hixie_binary,
        },
        opened.connection_key,
    );
    let inflater = opened.compression.map(|agreed| {
        connection.set_compression(
            &agreed,
            options.compression.min_size,
            options.limits.max_message,
        )
    });
    // The reading and the writing run on different threads: each half goes its own way,
    // and what the reader owes the server reaches the writer through `Shared`.
    let (inbound, outbound) = connection.split();
    let shared = Arc::new(Shared::new(
        opened.stream,
        opened.transport.clone(),
        outbound,
        opened.subprotocol,
        opened.headers,
        options.close_timeout,
    ));
    let receiver = ClientReceiver::new(
        shared.clone(),
        reader,
        opened.transport,
        inbound,
        inflater,
        &options,
        opened.leftover,
    );
    let sender = ClientSender::new(shared.clone());
    Ok(Client::new(shared, sender, receiver))
}
