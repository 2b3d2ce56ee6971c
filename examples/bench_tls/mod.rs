//! TLS for the benchmark tools (bench-only; `scripts/bench-tls.sh`): rustls configurations
//! for the peers' acceptor and the clients' connector, the `--tls-cert`/`--tls-key` options
//! of the peers, and [`MaybeTls`], one stream type for plain and TLS connections on tokio.
//!
//! Included with `#[path]` by `examples/loadgen.rs`, `examples/tungstenite_echo.rs` and
//! `examples/pipe_bench/` (a folder without `main.rs`, so cargo does not build it as an
//! example of its own). Each includer uses part of it.
//!
//! Both sides are set up as the command-line server is (`ws::tls::server_config`): rustls
//! 0.23 with the ring provider, TLS 1.2 and 1.3, no client authentication, ALPN `http/1.1`.
//! Clients never resume a session, so every handshake a benchmark counts is a full one.
#![allow(dead_code)]

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The one application protocol offered and accepted, as the command-line server does.
const ALPN: &[u8] = b"http/1.1";

/// rustls' ring provider (the server's; ring has no post-quantum key exchange, which is why
/// rustls 0.23.48 deprecated this constructor).
#[allow(deprecated)]
fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(chain)
}

/// A server configuration from a PEM chain and key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let mut config = ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("TLS server configuration: {e}"))?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration that trusts the certificates of `ca` (PEM) and nothing else, and
/// never resumes a session.
pub fn client_config(ca: &Path) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca)? {
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    let mut config = ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS client configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// The server name to check a certificate against: the host of `HOST:PORT` (an IP address
/// or a DNS name; `[v6]:port` too).
pub fn server_name(host_port: &str) -> Result<ServerName<'static>, String> {
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|e| format!("server name {host:?}: {e}"))
}

/// Takes `--tls-cert FILE --tls-key FILE` out of a peer's arguments, leaving the rest: an
/// acceptor with both, `None` with neither, an error with one alone.
pub fn take_server_options(args: &mut Vec<String>) -> Result<Option<TlsAcceptor>, String> {
    let mut take = |flag: &str| -> Result<Option<String>, String> {
        let Some(at) = args.iter().position(|a| a == flag) else {
            return Ok(None);
        };
        if at + 1 == args.len() {
            return Err(format!("{flag} needs a file"));
        }
        let value = args.remove(at + 1);
        args.remove(at);
        Ok(Some(value))
    };
    match (take("--tls-cert")?, take("--tls-key")?) {
        (Some(cert), Some(key)) => {
            let config = server_config(cert.as_ref(), key.as_ref())?;
            Ok(Some(TlsAcceptor::from(config)))
        }
        (None, None) => Ok(None),
        _ => Err("--tls-cert and --tls-key go together".to_owned()),
    }
}

/// A connection of a peer or a client on tokio, plain or TLS: one type, so the code above it
/// is the same for both (a TLS stream is boxed: rustls' state is a few hundred bytes).
pub enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl MaybeTls {
    /// The server side: a TLS handshake first with `acceptor`, else the stream as it is.
    pub async fn accept(acceptor: Option<&TlsAcceptor>, tcp: TcpStream) -> io::Result<Self> {
        Ok(match acceptor {
            Some(acceptor) => MaybeTls::Tls(Box::new(acceptor.accept(tcp).await?.into())),
            None => MaybeTls::Plain(tcp),
        })
    }

    /// The client side: a TLS handshake first with `connector` for `name`, else the stream
    /// as it is.
    pub async fn connect(
        tls: Option<(&TlsConnector, &ServerName<'static>)>,
        tcp: TcpStream,
    ) -> io::Result<Self> {
        Ok(match tls {
            Some((connector, name)) => {
                MaybeTls::Tls(Box::new(connector.connect(name.clone(), tcp).await?.into()))
            }
            None => MaybeTls::Plain(tcp),
        })
    }

    /// End TLS properly: our `close_notify`, then the end of our side of TCP (what the
    /// server under test does after the closing handshake). Nothing for a plain stream,
    /// which ends when it is dropped.
    pub async fn close_notify(&mut self) -> io::Result<()> {
        match self {
            MaybeTls::Plain(_) => Ok(()),
            MaybeTls::Tls(s) => {
                std::future::poll_fn(|cx| Pin::new(s.as_mut()).poll_shutdown(cx)).await
            }
        }
    }
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(s) => s.is_write_vectored(),
            MaybeTls::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        for (given, host) in [
            ("127.0.0.1:443", "127.0.0.1"),
            ("localhost:9001", "localhost"),
            ("[::1]:8443", "::1"),
            ("example.org", "example.org"),
        ] {
            let name = server_name(given).unwrap();
            assert_eq!(name.to_str(), host, "{given}");
        }
    }

    #[test]
    fn server_options_go_together() {
        let mut args: Vec<String> = ["--port", "1", "--tls-cert", "c.pem"]
            .map(String::from)
            .into();
        assert!(take_server_options(&mut args).is_err());
        let mut args: Vec<String> = ["--port", "1"].map(String::from).into();
        assert!(take_server_options(&mut args).unwrap().is_none());
        assert_eq!(args, ["--port", "1"]);
    }
}
