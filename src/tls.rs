//! TLS configuration for `wss://`: a certificate chain and its private key read from PEM
//! files into a [`rustls::ServerConfig`] (ring provider, TLS 1.2 and 1.3, no client
//! authentication, ALPN `http/1.1`), and [`TlsConfig`], a holder that can load the files
//! again (a renewed certificate) and keeps the configuration it had when the new files are
//! bad.
//!
//! ```no_run
//! use ws::tls::{server_config, TlsFiles};
//!
//! let config = server_config(&TlsFiles::new("/etc/omniws/chain.pem", "/etc/omniws/key.pem"))?;
//! let settings = ws::Settings::default().tls(Some(config));
//! # Ok::<(), ws::tls::TlsError>(())
//! ```

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The only application protocol offered in ALPN: a WebSocket opening handshake is an
/// HTTP/1.1 request.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// Largest PEM file read: a certificate chain or a key is a few kilobytes; this only keeps a
/// wrong path (`/dev/zero`, a disk image) from filling memory.
const MAX_PEM_FILE: u64 = 16 << 20;

/// Where the certificate chain and its private key are.
///
/// ```
/// use ws::tls::TlsFiles;
///
/// let files = TlsFiles::new("chain.pem", "key.pem");
/// assert_eq!(files.cert, std::path::PathBuf::from("chain.pem"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, PEM: the server's certificate first, then the intermediates
    /// that lead to the root the clients trust (the root itself may be left out).
    pub cert: PathBuf,
    /// The private key of the first certificate, PEM: PKCS#8 (`BEGIN PRIVATE KEY`),
    /// PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`), unencrypted. The
    /// first key in the file is used.
    pub key: PathBuf,
}

impl TlsFiles {
    /// The two paths.
    ///
    /// ```
    /// let files = ws::tls::TlsFiles::new("/etc/omniws/chain.pem", "/etc/omniws/key.pem");
    /// assert!(files.key.ends_with("key.pem"));
    /// ```
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        TlsFiles {
            cert: cert.into(),
            key: key.into(),
        }
    }
}

/// Why the TLS configuration could not be built. Each names the file at fault.
///
/// ```
/// use ws::tls::{server_config, TlsError, TlsFiles};
///
/// let files = TlsFiles::new("/nonexistent/chain.pem", "/nonexistent/key.pem");
/// match server_config(&files) {
///     Err(TlsError::Read { path, .. }) => assert_eq!(path, files.cert),
///     other => panic!("expected a read error, got {other:?}"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// The file could not be read (missing, unreadable, a directory, larger than 16 MiB).
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
    /// The file has a PEM section that does not parse (no end line, bad base64).
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        error: pem::Error,
    },
    /// The certificate file has no `BEGIN CERTIFICATE` section (a DER file, the wrong file).
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file has no unencrypted private key section (PKCS#8, PKCS#1 or SEC1).
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key is not the key of the first certificate in the chain.
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the key or the certificate (a key type the ring provider does not
    /// support, a key or certificate that does not parse).
    Rejected {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        error: rustls::Error,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            TlsError::Pem { path, error } => {
                write!(f, "{}: malformed PEM: {error}", path.display())
            }
            TlsError::NoCertificate { path } => write!(
                f,
                "{}: no certificate (expected PEM \"BEGIN CERTIFICATE\" sections)",
                path.display()
            ),
            TlsError::NoPrivateKey { path } => write!(
                f,
                "{}: no private key (expected an unencrypted PEM key: \"BEGIN PRIVATE KEY\", \
                 \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\")",
                path.display()
            ),
            TlsError::KeyMismatch { cert, key } => write!(
                f,
                "the private key in {} is not the key of the certificate in {}",
                key.display(),
                cert.display()
            ),
            TlsError::Rejected { cert, key, error } => write!(
                f,
                "certificate {} with key {} refused: {error}",
                cert.display(),
                key.display()
            ),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Read { error, .. } => Some(error),
            TlsError::Pem { error, .. } => Some(error),
            TlsError::Rejected { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Read the certificate chain and the key of `files` and build the server's TLS
/// configuration: the ring provider, TLS 1.2 and 1.3 with rustls' safe defaults, no client
/// authentication, ALPN `http/1.1` (a client offering ALPN without `http/1.1` is refused;
/// one offering no ALPN is served). Nothing is cached: each call reads the files again.
///
/// ```no_run
/// use ws::tls::{server_config, TlsFiles};
///
/// let config = server_config(&TlsFiles::new("chain.pem", "key.pem"))?;
/// assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
/// # Ok::<(), ws::tls::TlsError>(())
/// ```
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_chain(&files.cert)?;
    let key = read_key(&files.key)?;
    let provider = ring_provider();
    let rejected = |error| match error {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::KeyMismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
            }
        }
        error => TlsError::Rejected {
            cert: files.cert.clone(),
            key: files.key.clone(),
            error,
        },
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(rejected)?;
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(Arc::new(config))
}

/// rustls' ring provider: ring builds with a C compiler alone (aws-lc-rs wants more of the
/// build machine). rustls 0.23.48 deprecated `ring::default_provider` because ring has no
/// post-quantum key exchange (X25519MLKEM768): connections agree on X25519 or a NIST curve.
/// The aws-lc-rs provider is the way to post-quantum key exchange, if it is ever wanted.
#[allow(deprecated)]
pub(crate) fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The file's bytes, at most [`MAX_PEM_FILE`].
fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    let failed = |error| TlsError::Read {
        path: path.to_path_buf(),
        error,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|file| file.take(MAX_PEM_FILE + 1).read_to_end(&mut bytes))
        .map_err(failed)?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(failed(io::Error::new(
            io::ErrorKind::InvalidData,
            "larger than 16 MiB, not a PEM certificate or key",
        )));
    }
    Ok(bytes)
}

