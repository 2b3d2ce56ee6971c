//! The siege harness: every attack of the siege issue against the command-line server,
//! while honest members of several dialects move data that is checked bit-exact; one line
//! per attack with the server's peak memory, the honest latency, and what the attackers saw
//! and when.
//!
//! ```text
//! cargo build --release --bin omniws --example siege
//! target/release/examples/siege [--server PATH | --url ws://127.0.0.1:PORT [--server-pid PID]]
//!     [--scale small|full] [--only NAME[,NAME...]] [--assert] [--list]
//! ```
//!
//! - By default each attack gets its own `omniws` (the one beside this binary, or
//!   `--server PATH`) on a free loopback port, started with the options the attack needs
//!   (`--session-stuck-timeout 2`, `--handshake-timeout 2`, a 64 MB memory budget, a
//!   lowered RLIMIT_NOFILE, ...; always `--keepalive 0`) and killed by its PID afterwards;
//!   its log is kept in a temporary directory. With `--url`, attacks run against a server
//!   already running (with its PID for memory and CPU figures), waiting out its default
//!   timeouts; attacks that need options of their own are skipped.
//! - `--scale small` (the default) finishes in a few minutes on 2 cores; `--scale full` uses
//!   thousands of connections (our RLIMIT_NOFILE is raised to the hard limit, and the
//!   servers we start inherit it).
//! - Every attack's checks are evaluated and shown (`PASS`/`FAIL`, failures below the
//!   line); with `--assert` the exit status is 1 if any failed.
//!
//! The line: `VERDICT attack scale | rss peak +X MiB (VmHWM, VmRSS before -> after, VmSize
//! growth) | honest N ok M failed, p50 p99 max | who: what they saw @when; ... | duration`.
//! Memory is the server's, from `/proc/PID/status`, over a baseline read just before the
//! attack (VmHWM is reset then, where allowed). Honest latency is per round trip (echo, or
//! through a pipe session and back) during the attack. Attackers' outcomes are tallied:
//! `close 1013 x12 @0.4-1.1s` means twelve got a close frame with code 1013, the first
//! 0.4 s and the last 1.1 s after the attack began.

mod attacks;
mod crowd;
mod honest;
mod probe;
mod pump;
mod raw;
mod report;
mod round;
mod server;
mod wire;

use report::Scale;
use server::Target;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: siege [--server PATH | --url ws://HOST:PORT [--server-pid PID]]
             [--scale small|full] [--only NAME[,NAME...]] [--assert] [--list]";

struct Options {
    server: Option<PathBuf>,
    url: Option<String>,
    server_pid: Option<u32>,
    scale: Scale,
    only: Vec<String>,
    assert: bool,
    list: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            server: None,
            url: None,
            server_pid: None,
            scale: Scale::Small,
            only: Vec::new(),
            assert: false,
            list: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--server" => options.server = Some(PathBuf::from(value()?)),
                "--url" => options.url = Some(value()?.clone()),
                "--server-pid" => {
                    options.server_pid =
                        Some(value()?.parse().map_err(|e| format!("--server-pid: {e}"))?)
                }
                "--scale" => {
                    options.scale = match value()?.as_str() {
                        "small" => Scale::Small,
                        "full" => Scale::Full,
                        other => return Err(format!("--scale small|full, not {other:?}")),
                    }
                }
                "--only" => options.only.extend(value()?.split(',').map(str::to_owned)),
                "--assert" => options.assert = true,
                "--list" => options.list = true,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if options.server.is_some() && options.url.is_some() {
            return Err("give --server or --url, not both".into());
        }
        if options.server_pid.is_some() && options.url.is_none() {
            return Err("--server-pid goes with --url".into());
        }
        if let Some(unknown) = options.only.iter().find(|n| attacks::find(n).is_none()) {
            return Err(format!("no attack called {unknown:?} (see --list)"));
        }
        Ok(options)
    }

    fn target(&self) -> Result<Target, String> {
        if let Some(url) = &self.url {
            return Target::running(url, self.server_pid);
        }
        let binary = match &self.server {
            Some(path) => path.clone(),
            // target/release/examples/siege -> target/release/omniws
            None => std::env::current_exe()
                .ok()
                .and_then(|exe| Some(exe.parent()?.parent()?.join("omniws")))
                .filter(|path| path.exists())
                .unwrap_or_else(|| PathBuf::from("target/release/omniws")),
        };
        if !binary.exists() {
            return Err(format!(
                "no server at {} (cargo build --release --bin omniws, or --server PATH)",
                binary.display()
            ));
        }
        Target::own(binary)
    }
}

fn list() {
    for attack in attacks::ALL {
        let fix = attack.fix.map_or(String::new(), |n| format!(" [fix #{n}]"));
        println!("{:<20}{fix} {}", attack.name, attack.what);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match Options::parse(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("siege: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if options.list {
        list();
        return ExitCode::SUCCESS;
    }
    let target = match options.target() {
        Ok(target) => target,
        Err(e) => {
            eprintln!("siege: {e}");
            return ExitCode::from(2);
        }
    };
    let nofile = server::raise_nofile();
    println!(
        "siege: scale {}, descriptors {nofile}; server: {}",
        options.scale.name(),
        target.describe()
    );
    println!("siege: honest members: {}", honest::describe());
    let selected: Vec<&attacks::Attack> = if options.only.is_empty() {
        attacks::ALL.iter().collect()
    } else {
        options
            .only
            .iter()
            .filter_map(|n| attacks::find(n))
            .collect()
    };
    let (mut passed, mut skipped, mut failed) = (0, 0, Vec::new());
    for attack in selected {
        let report = round::run(attack, &target, options.scale);
        println!("{}", report.line());
        for check in report.failures() {
            println!("    FAIL {}: {}", check.what, check.detail);
        }
        match (&report.skipped, report.passed()) {
            (Some(_), _) => skipped += 1,
            (None, true) => passed += 1,
            (None, false) => failed.push(attack.name),
        }
    }
    let which = if failed.is_empty() {
        String::new()
    } else {
        format!(" ({})", failed.join(", "))
    };
    println!(
        "siege: {passed} passed, {} failed{which}, {skipped} skipped",
        failed.len()
    );
    if options.assert && !failed.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
