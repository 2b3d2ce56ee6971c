//! The command-line client: `omniws-client connect ws://host:port/path --dialect hixie-76`.
//!
//! Sends each line of stdin as one message (text, or binary with `--binary`; the line ending,
//! `\n` or `\r\n`, is not sent) and prints each message received on its own line: text as
//! it is, binary as hex (or base64). Pings are answered and not printed. At the end of stdin
//! it closes (1000) and waits for the server's close (with `--await-echo`, it first waits for
//! as many messages as it sent). Exit status: 0 after a clean close with
//! code 1000 or none (hixie, hybi-03); 1 on any error or other close, with the reason on
//! stderr; 2 for bad arguments.

use base64::Engine as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;
use ws::protocols::compression::DeflatePolicy;
use ws::protocols::{close, Dialect};
use ws::{ClientError, ClientEvent, ClientSender, ConnectOptions};

#[derive(Parser, Debug)]
#[command(
    name = "omniws-client",
    version,
    about = "A WebSocket client for every dialect: hixie-75, hixie-76, hybi-03 to hybi-08, RFC 6455"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Connect to URL, send each line of stdin as a message, print each message received.
    Connect(Connect),
}

#[derive(Args, Debug)]
struct Connect {
    /// `ws://host[:port]/path[?query]`, or `wss://…` for TLS.
    url: String,
    /// The dialect to speak: hixie-75, hixie-76 (= hybi-00), hybi-03 (= draft03), hybi-04,
    /// hybi-05, hybi-06, hybi-07, hybi-08, rfc6455 (= hybi-13); a hybi dialect also by its
    /// version number (4 to 8, 13).
    #[arg(long, default_value = "rfc6455", value_parser = parse_dialect)]
    dialect: Dialect,
    /// Subprotocol to offer (repeatable, in order of preference).
    #[arg(long = "protocol", value_name = "PROTOCOL")]
    protocols: Vec<String>,
    /// Origin to send.
    #[arg(long)]
    origin: Option<String>,
    /// Extra request header, as "Name: value" (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Send each line as a binary message instead of text.
    #[arg(long)]
    binary: bool,
    /// How binary messages received are printed.
    #[arg(long, value_enum, default_value_t = BinaryOutput::Hex)]
    binary_output: BinaryOutput,
    /// Seconds allowed to connect, and again for the opening handshake.
    #[arg(long, default_value_t = 10.0)]
    connect_timeout: f64,
    /// Seconds to wait for the server's close after ours.
    #[arg(long, default_value_t = 5.0)]
    close_timeout: f64,
    /// Largest message accepted from the server, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    max_message: u64,
    /// At the end of stdin, wait until as many messages have arrived as lines were sent
    /// (or until nothing has arrived for the close timeout) before closing. For echo
    /// servers that drop replies still queued when a close arrives (Python websockets).
    #[arg(long)]
    await_echo: bool,
    /// Print the dialect, subprotocol and closing code on stderr.
    #[arg(short, long)]
    verbose: bool,
    /// wss://: trust only the certificates in this PEM file (a private CA) instead of the
    /// system's root certificates.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    ca: Option<std::path::PathBuf>,
    /// wss://: accept any certificate (tests and trusted networks only).
    #[arg(long)]
    insecure: bool,
    /// Offer compression (permessage-deflate, then x-webkit-deflate-frame; hybi-07, hybi-08
    /// and RFC 6455), keeping no context between messages.
    #[arg(long)]
    deflate: bool,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum BinaryOutput {
    /// Lower-case hexadecimal.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

fn parse_dialect(name: &str) -> Result<Dialect, String> {
    Dialect::from_name(name).ok_or_else(|| {
        "expected hixie-75, hixie-76, hybi-03, hybi-04, hybi-05, hybi-06, hybi-07, hybi-08 or \
         rfc6455"
            .to_owned()
    })
}

fn parse_header(header: &str) -> Result<(String, String), String> {
    let (name, value) = header
        .split_once(':')
        .ok_or_else(|| "expected \"Name: value\"".to_owned())?;
    Ok((name.trim().to_owned(), value.trim().to_owned()))
}

fn seconds(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.001))
}

