//! Relay channels over real sockets, with clients of several dialects.

mod support;

use serde_json::{json, Value};
use std::io::Write;
use support::{exchange, status_of, Client, Received, TestServer};
use ws::protocols::{Dialect, MessageKind};
use ws::{Credentials, Relay, RelayAdmin, RelayOptions, Server};

fn start(options: RelayOptions) -> (TestServer, Relay) {
    let relay = Relay::new(options);
    let server = TestServer::start(
        Server::builder()
            .route("/relay", relay.handler())
            .plain_http(RelayAdmin::new(relay.clone(), "admin-secret")),
    );
    (server, relay)
}

fn connect(server: &TestServer, dialect: Dialect) -> Client {
    Client::connect(server.addr, "/relay", dialect)
}

fn auth(c: &Credentials) -> String {
    json!({"authentication": {"clientId": c.id, "token": c.token}}).to_string()
}

fn relay_to(target: u64, message: &str) -> String {
    json!({"relay": {"targetId": target, "message": message}}).to_string()
}

/// The next text message, as JSON.
fn recv_json(c: &mut Client) -> Value {
    match c.recv_message() {
        Received::Text(t) => serde_json::from_str(&t).expect("JSON from the relay"),
        other => panic!("expected a text message, got {other:?}"),
    }
}

fn relayed(sender: u64, message: &str) -> Value {
    json!({"relay": {"senderId": sender, "message": message}})
}

fn error(text: &str) -> Value {
    json!({ "error": text })
}

#[test]
fn clients_of_different_dialects_talk_over_a_registered_channel() {
    let (server, relay) = start(RelayOptions::default());
    let a = relay.register_client().unwrap();
    let b = relay.register_client().unwrap();
    let c = relay.register_client().unwrap();
    relay.register_relay_channel(a.id, b.id).unwrap();
    relay.register_relay_channel(b.id, c.id).unwrap();
    let mut ca = connect(&server, Dialect::Hixie76);
    let mut cb = connect(&server, Dialect::Rfc6455);
    let mut cc = connect(&server, Dialect::Hybi03);
    ca.send_text(&auth(&a));
    cb.send_text(&auth(&b));
    cc.send_text(&auth(&c));
    let offer = "v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\ns=\"é😀\"";
    ca.send_text(&relay_to(b.id, offer));
    assert_eq!(recv_json(&mut cb), relayed(a.id, offer));
    cb.send_text(&relay_to(a.id, "answer"));
    assert_eq!(recv_json(&mut ca), relayed(b.id, "answer"));
    cb.send_text(&relay_to(c.id, "to c"));
    assert_eq!(recv_json(&mut cc), relayed(b.id, "to c"));
    // a and c have no channel.
    ca.send_text(&relay_to(c.id, "sneaky"));
    assert_eq!(recv_json(&mut ca), error("channel not registered"));
    cc.send_text(&relay_to(a.id, "sneaky"));
    assert_eq!(recv_json(&mut cc), error("channel not registered"));
    // Nothing leaked to the others: the next thing each gets is this.
    cb.send_text(&relay_to(a.id, "last"));
    assert_eq!(recv_json(&mut ca), relayed(b.id, "last"));
}

#[test]
fn messages_for_an_absent_peer_wait_and_arrive_in_order_within_the_bound() {
    let (server, relay) = start(RelayOptions::default().max_queued(3, 1 << 20));
    let a = relay.register_client().unwrap();
    let b = relay.register_client().unwrap();
    relay.register_relay_channel(a.id, b.id).unwrap();
    let mut ca = connect(&server, Dialect::Hybi08);
    ca.send_text(&auth(&a));
    for m in ["one", "two", "three"] {
        ca.send_text(&relay_to(b.id, m));
    }
    ca.send_text(&relay_to(b.id, "four"));
    assert_eq!(
        recv_json(&mut ca),
        error("queue full: the peer is not taking messages")
    );
    // b arrives (hixie-75, no close codes, no binary) and gets the three, then live ones.
    let mut cb = connect(&server, Dialect::Hixie75);
    cb.send_text(&auth(&b));
    for m in ["one", "two", "three"] {
        assert_eq!(recv_json(&mut cb), relayed(a.id, m));
    }
    ca.send_text(&relay_to(b.id, "live"));
    assert_eq!(recv_json(&mut cb), relayed(a.id, "live"));
    // b leaves; what a sends now waits for b's next connection.
    drop(cb);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.handle.stats().connections_open > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "b's departure not seen"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    ca.send_text(&relay_to(b.id, "while away"));
    let mut cb = connect(&server, Dialect::Rfc6455);
    cb.send_text(&auth(&b));
    assert_eq!(recv_json(&mut cb), relayed(a.id, "while away"));
}

