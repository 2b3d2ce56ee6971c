//! Both engines against a rustls client over a loopback socket: every cipher suite of TLS 1.2
//! and 1.3, records of every size from 3 bytes to 16 KiB (many to a `recv`), key updates,
//! read buffers from the loop's 128 KiB down to one byte, `close_notify` both ways, and a
//! record that fails to decrypt, which must cost an alert and an error.

use super::TlsLayer;
use crate::buffer::WriteQueue;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::crypto::ring::cipher_suite::*;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);

#[allow(deprecated)] // rustls 0.23.48 deprecates the ring provider, which the server uses
fn provider(suites: &[SupportedCipherSuite]) -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = suites.to_vec();
    Arc::new(provider)
}

/// A server configuration with a leaf signed by a CA, and a client configuration that trusts
/// the CA, both limited to `suites`.
fn configs(suites: &[SupportedCipherSuite]) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let versions: &[&SupportedProtocolVersion] =
        &[&rustls::version::TLS12, &rustls::version::TLS13];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let server = ServerConfig::builder_with_provider(provider(suites))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let client = ClientConfig::builder_with_provider(provider(suites))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// A connected pair: the server's end for the loop, the client's blocking end.
fn socket_pair() -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    (TcpStream::from_std(server), client)
}

/// What the server side of a test ended with.
#[derive(Debug, PartialEq)]
enum End {
    /// The stream ended (after the client's `close_notify`); ours went out.
    Closed,
    /// A read failed with `InvalidData` (a TLS error).
    TlsError,
}

/// Echo every plaintext byte back through `layer`, reading with a `read_size` buffer, as the
/// loop drives a connection: read until `WouldBlock`, write the queue, wait for readiness.
fn serve_echo(mut layer: TlsLayer, mut stream: TcpStream, read_size: usize) -> End {
    let mut poll = Poll::new().unwrap();
    poll.registry()
        .register(
            &mut stream,
            Token(0),
            Interest::READABLE | Interest::WRITABLE,
        )
        .unwrap();
    let mut events = Events::with_capacity(4);
    let mut buf = vec![0u8; read_size];
    let mut queue = WriteQueue::default();
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < DEADLINE, "the echo did not finish");
        loop {
            match layer.read(&mut stream, &mut buf) {
                Ok(0) => {
                    layer.write_from(&mut stream, &mut queue).unwrap();
                    layer.close_notify();
                    while layer.has_pending_output() {
                        layer.flush(&mut stream).unwrap();
                    }
                    return End::Closed;
                }
                Ok(n) => queue.extend(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => return End::TlsError,
                Err(e) => panic!("read: {e}"),
            }
        }
        layer.write_from(&mut stream, &mut queue).unwrap();
        let waiting = queue.len() + layer.waiting();
        assert!(waiting <= 8 << 20, "{waiting} bytes held");
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
    }
}

/// Messages of many sizes through the echo, each written as records of `record` bytes at
/// most; with `key_updates`, the client refreshes its keys (TLS 1.3) before each.
fn client_echo(
    config: Arc<ClientConfig>,
    socket: std::net::TcpStream,
    record: usize,
    key_updates: bool,
) {
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, socket);
    let mut seed = 7u32;
    for size in [1, 200, 16_368, 16_384, 16_385, 100_000, 1 << 20] {
        let message: Vec<u8> = (0..size)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as u8
            })
            .collect();
        if key_updates && tls.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
            tls.conn.refresh_traffic_keys().unwrap();
        }
        for piece in message.chunks(record) {
            tls.write_all(piece).unwrap(); // a record each
        }
        let mut back = vec![0u8; size];
        tls.read_exact(&mut back).unwrap();
        assert!(back == message, "{size} bytes came back different");
    }
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    let mut rest = Vec::new();
    // Ok only if the server's close_notify came before TCP's end.
    tls.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

fn run(suite: SupportedCipherSuite, adopted: bool, read_size: usize, record: usize) {
    let (server_config, client_config) = configs(&[suite]);
    let (server, client) = socket_pair();
    let layer = if adopted {
        TlsLayer::adopt(rustls::ServerConnection::new(server_config).unwrap())
    } else {
        TlsLayer::new(server_config).unwrap()
    };
    let key_updates = record > 1000;
    let client =
        std::thread::spawn(move || client_echo(client_config, client, record, key_updates));
    assert_eq!(
        serve_echo(layer, server, read_size),
        End::Closed,
        "{suite:?}"
    );
    client.join().unwrap();
}

const SUITES: [SupportedCipherSuite; 6] = [
    TLS13_AES_128_GCM_SHA256,
    TLS13_AES_256_GCM_SHA384,
    TLS13_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
];

#[test]
fn every_suite_echoes_through_the_loops_read_buffer() {
    for suite in SUITES {
        run(suite, false, 128 << 10, 1 << 20);
    }
}

#[test]
fn small_records_and_small_read_buffers() {
    for (read_size, record) in [(128 << 10, 3), (8 << 10, 5000), (100, 16_384), (1, 7000)] {
        run(TLS13_AES_128_GCM_SHA256, false, read_size, record);
        run(
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            false,
            read_size,
            record,
        );
    }
}

#[test]
fn an_adopted_session_echoes_too() {
    run(TLS13_AES_256_GCM_SHA384, true, 128 << 10, 1 << 20);
    run(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true, 8 << 10, 5000);
}

#[test]
fn a_record_that_fails_to_decrypt_costs_an_alert_and_an_error() {
    for adopted in [false, true] {
        let (server_config, client_config) = configs(&[TLS13_AES_128_GCM_SHA256]);
        let (server, client) = socket_pair();
        let layer = if adopted {
            TlsLayer::adopt(rustls::ServerConnection::new(server_config).unwrap())
        } else {
            TlsLayer::new(server_config).unwrap()
        };
        let client = std::thread::spawn(move || {
            let name = ServerName::try_from("localhost").unwrap();
            let conn = rustls::ClientConnection::new(client_config, name).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, client);
            tls.write_all(b"ping").unwrap();
            let mut back = [0u8; 4];
            tls.read_exact(&mut back).unwrap();
            // An application-data record whose tag cannot be right.
            tls.sock
                .write_all(b"\x17\x03\x03\x00\x20not-a-ciphertext-not-a-ciphertext")
                .unwrap();
            let error = tls.read(&mut back).unwrap_err();
            assert!(error.to_string().contains("BadRecordMac"), "{error}");
        });
        assert_eq!(serve_echo(layer, server, 128 << 10), End::TlsError);
        client.join().unwrap();
    }
}
