//! HTTP/1.1 plumbing shared by both sides of the handshake: error responses, header lines,
//! and the list and token grammar of RFC 7230 §3.2.6 and §7.

/// The canonical reason phrase for the statuses a WebSocket server answers with (RFC 7231
/// §6, RFC 6585 §5 for 431). Others get a generic phrase for their class; the phrase carries
/// no meaning for clients (RFC 7230 §3.1.2).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => match status / 100 {
            1 => "Informational",
            2 => "OK",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

/// Append a complete HTTP/1.1 error response to `out`: status line with its reason phrase,
/// `Content-Type: text/plain; charset=utf-8`, `Content-Length`, `Connection: close`, then
/// `extra_headers` in order, a blank line, and `reason` plus a newline as the body.
///
/// Extra headers whose name is not an HTTP token or whose value contains CR, LF or NUL are
/// left out: writing them would let the caller split the response. CR and LF in `reason` are
/// replaced by spaces so the body stays one line.
///
/// ```
/// use ws_protocols::handshake::write_error_response;
/// let mut out = Vec::new();
/// write_error_response(404, "no such resource", &[], &mut out);
/// assert!(out.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
/// assert!(out.ends_with(b"\r\n\r\nno such resource\n"));
/// ```
pub fn write_error_response(
    status: u16,
    reason: &str,
    extra_headers: &[(&str, &str)],
    out: &mut Vec<u8>,
) {
    write_response_with_connection(status, reason, "close", extra_headers, out);
}

/// [`write_error_response`] with a chosen `Connection` value (a 426 must add `upgrade`).
pub(crate) fn write_response_with_connection(
    status: u16,
    reason: &str,
    connection: &str,
    extra_headers: &[(&str, &str)],
    out: &mut Vec<u8>,
) {
    // A status outside 100..=999 cannot be written as the three digits RFC 7230 §3.1.2
    // requires; it is a caller bug, answered as the server's own failure.
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    let body_len = reason.len() + 1;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    header(out, "Content-Type", "text/plain; charset=utf-8");
    header(out, "Content-Length", &body_len.to_string());
    header(out, "Connection", connection);
    for (name, value) in extra_headers {
        if is_valid_header(name, value) {
            header(out, name, value);
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend(
        reason
            .bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.push(b'\n');
}

/// Append `name: value\r\n`.
pub(crate) fn header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `tchar` of RFC 7230 §3.2.6.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A non-empty `token` (RFC 7230 §3.2.6): what header names and subprotocols must be.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// A header we may write: token name, value free of the bytes that end a line.
pub(crate) fn is_valid_header(name: &str, value: &str) -> bool {
    is_token(name) && !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// The elements of a comma-separated list (RFC 7230 §7), trimmed, empty elements skipped
/// ("a recipient MUST accept empty list elements").
pub(crate) fn list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|e| e.trim_matches([' ', '\t']))
        .filter(|e| !e.is_empty())
}

/// Whether a token list contains `token`, compared case-insensitively (RFC 7230 §6.1,
/// §6.7: connection options and protocol names are case-insensitive).
pub(crate) fn list_contains(value: &str, token: &str) -> bool {
    list(value).any(|e| e.eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_response_is_complete_http() {
        let mut out = Vec::new();
        write_error_response(503, "busy", &[("Retry-After", "5")], &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 503 Service Unavailable\r\n\
              Content-Type: text/plain; charset=utf-8\r\n\
              Content-Length: 5\r\n\
              Connection: close\r\n\
              Retry-After: 5\r\n\
              \r\n\
              busy\n"
        );
    }

    #[test]
    fn reason_phrases_of_the_statuses_the_server_uses() {
        for (code, phrase) in [
            (400, "Bad Request"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (409, "Conflict"),
            (426, "Upgrade Required"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (501, "Not Implemented"),
            (503, "Service Unavailable"),
        ] {
            assert_eq!(reason_phrase(code), phrase);
        }
    }

    #[test]
    fn injected_headers_and_line_breaks_are_neutralised() {
        let mut out = Vec::new();
        write_error_response(
            403,
            "a\r\nSet-Cookie: x",
            &[("X-Ok", "1"), ("Bad Name", "v"), ("X-Split", "a\r\nb: c")],
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("X-Ok: 1\r\n"));
        assert!(!text.contains("Bad Name"));
        assert!(!text.contains("X-Split"));
        assert!(text.ends_with("\r\n\r\na  Set-Cookie: x\n"));
        assert!(text.contains("Content-Length: 17\r\n"));
    }

    #[test]
    fn out_of_range_status_becomes_500() {
        let mut out = Vec::new();
        write_error_response(42, "x", &[], &mut out);
        assert!(out.starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
    }

    #[test]
    fn token_lists() {
        assert!(list_contains("keep-alive, Upgrade", "upgrade"));
        assert!(list_contains(" ,UPGRADE,", "upgrade"));
        assert!(!list_contains("upgraded", "upgrade"));
        assert_eq!(list("a, ,b,,\tc ").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(is_token("chat") && !is_token("a b") && !is_token(""));
    }
}
