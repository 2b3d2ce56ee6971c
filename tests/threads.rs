//! Several loops in one server (`--threads`, `Builder::threads`): connections spread over the
//! loops, a pipe session's members meet on one loop whichever loop accepted them, the relay
//! works across them, status and shutdown span them, and a loop that panics takes down only
//! its own connections.

mod support;

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use support::cli::start_cli;
use support::{exchange, pipe_checked, status_of, Client, Received, TestServer};
use ws::protocols::message::Message;
use ws::protocols::{Dialect, MessageKind};
use ws::{Cx, Handler, Mount, SocketId};

fn status(addr: SocketAddr, auth: &str) -> Value {
    let request = format!("GET /status.json HTTP/1.1\r\nHost: x\r\n{auth}\r\n");
    let response = exchange(addr, request.as_bytes());
    assert_eq!(status_of(&response), 200);
    let text = String::from_utf8(response).unwrap();
    serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap()
}

fn ready(client: &mut Client) {
    assert_eq!(
        client.recv_message(),
        Received::Text("session ready".into())
    );
}

#[test]
fn sessions_meet_on_one_loop_whichever_loop_accepted_their_members() {
    let (_server, addr) = start_cli(
        &[
            "--threads",
            "2",
            "--status-details",
            "--session-leave-notice",
            "left",
        ],
        |_| {},
    );
    // Eight sessions, three members each in three dialects: the first loop accepts every
    // connection and spreads them, so most members arrive on the wrong loop and are handed
    // to the session's.
    let dialects = [Dialect::Hixie76, Dialect::Hybi07, Dialect::Rfc6455];
    let mut sessions = Vec::new();
    for s in 0..8 {
        let path = format!("/sessions/room-{s}");
        let mut members: Vec<Client> = dialects
            .iter()
            .map(|&d| Client::connect(addr, &path, d))
            .collect();
        for member in &mut members {
            ready(member);
        }
        sessions.push(members);
    }
    for (s, members) in sessions.iter_mut().enumerate() {
        let text = format!("hello from room {s}");
        members[0].send(MessageKind::Text, text.as_bytes());
        assert_eq!(members[1].recv_message(), Received::Text(text.clone()));
        assert_eq!(members[2].recv_message(), Received::Text(text));
        members[2].send(MessageKind::Binary, &[s as u8; 1000]);
        assert_eq!(
            members[1].recv_message(),
            Received::Binary(vec![s as u8; 1000])
        );
        // The hixie-76 member cannot take binary (the default): its sender hears so.
        assert_eq!(
            members[2].recv_message(),
            Received::Text("error: binary message not delivered to 1 hixie member(s)".into())
        );
    }
    let snapshot = status(addr, "");
    assert_eq!(snapshot["loops"].as_array().unwrap().len(), 2, "{snapshot}");
    let list = snapshot["sessions"]["list"].as_array().unwrap();
    assert_eq!(list.len(), 8);
    let mut loops_used = std::collections::BTreeSet::new();
    for session in list {
        let members = session["members"].as_array().unwrap();
        assert_eq!(members.len(), 3, "{session}");
        let home = &members[0]["loop"];
        assert!(members.iter().all(|m| &m["loop"] == home), "{session}");
        loops_used.insert(home.as_u64().unwrap());
    }
    assert_eq!(
        loops_used.len(),
        2,
        "the sessions' names spread them over both loops"
    );
    // A member leaves: the others hear the leave notice.
    drop(sessions[3].remove(0));
    assert_eq!(sessions[3][0].recv_message(), Received::Text("left".into()));
    assert_eq!(sessions[3][1].recv_message(), Received::Text("left".into()));
}

#[test]
fn a_64_mib_message_crosses_a_session_on_two_loops_intact() {
    let (_server, addr) = start_cli(&["--threads", "2"], |_| {});
    let mut sender = Client::connect(addr, "/sessions/big", Dialect::Rfc6455);
    let mut receiver = Client::connect(addr, "/sessions/big", Dialect::Hybi08);
    ready(&mut sender);
    ready(&mut receiver);
    pipe_checked(sender, &mut receiver, 64);
}

#[test]
fn the_relay_works_whichever_loop_accepts_its_clients_and_queues_for_absent_ones() {
    let (_server, addr) = start_cli(&["--threads", "2", "--relay-admin-token", "t0ken"], |_| {});
    let register = |body: &str, path: &str| {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let response = exchange(addr, request.as_bytes());
        assert_eq!(
            status_of(&response),
            201,
            "{}",
            String::from_utf8_lossy(&response)
        );
        let text = String::from_utf8(response).unwrap();
        serde_json::from_str::<Value>(text.split_once("\r\n\r\n").unwrap().1).unwrap()
    };
    let a = register("", "/relay/clients");
    let b = register("", "/relay/clients");
    register(
        &json!({"clients": [a["id"], b["id"]]}).to_string(),
        "/relay/channels",
    );
    let auth = |c: &Value| {
        json!({"authentication": {"clientId": c["id"], "token": c["token"]}}).to_string()
    };
    let mut ca = Client::connect(addr, "/relay", Dialect::Hixie76);
    ca.send_text(&auth(&a));
    // b is not connected yet: the message waits for it.
    ca.send_text(&json!({"relay": {"targetId": b["id"], "message": "queued"}}).to_string());
    // Padding connections, so b is accepted while the loops' loads differ.
    let _others: Vec<Client> = (0..3)
        .map(|_| Client::connect(addr, "/echo", Dialect::Rfc6455))
        .collect();
    let mut cb = Client::connect(addr, "/relay", Dialect::Rfc6455);
    cb.send_text(&auth(&b));
    let expect = |c: &mut Client, sender: &Value, message: &str| match c.recv_message() {
        Received::Text(t) => assert_eq!(
            serde_json::from_str::<Value>(&t).unwrap(),
            json!({"relay": {"senderId": sender, "message": message}})
        ),
        other => panic!("expected a relayed message, got {other:?}"),
    };
    expect(&mut cb, &a["id"], "queued");
    cb.send_text(&json!({"relay": {"targetId": a["id"], "message": "back"}}).to_string());
    expect(&mut ca, &b["id"], "back");
}

