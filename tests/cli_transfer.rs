//! `omniws-client send FILE URL` and `omniws-client receive URL FILE` through a pipe session
//! of the command-line server, as a user runs them: separate processes, real files, the
//! server's defaults unless a test says otherwise. Every process runs under a deadline.

mod support;

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use support::cli::{start_cli, KillOnDrop};
use support::DEADLINE;
use ws::protocols::MessageKind;
use ws::ClientEvent;

/// A directory of its own for each test, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("omniws-cli-transfer-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `len` pseudo-random bytes (xorshift64*: incompressible enough, and fast in a debug build).
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a finished client process left: exit code, stdout, stderr.
struct Finished {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Finished {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// `omniws-client ARGS` started in the background, stdin from `input` (or nothing).
struct Running {
    child: KillOnDrop,
    output: mpsc::Receiver<(Vec<u8>, String)>,
    args: Vec<String>,
}

fn spawn_client(args: &[&str], input: Option<Vec<u8>>) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_omniws-client"))
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("omniws-client runs");
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (tx, output) = mpsc::channel();
    thread::spawn(move || {
        let (mut o, mut e) = (Vec::new(), String::new());
        let errors = thread::spawn(move || {
            let _ = err.read_to_string(&mut e);
            e
        });
        let _ = out.read_to_end(&mut o);
        let e = errors.join().unwrap_or_default();
        let _ = tx.send((o, e));
    });
    Running {
        child: KillOnDrop(child),
        output,
        args: args.iter().map(|a| a.to_string()).collect(),
    }
}

impl Running {
    /// Wait for the process to end (both pipes closed), or kill it and fail at the deadline.
    fn finish(mut self) -> Finished {
        match self.output.recv_timeout(DEADLINE) {
            Ok((stdout, stderr)) => Finished {
                code: wait(&mut self.child.0),
                stdout,
                stderr,
            },
            Err(_) => panic!(
                "omniws-client {:?} did not finish within {DEADLINE:?}",
                self.args
            ),
        }
    }
}

fn wait(child: &mut Child) -> Option<i32> {
    child.wait().ok().and_then(|status| status.code())
}

/// The `sha256 HEX bytes N` line in `text`.
fn result_line(text: &str) -> Option<(String, u64)> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("sha256"), Some(hex), Some("bytes"), Some(n)) => {
                Some((hex.to_owned(), n.parse().ok()?))
            }
            _ => None,
        }
    })
}

fn session_url(addr: SocketAddr, name: &str) -> String {
    format!("ws://{addr}/sessions/{name}")
}

