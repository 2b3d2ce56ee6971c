//! Members of a session owned by another node of the cluster ([`crate::cluster`]).
//!
//! A client that joins session NAME here while node A owns it is bridged: this node opens a
//! WebSocket link to `A/sessions/NAME` (RFC 6455, marked with [`BRIDGE_HEADER`]), and pipes
//! the client and the link together as a session of two that sends no notices of its own.
//! On A the link is an ordinary member. So everything a session does holds across nodes
//! with the one-node code: cut-through on both hops, translation per receiver (A to the
//! link's RFC 6455, here from it to the client's dialect), and backpressure end to end (a
//! receiver here that stops reading pauses the link, TCP stops A's writes to it, and A pauses
//! the sender). The client is paused until the link is open, so nothing it sends is lost.
//!
//! When the link is lost (the owner died), the client is paused again and the bridge waits
//! for the node table to drop the dead node; the session's new owner (the same for every
//! node: rendezvous hashing) is then linked, or, if that is this node, the client joins the
//! session here. Every surviving member does the same, so the session goes on at its new
//! owner. A message that was crossing the dead node is lost with it: its receivers are cut
//! off as when a sender fails mid-message.

use super::Sessions;
use crate::cluster::{Node, Owner, BRIDGE_HEADER};
use crate::cx::Cx;
use crate::socket::SocketId;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use ws_protocols::close;
use ws_protocols::handshake::{ClientConfig, Request};
use ws_protocols::Dialect;

/// The bridges of one [`Sessions`] handler.
#[derive(Default)]
pub(super) struct Bridges {
    /// By client: its link and the session it belongs to.
    by_client: HashMap<SocketId, Bridge>,
    /// By link: its client.
    client_of: HashMap<SocketId, SocketId>,
}

struct Bridge {
    /// The link to the owner; `None` while looking for a new owner.
    link: Option<SocketId>,
    session: String,
    path: String,
    node: String,
    dialect: Dialect,
    /// When the link was lost, while looking for a new owner.
    lost_at: Option<Instant>,
}

/// How often a bridge whose link was lost looks at the node table again.
const REHOME_RETRY: Duration = Duration::from_millis(250);
/// How long it looks before giving up: the dead node's key must expire first.
const REHOME_PATIENCE: Duration = Duration::from_secs(8);

/// What [`Sessions::cluster_decision`] says of a request.
pub(super) enum Route {
    /// Serve it here, as always.
    Local,
    /// Serve it through a bridge to this node.
    Bridge(Node),
    /// Refuse it.
    Refuse(u16, String),
}

/// The name of the two-member session that pipes a client and its link.
fn pipe_name(client: SocketId) -> String {
    // '\u{1}' is never in a session name (`name_of`), so no client can join it.
    format!("\u{1}bridge {client}")
}

pub(super) fn is_pipe(session: &str) -> bool {
    session.starts_with('\u{1}')
}

impl Sessions {
    /// Where a request for session `name` is served, in a cluster.
    pub(super) fn cluster_decision(&self, request: &Request, name: &str) -> Route {
        let Some(cluster) = &self.options.cluster else {
            return Route::Local;
        };
        if let Some(presented) = request.header(BRIDGE_HEADER) {
            return if cluster.admits_bridge(presented) {
                Route::Local
            } else {
                Route::Refuse(403, "bridge without the cluster's token".into())
            };
        }
        match cluster.owner(name) {
            Owner::Here => Route::Local,
            Owner::There(node) => Route::Bridge(node),
            // Members of a session that lives here can still meet.
            Owner::Unknown if self.sessions.contains_key(name) => Route::Local,
            Owner::Unknown => Route::Refuse(
                503,
                format!("cluster broker unreachable: cannot tell which node serves session {name}"),
            ),
        }
    }

    /// Open the link for a client that has just opened: the client waits, paused.
    pub(super) fn start_bridge(
        &mut self,
        cx: &mut Cx<'_>,
        client: SocketId,
        path: &str,
        session: String,
        dialect: Dialect,
        node: Node,
    ) {
        self.bridges.by_client.insert(
            client,
            Bridge {
                link: None,
                session,
                path: path.to_owned(),
                node: node.name.clone(),
                dialect,
                lost_at: None,
            },
        );
        self.link(cx, client, node);
    }