#[test]
fn one_message_may_authenticate_and_relay() {
    let (server, relay) = start(RelayOptions::default());
    let a = relay.register_client().unwrap();
    let b = relay.register_client().unwrap();
    relay.register_relay_channel(a.id, b.id).unwrap();
    let mut cb = connect(&server, Dialect::Hybi07);
    cb.send_text(&auth(&b));
    let mut ca = connect(&server, Dialect::Rfc6455);
    ca.send_text(
        &json!({
            "authentication": {"clientId": a.id, "token": a.token},
            "relay": {"targetId": b.id, "message": "both"}
        })
        .to_string(),
    );
    assert_eq!(recv_json(&mut cb), relayed(a.id, "both"));
    // The connection stays authenticated.
    ca.send_text(&relay_to(b.id, "again"));
    assert_eq!(recv_json(&mut cb), relayed(a.id, "again"));
}

#[test]
fn every_bad_message_gets_its_error_and_repeated_bad_tokens_end_the_connection() {
    let (server, relay) = start(RelayOptions::default().max_auth_failures(3));
    let a = relay.register_client().unwrap();
    let b = relay.register_client().unwrap();
    relay.register_relay_channel(a.id, b.id).unwrap();
    let mut c = connect(&server, Dialect::Rfc6455);
    c.send_text(&relay_to(b.id, "too early"));
    assert_eq!(recv_json(&mut c), error("not authenticated"));
    for bad in [
        "hello",
        "{}",
        r#"{"relay":{"targetId":"2","message":"x"}}"#,
        "[1]",
    ] {
        c.send_text(bad);
        assert_eq!(recv_json(&mut c), error("malformed message"), "{bad}");
    }
    c.send(MessageKind::Binary, b"\x01\x02");
    assert_eq!(recv_json(&mut c), error("malformed message"));
    // A wrong token and an unknown id get the same answer.
    c.send_text(&auth(&Credentials {
        id: a.id,
        token: b.token.clone(),
    }));
    assert_eq!(recv_json(&mut c), error("incorrect token"));
    c.send_text(&auth(&Credentials {
        id: 999,
        token: a.token.clone(),
    }));
    assert_eq!(recv_json(&mut c), error("incorrect token"));
    c.send_text(&auth(&Credentials {
        id: a.id,
        token: String::new(),
    }));
    assert_eq!(recv_json(&mut c), error("incorrect token"));
    assert_eq!(
        c.recv_message(),
        Received::Close(Some(1008), "too many failed authentications".into())
    );

    // An authenticated connection cannot become another client.
    let mut c = connect(&server, Dialect::Hybi08);
    c.send_text(&auth(&a));
    c.send_text(&auth(&b));
    assert_eq!(
        recv_json(&mut c),
        error("already authenticated as another client")
    );
    c.send_text(&auth(&a));
    c.send_text(&relay_to(b.id, "still a"));
    let mut cb = connect(&server, Dialect::Hybi08);
    cb.send_text(&auth(&b));
    assert_eq!(recv_json(&mut cb), relayed(a.id, "still a"));
}

