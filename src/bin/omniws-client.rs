//! The command-line client: `omniws-client connect ws://host:port/path --dialect hixie-76`,
//! `omniws-client send FILE ws://host:port/sessions/NAME` and
//! `omniws-client receive ws://host:port/sessions/NAME FILE`.
//!
//! `connect` sends each line of stdin as one message (text, or binary with `--binary`; the line ending,
//! `\n` or `\r\n`, is not sent) and prints each message received on its own line: text as
//! it is, binary as hex (or base64). Pings are answered and not printed. At the end of stdin
//! it closes (1000) and waits for the server's close (with `--await-echo`, it first waits for
//! as many messages as it sent). Exit status: 0 after a clean close with
//! code 1000 or none (hixie, hybi-03); 1 on any error or other close, with the reason on
//! stderr; 2 for bad arguments.
//!
//! `send` and `receive` move one file through a pipe session as one binary message, streamed
//! with bounded memory (`ws::transfer` does the moving): the sender waits for the session's
//! ready notice, so either may start first. Each prints `sha256 HEX bytes N` at the end (on
//! stdout, or on stderr when the data itself went to stdout) and exits 0 only if the whole
//! message went through and the connection closed cleanly; a receiver whose connection ends
//! before the message does exits 1 and removes the partial file. A progress bar is drawn on
//! stderr when it is a terminal.

use base64::Engine as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufRead, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};
use ws::protocols::compression::DeflatePolicy;
use ws::protocols::{close, Dialect};
use ws::transfer::{await_text, receive_stream, send_stream, TransferError};
use ws::{
    Client, ClientError, ClientEvent, ClientReceiver, ClientSender, CloseInfo, ConnectOptions,
};

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
    /// Send FILE (`-`: stdin) as one binary message, streamed, once a peer is in the session.
    Send(Send),
    /// Receive one binary message into FILE (`-`: stdout), streamed as it arrives.
    Receive(Receive),
}

/// What every subcommand asks of the connection: dialect, handshake, TLS, compression,
/// timeouts.
#[derive(Args, Debug)]
struct ConnectionArgs {
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
    /// Seconds allowed to connect, and again for the opening handshake.
    #[arg(long, default_value_t = 10.0)]
    connect_timeout: f64,
    /// Seconds to wait for the server's close after ours.
    #[arg(long, default_value_t = 5.0)]
    close_timeout: f64,
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

impl ConnectionArgs {
    fn options(&self) -> ConnectOptions {
        let timeout = seconds(self.connect_timeout);
        let options = ConnectOptions::default()
            .dialect(self.dialect)
            .subprotocols(self.protocols.iter().cloned())
            .connect_timeout(Some(timeout))
            .handshake_timeout(timeout)
            .close_timeout(seconds(self.close_timeout));
        let options = match self.deflate {
            true => options.compression(DeflatePolicy::default()),
            false => options,
        };
        let options = match &self.origin {
            Some(origin) => options.origin(origin.clone()),
            None => options,
        };
        let options = match (&self.ca, self.insecure) {
            (Some(ca), _) => options.ca_file(ca),
            (None, true) => options.insecure(),
            (None, false) => options,
        };
        self.headers.iter().fold(options, |o, (name, value)| {
            o.header(name.clone(), value.clone())
        })
    }

    /// Connect, and with `-v` say what was agreed.
    fn connect(&self, url: &str, options: ConnectOptions) -> Result<Client, String> {
        let client =
            ws::connect_with(url, options).map_err(|e| format!("cannot connect to {url}: {e}"))?;
        if self.verbose {
            eprintln!(
                "connected to {url} ({}, subprotocol {}, extensions {})",
                client.dialect(),
                client.subprotocol().unwrap_or("none"),
                client
                    .response_header("Sec-WebSocket-Extensions")
                    .unwrap_or("none")
            );
        }
        Ok(client)
    }
}

#[derive(Args, Debug)]
struct Connect {
    /// `ws://host[:port]/path[?query]`, or `wss://…` for TLS.
    url: String,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Send each line as a binary message instead of text.
    #[arg(long)]
    binary: bool,
    /// How binary messages received are printed.
    #[arg(long, value_enum, default_value_t = BinaryOutput::Hex)]
    binary_output: BinaryOutput,
    /// Largest message accepted from the server, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    max_message: u64,
    /// At the end of stdin, wait until as many messages have arrived as lines were sent
    /// (or until nothing has arrived for the close timeout) before closing. For echo
    /// servers that drop replies still queued when a close arrives (Python websockets).
    #[arg(long)]
    await_echo: bool,
}

#[derive(Args, Debug)]
struct Send {
    /// The file to send; `-` for stdin.
    file: PathBuf,
    /// `ws://host[:port]/sessions/NAME`, or `wss://…` for TLS.
    url: String,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// The text by which the session says another member is there; sending starts when
    /// it arrives (the command-line server's default notice).
    #[arg(long, value_name = "TEXT", default_value = "session ready")]
    ready_notice: String,
    /// Start sending at once, without waiting for the ready notice (a server that sends
    /// none: then start the receiver first, or the message reaches nobody).
    #[arg(long)]
    no_wait: bool,
    /// Bytes read from FILE and sent as one fragment at a time: what the transfer holds in
    /// memory.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 10,
          value_parser = clap::value_parser!(u64).range(1..=64 << 20))]
    chunk_size: u64,
    /// No progress bar, even when stderr is a terminal.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args, Debug)]
