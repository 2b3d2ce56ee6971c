//! WebSocket upgrades beside a hyper HTTP server that keeps its own routes and auth.
//!
//! ```sh
//! cargo run --example attach_hyper -- 8090
//! curl http://127.0.0.1:8090/                      # hyper answers
//! # a WebSocket client with the cookie `session=letmein` gets /echo on any dialect;
//! # without it, hyper answers 401 and our loop never sees the connection.
//! ```
//!
//! How it fits together: `ws::attach` runs our loop on its own thread. hyper serves every
//! request; for an upgrade it checks the cookie (its auth, its rules), builds the 101 with
//! `ws::upgrade_response` (so the reply is in the request's dialect, hixie included), and
//! once hyper has sent it, takes the upgraded IO back as the TCP stream, plus the bytes
//! hyper had already read, and hands both to our loop with `Handle::adopt_answered`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

type Body = Full<Bytes>;

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

/// The request head as it was on the wire (our loop re-reads it to learn the dialect,
/// path and keys).
fn request_head(request: &Request<Incoming>) -> Vec<u8> {
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut head = format!("{} {target} HTTP/1.1\r\n", request.method()).into_bytes();
    for (name, value) in request.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

fn has_session_cookie(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim() == "session=letmein")
}

async fn handle(
    mut request: Request<Incoming>,
    ws: ws::Handle,
) -> Result<Response<Body>, Infallible> {
    if !request.headers().contains_key(hyper::header::UPGRADE) {
        return Ok(match request.uri().path() {
            "/" => text(StatusCode::OK, "hello from hyper\n"),
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        });
    }
    // The application's own auth decides who may upgrade.
    if !has_session_cookie(&request) {
        return Ok(text(StatusCode::UNAUTHORIZED, "log in first\n"));
    }
    let head = request_head(&request);
    let upgrade = match ws::upgrade_response(&head, None) {
        Ok(upgrade) => upgrade,
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let mut response = text(status, "");
            *response.body_mut() = Full::new(Bytes::from(format!("{}\n", refusal.reason())));
            if refusal.advertises_versions() {
                let versions = HeaderValue::from_static(ws::protocols::SUPPORTED_VERSIONS);
                response
                    .headers_mut()
                    .insert("sec-websocket-version", versions);
            }
            return Ok(response);
        }
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (name, value) in &upgrade.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    // hixie clients check the reason phrase too ("Web Socket Protocol Handshake" for -75).
    if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(upgrade.reason.clone().into_bytes()) {
        response.extensions_mut().insert(reason);
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => return log::warn!("upgrade failed: {e}"),
        };
        let Ok(parts) = upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() else {
            return log::warn!("upgraded IO is not a plain TCP stream");
        };
        let stream = match parts.io.into_inner().into_std() {
            Ok(stream) => stream,
            Err(e) => return log::warn!("cannot take the socket back: {e}"),
        };
        if let Err(e) = ws.adopt_answered(&head, upgrade.subprotocol, stream, &parts.read_buf) {
            log::warn!("hand-over failed: {e}");
        }
    });
    Ok(response)
}

/// Serve HTTP on `listener`, handing granted upgrades to `ws`.
pub async fn serve(listener: tokio::net::TcpListener, ws: ws::Handle) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let ws = ws.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, ws.clone()));
            // Title-case header names and insertion order keep hixie-75's byte-exact first
            // lines (`Upgrade: WebSocket`, `Connection: Upgrade`) intact.
            let connection = http1::Builder::new()
                .title_case_headers(true)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = connection.await {
                log::debug!("http connection: {e}");
            }
        });
    }
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let port: u16 = std::env::args().nth(1).map_or(Ok(8090), |p| p.parse())?;
    let attached = ws::attach(ws::Server::builder().route("/echo", ws::Echo))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("hyper on http://127.0.0.1:{port}/ with WebSocket upgrades to /echo (cookie session=letmein)");
        serve(listener, attached.handle.clone()).await
    })?;
    Ok(())
}
