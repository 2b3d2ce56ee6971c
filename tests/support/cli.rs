//! The command-line server as a newcomer runs it: started with its defaults (plus what a test
//! passes), on a free port read from the line it prints.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

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