    /// Connect `client`'s bridge to `node`; the client waits, paused, until the link opens.
    fn link(&mut self, cx: &mut Cx<'_>, client: SocketId, node: Node) {
        let (Some(cluster), Some(bridge)) = (
            self.options.cluster.clone(),
            self.bridges.by_client.get_mut(&client),
        ) else {
            return;
        };
        let host = node.addr.to_string();
        let headers = [(BRIDGE_HEADER, cluster.bridge_credential())];
        let config = ClientConfig {
            extra_headers: &headers,
            ..ClientConfig::new(Dialect::Rfc6455, &host, &bridge.path)
        };
        cx.pause(client);
        match cx.connect(node.addr, &config) {
            Ok(link) => {
                log::debug!(
                    "{client}: bridged to node {} as {link} ({})",
                    node.name,
                    bridge.session
                );
                bridge.link = Some(link);
                bridge.node = node.name;
                self.bridges.client_of.insert(link, client);
            }
            Err(e) => {
                log::warn!(
                    "{client}: no link to node {} ({}): {e}",
                    node.name,
                    node.addr
                );
                self.bridges.by_client.remove(&client);
                if let Some(socket) = cx.socket(client) {
                    let _ = socket.close(close::TRY_AGAIN_LATER, "session's node unreachable");
                }
            }
        }
    }

    /// Whether `id` is a link that has just opened; if so, its client and it are piped.
    pub(super) fn link_opened(&mut self, cx: &mut Cx<'_>, id: SocketId) -> bool {
        let Some(&client) = self.bridges.client_of.get(&id) else {
            return false;
        };
        let Some(bridge) = self.bridges.by_client.get(&client) else {
            return true;
        };
        let (name, dialect) = (pipe_name(client), bridge.dialect);
        // A client whose first link was lost is still in its pipe, alone.
        if !self.members.contains_key(&client) {
            self.join(cx, client, name.clone(), dialect);
        }
        self.join(cx, id, name, Dialect::Rfc6455);
        cx.resume(client);
        true
    }

    /// A client or a link closed. A client's link goes with it; a lost link sends its
    /// client looking for the session's new owner. Whether `id` was either.
    pub(super) fn bridge_closed(&mut self, cx: &mut Cx<'_>, id: SocketId) -> bool {
        if let Some(bridge) = self.bridges.by_client.remove(&id) {
            if let Some(link) = bridge.link {
                self.bridges.client_of.remove(&link);
                if let Some(link) = cx.socket(link) {
                    let _ = link.close(close::NORMAL, "member left");
                }
            }
            return true;
        }
        let Some(client) = self.bridges.client_of.remove(&id) else {
            return false;
        };
        if let Some(bridge) = self.bridges.by_client.get_mut(&client) {
            log::info!(
                "{client}: the link to node {} for session {} closed; looking for its new owner",
                bridge.node,
                bridge.session
            );
            bridge.link = None;
            bridge.lost_at = Some(Instant::now());
            cx.pause(client);
            cx.set_timer(client, REHOME_RETRY);
        }
        true
    }

    /// A bridge's timer: look for the lost session's new owner. Whether `client` was such a
    /// client (its timer is the bridge's then, not the session's).
    pub(super) fn rehome(&mut self, cx: &mut Cx<'_>, client: SocketId) -> bool {
        let Some(bridge) = self.bridges.by_client.get(&client) else {
            return false;
        };
        let Some(lost_at) = bridge.lost_at else {
            return false;
        };
        let session = bridge.session.clone();
        let (dead, dialect) = (bridge.node.clone(), bridge.dialect);
        let owner = self
            .options
            .cluster
            .as_ref()
            .map_or(Owner::Here, |c| c.owner(&session));
        match owner {
            Owner::Here => {
                // The session's new home is here: the client leaves its pipe and joins.
                self.bridges.by_client.remove(&client);
                self.leave(cx, client);
                log::info!("{client}: session {session} goes on here");
                self.join(cx, client, session, dialect);
                cx.resume(client);
            }
            Owner::There(node) if node.name != dead => {
                if let Some(bridge) = self.bridges.by_client.get_mut(&client) {
                    bridge.lost_at = None;
                }
                self.link(cx, client, node);
            }
            // The table still lists the dead node, or cannot be read: wait, a while.
            _ if lost_at.elapsed() < REHOME_PATIENCE => cx.set_timer(client, REHOME_RETRY),
            _ => {
                self.bridges.by_client.remove(&client);
                if let Some(socket) = cx.socket(client) {
                    let _ = socket.close(close::GOING_AWAY, "the session's node went away");
                }
            }
        }
        true
    }

    /// Bridged clients, under their session's real name (for status pages).
    pub(super) fn bridged(&self) -> HashMap<&str, Vec<SocketId>> {
        let mut sessions: HashMap<&str, Vec<SocketId>> = HashMap::new();
        for (client, bridge) in &self.bridges.by_client {
            sessions
                .entry(bridge.session.as_str())
                .or_default()
                .push(*client);
        }
        sessions
    }
}
