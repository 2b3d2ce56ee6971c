//! Plain HTTP requests forwarded to the node that serves them (relay registration on a node
//! that does not hold the relay). Each forward runs on a thread of its own, so the loop never
//! waits on another node: the loop parks the request ([`crate::HttpReply`]) and answers it
//! when the thread is done. Forwards in flight are bounded ([`MAX_IN_FLIGHT`]).

use super::{Node, BRIDGE_HEADER};
use crate::plain_http::{HttpReply, HttpRequest, HttpResponse, MAX_BODY};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Forwards in flight on this node; beyond it requests are refused with 503.
pub(crate) const MAX_IN_FLIGHT: usize = 16;
/// How long a forward waits to connect, and then for each read and write.
const TIMEOUT: Duration = Duration::from_secs(3);
/// The largest answer read back: registration answers are a few dozen bytes.
const MAX_ANSWER: usize = 4096 + MAX_BODY;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Send `request` to `node` from a thread of its own, marked with the cluster's
/// `credential` (so the node serves it, and never forwards it again), and give `reply` the
/// node's answer, or 503 with the reason it could not be had.
pub(crate) fn forward(node: Node, credential: &str, request: &HttpRequest, reply: HttpReply) {
    if IN_FLIGHT.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
        return reply.send(refusal(&format!(
            "{MAX_IN_FLIGHT} requests already wait on node {}: try again later",
            node.name
        )));
    }
    let bytes = request_bytes(&node, credential, request);
    let spawned = std::thread::Builder::new()
        .name("omniws-forward".into())
        .spawn(move || {
            let answer = exchange(&node, &bytes).unwrap_or_else(|e| {
                log::warn!("forward to node {} ({}): {e}", node.name, node.addr);
                refusal(&format!("node {} did not answer: {e}", node.name))
            });
            IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
            reply.send(answer);
        });
    if let Err(e) = spawned {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
        log::warn!("cannot start a forwarding thread: {e}");
    }
}

fn refusal(why: &str) -> HttpResponse {
    HttpResponse::json(503, serde_json::json!({ "error": why }).to_string())
}

/// The request as sent on: its method, path, query, `Authorization`, `Content-Type` and
/// body, and the bridge header.
fn request_bytes(node: &Node, credential: &str, request: &HttpRequest) -> Vec<u8> {
    let target = match &request.query {
        Some(q) => format!("{}?{q}", request.path),
        None => request.path.clone(),
    };
    let mut head = format!(
        "{} {target} HTTP/1.1\r\nHost: {}\r\n{BRIDGE_HEADER}: {credential}\r\n",
        request.method, node.addr
    );
    for name in ["Authorization", "Content-Type"] {
        if let Some(value) = request.header(name) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        request.body.len()
    ));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&request.body);
    bytes
}

/// One request to `node` and its whole answer (the node closes after answering).
fn exchange(node: &Node, request: &[u8]) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&node.addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(request)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER as u64 + 1)
        .read_to_end(&mut answer)?;
    if answer.len() > MAX_ANSWER {
        return Err(std::io::Error::other("answer too large"));
    }
    parse_answer(&answer)
}

fn parse_answer(answer: &[u8]) -> std::io::Result<HttpResponse> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
    let head_len = match response.parse(answer) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(bad("answer cut short")),
        Err(e) => return Err(bad(&format!("malformed answer: {e}"))),
    };
    let status = response.code.ok_or_else(|| bad("no status"))?;
    let find = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let body = &answer[head_len..];
    let len = match find("Content-Length") {
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| bad("bad Content-Length"))?,
        None => body.len(),
    };
    if body.len() < len {
        return Err(bad("answer cut short"));
    }
    let mut headers = Vec::new();
    for name in ["Content-Type", "WWW-Authenticate", "Allow"] {
        if let Some(value) = find(name) {
            headers.push((name.to_owned(), value));
        }
    }
    Ok(HttpResponse {
        status,
        headers,
        body: body[..len].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_read_with_its_status_headers_and_body_and_a_short_one_is_refused() {
        let answer = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 8\r\nConnection: close\r\n\r\n{\"id\":1}";
        let response = parse_answer(answer).unwrap();
        assert_eq!(response.status, 201);
        assert_eq!(response.body, b"{\"id\":1}");
        assert_eq!(
            response.headers,
            vec![("Content-Type".into(), "application/json".into())]
        );
        assert!(parse_answer(&answer[..answer.len() - 1]).is_err());
        assert!(parse_answer(b"HTTP/1.1 201").is_err());
        assert!(parse_answer(b"nonsense\r\n\r\n").is_err());
    }

    #[test]
    fn the_forwarded_request_carries_the_credential_and_the_admin_header() {
        let node = Node {
            name: "b".into(),
            addr: "127.0.0.1:9".parse().unwrap(),
        };
        let request = HttpRequest {
            method: "POST".into(),
            path: "/relay/channels".into(),
            query: None,
            headers: vec![("authorization".into(), "Bearer x".into())],
            body: b"{\"clients\":[1,2]}".to_vec(),
        };
        let text = String::from_utf8(request_bytes(&node, "tok", &request)).unwrap();
        assert!(
            text.starts_with("POST /relay/channels HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(text.contains("X-Omniws-Bridge: tok\r\n"), "{text}");
        assert!(text.contains("Authorization: Bearer x\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n{\"clients\":[1,2]}"), "{text}");
    }
}
