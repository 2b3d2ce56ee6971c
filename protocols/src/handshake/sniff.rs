//! Classify a complete request head into a [`Dialect`] or a rejection (docs/protocols.md §2).
//!
//! The generic HTTP requirements come first (method, version, Upgrade, Connection, Host,
//! target), then the dialect, by the precedence real dispatchers use: `Sec-WebSocket-Version`
//! → `Sec-WebSocket-Key` → `Sec-WebSocket-Draft` / `Key1` / `Key2` → hixie-75. A bad version
//! is refused, never retried as a hixie handshake: websocket.io's "anything else is hixie"
//! fallback is the mistake this order exists to avoid.

use super::error::HandshakeError;
use super::family;
use super::hixie76;
use super::http;
use super::hybi;
use super::request::{Proof, Request};
use crate::dialect::{Dialect, HandshakeFamily};

use HandshakeError as E;

/// The parsed header lines of one head.
struct Headers<'h, 'b>(&'h [httparse::Header<'b>]);

impl<'b> Headers<'_, 'b> {
    /// Raw values of every header named `name`, in order.
    fn raw<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'b [u8]> + 's {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Values of every header named `name`, which must be UTF-8 if we are to interpret them.
    fn all(&self, name: &str) -> Result<Vec<&'b str>, HandshakeError> {
        self.raw(name)
            .map(|v| std::str::from_utf8(v).map_err(|_| E::InvalidHeaderValue))
            .collect()
    }

    /// The value of a header that may appear at most once.
    fn single(&self, name: &str, repeated: HandshakeError) -> Result<Option<&'b str>, E> {
        match self.all(name)?.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(repeated),
        }
    }
}

/// Validate a complete head and classify it. `head_len` is where the head ends in the buffer.
pub(crate) fn classify(
    req: &httparse::Request<'_, '_>,
    head_len: usize,
) -> Result<Request, HandshakeError> {
    let h = Headers(req.headers);

    // Without any Upgrade header this is plain HTTP, not a broken handshake: the server may
    // route it elsewhere (docs/protocols.md §2 row 12).
    if h.raw("Upgrade").next().is_none() {
        return Err(E::NotWebSocket);
    }
    // RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request". Methods are
    // case-sensitive (RFC 7230 §3.1.1).
    let method = req.method.unwrap_or_default();
    if method != "GET" {
        return Err(E::MethodNotGet);
    }
    if req.version != Some(1) {
        return Err(E::HttpVersion);
    }
    // Item 3: "An |Upgrade| header field containing the value "websocket", treated as an
    // ASCII case-insensitive value" (hixie clients send `WebSocket`).
    if !h
        .all("Upgrade")?
        .iter()
        .any(|v| http::list_contains(v, "websocket"))
    {
        return Err(E::InvalidUpgrade);
    }
    // Item 4: "A |Connection| header field that includes the token "Upgrade"": a list, so
    // Firefox's `keep-alive, Upgrade` qualifies.
    if !h
        .all("Connection")?
        .iter()
        .any(|v| http::list_contains(v, "upgrade"))
    {
        return Err(E::MissingConnectionUpgrade);
    }
    // Item 2: a Host header; RFC 7230 §5.4: more than one is a 400. An empty one cannot
    // name the host the hixie Location echo needs.
    match h.single("Host", E::DuplicateHost)? {
        Some(host) if !host.is_empty() => {}
        _ => return Err(E::MissingHost),
    }
    let (target, path_end) = split_target(req.path.unwrap_or_default())?;

    let (dialect, proof) = dialect(&h)?;
    for name in dialect.caps().origin_headers {
        h.all(name)?;
    }
    let subprotocols = subprotocols(&h, dialect)?;
    let extensions = if dialect.caps().handshake == HandshakeFamily::KeyAccept {
        // Split as the negotiation reads them: at commas outside quoted strings.
        crate::compression::elements(h.all("Sec-WebSocket-Extensions")?.iter().copied())
            .map(str::to_owned)
            .collect()
    } else {
        Vec::new()
    };

    Ok(Request {
        dialect,
        method: method.to_owned(),
        target,
        path_end,
        headers: req
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
        subprotocols,
        extensions,
        head_len,
        proof,
    })
}

/// The dialect and its proof, by the precedence of docs/protocols.md §2.
fn dialect(h: &Headers<'_, '_>) -> Result<(Dialect, Proof), HandshakeError> {
    // Rows 1-6: a Version header decides alone.
    if let Some(version) = h.single("Sec-WebSocket-Version", E::RepeatedVersion)? {
        let version = parse_version(version)?;
        // Row 6: "any other value → 426 + the versions we implement". Never a hixie
        // fallback (docs/protocols.md §2 notes, ../shared/STYLE.md §A avoid 4).
        let dialect = Dialect::from_version(version).ok_or(E::UnsupportedVersion)?;
        let key = h
            .single("Sec-WebSocket-Key", E::RepeatedKey)?
            .ok_or(E::MissingKey)?;
        if !hybi::is_valid_key(key) {
            return Err(E::InvalidKey);
        }
        return Ok((dialect, Proof::Key(key.to_owned())));
    }
    // Row 7: a hybi key without a version is a malformed RFC request; the version list
    // tells the client what to send.
    if h.raw("Sec-WebSocket-Key").next().is_some() {
        return Err(E::KeyWithoutVersion);
    }
    // Rows 8-10: the hixie-76 family, with hybi-01..03 told apart by Sec-WebSocket-Draft.
    // pywebsocket's test client sent `0` for hybi-00 and `1` for hybi-01, servers also
    // accepted `3` (libwebsockets 4b23c72, em-websocket).
    let draft = match h.single("Sec-WebSocket-Draft", E::InvalidDraft)? {
        None | Some("0") => None,
        Some(d @ ("1" | "2" | "3")) => Some(d),
        Some(_) => return Err(E::InvalidDraft),
    };
    let key1 = h.single("Sec-WebSocket-Key1", E::RepeatedHixie76Key)?;
    let key2 = h.single("Sec-WebSocket-Key2", E::RepeatedHixie76Key)?;
    match (key1, key2) {
        (Some(key1), Some(key2)) => {
            let part1 = hixie76::key_part(key1.as_bytes())?;
            let part2 = hixie76::key_part(key2.as_bytes())?;
            let dialect = if draft.is_some() {
                Dialect::Hybi03
            } else {
                Dialect::Hixie76
            };
            Ok((dialect, Proof::Hixie76 { part1, part2 }))
        }
        // Row 11: no handshake key of any kind.
        (None, None) if h.raw("Sec-WebSocket-Draft").next().is_none() => {
            Ok((Dialect::Hixie75, Proof::None))
        }
        // Row 10 (and a Draft header without its keys).
        _ => Err(E::MissingHixie76Key),
    }
}

