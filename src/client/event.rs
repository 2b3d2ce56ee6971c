//! What `recv` returns.

use crate::socket::CloseInfo;

/// What arrived from the server: a whole message, a control frame, or the end.
///
/// Pings are answered with a pong automatically, as soon as they are read, and then reported
/// as [`ClientEvent::Ping`] for applications that want to see them (most ignore them). After
/// [`ClientEvent::Close`], `recv` returns [`crate::ClientError::Closed`].
///
/// ```
/// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
/// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
/// # std::thread::spawn(move || server.run());
/// use ws::ClientEvent;
///
/// let mut client = ws::connect(&url)?;
/// client.send_text("hello")?;
/// client.close(1000, "")?;
/// loop {
///     match client.recv()? {
///         ClientEvent::Text(text) => println!("text: {text}"),
///         ClientEvent::Binary(data) => println!("{} bytes", data.len()),
///         ClientEvent::Ping(_) | ClientEvent::Pong(_) => {}
///         ClientEvent::Close(info) => break println!("closed: {} {}", info.code, info.reason),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// A whole text message (valid UTF-8).
    Text(String),
    /// A whole binary message (on hixie-75/76: a length-prefixed `80` frame).
    Binary(Vec<u8>),
    /// A ping from the server, already answered.
    Ping(Vec<u8>),
    /// A pong: normally the answer to our ping.
    Pong(Vec<u8>),
    /// The connection has ended.
    ///
    /// - The server's close arrived (the closing handshake is complete: ours was sent first
    ///   or has been sent in answer): its code (1005 when the frame carried none: hixie-76
    ///   `FF 00`, hybi-03) and reason, `clean: true`.
    /// - hixie-75, which has no close frame: the server closed TCP, or did not within the
    ///   close timeout after ours (there is no handshake to wait for): code 1005,
    ///   `clean: true`.
    /// - The server closed TCP without a close frame, or did not answer our close within the
    ///   close timeout: code 1006, `clean: false`, a reason saying which.
    Close(CloseInfo),
}

/// What [`crate::Client::recv_piece`] returns: a message in pieces as they arrive, so a
/// payload bigger than memory (or than is worth holding) can be streamed to a file or another
/// socket. Everything else is reported as [`ClientEvent`]s, as by `recv`.
///
/// ```
/// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
/// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
/// # std::thread::spawn(move || server.run());
/// use ws::ClientPiece;
///
/// let mut client = ws::connect(&url)?;
/// client.send_binary(&vec![7u8; 1 << 20])?;
/// let mut total = 0;
/// loop {
///     match client.recv_piece()? {
///         ClientPiece::Start { len, .. } => assert_eq!(len, Some(1 << 20)),
///         ClientPiece::Data(bytes) => total += bytes.len(),
///         ClientPiece::End => break,
///         ClientPiece::Other(_) => {}
///     }
/// }
/// assert_eq!(total, 1 << 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientPiece {
    /// A message begins: its kind, and its length when the wire says it up front (a frame
    /// of declared length, a hixie binary frame); `None` for a fragmented message or hixie
    /// text.
    Start {
        /// Text or binary.
        kind: ws_protocols::MessageKind,
        /// The payload length, if announced.
        len: Option<u64>,
    },
    /// The next payload bytes of the message, in order. Text has been checked as it came:
    /// the pieces together are valid UTF-8, but one piece may end inside a character.
    Data(Vec<u8>),
    /// The message is complete (and text valid UTF-8 to its end).
    End,
    /// A ping, a pong or the end of the connection, as [`ClientEvent`] (never a message).
    Other(ClientEvent),
}