#[test]
fn a_second_connection_of_a_client_replaces_the_first() {
    let (server, relay) = start(RelayOptions::default());
    let a = relay.register_client().unwrap();
    let b = relay.register_client().unwrap();
    relay.register_relay_channel(a.id, b.id).unwrap();
    let mut old = connect(&server, Dialect::Rfc6455);
    old.send_text(&auth(&b));
    let mut new = connect(&server, Dialect::Hixie76);
    new.send_text(&auth(&b));
    assert_eq!(
        old.recv_message(),
        Received::Close(Some(1008), "authenticated on another connection".into())
    );
    let mut ca = connect(&server, Dialect::Rfc6455);
    ca.send_text(&auth(&a));
    ca.send_text(&relay_to(b.id, "to the new one"));
    assert_eq!(recv_json(&mut new), relayed(a.id, "to the new one"));
}

#[test]
fn authorize_all_channels_lets_registered_clients_talk_without_a_channel() {
    let (server, relay) = start(RelayOptions::default().authorize_all_channels(true));
    let a = relay.register_client_with_id(100).unwrap();
    let b = relay.register_client_with_id(200).unwrap();
    let mut ca = connect(&server, Dialect::Rfc6455);
    let mut cb = connect(&server, Dialect::Hixie76);
    ca.send_text(&auth(&a));
    cb.send_text(&auth(&b));
    ca.send_text(&relay_to(200, "hi"));
    assert_eq!(recv_json(&mut cb), relayed(100, "hi"));
    cb.send_text(&relay_to(100, "hi back"));
    assert_eq!(recv_json(&mut ca), relayed(200, "hi back"));
    ca.send_text(&relay_to(300, "nobody"));
    assert_eq!(recv_json(&mut ca), error("channel not registered"));
}

#[test]
fn closing_the_relay_closes_its_clients_and_refuses_newcomers() {
    let (server, relay) = start(RelayOptions::default());
    let a = relay.register_client().unwrap();
    let mut ca = connect(&server, Dialect::Rfc6455);
    let mut cb = connect(&server, Dialect::Hixie76);
    ca.send_text(&auth(&a));
    // Make sure both connections are open on the loop before closing.
    ca.send_text("ping?");
    assert_eq!(recv_json(&mut ca), error("malformed message"));
    cb.send_text("ping?");
    assert_eq!(recv_json(&mut cb), error("malformed message"));
    relay.close();
    assert_eq!(
        ca.recv_message(),
        Received::Close(Some(1001), "the relay is closed".into())
    );
    assert_eq!(cb.recv_message(), Received::Close(None, String::new()));
    assert!(relay.is_closed());
    assert_eq!(relay.register_client(), Err(ws::RelayError::Closed));
    let refused = Client::connect_with(server.addr, "/relay", Dialect::Rfc6455, &[]);
    match refused {
        Err(e) => assert!(e.contains("503"), "{e}"),
        Ok(_) => panic!("a closed relay accepted an upgrade"),
    }
}

