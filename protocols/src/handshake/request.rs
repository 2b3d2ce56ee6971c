//! The owned view of an accepted-for-consideration opening handshake request.

use crate::dialect::Dialect;

/// What a valid handshake proves itself with, extracted while sniffing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Proof {
    /// hixie-75: nothing.
    None,
    /// hixie-76 family: the two numbers hidden in Key1 and Key2.
    Hixie76 {
        /// `Sec-WebSocket-Key1` digits divided by its spaces.
        part1: u32,
        /// `Sec-WebSocket-Key2` digits divided by its spaces.
        part2: u32,
    },
    /// hybi: the `Sec-WebSocket-Key` text, hashed as is.
    Key(String),
}

/// A syntactically valid opening handshake, classified into its [`Dialect`].
///
/// Everything is owned, so the request outlives the read buffer and can be handed to the
/// application while the connection waits (for key3, or for the application's decision).
/// Produced by [`read_request`](super::read_request); answered with
/// [`Request::write_response`] (and, in the hixie-76 family, [`Request::hixie76_answer`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub(crate) dialect: Dialect,
    pub(crate) method: String,
    /// Path and query, as sent (the path part of an absolute-form target).
    pub(crate) target: String,
    /// Where the path ends in `target` (the `?` or the end).
    pub(crate) path_end: usize,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) subprotocols: Vec<String>,
    pub(crate) extensions: Vec<String>,
    pub(crate) head_len: usize,
    pub(crate) proof: Proof,
}

impl Request {
    /// The dialect the request was sniffed as (docs/protocols.md §2).
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The request method (always `GET` for a request that passed validation).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The resource path, without the query. For an absolute-form target
    /// (`GET http://host/chat HTTP/1.1`) this is the path part, `/` if it was empty.
    pub fn path(&self) -> &str {
        self.target.get(..self.path_end).unwrap_or(&self.target)
    }

    /// The query after `?`, if the target had one (possibly empty).
    pub fn query(&self) -> Option<&str> {
        self.target.get(self.path_end..)?.strip_prefix('?')
    }

    /// Path and query as sent: what the hixie `Location` echo carries after the host.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Every header line in order, names as sent, values as raw bytes (leading and trailing
    /// whitespace removed by the parser).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// The first header named `name` (case-insensitive), if its value is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        let (_, value) = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))?;
        std::str::from_utf8(value).ok()
    }

    /// The `Host` header (required, so present on every request that passed validation).
    pub fn host(&self) -> Option<&str> {
        self.header("Host")
    }

    /// The origin, from the header the dialect uses: `Origin` (hixie, RFC 6455),
    /// `Sec-WebSocket-Origin` (hybi-07), either (hybi-08..12; `Origin` preferred). `None`
    /// when the client sent none: only browsers are obliged to.
    pub fn origin(&self) -> Option<&str> {
        self.dialect
            .caps()
            .origin_headers
            .iter()
            .find_map(|name| self.header(name))
    }

    /// The subprotocols offered. hybi: the comma lists of every `Sec-WebSocket-Protocol`
    /// header, in order. hixie-76 family: the one `Sec-WebSocket-Protocol` string, verbatim
    /// (it may contain spaces). hixie-75: the `WebSocket-Protocol` value.
    pub fn subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// The `Sec-WebSocket-Extensions` entries offered (hybi only), each trimmed but otherwise
    /// raw, parameters included: `permessage-deflate; client_max_window_bits`.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The compression to agree to under `policy`, if the client offered any that is
    /// acceptable (see [`crate::compression::negotiate`]): what to speak, and the
    /// `Sec-WebSocket-Extensions` value for [`super::Accept::extra_headers`].
    pub fn negotiate_compression(
        &self,
        policy: &crate::compression::DeflatePolicy,
    ) -> Option<crate::compression::Agreed> {
        crate::compression::negotiate(&self.extensions, self.dialect(), policy)
    }

    /// The cookies of every `Cookie` header, as `(name, value)` pairs (RFC 6265 §4.2.1:
    /// `name=value` separated by `;`). Values are not unquoted; malformed pairs and
    /// non-UTF-8 headers are skipped.
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Cookie"))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                let name = name.trim_matches([' ', '\t']);
                (!name.is_empty()).then(|| (name, value.trim_matches([' ', '\t'])))
            })
    }

    /// Length of the request head in bytes, CRLF CRLF included.
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// Raw bytes the client sends after the head as part of the handshake: 8 (key3) for the
    /// hixie-76 family, 0 otherwise.
    pub fn key3_len(&self) -> usize {
        super::family::of(self.dialect).key3_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, path_end: usize, headers: &[(&str, &[u8])]) -> Request {
        Request {
            dialect: Dialect::Hybi08,
            method: "GET".into(),
            target: target.into(),
            path_end,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_vec()))
                .collect(),
            subprotocols: Vec::new(),
            extensions: Vec::new(),
            head_len: 0,
            proof: Proof::None,
        }
    }

    #[test]
    fn path_and_query() {
        let r = request("/chat?room=1&x", 5, &[]);
        assert_eq!(r.path(), "/chat");
        assert_eq!(r.query(), Some("room=1&x"));
        let r = request("/chat?", 5, &[]);
        assert_eq!(r.query(), Some(""));
        let r = request("/chat", 5, &[]);
        assert_eq!(r.query(), None);
    }

    #[test]
    fn cookies_across_headers() {
        let r = request(
            "/",
            1,
            &[
                ("Cookie", b"a=1; b = two ;bare; =x; c=\"q\""),
                ("cookie", b"d=4=4"),
                ("Cookie", b"\xff=1"),
            ],
        );
        let cookies: Vec<_> = r.cookies().collect();
        assert_eq!(
            cookies,
            [("a", "1"), ("b", "two"), ("c", "\"q\""), ("d", "4=4")]
        );
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_first_wins() {
        let r = request(
            "/",
            1,
            &[
                ("X-A", b"1"),
                ("x-a", b"2"),
                ("Origin", b"\xff"),
                ("Sec-WebSocket-Origin", b"http://o"),
            ],
        );
        assert_eq!(r.header("x-A"), Some("1"));
        // hybi-08 reads Origin first, then Sec-WebSocket-Origin; a non-UTF-8 one is skipped.
        assert_eq!(r.origin(), Some("http://o"));
        assert_eq!(r.headers().count(), 4);
    }
}
