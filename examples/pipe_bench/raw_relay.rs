//! The ceiling: a raw TCP relay that copies bytes between two sockets, with no WebSocket
//! framing, no parsing and no queue of its own.
//!
//! Connections are paired in accept order (first with second, third with fourth, ...); each
//! member of a pair gets the line `session ready\n` and then every byte the other sends. Each
//! direction is one std thread doing blocking `read` into a 128 KiB buffer (the read size of
//! our event loop) and `write_all` of what it got; when one side reaches EOF, the other's
//! write side is shut down. Only one direction carries data in the benchmark, so one thread
//! is busy, as one loop thread is in the servers it is compared with.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

/// Bytes per `read`.
const BUFFER: usize = 128 << 10;

/// Copy from `from` to `to` until EOF or an error, then shut down `to`'s write side.
fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn relay(a: TcpStream, b: TcpStream) -> io::Result<()> {
    for stream in [&a, &b] {
        stream.set_nodelay(true)?;
        (&*stream).write_all(b"session ready\n")?;
    }
    let (a2, b2) = (a.try_clone()?, b.try_clone()?);
    let forward = std::thread::spawn(move || copy(a, b2));
    copy(b, a2);
    let _ = forward.join();
    Ok(())
}

pub fn run(port: u16) -> Result<(), String> {
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    println!("raw relay listening on 127.0.0.1:{port}");
    loop {
        let (a, _) = listener.accept().map_err(|e| e.to_string())?;
        let (b, _) = listener.accept().map_err(|e| e.to_string())?;
        std::thread::spawn(move || {
            if let Err(e) = relay(a, b) {
                eprintln!("raw relay: {e}");
            }
        });
    }
}
