//! The blocking client: one value that sends and receives.

use super::error::ClientError;
use super::event::{ClientEvent, ClientPiece};
use super::receiver::ClientReceiver;
use super::sender::{ClientSender, MessageWriter};
use super::shared::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use ws_protocols::{Dialect, MessageKind};

/// A connection to a WebSocket server, in any dialect, with blocking calls. Made by
/// [`crate::connect`] or [`crate::connect_with`].
///
/// What each dialect can carry follows the server's rules (README, "What a dialect cannot
/// carry"); what it cannot is refused with [`ClientError::Unsupported`], never dropped:
///
/// | call | hixie-75 | hixie-76 | hybi-03 | hybi-07/08, RFC 6455 |
/// |---|---|---|---|---|
/// | `send_text` | `00 … FF` | `00 … FF` | text frame | masked text frame |
/// | `send_binary` | `Unsupported`, or `80`+length with `HixieBinary::LengthPrefixed` | same | binary frame | masked binary frame |
/// | `begin_message(Text)` | one `00 … FF` frame, streamed | same | fragments | masked fragments |
/// | `begin_message(Binary)` | `Unsupported` | `Unsupported` | fragments | masked fragments |
/// | `ping` | `Unsupported` | `Unsupported` | ping frame | ping frame |
/// | `close(code, reason)` | TCP half-close | `FF 00` (code and reason not carried) | empty close frame | close frame with code and reason |
///
/// To send from one thread while receiving on another, [`Client::split`] it.
///
/// ```
/// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
/// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
/// # std::thread::spawn(move || server.run());
/// use ws::protocols::Dialect;
/// use ws::{ClientEvent, ConnectOptions};
///
/// // `url` is "ws://127.0.0.1:PORT/echo", where the echo server listens.
/// let mut client = ws::connect_with(&url, ConnectOptions::default().dialect(Dialect::Hixie76))?;
/// client.send_text("Hello")?;
/// assert_eq!(client.recv()?, ClientEvent::Text("Hello".into()));
/// client.close(1000, "")?;
/// let ClientEvent::Close(info) = client.recv()? else { panic!("expected the close") };
/// assert!(info.clean);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client {
    sender: ClientSender,
    receiver: ClientReceiver,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("dialect", &self.shared.dialect)
            .field("peer_addr", &self.shared.peer_addr)
            .field("subprotocol", &self.shared.subprotocol)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(shared: Arc<Shared>, sender: ClientSender, receiver: ClientReceiver) -> Self {
        Client {
            sender,
            receiver,
            shared,
        }
    }

    /// The dialect spoken on this connection.
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// use ws::protocols::Dialect;
    ///
    /// let options = ws::ConnectOptions::default().dialect(Dialect::Hybi07);
    /// let client = ws::connect_with(&url, options)?;
    /// assert_eq!(client.dialect(), Dialect::Hybi07);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dialect(&self) -> Dialect {
        self.shared.dialect
    }

    /// The subprotocol the server chose among those offered, if any. On the hixie dialects
    /// and hybi-03 the offer is one string (several protocols joined with spaces), and this
    /// is that string when the server echoed it.
    ///
    /// ```
    /// # let settings = ws::Settings::default().subprotocols(vec!["chat".into()]);
    /// # let server = ws::Server::builder().settings(settings).route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// // A server that speaks "chat":
    /// let options = ws::ConnectOptions::default().subprotocols(["superchat", "chat"]);
    /// let client = ws::connect_with(&url, options)?;
    /// assert_eq!(client.subprotocol(), Some("chat"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subprotocol(&self) -> Option<&str> {
        self.shared.subprotocol.as_deref()
    }

    /// Every header of the server's 101 response, in order, names as sent.
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let client = ws::connect(&url)?;
    /// assert!(client
    ///     .response_headers()
    ///     .iter()
    ///     .any(|(name, _)| name.eq_ignore_ascii_case("Sec-WebSocket-Accept")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn response_headers(&self) -> &[(String, Vec<u8>)] {
        &self.shared.headers
    }

    /// The first response header called `name` (case-insensitive), if it is UTF-8.
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let client = ws::connect(&url)?;
    /// assert_eq!(client.response_header("upgrade"), Some("websocket"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.shared
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The server's address.
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let addr = server.local_addr().unwrap();
    /// # let url = format!("ws://{addr}/echo");
    /// # std::thread::spawn(move || server.run());
    /// let client = ws::connect(&url)?;
    /// assert_eq!(client.peer_addr(), Some(addr));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared.peer_addr
    }

    /// Send a whole text message (in fragments of `ConnectOptions::fragment_size`, if set
    /// and the dialect fragments).
    ///
    /// # Errors
    /// [`ClientError::Closed`] once a close has been sent or the connection has ended;
    /// [`ClientError::Io`] if writing fails (the connection is then unusable).
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let mut client = ws::connect(&url)?;
    /// client.send_text("κόσμε")?;
    /// assert_eq!(client.recv()?, ws::ClientEvent::Text("κόσμε".into()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.sender.send_text(text)
    }

    /// Send a whole binary message. On hixie-75/76 this is [`ClientError::Unsupported`]
    /// unless `ConnectOptions::hixie_binary` is [`crate::HixieBinary::LengthPrefixed`].
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// use ws::protocols::Dialect;
    ///
    /// let mut client = ws::connect(&url)?;
    /// client.send_binary(&[0xde, 0xad])?;
    /// assert_eq!(client.recv()?, ws::ClientEvent::Binary(vec![0xde, 0xad]));
    ///
    /// let options = ws::ConnectOptions::default().dialect(Dialect::Hixie75);
    /// let mut hixie = ws::connect_with(&url, options)?;
    /// assert!(matches!(hixie.send_binary(&[1]), Err(ws::ClientError::Unsupported { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), ClientError> {
        self.sender.send_binary(data)
    }

    /// Start a message whose length is not known yet; write it with the returned
    /// [`MessageWriter`]. Binary of unknown length cannot be carried by hixie-75/76:
    /// [`ClientError::Unsupported`].
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// use ws::protocols::MessageKind;
    ///
    /// let mut client = ws::connect(&url)?;
    /// let mut message = client.begin_message(MessageKind::Text)?;
    /// for word in ["one ", "two ", "three"] {
    ///     message.write_chunk(word.as_bytes())?;
    /// }
    /// message.finish()?;
    /// assert_eq!(client.recv()?, ws::ClientEvent::Text("one two three".into()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn begin_message(&mut self, kind: MessageKind) -> Result<MessageWriter<'_>, ClientError> {
        self.sender.begin_message(kind)
    }

    /// Send a ping of at most 125 bytes; the server's pong arrives as [`ClientEvent::Pong`].
    /// hixie-75/76 have no ping: [`ClientError::Unsupported`].
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let mut client = ws::connect(&url)?;
    /// client.ping(b"1")?;
    /// assert_eq!(client.recv()?, ws::ClientEvent::Pong(b"1".to_vec()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        self.sender.ping(payload)
    }

    /// Start the closing handshake: send our close (see the table above for what each
    /// dialect carries; a reason over 123 bytes is cut at a character boundary). Then call
    /// [`Client::recv`]: it still returns what the server sent before its close, then
    /// [`ClientEvent::Close`] once the server's close (or TCP close) arrives, or after
    /// `ConnectOptions::close_timeout` without one. Closing twice does nothing.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] for a code that may not be sent (1005, 1006, 1015, 0-999,
    /// ...) on dialects with codes.
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// use ws::ClientEvent;
    ///
    /// let mut client = ws::connect(&url)?;
    /// client.send_text("last words")?;
    /// client.close(1000, "bye")?;
    /// assert_eq!(client.recv()?, ClientEvent::Text("last words".into()));
    /// let ClientEvent::Close(info) = client.recv()? else { panic!() };
    /// assert_eq!((info.code, info.clean), (1000, true));
    /// assert!(matches!(client.recv(), Err(ws::ClientError::Closed)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), ClientError> {
        self.sender.close(code, reason)
    }

    /// Wait for the next whole message, control frame or the end of the connection (see
    /// [`ClientEvent`]). Pings are answered before they are returned; the server's close is
    /// answered, and its TCP close awaited, before [`ClientEvent::Close`] is returned. After
    /// that: [`ClientError::Closed`].
    ///
    /// # Errors
    /// [`ClientError::TimedOut`] when `ConnectOptions::read_timeout` passes first (call
    /// again: nothing is lost); [`ClientError::Protocol`] when the server breaks the framing
    /// rules or exceeds the size limits (the connection is then failed and closed);
    /// [`ClientError::Io`] when reading fails.
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// use std::time::Duration;
    ///
    /// let options = ws::ConnectOptions::default().read_timeout(Some(Duration::from_millis(50)));
    /// let mut client = ws::connect_with(&url, options)?;
    /// // Nothing was sent, so nothing comes back.
    /// assert!(matches!(client.recv(), Err(ws::ClientError::TimedOut)));
    /// client.send_text("now")?;
    /// assert_eq!(client.recv()?, ws::ClientEvent::Text("now".into()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&mut self) -> Result<ClientEvent, ClientError> {
        self.receiver.recv()
    }

    /// Like [`Client::recv`], but a message comes in pieces as its bytes arrive
    /// ([`ClientPiece::Start`], [`ClientPiece::Data`]..., [`ClientPiece::End`]) instead of
    /// whole, so it never has to fit in memory: the way to take a big payload from a pipe
    /// session. Pings, pongs and the end of the connection come as [`ClientPiece::Other`].
    /// The size limits of [`crate::ConnectOptions`] still apply to each message; raise
    /// `max_message` and `max_frame` for big payloads.
    ///
    /// A message begun by `recv` must be finished by `recv` and one begun by `recv_piece` by
    /// `recv_piece`; the other returns [`ClientError::MessageOpen`] and consumes nothing.
    /// Errors are otherwise those of `recv`.
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// use std::io::Write;
    /// use ws::ClientPiece;
    ///
    /// let mut client = ws::connect(&url)?;
    /// client.send_binary(&vec![1u8; 300_000])?;
    /// let mut file = Vec::new(); // or a std::fs::File
    /// loop {
    ///     match client.recv_piece()? {
    ///         ClientPiece::Data(bytes) => file.write_all(&bytes)?,
    ///         ClientPiece::End => break,
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(file.len(), 300_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_piece(&mut self) -> Result<ClientPiece, ClientError> {
        self.receiver.recv_piece()
    }

    /// Split into a sending and a receiving half, to use from two threads. Pings and closes
    /// the receiver reads are still answered while the sender is busy (between fragments of
    /// a streamed message, or right after the current frame).
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let (mut sender, mut receiver) = ws::connect(&url)?.split();
    /// let printer = std::thread::spawn(move || {
    ///     while let Ok(event) = receiver.recv() {
    ///         if let ws::ClientEvent::Close(_) = event {
    ///             break;
    ///         }
    ///     }
    /// });
    /// sender.send_text("hi")?;
    /// sender.close(1000, "")?;
    /// printer.join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn split(self) -> (ClientSender, ClientReceiver) {
        (self.sender, self.receiver)
    }
}
