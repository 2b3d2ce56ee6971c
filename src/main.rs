//! The command-line server: `omniws --port 8088`.
//!
//! Endpoints: `/echo` echoes every message back with the same type (the conformance
//! target); `/sessions/NAME` joins pipe session NAME; `/relay` is the relay for registered
//! clients, registered over plain HTTP on the same port (`POST /relay/clients`, `POST
//! /relay/channels`) when `--relay-admin-token` is given; `/` is the demo page, `/status`,
//! `/status.json` and `/metrics` tell how the server is doing. Other plain HTTP requests get
//! 501 (404 once a plain HTTP handler is mounted).
//! Logging via `RUST_LOG` (default `info`).

use clap::{Parser, ValueEnum};
use std::process::ExitCode;
use std::time::Duration;
use ws::protocols::compression::DeflatePolicy;
use ws::{
    BinaryToHixie, Delivery, HixieBinary, Mount, OriginPolicy, Pages, Relay, RelayAdmin,
    RelayOptions, Server, SessionOptions, Sessions, Settings,
};

#[derive(Parser, Debug)]
#[command(
    name = "omniws",
    version,
    about = "A WebSocket server for every dialect: hixie-75, hixie-76, hybi-03 to hybi-08, RFC 6455"
)]
struct Options {
    /// TCP port to listen on.
    #[arg(long, default_value_t = 8088)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    host: String,
    /// Event loops, each on its own thread with its own listener on the port (the kernel
    /// spreads connections among them); a pipe session's members always meet on one loop.
    /// Default: one per core.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Connections at once; beyond it new ones get HTTP 503.
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// Connections that may be in their opening handshake at once; beyond it (and when
    /// every connection slot is taken) the oldest handshaking one is dropped to make room.
    #[arg(long, default_value_t = 1024)]
    max_handshaking: usize,
    /// Server-wide budget in bytes for unfinished messages, queues and held session
    /// messages; past it, unfinished messages over 16 KiB are refused (close 1013).
    /// Default: a quarter of the machine's memory.
    #[arg(long, value_name = "BYTES")]
    memory_budget: Option<usize>,
    /// Seconds a client has to complete its opening handshake.
    #[arg(long, default_value_t = 10.0)]
    handshake_timeout: f64,
    /// Seconds between keepalive pings (dialects with ping); 0 disables.
    #[arg(long, default_value_t = 30.0)]
    keepalive: f64,
    /// Seconds to wait for the peer's close frame after ours.
    #[arg(long, default_value_t = 5.0)]
    close_timeout: f64,
    /// Seconds without any byte received before closing; 0 disables.
    #[arg(long, default_value_t = 0.0)]
    idle_timeout: f64,
    /// Largest frame payload, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_frame: u64,
    /// Largest message, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    max_message: u64,
    /// Largest opening-handshake head, in bytes (beyond it: HTTP 431).
    #[arg(long, default_value_t = 8192)]
    max_head_bytes: usize,
    /// Deliver messages to handlers as streamed chunks instead of whole (echo becomes
    /// cut-through).
    #[arg(long)]
    stream: bool,
    /// Split outgoing messages into fragments of this many bytes (hybi dialects).
    #[arg(long)]
    fragment_size: Option<usize>,
    /// Outgoing bytes queued per connection above which reading from it pauses.
    #[arg(long, default_value_t = 1 << 20)]
    write_high_water: usize,
    /// Outgoing bytes queued per connection below which reading resumes.
    #[arg(long, default_value_t = 256 << 10)]
    write_low_water: usize,
    /// Hard cap on one connection's outgoing queue, in bytes.
    #[arg(long, default_value_t = 80 << 20)]
    max_write_buffer: usize,
    /// Allowed origin (repeatable); without any, every origin is allowed.
    #[arg(long = "origin")]
    origins: Vec<String>,
    /// Subprotocol this server speaks (repeatable, in order of preference).
    #[arg(long = "subprotocol")]
    subprotocols: Vec<String>,
    /// What binary to a hixie-75/76 peer becomes.
    #[arg(long, value_enum, default_value_t = HixieBinaryArg::Refuse)]
    hixie_binary: HixieBinaryArg,
    /// hixie-76: wait for key3 before writing any of the response (by default the 101 head
    /// goes out at once and the MD5 answer when key3 arrives, which HAProxy needs).
    #[arg(long)]
    hixie76_wait_for_key3: bool,
    /// TLS certificate chain (PEM) for wss:// on the same port; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1); needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// With TLS: refuse plain ws:// connections (HTTP 400 telling them to use wss://).
    #[arg(long, requires = "tls_cert")]
    tls_only: bool,
    /// Compression agreed with clients that offer it: `lean` (permessage-deflate or
    /// deflate-frame, no context kept between messages, so idle connections hold no
    /// compression state), `keep` (context kept both ways: better ratios, about 300 KiB per
    /// connection), or `off`.
    #[arg(long, value_enum, default_value_t = CompressionArg::Lean)]
    compression: CompressionArg,
    /// Messages we send shorter than this go uncompressed.
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    compression_min_size: usize,
    /// Members per pipe session (beyond it: HTTP 409).
    #[arg(long, default_value_t = 16)]
    session_max_members: usize,
    /// Text sent to session members when the session has two members and to later
    /// joiners; empty for none.
    #[arg(long, default_value = "session ready")]
    session_ready_notice: String,
    /// Text sent to the other members when one leaves; empty (the default) for none.
    #[arg(long, default_value = "")]
    session_leave_notice: String,
    /// What binary from hybi members becomes for hixie members.
    #[arg(long, value_enum, default_value_t = BinaryToHixieArg::Refuse)]
    session_binary_to_hixie: BinaryToHixieArg,
    /// Bytes that may wait for one session receiver before its senders are paused.
    #[arg(long, default_value_t = 1 << 20)]
    session_buffer: usize,
    /// Messages that may be held for one session receiver busy with another sender's
    /// message before their senders are paused.
    #[arg(long, default_value_t = 1024)]
    session_max_held_messages: usize,
    /// Largest message a session member may send, in bytes; 0 (the default) for no
    /// limit: sessions forward cut-through and hold nothing whole, so --max-frame and
    /// --max-message do not apply to them.
    #[arg(long, default_value_t = 0)]
    session_max_message: u64,
    /// Seconds a session receiver may hold its senders up before it is closed (1008).
    #[arg(long, default_value_t = 30.0)]
    session_stuck_timeout: f64,
    /// Enables relay registration over HTTP (`POST /relay/clients`, `POST /relay/channels`)
    /// for requests with `Authorization: Bearer SECRET`. Without it, nothing can register.
    #[arg(
        long,
        env = "OMNIWS_RELAY_ADMIN_TOKEN",
        value_name = "SECRET",
        hide_env_values = true
    )]
    relay_admin_token: Option<String>,
    /// Let any two registered relay clients talk without registering a channel.
    #[arg(long)]
    relay_authorize_all_channels: bool,
    /// Messages that may wait for one relay client that is not connected.
    #[arg(long, default_value_t = 256)]
    relay_max_queued_messages: usize,
    /// Bytes of messages that may wait for one relay client.
    #[arg(long, default_value_t = 1 << 20)]
    relay_max_queued_bytes: usize,
    /// Failed relay authentications after which a connection is closed (1008).
    #[arg(long, default_value_t = 3)]
    relay_max_auth_failures: u32,
    /// Join a cluster through this Redis (`redis://HOST:PORT`): sessions are spread over
    /// the nodes, and members on any node meet; the relay lives on one node, and relay
    /// clients and registrations on any node reach it (needs --node-name and --advertise).
    #[arg(long, value_name = "URL", requires_all = ["node_name", "advertise"])]
    cluster: Option<String>,
    /// This node's name in the cluster, unique among its nodes.
    #[arg(long, value_name = "NAME", requires = "cluster")]
    node_name: Option<String>,
    /// The address other nodes reach this node's port at (HOST:PORT).
    #[arg(long, value_name = "HOST:PORT", requires = "cluster")]
    advertise: Option<std::net::SocketAddr>,
    /// A secret all nodes of the cluster share; links between nodes must present it.
    #[arg(
        long,
        env = "OMNIWS_CLUSTER_TOKEN",
        value_name = "SECRET",
        hide_env_values = true,
        requires = "cluster"
    )]
    cluster_token: Option<String>,
    /// Do not serve the demo page at `/` (chat and file transfer through sessions, echo,
    /// relay). While it is on, `/status.json?session=NAME` describes that one session's
    /// members to whoever names it (knowing a name is what joining it takes).
    #[arg(long)]
    no_demo: bool,
    /// Do not serve `/status`, `/status.json` and `/metrics`. They are public while on, and
    /// hold only counts: connections by endpoint and dialect, handshakes, bytes, queues,
    /// histograms, how many sessions and relay clients; never a session name or client id.
    #[arg(long)]
    no_status: bool,
    /// Let `/status` and `/status.json` also list every session by name with its members
    /// and every relay client by id (to holders of --admin-token where it is set).
    #[arg(long)]
    status_details: bool,
    /// With --status-details: the details answer only requests with
    /// `Authorization: Bearer SECRET` (others get the counts; a wrong token gets 401).
    #[arg(
        long,
        env = "OMNIWS_ADMIN_TOKEN",
        value_name = "SECRET",
        hide_env_values = true,
        requires = "status_details"
    )]
    admin_token: Option<String>,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum BinaryToHixieArg {
    /// Not delivered; the sender gets an error text message.
    Refuse,
    /// The draft's length-prefixed frame (length must be known up front).
    LengthPrefixed,
    /// Base64 inside a text frame.
    Base64,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum CompressionArg {
    /// No context kept between messages, either way.
    Lean,
    /// Context kept both ways.
    Keep,
    /// Decline every offer.
    Off,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum HixieBinaryArg {
    /// Refuse: the echo endpoint closes with 1003.
    Refuse,
    /// Send the draft's length-prefixed binary frame.
    LengthPrefixed,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn seconds(s: f64) -> Option<Duration> {
    (s > 0.0).then(|| Duration::from_secs_f64(s))
}

impl Options {
    fn settings(&self) -> Settings {
        let settings = Settings::default();
        let memory_budget = self.memory_budget.unwrap_or(settings.memory_budget);
        settings
            .max_connections(self.max_connections)
            .max_handshaking(self.max_handshaking)
            .memory_budget(memory_budget)
            .handshake_timeout(Duration::from_secs_f64(self.handshake_timeout))
            .keepalive(seconds(self.keepalive))
            .close_timeout(Duration::from_secs_f64(self.close_timeout))
            .idle_timeout(seconds(self.idle_timeout))
            .max_frame(self.max_frame)
            .max_message(self.max_message)
            .max_head_bytes(self.max_head_bytes)
            .delivery(if self.stream {
                Delivery::Stream
            } else {
                Delivery::Whole
            })
            .fragment_size(self.fragment_size)
            .write_high_water(self.write_high_water)
            .write_low_water(self.write_low_water)
            .max_write_buffer(self.max_write_buffer)
            .origins(if self.origins.is_empty() {
                OriginPolicy::Any
            } else {
                OriginPolicy::AllowList(self.origins.clone())
            })
            .subprotocols(self.subprotocols.clone())
            .hixie_binary(match self.hixie_binary {
                HixieBinaryArg::Refuse => HixieBinary::Refuse,
                HixieBinaryArg::LengthPrefixed => HixieBinary::LengthPrefixed,
            })
            .hixie76_headers_first(!self.hixie76_wait_for_key3)
            .pages(Pages {
                demo: !self.no_demo,
                status: !self.no_status,
                status_details: self.status_details,
                admin_token: self.admin_token.clone(),
            })
            .compression(DeflatePolicy {
                min_size: self.compression_min_size,
                ..match self.compression {
                    CompressionArg::Lean => DeflatePolicy::default(),
                    CompressionArg::Keep => DeflatePolicy::keep_context(),
                    CompressionArg::Off => DeflatePolicy::OFF,
                }
            })
    }

    fn relay(&self) -> RelayOptions {
        RelayOptions::default()
            .authorize_all_channels(self.relay_authorize_all_channels)
            .max_queued(self.relay_max_queued_messages, self.relay_max_queued_bytes)
            .max_auth_failures(self.relay_max_auth_failures)
    }

    fn sessions(&self) -> SessionOptions {
        let mut options = SessionOptions::default();
        options.max_members = self.session_max_members;
        options.ready_notice = non_empty(&self.session_ready_notice);
        options.leave_notice = non_empty(&self.session_leave_notice);
        options.binary_to_hixie = match self.session_binary_to_hixie {
            BinaryToHixieArg::Refuse => BinaryToHixie::Refuse,
            BinaryToHixieArg::LengthPrefixed => BinaryToHixie::LengthPrefixed,
            BinaryToHixieArg::Base64 => BinaryToHixie::Base64,
        };
        options.buffer_per_receiver = self.session_buffer;
        options.stuck_timeout = Duration::from_secs_f64(self.session_stuck_timeout);
        options.max_held_messages = self.session_max_held_messages;
        options.max_message = (self.session_max_message > 0).then_some(self.session_max_message);
        options
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let options = Options::parse();
    let mut settings = options.settings();
    let mut tls = None;
    if let (Some(cert), Some(key)) = (&options.tls_cert, &options.tls_key) {
        match ws::tls::TlsConfig::load(ws::tls::TlsFiles::new(cert, key)) {
            Ok(config) => {
                settings = settings
                    .tls(Some(config.current()))
                    .tls_only(options.tls_only);
                tls = Some(config);
            }
            Err(e) => {
                eprintln!("omniws: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Err(e) = settings.validate() {
        eprintln!("omniws: {e}");
        return ExitCode::from(2);
    }
    let mut sessions = options.sessions();
    let mut relay_options = options.relay();
    if let (Some(broker), Some(node_name), Some(advertise)) =
        (&options.cluster, &options.node_name, options.advertise)
    {
        let cluster = ws::cluster::ClusterOptions {
            broker: broker.clone(),
            node_name: node_name.clone(),
            advertise,
            token: options.cluster_token.clone(),
        };
        match ws::cluster::join(cluster) {
            Ok(view) => {
                relay_options.cluster = Some(view.clone());
                sessions.cluster = Some(view);
            }
            Err(e) => {
                eprintln!("omniws: cannot start the cluster thread: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let relay = Relay::new(relay_options);
    let threads = options.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    if threads == 0 {
        eprintln!("omniws: --threads must be at least 1");
        return ExitCode::from(2);
    }
    log::info!("{threads} loop(s)");
    let mut builder = Server::builder().settings(settings).threads(threads);
    if let Some(tls) = tls {
        // Reread on SIGHUP.
        builder = builder.tls(tls);
    }
    builder = builder
        .mount(Mount::per_loop("/echo", || ws::Echo))
        .mount(Sessions::mount("/sessions/*", sessions))
        .route("/relay", relay.handler());
    if let Some(token) = &options.relay_admin_token {
        builder = builder.plain_http(RelayAdmin::new(relay.clone(), token));
    }
    let server = builder
        .bind((options.host.as_str(), options.port))
        .and_then(Server::handle_signals);
    let server = match server {
        Ok(server) => server,
        Err(e) => {
            eprintln!(
                "omniws: cannot listen on {}:{}: {e}",
                options.host, options.port
            );
            return ExitCode::FAILURE;
        }
    };
    if let Some(addr) = server.local_addr() {
        let admin = if options.relay_admin_token.is_some() {
            "; relay registration: POST http://{addr}/relay/clients, /relay/channels"
        } else {
            "; relay registration off (no --relay-admin-token)"
        };
        let schemes = match (&options.tls_cert, options.tls_only) {
            (None, _) => format!("ws://{addr}/"),
            (Some(_), false) => format!("ws://{addr}/ and wss://{addr}/"),
            (Some(_), true) => format!("wss://{addr}/"),
        };
        println!(
            "omniws listening on {schemes} (endpoints: /echo, /sessions/NAME, /relay{})",
            admin.replace("{addr}", &addr.to_string())
        );
    }
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omniws: {e}");
            ExitCode::FAILURE
        }
    }
}
