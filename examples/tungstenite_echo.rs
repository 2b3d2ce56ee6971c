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

use std::net::SocketAddr;
use std::process::ExitCode;

use futures_util::{future, StreamExt, TryStreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Largest message and frame accepted: 64 MiB, so that size limits never differ between peers.
const MAX_SIZE: usize = 64 << 20;

fn parse_port() -> Result<u16, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = match args.as_slice() {
        [flag, port] if flag == "--port" => port,
        [port] if !port.starts_with('-') => port,
        _ => return Err("usage: tungstenite_echo [--port] PORT".to_string()),
    };
    text.parse().map_err(|e| format!("bad port {text:?}: {e}"))
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_SIZE))
        .max_frame_size(Some(MAX_SIZE))
}

async fn serve(stream: TcpStream, peer: SocketAddr) {
    if let Err(e) = stream.set_nodelay(true) {
        eprintln!("tungstenite echo: {peer}: set_nodelay: {e}");
    }
    let ws = match tokio_tungstenite::accept_async_with_config(stream, Some(config())).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("tungstenite echo: {peer}: handshake: {e}");
            return;
        }
    };
    let (write, read) = ws.split();
    // Pings, pongs and the closing handshake are handled inside tungstenite; echo data only.
    let echoed = read
        .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(write)
        .await;
    if let Err(e) = echoed {
        use tokio_tungstenite::tungstenite::Error;
        if !matches!(e, Error::ConnectionClosed | Error::AlreadyClosed) {
            eprintln!("tungstenite echo: {peer}: {e}");
        }
    }
}

async fn run(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    println!("tungstenite echo listening on ws://127.0.0.1:{port}/");
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(serve(stream, peer));
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
    let port = match parse_port() {
        Ok(port) => port,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the current-thread runtime");
    match runtime.block_on(run(port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tungstenite echo: {e}");
            ExitCode::FAILURE
        }
    }
}
