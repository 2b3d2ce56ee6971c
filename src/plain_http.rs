//! Plain HTTP requests (no upgrade) on the server's own port: one request per connection,
//! read whole (head and `Content-Length` body, both bounded), answered by the application's
//! [`HttpHandler`], then the connection closes. This is for small side doors such as the
//! relay's registration API, not a general HTTP server: an application with real HTTP needs
//! keeps its own server and uses [`crate::attach`].

use std::fmt::Write as _;
use ws_protocols::limits::Limits;

/// Largest request body read; beyond it: `413`.
pub const MAX_BODY: usize = 64 * 1024;

/// A plain HTTP request that reached the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// What followed `?`, if anything.
    pub query: Option<String>,
    /// Header names as sent, values as bytes decoded lossily.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The answer to an [`HttpRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Extra headers (`Content-Length` and `Connection: close` are always written).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with a JSON body.
    pub fn json(status: u16, body: String) -> Self {
        HttpResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into_bytes(),
        }
    }

    /// A response with a one-line plain-text body.
    pub fn text(status: u16, line: &str) -> Self {
        HttpResponse {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: format!("{line}\n").into_bytes(),
        }
    }

    /// The bytes on the wire for a `HEAD` request: the head alone, with the length the body
    /// would have had.
    pub fn head_bytes(&self) -> Vec<u8> {
        let mut out = self.to_bytes();
        out.truncate(out.len() - self.body.len());
        out
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        let _ = write!(
            head,
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        );
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// Answers plain HTTP requests on the server's port (see [`crate::Builder::plain_http`]).
/// Runs on the loop thread: answer quickly, never block.
///
/// ```
/// use ws::{HttpHandler, HttpRequest, HttpResponse};
///
/// struct Health;
/// impl HttpHandler for Health {
///     fn handle(&mut self, request: &HttpRequest) -> HttpResponse {
///         match (request.method.as_str(), request.path.as_str()) {
///             ("GET", "/health") => HttpResponse::text(200, "ok"),
///             _ => HttpResponse::text(404, "not found"),
///         }
///     }
/// }
/// ```
pub trait HttpHandler: Send {
    /// Answer one request.
    fn handle(&mut self, request: &HttpRequest) -> HttpResponse;

    /// Answer one request now (`Some`), or later (`None`) by handing `reply` to another
    /// thread that calls [`HttpReply::send`]: for an answer that needs the network (a
    /// cluster node forwards relay registration to the node that holds the relay). The
    /// connection waits meanwhile, reading nothing more, at most until the handshake
    /// timeout. Default: [`HttpHandler::handle`], now.
    fn handle_later(&mut self, request: &HttpRequest, reply: HttpReply) -> Option<HttpResponse> {
        let _ = reply;
        Some(self.handle(request))
    }
}

/// Where an answer given later goes ([`HttpHandler::handle_later`]). Send it from any
/// thread; dropped unsent, the request is answered 503.
///
/// ```
/// use ws::{HttpHandler, HttpReply, HttpRequest, HttpResponse};
///
/// /// Answers `/slow` from a thread of its own, so the loop never waits for it.
/// struct Slow;
/// impl HttpHandler for Slow {
///     fn handle(&mut self, _: &HttpRequest) -> HttpResponse {
///         HttpResponse::text(404, "not found")
///     }
///     fn handle_later(&mut self, request: &HttpRequest, reply: HttpReply) -> Option<HttpResponse> {
///         if request.path != "/slow" {
///             return Some(self.handle(request));
///         }
///         std::thread::spawn(move || {
///             // ... ask another service ...
///             reply.send(HttpResponse::text(200, "done"));
///         });
///         None
///     }
/// }
/// ```
pub struct HttpReply {
    pub(crate) answer: std::sync::mpsc::SyncSender<HttpResponse>,
    pub(crate) waker: std::sync::Arc<mio::Waker>,
}

thread_local! {
    /// Set on a loop's thread while it calls [`HttpHandler::handle_later`]: a reply dropped
    /// then (answered at once, the usual case) needs no wake-up, since the loop looks at the
    /// request right after the call.
    static IN_HANDLE_LATER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Call `handler.handle_later(request, reply)` as the loop does.
pub(crate) fn handle_later(
    handler: &mut dyn HttpHandler,
    request: &HttpRequest,
    reply: HttpReply,
) -> Option<HttpResponse> {
    /// Clears the mark however the call ends.
    struct Mark;
    impl Drop for Mark {
        fn drop(&mut self) {
            IN_HANDLE_LATER.with(|m| m.set(false));
        }
    }
    IN_HANDLE_LATER.with(|m| m.set(true));
    let _mark = Mark;
    handler.handle_later(request, reply)
}

impl HttpReply {
    /// Answer the request (if its connection is still there) and wake its loop.
    pub fn send(self, response: HttpResponse) {
        // The loop may have given up on the connection: nothing to do then. Dropping
        // `self` wakes the loop.
        let _ = self.answer.try_send(response);
    }
}

impl Drop for HttpReply {
    fn drop(&mut self) {
        // Sent or not, the loop looks again (an unsent reply is answered 503).
        if !IN_HANDLE_LATER.with(std::cell::Cell::get) {
            let _ = self.waker.wake();
        }
    }
}

/// What [`parse`] found in the bytes so far.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Not all of the head or body yet.
    Partial,
    /// A whole request.
    Complete(HttpRequest),
    /// A request we will not read: answer with this status and reason.
    Refused(u16, &'static str),
}

/// Read a request (head and body) from the start of `input`.
pub(crate) fn parse(input: &[u8], limits: &Limits) -> Parsed {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(input) {
        Ok(httparse::Status::Complete(n)) if n > limits.max_head_bytes => {
            return Parsed::Refused(431, "request head too large")
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() > limits.max_head_bytes => {
            return Parsed::Refused(431, "request head too large")
        }
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Refused(431, "too many headers"),
        Err(_) => return Parsed::Refused(400, "malformed HTTP request"),
    };
    let find = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    };
    if find("Transfer-Encoding").is_some() {
        return Parsed::Refused(411, "send the body with Content-Length");
    }
    let body_len = match find("Content-Length") {
        None => 0,
        Some(h) => match std::str::from_utf8(h.value)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            Some(n) if n > MAX_BODY => return Parsed::Refused(413, "request body too large"),
            Some(n) => n,
            None => return Parsed::Refused(400, "bad Content-Length"),
        },
    };
    if input.len() < head_len + body_len {
        return Parsed::Partial;
    }
    let target = request.path.unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (target, None),
    };
    Parsed::Complete(HttpRequest {
        method: request.method.unwrap_or("").to_owned(),
        path: path.to_owned(),
        query,
        headers: owned_headers(request.headers),
        body: input[head_len..head_len + body_len].to_vec(),
    })
}