fn main() -> ExitCode {
    let Command::Connect(args) = Cli::parse().command;
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("omniws-client: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Messages sent and received so far, for `--await-echo`.
#[derive(Default)]
struct Progress {
    sent: usize,
    received: usize,
    /// Bumped on every arrival, so that a wait can restart its quiet period.
    arrivals: u64,
}

type Shared = Arc<(Mutex<Progress>, Condvar)>;

fn lock(progress: &Mutex<Progress>) -> MutexGuard<'_, Progress> {
    progress.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wait until every message sent has had an answer, or nothing arrived for `quiet`.
fn await_echo(progress: &Shared, quiet: Duration) {
    let (state, changed) = &**progress;
    let mut state = lock(state);
    while state.received < state.sent {
        let arrivals = state.arrivals;
        let (next, _) = changed
            .wait_timeout_while(state, quiet, |s| s.arrivals == arrivals)
            .unwrap_or_else(PoisonError::into_inner);
        state = next;
        if state.arrivals == arrivals {
            return;
        }
    }
}

/// Send stdin line by line; at its end, close. Returns why it stopped early, if it did.
fn send_lines(
    sender: &mut ClientSender,
    binary: bool,
    progress: &Shared,
    echo_wait: Option<Duration>,
) -> Result<(), String> {
    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("reading stdin: {e}")),
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        let sent = if binary {
            sender.send_binary(&line)
        } else {
            match std::str::from_utf8(&line) {
                Ok(text) => sender.send_text(text),
                Err(_) => return Err(format!("line {number} is not UTF-8 (use --binary)")),
            }
        };
        match sent {
            Ok(()) => lock(&progress.0).sent += 1,
            // The server closed first; the receiving side reports how.
            Err(ClientError::Closed) => return Ok(()),
            Err(e) => return Err(format!("sending line {number}: {e}")),
        }
    }
    if let Some(quiet) = echo_wait {
        await_echo(progress, quiet);
    }
    sender
        .close(close::NORMAL, "")
        .map_err(|e| format!("closing: {e}"))
}

fn run(args: Connect) -> Result<(), String> {
    let timeout = seconds(args.connect_timeout);
    let options = ConnectOptions::default()
        .dialect(args.dialect)
        .subprotocols(args.protocols.iter().cloned())
        .connect_timeout(Some(timeout))
        .handshake_timeout(timeout)
        .close_timeout(seconds(args.close_timeout))
        .max_message(args.max_message);
    let options = match args.deflate {
        true => options.compression(DeflatePolicy::default()),
        false => options,
    };
    let options = match &args.origin {
        Some(origin) => options.origin(origin.clone()),
        None => options,
    };
    let options = match (&args.ca, args.insecure) {
        (Some(ca), _) => options.ca_file(ca),
        (None, true) => options.insecure(),
        (None, false) => options,
    };
    let options = args.headers.iter().fold(options, |o, (name, value)| {
        o.header(name.clone(), value.clone())
    });
    let client = ws::connect_with(&args.url, options)
        .map_err(|e| format!("cannot connect to {}: {e}", args.url))?;
    if args.verbose {
        eprintln!(
            "connected to {} ({}, subprotocol {}, extensions {})",
            args.url,
            client.dialect(),
            client.subprotocol().unwrap_or("none"),
            client
                .response_header("Sec-WebSocket-Extensions")
                .unwrap_or("none")
        );
    }
    let (mut sender, mut receiver) = client.split();
    let binary = args.binary;
    // The input side reports its failure before closing, so that it is known by the time the
    // server's answer to that close arrives.
    let (failed, failure) = mpsc::channel();
    let progress = Shared::default();
    let input_progress = Arc::clone(&progress);
    let echo_wait = args.await_echo.then(|| seconds(args.close_timeout));
    thread::spawn(move || {
        if let Err(message) = send_lines(&mut sender, binary, &input_progress, echo_wait) {
            let _ = failed.send(message);
            let _ = sender.close(close::NORMAL, "");
        }
    });

    let mut out = io::stdout().lock();
    let info = loop {
        let written = match receiver.recv() {
            Ok(ClientEvent::Text(text)) => writeln!(out, "{text}"),
            Ok(ClientEvent::Binary(data)) => match args.binary_output {
                BinaryOutput::Hex => {
                    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
                    writeln!(out, "{hex}")
                }
                BinaryOutput::Base64 => writeln!(
                    out,
                    "{}",
                    base64::engine::general_purpose::STANDARD.encode(&data)
                ),
            },
            Ok(ClientEvent::Ping(_) | ClientEvent::Pong(_)) => continue,
            Ok(ClientEvent::Close(info)) => break info,
            Err(e) => return Err(e.to_string()),
        };
        written
            .and_then(|()| out.flush())
            .map_err(|e| format!("writing stdout: {e}"))?;
        let (state, changed) = &*progress;
        let mut state = lock(state);
        state.received += 1;
        state.arrivals += 1;
        changed.notify_all();
    };
    if args.verbose {
        eprintln!(
            "closed: {} {:?} ({})",
            info.code,
            info.reason,
            if info.clean { "clean" } else { "not clean" }
        );
    }
    // (If the server closed first, the input thread may still be reading stdin: leave it.)
    if let Ok(message) = failure.try_recv() {
        return Err(message);
    }
    if info.clean && matches!(info.code, close::NORMAL | close::NO_STATUS) {
        Ok(())
    } else {
        Err(format!(
            "connection closed: {} {}{}",
            info.code,
            info.reason,
            if info.clean { "" } else { " (not clean)" }
        ))
    }
}
