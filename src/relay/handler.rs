//! The relay on the loop: authenticates connections, relays their messages along registered
//! channels, queues for peers that are not connected, and slows down senders whose peer
//! reads slowly.

use super::bridge::Route;
use super::registry::{Queued, Refusal, Registry};
use super::{wire, Inner};
use crate::cx::Cx;
use crate::handler::{Decision, Handler};
use crate::socket::{CloseInfo, SocketId};
use crate::SendError;
use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};
use ws_protocols::close;
use ws_protocols::handshake::Request;
use ws_protocols::message::Message;

/// The [`Handler`] of a [`super::Relay`], to mount at `/relay`. Made by
/// [`super::Relay::handler`]; mount one per relay.
pub struct RelayHandler {
    pub(super) inner: Arc<Inner>,
    members: HashMap<SocketId, Member>,
    /// Senders paused until a receiver's connection drains, by receiver connection.
    waiting: HashMap<SocketId, Vec<SocketId>>,
    /// Clients bridged to the relay's node, in a cluster where it is another node.
    pub(super) bridges: super::bridge::Bridges,
}

#[derive(Default)]
struct Member {
    client: Option<u64>,
    failures: u32,
}

impl RelayHandler {
    pub(super) fn new(inner: Arc<Inner>) -> Self {
        RelayHandler {
            inner,
            members: HashMap::new(),
            waiting: HashMap::new(),
            bridges: super::bridge::Bridges::default(),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.inner.registry()
    }

    fn on_text(&mut self, cx: &mut Cx<'_>, id: SocketId, text: &str) {
        let inbound = match wire::parse(text) {
            Ok(inbound) => inbound,
            Err(error) => return reply(cx, id, error),
        };
        if let Some((client, token)) = inbound.authentication {
            if !self.authenticate(cx, id, client, &token) {
                return;
            }
        }
        if let Some((target, message)) = inbound.relay {
            self.relay(cx, id, target, message);
        }
    }

    /// Bind `id` to `client`; false (after answering) if that fails.
    fn authenticate(&mut self, cx: &mut Cx<'_>, id: SocketId, client: u64, token: &str) -> bool {
        let bound = self.members.get(&id).and_then(|m| m.client);
        if bound.is_some_and(|c| c != client) {
            reply(cx, id, Refusal::AlreadyAuthenticated.text());
            return false;
        }
        let result = self.registry().authenticate(client, token, id);
        match result {
            Ok(replaced) => {
                self.members.entry(id).or_default().client = Some(client);
                if let Some(old) = replaced {
                    log::info!("relay: client {client} moved from {old} to {id}");
                    if let Some(m) = self.members.get_mut(&old) {
                        m.client = None;
                    }
                    if let Some(socket) = cx.socket(old) {
                        let _ = socket.close(close::POLICY, "authenticated on another connection");
                    }
                }
                if bound.is_none() {
                    log::debug!("relay: {id} authenticated as client {client}");
                    let mut registry = self.registry();
                    flush(
                        cx,
                        &mut registry,
                        client,
                        self.inner.options.max_queued_bytes,
                    );
                }
                true
            }
            Err(refusal) => {
                let member = self.members.entry(id).or_default();
                member.failures += 1;
                log::info!(
                    "relay: {id} failed to authenticate as client {client} ({} time(s))",
                    member.failures
                );
                reply(cx, id, refusal.text());
                if member.failures >= self.inner.options.max_auth_failures {
                    if let Some(socket) = cx.socket(id) {
                        let _ = socket.close(close::POLICY, "too many failed authentications");
                    }
                }
                false
            }
        }
    }

    fn relay(&mut self, cx: &mut Cx<'_>, id: SocketId, target: u64, message: String) {
        let Some(sender) = self.members.get(&id).and_then(|m| m.client) else {
            return reply(cx, id, Refusal::NotAuthenticated.text());
        };
        let limit = self.inner.options.max_queued_bytes;
        let mut registry = self.registry();
        if let Err(refusal) = registry.check_channel(sender, target) {
            drop(registry);
            return reply(cx, id, refusal.text());
        }
        let target_conn = registry.conn_of(target);
        if let Some(conn) = target_conn.filter(|_| !registry.has_queued(target)) {
            if let Some(socket) = cx.socket(conn) {
                match socket.send_text(&wire::relay(sender, &message)) {
                    Ok(()) => {
                        if socket.buffered_amount() > limit {
                            drop(registry);
                            self.wait_for(cx, id, conn, limit);
                        }
                        return;
                    }
                    // Full, or closing: keep it for the peer's next connection.
                    Err(SendError::BufferFull { .. }) | Err(SendError::NotOpen) => {}
                    Err(e) => log::warn!("relay: sending to {conn}: {e}"),
                }
            }
        }
        let queued = registry.enqueue(target, Queued { sender, message });
        drop(registry);
        match (queued, target_conn) {
            (Err(refusal), _) => reply(cx, id, refusal.text()),
            (Ok(()), Some(conn)) => self.wait_for(cx, id, conn, limit),
            (Ok(()), None) => {}
        }
    }

    /// Pause `sender` until `receiver`'s connection has drained.
    fn wait_for(&mut self, cx: &mut Cx<'_>, sender: SocketId, receiver: SocketId, limit: usize) {
        cx.pause(sender);
        cx.notify_drain(receiver, limit / 4);
        let waiting = self.waiting.entry(receiver).or_default();
        if !waiting.contains(&sender) {
            waiting.push(sender);
        }
    }

    fn release_waiting(&mut self, cx: &mut Cx<'_>, receiver: SocketId) {
        for sender in self.waiting.remove(&receiver).unwrap_or_default() {
            cx.resume(sender);
        }
    }
}

impl Handler for RelayHandler {
    /// Relay clients reach each other through one loop's connections: the first loop's.
    fn placement(&self, _request: &Request) -> crate::Placement {
        crate::Placement::First
    }

