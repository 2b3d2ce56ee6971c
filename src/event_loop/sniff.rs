//! One port for both schemes: the first byte of a connection says whether it is TLS.

use crate::tls_layer::{TlsLayer, HANDSHAKE_RECORD};
use mio::net::TcpStream;
use std::io;
use std::sync::Arc;

/// What the first bytes of a connection on a port that serves TLS say.
pub(super) enum Sniffed {
    /// A TLS record: the connection gets its TLS layer.
    Tls(Box<TlsLayer>),
    /// Anything else: plain HTTP.
    Plain,
    /// The end of the stream, or an error: the read that follows reports it.
    Unreadable,
    /// Nothing has arrived yet.
    NotYet,
}

/// Look at the first byte without taking it: a TLS handshake record starts with 0x16, which
/// no HTTP method does.
pub(super) fn sniff_tls(stream: &TcpStream, config: &Arc<rustls::ServerConfig>) -> Sniffed {
    let mut first = [0u8; 1];
    match stream.peek(&mut first) {
        Ok(1) if first[0] == HANDSHAKE_RECORD => match TlsLayer::new(Arc::clone(config)) {
            Ok(layer) => Sniffed::Tls(Box::new(layer)),
            Err(e) => {
                log::error!("TLS layer refused its configuration: {e}");
                Sniffed::Plain
            }
        },
        Ok(1) => Sniffed::Plain,
        Ok(_) => Sniffed::Unreadable,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Sniffed::NotYet,
        Err(_) => Sniffed::Unreadable,
    }
}
