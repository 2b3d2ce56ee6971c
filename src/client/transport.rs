//! The client's bytes below the WebSocket: plain TCP, or TLS over it (`wss://`).
//!
//! The receiver and the writer run on two threads. With TLS they share one rustls session
//! behind a lock that is held only while records are processed, never during a blocking
//! socket read or write, so a receiver blocked in `read` never blocks a sender (the reason
//! the two halves exist, see `shared.rs`). Writes are already serialised by the writer's
//! lock, so records reach the socket in the order they were made; the receiver never
//! writes.

use super::error::ClientError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConnection, DigitallySignedStruct, SignatureScheme};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How the client checks a `wss://` server's certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ServerVerification {
    /// Against the system's root certificates (the default), with the host name checked.
    #[default]
    SystemRoots,
    /// Against the certificates in this PEM file only (a private CA), with the host name
    /// checked.
    CaFile(PathBuf),
    /// Not at all: any certificate is accepted. For tests and trusted networks only: anyone
    /// on the path can read and change the traffic.
    Insecure,
}

/// Plain TCP, or a TLS session over it.
#[derive(Clone)]
pub(crate) enum Transport {
    Plain,
    Tls(Arc<Mutex<ClientConnection>>),
}

fn lock(tls: &Mutex<ClientConnection>) -> MutexGuard<'_, ClientConnection> {
    tls.lock().unwrap_or_else(PoisonError::into_inner)
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Transport {
    /// Read plaintext into `buf`; `Ok(0)` when the server's side has ended.
    pub(crate) fn read(&self, stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        let Transport::Tls(tls) = self else {
            return stream.read(buf);
        };
        let mut raw = [0u8; 16 << 10];
        loop {
            match lock(tls).reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // TCP ended without close_notify: an end like any other here (the
                // WebSocket close, or its absence, tells whether it was clean).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            // Blocking, without the lock.
            let n = stream.read(&mut raw)?;
            if n == 0 {
                return Ok(0);
            }
            let mut tls = lock(tls);
            let mut records = &raw[..n];
            while !records.is_empty() {
                tls.read_tls(&mut records)?;
                tls.process_new_packets().map_err(tls_error)?;
            }
        }
    }

    /// Write all of `data` (the caller holds the writer, so writes do not interleave).
    pub(crate) fn write_all(&self, stream: &mut TcpStream, data: &[u8]) -> io::Result<()> {
        let Transport::Tls(tls) = self else {
            return stream.write_all(data);
        };
        // rustls takes a bounded amount of plaintext at a time: encrypt, write, repeat.
        let mut data = data;
        while !data.is_empty() {
            let (taken, records) = {
                let mut tls = lock(tls);
                let taken = tls.writer().write(data)?;
                (taken, drain_records(&mut tls)?)
            };
            if taken == 0 && records.is_empty() {
                return Err(io::ErrorKind::WriteZero.into());
            }
            stream.write_all(&records)?;
            data = &data[taken..];
        }
        Ok(())
    }

    /// End our sending: TLS's close_notify, then TCP's half-close.
    pub(crate) fn shutdown_write(&self, stream: &mut TcpStream) -> io::Result<()> {
        if let Transport::Tls(tls) = self {
            let records = {
                let mut tls = lock(tls);
                tls.send_close_notify();
                drain_records(&mut tls)?
            };
            stream.write_all(&records)?;
        }
        stream.shutdown(Shutdown::Write)
    }
}

fn drain_records(tls: &mut ClientConnection) -> io::Result<Vec<u8>> {
    let mut records = Vec::new();
    while tls.wants_write() {
        tls.write_tls(&mut records)?;
    }
    Ok(records)
}

/// The TLS session for `host`, its handshake completed on `stream` (whose timeouts bound
/// it).
pub(crate) fn handshake(
    stream: &mut TcpStream,
    host: &str,
    verification: &ServerVerification,
) -> Result<Transport, ClientError> {
    let config = client_config(verification)?;
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| ClientError::Tls(format!("{host} is not a valid TLS server name")))?;
    let mut tls =
        ClientConnection::new(config, name).map_err(|e| ClientError::Tls(e.to_string()))?;
    while tls.is_handshaking() {
        tls.complete_io(stream).map_err(|e| match e.get_ref() {
            Some(inner) if e.kind() == io::ErrorKind::InvalidData => {
                ClientError::Tls(inner.to_string())
            }
            _ => ClientError::Io(e),
        })?;
    }
    Ok(Transport::Tls(Arc::new(Mutex::new(tls))))
}

fn client_config(
    verification: &ServerVerification,
) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    // The server's provider (ring), and below its PEM reading (bounded, typed errors).
    let provider = crate::tls::ring_provider();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    let builder = match verification {
        ServerVerification::Insecure => {
            let verifier = Arc::new(AcceptAnyCertificate(provider));
            return Ok(Arc::new(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_no_client_auth(),
            ));
        }
        ServerVerification::CaFile(path) => {
            let certs =
                crate::tls::read_chain(path).map_err(|e| ClientError::Tls(e.to_string()))?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| ClientError::Tls(format!("{}: {e}", path.display())))?;
            }
            builder
        }
        ServerVerification::SystemRoots => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(ClientError::Tls(
                    "no root certificate found on this system (see ConnectOptions::ca_file)".into(),
                ));
            }
            builder
        }
    };
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// `ServerVerification::Insecure`: every certificate passes, but the handshake's
/// signatures are still checked (so the session is at least with the holder of the key it
/// presented).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
