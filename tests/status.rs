//! The server's face for machines and operators: `/metrics` (checked by a real Prometheus
//! parser), `/status.json`, `/status`, and who may see names. The command-line server runs
//! with its defaults unless a test is about an option.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use support::cli::start_cli;
use support::{exchange, status_of, Client, Received};
use ws::protocols::{Dialect, MessageKind};

/// `GET path` with extra header lines; the status and the body.
fn get(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n");
    let response = exchange(addr, request.as_bytes());
    let text = String::from_utf8(response.clone()).expect("UTF-8 response");
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status_of(&response), body)
}

fn json(addr: SocketAddr, path: &str, headers: &str) -> serde_json::Value {
    let (status, body) = get(addr, path, headers);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Parse the exposition text with the Python `prometheus_client` parser (what a scraper
/// relies on) and return its samples as `name{labels} value` lines, sorted.
fn parse_with_prometheus_client(text: &str) -> Vec<String> {
    const PARSER: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        out.append("%s{%s} %r" % (s.name, labels, float(s.value)))
print("\n".join(sorted(out)))
"#;
    let mut child = Command::new("python3")
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the metrics (`pip install prometheus-client` if it is \
         missing): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn sample(samples: &[String], name_and_labels: &str) -> f64 {
    let prefix = format!("{name_and_labels} ");
    let line = samples
        .iter()
        .find(|s| s.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no sample {name_and_labels} in\n{}", samples.join("\n")));
    line[prefix.len()..].parse().unwrap()
}

fn echo_round_trip(client: &mut Client, text: &str) {
    client.send(MessageKind::Text, text.as_bytes());
    assert_eq!(client.recv_message(), Received::Text(text.to_owned()));
}

#[test]
fn metrics_count_what_happened_by_dialect_and_endpoint_and_parse_as_prometheus() {
    let (_server, addr) = start_cli(&[], |_| {});
    let mut old = Client::connect(addr, "/echo", Dialect::Hixie76);
    let mut new = Client::connect(addr, "/echo", Dialect::Rfc6455);
    echo_round_trip(&mut old, "hello");
    echo_round_trip(&mut old, "again");
    echo_round_trip(&mut new, &"x".repeat(1000));
    let mut a = Client::connect(addr, "/sessions/metrics", Dialect::Hybi07);
    let mut b = Client::connect(addr, "/sessions/metrics", Dialect::Rfc6455);
    assert_eq!(a.recv_message(), Received::Text("session ready".into()));
    assert_eq!(b.recv_message(), Received::Text("session ready".into()));
    a.send(MessageKind::Binary, &[7; 300]);
    assert_eq!(b.recv_message(), Received::Binary(vec![7; 300]));
    // Two refusals: an unknown version (426) and a missing key (400).
    let refused = exchange(
        addr,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n\r\n",
    );
    assert_eq!(status_of(&refused), 426);
    let refused = exchange(
        addr,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(status_of(&refused), 400);

    let (status, text) = get(addr, "/metrics", "");
    assert_eq!(status, 200);
    let samples = parse_with_prometheus_client(&text);
    let echo = |metric: &str, dialect: &str| {
        format!("{metric}{{dialect=\"{dialect}\",endpoint=\"/echo\"}}")
    };
    let sessions = |metric: &str, dialect: &str| {
        format!("{metric}{{dialect=\"{dialect}\",endpoint=\"/sessions/*\"}}")
    };
    let expected = [
        (echo("omniws_websockets_open", "hixie-76"), 1.0),
        (echo("omniws_websockets_open", "hybi-13"), 1.0),
        (sessions("omniws_websockets_open", "hybi-07"), 1.0),
        (sessions("omniws_handshakes_accepted_total", "hybi-13"), 1.0),
        (echo("omniws_messages_received_total", "hixie-76"), 2.0),
        (echo("omniws_messages_received_total", "hybi-13"), 1.0),
        (sessions("omniws_messages_received_total", "hybi-07"), 1.0),
        (
            "omniws_handshakes_refused_total{status=\"426\"}".into(),
            1.0,
        ),
        (
            "omniws_handshakes_refused_total{status=\"400\"}".into(),
            1.0,
        ),
        // Four messages: 5 and 5 bytes (<= 16), 300 (<= 1024), 1000 (<= 1024).
        ("omniws_message_size_bytes_count{}".into(), 4.0),
        ("omniws_message_size_bytes_sum{}".into(), 1310.0),
        ("omniws_message_size_bytes_bucket{le=\"16\"}".into(), 2.0),
        ("omniws_message_size_bytes_bucket{le=\"256\"}".into(), 2.0),
        ("omniws_message_size_bytes_bucket{le=\"1024\"}".into(), 4.0),
        ("omniws_handshake_duration_seconds_count{}".into(), 4.0),
        ("omniws_sessions{}".into(), 1.0),
        ("omniws_session_members{}".into(), 2.0),
    ];
    for (name, value) in expected {
        assert_eq!(sample(&samples, &name), value, "{name}");
    }
    assert!(sample(&samples, "omniws_received_bytes_total{}") > 1310.0);
    assert!(
        !text.contains("metrics\""),
        "no session name in the metrics"
    );
}

#[test]
fn closed_connections_keep_their_bytes_in_the_totals() {
    let (_server, addr) = start_cli(&[], |_| {});
    let mut client = Client::connect(addr, "/echo", Dialect::Hybi08);
    echo_round_trip(&mut client, &"y".repeat(5000));
    client.send_close(1000, "");
    while !matches!(client.recv(), Received::Close(..) | Received::Eof) {}
    drop(client);
    let dialect =
        |status: &serde_json::Value| status["endpoints"][0]["dialects"]["hybi-08"].clone();
    let mut row = serde_json::Value::Null;
    for _ in 0..100 {
        row = dialect(&json(addr, "/status.json", ""));
        if row["open"] == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(row["open"], 0, "{row}");
    assert_eq!(row["accepted"], 1);
    assert_eq!(row["messages_in"], 1);
    assert!(row["bytes_in"].as_u64().unwrap() > 5000, "{row}");
    assert!(row["bytes_out"].as_u64().unwrap() > 5000, "{row}");
}

#[test]
fn names_stay_private_unless_the_operator_reveals_them() {
    let (_server, addr) = start_cli(&[], |_| {});
    let _a = Client::connect(addr, "/sessions/secret-room", Dialect::Hixie76);
    let _b = Client::connect(addr, "/sessions/secret-room", Dialect::Rfc6455);
    let status = json(addr, "/status.json", "");
    assert_eq!(status["sessions"]["count"], 1);
    assert_eq!(status["sessions"]["members"], 2);
    assert!(status["sessions"].get("list").is_none(), "{status}");
    let (_, html) = get(addr, "/status", "");
    assert!(!html.contains("secret-room"), "no name on the public page");
    // Whoever names a session (what joining it takes) learns about that one session: the
    // demo page lists its members' dialects this way.
    let one = json(addr, "/status.json?session=secret-room", "");
    let members = &one["sessions"]["list"][0]["members"];
    assert_eq!(one["sessions"]["list"][0]["name"], "secret-room");
    assert_eq!(members[0]["dialect"], "hixie-76");
    assert_eq!(members[1]["dialect"], "hybi-13");
    let other = json(addr, "/status.json?session=another", "");
    assert_eq!(other["sessions"]["list"], serde_json::json!([]));
}

#[test]
fn details_answer_only_the_admin_token_where_one_is_set() {
    let (_server, addr) = start_cli(&["--status-details", "--admin-token", "s3cret"], |_| {});
    let _a = Client::connect(addr, "/sessions/room-1", Dialect::Hybi07);
    let anonymous = json(addr, "/status.json", "");
    assert_eq!(anonymous["disclosure"], "aggregates");
    assert!(anonymous["sessions"].get("list").is_none());
    let (status, _) = get(addr, "/status.json", "Authorization: Bearer wrong\r\n");
    assert_eq!(status, 401);
    let admin = json(addr, "/status.json", "Authorization: Bearer s3cret\r\n");
    assert_eq!(admin["disclosure"], "everything");
    assert_eq!(admin["sessions"]["list"][0]["name"], "room-1");
    assert_eq!(
        admin["sessions"]["list"][0]["members"][0]["dialect"],
        "hybi-07"
    );
    let (_, page) = get(addr, "/status", "Authorization: Bearer s3cret\r\n");
    assert!(page.contains("<td>room-1</td>"), "{page}");
    assert!(page.contains("hybi-07"));
    // The metrics never name anything, token or not.
    let (_, metrics) = get(addr, "/metrics", "Authorization: Bearer s3cret\r\n");
    assert!(!metrics.contains("room-1"));
}

#[test]
fn the_status_page_refreshes_itself_and_shows_the_counts() {
    let (_server, addr) = start_cli(&[], |_| {});
    let mut client = Client::connect(addr, "/echo", Dialect::Hybi03);
    echo_round_trip(&mut client, "hi");
    let (status, page) = get(addr, "/status", "");
    assert_eq!(status, 200);
    assert!(page.contains("http-equiv=\"refresh\""));
    assert!(
        page.contains("<td>/echo</td><td>hybi-03</td><td>1</td><td>1</td><td>1</td>"),
        "{page}"
    );
}

#[test]
fn pages_can_be_turned_off_and_head_gets_no_body() {
    let (_server, addr) = start_cli(&[], |_| {});
    let head = exchange(
        addr,
        format!("HEAD / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    );
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "no body after a HEAD: {head}");
    let (status, page) = get(addr, "/", "");
    assert_eq!(status, 200);
    assert!(page.contains("<html"));
    let (status, _) = get(addr, "/metrics", "");
    assert_eq!(status, 200);

    let (_off, addr) = start_cli(&["--no-demo", "--no-status"], |_| {});
    for path in ["/", "/status", "/status.json", "/metrics"] {
        assert_eq!(get(addr, path, "").0, 501, "{path} is off");
    }
}

#[test]
fn an_embedder_gets_the_same_snapshot_from_its_handle() {
    let server = support::TestServer::start(ws::Server::builder().route("/echo", ws::Echo).route(
        "/sessions/*",
        ws::Sessions::new("/sessions/", ws::SessionOptions::default()),
    ));
    let mut a = Client::connect(server.addr, "/sessions/lobby", Dialect::Hixie75);
    let _b = Client::connect(server.addr, "/sessions/lobby", Dialect::Hybi04);
    let _ = a.recv_message();
    let status = server.handle.status(ws::Disclosure::Everything).unwrap();
    assert_eq!(status.session_list.len(), 1);
    let dialects: Vec<_> = status.session_list[0]
        .members
        .iter()
        .map(|m| m.dialect.map(|d| d.name()))
        .collect();
    assert_eq!(dialects, [Some("hixie-75"), Some("hybi-04")]);
    let aggregates = server.handle.status(ws::Disclosure::Aggregates).unwrap();
    assert!(aggregates.session_list.is_empty());
    assert_eq!(aggregates.sessions.members, 2);
    assert!(aggregates
        .to_prometheus()
        .contains("omniws_websockets_open{endpoint=\"/sessions/*\",dialect=\"hixie-75\"} 1\n"));
    server.stop().unwrap();
}
