//! Relay channels: registered clients (an id and a secret token each) exchange messages along
//! channels the application opened between them, as WebRTC signalling needs. Messages for a
//! peer that is not connected wait for it, within bounds.
//!
//! The wire format is the websocket-relay 0.3 JavaScript client's (see `wire.rs`); clients
//! connect in any dialect. The application registers clients and channels through
//! [`Relay`], from any thread; the command-line server also offers that over HTTP
//! ([`RelayAdmin`]).
//!
//! Delivery: a message to a connected peer is written to its connection at once; one to a
//! peer that is not connected (or whose connection is full or closing) waits in that peer's
//! queue and is sent, in order, when it authenticates. A message already written to a
//! connection that then drops is lost with it, as on any WebSocket.

mod admin;
mod bridge;
mod handler;
mod registry;
mod wire;

pub use admin::RelayAdmin;
pub use handler::RelayHandler;
pub use registry::{Credentials, RelayError};

/// The wire parser and encoder, for the fuzz targets (`crate::fuzzing`).
pub(crate) use wire::{parse as wire_parse, relay as wire_relay, Inbound};

use crate::cluster::{Journal, RelayHolder, Snapshot};
use crate::cx::RouteWaker;
use registry::{QueueLimits, Registry, Role};
use std::sync::{Arc, Mutex};

/// Options of a [`Relay`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RelayOptions {
    /// Allow messages between any two registered clients, without
    /// [`Relay::register_relay_channel`]. Default false.
    pub authorize_all_channels: bool,
    /// Messages that may wait for one client; beyond it the sender gets
    /// `{"error":"queue full: ..."}`. Default 256.
    pub max_queued_messages: usize,
    /// Bytes of messages that may wait for one client (in its queue, or in its connection's
    /// outgoing buffer before its senders are paused). Default 1 MiB.
    pub max_queued_bytes: usize,
    /// Failed authentications after which a connection is closed with 1008. Default 3.
    pub max_auth_failures: u32,
    /// The cluster this node belongs to: the cluster has one relay, on the node that holds
    /// its lease in the broker, and relay connections and registrations that arrive
    /// elsewhere are passed to it (`omniws --cluster`, docs/scale-out.md). Default `None`:
    /// the relay is this node's.
    pub cluster: Option<std::sync::Arc<crate::cluster::ClusterView>>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            authorize_all_channels: false,
            max_queued_messages: 256,
            max_queued_bytes: 1 << 20,
            max_auth_failures: 3,
            cluster: None,
        }
    }
}

impl RelayOptions {
    /// Set [`RelayOptions::authorize_all_channels`].
    pub fn authorize_all_channels(mut self, yes: bool) -> Self {
        self.authorize_all_channels = yes;
        self
    }

    /// Set [`RelayOptions::max_queued_messages`] and [`RelayOptions::max_queued_bytes`].
    pub fn max_queued(mut self, messages: usize, bytes: usize) -> Self {
        self.max_queued_messages = messages;
        self.max_queued_bytes = bytes;
        self
    }

    /// Set [`RelayOptions::cluster`].
    pub fn cluster(mut self, view: std::sync::Arc<crate::cluster::ClusterView>) -> Self {
        self.cluster = Some(view);
        self
    }

    /// Set [`RelayOptions::max_auth_failures`].
    pub fn max_auth_failures(mut self, failures: u32) -> Self {
        self.max_auth_failures = failures;
        self
    }
}

pub(crate) struct Inner {
    registry: Mutex<Registry>,
    waker: Mutex<Option<RouteWaker>>,
    options: RelayOptions,
}

impl Inner {
    /// The registry, locked. A panic while it was held left it consistent (every change is
    /// one call), so a poisoned lock is taken over.
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where a relay request is served ([`bridge::route`]), refused with 503 where it would
    /// be served here but this node has not loaded the relay's state (it has only just
    /// taken the lease, or its table is ahead of its broker thread).
    fn route(&self, bridge_header: Option<&str>) -> bridge::Route {
        match bridge::route(self.options.cluster.as_deref(), bridge_header) {
            bridge::Route::Local if !self.registry().serves() => {
                bridge::Route::Refuse(503, "relay loading: try again in a second".into())
            }
            route => route,
        }
    }
}

