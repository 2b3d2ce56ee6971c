//! Two clients of different dialects talking through a pipe session.
//!
//! ```sh
//! cargo run --release -- --port 8088 --session-binary-to-hixie length-prefixed &
//! cargo run --release --example pipe                      # a demo: hixie-76 <-> RFC 6455
//! cargo run --release --example pipe -- chat ws://127.0.0.1:8088/sessions/x --dialect hixie-75
//! cargo run --release --example pipe -- echo ws://127.0.0.1:8088/sessions/x --dialect hixie-76
//! ```
//!
//! - `demo [URL]` (the default) starts a server of its own unless given a session URL,
//!   connects a hixie-76 client and an RFC 6455 client to one session, and has them talk:
//!   text both ways, then 8 MiB of binary from the RFC 6455 side, which the hixie-76 side
//!   receives as the draft's length-prefixed frame (the session's binary policy).
//! - `chat URL --dialect D` joins a session and sends stdin's lines, printing what arrives.
//! - `echo URL --dialect D` joins a session and sends every message back (not the server's
//!   `session ready` notice), so a peer in another dialect can check what the translation
//!   does to its messages; `tests/conformance/pipe.sh` pairs it with third-party clients.

use std::io::BufRead;
use ws::protocols::Dialect;
use ws::{ClientEvent, ConnectOptions, HixieBinary};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn options(dialect: Dialect) -> ConnectOptions {
    ConnectOptions::default()
        .dialect(dialect)
        .origin("http://pipe.example")
        // Hixie has no binary a browser can receive; this client decodes the draft's `80`
        // length-prefixed frame, so it may send one too.
        .hixie_binary(HixieBinary::LengthPrefixed)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dialect = match args.iter().position(|a| a == "--dialect") {
        Some(i) => {
            let name = args.get(i + 1).ok_or("--dialect needs a value")?;
            Dialect::from_name(name).ok_or_else(|| format!("unknown dialect {name}"))?
        }
        None => Dialect::Rfc6455,
    };
    match args.first().map(String::as_str) {
        None | Some("demo") => demo(args.get(1).cloned()),
        Some("chat") => chat(args.get(1).ok_or("chat needs a URL")?, dialect),
        Some("echo") => echo(args.get(1).ok_or("echo needs a URL")?, dialect),
        Some(other) => Err(format!("unknown mode {other}: demo, chat or echo").into()),
    }
}

/// Wait for the notice that the session has two members.
fn await_ready(client: &mut ws::Client) -> Result<()> {
    loop {
        match client.recv()? {
            ClientEvent::Text(t) if t == "session ready" => return Ok(()),
            ClientEvent::Close(info) => return Err(format!("closed: {info:?}").into()),
            _ => {}
        }
    }
}

fn demo(url: Option<String>) -> Result<()> {
    let url = match url {
        Some(url) => url,
        None => {
            let server = ws::Server::builder()
                .mount(ws::Sessions::mount("/sessions/*", {
                    let mut o = ws::SessionOptions::default();
                    o.binary_to_hixie = ws::BinaryToHixie::LengthPrefixed;
                    o
                }))
                .bind("127.0.0.1:0")?;
            let url = format!(
                "ws://{}/sessions/demo",
                server.local_addr().ok_or("no address")?
            );
            std::thread::spawn(move || server.run());
            url
        }
    };
    let mut old = ws::connect_with(&url, options(Dialect::Hixie76))?;
    let mut new = ws::connect_with(&url, options(Dialect::Rfc6455))?;
    await_ready(&mut old)?;
    await_ready(&mut new)?;
    println!("hixie-76 and RFC 6455 clients joined {url}");

    old.send_text("hello from 2010 (hixie-76)")?;
    println!("RFC 6455 got:  {:?}", new.recv()?);
    new.send_text("hello from today (RFC 6455), ünïcödé included")?;
    println!("hixie-76 got: {:?}", old.recv()?);

    let big: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let sent = big.clone();
    let sender = std::thread::spawn(move || new.send_binary(&sent).map(|()| new));
    let started = std::time::Instant::now();
    match old.recv()? {
        ClientEvent::Binary(got) => println!(
            "hixie-76 got {} bytes of binary in {:?} (the draft's length-prefixed frame), {}",
            got.len(),
            started.elapsed(),
            if got == big { "intact" } else { "CORRUPTED" }
        ),
        other => println!("hixie-76 got {other:?}"),
    }
    let mut new = sender.join().map_err(|_| "sender panicked")??;
    old.close(1000, "bye")?;
    while !matches!(old.recv()?, ClientEvent::Close(_)) {}
    new.close(1000, "bye")?;
    while !matches!(new.recv()?, ClientEvent::Close(_)) {}
    Ok(())
}

fn chat(url: &str, dialect: Dialect) -> Result<()> {
    let client = ws::connect_with(url, options(dialect))?;
    eprintln!("joined {url} as {dialect}; type lines, end with EOF");
    let (mut sender, mut receiver) = client.split();
    let printer = std::thread::spawn(move || loop {
        match receiver.recv() {
            Ok(ClientEvent::Text(t)) => println!("{t}"),
            Ok(ClientEvent::Binary(b)) => println!("[{} bytes of binary]", b.len()),
            Ok(ClientEvent::Close(info)) => {
                break eprintln!("closed: {} {}", info.code, info.reason)
            }
            Ok(_) => {}
            Err(e) => break eprintln!("error: {e}"),
        }
    });
    for line in std::io::stdin().lock().lines() {
        sender.send_text(&line?)?;
    }
    sender.close(1000, "")?;
    printer.join().map_err(|_| "printer panicked")?;
    Ok(())
}

fn echo(url: &str, dialect: Dialect) -> Result<()> {
    let mut client = ws::connect_with(url, options(dialect))?;
    // Tells a script that the member is in the session.
    println!("joined {url} as {dialect}");
    let mut echoed = 0u64;
    loop {
        match client.recv()? {
            ClientEvent::Text(t) if t == "session ready" => {}
            ClientEvent::Text(t) => client.send_text(&t)?,
            ClientEvent::Binary(b) => client.send_binary(&b)?,
            ClientEvent::Close(info) => {
                eprintln!(
                    "echo: closed ({} {}) after {echoed} messages",
                    info.code, info.reason
                );
                return Ok(());
            }
            _ => continue,
        }
        echoed += 1;
    }
}
