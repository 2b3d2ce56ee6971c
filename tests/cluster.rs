//! Three command-line nodes on loopback joined through a real Redis (Debian `redis-server`,
//! started by the test on a free port): members of different dialects on different nodes
//! share sessions, whole and bit-exact, with backpressure across nodes; a node that dies
//! takes its own members and no one else's; a broker that goes away leaves each node serving
//! what it can, and joins come back with it.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::cli::KillOnDrop;
use support::{exchange, pipe_checked, status_of, Client, Received};
use ws::protocols::{Dialect, MessageKind};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Redis of the test's own, on a free loopback port, keeping nothing on disk.
fn redis(port: u16) -> KillOnDrop {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs (Debian package redis-server; .ci/run installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    KillOnDrop(child)
}

struct Node {
    process: KillOnDrop,
    addr: SocketAddr,
}

/// A command-line node with its defaults but the cluster options (the test's token).
fn node(name: &str, redis_port: u16, extra: &[&str]) -> Node {
    let token = ["--cluster-token", "test-token"];
    node_with(name, redis_port, &[&token[..], extra].concat())
}

/// A command-line node with its defaults but the cluster options and `extra`.
fn node_with(name: &str, redis_port: u16, extra: &[&str]) -> Node {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_omniws"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--cluster", &format!("redis://127.0.0.1:{redis_port}")])
        .args(["--node-name", name, "--advertise", &addr.to_string()])
        .args(["--status-details"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(node_log(name))
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening"), "{line}");
    Node {
        process: KillOnDrop(child),
        addr,
    }
}

/// Where a node's log goes: nowhere, or with `CLUSTER_TEST_LOGS=DIR` to `DIR/NAME.log` at
/// debug level (set `RUST_LOG` too), for a failure to be read.
fn node_log(name: &str) -> Stdio {
    match std::env::var_os("CLUSTER_TEST_LOGS") {
        Some(dir) => std::fs::File::create(std::path::Path::new(&dir).join(format!("{name}.log")))
            .map_or_else(|_| Stdio::null(), Stdio::from),
        None => Stdio::null(),
    }
}

/// Nodes a, b and c with `extra` options, once each lists all three.
fn three_nodes(redis_port: u16, extra: &[&str]) -> (Node, Node, Node) {
    let a = node("a", redis_port, extra);
    let b = node("b", redis_port, extra);
    let c = node("c", redis_port, extra);
    converge(&[&a, &b, &c], 3);
    (a, b, c)
}

fn status(addr: SocketAddr) -> Value {
    let response = exchange(addr, b"GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status_of(&response), 200);
    let text = String::from_utf8(response).unwrap();
    serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap()
}

/// Wait until every node's table lists `count` nodes and is healthy.
fn converge(nodes: &[&Node], count: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = nodes.iter().all(|n| {
            let s = status(n.addr);
            s["cluster"]["healthy"] == true
                && s["cluster"]["nodes"].as_array().map(Vec::len) == Some(count)
        });
        if ready {
            return;
        }
        assert!(Instant::now() < deadline, "the cluster did not form");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ready(client: &mut Client) {
    assert_eq!(
        client.recv_message(),
        Received::Text("session ready".into())
    );
}

#[test]
fn sessions_span_three_nodes_whole_in_order_and_with_backpressure() {
    let redis_port = free_port();
    let _redis = redis(redis_port);
    let (a, b, c) = three_nodes(redis_port, &[]);

    // Sessions with a member on each node, in three dialects, text and binary both ways.
    for s in 0..6 {
        let path = format!("/sessions/span-{s}");
        let mut on_a = Client::connect(a.addr, &path, Dialect::Hixie76);
        let mut on_b = Client::connect(b.addr, &path, Dialect::Hybi07);
        ready(&mut on_a);
        ready(&mut on_b);
        let mut on_c = Client::connect(c.addr, &path, Dialect::Rfc6455);
        ready(&mut on_c);
        if s == 0 {
            // Each node lists every member, with its dialect and, for the others', its node.
            for (n, here) in [(&a, "a"), (&b, "b"), (&c, "c")] {
                let mut seen: Vec<(String, String)> = status(n.addr)["sessions"]["list"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|l| l["name"] == "span-0")
                    .flat_map(|l| l["members"].as_array().unwrap().clone())
                    .map(|m| {
                        let node = m["node"].as_str().unwrap_or(here).to_owned();
                        (node, m["dialect"].as_str().unwrap().to_owned())
                    })
                    .collect();
                seen.sort();
                let expected = [("a", "hixie-76"), ("b", "hybi-07"), ("c", "hybi-13")];
                assert_eq!(
                    seen,
                    expected.map(|(n, d)| (n.to_owned(), d.to_owned())),
                    "node {here}"
                );
            }
        }
        let text = format!("hello {s} from a hixie-76 client on node a");
        on_a.send(MessageKind::Text, text.as_bytes());
        assert_eq!(on_b.recv_message(), Received::Text(text.clone()));
        assert_eq!(on_c.recv_message(), Received::Text(text));
        on_c.send(MessageKind::Text, "réponse ☃".as_bytes());
        assert_eq!(on_a.recv_message(), Received::Text("réponse ☃".into()));
        assert_eq!(on_b.recv_message(), Received::Text("réponse ☃".into()));
        on_b.send(MessageKind::Binary, &[s as u8; 70_000]);
        assert_eq!(on_c.recv_message(), Received::Binary(vec![s as u8; 70_000]));
        // The hixie-76 member takes no binary (the default): its sender hears so.
        assert!(
            matches!(on_b.recv_message(), Received::Text(t) if t.contains("not delivered")),
            "the sender is told"
        );
    }

    // 64 MiB across nodes, bit-exact.
    let mut sender = Client::connect(b.addr, "/sessions/big", Dialect::Hybi08);
    let mut receiver = Client::connect(c.addr, "/sessions/big", Dialect::Rfc6455);
    ready(&mut sender);
    ready(&mut receiver);
    let _sender = pipe_checked(sender, &mut receiver, 64);

    // Backpressure end to end: a receiver on one node that stops reading pauses a sender
    // on another, and no node holds more than its bounds.
    let mut slow_sender = Client::connect(a.addr, "/sessions/slow", Dialect::Rfc6455);
    let mut stalled = Client::connect(c.addr, "/sessions/slow", Dialect::Rfc6455);
    ready(&mut slow_sender);
    ready(&mut stalled);
    slow_sender
        .stream
        .set_write_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let chunk = vec![7u8; 1 << 20];
    let mut sent = 0usize;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let mut frame = Vec::new();
        ws::protocols::Encoder::client(Dialect::Rfc6455, [3; 16])
            .message(MessageKind::Binary, &chunk, &mut frame)
            .unwrap();
        match std::io::Write::write_all(&mut slow_sender.stream, &frame) {
            Ok(()) => sent += chunk.len(),
            Err(_) => break, // the write blocked for 3 s: the sender is paused
        }
    }
    assert!(
        sent < 256 << 20,
        "the sender was paused after {} MiB",
        sent >> 20
    );
    for n in [&a, &b, &c] {
        let held = status(n.addr)["memory"]["held_bytes"].as_u64().unwrap();
        assert!(held < 64 << 20, "node {} holds {held} bytes", n.addr);
    }
    // The stalled receiver reads again and gets whole messages.
    assert_eq!(stalled.recv_message(), Received::Binary(chunk));
    drop((a.process, b.process, c.process));
}

#[test]
fn a_dead_node_takes_only_its_own_members_and_a_lost_broker_only_new_joins() {
    let redis_port = free_port();
    let mut broker = redis(redis_port);
    let (a, b, c) = three_nodes(redis_port, &["--session-leave-notice", "left"]);
    // A session with a member on every node.
    let path = "/sessions/kept";
    let mut on_a = Client::connect(a.addr, path, Dialect::Hybi07);
    let mut on_b = Client::connect(b.addr, path, Dialect::Rfc6455);
    ready(&mut on_a);
    ready(&mut on_b);
    let mut on_c = Client::connect(c.addr, path, Dialect::Hybi08);
    ready(&mut on_c);

    // b's member is half-way through a message to the others when node a dies with its
    // member: the message still reaches c's member whole (it never passed through a),
    // and then the leave notice.
    let payload: Vec<u8> = (0..8u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let mut frame = Vec::new();
    ws::protocols::Encoder::client(Dialect::Rfc6455, [5; 16])
        .message(MessageKind::Binary, &payload, &mut frame)
        .unwrap();
    let (first, rest) = frame.split_at(frame.len() / 2);
    std::io::Write::write_all(&mut on_b.stream, first).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(a.process); // killed, with its member
    drop(on_a);
    std::thread::sleep(Duration::from_millis(500));
    std::io::Write::write_all(&mut on_b.stream, rest).unwrap();
    assert!(
        on_c.recv_message() == Received::Binary(payload),
        "whole, bit-exact"
    );
    assert_eq!(on_c.recv_message(), Received::Text("left".into()));
    assert_eq!(on_b.recv_message(), Received::Text("left".into()));
    on_c.send(MessageKind::Text, b"still here");
    assert_eq!(on_b.recv_message(), Received::Text("still here".into()));
    converge(&[&b, &c], 2);

    // The broker goes away: the sessions that live on, live on, and take new members
    // where they have some (their links say which nodes to reach); a join that needs the
    // broker is refused with 503 and a reason once the table is stale.
    let _ = broker.0.kill();
    let _ = broker.0.wait();
    std::thread::sleep(Duration::from_secs(4)); // longer than a node key lives
    on_c.send(MessageKind::Text, b"without the broker");
    assert_eq!(
        on_b.recv_message(),
        Received::Text("without the broker".into())
    );
    let mut late = Client::connect(c.addr, path, Dialect::Hixie76);
    ready(&mut late);
    on_b.send(MessageKind::Text, b"to everyone, the late one too");
    for member in [&mut on_c, &mut late] {
        assert_eq!(
            member.recv_message(),
            Received::Text("to everyone, the late one too".into())
        );
    }
    // A member that leaves is heard leaving on the other node.
    drop(late);
    assert_eq!(on_b.recv_message(), Received::Text("left".into()));
    assert_eq!(on_c.recv_message(), Received::Text("left".into()));
    let refused = exchange(
        b.addr,
        b"GET /sessions/brand-new HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(status_of(&refused), 503);
    assert!(String::from_utf8_lossy(&refused).contains("cluster broker unreachable"));
    // The broker comes back (same port): the nodes find each other again, joins work.
    broker = redis(redis_port);
    converge(&[&b, &c], 2);
    let mut x = Client::connect(b.addr, "/sessions/brand-new", Dialect::Rfc6455);
    let mut y = Client::connect(c.addr, "/sessions/brand-new", Dialect::Hixie76);
    ready(&mut x);
    ready(&mut y);
    x.send(MessageKind::Text, b"back");
    assert_eq!(y.recv_message(), Received::Text("back".into()));
    drop(broker);
}

/// `POST path` with `body` and the admin token on `addr`: the status and the JSON body.
fn register(addr: SocketAddr, path: &str, body: &str) -> (u16, Value) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let response = exchange(addr, request.as_bytes());
    let text = String::from_utf8(response.clone()).unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (
        status_of(&response),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// A relay client registered over HTTP on `addr`: its id and token.
fn relay_client(addr: SocketAddr) -> (u64, String) {
    let (status, body) = register(addr, "/relay/clients", "");
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_u64().unwrap(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

fn relay_channel(addr: SocketAddr, a: u64, b: u64) {
    let (status, body) = register(
        addr,
        "/relay/channels",
        &format!("{{\"clients\":[{a},{b}]}}"),
    );
    assert_eq!(status, 201, "{body}");
}

fn authenticate(client: &mut Client, (id, token): &(u64, String)) {
    client.send_text(
        &serde_json::json!({"authentication": {"clientId": id, "token": token}}).to_string(),
    );
}

fn relay_send(client: &mut Client, target: u64, message: &str) {
    client.send_text(
        &serde_json::json!({"relay": {"targetId": target, "message": message}}).to_string(),
    );
}

/// The next relay message `client` gets, as JSON.
fn relay_recv(client: &mut Client) -> Value {
    match client.recv_message() {
        Received::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected a relay message, got {other:?}"),
    }
}

fn relayed(sender: u64, message: &str) -> Value {
    serde_json::json!({"relay": {"senderId": sender, "message": message}})
}

/// The node every node's table names for the relay (once they agree: a lease taken is
/// seen by the others at their next refresh).
fn relay_node(nodes: &[&Node], names: &[&str]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    let named = loop {
        let named: Vec<Value> = nodes
            .iter()
            .map(|n| status(n.addr)["cluster"]["relay_node"].clone())
            .collect();
        // Every node names the same holder (none names one before the lease is taken).
        if !named[0].is_null() && named.iter().all(|n| *n == named[0]) {
            break named;
        }
        assert!(Instant::now() < deadline, "the nodes disagree: {named:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    names
        .iter()
        .position(|n| named[0] == *n)
        .expect("a relay node")
}

#[test]
fn relay_channels_span_nodes_with_queued_delivery_and_refusals_without_the_broker() {
    let redis_port = free_port();
    let mut broker = redis(redis_port);
    let admin = ["--relay-admin-token", "admin"];
    let a = node("a", redis_port, &admin);
    let b = node("b", redis_port, &admin);
    converge(&[&a, &b], 2);
    let before = relay_node(&[&a, &b], &["a", "b"]);
    // A node that joins does not take the relay over: it stays with its lease's holder.
    let c = node("c", redis_port, &admin);
    let nodes = [&a, &b, &c];
    converge(&nodes, 3);
    // The relay's node, and the two others: registrations and clients there are passed to it.
    let owner = relay_node(&nodes, &["a", "b", "c"]);
    assert_eq!(owner, before, "the relay stayed where it was");
    let others: Vec<&Node> = (0..3).filter(|&i| i != owner).map(|i| nodes[i]).collect();
    let (relay_at, on_b, on_a) = (nodes[owner], others[0], others[1]);

    // Registered over HTTP on a node that does not hold the relay: forwarded, answered.
    let x = relay_client(on_b.addr);
    let y = relay_client(on_b.addr);
    relay_channel(on_b.addr, x.0, y.0);
    let (status, body) = register(
        on_b.addr,
        "/relay/channels",
        &format!("{{\"clients\":[{},{}]}}", y.0, x.0),
    );
    assert_eq!(
        (status, body["error"].is_string()),
        (409, true),
        "the relay's refusal comes back"
    );
    let (status, _) = register(on_a.addr, "/relay/clients", "");
    assert_eq!(status, 201);
    let unauthorized = exchange(
        on_b.addr,
        b"POST /relay/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\r\n",
    );
    assert_eq!(status_of(&unauthorized), 401);

    // X on another such node sends to Y, who is connected nowhere: it waits on the relay's node.
    let mut cx = Client::connect(on_a.addr, "/relay", Dialect::Rfc6455);
    authenticate(&mut cx, &x);
    relay_send(&mut cx, y.0, "first, queued");
    relay_send(&mut cx, y.0, "second, queued");
    // A refusal after them on the same connection: both were taken when it comes back.
    relay_send(&mut cx, 999_999, "nobody");
    assert_eq!(
        relay_recv(&mut cx),
        serde_json::json!({"error": "channel not registered"})
    );

    // Y connects to the third node and gets both, in order; then both ways, live.
    let mut cy = Client::connect(on_b.addr, "/relay", Dialect::Hybi07);
    authenticate(&mut cy, &y);
    assert_eq!(relay_recv(&mut cy), relayed(x.0, "first, queued"));
    assert_eq!(relay_recv(&mut cy), relayed(x.0, "second, queued"));
    for i in 0..20 {
        relay_send(&mut cy, x.0, &format!("y to x {i} ☃"));
        relay_send(&mut cx, y.0, &format!("x to y {i}"));
    }
    for i in 0..20 {
        assert_eq!(relay_recv(&mut cx), relayed(y.0, &format!("y to x {i} ☃")));
        assert_eq!(relay_recv(&mut cy), relayed(x.0, &format!("x to y {i}")));
    }

    // A hixie-76 client (registered on the relay's node, its channel on another) on a node
    // that does not hold the relay; a wrong token is refused there as on one node.
    let z = relay_client(relay_at.addr);
    relay_channel(on_a.addr, z.0, y.0);
    let mut cz = Client::connect(on_a.addr, "/relay", Dialect::Hixie76);
    authenticate(&mut cz, &(z.0, "0".repeat(32)));
    assert_eq!(
        relay_recv(&mut cz),
        serde_json::json!({"error": "incorrect token"})
    );
    authenticate(&mut cz, &z);
    relay_send(&mut cz, y.0, "from an old browser");
    assert_eq!(relay_recv(&mut cy), relayed(z.0, "from an old browser"));
    relay_send(&mut cy, z.0, "hello, old browser");
    assert_eq!(relay_recv(&mut cz), relayed(y.0, "hello, old browser"));
    // A client directly on the relay's node talks to one bridged from another.
    let mut cz_direct = Client::connect(relay_at.addr, "/relay", Dialect::Hybi08);
    authenticate(&mut cz_direct, &z);
    // (hixie-76 has no close codes: the relay's 1008 reaches it as a bare close.)
    assert!(
        matches!(cz.recv_message(), Received::Close(..)),
        "the old connection is closed"
    );
    relay_send(&mut cy, z.0, "to the new connection");
    assert_eq!(
        relay_recv(&mut cz_direct),
        relayed(y.0, "to the new connection")
    );

    // The broker goes away: open links carry on; the relay's node goes on registering;
    // other nodes refuse what they cannot place, with 503 and the reason.
    let _ = broker.0.kill();
    let _ = broker.0.wait();
    std::thread::sleep(Duration::from_secs(4)); // longer than a node key lives
    relay_send(&mut cx, y.0, "without the broker");
    assert_eq!(relay_recv(&mut cy), relayed(x.0, "without the broker"));
    let (status, body) = register(on_b.addr, "/relay/clients", "");
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("cluster broker unreachable"),
        "{body}"
    );
    let refused = exchange(
        on_a.addr,
        b"GET /relay HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(status_of(&refused), 503);
    assert!(String::from_utf8_lossy(&refused).contains("cannot tell which node serves the relay"));
    let (status, _) = register(relay_at.addr, "/relay/clients", "");
    assert_eq!(status, 201, "the relay's node still registers");

    // The broker comes back, having forgotten the lease: its holder takes it again (the
    // relay, and everything registered with it, stays put), and registration works anywhere.
    broker = redis(redis_port);
    converge(&nodes, 3);
    let holder = relay_node(&nodes, &["a", "b", "c"]);
    assert_eq!(
        holder, owner,
        "a restarted broker leaves the relay where it was"
    );
    let w = relay_client(on_a.addr);
    relay_channel(on_b.addr, w.0, x.0);
    let mut cw = Client::connect(on_b.addr, "/relay", Dialect::Hybi03);
    authenticate(&mut cw, &w);
    relay_send(&mut cw, x.0, "back");
    assert_eq!(relay_recv(&mut cx), relayed(w.0, "back"));

    // The relay's node dies: its bridged clients are told it went away.
    let mut all = [a, b, c];
    let _ = all[owner].process.0.kill();
    assert_eq!(
        cx.recv_message(),
        Received::Close(Some(1001), "the relay's node went away".into())
    );
    drop(broker);
}

/// `LLEN key` on the test's Redis (plain RESP over loopback).
fn redis_llen(port: u16, key: &str) -> i64 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = format!("*2\r\n$4\r\nLLEN\r\n${}\r\n{key}\r\n", key.len());
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "redis answered");
        answer.push(byte[0]);
    }
    let text = String::from_utf8(answer).unwrap();
    text.trim()
        .strip_prefix(':')
        .unwrap_or_else(|| panic!("LLEN answered {text:?}"))
        .parse()
        .unwrap()
}

/// Wait (bounded) until `LLEN key` is `len`.
fn await_llen(port: u16, key: &str, len: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = redis_llen(port, key);
        if now == len {
            return;
        }
        assert!(Instant::now() < deadline, "{key} holds {now}, not {len}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_relay_outlives_its_node_registrations_channels_and_queues_included() {
    let redis_port = free_port();
    let _broker = redis(redis_port);
    let admin = ["--relay-admin-token", "admin"];
    let (a, b, c) = three_nodes(redis_port, &admin);
    let nodes = [&a, &b, &c];
    let names = ["a", "b", "c"];
    let owner = relay_node(&nodes, &names);
    let others: Vec<usize> = (0..3).filter(|&i| i != owner).collect();

    // X and Y registered (through a node that does not hold the relay), with a channel.
    let x = relay_client(nodes[others[0]].addr);
    let y = relay_client(nodes[others[1]].addr);
    relay_channel(nodes[others[0]].addr, x.0, y.0);

    // X sends three messages to Y, connected nowhere: they wait on the relay's node, and
    // its write-through takes them to the broker.
    let mut cx = Client::connect(nodes[others[0]].addr, "/relay", Dialect::Rfc6455);
    authenticate(&mut cx, &x);
    for i in 0..3 {
        relay_send(&mut cx, y.0, &format!("queued {i} ☃"));
    }
    relay_send(&mut cx, 999_999, "nobody");
    assert_eq!(
        relay_recv(&mut cx),
        serde_json::json!({"error": "channel not registered"})
    );
    let queue = format!("omniws:relay:queue:{}", y.0);
    await_llen(redis_port, &queue, 3);

    // The relay's node dies; X's bridge is told, and a survivor takes the lease.
    let mut all = [Some(a), Some(b), Some(c)];
    let dead = all[owner].take().unwrap();
    drop(dead.process);
    assert_eq!(
        cx.recv_message(),
        Received::Close(Some(1001), "the relay's node went away".into())
    );
    let survivors: Vec<&Node> = others.iter().map(|&i| all[i].as_ref().unwrap()).collect();
    let survivor_names: Vec<&str> = others.iter().map(|&i| names[i]).collect();
    converge(&survivors, 2);
    let new_owner = relay_node(&survivors, &survivor_names);
    let elsewhere = survivors[1 - new_owner];

    // The new holder serves once it has loaded (503 "relay loading" until then): the
    // channel is there (409), registered through the node that does not hold the relay.
    let deadline = Instant::now() + Duration::from_secs(15);
    let body = format!("{{\"clients\":[{},{}]}}", x.0, y.0);
    let status = loop {
        let (status, reply) = register(elsewhere.addr, "/relay/channels", &body);
        if status != 503 {
            break status;
        }
        assert!(Instant::now() < deadline, "the relay stayed away: {reply}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 409, "the channel survived its node");

    // Y connects to a survivor and gets X's messages, in order; the broker's copy of its
    // queue is emptied as they are sent.
    let mut cy = Client::connect(elsewhere.addr, "/relay", Dialect::Hybi07);
    authenticate(&mut cy, &y);
    for i in 0..3 {
        assert_eq!(relay_recv(&mut cy), relayed(x.0, &format!("queued {i} ☃")));
    }
    await_llen(redis_port, &queue, 0);

    // X, with the same token, on the new holder itself: the same channel, both ways.
    let mut cx = Client::connect(survivors[new_owner].addr, "/relay", Dialect::Hixie76);
    authenticate(&mut cx, &x);
    relay_send(&mut cx, y.0, "after the move");
    assert_eq!(relay_recv(&mut cy), relayed(x.0, "after the move"));
    relay_send(&mut cy, x.0, "and back");
    assert_eq!(relay_recv(&mut cx), relayed(y.0, "and back"));
    // New registrations do not take the survivors' ids.
    let z = relay_client(elsewhere.addr);
    assert!(z.0 != x.0 && z.0 != y.0, "{z:?}");
}

#[test]
fn a_full_session_is_full_on_every_node() {
    let redis_port = free_port();
    let _redis = redis(redis_port);
    let full = ["--session-max-members", "2"];
    let (a, b, c) = three_nodes(redis_port, &full);
    let mut x = Client::connect(a.addr, "/sessions/pair", Dialect::Rfc6455);
    let mut y = Client::connect(b.addr, "/sessions/pair", Dialect::Hixie76);
    ready(&mut x);
    ready(&mut y);
    // Where the session has members, a third is refused before the upgrade.
    let refused = exchange(
        a.addr,
        b"GET /sessions/pair HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(status_of(&refused), 409);
    // Where it has none, the upgrade passes, and the other nodes' refusal follows.
    let mut z = Client::connect(c.addr, "/sessions/pair", Dialect::Rfc6455);
    assert_eq!(
        z.recv_message(),
        Received::Close(Some(1008), "session full".into())
    );
    // The two members never saw it.
    x.send(MessageKind::Text, b"just us");
    assert_eq!(y.recv_message(), Received::Text("just us".into()));
}

#[test]
fn without_a_token_links_go_only_to_nodes_in_the_table() {
    let redis_port = free_port();
    let _redis = redis(redis_port);
    let a = node_with("a", redis_port, &[]);
    let b = node_with("b", redis_port, &[]);
    converge(&[&a, &b], 2);
    let mut x = Client::connect(a.addr, "/sessions/open", Dialect::Rfc6455);
    let mut y = Client::connect(b.addr, "/sessions/open", Dialect::Hybi08);
    ready(&mut x);
    ready(&mut y);
    x.send(MessageKind::Text, b"no token needed between listed nodes");
    assert_eq!(
        y.recv_message(),
        Received::Text("no token needed between listed nodes".into())
    );
    // A would-be link naming a node nobody lists, at an address of its choosing: a is not
    // sent there, and the link is dropped rather than answered.
    let decoy = TcpListener::bind("127.0.0.1:0").unwrap();
    decoy.set_nonblocking(true).unwrap();
    let claimed = format!("ghost {}", decoy.local_addr().unwrap());
    let headers = [
        ("X-Omniws-Bridge", "1"),
        ("X-Omniws-Node", claimed.as_str()),
    ];
    let mut fake =
        Client::connect_full(a.addr, "/sessions/open", Dialect::Rfc6455, &[], &headers).unwrap();
    assert!(matches!(
        fake.recv_message(),
        Received::Close(..) | Received::Eof
    ));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        decoy.accept().is_err(),
        "a connected to the address the link named"
    );
    x.send(MessageKind::Text, b"still two");
    assert_eq!(y.recv_message(), Received::Text("still two".into()));
}