#[test]
fn echo_connections_spread_over_the_loops_and_sigterm_closes_them_all() {
    let (mut server, addr) = start_cli(&["--threads", "2"], |_| {});
    let mut clients: Vec<Client> = (0..6)
        .map(|_| Client::connect(addr, "/echo", Dialect::Rfc6455))
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(MessageKind::Text, format!("echo {i}").as_bytes());
        assert_eq!(c.recv_message(), Received::Text(format!("echo {i}")));
    }
    let loops = status(addr, "")["loops"].clone();
    // Six echo clients, plus the status request itself on one of the loops.
    let counts: Vec<u64> = loops
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(counts.len(), 2, "{loops}");
    assert!(
        counts.iter().all(|&n| n >= 3),
        "spread over both loops: {loops}"
    );
    // SIGTERM (to the process; the first loop hears it and tells the other).
    unsafe { libc::kill(server.0.id() as i32, libc::SIGTERM) };
    for c in &mut clients {
        match c.recv() {
            Received::Close(code, _) => assert_eq!(code, Some(1001)),
            other => panic!("expected a 1001 close, got {other:?}"),
        }
        c.send_close(1001, "");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Echoes, and panics on the message "panic".
struct Fragile;

impl Handler for Fragile {
    fn on_message(&mut self, cx: &mut Cx<'_>, id: SocketId, message: Message<'_>) {
        if message == Message::Text("panic") {
            panic!("a handler bug, on purpose");
        }
        if let Some(socket) = cx.socket(id) {
            let _ = socket.send(message);
        }
    }
}

#[test]
fn a_loop_that_panics_takes_down_only_its_own_connections() {
    let server = ws::Server::builder()
        .threads(2)
        .mount(Mount::per_loop("/fragile", || Fragile))
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    let runner = std::thread::spawn(move || server.run());
    // The first lands on loop 0, the second on loop 1 (the one with fewer connections).
    let mut first = Client::connect(addr, "/fragile", Dialect::Rfc6455);
    first.send(MessageKind::Text, b"one");
    assert_eq!(first.recv_message(), Received::Text("one".into()));
    let mut second = Client::connect(addr, "/fragile", Dialect::Rfc6455);
    second.send(MessageKind::Text, b"two");
    assert_eq!(second.recv_message(), Received::Text("two".into()));
    let loops = handle.status(ws::Disclosure::Aggregates).unwrap().loops;
    assert_eq!(loops, [1, 1], "one connection on each loop");
    second.send(MessageKind::Text, b"panic");
    assert!(
        matches!(second.recv(), Received::Eof),
        "its loop is gone, and its socket with it"
    );
    // The other loop goes on, and newcomers go to it.
    first.send(MessageKind::Text, b"still here");
    assert_eq!(first.recv_message(), Received::Text("still here".into()));
    let mut third = Client::connect(addr, "/fragile", Dialect::Hybi07);
    third.send(MessageKind::Text, b"three");
    assert_eq!(third.recv_message(), Received::Text("three".into()));
    handle.shutdown().unwrap();
    drop((first, third));
    let result = runner.join().unwrap();
    assert!(
        matches!(result, Err(ws::Error::LoopPanicked(1))),
        "{result:?}"
    );
}

#[test]
fn the_library_spreads_per_loop_routes_and_keeps_single_handlers_on_the_first_loop() {
    struct Counter(usize);
    impl Handler for Counter {
        fn on_message(&mut self, cx: &mut Cx<'_>, id: SocketId, _message: Message<'_>) {
            // One instance sees every connection's messages: the count is the server's.
            self.0 += 1;
            let n = self.0.to_string();
            if let Some(socket) = cx.socket(id) {
                let _ = socket.send_text(&n);
            }
        }
    }
    let server = TestServer::start(
        ws::Server::builder()
            .threads(2)
            .route("/count", Counter(0))
            .mount(Mount::per_loop("/echo", || ws::Echo)),
    );
    let mut echoes: Vec<Client> = (0..4)
        .map(|_| Client::connect(server.addr, "/echo", Dialect::Hybi08))
        .collect();
    let mut counters: Vec<Client> = (0..4)
        .map(|_| Client::connect(server.addr, "/count", Dialect::Rfc6455))
        .collect();
    for (i, c) in counters.iter_mut().enumerate() {
        c.send(MessageKind::Text, b"+1");
        assert_eq!(c.recv_message(), Received::Text((i + 1).to_string()));
    }
    for e in &mut echoes {
        e.send(MessageKind::Binary, b"x");
        assert_eq!(e.recv_message(), Received::Binary(b"x".to_vec()));
    }
    let status = server.handle.status(ws::Disclosure::Aggregates).unwrap();
    // Every /count connection lives on the first loop; the echoes spread.
    let count_row = status.endpoints[0].dialects[0].clone();
    assert_eq!(count_row.open, 4);
    assert_eq!(status.loops.iter().sum::<usize>(), 8);
    assert!(
        status.loops[0] >= 4 && status.loops[1] >= 1,
        "{:?}",
        status.loops
    );
    server.stop().unwrap();
}
