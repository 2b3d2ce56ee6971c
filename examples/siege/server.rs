//! The server under test: an `omniws` we start per attack with the options it needs (on a
//! free loopback port, its log in a file, killed by PID when the attack is over), or one
//! already running that we are given the address and PID of.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The command-line server's defaults that attacks depend on.
pub const DEFAULT_HANDSHAKE_TIMEOUT: f64 = 10.0;
pub const DEFAULT_STUCK_TIMEOUT: f64 = 30.0;

/// How long a started server has to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The options an attack wants its server started with. Timeouts only make an attack
/// faster (against a running server it waits for the defaults); the others decide what the
/// attack can observe, so an attack that sets them is skipped against a running server.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub handshake_timeout: Option<f64>,
    pub stuck_timeout: Option<f64>,
    pub max_connections: Option<usize>,
    pub max_handshaking: Option<usize>,
    pub memory_budget: Option<u64>,
    pub max_message: Option<u64>,
    /// The server's RLIMIT_NOFILE (soft and hard).
    pub nofile: Option<u64>,
}

impl Flags {
    /// Why this attack needs a server of its own, if it does.
    pub fn own_server_reason(&self) -> Option<String> {
        let mut needs = Vec::new();
        if let Some(n) = self.max_connections {
            needs.push(format!("--max-connections {n}"));
        }
        if let Some(n) = self.max_handshaking {
            needs.push(format!("--max-handshaking {n}"));
        }
        if let Some(n) = self.memory_budget {
            needs.push(format!("a memory budget of {n} bytes"));
        }
        if let Some(n) = self.max_message {
            needs.push(format!("--max-message {n}"));
        }
        if let Some(n) = self.nofile {
            needs.push(format!("RLIMIT_NOFILE {n}"));
        }
        (!needs.is_empty()).then(|| needs.join(", "))
    }
}

/// Where the server under test comes from.
pub enum Target {
    /// We start `binary` per attack; logs go to `logs/ATTACK.log`.
    Own { binary: PathBuf, logs: PathBuf },
    /// A server already running at `addr` (its `pid`, if given, for memory and CPU).
    Running { addr: SocketAddr, pid: Option<u32> },
}

impl Target {
    pub fn own(binary: PathBuf) -> Result<Target, String> {
        if !binary.is_file() {
            return Err(format!("no server at {}", binary.display()));
        }
        let logs = std::env::temp_dir().join(format!("siege-{}", std::process::id()));
        std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        Ok(Target::Own { binary, logs })
    }

    /// `ws://HOST:PORT[/...]` of a running server.
    pub fn running(url: &str, pid: Option<u32>) -> Result<Target, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or(format!("--url must be ws://HOST:PORT, not {url:?}"))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let addr = authority
            .to_socket_addrs()
            .map_err(|e| format!("{authority}: {e}"))?
            .next()
            .ok_or(format!("{authority}: no address"))?;
        Ok(Target::Running { addr, pid })
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Own { binary, logs } => format!(
                "{} started per attack (logs in {})",
                binary.display(),
                logs.display()
            ),
            Target::Running { addr, pid } => match pid {
                Some(pid) => format!("the server at {addr}, PID {pid}"),
                None => format!("the server at {addr} (no PID: no memory or CPU figures)"),
            },
        }
    }

    /// The server for `attack`: started with `flags`, or the running one (`Err` if the
    /// attack needs a server of its own).
    pub fn start(&self, attack: &str, flags: &Flags) -> Result<Server, String> {
        match self {
            Target::Running { addr, pid } => match flags.own_server_reason() {
                Some(reason) => Err(format!("needs a server of its own ({reason})")),
                None => Ok(Server {
                    addr: *addr,
                    pid: *pid,
                    child: None,
                    log: None,
                    handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
                    stuck_timeout: DEFAULT_STUCK_TIMEOUT,
                }),
            },
            Target::Own { binary, logs } => {
                start(binary, &logs.join(format!("{attack}.log")), flags)
            }
        }
    }
}