/// Poll until `path` exists (the receiver creates its file when the message begins), or fail.
fn await_file(path: &Path) {
    let deadline = Instant::now() + DEADLINE;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// A transfer of `data` from a sender speaking `send_args` to a receiver speaking
/// `receive_args`; the sender starts first when `sender_first`. Both must succeed, print the
/// real SHA-256 and length, and the file must arrive byte for byte.
fn transfer(
    addr: SocketAddr,
    dir: &TempDir,
    session: &str,
    data: &[u8],
    send_args: &[&str],
    receive_args: &[&str],
    sender_first: bool,
) -> Duration {
    let (source, target) = (dir.path("source"), dir.path("target"));
    std::fs::write(&source, data).unwrap();
    let url = session_url(addr, session);
    let (source_arg, target_arg) = (source.to_str().unwrap(), target.to_str().unwrap());
    let send_cmd: Vec<&str> = ["send", source_arg, &url]
        .into_iter()
        .chain(send_args.iter().copied())
        .collect();
    let receive_cmd: Vec<&str> = ["receive", &url, target_arg]
        .into_iter()
        .chain(receive_args.iter().copied())
        .collect();
    let started = Instant::now();
    let (sender, receiver) = if sender_first {
        let sender = spawn_client(&send_cmd, None);
        (sender, spawn_client(&receive_cmd, None))
    } else {
        let receiver = spawn_client(&receive_cmd, None);
        (spawn_client(&send_cmd, None), receiver)
    };
    let (sent, received) = (sender.finish(), receiver.finish());
    let took = started.elapsed();
    assert_eq!(sent.code, Some(0), "sender: {}", sent.stderr);
    assert_eq!(received.code, Some(0), "receiver: {}", received.stderr);
    let expected = (sha256_hex(data), data.len() as u64);
    assert_eq!(
        result_line(&sent.stdout_text()),
        Some(expected.clone()),
        "sender"
    );
    assert_eq!(
        result_line(&received.stdout_text()),
        Some(expected),
        "receiver"
    );
    let arrived = std::fs::read(&target).unwrap();
    assert!(arrived == data, "the file arrived different");
    took
}

#[test]
fn sends_64_mib_through_a_session_of_the_default_server() {
    let (_server, addr) = start_cli(&[], |_| {});
    let dir = TempDir::new("64mib");
    let data = random_bytes(64 << 20, 0x64);
    let took = transfer(addr, &dir, "big-file", &data, &[], &[], false);
    eprintln!("64 MiB through a session (two client processes, debug build): {took:?}");
}

#[test]
fn sends_across_dialects_either_side_first() {
    let (_server, addr) = start_cli(&[], |_| {});
    let dir = TempDir::new("dialects");
    let data = random_bytes(3 << 20, 0xd1a1);
    // (sender's options, receiver's options, sender first)
    let pairs: [(&[&str], &[&str], bool); 4] = [
        (&[], &["--dialect", "hybi-07"], true),
        (&["--dialect", "hybi-08"], &["--dialect", "hybi-03"], false),
        (&["--dialect", "hybi-03"], &["--dialect", "rfc6455"], true),
        (
            &["--deflate"],
            &["--dialect", "hybi-07", "--deflate"],
            false,
        ),
    ];
    for (i, (send_args, receive_args, sender_first)) in pairs.into_iter().enumerate() {
        let session = format!("dialects-{i}");
        transfer(
            addr,
            &dir,
            &session,
            &data,
            send_args,
            receive_args,
            sender_first,
        );
    }
}

#[test]
fn streams_stdin_to_stdout() {
    let (_server, addr) = start_cli(&[], |_| {});
    let data = random_bytes(2 << 20, 0x5d10);
    let url = session_url(addr, "pipes");
    let receiver = spawn_client(&["receive", &url, "-"], None);
    let sender = spawn_client(&["send", "-", &url], Some(data.clone()));
    let sent = sender.finish();
    let received = receiver.finish();
    assert_eq!(sent.code, Some(0), "sender: {}", sent.stderr);
    assert_eq!(received.code, Some(0), "receiver: {}", received.stderr);
    let expected = (sha256_hex(&data), data.len() as u64);
    assert_eq!(result_line(&sent.stdout_text()), Some(expected.clone()));
    // The data went to stdout, so the result line went to stderr.
    assert_eq!(result_line(&received.stderr), Some(expected));
    assert!(received.stdout == data, "stdout carries exactly the data");
}

#[test]
fn receive_fails_when_the_sender_leaves_before_sending() {
    let (_server, addr) = start_cli(&["--session-leave-notice", "member left"], |_| {});
    let dir = TempDir::new("left");
    let target = dir.path("never");
    let url = session_url(addr, "left-early");
    let receiver = spawn_client(
        &[
            "receive",
            &url,
            target.to_str().unwrap(),
            "--leave-notice",
            "member left",
        ],
        None,
    );
    // The would-be sender joins, sees that the receiver is there, and goes.
    let options = ws::ConnectOptions::default().read_timeout(Some(DEADLINE));
    let mut sender = ws::connect_with(&url, options).unwrap();
    assert_eq!(
        sender.recv().unwrap(),
        ClientEvent::Text("session ready".into())
    );
    sender.close(1000, "changed my mind").unwrap();
    let received = receiver.finish();
    assert_eq!(received.code, Some(1), "{}", received.stderr);
    assert!(
        received.stderr.contains("left the session before sending"),
        "{}",
        received.stderr
    );
    assert!(!target.exists(), "no file for a message that never began");
}

#[test]
fn receive_fails_and_removes_the_file_when_the_sender_fails_mid_message() {
    let (_server, addr) = start_cli(&[], |_| {});
    let dir = TempDir::new("cut");
    let target = dir.path("partial");
    let url = session_url(addr, "cut-short");
    let receiver = spawn_client(&["receive", &url, target.to_str().unwrap()], None);
    let options = ws::ConnectOptions::default().read_timeout(Some(DEADLINE));
    let mut sender = ws::connect_with(&url, options).unwrap();
    assert_eq!(
        sender.recv().unwrap(),
        ClientEvent::Text("session ready".into())
    );
    let mut message = sender.begin_message(MessageKind::Binary).unwrap();
    message.write_chunk(&random_bytes(1 << 20, 7)).unwrap();
    // The receiver has begun the message: now the sender fails (dropped unfinished: the
    // library abandons it with 1011, and the session cuts the receiver off).
    await_file(&target);
    drop(message);
    let received = receiver.finish();
    assert_eq!(received.code, Some(1), "{}", received.stderr);
    assert!(
        received.stderr.contains("before its end"),
        "{}",
        received.stderr
    );
    assert!(!target.exists(), "the partial file is removed");
}

#[test]
fn receive_gives_up_after_the_idle_timeout() {
    let (_server, addr) = start_cli(&[], |_| {});
    let url = session_url(addr, "nobody-comes");
    let started = Instant::now();
    let received = spawn_client(&["receive", &url, "-", "--idle-timeout", "0.5"], None).finish();
    assert_eq!(received.code, Some(1), "{}", received.stderr);
    assert!(
        received.stderr.contains("--idle-timeout"),
        "{}",
        received.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn send_refuses_what_it_cannot_send() {
    let (_server, addr) = start_cli(&[], |_| {});
    let dir = TempDir::new("refused");
    let url = session_url(addr, "refused");
    let missing = dir.path("missing");
    let sent = spawn_client(&["send", missing.to_str().unwrap(), &url], None).finish();
    assert_eq!(sent.code, Some(1));
    assert!(sent.stderr.contains("cannot open"), "{}", sent.stderr);
    // hixie-76 cannot carry binary of unknown length.
    let file = dir.path("small");
    std::fs::write(&file, b"hello").unwrap();
    let sent = spawn_client(
        &[
            "send",
            file.to_str().unwrap(),
            &url,
            "--dialect",
            "hixie-76",
            "--no-wait",
        ],
        None,
    )
    .finish();
    assert_eq!(sent.code, Some(1));
    assert!(sent.stderr.contains("cannot carry"), "{}", sent.stderr);
    assert!(result_line(&sent.stdout_text()).is_none());
}
