//! Entry points for `cargo fuzz` into the parsers that live in this crate rather than in
//! `ws-protocols`: the plain HTTP request reader, the relay's JSON messages, the client's
//! URL parser; and into pipe sessions, driven through a model of the server
//! ([`session_interleavings`]). Not part of the API: hidden, and free to change.

mod sessions;

pub use sessions::session_interleavings;

use ws_protocols::limits::Limits;

/// What the plain HTTP reader made of `input`: `None` while it waits for more bytes, or the
/// response the server would send (its status, and its bytes).
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
            Some((200, HttpResponse::text(200, "ok").to_bytes()))
        }
    }
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