/// RFC 6455 §4.3: `version = DIGIT | (NZDIGIT DIGIT) | ("1" DIGIT DIGIT) | ("2" DIGIT DIGIT)`,
/// i.e. 0-255 without leading zeros; exactly one value in a request (hybi-14).
fn parse_version(v: &str) -> Result<u8, HandshakeError> {
    if v.contains(',') {
        return Err(E::VersionList);
    }
    let well_formed = !v.is_empty()
        && v.len() <= 3
        && v.bytes().all(|b| b.is_ascii_digit())
        && (v == "0" || !v.starts_with('0'));
    match v.parse::<u8>() {
        Ok(n) if well_formed => Ok(n),
        _ => Err(E::InvalidVersion),
    }
}

/// The request target as `path?query` and where the path ends. RFC 6455 §4.2.1 item 1 allows
/// an origin-form path or "an absolute HTTP/HTTPS URI containing the resource name"; ws(s)
/// URIs are accepted too since some clients sent them.
fn split_target(raw: &str) -> Result<(String, usize), HandshakeError> {
    // RFC 6455 §3: "Fragment identifiers are meaningless in the context of WebSocket URIs
    // and MUST NOT be used".
    if raw.contains('#') {
        return Err(E::InvalidTarget);
    }
    let target = if raw.starts_with('/') {
        raw.to_owned()
    } else {
        let (scheme, rest) = raw.split_once("://").ok_or(E::InvalidTarget)?;
        if !["http", "https", "ws", "wss"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme))
        {
            return Err(E::InvalidTarget);
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if authority_end == 0 {
            return Err(E::InvalidTarget);
        }
        let resource = &rest[authority_end..];
        if resource.starts_with('/') {
            resource.to_owned()
        } else {
            // `http://host` or `http://host?q`: the path is `/` (RFC 7230 §5.3.2 / §2.7.3).
            format!("/{resource}")
        }
    };
    let path_end = target.find('?').unwrap_or(target.len());
    Ok((target, path_end))
}

/// The offered subprotocols, by the rule of the dialect's handshake family.
fn subprotocols(h: &Headers<'_, '_>, dialect: Dialect) -> Result<Vec<String>, HandshakeError> {
    let fam = family::of(dialect);
    let values = h.all(fam.protocol)?;
    if fam.protocol_is_list {
        // RFC 6455 §4.1: each offered subprotocol is a token; the header may repeat.
        let mut offered = Vec::new();
        for entry in values.iter().flat_map(|v| http::list(v)) {
            if !http::is_token(entry) {
                return Err(E::InvalidSubprotocol);
            }
            offered.push(entry.to_owned());
        }
        Ok(offered)
    } else {
        // hixie: one string of U+0020..U+007E, echoed verbatim (pywebsocket
        // `validate_subprotocol(hixie=True)`); the first header counts.
        match values.first() {
            None | Some(&"") => Ok(Vec::new()),
            Some(v) if v.bytes().all(|b| (0x20..=0x7e).contains(&b)) => Ok(vec![(*v).to_owned()]),
            Some(_) => Err(E::InvalidSubprotocol),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_grammar() {
        assert_eq!(parse_version("13"), Ok(13));
        assert_eq!(parse_version("0"), Ok(0));
        assert_eq!(parse_version("255"), Ok(255));
        assert_eq!(parse_version("13, 8"), Err(E::VersionList));
        assert_eq!(parse_version("13,"), Err(E::VersionList));
        for bad in [
            "013", "00", "256", "1000", "", "thirteen", "+13", "1 3", "-1",
        ] {
            assert_eq!(parse_version(bad), Err(E::InvalidVersion), "{bad:?}");
        }
    }

    #[test]
    fn targets() {
        let ok = |raw: &str| split_target(raw).map(|(t, end)| (t.clone(), t[..end].to_owned()));
        assert_eq!(ok("/chat?x=1"), Ok(("/chat?x=1".into(), "/chat".into())));
        assert_eq!(
            ok("http://h:80/chat?x"),
            Ok(("/chat?x".into(), "/chat".into()))
        );
        assert_eq!(ok("WSS://h"), Ok(("/".into(), "/".into())));
        assert_eq!(ok("https://h?q"), Ok(("/?q".into(), "/".into())));
        for bad in ["*", "chat", "h:80", "ftp://h/", "http:///x", "/a#frag", ""] {
            assert_eq!(split_target(bad), Err(E::InvalidTarget), "{bad:?}");
        }
    }
}