fn start(binary: &Path, log: &Path, flags: &Flags) -> Result<Server, String> {
    let mut command = Command::new(binary);
    // No keepalive: attackers that hold a connection silent must not be dropped for not
    // answering pings during a long run; each attack is about one thing.
    command.args(["--host", "127.0.0.1", "--port", "0", "--keepalive", "0"]);
    let mut arg = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            command.args([name, &value]);
        }
    };
    let numbers = [
        (
            "--handshake-timeout",
            flags.handshake_timeout.map(|s| s.to_string()),
        ),
        (
            "--session-stuck-timeout",
            flags.stuck_timeout.map(|s| s.to_string()),
        ),
        (
            "--max-connections",
            flags.max_connections.map(|n| n.to_string()),
        ),
        (
            "--max-handshaking",
            flags.max_handshaking.map(|n| n.to_string()),
        ),
        (
            "--memory-budget",
            flags.memory_budget.map(|n| n.to_string()),
        ),
        ("--max-message", flags.max_message.map(|n| n.to_string())),
    ];
    for (name, value) in numbers {
        arg(name, value);
    }
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    command
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or("info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file);
    if let Some(limit) = flags.nofile {
        // SAFETY: setrlimit is async-signal-safe, and nothing else runs in the child
        // between fork and exec.
        unsafe {
            command.pre_exec(move || set_nofile(limit, limit));
        }
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let pid = child.id();
    let mut server = Server {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        pid: Some(pid),
        child: Some((child, None)),
        log: Some(log.to_owned()),
        handshake_timeout: flags.handshake_timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT),
        stuck_timeout: flags.stuck_timeout.unwrap_or(DEFAULT_STUCK_TIMEOUT),
    };
    let (addr, stdout) = read_address(stdout)?;
    server.addr = addr;
    if let Some((_, kept)) = server.child.as_mut() {
        *kept = Some(stdout);
    }
    Ok(server)
}

/// The address from the line the server prints once listening (`omniws listening on
/// ws://127.0.0.1:PORT/ ...`), read on a thread so a server that never prints cannot hang
/// us. Returns the rest of its stdout, to keep the pipe open.
fn read_address(stdout: ChildStdout) -> Result<(SocketAddr, BufReader<ChildStdout>), String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let read = reader.read_line(&mut line);
        let _ = tx.send((read.map(|_| line), reader));
    });
    let (line, reader) = rx
        .recv_timeout(START_TIMEOUT)
        .map_err(|_| "the server did not say where it listens".to_owned())?;
    let line = line.map_err(|e| format!("reading the server's stdout: {e}"))?;
    let addr = line
        .split("ws://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|a| a.parse().ok())
        .ok_or(format!("the server said {line:?}, not where it listens"))?;
    Ok((addr, reader))
}

fn set_nofile(soft: u64, hard: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: a valid rlimit for the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Raise our own descriptor limit to the hard limit (servers we start inherit it); returns
/// the limit now in force.
pub fn raise_nofile() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    // rlim_t is u64 on 64-bit Linux, not everywhere.
    #[allow(clippy::unnecessary_cast)]
    let (soft, hard) = (limit.rlim_cur as u64, limit.rlim_max as u64);
    match set_nofile(hard, hard) {
        Ok(()) => hard,
        Err(_) => soft,
    }
}

/// A server an attack runs against.
pub struct Server {
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    /// The process we started, and its stdout (kept open so it never gets SIGPIPE).
    child: Option<(Child, Option<BufReader<ChildStdout>>)>,
    log: Option<PathBuf>,
    /// What the attack may count on: the given flags, or the defaults.
    pub handshake_timeout: f64,
    pub stuck_timeout: f64,
}

impl Server {
    /// False once a server we started has exited (crashed, or was killed by the OS).
    pub fn alive(&mut self) -> Result<(), String> {
        match self.child.as_mut().map(|(child, _)| child.try_wait()) {
            Some(Ok(Some(status))) => Err(format!("the server exited: {status}")),
            Some(Err(e)) => Err(format!("cannot tell whether the server runs: {e}")),
            _ => Ok(()),
        }
    }

    /// Lines of the server's log containing `needle` (`None` without a log).
    pub fn log_count(&self, needle: &str) -> Option<usize> {
        let log = std::fs::read_to_string(self.log.as_ref()?).ok()?;
        Some(log.lines().filter(|line| line.contains(needle)).count())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some((mut child, _)) = self.child.take() {
            // Child::kill signals this process by its PID, never by name.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
