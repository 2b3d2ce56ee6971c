//! `ws://host[:port]/path?query` and `wss://…`: the URLs the client opens (RFC 6455 §3).

use std::fmt;
use std::net::Ipv6Addr;

/// Why a URL cannot be opened.
///
/// ```
/// use ws::{ClientError, UrlError};
///
/// let err = ws::connect("http://example.com/").unwrap_err();
/// assert!(matches!(err, ClientError::Url(UrlError::Scheme)));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL does not start with `ws://` (or `wss://`).
    Scheme,
    /// No host between `ws://` and the path.
    MissingHost,
    /// The host is not a DNS name, an IPv4 address or a bracketed IPv6 address, or the URL
    /// carries user information (`user@host`), which WebSocket URLs do not have.
    InvalidHost,
    /// The port is not a number from 1 to 65535.
    InvalidPort,
    /// The URL has a `#fragment`, which RFC 6455 §3 forbids in WebSocket URLs.
    Fragment,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Scheme => "the URL must start with ws:// or wss://",
            UrlError::MissingHost => "the URL has no host",
            UrlError::InvalidHost => "the URL's host is not a valid host name or address",
            UrlError::InvalidPort => "the URL's port is not a number from 1 to 65535",
            UrlError::Fragment => "WebSocket URLs cannot have a #fragment (RFC 6455 section 3)",
        })
    }
}

impl std::error::Error for UrlError {}

/// A parsed `ws://` or `wss://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WsUrl {
    /// `wss://`: TLS below the WebSocket.
    secure: bool,
    /// The host as written, IPv6 literals with their brackets.
    host: String,
    port: u16,
    /// `path?query`, never empty, with characters a request line cannot carry percent-encoded.
    target: String,
}

/// The default ports of `ws://` and `wss://` (RFC 6455 §3).
const DEFAULT_PORT: u16 = 80;
const DEFAULT_SECURE_PORT: u16 = 443;

impl WsUrl {
    pub(crate) fn parse(url: &str) -> Result<WsUrl, UrlError> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or(UrlError::Scheme)?;
        let secure = if scheme.eq_ignore_ascii_case("wss") {
            true
        } else if scheme.eq_ignore_ascii_case("ws") {
            false
        } else {
            return Err(UrlError::Scheme);
        };
        let default_port = if secure {
            DEFAULT_SECURE_PORT
        } else {
            DEFAULT_PORT
        };
        if rest.contains('#') {
            return Err(UrlError::Fragment);
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        let (host, port) = split_authority(authority, default_port)?;
        let target = match target {
            "" => "/".to_owned(),
            t if t.starts_with('?') => format!("/{}", encode_target(t)),
            t => encode_target(t),
        };
        Ok(WsUrl {
            secure,
            host: host.to_owned(),
            port,
            target,
        })
    }

