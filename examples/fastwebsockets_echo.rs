//! The second peer of the echo benchmark: a WebSocket echo server on fastwebsockets (denoland's
//! crate, the fastest Rust WebSocket implementation we know of), upgraded from hyper 1 with the
//! crate's own `upgrade` module and running on a **current-thread** tokio runtime (one loop on
//! one core, like the server under test and the tokio-tungstenite peer).
//!
//! Every text message is echoed as text and every binary message as binary; fragmented messages
//! are reassembled first (`FragmentCollector`), pings are answered and the closing handshake is
//! completed by fastwebsockets itself (auto-pong and auto-close, set explicitly below), and the
//! request path is ignored. The message limit is raised to 64 MiB so that it accepts everything
//! the server under test accepts. Each connection is the crate's canonical echo loop: read a
//! frame, write it back. As in fastwebsockets' own echo server and benchmarks, the loop runs
//! under `tokio::task::unconstrained`, so tokio's cooperative budget never forces it to yield.
//!
//! It is a bench-only peer, built from the root package's dev-dependencies:
//!
//! ```text
//! cargo build --release --example fastwebsockets_echo
//! target/release/examples/fastwebsockets_echo --port 9001   # or: ... fastwebsockets_echo 9001
//! ```
//!
//! Once it listens it prints exactly one line, `fastwebsockets echo listening on
//! ws://127.0.0.1:PORT/`, and serves until it is killed. `scripts/bench-echo.sh` starts it pinned
//! to one core and drives it with `examples/loadgen.rs` beside the server under test.

use std::process::ExitCode;

use bytes::Bytes;
use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Largest message accepted: 64 MiB, so that size limits never differ between peers.
const MAX_SIZE: usize = 64 << 20;

fn parse_port() -> Result<u16, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = match args.as_slice() {
        [flag, port] if flag == "--port" => port,
        [port] if !port.starts_with('-') => port,
        _ => return Err("usage: fastwebsockets_echo [--port] PORT".to_string()),
    };
    text.parse().map_err(|e| format!("bad port {text:?}: {e}"))
}

async fn echo(upgraded: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = upgraded.await?;
    ws.set_max_message_size(MAX_SIZE);
    ws.set_auto_pong(true);
    ws.set_auto_close(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            OpCode::Close => return Ok(()),
            _ => {}
        }
    }
}

/// hyper's service: answers a WebSocket upgrade request with 101 and starts the echo loop on the
/// upgraded connection; anything else gets 426 Upgrade Required.
async fn handle(mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    if !upgrade::is_upgrade_request(&req) {
        let mut response = Response::new(Empty::new());
        *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
        return Ok(response);
    }
    let (response, upgraded) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        match tokio::task::unconstrained(echo(upgraded)).await {
            Ok(()) | Err(WebSocketError::ConnectionClosed) => {}
            Err(e) => eprintln!("fastwebsockets echo: {e}"),
        }
    });
    Ok(response)
}

async fn run(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    println!("fastwebsockets echo listening on ws://127.0.0.1:{port}/");
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Running out of descriptors must not end the server; back off briefly instead.
            Err(e) => {
                eprintln!("fastwebsockets echo: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("fastwebsockets echo: {peer}: set_nodelay: {e}");
        }
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .with_upgrades();
            if let Err(e) = connection.await {
                eprintln!("fastwebsockets echo: {peer}: {e}");
            }
        });
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
            eprintln!("fastwebsockets echo: {e}");
            ExitCode::FAILURE
        }
    }
}
