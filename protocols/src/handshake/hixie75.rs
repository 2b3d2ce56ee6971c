//! hixie-75: no challenge, just headers echoed back (docs/protocols.md §3.1).
//!
//! Everything the server does for hixie-75 is data: the row below. Its clients are the
//! strictest about spelling, though: WebKit and Chromium compared the first 85 bytes of the
//! response with `memcmp` (status line, `Upgrade: WebSocket`, `Connection: Upgrade`, in this
//! order and case), so these strings are not negotiable.

use super::family::Family;

/// The hixie-75 row of the handshake-family table.
pub(crate) static FAMILY: Family = Family {
    // "Web Socket", two words: the -76 text is different (docs/protocols.md §9 item 5).
    status_line: "HTTP/1.1 101 Web Socket Protocol Handshake",
    upgrade: "WebSocket",
    upgrade_exact: true,
    exact_prefix: true,
    origin_echo: Some("WebSocket-Origin"),
    location: Some("WebSocket-Location"),
    // No `Sec-` prefix in -75: em-websocket's `Sec-WebSocket-Protocol` here was an interop bug.
    protocol: "WebSocket-Protocol",
    protocol_is_list: false,
    key3_len: 0,
    answer_len: 0,
};

/// The first three lines of every hixie-75 response, which its clients compare byte for byte
/// (WebKit `readServerHandshake`: 44 + 20 + 21 = 85 bytes).
pub(crate) fn exact_prefix(family: &Family) -> String {
    format!(
        "{}\r\nUpgrade: {}\r\nConnection: Upgrade\r\n",
        family.status_line, family.upgrade
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compared_prefix_is_85_bytes() {
        let prefix = exact_prefix(&FAMILY);
        assert_eq!(prefix.len(), 85);
        assert_eq!(
            prefix,
            "HTTP/1.1 101 Web Socket Protocol Handshake\r\n\
             Upgrade: WebSocket\r\nConnection: Upgrade\r\n"
        );
    }
}
