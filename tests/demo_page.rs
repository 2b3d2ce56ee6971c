//! The demo page as the command-line server serves it: `GET /` is the HTML, and the script
//! and style sheet it names come back with their content types, pinned by version.

mod support;

use std::net::SocketAddr;
use support::cli::start_cli;
use support::exchange;

/// `GET path`: the status, the head's lines and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, Vec<String>, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let response = String::from_utf8(exchange(addr, request.as_bytes())).expect("UTF-8");
    let (head, body) = response.split_once("\r\n\r\n").expect("a whole response");
    let mut lines = head.split("\r\n").map(str::to_owned);
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    (status, lines.collect(), body.to_owned())
}

fn header<'h>(lines: &'h [String], name: &str) -> Option<&'h str> {
    lines.iter().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The URL after `attribute="` that starts with `prefix`.
fn link<'p>(page: &'p str, attribute: &str, prefix: &str) -> &'p str {
    let start = page
        .find(&format!("{attribute}=\"{prefix}"))
        .unwrap_or_else(|| panic!("{attribute}={prefix}... in the page"))
        + attribute.len()
        + 2;
    let end = start + page[start..].find('"').unwrap();
    &page[start..end]
}

#[test]
fn the_demo_page_and_its_assets_are_served_with_their_content_types() {
    let (_server, addr) = start_cli(&[], |_| {});
    for path in ["/", "/index.html"] {
        let (status, head, page) = get(addr, path);
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            header(&head, "Content-Type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(header(&head, "Cache-Control"), Some("no-store"));
        // The DOM the browser tests drive.
        for id in [
            "session-name",
            "join",
            "leave",
            "join-state",
            "members",
            "chat-input",
            "chat-send",
            "chat-log",
            "file-input",
            "file-send",
            "send-progress",
            "recv-progress",
            "received",
            "echo-input",
            "echo-send",
            "echo-log",
            "relay",
        ] {
            assert!(page.contains(&format!("id=\"{id}\"")), "#{id} in {path}");
        }
        assert!(page.contains("<progress id=\"send-progress\""));
    }
    let (_, _, page) = get(addr, "/");
    let script = link(&page, "src", "/demo.js?v=");
    let style = link(&page, "href", "/demo.css?v=");
    for (url, content_type, needle) in [
        (
            script,
            "application/javascript; charset=utf-8",
            "window.omniwsDemo",
        ),
        (style, "text/css; charset=utf-8", "#members li"),
    ] {
        let (status, head, body) = get(addr, url);
        assert_eq!(status, 200, "{url}");
        assert_eq!(header(&head, "Content-Type"), Some(content_type), "{url}");
        assert_eq!(
            header(&head, "Cache-Control"),
            Some("public, max-age=31536000, immutable"),
            "{url}"
        );
        assert_eq!(header(&head, "X-Content-Type-Options"), Some("nosniff"));
        assert!(body.contains(needle), "{url}");
        // Without the current version: served, but never kept unchecked.
        let bare = url.split('?').next().unwrap();
        let (status, head, again) = get(addr, bare);
        assert_eq!(status, 200, "{bare}");
        assert_eq!(header(&head, "Cache-Control"), Some("no-cache"), "{bare}");
        assert_eq!(again, body);
    }

    let (_off, addr) = start_cli(&["--no-demo"], |_| {});
    for path in ["/", "/demo.js", "/demo.css"] {
        assert_eq!(get(addr, path).0, 501, "{path} is off with --no-demo");
    }
}
