//! The grammar of `Sec-WebSocket-Extensions` (RFC 6455 §9.1), read strictly:
//!
//! ```text
//! extension-list = 1#extension
//! extension      = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//!     ; When using the quoted-string syntax variant, the value
//!     ; after quoted-string unescaping MUST conform to the
//!     ; 'token' ABNF.
//! ```
//!
//! with the implied linear white space of RFC 2616's `#rule` (spaces and tabs around the
//! separators; empty list elements are allowed and skipped). An element that breaks the
//! grammar is reported whole as [`ExtensionError::Malformed`], never half-read: a server
//! declines it and a client fails on it. Both functions make one pass over their input and
//! allocate at most its size, so a hostile header costs time and memory in proportion to
//! its bytes, which the head limit already bounds.
//!
//! ```
//! use ws_protocols::compression::{elements, parse_element};
//!
//! let header = r#"permessage-deflate; client_max_window_bits="1\0", x-webkit-deflate-frame"#;
//! let offers: Vec<&str> = elements([header]).collect();
//! assert_eq!(offers.len(), 2);
//! let first = parse_element(offers[0]).unwrap();
//! assert_eq!(first.name, "permessage-deflate");
//! // A quoted value is unescaped before it is checked as a token.
//! assert_eq!(first.params, [("client_max_window_bits".to_string(), Some("10".to_string()))]);
//! ```

use super::ExtensionError;

/// One element of an extension list: a name and its parameters, values unquoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// The extension's name, as sent.
    pub name: String,
    /// Parameters in order; `None` for one without a value.
    pub params: Vec<(String, Option<String>)>,
}

/// Split header values into list elements at the commas outside quoted strings (a
/// backslash inside quotes escapes the next byte), trimmed, empty ones skipped. An element
/// whose quote never closes runs to the end of its header value, so the text after it is
/// never read as further offers.
pub fn elements<'a>(values: impl IntoIterator<Item = &'a str>) -> impl Iterator<Item = &'a str> {
    values
        .into_iter()
        .flat_map(split_outside_quotes)
        .map(|e| e.trim_matches(is_ows))
        .filter(|e| !e.is_empty())
}

/// Parse one element of an extension list (`name; a; b=1; c="2"`), strictly: the name,
/// each parameter name and each value (after unquoting) must be a token.
pub fn parse_element(text: &str) -> Result<Element, ExtensionError> {
    let mut cursor = Cursor {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    cursor.skip_ows();
    let name = cursor.token().ok_or(ExtensionError::Malformed)?.to_owned();
    let mut params = Vec::new();
    loop {
        cursor.skip_ows();
        match cursor.next() {
            None => break,
            Some(b';') => {}
            Some(_) => return Err(ExtensionError::Malformed),
        }
        cursor.skip_ows();
        let key = cursor.token().ok_or(ExtensionError::Malformed)?.to_owned();
        cursor.skip_ows();
        let value = if cursor.peek() == Some(b'=') {
            cursor.at += 1;
            cursor.skip_ows();
            Some(cursor.value()?)
        } else {
            None
        };
        params.push((key, value));
    }
    Ok(Element { name, params })
}

/// An RFC 2616 token character: visible ASCII that is not a separator.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn split_outside_quotes(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let text = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, b) in text.bytes().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    rest = Some(&text[i + 1..]);
                    return Some(&text[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(text)
    })
}

/// A position in one element.
struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// The token at the cursor, if there is one.
    fn token(&mut self) -> Option<&'a str> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        // Token bytes are ASCII, so both ends are character boundaries.
        (self.at > start).then(|| &self.text[start..self.at])
    }

    /// A parameter value: a token, or a quoted-string whose unescaped content is a token.
    fn value(&mut self) -> Result<String, ExtensionError> {
        if self.peek() != Some(b'"') {
            return self
                .token()
                .map(str::to_owned)
                .ok_or(ExtensionError::Malformed);
        }
        self.at += 1;
        let mut value = String::new();
        loop {
            match self.next().ok_or(ExtensionError::Malformed)? {
                b'"' => break,
                // quoted-pair = "\" CHAR; only a token byte can survive the check below.
                b'\\' => match self.next() {
                    Some(b) if is_tchar(b) => value.push(char::from(b)),
                    _ => return Err(ExtensionError::Malformed),
                },
                b if is_tchar(b) => value.push(char::from(b)),
                _ => return Err(ExtensionError::Malformed),
            }
        }
        if value.is_empty() {
            return Err(ExtensionError::Malformed);
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(name: &str, params: &[(&str, Option<&str>)]) -> Element {
        Element {
            name: name.to_owned(),
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect(),
        }
    }

    #[test]
    fn lists_split_at_commas_outside_quotes_only() {
        let split: Vec<&str> = elements([
            r#"permessage-deflate; client_max_window_bits, x; a="1,2", , y"#,
            "\tz ,",
        ])
        .collect();
        assert_eq!(
            split,
            [
                "permessage-deflate; client_max_window_bits",
                r#"x; a="1,2""#,
                "y",
                "z"
            ]
        );
        let split: Vec<&str> = elements([r#"a; b="\",", c"#]).collect();
        assert_eq!(split, [r#"a; b="\",""#, "c"]);
        // A quote that never closes swallows the rest of its value, not the next value.
        let split: Vec<&str> = elements([r#"a; b="x, permessage-deflate"#, "c"]).collect();
        assert_eq!(split, [r#"a; b="x, permessage-deflate"#, "c"]);
        assert_eq!(elements(["", " , ,\t"]).count(), 0);
    }

    #[test]
    fn elements_parse_with_optional_white_space_and_quoted_values() {
        assert_eq!(
            parse_element("permessage-deflate").unwrap(),
            element("permessage-deflate", &[])
        );
        assert_eq!(
            parse_element(" a ;b; c = 10 ;\td=\"1\\5\" ").unwrap(),
            element("a", &[("b", None), ("c", Some("10")), ("d", Some("15"))])
        );
    }

    #[test]
    fn malformed_elements_are_refused_whole() {
        for bad in [
            "",
            ";",
            "a;",
            "a; ;b",
            "a;;b",
            "a b",
            "a; b c",
            "a; b=",
            "a; =1",
            "a; b==1",
            "a; b=1=2",
            "a; b=\"\"",
            "a; b=\"10",
            "a; b=\"1 0\"",
            "a; b=\"1,0\"",
            "a; b=\"1;0\"",
            "a; b=\"x\"y",
            "a; b=\"x\\\"",
            "a; b=\"\\ \"",
            "a; b=é",
            "é",
            "a,b",
            "a; b=1, c",
            "\"a\"",
            "a; b=1\r\n",
        ] {
            assert_eq!(
                parse_element(bad),
                Err(ExtensionError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_quoted_list_inside_a_value_offers_nothing() {
        // One element `foo` whose value is not a token after unquoting: a server must not
        // see the `permessage-deflate` inside it as a second offer.
        let header = r#"foo; x=", permessage-deflate, ""#;
        let split: Vec<&str> = elements([header]).collect();
        assert_eq!(split, [header]);
        assert_eq!(parse_element(split[0]), Err(ExtensionError::Malformed));
    }
}
