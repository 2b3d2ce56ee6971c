//! The command-line server as a user runs it: --help, listening, /echo, SIGTERM.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use support::{exchange, status_of, Client, Received};
use ws::protocols::Dialect;

#[test]
fn help_lists_every_option() {
    let out = Command::new(env!("CARGO_BIN_EXE_omniws"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for option in [
        "--port",
        "--host",
        "--max-connections",
        "--handshake-timeout",
        "--keepalive",
        "--close-timeout",
        "--idle-timeout",
        "--max-frame",
        "--max-message",
        "--max-head-bytes",
        "--stream",
        "--fragment-size",
        "--write-high-water",
        "--write-low-water",
        "--max-write-buffer",
        "--origin",
        "--subprotocol",
        "--hixie-binary",
        "--session-max-members",
        "--session-binary-to-hixie",
        "--relay-admin-token",
        "--relay-authorize-all-channels",
        "--relay-max-queued-messages",
    ] {
        assert!(help.contains(option), "--help mentions {option}");
    }
}

#[test]
fn bad_settings_are_refused_with_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_omniws"))
        .args([
            "--port",
            "0",
            "--write-low-water",
            "10",
            "--write-high-water",
            "5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("write_low_water"));
}

#[test]
fn serves_echo_and_exits_zero_on_sigterm() {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_omniws"))
            .args(["--host", "127.0.0.1", "--port", "0", "--close-timeout", "1"])
            .env("OMNIWS_RELAY_ADMIN_TOKEN", "t0ken")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "omniws listening on ws://127.0.0.1:PORT/ (endpoints: /echo)"
    let addr = line
        .split("ws://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("address");
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let mut client = Client::connect(addr, "/echo", Dialect::Rfc6455);
    client.send_text("from the CLI test");
    assert_eq!(
        client.recv_message(),
        Received::Text("from the CLI test".into())
    );
    // Sessions are served.
    let mut member = Client::connect(addr, "/sessions/cli", Dialect::Hixie76);
    let mut other = Client::connect(addr, "/sessions/cli", Dialect::Hybi07);
    assert_eq!(
        member.recv_message(),
        Received::Text("session ready".into())
    );
    assert_eq!(other.recv_message(), Received::Text("session ready".into()));
    member.send_text("through the pipe");
    assert_eq!(
        other.recv_message(),
        Received::Text("through the pipe".into())
    );
    // So is the relay, with registration over HTTP for the admin token's holder.
    let post = |path: &str, token: &str, body: &str| {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let response = String::from_utf8(exchange(addr, request.as_bytes())).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
        (status_of(head.as_bytes()), body.to_owned())
    };
    assert_eq!(post("/relay/clients", "wrong", "").0, 401);
    let (status, a) = post("/relay/clients", "t0ken", "");
    assert_eq!(status, 201, "{a}");
    let (_, b) = post("/relay/clients", "t0ken", "");
    let field = |json: &str, name: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v[name].to_string().trim_matches('"').to_owned()
    };
    let (ia, ib) = (field(&a, "id"), field(&b, "id"));
    let channel = format!("{{\"clients\":[{ia},{ib}]}}");
    assert_eq!(post("/relay/channels", "t0ken", &channel).0, 201);
    let mut ra = Client::connect(addr, "/relay", Dialect::Hixie76);
    let mut rb = Client::connect(addr, "/relay", Dialect::Rfc6455);
    for (c, json) in [(&mut ra, &a), (&mut rb, &b)] {
        c.send_text(&format!(
            "{{\"authentication\":{{\"clientId\":{},\"token\":\"{}\"}}}}",
            field(json, "id"),
            field(json, "token")
        ));
    }
    ra.send_text(&format!(
        "{{\"relay\":{{\"targetId\":{ib},\"message\":\"hi\"}}}}"
    ));
    assert_eq!(
        rb.recv_message(),
        Received::Text(format!(
            "{{\"relay\":{{\"message\":\"hi\",\"senderId\":{ia}}}}}"
        ))
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        client.recv_message(),
        Received::Close(Some(1001), "server shutting down".into())
    );
    client.send_close(1001, "");
    assert_eq!(
        child.0.wait().unwrap().code(),
        Some(0),
        "graceful shutdown exits 0"
    );
}

/// Kills the server if the test fails before stopping it, so no process outlives the test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
