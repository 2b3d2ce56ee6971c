//! The naive relay: `/sessions/NAME` on tokio-tungstenite, one current-thread runtime (one
//! loop on one core, like the server under test).
//!
//! Store and forward, as a relay built on tungstenite's message API does: tungstenite reads a
//! whole message (for one frame of N bytes it holds all N before handing it over), the
//! connection's reader task hands that message (a cheaply cloned `Bytes`) to every other
//! member's bounded queue, and each member's writer task sends it whole. Nothing reaches the
//! receiver before the last byte has reached the relay, and the relay holds the message (and
//! tungstenite's framed copy of it on the way out) in memory.
//!
//! Like the server under test it sends the text message `session ready` to every member when
//! the session reaches two members, and to each later joiner. Message and frame sizes are
//! unlimited (a benchmark peer, never to face the internet).
//!
//! With a TLS acceptor (`--tls-cert`/`--tls-key`) every connection is a tokio-rustls server
//! first (`wss://` only), and the relay above it is the same.

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::bench_tls::MaybeTls;

/// Messages that may wait for one member's writer before senders wait.
const QUEUE: usize = 4;

/// Session name -> its members' ids and outgoing queues.
type Sessions = Arc<Mutex<HashMap<String, Vec<(u64, mpsc::Sender<Message>)>>>>;

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None)
}

async fn serve(stream: TcpStream, id: u64, sessions: Sessions, tls: Option<TlsAcceptor>) {
    let _ = stream.set_nodelay(true);
    let stream = match MaybeTls::accept(tls.as_ref(), stream).await {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("tungstenite relay: TLS handshake: {e}");
            return;
        }
    };
    let mut name = None;
    // The signature is tungstenite's `Callback`; its error type is its HTTP response.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        match request.uri().path().strip_prefix("/sessions/") {
            Some(n) if !n.is_empty() => {
                name = Some(n.to_owned());
                Ok(response)
            }
            _ => {
                let mut refusal = ErrorResponse::new(Some("no such path".into()));
                *refusal.status_mut() = StatusCode::NOT_FOUND;
                Err(refusal)
            }
        }
    };
    let ws = match tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config()))
        .await
    {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("tungstenite relay: handshake: {e}");
            return;
        }
    };
    let Some(name) = name else { return };
    let (mut sink, mut incoming) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);

    // Join, and find who gets the ready notice.
    let greet: Vec<mpsc::Sender<Message>> = {
        let mut sessions = sessions.lock().unwrap_or_else(|p| p.into_inner());
        let members = sessions.entry(name.clone()).or_default();
        members.push((id, tx));
        match members.len() {
            2 => members.iter().map(|(_, q)| q.clone()).collect(),
            n if n > 2 => members.last().map(|(_, q)| q.clone()).into_iter().collect(),
            _ => Vec::new(),
        }
    };
    for queue in greet {
        let _ = queue.send(Message::text("session ready")).await;
    }

    // The writer ends when every sender of its queue is gone: when this member has left the
    // session and no other member is in the middle of handing it a message.
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if sink.send(message).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });

    while let Some(message) = incoming.next().await {
        let message = match message {
            Ok(m) if m.is_binary() || m.is_text() => m,
            // Pings are answered and closes replied to inside tungstenite.
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let others: Vec<mpsc::Sender<Message>> = {
            let sessions = sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions
                .get(&name)
                .into_iter()
                .flatten()
                .filter(|(m, _)| *m != id)
                .map(|(_, q)| q.clone())
                .collect()
        };
        for queue in others {
            let _ = queue.send(message.clone()).await;
        }
    }

    {
        let mut sessions = sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(members) = sessions.get_mut(&name) {
            members.retain(|(m, _)| *m != id);
            if members.is_empty() {
                sessions.remove(&name);
            }
        }
    }
    let _ = writer.await;
}

async fn listen(port: u16, tls: Option<TlsAcceptor>) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!("tungstenite relay listening on {scheme}://127.0.0.1:{port}/sessions/NAME");
    let sessions = Sessions::default();
    let ids = AtomicU64::new(0);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let id = ids.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(stream, id, sessions.clone(), tls.clone()));
            }
            Err(e) => {
                eprintln!("tungstenite relay: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

pub fn run(port: u16, tls: Option<TlsAcceptor>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime
        .block_on(listen(port, tls))
        .map_err(|e| e.to_string())
}
