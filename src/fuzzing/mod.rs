//! Entry points for `cargo fuzz` into the parsers that live in this crate rather than in
//! `ws-protocols`: the plain HTTP request reader, the relay's JSON messages, the client's
//! URL parser; and into pipe sessions, driven through a model of the server
//! ([`session_interleavings`]). Not part of the API: hidden, and free to change.

mod sessions;

pub use sessions::session_interleavings;

use ws_protocols::limits::Limits;

/// The session the fuzzed status pages know of, and the admin token they are guarded by.
const HIDDEN_SESSION: &str = "hidden-room";
const ADMIN_TOKEN: &str = "s3cret";

/// What the plain HTTP reader made of `input`: `None` while it waits for more bytes, or the
/// response the server would send (its status, and its bytes). A whole request is also
/// answered by the built-in pages (all on, names behind an admin token), with a status that
/// knows one session: the session's name must appear only where the request was entitled to
/// it.
pub fn plain_http_request(input: &[u8], limits: &Limits) -> Option<(u16, Vec<u8>)> {
    use crate::plain_http::{parse, HttpResponse, Parsed};
    match parse(input, limits) {
        Parsed::Partial => None,
        Parsed::Refused(status, reason) => {
            Some((status, HttpResponse::text(status, reason).to_bytes()))
        }
        Parsed::Complete(request) => {
            // The body is exactly what Content-Length announced.
            let declared = request
                .header("Content-Length")
                .map_or(0, |v| v.trim().parse::<usize>().expect("checked by parse"));
            assert_eq!(request.body.len(), declared);
            let response = built_in_page(&request).unwrap_or_else(|| HttpResponse::text(200, "ok"));
            Some((response.status, response.to_bytes()))
        }
    }
}

/// The built-in pages' answer to `request`, checking that no name leaks.
fn built_in_page(
    request: &crate::plain_http::HttpRequest,
) -> Option<crate::plain_http::HttpResponse> {
    use crate::face::{render, route, Pages};
    use crate::status::{snapshot, Census, Disclosure, Report};
    let pages = Pages {
        demo: true,
        status: true,
        status_details: true,
        admin_token: Some(ADMIN_TOKEN.into()),
    };
    let page = match route(request, &pages)? {
        Ok(page) => page,
        Err(refusal) => return Some(refusal),
    };
    let Some(disclosure) = page.disclosure() else {
        return Some(render(&page, None));
    };
    let mut report = Report::default();
    report.session(HIDDEN_SESSION, &[]);
    let status = snapshot(
        &Census::new(1),
        0,
        crate::StatsSnapshot::default(),
        &["/sessions/*".to_owned()],
        (1 << 20, 256 << 10),
        &[],
        report,
        disclosure.clone(),
    );
    let response = render(&page, Some(&status));
    let entitled = match &disclosure {
        Disclosure::Aggregates => false,
        Disclosure::Session(name) => name == HIDDEN_SESSION,
        Disclosure::Everything => request
            .header("Authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| t.trim() == ADMIN_TOKEN),
    };
    let shown = String::from_utf8_lossy(&response.body).contains(HIDDEN_SESSION);
    assert!(
        entitled || !shown,
        "{disclosure:?} showed the session's name"
    );
    Some(response)
}

/// Parse `text` as a relay client's message; for a relay request, re-encode what the peer
/// would receive and check it carries the same text. Returns whether it parsed.
pub fn relay_message(text: &str) -> bool {
    match crate::relay::wire_parse(text) {
        Ok(crate::relay::Inbound {
            relay: Some((_, message)),
            ..
        }) => {
            let out = crate::relay::wire_relay(7, &message);
            let value: serde_json::Value = serde_json::from_str(&out).expect("we write JSON");
            assert_eq!(value["relay"]["message"].as_str(), Some(message.as_str()));
            assert_eq!(value["relay"]["senderId"].as_u64(), Some(7));
            true
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

/// Parse `url` as the client would. For a URL that parses, the request line and `Host`
/// header it yields carry no byte that would break the request head, and parsing the URL
/// rebuilt from them gives the same again.
pub fn ws_url(url: &str) {
    let Ok(parsed) = crate::client::WsUrl::parse(url) else {
        return;
    };
    let host = parsed.host_header();
    let target = parsed.target();
    for part in [host.as_str(), target] {
        assert!(
            !part.bytes().any(|b| b <= b' ' || b == 0x7f),
            "{part:?} from {url:?}"
        );
    }
    assert!(target.starts_with('/'));
    // Rebuilt with the same scheme: the Host header omits only that scheme's default port.
    let scheme = if parsed.secure() { "wss" } else { "ws" };
    let again = crate::client::WsUrl::parse(&format!("{scheme}://{host}{target}"))
        .expect("a URL we built parses");
    assert_eq!(again.secure(), parsed.secure());
    assert_eq!(again.port(), parsed.port());
    assert_eq!(again.host_header(), host);
    assert_eq!(again.target(), target);
}

#[cfg(test)]
mod page_tests {
    use super::*;

    fn answer(request: &str) -> String {
        let (_, bytes) = plain_http_request(request.as_bytes(), &Limits::default()).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn the_hidden_session_shows_only_to_the_token_or_to_whoever_names_it() {
        let plain = answer("GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(plain.starts_with("HTTP/1.1 200") && !plain.contains(HIDDEN_SESSION));
        let admin = answer("GET /status.json HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n");
        assert!(admin.contains(HIDDEN_SESSION), "{admin}");
        let named = answer("GET /status.json?session=hidden-room HTTP/1.1\r\n\r\n");
        assert!(named.contains(HIDDEN_SESSION), "{named}");
        let metrics = answer("GET /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n");
        assert!(metrics.contains("omniws_sessions 1") && !metrics.contains(HIDDEN_SESSION));
        let wrong = answer("GET /status HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n");
        assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    }
}