    /// The `Host` header value: the port only when it is not the scheme's default (what
    /// browsers send, and what hixie servers build their `Location` echo from).
    pub(crate) fn host_header(&self) -> String {
        let default = if self.secure {
            DEFAULT_SECURE_PORT
        } else {
            DEFAULT_PORT
        };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The host to resolve: IPv6 literals without brackets.
    pub(crate) fn dns_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// `wss://`.
    pub(crate) fn secure(&self) -> bool {
        self.secure
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }
}

fn split_authority(authority: &str, default_port: u16) -> Result<(&str, u16), UrlError> {
    if authority.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if authority.contains('@') {
        return Err(UrlError::InvalidHost);
    }
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or(UrlError::InvalidHost)?;
        let (host, after) = authority.split_at(end + 1);
        if host[1..host.len() - 1].parse::<Ipv6Addr>().is_err() {
            return Err(UrlError::InvalidHost);
        }
        match after {
            "" => (host, None),
            p if p.starts_with(':') => (host, Some(&p[1..])),
            _ => return Err(UrlError::InvalidHost),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let name_ok = host.starts_with('[')
        || host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !name_ok {
        return Err(UrlError::InvalidHost);
    }
    let port = match port {
        // RFC 3986 §3.2.3: an empty port means the default one.
        None | Some("") => default_port,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse()
            .ok()
            .filter(|&n| n != 0)
            .ok_or(UrlError::InvalidPort)?,
        Some(_) => return Err(UrlError::InvalidPort),
    };
    Ok((host, port))
}

/// Percent-encode what cannot appear in a request target: controls, space, non-ASCII bytes,
/// and the characters the WHATWG URL standard encodes in paths (`"` `<` `>` `` ` `` `{` `}`).
/// Existing `%XX` escapes pass through unchanged.
fn encode_target(target: &str) -> String {
    let mut out = String::with_capacity(target.len());
    for &b in target.as_bytes() {
        if b <= 0x20 || b >= 0x7f || matches!(b, b'"' | b'<' | b'>' | b'`' | b'{' | b'}') {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (String, String, u16, String) {
        let u = WsUrl::parse(url).unwrap();
        (u.host_header(), u.dns_host().to_owned(), u.port, u.target)
    }

    #[test]
    fn accepts_host_port_path_and_query() {
        let p = |h: &str, d: &str, port, t: &str| (h.into(), d.into(), port, t.into());
        assert_eq!(
            parts("ws://example.com"),
            p("example.com", "example.com", 80, "/")
        );
        assert_eq!(
            parts("WS://Example.com:8088/echo?x=1&y"),
            p("Example.com:8088", "Example.com", 8088, "/echo?x=1&y")
        );
        assert_eq!(parts("ws://h:80/a"), p("h", "h", 80, "/a"));
        assert_eq!(parts("ws://h:/a"), p("h", "h", 80, "/a"));
        assert_eq!(parts("ws://h?q"), p("h", "h", 80, "/?q"));
        assert_eq!(
            parts("ws://127.0.0.1:9/"),
            p("127.0.0.1:9", "127.0.0.1", 9, "/")
        );
        assert_eq!(parts("ws://[::1]:9/x"), p("[::1]:9", "::1", 9, "/x"));
        assert_eq!(parts("ws://[::1]"), p("[::1]", "::1", 80, "/"));
        assert_eq!(
            parts("ws://h/a b/é?\"q\""),
            p("h", "h", 80, "/a%20b/%C3%A9?%22q%22")
        );
        assert_eq!(parts("  ws://h/%41  "), p("h", "h", 80, "/%41"));
        assert_eq!(parts("wss://h/a"), p("h", "h", 443, "/a"));
        assert_eq!(parts("WSS://h:8443"), p("h:8443", "h", 8443, "/"));
        // Each scheme omits only its own default port from the Host header.
        assert_eq!(parts("wss://h:80/"), p("h:80", "h", 80, "/"));
        assert_eq!(parts("wss://h:443/"), p("h", "h", 443, "/"));
        assert_eq!(parts("ws://h:443/"), p("h:443", "h", 443, "/"));
        assert!(WsUrl::parse("wss://h/").unwrap().secure());
        assert!(!WsUrl::parse("ws://h/").unwrap().secure());
    }

    #[test]
    fn refuses_what_is_not_a_ws_url() {
        for (url, err) in [
            ("http://example.com/", UrlError::Scheme),
            ("example.com:80/", UrlError::Scheme),
            ("ws://", UrlError::MissingHost),
            ("ws:///path", UrlError::MissingHost),
            ("ws://:80/", UrlError::MissingHost),
            ("ws://user@host/", UrlError::InvalidHost),
            ("ws://ho st/", UrlError::InvalidHost),
            ("ws://[::1/", UrlError::InvalidHost),
            ("ws://[nope]/", UrlError::InvalidHost),
            ("ws://[::1]x/", UrlError::InvalidHost),
            ("ws://h:0/", UrlError::InvalidPort),
            ("ws://h:65536/", UrlError::InvalidPort),
            ("ws://h:+80/", UrlError::InvalidPort),
            ("ws://h:8a/", UrlError::InvalidPort),
            ("ws://h/#frag", UrlError::Fragment),
        ] {
            assert_eq!(WsUrl::parse(url), Err(err), "{url}");
        }
    }
}
