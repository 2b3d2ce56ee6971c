//! A WebSocket server that speaks every dialect ever shipped (hixie-75, hixie-76/hybi-00,
//! hybi-03, hybi-04 to hybi-08, RFC 6455) on one port, on one single-threaded mio loop.
//!
//! The application implements [`Handler`] and sees every connection through the same
//! [`Socket`] trait whatever its dialect. The protocol logic lives in the sans-IO
//! [`protocols`] crate; this crate moves bytes and timers.
//!
//! ```no_run
//! // The whole echo server:
//! ws::listen(8088, ws::Echo)?;
//! # Ok::<(), ws::Error>(())
//! ```
#![deny(missing_docs)]

mod attach;
mod buffer;
mod client;
pub mod cluster;
mod conn;
mod cx;
mod echo;
mod error;
mod event_loop;
mod face;
#[doc(hidden)]
pub mod fuzzing;
mod handle;
mod handler;
mod handshaking;
mod listener;
mod loops;
mod machine;
mod pipe;
mod plain_http;
mod read_shift;
mod relay;
mod router;
mod secret;
mod server;
mod settings;
mod slab;
mod socket;
mod stats;
mod status;
mod timers;
pub mod tls;
mod tls_layer;
mod unacked;

pub use attach::{attach, upgrade_response, Attached, UpgradeResponse};
pub use client::transfer;
pub use client::{
    connect, connect_with, Client, ClientError, ClientEvent, ClientPiece, ClientReceiver,
    ClientSender, ConnectOptions, MessageWriter, ServerVerification, UrlError,
};
pub use cx::{Cx, RouteWaker};
pub use echo::Echo;
pub use error::{Error, SendError};
pub use face::Pages;
pub use handle::Handle;
pub use handler::{Decision, Handler};
pub use loops::Placement;
pub use pipe::{BinaryToHixie, SessionOptions, Sessions};
pub use plain_http::{HttpHandler, HttpReply, HttpRequest, HttpResponse};
pub use relay::{Credentials, Relay, RelayAdmin, RelayError, RelayHandler, RelayOptions};
pub use router::Mount;
pub use server::{listen, Builder, Server};
pub use settings::{Delivery, HixieBinary, OriginPolicy, Settings};
pub use socket::{CloseInfo, ReadyState, Socket, SocketId};
pub use stats::StatsSnapshot;
pub use status::{
    html_escape, ClusterStatus, DialectStatus, Disclosure, EndpointStatus, GroupSummary, Histogram,
    MemberStatus, RelayClientStatus, RelaySummary, Report, SessionStatus, Status,
};
pub use ws_protocols as protocols;