struct Receive {
    /// `ws://host[:port]/sessions/NAME`, or `wss://…` for TLS.
    url: String,
    /// Where to write the message; `-` for stdout. Created (or truncated) when the message
    /// begins, removed again if it does not arrive whole.
    file: PathBuf,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// The text the server sends when a member leaves (`omniws --session-leave-notice`,
    /// off by default): if it arrives before the message begins, give up with status 1.
    #[arg(long, value_name = "TEXT")]
    leave_notice: Option<String>,
    /// Give up (status 1) when nothing arrives for this many seconds; 0 waits for ever.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    idle_timeout: f64,
    /// Largest message accepted, in bytes; 0 for no limit (nothing is held in memory).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    max_message: u64,
    /// No progress bar, even when stderr is a terminal.
    #[arg(long)]
    no_progress: bool,
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
    let result = match Cli::parse().command {
        Command::Connect(args) => run(args),
        Command::Send(args) => send(args),
        Command::Receive(args) => receive(args),
    };
    match result {
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
    let options = args.connection.options().max_message(args.max_message);
    let client = args.connection.connect(&args.url, options)?;
    let (mut sender, mut receiver) = client.split();
    let binary = args.binary;
    // The input side reports its failure before closing, so that it is known by the time the
    // server's answer to that close arrives.
    let (failed, failure) = mpsc::channel();
    let progress = Shared::default();
    let input_progress = Arc::clone(&progress);
    let echo_wait = args
        .await_echo
        .then(|| seconds(args.connection.close_timeout));
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
    if args.connection.verbose {
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
    clean_close(&info)
}

/// The running SHA-256, byte count and progress bar of what passes through a transfer.
struct Tally {
    hasher: Sha256,
    bytes: u64,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Tally {
    /// A bar only when asked for and stderr is a terminal: with `total`, a bar with an ETA;
    /// without, the bytes so far and the rate.
    fn new(progress: bool, total: Option<u64>) -> Self {
        let bar = (progress && io::stderr().is_terminal()).then(|| {
            let (bar, template) = match total {
                Some(total) => (
                    ProgressBar::new(total),
                    "{wide_bar} {binary_bytes}/{binary_total_bytes} \
                     {binary_bytes_per_sec} eta {eta}",
                ),
                None => (
                    ProgressBar::new_spinner(),
                    "{spinner} {binary_bytes} {binary_bytes_per_sec} {elapsed}",
                ),
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        Tally {
            hasher: Sha256::new(),
            bytes: 0,
            bar,
            started: Instant::now(),
        }
    }

    fn add(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        if let Some(bar) = &self.bar {
            bar.inc(data.len() as u64);
        }
    }

    /// Clear the bar and give the result line: `sha256 HEX bytes N`.
    fn finish(self, verbose: bool) -> String {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if verbose {
            let secs = self.started.elapsed().as_secs_f64();
            eprintln!(
                "{} bytes in {secs:.2} s ({:.1} MB/s)",
                self.bytes,
                self.bytes as f64 / secs.max(1e-9) / 1e6
            );
        }
        let hex: String = self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256 {hex} bytes {}", self.bytes)
    }

    fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}

/// A reader or writer whose bytes are counted into a [`Tally`] as they pass.
struct Tapped<T> {
    inner: T,
    tally: Tally,
}

impl<R: Read> Read for Tapped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tally.add(&buf[..n]);
        Ok(n)
    }
}

impl<W: Write> Write for Tapped<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.tally.add(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Ok for a clean close with 1000 or no code, the close described otherwise.
fn clean_close(info: &CloseInfo) -> Result<(), String> {
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

/// The sender's reading side once the transfer has begun: pings are answered by `recv`,
/// the server's `error: …` notices (binary not delivered to hixie members) are kept, and
/// the close ends it.
fn watch(mut events: ClientReceiver) -> Result<(CloseInfo, Vec<String>), ClientError> {
    let mut errors = Vec::new();
    loop {
        match events.recv()? {
            ClientEvent::Text(text) if text.starts_with("error:") => errors.push(text),
            ClientEvent::Close(info) => return Ok((info, errors)),
            _ => {}
        }
    }
}

fn send(args: Send) -> Result<(), String> {
    let shown = args.file.display();
    // Opened before connecting, so that a wrong name fails without joining the session.
    let (source, total): (Box<dyn Read>, Option<u64>) = if is_stdio(&args.file) {
        (Box::new(io::stdin().lock()), None)
    } else {
        let file = File::open(&args.file).map_err(|e| format!("cannot open {shown}: {e}"))?;
        let len = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        (Box::new(file), len)
    };
    let client = args
        .connection
        .connect(&args.url, args.connection.options())?;
    let (mut sender, mut events) = client.split();
    if !args.no_wait {
        if args.connection.verbose {
            eprintln!("waiting for {:?}", args.ready_notice);
        }
        await_text(&mut events, &args.ready_notice).map_err(|e| match e {
            TransferError::ClosedBefore(info) => format!(
                "the connection closed before another member joined: {} {}",
                info.code, info.reason
            ),
            e => format!("waiting for another member: {e}"),
        })?;
    }
    let watcher = thread::spawn(move || watch(events));
    let mut source = Tapped {
        inner: source,
        tally: Tally::new(!args.no_progress, total),
    };
    let chunk = usize::try_from(args.chunk_size).unwrap_or(usize::MAX);
    let sent = send_stream(&mut sender, &mut source, chunk);
    if sent.is_err() {
        source.tally.abandon();
    }
    // Our close, then the server's answer: after a failure too, to learn why (the
    // server's close code) and to end cleanly.
    let closed = sender.close(close::NORMAL, "");
    let watched = watcher
        .join()
        .map_err(|_| "the receiving thread failed".to_owned())?;
    if let Err(e) = sent {
        let why = match &watched {
            Ok((info, _)) if info.code != close::NORMAL => {
                format!(" (server closed: {} {})", info.code, info.reason)
            }
            _ => String::new(),
        };
        return Err(format!("sending {shown}: {e}{why}"));
    }
    closed.map_err(|e| format!("closing: {e}"))?;
    let (info, errors) = watched.map_err(|e| e.to_string())?;
    if args.connection.verbose {
        eprintln!("closed: {} {:?}", info.code, info.reason);
    }
    if let Some(error) = errors.first() {
        return Err(format!("the server said: {error}"));
    }
    clean_close(&info)?;
    println!("{}", source.tally.finish(args.connection.verbose));
    Ok(())
}

/// Close (1000) and wait for the server's close, at most the close timeout. What happens
/// here cannot change the outcome: the message has arrived whole, or has failed already.
fn close_and_wait(sender: &mut ClientSender, events: &mut ClientReceiver, verbose: bool) {
    let _ = sender.close(close::NORMAL, "");
    loop {
        match events.recv() {
            Ok(ClientEvent::Close(info)) => {
                if verbose {
                    eprintln!("closed: {} {:?}", info.code, info.reason);
                }
                return;
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// Where `receive` writes: the file, created when the message begins, or stdout.
fn open_sink(path: &Path) -> io::Result<Box<dyn Write>> {
    if is_stdio(path) {
        Ok(Box::new(io::stdout().lock()))
    } else {
        Ok(Box::new(File::create(path)?))
    }
}

fn receive(args: Receive) -> Result<(), String> {
    let to_stdout = is_stdio(&args.file);
    let limit = match args.max_message {
        0 => u64::MAX,
        limit => limit,
    };
    let options = args
        .connection
        .options()
        .max_message(limit)
        .max_frame(limit);
    let options = match args.idle_timeout > 0.0 {
        true => options.read_timeout(Some(seconds(args.idle_timeout))),
        false => options,
    };
    let client = args.connection.connect(&args.url, options)?;
    let (mut sender, mut events) = client.split();
    let mut created = false;
    let received = receive_stream(
        &mut events,
        |announced| {
            let sink = open_sink(&args.file)?;
            created = !to_stdout;
            Ok(Tapped {
                inner: BufWriter::with_capacity(256 << 10, sink),
                tally: Tally::new(!args.no_progress, announced),
            })
        },
        args.leave_notice.as_deref(),
    );
    let finished = received.and_then(|(mut sink, _)| {
        sink.flush().map_err(TransferError::Sink)?;
        Ok(sink.tally)
    });
    let tally = match finished {
        Ok(tally) => tally,
        Err(e) => {
            close_and_wait(&mut sender, &mut events, args.connection.verbose);
            if created {
                let _ = std::fs::remove_file(&args.file);
            }
            return Err(match e {
                TransferError::Client(ClientError::TimedOut) => format!(
                    "nothing arrived for {} s (--idle-timeout)",
                    args.idle_timeout
                ),
                e => e.to_string(),
            });
        }
    };
    // The message is whole: close, and wait for the server's answer.
    close_and_wait(&mut sender, &mut events, args.connection.verbose);
    let line = tally.finish(args.connection.verbose);
    if to_stdout {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(())
}
