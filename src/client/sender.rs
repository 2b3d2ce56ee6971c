//! The sending half: whole messages, streamed messages, ping, close.

use super::error::ClientError;
use super::shared::{Shared, WriterGuard};
use std::io;
use std::sync::Arc;
use ws_protocols::{Dialect, MessageKind};

/// The sending half of a connection, from [`crate::Client::split`]: move it to another
/// thread to send while the [`crate::ClientReceiver`] receives. Every method is also on
/// [`crate::Client`], which documents what each dialect can carry.
///
/// ```
/// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
/// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
/// # std::thread::spawn(move || server.run());
/// use ws::ClientEvent;
///
/// let (mut sender, mut receiver) = ws::connect(&url)?.split();
/// let writer = std::thread::spawn(move || -> Result<(), ws::ClientError> {
///     for i in 0..3 {
///         sender.send_text(&format!("line {i}"))?;
///     }
///     sender.close(1000, "bye")
/// });
/// let mut lines = Vec::new();
/// loop {
///     match receiver.recv()? {
///         ClientEvent::Text(text) => lines.push(text),
///         ClientEvent::Close(info) => break assert_eq!(info.code, 1000),
///         _ => {}
///     }
/// }
/// writer.join().unwrap()?;
/// assert_eq!(lines, ["line 0", "line 1", "line 2"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientSender {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ClientSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSender")
            .field("dialect", &self.shared.dialect)
            .field("peer_addr", &self.shared.peer_addr)
            .finish_non_exhaustive()
    }
}

impl ClientSender {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        ClientSender { shared }
    }

    /// The dialect spoken on this connection.
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let (sender, _receiver) = ws::connect(&url)?.split();
    /// assert_eq!(sender.dialect(), ws::protocols::Dialect::Rfc6455);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dialect(&self) -> Dialect {
        self.shared.dialect
    }

    fn open(&mut self) -> Result<WriterGuard<'_>, ClientError> {
        let guard = self.shared.lock();
        guard.check_open()?;
        Ok(guard)
    }

    /// Send a text message. See [`crate::Client::send_text`].
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let (mut sender, _receiver) = ws::connect(&url)?.split();
    /// sender.send_text("hello")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.open()?
            .send_message(MessageKind::Text, text.as_bytes())
    }

    /// Send a binary message. See [`crate::Client::send_binary`].
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let (mut sender, _receiver) = ws::connect(&url)?.split();
    /// sender.send_binary(&[1, 2, 3])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), ClientError> {
        self.open()?.send_message(MessageKind::Binary, data)
    }

    /// Start a message of unknown length. See [`crate::Client::begin_message`].
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// use ws::protocols::MessageKind;
    ///
    /// let (mut sender, _receiver) = ws::connect(&url)?.split();
    /// let mut message = sender.begin_message(MessageKind::Text)?;
    /// message.write_chunk(b"streamed ")?;
    /// message.write_chunk(b"text")?;
    /// message.finish()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn begin_message(&mut self, kind: MessageKind) -> Result<MessageWriter<'_>, ClientError> {
        self.open()?.begin_stream(kind)?;
        Ok(MessageWriter {
            sender: self,
            finished: false,
        })
    }

    /// Send a ping. See [`crate::Client::ping`].
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let (mut sender, _receiver) = ws::connect(&url)?.split();
    /// sender.ping(b"are you there?")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        self.open()?.ping(payload)
    }

    /// Start the closing handshake. See [`crate::Client::close`].
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let (mut sender, mut receiver) = ws::connect(&url)?.split();
    /// sender.close(1000, "done")?;
    /// assert!(matches!(receiver.recv()?, ws::ClientEvent::Close(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), ClientError> {
        self.shared.lock().close(code, reason)
    }
}

