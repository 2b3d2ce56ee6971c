//! Relay connections that arrive at a node that does not hold the relay ([`crate::cluster`]).
//!
//! A cluster has one relay, on the node that holds its lease in the broker (taken by the node
//! that is the rendezvous owner of `RELAY_KEY` when nobody holds it, and kept while
//! its holder lives). A `/relay` connection that arrives elsewhere is bridged: this
//! node opens a link to the relay's node (RFC 6455, marked with [`BRIDGE_HEADER`]) and passes
//! every message between the client and the link, whole and in order. On the relay's node
//! the link is an ordinary relay connection: the client authenticates there, with the
//! relay's own code, and its messages are relayed, queued and delivered there. So the wire
//! format, the refusals, the queues and their bounds are the one-node relay's.
//!
//! The client is paused until the link is open; what it sent before (read with its
//! handshake) waits, within `max_queued_bytes`. Backpressure holds across the hop: a side
//! whose outgoing queue passes `max_queued_bytes` pauses the other until it drains to a
//! quarter of that, so a slow client slows the link, TCP slows the relay's writes to it, and
//! the relay's node pauses the senders, as on one node.
//!
//! When the link closes, its client is closed with the link's code and reason (a relay's
//! 1008 reaches the client as such); when the client closes, its link is closed. A relay's
//! node that dies leaves the relay's registrations and queues in the broker, and the node
//! that takes its lease serves them (`cluster::relay_store`, docs/scale-out.md).

use super::handler::RelayHandler;
use crate::cluster::{ClusterView, Node, Owner, BRIDGE_HEADER};
use crate::cx::Cx;
use crate::socket::{CloseInfo, SocketId};
use std::collections::HashMap;
use ws_protocols::close;
use ws_protocols::handshake::{ClientConfig, Request};
use ws_protocols::message::Message;
use ws_protocols::Dialect;

/// The bridges of one relay handler.
#[derive(Default)]
pub(super) struct Bridges {
    by_client: HashMap<SocketId, Bridge>,
    /// By link: its client.
    client_of: HashMap<SocketId, SocketId>,
}

struct Bridge {
    link: SocketId,
    /// Messages the client sent before the link opened, and their bytes.
    early: Vec<Owned>,
    early_bytes: usize,
    open: bool,
}

enum Owned {
    Text(String),
    Binary(Vec<u8>),
}

/// Where a relay request is served.
pub(super) enum Route {
    /// Here: this node holds the relay, or the request is a link from another node's bridge.
    Local,
    /// Through a bridge to the relay's node.
    Bridge(Node),
    /// Refused with this status and reason.
    Refuse(u16, String),
}

/// Where a request for the relay is served, given the cluster (if any) and whether it came
/// from another node's bridge (the value of its [`BRIDGE_HEADER`]).
pub(super) fn route(cluster: Option<&ClusterView>, bridge_header: Option<&str>) -> Route {
    let Some(cluster) = cluster else {
        return Route::Local;
    };
    if let Some(presented) = bridge_header {
        // A bridge is always served where it arrives, so two nodes whose tables disagree
        // for a moment cannot pass a client back and forth.
        return if cluster.admits_bridge(presented) {
            Route::Local
        } else {
            Route::Refuse(403, "bridge without the cluster's token".into())
        };
    }
    match cluster.relay_owner() {
        Owner::Here => Route::Local,
        Owner::There(node) => Route::Bridge(node),
        // The broker is away: the node that held the relay goes on holding it (no other
        // node can take it over while the broker is away: their tables are as stale).
        Owner::Unknown if cluster.last_known_relay_owner() == Owner::Here => Route::Local,
        Owner::Unknown => Route::Refuse(
            503,
            "cluster broker unreachable, or the relay between nodes: cannot tell which node \
             serves the relay"
                .into(),
        ),
    }
}

impl RelayHandler {
    pub(super) fn route_request(&self, request: &Request) -> Route {
        self.inner.route(request.header(BRIDGE_HEADER))
    }

    /// Open a link to `node` for `client`, which waits, paused.
    pub(super) fn start_bridge(&mut self, cx: &mut Cx<'_>, client: SocketId, node: Node) {
        let Some(cluster) = self.inner.options.cluster.clone() else {
            return;
        };
        let path = cx
            .socket(client)
            .and_then(|s| s.request().map(|r| r.path().to_owned()))
            .unwrap_or_else(|| "/relay".into());
        let host = node.addr.to_string();
        let headers = [(BRIDGE_HEADER, cluster.bridge_credential())];
        let config = ClientConfig {
            extra_headers: &headers,
            ..ClientConfig::new(Dialect::Rfc6455, &host, &path)
        };
        cx.pause(client);
        match cx.connect(node.addr, &config) {
            Ok(link) => {
                log::debug!("relay: {client} bridged to node {} as {link}", node.name);
                self.bridges.by_client.insert(
                    client,
                    Bridge {
                        link,
                        early: Vec::new(),
                        early_bytes: 0,
                        open: false,
                    },
                );
                self.bridges.client_of.insert(link, client);
            }
            Err(e) => {
                log::warn!("relay: no link to node {} ({}): {e}", node.name, node.addr);
                if let Some(socket) = cx.socket(client) {
                    let _ = socket.close(close::TRY_AGAIN_LATER, "the relay's node unreachable");
                }
            }
        }
    }

