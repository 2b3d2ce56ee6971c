//! Several machines: nodes that find each other through a Redis every node can reach, and
//! pipe sessions whose members are on any of them (docs/scale-out.md).
//!
//! Each node keeps a key `omniws:node:NAME` holding its advertised address, expiring after
//! `NODE_TTL` and refreshed every `REFRESH`, and reads the others' keys as often: that
//! is the node table ([`ClusterView`]). The broker also keeps a session directory
//! (`directory`): for each session, the nodes that have clients in it
//! (`ClusterView::session_here`), served by the broker thread between refreshes. Each node
//! with clients in a session runs it, and links its clients to the other such nodes
//! (`pipe::mesh`). The relay is on the node that holds a lease in the broker (or, while
//! nobody does, the rendezvous owner of one fixed key, `RELAY_KEY`, takes it): relay
//! connections elsewhere are bridged to its node (`relay::bridge`) and registrations
//! forwarded to it (`forward`). Payloads never pass through the broker.

mod broker;
mod directory;
mod forward;
mod relay_store;

pub(crate) use directory::Peers;
pub(crate) use forward::forward;
pub(crate) use relay_store::{Change, Journal, RelayHolder, Snapshot};

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a node's key lives without a refresh.
pub(crate) const NODE_TTL: Duration = Duration::from_secs(3);
/// How often a node refreshes its key and reads the table.
pub(crate) const REFRESH: Duration = Duration::from_secs(1);

/// The request header that marks a connection from another node's bridge; its value is
/// the cluster token (or `1` without one).
pub const BRIDGE_HEADER: &str = "X-Omniws-Bridge";

/// The key whose rendezvous owner claims the relay's lease while nobody holds it.
pub(crate) const RELAY_KEY: &str = "\u{1}relay";

/// How a node joins a cluster ([`crate::SessionOptions::cluster`], `omniws --cluster`).
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// The broker: `redis://HOST:PORT[/DB]`.
    pub broker: String,
    /// This node's name, unique in the cluster.
    pub node_name: String,
    /// Where the other nodes reach this node's WebSocket port.
    pub advertise: SocketAddr,
    /// A secret every node shares: bridges present it, and a node refuses bridges without
    /// it (403). Without one, any client can claim to be a bridge.
    pub token: Option<String>,
}

/// A node of the cluster, as the table last showed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its name.
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// What this node knows of the cluster, shared between the broker thread (which writes it)
/// and the loops (which read it when a member joins).
#[derive(Debug)]
pub struct ClusterView {
    options: ClusterOptions,
    table: RwLock<Table>,
    /// This node's relay, told when this node takes or gives up the relay's lease.
    relay: relay_store::Holder,
    /// Session directory requests, on their way to the broker thread.
    directory: directory::Requests,
}

#[derive(Debug, Default)]
struct Table {
    nodes: Vec<Node>,
    /// The node that holds the relay's lease in the broker, if any.
    relay: Option<String>,
    /// When the broker last answered; `None` until it first has.
    fresh: Option<Instant>,
}

/// Which node serves the relay, as far as this node can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// This node.
    Here,
    /// Another node, at this address.
    There(Node),
    /// The node table is stale (the broker has not answered for longer than a node's key
    /// lives): nobody can tell.
    Unknown,
}

/// Join the cluster: start the thread that keeps this node's key in the broker and reads
/// the node table. Give the view to the sessions endpoint ([`crate::SessionOptions::cluster`]).
///
/// ```no_run
/// use ws::cluster::{join, ClusterOptions};
/// let view = join(ClusterOptions {
///     broker: "redis://10.0.0.5:6379".into(),
///     node_name: "node-a".into(),
///     advertise: "10.0.0.11:8088".parse().unwrap(),
///     token: Some("shared secret".into()),
/// })?;
/// let mut sessions = ws::SessionOptions::default();
/// sessions.cluster = Some(view);
/// let server = ws::Server::builder()
///     .mount(ws::Sessions::mount("/sessions/*", sessions))
///     .bind("0.0.0.0:8088")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn join(options: ClusterOptions) -> std::io::Result<Arc<ClusterView>> {
    let view = ClusterView::new(options);
    broker::spawn(Arc::clone(&view))?;
    Ok(view)
}

impl ClusterView {
    pub(crate) fn new(options: ClusterOptions) -> Arc<Self> {
        Arc::new(ClusterView {
            options,
            table: RwLock::new(Table::default()),
            relay: relay_store::Holder::default(),
            directory: directory::Requests::default(),
        })
    }

    /// This node's options.
    pub fn options(&self) -> &ClusterOptions {
        &self.options
    }

    /// The nodes the broker last listed (this one included).
    pub fn nodes(&self) -> Vec<Node> {
        self.table
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .nodes
            .clone()
    }

    /// Whether the table is fresh: the broker answered within a node key's lifetime.
    pub fn healthy(&self) -> bool {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        table.fresh.is_some_and(|t| t.elapsed() < NODE_TTL)
    }

    #[cfg(test)]
    pub(crate) fn update(&self, nodes: Vec<Node>) {
        self.update_with_relay(nodes, None);
    }

    /// The broker's latest answer: the nodes, and who holds the relay.
    pub(crate) fn update_with_relay(&self, nodes: Vec<Node>, relay: Option<String>) {
        let mut table = self.table.write().unwrap_or_else(|p| p.into_inner());
        table.nodes = nodes;
        table.relay = relay;
        table.fresh = Some(Instant::now());
    }

    /// Who holds the relay's lease, as the broker last said.
    pub(crate) fn relay_holder(&self) -> Option<String> {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        table.relay.clone()
    }

