//! Opening a connection: resolve, connect, write the dialect's request, check the answer.

use super::error::ClientError;
use super::options::ConnectOptions;
use super::transport::{self, Transport};
use super::url::WsUrl;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};
use ws_protocols::compression::Compression;
use ws_protocols::frame::ConnectionKey;
use ws_protocols::handshake::{client_request, ClientConfig, ClientHandshake, Status};

/// A connection whose opening handshake succeeded.
pub(crate) struct Opened {
    pub stream: TcpStream,
    /// Plain TCP, or the TLS session of a `wss://` connection.
    pub transport: Transport,
    pub subprotocol: Option<String>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Bytes read past the handshake: frames the server sent right after it.
    pub leftover: Vec<u8>,
    /// hybi-04: the connection key the server's nonce gave, for our masks.
    pub connection_key: Option<ConnectionKey>,
    /// The compression agreed, from our side.
    pub compression: Option<Compression>,
}

/// Fill `buf` from the OS random source.
pub(crate) fn os_random(buf: &mut [u8]) -> Result<(), ClientError> {
    getrandom::fill(buf).map_err(|e| ClientError::Io(io::Error::other(e.to_string())))
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn connect_tcp(url: &WsUrl, timeout: Option<Duration>) -> Result<TcpStream, ClientError> {
    let mut last = None;
    for addr in (url.dns_host(), url.port()).to_socket_addrs()? {
        let attempt = match timeout {
            Some(t) => TcpStream::connect_timeout(&addr, t),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if timed_out(&e) => ClientError::TimedOut,
        Some(e) => ClientError::Io(e),
        None => ClientError::Io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} resolves to no address", url.dns_host()),
        )),
    })
}

/// Time left before `deadline`, or `TimedOut`.
fn remaining(deadline: Instant) -> Result<Duration, ClientError> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or(ClientError::TimedOut)
}

pub(crate) fn open(url: &WsUrl, options: &ConnectOptions) -> Result<Opened, ClientError> {
    let mut stream = connect_tcp(url, options.connect_timeout)?;
    // Messages are written whole (or a fragment at a time): no reason to wait for more.
    stream.set_nodelay(true)?;
    let deadline = Instant::now() + options.handshake_timeout;
    let transport = if url.secure() {
        // The TLS handshake counts toward the opening handshake's time.
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        stream.set_write_timeout(Some(remaining(deadline)?))?;
        transport::handshake(&mut stream, url.dns_host(), &options.verification)?
    } else {
        Transport::Plain
    };

    let opened = with_config(url, options, |config| {
        handshake_on(stream, transport, config, deadline)
    })?;
    opened.stream.set_read_timeout(options.read_timeout)?;
    opened.stream.set_write_timeout(options.write_timeout)?;
    Ok(opened)
}

/// Run `f` with the protocols crate's view of `url` and `options`: what the opening request
/// says (the loop's `Cx::connect_url` builds its request from the same).
pub(crate) fn with_config<R>(
    url: &WsUrl,
    options: &ConnectOptions,
    f: impl FnOnce(&ClientConfig<'_>) -> R,
) -> R {
    let host = url.host_header();
    let subprotocols: Vec<&str> = options.subprotocols.iter().map(String::as_str).collect();
    let headers: Vec<(&str, &str)> = options
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    f(&ClientConfig {
        origin: options.origin.as_deref(),
        subprotocols: &subprotocols,
        extra_headers: &headers,
        secure: url.secure(),
        compression: options.compression.is_on().then_some(options.compression),
        ..ClientConfig::new(options.dialect, &host, url.target())
    })
}

/// The opening request for `config` and what its answer must hold, with keys from the OS
/// random source (RFC 6455 §10.3 wants them unpredictable). The loop's `Cx::connect` sends
/// the same.
pub(crate) fn opening_request(config: &ClientConfig<'_>) -> io::Result<(ClientHandshake, Vec<u8>)> {
    let mut failure = None;
    let mut random = |buf: &mut [u8]| {
        if let Err(e) = getrandom::fill(buf) {
            failure = Some(e);
        }
    };
    let mut request = Vec::with_capacity(512);
    let handshake = client_request(config, &mut random, &mut request);
    match failure {
        Some(e) => Err(io::Error::other(format!(
            "no randomness for the handshake key: {e}"
        ))),
        None => Ok((handshake, request)),
    }
}

fn handshake_on(
    mut stream: TcpStream,
    transport: Transport,
    config: &ClientConfig<'_>,
    deadline: Instant,
) -> Result<Opened, ClientError> {
    let (handshake, request) = opening_request(config).map_err(ClientError::Io)?;

    stream.set_write_timeout(Some(remaining(deadline)?))?;
    transport.write_all(&mut stream, &request).map_err(|e| {
        if timed_out(&e) {
            ClientError::TimedOut
        } else {
            ClientError::Io(e)
        }
    })?;

    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let response = loop {
        match handshake.read_response(&buf) {
            Ok(Status::Complete(response)) => break response,
            Ok(Status::Partial) => {}
            Err(e) => return Err(ClientError::Handshake(e)),
        }
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        match transport.read(&mut stream, &mut chunk) {
            Ok(0) => {
                return Err(ClientError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection during the opening handshake",
                )))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if timed_out(&e) => return Err(ClientError::TimedOut),
            Err(e) => return Err(ClientError::Io(e)),
        }
    };
    Ok(Opened {
        stream,
        transport,
        subprotocol: response.subprotocol,
        headers: response.headers,
        leftover: buf.split_off(response.consumed),
        connection_key: response.connection_key,
        compression: response.compression,
    })
}
