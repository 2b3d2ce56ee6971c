//! The command-line server as a user runs it: --help, listening, /echo, SIGTERM.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;
use support::cli::start_cli;
use support::{exchange, status_of, Client, Received};
use ws::protocols::{Dialect, MessageKind};

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
        "--max-handshaking",
        "--memory-budget",
        "--session-max-held-messages",
        "--session-max-message",
        "--tls-cert",
        "--compression",
        "--compression-min-size",
        "--no-demo",
        "--no-status",
        "--status-details",
        "--admin-token",
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
    let (mut child, addr) = start_cli(&["--close-timeout", "1"], |command| {
        command.env("OMNIWS_RELAY_ADMIN_TOKEN", "t0ken");
    });
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

#[test]
fn sessions_pipe_messages_beyond_the_whole_delivery_limits_with_the_defaults() {
    let (_server, addr) = start_cli(&[], |_| {});
    let mut sender = Client::connect(addr, "/sessions/big", Dialect::Rfc6455);
    let mut receiver = Client::connect(addr, "/sessions/big", Dialect::Hybi07);
    for member in [&mut sender, &mut receiver] {
        assert_eq!(
            member.recv_message(),
            Received::Text("session ready".into())
        );
    }
    // One frame over the 16 MiB frame limit, then a fragmented message over the 64 MiB
    // message limit: both bound whole delivery, not sessions.
    let one_frame: Vec<u8> = (0..(20 << 20)).map(|i: u32| (i % 251) as u8).collect();
    let fragmented: Vec<u8> = (0..(65 << 20) + 7).map(|i: u32| (i % 241) as u8).collect();
    let (a, b) = (one_frame.clone(), fragmented.clone());
    let writer = std::thread::spawn(move || {
        sender.send(MessageKind::Binary, &a);
        sender.send_streamed(MessageKind::Binary, &b, 1 << 20);
        sender
    });
    assert!(receiver.recv_message() == Received::Binary(one_frame));
    assert!(receiver.recv_message() == Received::Binary(fragmented));
    writer.join().unwrap();
}

/// Connect to /echo and return the HTTP status of the answer (101, or the refusal).
fn upgrade_status(stream: &mut TcpStream) -> Option<u16> {
    let request = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(status_of(&head))
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name's closing parenthesis; utime and stime are 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn out_of_file_descriptors_the_server_sheds_with_503_idles_and_recovers() {
    use std::os::unix::process::CommandExt;
    let (server, addr) = start_cli(&[], |command| {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 48,
                    rlim_max: 48,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let mut open = Vec::new();
    let mut shed = 0;
    for _ in 0..80 {
        let mut stream = support::raw_connect(addr);
        match upgrade_status(&mut stream) {
            Some(101) => open.push(stream),
            Some(503) => shed += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        shed > 0 && open.len() >= 20,
        "{} open, {shed} shed",
        open.len()
    );
    // Nothing accepted is waiting; a spinning loop would burn a whole core here.
    let pid = server.0.id();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    assert!(
        used < 30,
        "the server used {used} ticks of CPU in one idle second"
    );
    // Once connections close, new clients are served again.
    open.clear();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut client = support::raw_connect(addr);
        if upgrade_status(&mut client) == Some(101) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never served again");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut client = Client::connect(addr, "/echo", Dialect::Rfc6455);
    client.send_text("back");
    assert_eq!(client.recv_message(), Received::Text("back".into()));
}