    /// The node that serves the relay: the live holder of its lease.
    pub(crate) fn relay_owner(&self) -> Owner {
        if !self.healthy() {
            return Owner::Unknown;
        }
        self.last_known_relay_owner()
    }

    /// The relay's node in the table as the broker last listed it, however old: while the
    /// broker is away the node that held the relay goes on serving it, and no other node
    /// can take it over (their tables are as stale). [`Owner::Unknown`] before the broker
    /// first answered.
    pub(crate) fn last_known_relay_owner(&self) -> Owner {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        if table.fresh.is_none() {
            return Owner::Unknown;
        }
        // The relay is wherever its lease is, and nowhere while nobody (alive) holds it: a
        // node that served it by rendezvous meanwhile would start a second registry, and
        // clients registered there would be strangers to the real one. Unplaced lasts a
        // few seconds at most: until the lease is taken (see broker.rs).
        let holder = table.relay.as_deref();
        match holder.and_then(|h| table.nodes.iter().find(|n| n.name == h)) {
            None => Owner::Unknown,
            Some(node) if node.name == self.options.node_name => Owner::Here,
            Some(node) => Owner::There(node.clone()),
        }
    }

    /// The node that serves the relay, by name, as far as the table tells.
    pub fn relay_node(&self) -> Option<String> {
        match self.last_known_relay_owner() {
            Owner::Here => Some(self.options.node_name.clone()),
            Owner::There(node) => Some(node.name),
            Owner::Unknown => None,
        }
    }

    /// Whether a bridge's header value carries this cluster's token.
    pub(crate) fn admits_bridge(&self, presented: &str) -> bool {
        match &self.options.token {
            None => true,
            Some(token) => crate::secret::same_secret(presented.as_bytes(), token.as_bytes()),
        }
    }

    /// What a bridge from this node presents.
    pub(crate) fn bridge_credential(&self) -> &str {
        self.options.token.as_deref().unwrap_or("1")
    }
}

/// The node of `nodes` with the highest rendezvous score for `key`.
pub(crate) fn rendezvous<'n>(nodes: &'n [Node], key: &str) -> Option<&'n Node> {
    nodes
        .iter()
        .max_by_key(|node| (score(&node.name, key), node.name.clone()))
}

/// FNV-1a over the node's name, a separator and the session's name, then murmur3's
/// finalizer: FNV alone orders nodes whose names differ in one early byte the same way for
/// most sessions (every session went to one node of three in a test), the finalizer mixes
/// every bit into the high ones that decide the order.
fn score(node: &str, session: &str) -> u64 {
    let h = node
        .bytes()
        .chain([0xff])
        .chain(session.bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    let h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, nodes: &[&str]) -> Arc<ClusterView> {
        let view = ClusterView::new(ClusterOptions {
            broker: "redis://127.0.0.1:1".into(),
            node_name: name.into(),
            advertise: "127.0.0.1:1".parse().unwrap(),
            token: None,
        });
        view.update(
            nodes
                .iter()
                .enumerate()
                .map(|(i, n)| Node {
                    name: (*n).into(),
                    addr: format!("127.0.0.1:{}", 1000 + i).parse().unwrap(),
                })
                .collect(),
        );
        view
    }

    #[test]
    fn rendezvous_spreads_keys_and_a_leaving_node_moves_only_its_own() {
        let node = |name: &str| Node {
            name: name.into(),
            addr: "127.0.0.1:1".parse().unwrap(),
        };
        let before: Vec<Node> = ["a", "b", "c"].into_iter().map(node).collect();
        let after: Vec<Node> = ["a", "c"].into_iter().map(node).collect();
        let mut chosen = [0; 3];
        for k in 0..300 {
            // Keys alike but for a counter.
            let key = format!("room-{k}");
            let was = rendezvous(&before, &key).unwrap();
            chosen[before.iter().position(|n| n == was).unwrap()] += 1;
            let is = rendezvous(&after, &key).unwrap();
            if was.name != "b" {
                assert_eq!(was, is, "{key} stays where it was");
            }
        }
        assert!(chosen.iter().all(|&n| n > 60), "{chosen:?}");
    }

    #[test]
    fn the_relay_is_with_its_lease_holder_and_nowhere_without_one() {
        let names = ["a", "b", "c"];
        let view = view("a", &names);
        let by_hash = rendezvous(&view.nodes(), RELAY_KEY).unwrap().name.clone();
        let other = names.iter().find(|n| **n != by_hash).unwrap().to_string();
        view.update_with_relay(view.nodes(), Some(other.clone()));
        assert_eq!(view.relay_node(), Some(other));
        // A holder the table no longer lists (it died) holds nothing, and neither does the
        // rendezvous owner until it has taken the lease: nobody serves the relay meanwhile.
        view.update_with_relay(view.nodes(), Some("gone".into()));
        assert_eq!(view.relay_node(), None);
        assert_eq!(view.relay_owner(), Owner::Unknown);
        view.update_with_relay(view.nodes(), None);
        assert_eq!(view.relay_node(), None);
        view.update_with_relay(view.nodes(), Some("a".into()));
        assert_eq!(view.relay_owner(), Owner::Here);
    }

    #[test]
    fn a_stale_table_owns_nothing() {
        let view = ClusterView::new(ClusterOptions {
            broker: String::new(),
            node_name: "a".into(),
            advertise: "127.0.0.1:1".parse().unwrap(),
            token: Some("t".into()),
        });
        assert_eq!(view.relay_owner(), Owner::Unknown);
        assert_eq!(view.last_known_relay_owner(), Owner::Unknown);
        assert_eq!(view.relay_node(), None);
        assert!(view.admits_bridge("t"));
        assert!(!view.admits_bridge("u"));
    }
}
