//! `Handle::handle_upgrade` beside a minimal blocking HTTP server that reads request heads
//! itself: plain requests it answers on its own; upgrades it grants (a cookie check) are
//! handed to our loop with the head it read and whatever followed it, before anything was
//! answered, so our loop routes the request and answers in its dialect.
//!
//! ```sh
//! cargo run --example attach_std -- 8091
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// Read up to the end of the request head (bounded); returns (head, bytes after it).
fn read_head(stream: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > 8192 {
            return Err(std::io::Error::other("head too large"));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header<'h>(head: &'h str, name: &str) -> impl Iterator<Item = &'h str> + 'h {
    let name = name.to_ascii_lowercase();
    head.lines().filter_map(move |line| {
        let (n, v) = line.split_once(':')?;
        (n.trim().to_ascii_lowercase() == name).then(|| v.trim())
    })
}

fn serve_one(mut stream: TcpStream, ws: &ws::Handle) -> std::io::Result<()> {
    let (head, rest) = read_head(&mut stream)?;
    let text = String::from_utf8_lossy(&head).into_owned();
    if header(&text, "upgrade").next().is_none() {
        return stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\nConnection: close\r\n\r\nhello from std\r\n",
        );
    }
    let authorised = header(&text, "cookie")
        .flat_map(|c| c.split(';'))
        .any(|c| c.trim() == "session=letmein");
    if !authorised {
        return stream.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 13\r\nConnection: close\r\n\r\nlog in first\n");
    }
    ws.handle_upgrade(&head, stream, &rest)
        .map_err(std::io::Error::other)
}

/// Accept on `listener` forever, a thread per HTTP connection.
pub fn serve(listener: TcpListener, ws: ws::Handle) {
    for stream in listener.incoming().flatten() {
        let ws = ws.clone();
        std::thread::spawn(move || {
            if let Err(e) = serve_one(stream, &ws) {
                log::debug!("http connection: {e}");
            }
        });
    }
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let port: u16 = std::env::args().nth(1).map_or(Ok(8091), |p| p.parse())?;
    let attached = ws::attach(ws::Server::builder().route("/echo", ws::Echo))?;
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("http on http://127.0.0.1:{port}/ with WebSocket upgrades to /echo (cookie session=letmein)");
    serve(listener, attached.handle.clone());
    Ok(())
}
