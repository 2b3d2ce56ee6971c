//! Test certificates for wss://: a CA and a leaf it signs, generated at run time (rustls
//! will not take a self-signed leaf as its own trust anchor), written as PEM files to a
//! fresh temporary directory that is removed on drop, and a rustls client configuration
//! that trusts the CA.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A CA and a leaf it signs, as PEM files in a temporary directory.
pub struct TestCerts {
    /// The temporary directory holding the files; removed on drop.
    pub dir: PathBuf,
    /// The CA's certificate, PEM (also in `dir/ca.pem`).
    pub ca_pem: String,
    /// The leaf's certificate chain, PEM (the leaf, then the CA).
    pub cert_path: PathBuf,
    /// The leaf's private key, PEM (PKCS#8, ECDSA P-256).
    pub key_path: PathBuf,
    ca_der: CertificateDer<'static>,
}

impl TestCerts {
    /// A CA, and a leaf it signs for `host` and 127.0.0.1 (subject alternative names).
    pub fn generate(host: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "omniws test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let mut names = vec![host.to_string()];
        if host != "127.0.0.1" {
            names.push("127.0.0.1".to_string());
        }
        let mut leaf_params = CertificateParams::new(names).expect("leaf params");
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, host);
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf_params.use_authority_key_identifier_extension = true;
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = leaf_params
            .signed_by(&leaf_key, &ca)
            .expect("leaf certificate");

        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "omniws-tls-test-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let ca_pem = ca.pem();
        let cert_path = dir.join("chain.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(dir.join("ca.pem"), &ca_pem).expect("write ca.pem");
        std::fs::write(&cert_path, leaf.pem() + &ca_pem).expect("write chain.pem");
        std::fs::write(&key_path, leaf_key.serialize_pem()).expect("write key.pem");
        TestCerts {
            dir,
            ca_pem,
            cert_path,
            key_path,
            ca_der: ca.der().clone(),
        }
    }

    /// A client configuration (ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`) that trusts
    /// only this CA: with `rustls::ClientConnection::new(config, "localhost".try_into()?)`
    /// and `rustls::StreamOwned`, a blocking TLS client of the test server.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("CA certificate");
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl Drop for TestCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// rustls' ring provider, as the server uses. rustls 0.23.48 deprecated
/// `rustls::crypto::ring::default_provider` (ring has no post-quantum key exchange); the
/// deprecation is acknowledged here once instead of in every test.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