/// In a cluster, the broker thread hands the relay's state to this node's relay when the
/// node takes the relay's lease, and takes it back when the node loses it.
impl RelayHolder for Inner {
    fn take_over(&self, snapshot: Snapshot, journal: Journal) {
        self.registry().take_over(snapshot, journal);
    }

    fn give_up(&self) {
        self.registry().role = Role::Standby;
    }

    fn rewrite(&self) {
        self.registry().rewrite();
    }
}

/// A relay: the registry of clients and channels, shared between the application (any
/// thread) and the relay's handler on the loop. Cheap to clone.
///
/// ```no_run
/// use ws::{Relay, RelayOptions, Server};
///
/// let relay = Relay::new(RelayOptions::default());
/// let server = Server::builder()
///     .route("/relay", relay.handler())
///     .bind("127.0.0.1:8088")?;
/// let alice = relay.register_client()?;
/// let bob = relay.register_client()?;
/// relay.register_relay_channel(alice.id, bob.id)?;
/// // Hand each browser its id and token; they connect to ws://.../relay.
/// server.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

impl Relay {
    /// A relay with no clients.
    pub fn new(options: RelayOptions) -> Self {
        let limits = QueueLimits {
            messages: options.max_queued_messages,
            bytes: options.max_queued_bytes,
        };
        let mut registry = Registry::new(options.authorize_all_channels, limits);
        if options.cluster.is_some() {
            // It serves once the broker thread has loaded the relay's state (if this node
            // takes the lease).
            registry.role = Role::Standby;
        }
        let inner = Arc::new(Inner {
            registry: Mutex::new(registry),
            waker: Mutex::new(None),
            options,
        });
        if let Some(cluster) = &inner.options.cluster {
            let weak = Arc::downgrade(&inner);
            cluster.set_relay_holder(weak);
        }
        Relay { inner }
    }

    /// The handler to mount (at `/relay`, say). Mount one per relay.
    pub fn handler(&self) -> RelayHandler {
        RelayHandler::new(self.inner.clone())
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.registry()
    }

    /// Register a client: the next free id (from 1) and a new 128-bit token.
    ///
    /// ```
    /// let relay = ws::Relay::new(ws::RelayOptions::default());
    /// let client = relay.register_client()?;
    /// assert_eq!(client.token.len(), 32);
    /// # Ok::<(), ws::RelayError>(())
    /// ```
    pub fn register_client(&self) -> Result<Credentials, RelayError> {
        let secret = secret()?;
        self.registry().register(secret)
    }

    /// Register a client under an id the application chose (its user id, say).
    /// [`RelayError::ClientExists`] if it is taken.
    ///
    /// ```
    /// let relay = ws::Relay::new(ws::RelayOptions::default());
    /// relay.register_client_with_id(42)?;
    /// assert_eq!(
    ///     relay.register_client_with_id(42).unwrap_err(),
    ///     ws::RelayError::ClientExists(42)
    /// );
    /// # Ok::<(), ws::RelayError>(())
    /// ```
    pub fn register_client_with_id(&self, id: u64) -> Result<Credentials, RelayError> {
        let secret = secret()?;
        self.registry().register_with_id(id, secret)
    }

    /// Let clients `a` and `b` send to each other.
    ///
    /// ```
    /// let relay = ws::Relay::new(ws::RelayOptions::default());
    /// let (a, b) = (relay.register_client()?, relay.register_client()?);
    /// relay.register_relay_channel(a.id, b.id)?;
    /// assert_eq!(
    ///     relay.register_relay_channel(b.id, a.id).unwrap_err(),
    ///     ws::RelayError::ChannelExists(b.id, a.id)
    /// );
    /// # Ok::<(), ws::RelayError>(())
    /// ```
    pub fn register_relay_channel(&self, a: u64, b: u64) -> Result<(), RelayError> {
        self.registry().register_channel(a, b)
    }

    /// End the relay: its connections get a close frame (1001 where the dialect has codes),
    /// new upgrades get HTTP 503, registrations fail with [`RelayError::Closed`].
    pub fn close(&self) {
        self.registry().closed = true;
        let waker = self
            .inner
            .waker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(waker) = waker {
            // Fails only when the server has stopped, and then there is nothing to close.
            let _ = waker.wake();
        }
    }

    /// Whether [`Relay::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.registry().closed
    }
}

fn secret() -> Result<[u8; 16], RelayError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| RelayError::NoRandomness)?;
    Ok(bytes)
}