/// Parsed headers as owned pairs; values that are not UTF-8 are decoded lossily.
pub(crate) fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_with_a_body_is_read_whole_only_when_the_body_is_in() {
        let limits = Limits::default();
        let all = b"POST /relay/channels?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..all.len() {
            assert_eq!(parse(&all[..cut], &limits), Parsed::Partial, "cut at {cut}");
        }
        let Parsed::Complete(request) = parse(all, &limits) else {
            panic!("not complete")
        };
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/relay/channels");
        assert_eq!(request.query.as_deref(), Some("x=1"));
        assert_eq!(request.header("content-length"), Some("5"));
        assert_eq!(request.body, b"hello");
    }

    #[test]
    fn oversized_chunked_and_malformed_requests_are_refused_with_their_status() {
        let limits = Limits::default();
        let big = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            parse(big.as_bytes(), &limits),
            Parsed::Refused(413, "request body too large")
        );
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(parse(chunked, &limits), Parsed::Refused(411, _)));
        assert!(matches!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", &limits),
            Parsed::Refused(400, _)
        ));
        assert!(matches!(
            parse(b"\x01\x02 nonsense\r\n\r\n", &limits),
            Parsed::Refused(400, _)
        ));
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(limits.max_head_bytes));
        assert!(matches!(
            parse(long.as_bytes(), &limits),
            Parsed::Refused(431, _)
        ));
    }

    #[test]
    fn responses_carry_length_and_close() {
        let bytes = HttpResponse::json(201, "{\"id\":1}".into()).to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 201 Created\r\n"), "{text}");
        assert!(text.contains("Content-Type: application/json\r\n"));
        assert!(text.contains("Content-Length: 8\r\nConnection: close\r\n\r\n{\"id\":1}"));
    }
}