/// Every certificate in a PEM file (a chain, or a client's private CA), at least one.
pub(crate) fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem {
            path: path.to_path_buf(),
            error,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read_file(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        },
        error => TlsError::Pem {
            path: path.to_path_buf(),
            error,
        },
    })
}

/// The server's TLS configuration together with the files it came from, so that it can be
/// loaded again when the certificate is renewed. A failed [`reload`](Self::reload) keeps
/// the configuration loaded before: a bad renewal never takes `wss://` down.
///
/// Connections hold the `Arc<ServerConfig>` they started with; a reload only changes what
/// [`current`](Self::current) gives to the connections after it.
///
/// ```no_run
/// use ws::tls::{TlsConfig, TlsFiles};
///
/// let mut tls = TlsConfig::load(TlsFiles::new("chain.pem", "key.pem"))?;
/// let settings = ws::Settings::default().tls(Some(tls.current()));
/// // Later, after the certificate was renewed on disk:
/// if let Err(e) = tls.reload() {
///     eprintln!("still serving the old certificate: {e}");
/// }
/// # Ok::<(), ws::tls::TlsError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TlsConfig {
    files: TlsFiles,
    current: Arc<ServerConfig>,
}

impl TlsConfig {
    /// Load `files` ([`server_config`]).
    ///
    /// ```no_run
    /// let tls = ws::tls::TlsConfig::load(ws::tls::TlsFiles::new("chain.pem", "key.pem"))?;
    /// # Ok::<(), ws::tls::TlsError>(())
    /// ```
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let current = server_config(&files)?;
        Ok(TlsConfig { files, current })
    }

    /// The configuration for new connections.
    ///
    /// ```no_run
    /// # let tls = ws::tls::TlsConfig::load(ws::tls::TlsFiles::new("chain.pem", "key.pem"))?;
    /// let config: std::sync::Arc<rustls::ServerConfig> = tls.current();
    /// # Ok::<(), ws::tls::TlsError>(())
    /// ```
    pub fn current(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current)
    }

    /// The files it loads.
    ///
    /// ```no_run
    /// # let tls = ws::tls::TlsConfig::load(ws::tls::TlsFiles::new("chain.pem", "key.pem"))?;
    /// println!("certificate: {}", tls.files().cert.display());
    /// # Ok::<(), ws::tls::TlsError>(())
    /// ```
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// Read the files again. On success [`current`](Self::current) gives the new
    /// configuration; on failure the one before stays, the reason is logged (`warn`) and
    /// returned.
    ///
    /// ```no_run
    /// # let mut tls = ws::tls::TlsConfig::load(ws::tls::TlsFiles::new("chain.pem", "key.pem"))?;
    /// let before = tls.current();
    /// if tls.reload().is_err() {
    ///     assert!(std::sync::Arc::ptr_eq(&before, &tls.current()));
    /// }
    /// # Ok::<(), ws::tls::TlsError>(())
    /// ```
    pub fn reload(&mut self) -> Result<(), TlsError> {
        match server_config(&self.files) {
            Ok(config) => {
                self.current = config;
                log::info!(
                    "TLS: certificate reloaded from {}",
                    self.files.cert.display()
                );
                Ok(())
            }
            Err(e) => {
                log::warn!("TLS: reload failed, keeping the certificate loaded before: {e}");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConnection};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir = std::env::temp_dir().join(format!(
                "omniws-tls-unit-{}-{}-{nanos}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A CA and a leaf for `localhost` it signs (rustls will not take a self-signed leaf as
    /// its own trust anchor).
    struct Pki {
        ca: CertificateDer<'static>,
        leaf_pem: String,
        key: KeyPair,
    }

    fn pki() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "omniws unit-test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = leaf_params().signed_by(&key, &ca).unwrap();
        Pki {
            ca: ca.der().clone(),
            leaf_pem: leaf.pem(),
            key,
        }
    }

    fn leaf_params() -> CertificateParams {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params
    }

    fn client_config(
        ca: &CertificateDer<'static>,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone()).unwrap();
        let mut config = ClientConfig::builder_with_provider(ring_provider())
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// Run a handshake in memory between `server` and a client with `client`; the first
    /// error either side meets.
    fn handshake(
        server: Arc<ServerConfig>,
        client: Arc<ClientConfig>,
    ) -> Result<(ServerConnection, ClientConnection), rustls::Error> {
        let mut server = ServerConnection::new(server)?;
        let mut client = ClientConnection::new(client, ServerName::try_from("localhost").unwrap())?;
        for _ in 0..16 {
            let mut records = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut records).unwrap();
            }
            let mut rd = &records[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).unwrap();
                server.process_new_packets()?;
            }
            let mut records = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut records).unwrap();
            }
            let mut rd = &records[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
                client.process_new_packets()?;
            }
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok((server, client));
            }
        }
        panic!("the handshake did not finish");
    }

    fn pem_section(label: &str, der: &[u8]) -> String {
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = format!("-----BEGIN {label}-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap());
            pem.push('\n');
        }
        pem.push_str(&format!("-----END {label}-----\n"));
        pem
    }

    /// One DER element: (tag, contents, what follows).
    fn der_element(input: &[u8]) -> (u8, &[u8], &[u8]) {
        let (tag, first) = (input[0], input[1]);
        let (len, head) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let n = (first & 0x7f) as usize;
            let len = input[2..2 + n]
                .iter()
                .fold(0usize, |len, b| (len << 8) | *b as usize);
            (len, 2 + n)
        };
        (tag, &input[head..head + len], &input[head + len..])
    }

    /// The key a PKCS#8 PrivateKeyInfo wraps: SEC1 for an EC key, PKCS#1 for RSA.
    fn pkcs8_inner_key(pkcs8: &[u8]) -> &[u8] {
        let (tag, info, _) = der_element(pkcs8);
        assert_eq!(tag, 0x30);
        let (_, _, rest) = der_element(info); // version
        let (_, _, rest) = der_element(rest); // algorithm
        let (tag, key, _) = der_element(rest);
        assert_eq!(tag, 0x04);
        key
    }

    #[test]
    fn loads_a_ca_signed_leaf_and_serves_tls_1_2_and_1_3_with_alpn() {
        let dir = TempDir::new();
        let pki = pki();
        let files = TlsFiles::new(
            dir.write("chain.pem", &pki.leaf_pem),
            dir.write("key.pem", pki.key.serialize_pem()),
        );
        let config = server_config(&files).unwrap();
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
        for (version, expected) in [
            (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
            (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        ] {
            let client = client_config(&pki.ca, &[version], &[b"h2", b"http/1.1"]);
            let (server, client) = handshake(config.clone(), client).unwrap();
            assert_eq!(server.protocol_version(), Some(expected));
            assert_eq!(client.alpn_protocol(), Some(&b"http/1.1"[..]));
        }
        // A client without ALPN is served too.
        let client = client_config(&pki.ca, rustls::DEFAULT_VERSIONS, &[]);
        let (server, _) = handshake(config.clone(), client).unwrap();
        assert_eq!(server.alpn_protocol(), None);
    }

    #[test]
    fn a_chain_with_its_ca_and_a_sec1_key_after_ec_parameters_load() {
        let dir = TempDir::new();
        let pki = pki();
        // openssl ecparam -genkey writes the curve's parameters before the SEC1 key.
        let p256_parameters = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        let sec1 = pkcs8_inner_key(pki.key.serialized_der());
        let key =
            pem_section("EC PARAMETERS", &p256_parameters) + &pem_section("EC PRIVATE KEY", sec1);
        let chain = pki.leaf_pem.clone() + &pem_section("CERTIFICATE", &pki.ca);
        let files = TlsFiles::new(dir.write("chain.pem", chain), dir.write("key.pem", key));
        let config = server_config(&files).unwrap();
        let client = client_config(&pki.ca, rustls::DEFAULT_VERSIONS, &[]);
        handshake(config, client).unwrap();
    }

    #[test]
    fn a_pkcs1_section_is_taken_as_the_key() {
        // No RSA key generation with ring: a PKCS#1 section with a body that is no RSA key
        // must reach rustls (and be refused there), not be skipped as "no key".
        let dir = TempDir::new();
        let pki = pki();
        let files = TlsFiles::new(
            dir.write("chain.pem", &pki.leaf_pem),
            dir.write("key.pem", pem_section("RSA PRIVATE KEY", b"not an RSA key")),
        );
        let err = server_config(&files).unwrap_err();
        assert!(matches!(err, TlsError::Rejected { .. }), "{err:?}");
    }

    #[test]
    fn unreadable_files_are_read_errors_naming_the_file() {
        let dir = TempDir::new();
        let pki = pki();
        let cert = dir.write("chain.pem", &pki.leaf_pem);
        let key = dir.write("key.pem", pki.key.serialize_pem());
        let missing = dir.0.join("missing.pem");

        let err = server_config(&TlsFiles::new(&missing, &key)).unwrap_err();
        match &err {
            TlsError::Read { path, error } => {
                assert_eq!(path, &missing);
                assert_eq!(error.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("missing.pem"), "{err}");
        assert!(std::error::Error::source(&err).is_some());

        let err = server_config(&TlsFiles::new(&cert, &missing)).unwrap_err();
        assert!(
            matches!(&err, TlsError::Read { path, .. } if path == &missing),
            "{err:?}"
        );

        // A directory.
        let err = server_config(&TlsFiles::new(&dir.0, &key)).unwrap_err();
        assert!(
            matches!(&err, TlsError::Read { path, .. } if path == &dir.0),
            "{err:?}"
        );
    }

    #[test]
    fn files_without_a_certificate_or_a_key_say_so() {
        let dir = TempDir::new();
        let pki = pki();
        let cert = dir.write("chain.pem", &pki.leaf_pem);
        let key = dir.write("key.pem", pki.key.serialize_pem());
        let empty = dir.write("empty.pem", "");
        let der = dir.write("chain.der", &pki.ca[..]);

        for no_cert in [&key, &empty, &der] {
            let err = server_config(&TlsFiles::new(no_cert, &key)).unwrap_err();
            assert!(
                matches!(&err, TlsError::NoCertificate { path } if path == no_cert),
                "{err:?}"
            );
            assert!(err.to_string().contains("no certificate"), "{err}");
        }
        // The certificate given as the key, an encrypted key.
        let encrypted = dir.write(
            "encrypted.pem",
            pem_section("ENCRYPTED PRIVATE KEY", b"sealed"),
        );
        for no_key in [&cert, &empty, &encrypted] {
            let err = server_config(&TlsFiles::new(&cert, no_key)).unwrap_err();
            assert!(
                matches!(&err, TlsError::NoPrivateKey { path } if path == no_key),
                "{err:?}"
            );
            assert!(err.to_string().contains("no private key"), "{err}");
        }
    }

    #[test]
    fn malformed_pem_is_a_pem_error() {
        let dir = TempDir::new();
        let pki = pki();
        let key = dir.write("key.pem", pki.key.serialize_pem());
        let truncated = dir.write(
            "truncated.pem",
            &pki.leaf_pem[..pki.leaf_pem.find("-----END").unwrap()],
        );
        let err = server_config(&TlsFiles::new(&truncated, &key)).unwrap_err();
        assert!(
            matches!(&err, TlsError::Pem { path, .. } if path == &truncated),
            "{err:?}"
        );
        let bad_base64 = dir.write(
            "bad.pem",
            "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        );
        let cert = dir.write("chain.pem", &pki.leaf_pem);
        let err = server_config(&TlsFiles::new(&cert, &bad_base64)).unwrap_err();
        assert!(
            matches!(&err, TlsError::Pem { path, .. } if path == &bad_base64),
            "{err:?}"
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_a_mismatch() {
        let dir = TempDir::new();
        let (one, other) = (pki(), pki());
        let files = TlsFiles::new(
            dir.write("chain.pem", &one.leaf_pem),
            dir.write("key.pem", other.key.serialize_pem()),
        );
        let err = server_config(&files).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
        assert!(err.to_string().contains("is not the key of"), "{err}");
        // A key section whose body is no key at all: rustls refuses it.
        let files = TlsFiles::new(
            files.cert.clone(),
            dir.write("junk.pem", pem_section("PRIVATE KEY", b"junk")),
        );
        let err = server_config(&files).unwrap_err();
        assert!(matches!(err, TlsError::Rejected { .. }), "{err:?}");
    }

    #[test]
    fn reload_keeps_the_old_config_when_the_new_files_are_bad() {
        let dir = TempDir::new();
        let first = pki();
        let files = TlsFiles::new(
            dir.write("chain.pem", &first.leaf_pem),
            dir.write("key.pem", first.key.serialize_pem()),
        );
        let mut tls = TlsConfig::load(files.clone()).unwrap();
        assert_eq!(tls.files(), &files);
        let before = tls.current();

        // Half a renewal: a new certificate, the old key.
        let second = pki();
        dir.write("chain.pem", &second.leaf_pem);
        let err = tls.reload().unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
        assert!(Arc::ptr_eq(&before, &tls.current()));
        // The key vanishes.
        std::fs::remove_file(&files.key).unwrap();
        assert!(matches!(tls.reload(), Err(TlsError::Read { .. })));
        assert!(Arc::ptr_eq(&before, &tls.current()));
        // Still the first certificate.
        let first_client = client_config(&first.ca, rustls::DEFAULT_VERSIONS, &[]);
        handshake(tls.current(), first_client.clone()).unwrap();

        // The renewal completed.
        dir.write("key.pem", second.key.serialize_pem());
        tls.reload().unwrap();
        assert!(!Arc::ptr_eq(&before, &tls.current()));
        let second_client = client_config(&second.ca, rustls::DEFAULT_VERSIONS, &[]);
        handshake(tls.current(), second_client).unwrap();
        assert!(handshake(tls.current(), first_client).is_err());
    }
}
