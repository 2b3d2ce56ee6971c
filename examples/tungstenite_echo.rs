//! The peer of the echo benchmark: a WebSocket echo server on tokio-tungstenite, running on a
//! **current-thread** tokio runtime (one loop on one core, like the server under test).
//!
//! Every text message is echoed as text and every binary message as binary; pings are answered
//! by tungstenite itself and the request path is ignored. Message and frame limits are raised
//! to 64 MiB so that it accepts everything the server under test accepts. Each connection is the
//! canonical tokio-tungstenite echo: the stream of data messages forwarded into the sink, which
//! flushes whenever no further message is ready.
//!
//! It is a bench-only peer, built from the root package's dev-dependencies:
//!
//! ```text
//! cargo build --release --example tungstenite_echo
//! target/release/examples/tungstenite_echo --port 9001     # or: ... tungstenite_echo 9001
//! ```
//!
//! Once it listens it prints exactly one line, `tungstenite echo listening on
//! ws://127.0.0.1:PORT/`, and serves until it is killed. `scripts/bench-echo.sh` starts it pinned
//! to one core and drives it with `examples/loadgen.rs` beside the server under test.
//!
//! With `--tls-cert chain.pem --tls-key key.pem` it serves `wss://` only: each connection is a
//! tokio-rustls `TlsAcceptor` handshake (rustls 0.23, ring, configured as the command-line
//! server is: `examples/bench_tls/`) and then the same echo over the TLS stream; the line says
//! `wss://`. `scripts/bench-tls.sh` runs it so beside the server under test.

use std::net::SocketAddr;
use std::process::ExitCode;

use futures_util::{future, StreamExt, TryStreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[path = "bench_tls/mod.rs"]
mod bench_tls;
use bench_tls::MaybeTls;

/// Largest message and frame accepted: 64 MiB, so that size limits never differ between peers.
const MAX_SIZE: usize = 64 << 20;

/// The port, and the TLS acceptor with `--tls-cert`/`--tls-key`.
fn parse_args() -> Result<(u16, Option<TlsAcceptor>), String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let tls = bench_tls::take_server_options(&mut args)?;
    let text = match args.as_slice() {
        [flag, port] if flag == "--port" => port,
        [port] if !port.starts_with('-') => port,
        _ => {
            return Err(
                "usage: tungstenite_echo [--port] PORT [--tls-cert FILE --tls-key FILE]"
                    .to_string(),
            )
        }
    };
    let port = text
        .parse()
        .map_err(|e| format!("bad port {text:?}: {e}"))?;
    Ok((port, tls))
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_SIZE))
        .max_frame_size(Some(MAX_SIZE))
}

async fn serve(stream: TcpStream, peer: SocketAddr, tls: Option<TlsAcceptor>) {
    if let Err(e) = stream.set_nodelay(true) {
        eprintln!("tungstenite echo: {peer}: set_nodelay: {e}");
    }
    let stream = match MaybeTls::accept(tls.as_ref(), stream).await {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("tungstenite echo: {peer}: TLS handshake: {e}");
            return;
        }
    };
    let ws = match tokio_tungstenite::accept_async_with_config(stream, Some(config())).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("tungstenite echo: {peer}: handshake: {e}");
            return;
        }
    };
    let (mut write, mut read) = ws.split();
    // Pings, pongs and the closing handshake are handled inside tungstenite; echo data only.
    let echoed = (&mut read)
        .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(&mut write)
        .await;
    if let Err(e) = echoed {
        use tokio_tungstenite::tungstenite::Error;
        if !matches!(e, Error::ConnectionClosed | Error::AlreadyClosed) {
            eprintln!("tungstenite echo: {peer}: {e}");
        }
    }
    // tokio-tungstenite leaves the stream open after the closing handshake; over TLS, send
    // close_notify as the server under test does (and its clients expect).
    if let Ok(mut ws) = read.reunite(write) {
        let _ = ws.get_mut().close_notify().await;
    }
}

async fn run(port: u16, tls: Option<TlsAcceptor>) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!("tungstenite echo listening on {scheme}://127.0.0.1:{port}/");
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(serve(stream, peer, tls.clone()));
            }
            // Running out of descriptors must not end the server; back off briefly instead.
            Err(e) => {
                eprintln!("tungstenite echo: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

fn main() -> ExitCode {
    let (port, tls) = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the current-thread runtime");
    match runtime.block_on(run(port, tls)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tungstenite echo: {e}");
            ExitCode::FAILURE
        }
    }
}
