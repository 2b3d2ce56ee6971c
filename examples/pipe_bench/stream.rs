//! The driver's blocking connection: plain TCP, or a rustls client over it (`wss://`).
//!
//! Over TLS, reads from the socket go through a 256 KiB buffer: rustls asks its reader for
//! about 4 KiB at a time, one `recv` each straight from the socket, so the receiving client
//! would spend more system calls per byte than the server it measures. Writes go straight
//! to the socket (rustls gathers its records into one `writev`).

use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

/// Bytes per `recv` from a TLS socket.
const TLS_READ: usize = 256 << 10;

/// A TLS client's settings: what it trusts and the name the server's certificate must carry.
pub struct TlsClient {
    pub config: Arc<ClientConfig>,
    pub name: ServerName<'static>,
}

/// A TCP socket whose reads are buffered and whose writes are not.
pub struct BufferedTcp(BufReader<TcpStream>);

impl Read for BufferedTcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for BufferedTcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.get_mut().write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.get_mut().write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.get_mut().flush()
    }
}

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, BufferedTcp>>),
}

impl Stream {
    /// `tcp`, or a TLS client over it with `tls` (the handshake runs with the first read or
    /// write).
    pub fn new(tcp: TcpStream, tls: Option<&TlsClient>) -> io::Result<Stream> {
        let Some(tls) = tls else {
            return Ok(Stream::Plain(tcp));
        };
        let connection = ClientConnection::new(tls.config.clone(), tls.name.clone())
            .map_err(io::Error::other)?;
        let socket = BufferedTcp(BufReader::with_capacity(TLS_READ, tcp));
        Ok(Stream::Tls(Box::new(StreamOwned::new(connection, socket))))
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.sock.0.get_ref(),
        }
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    /// The end of our side: `close_notify` first over TLS, then TCP's FIN.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        if let Stream::Tls(tls) = self {
            tls.conn.send_close_notify();
            tls.flush()?;
        }
        self.tcp().shutdown(Shutdown::Write)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}