    /// Whether `id` is a link that has just opened; if so, what its client sent meanwhile
    /// goes through, and the client reads again.
    pub(super) fn link_opened(&mut self, cx: &mut Cx<'_>, id: SocketId) -> bool {
        let Some(&client) = self.bridges.client_of.get(&id) else {
            return false;
        };
        let Some(bridge) = self.bridges.by_client.get_mut(&client) else {
            return true;
        };
        bridge.open = true;
        let early = std::mem::take(&mut bridge.early);
        bridge.early_bytes = 0;
        for message in early {
            self.pass(cx, client, id, &message);
        }
        if !self.over(cx, id) {
            cx.resume(client);
        }
        true
    }

    /// Whether `id` is a bridged client or a link; if so, `message` is passed to the other
    /// side.
    pub(super) fn bridged_message(
        &mut self,
        cx: &mut Cx<'_>,
        id: SocketId,
        message: &Message<'_>,
    ) -> bool {
        let owned = match message {
            Message::Text(t) => Owned::Text((*t).to_owned()),
            Message::Binary(b) => Owned::Binary(b.to_vec()),
        };
        if let Some(&client) = self.bridges.client_of.get(&id) {
            self.pass(cx, id, client, &owned);
            return true;
        }
        let limit = self.inner.options.max_queued_bytes;
        let Some(bridge) = self.bridges.by_client.get_mut(&id) else {
            return false;
        };
        if bridge.open {
            let link = bridge.link;
            self.pass(cx, id, link, &owned);
            return true;
        }
        let len = match &owned {
            Owned::Text(t) => t.len(),
            Owned::Binary(b) => b.len(),
        };
        bridge.early_bytes += len;
        bridge.early.push(owned);
        if bridge.early_bytes > limit {
            if let Some(socket) = cx.socket(id) {
                let _ = socket.close(close::TRY_AGAIN_LATER, "the relay's node is slow to answer");
            }
        }
        true
    }

    /// Send `message` from `from` to `to`; pause `from` while `to` is backed up.
    fn pass(&mut self, cx: &mut Cx<'_>, from: SocketId, to: SocketId, message: &Owned) {
        let Some(socket) = cx.socket(to) else { return };
        let sent = match message {
            Owned::Text(t) => socket.send_text(t),
            Owned::Binary(b) => socket.send_binary(b),
        };
        if let Err(e) = sent {
            log::debug!("relay: bridging {from} to {to}: {e}");
        }
        if self.over(cx, to) {
            cx.pause(from);
            cx.notify_drain(to, self.inner.options.max_queued_bytes / 4);
        }
    }

    fn over(&self, cx: &mut Cx<'_>, id: SocketId) -> bool {
        cx.socket(id)
            .is_some_and(|s| s.buffered_amount() > self.inner.options.max_queued_bytes)
    }

    /// Whether `id` is a bridged client or a link; if so, the side it held up reads again.
    pub(super) fn bridge_drained(&mut self, cx: &mut Cx<'_>, id: SocketId) -> bool {
        if let Some(&client) = self.bridges.client_of.get(&id) {
            cx.resume(client);
            return true;
        }
        match self.bridges.by_client.get(&id) {
            Some(bridge) => {
                cx.resume(bridge.link);
                true
            }
            None => false,
        }
    }

    /// Whether `id` was a bridged client or a link; if so, the other side is closed too.
    pub(super) fn bridge_closed(
        &mut self,
        cx: &mut Cx<'_>,
        id: SocketId,
        info: &CloseInfo,
    ) -> bool {
        if let Some(bridge) = self.bridges.by_client.remove(&id) {
            self.bridges.client_of.remove(&bridge.link);
            if let Some(link) = cx.socket(bridge.link) {
                let _ = link.close(close::NORMAL, "client left");
            }
            return true;
        }
        let Some(client) = self.bridges.client_of.remove(&id) else {
            return false;
        };
        self.bridges.by_client.remove(&client);
        let (code, reason) = match info.code {
            // No close frame came: the relay's node went away (or never answered).
            close::ABNORMAL | close::NO_STATUS => {
                (close::GOING_AWAY, "the relay's node went away".to_owned())
            }
            code => (code, info.reason.clone()),
        };
        log::info!(
            "relay: the link of {client} closed ({}); closing it",
            info.code
        );
        if let Some(socket) = cx.socket(client) {
            let _ = socket.close(code, &reason);
        }
        true
    }
}

impl Bridges {
    /// The bridged clients.
    pub(super) fn clients(&self) -> impl Iterator<Item = SocketId> + '_ {
        self.by_client.keys().copied()
    }
}