    fn report(&self, report: &mut crate::Report) {
        if let Some(cluster) = &self.inner.options.cluster {
            report.cluster(cluster);
        }
        self.registry().report(report);
    }

    fn on_request(&mut self, request: &Request, suggested: Option<&str>) -> Decision {
        if self.registry().closed {
            return Decision::reject(503, "the relay is closed");
        }
        if let Route::Refuse(status, why) = self.route_request(request) {
            return Decision::reject(status, why);
        }
        Decision::Accept {
            subprotocol: suggested.map(str::to_owned),
        }
    }

    fn on_open(&mut self, cx: &mut Cx<'_>, id: SocketId) {
        self.inner
            .waker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| cx.waker());
        if self.link_opened(cx, id) {
            return;
        }
        let route = match cx.socket(id).and_then(|s| s.request()) {
            Some(request) => self.route_request(request),
            None => Route::Local,
        };
        match route {
            Route::Local => {}
            Route::Bridge(node) => return self.start_bridge(cx, id, node),
            Route::Refuse(_, why) => {
                // The table went stale between the request and now.
                if let Some(socket) = cx.socket(id) {
                    let _ = socket.close(close::TRY_AGAIN_LATER, &why);
                }
                return;
            }
        }
        self.members.insert(id, Member::default());
        if self.registry().closed {
            if let Some(socket) = cx.socket(id) {
                let _ = socket.close(close::GOING_AWAY, "the relay is closed");
            }
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, id: SocketId, message: Message<'_>) {
        if self.bridged_message(cx, id, &message) {
            return;
        }
        match message {
            Message::Text(text) => self.on_text(cx, id, text),
            Message::Binary(_) => reply(cx, id, wire::MALFORMED),
        }
    }

    fn on_drain(&mut self, cx: &mut Cx<'_>, id: SocketId) {
        if self.bridge_drained(cx, id) {
            return;
        }
        let Some(client) = self.members.get(&id).and_then(|m| m.client) else {
            return self.release_waiting(cx, id);
        };
        let limit = self.inner.options.max_queued_bytes;
        let drained = flush(cx, &mut self.registry(), client, limit);
        if drained {
            self.release_waiting(cx, id);
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, id: SocketId, info: &CloseInfo) {
        if self.bridge_closed(cx, id, info) {
            return;
        }
        if let Some(client) = self.members.remove(&id).and_then(|m| m.client) {
            self.registry().disconnect(client, id);
        }
        self.release_waiting(cx, id);
        for senders in self.waiting.values_mut() {
            senders.retain(|&s| s != id);
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        if !self.registry().closed {
            return;
        }
        let mut ids: Vec<SocketId> = self.members.keys().copied().collect();
        ids.extend(self.bridges.clients());
        log::info!("relay closed: closing {} connection(s)", ids.len());
        for id in ids {
            if let Some(socket) = cx.socket(id) {
                let _ = socket.close(close::GOING_AWAY, "the relay is closed");
            }
        }
    }
}

/// Send what waits for `client` to its connection until the queue is empty (true) or the
/// connection holds more than `limit` bytes (false; `on_drain` continues).
fn flush(cx: &mut Cx<'_>, registry: &mut Registry, client: u64, limit: usize) -> bool {
    let Some(conn) = registry.conn_of(client) else {
        return false;
    };
    while let Some(queued) = registry.front(client) {
        let text = wire::relay(queued.sender, &queued.message);
        let Some(socket) = cx.socket(conn) else {
            return false;
        };
        if socket.buffered_amount() > limit {
            cx.notify_drain(conn, limit / 4);
            return false;
        }
        match socket.send_text(&text) {
            Ok(()) => registry.pop(client),
            Err(SendError::BufferFull { .. }) => {
                cx.notify_drain(conn, limit / 4);
                return false;
            }
            Err(_) => return false,
        }
    }
    true
}

fn reply(cx: &mut Cx<'_>, id: SocketId, error: &str) {
    if let Some(socket) = cx.socket(id) {
        let _ = socket.send_text(&wire::error(error));
    }
}
