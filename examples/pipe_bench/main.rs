//! The pipe-session benchmark: one big binary message through one session, on the server
//! under test beside a raw TCP relay (the ceiling) and a store-and-forward relay on
//! tokio-tungstenite, all driven by the same load driver. `scripts/bench-pipe.sh` runs the
//! three in one go; BENCH-PIPE.md says how to read the figures.
//!
//! One example binary with three subcommands (bench-only, built from the root package's
//! dev-dependencies):
//!
//! ```text
//! cargo build --release --example pipe_bench
//! target/release/examples/pipe_bench drive --url ws://127.0.0.1:8088/sessions/bench \
//!     [--mib 256] [--mask premasked|live] [--server-pid PID] [--fragment BYTES] [--sha256]
//! target/release/examples/pipe_bench drive --url wss://127.0.0.1:8088/sessions/bench \
//!     --ca ca.pem [--receiver-url ws://127.0.0.1:8088/sessions/bench] [...]
//! target/release/examples/pipe_bench drive --raw 127.0.0.1:9002 [--mib 256] [--server-pid PID]
//! target/release/examples/pipe_bench raw-relay --port 9002
//! target/release/examples/pipe_bench tungstenite-relay --port 9003 \
//!     [--tls-cert chain.pem --tls-key key.pem]
//! ```
//!
//! - `drive` ([`driver`]): connects a receiver, then a sender, to one session, waits for the
//!   `session ready` notice on both, streams one binary message of `--mib` MiB from the
//!   sender as one frame in 64 KiB writes (or, with `--fragment`, as a fragmented message),
//!   and reports one line: throughput, the receiver's time to first byte, and the server's
//!   memory and CPU time around the transfer. `--sha256` also compares SHA-256 digests of
//!   what was sent and what arrived (`tests/conformance/pipe_gib.sh` uses both).
//! - `raw-relay` ([`raw_relay`]): pairs consecutive TCP connections and copies bytes both
//!   ways; the driver's `--raw` mode sends it the same payload without WebSocket framing.
//! - `tungstenite-relay` ([`tungstenite_relay`]): `/sessions/NAME` on tokio-tungstenite
//!   (current-thread runtime), forwarding each whole message once tungstenite has read it;
//!   with `--tls-cert`/`--tls-key`, `wss://` only, behind a tokio-rustls acceptor.
//!
//! `drive` speaks `wss://` with `--ca` ([`stream`]; `scripts/bench-tls.sh` uses it).

#[path = "../bench_tls/mod.rs"]
mod bench_tls;
mod checksum;
mod driver;
mod raw_relay;
mod stream;
mod tungstenite_relay;

use std::process::ExitCode;

const USAGE: &str = "usage:
  pipe_bench drive (--url ws[s]://HOST:PORT/sessions/NAME | --raw HOST:PORT) [--mib N]
                   [--receiver-url ws[s]://HOST:PORT/sessions/NAME] [--ca FILE]
                   [--mask premasked|live] [--server-pid PID]
                   [--sender-dialect NAME] [--receiver-dialect NAME] [--kind binary|text]
                   [--fragment BYTES] [--sha256]
  pipe_bench raw-relay --port PORT
  pipe_bench tungstenite-relay --port PORT [--tls-cert FILE --tls-key FILE]";

/// The value of `--port PORT`, the only argument of the relays.
fn port_arg(args: &[String]) -> Result<u16, String> {
    match args {
        [flag, port] if flag == "--port" => {
            port.parse().map_err(|e| format!("bad port {port:?}: {e}"))
        }
        _ => Err(USAGE.to_owned()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((command, rest)) if command == "drive" => match driver::Options::parse(rest) {
            Ok(options) => driver::run(&options),
            Err(e) => {
                eprintln!("{e}\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        Some((command, rest)) if command == "raw-relay" => match port_arg(rest) {
            Ok(port) => raw_relay::run(port),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        Some((command, rest)) if command == "tungstenite-relay" => {
            let mut rest = rest.to_vec();
            match bench_tls::take_server_options(&mut rest)
                .and_then(|tls| Ok((port_arg(&rest)?, tls)))
            {
                Ok((port, tls)) => tungstenite_relay::run(port, tls),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipe_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
