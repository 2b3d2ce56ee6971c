//! The command-line server as a newcomer runs it: started with its defaults (plus what a test
//! passes), on a free port read from the line it prints.

use super::DEADLINE;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

/// Kills the server if the test fails before stopping it, so no process outlives the test.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Start the command-line server with `args` (and `--host 127.0.0.1 --port 0`); returns it
/// and its address, read from the line it prints.
pub fn start_cli(args: &[&str], configure: impl FnOnce(&mut Command)) -> (KillOnDrop, SocketAddr) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omniws"));
    command
        .args(["--host", "127.0.0.1", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    configure(&mut command);
    let mut child = KillOnDrop(command.spawn().unwrap());
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "omniws listening on ws://127.0.0.1:PORT/ (endpoints: ...)"
    let addr = line
        .split("ws://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("address");
    (child, addr.parse().unwrap())
}

/// Run the command-line client, `omniws-client ARGS`, with `input` on stdin; its exit code, stdout and stderr.
pub fn run_client(args: &[&str], input: &[u8]) -> (Option<i32>, String, String) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_omniws-client"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("omniws-client runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread (a 64 KiB line fills the pipe); dropped at the end: EOF.
    thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (mut out, mut err) = (String::new(), String::new());
        let _ = stdout.read_to_string(&mut out);
        let _ = stderr.read_to_string(&mut err);
        let _ = tx.send((out, err));
    });
    match rx.recv_timeout(DEADLINE) {
        Ok((out, err)) => (child.wait().unwrap().code(), out, err),
        Err(_) => {
            let _ = child.kill();
            panic!("omniws-client {args:?} did not finish within {DEADLINE:?}");
        }
    }
}