/// A message being sent in pieces, from [`crate::Client::begin_message`]: its length need
/// not be known up front. Each piece becomes one fragment on hybi-03, hybi-07/08 and RFC 6455
/// (control frames, such as the answer to a server ping, may go out between them); on
/// hixie-75/76 the pieces stream inside one `00 … FF` text frame. Text pieces are checked as
/// they come: together they must be UTF-8, and a piece that breaks it is refused with
/// [`ClientError::NotUtf8`] without being sent (a character may still be split between
/// pieces). No other message can be sent until this one is finished.
///
/// It is also an [`io::Write`], so `io::copy` can stream a file or a pipe as one message;
/// each `write` then becomes one fragment (wrap it in a `BufWriter` for larger ones).
///
/// Call [`MessageWriter::finish`] to end the message. Dropping it unfinished (an early
/// return, a `?`, a panic) abandons the message, and the connection with it, so that the
/// server can never take the part that was sent for the whole message: a close frame with
/// 1011 `message abandoned` goes between two fragments (hybi-03: a close without code), and
/// on hixie-75/76, where nothing can interrupt a text frame, the TCP connection is closed.
///
/// ```
/// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
/// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
/// # std::thread::spawn(move || server.run());
/// use std::io::Write;
/// use ws::protocols::MessageKind;
///
/// let mut client = ws::connect(&url)?;
/// let mut message = client.begin_message(MessageKind::Binary)?;
/// std::io::copy(&mut &[7u8; 100_000][..], &mut message)?;
/// message.finish()?;
/// assert_eq!(client.recv()?, ws::ClientEvent::Binary(vec![7; 100_000]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MessageWriter<'a> {
    /// Borrowed mutably so that nothing else is sent until the message ends; the writer
    /// itself is locked only while a piece is written, so that the receiver can answer
    /// pings between pieces even when the next piece is slow to come.
    sender: &'a mut ClientSender,
    finished: bool,
}

impl std::fmt::Debug for MessageWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageWriter").finish_non_exhaustive()
    }
}

impl MessageWriter<'_> {
    /// Send the next piece of the message. An empty piece sends nothing.
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let mut client = ws::connect(&url)?;
    /// let mut message = client.begin_message(ws::protocols::MessageKind::Text)?;
    /// // "é" split between two pieces is fine; an invalid byte is not.
    /// message.write_chunk(&[b'h', 0xc3])?;
    /// message.write_chunk(&[0xa9])?;
    /// assert!(matches!(message.write_chunk(&[0xff]), Err(ws::ClientError::NotUtf8)));
    /// message.finish()?;
    /// assert_eq!(client.recv()?, ws::ClientEvent::Text("hé".into()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_chunk(&mut self, data: &[u8]) -> Result<(), ClientError> {
        self.sender.open()?.stream_chunk(data)
    }

    /// End the message.
    ///
    /// ```
    /// # let server = ws::Server::builder().route("/echo", ws::Echo).bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/echo", server.local_addr().unwrap());
    /// # std::thread::spawn(move || server.run());
    /// let mut client = ws::connect(&url)?;
    /// let message = client.begin_message(ws::protocols::MessageKind::Text)?;
    /// message.finish()?; // an empty message
    /// assert_eq!(client.recv()?, ws::ClientEvent::Text(String::new()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(mut self) -> Result<(), ClientError> {
        self.end()
    }

    fn end(&mut self) -> Result<(), ClientError> {
        self.finished = true;
        let mut guard = self.sender.shared.lock();
        let open = guard.check_open();
        let ended = guard.end_stream(open.is_ok());
        open.and(ended)
    }
}

impl Drop for MessageWriter<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            self.sender.shared.lock().abandon_stream();
        }
    }
}

impl io::Write for MessageWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.write_chunk(buf) {
            Ok(()) => Ok(buf.len()),
            Err(ClientError::Io(e)) => Err(e),
            Err(ClientError::NotUtf8) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                ClientError::NotUtf8,
            )),
            Err(e) => Err(io::Error::other(e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