fn http(
    server: &TestServer,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = auth {
        request += &format!("Authorization: Bearer {token}\r\n");
    }
    request += "\r\n";
    request += body;
    let response = exchange(server.addr, request.as_bytes());
    let text = String::from_utf8(response.clone()).unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (
        status_of(&response),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[test]
fn registration_over_http_needs_the_admin_token_and_its_clients_can_relay() {
    let (server, _relay) = start(RelayOptions::default());
    let secret = Some("admin-secret");
    assert_eq!(
        http(&server, "POST", "/relay/clients", None, ""),
        (401, error("unauthorized"))
    );
    assert_eq!(
        http(&server, "POST", "/relay/clients", Some("admin"), "").0,
        401
    );
    let (status, a) = http(&server, "POST", "/relay/clients", secret, "");
    assert_eq!(status, 201);
    let (_, b) = http(&server, "POST", "/relay/clients", secret, "");
    let (ia, ib) = (a["id"].as_u64().unwrap(), b["id"].as_u64().unwrap());
    let pair = json!({"clients": [ia, ib]}).to_string();
    assert_eq!(http(&server, "POST", "/relay/channels", None, &pair).0, 401);
    assert_eq!(
        http(&server, "POST", "/relay/channels", secret, &pair).0,
        201
    );
    assert_eq!(
        http(&server, "POST", "/relay/channels", secret, &pair).0,
        409
    );
    let unknown = json!({"clients": [ia, 9999]}).to_string();
    assert_eq!(
        http(&server, "POST", "/relay/channels", secret, &unknown).0,
        404
    );
    assert_eq!(
        http(&server, "POST", "/relay/channels", secret, "{\"clients\":").0,
        400
    );
    assert_eq!(http(&server, "GET", "/relay/clients", secret, "").0, 405);
    assert_eq!(http(&server, "GET", "/other", secret, "").0, 501);

    let creds = |v: &Value| Credentials {
        id: v["id"].as_u64().unwrap(),
        token: v["token"].as_str().unwrap().to_owned(),
    };
    let mut ca = connect(&server, Dialect::Hybi07);
    let mut cb = connect(&server, Dialect::Hixie75);
    ca.send_text(&auth(&creds(&a)));
    cb.send_text(&auth(&creds(&b)));
    ca.send_text(&relay_to(ib, "over http"));
    assert_eq!(recv_json(&mut cb), relayed(ia, "over http"));
}

#[test]
fn a_request_body_split_across_writes_is_read_whole() {
    let (server, _relay) = start(RelayOptions::default());
    let mut stream = support::raw_connect(server.addr);
    let head = "POST /relay/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin-secret\r\nContent-Length: 2\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    stream.write_all(b"{}").unwrap();
    let mut answer = Vec::new();
    use std::io::Read;
    let _ = stream.read_to_end(&mut answer);
    assert_eq!(status_of(&answer), 201);
}

#[test]
fn a_peer_that_stops_reading_pauses_its_sender_and_memory_stays_bounded() {
    let limit = 256 << 10;
    let (server, relay) = start(RelayOptions::default().max_queued(100_000, limit));
    let a = relay.register_client().unwrap();
    let b = relay.register_client().unwrap();
    relay.register_relay_channel(a.id, b.id).unwrap();
    let mut cb = connect(&server, Dialect::Rfc6455);
    cb.send_text(&auth(&b));
    let mut ca = connect(&server, Dialect::Rfc6455);
    ca.send_text(&auth(&a));
    // b reads nothing while a sends 32 MiB of relay messages from another thread: far more
    // than the socket buffers, b's write queue and its relay queue hold together.
    let piece = "x".repeat(32 << 10);
    let count = 1024;
    let message = relay_to(b.id, &piece);
    let mut frame = Vec::new();
    ws::protocols::Encoder::client(Dialect::Rfc6455, [8; 16])
        .message(MessageKind::Text, message.as_bytes(), &mut frame)
        .unwrap();
    let mut writer = ca.stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        for _ in 0..count {
            writer.write_all(&frame).unwrap();
        }
    });
    // Wait until the server has stopped reading a (its byte count stands still).
    let mut last = 0;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let read = server.handle.stats().bytes_read;
        if read == last {
            break;
        }
        last = read;
    }
    let stats = server.handle.stats();
    // a is still blocked: its 32 MiB exceed what the kernel buffers between a, the server
    // and b can hold (a few MiB each at most), so the server stopped reading it.
    assert!(
        !sender.is_finished(),
        "the server kept reading a: {stats:?}"
    );
    // b's write queue stopped growing near the bound: nothing like the 32 MiB a sent.
    assert!(stats.queued_peak < (2 << 20) + limit, "{stats:?}");
    // Nothing is lost: b, reading at last, gets every message, in order.
    for i in 0..count {
        assert!(
            recv_json(&mut cb) == relayed(a.id, &piece),
            "message {i} of {count}"
        );
    }
    sender.join().unwrap();
    ca.send_text(&relay_to(b.id, "after"));
    assert_eq!(recv_json(&mut cb), relayed(a.id, "after"));
}
