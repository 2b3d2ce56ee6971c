//! Handing a connection to the loop where it belongs ([`crate::Placement`]), before its
//! handshake is answered: the socket, the bytes read so far and the TLS session go; the
//! other loop reads on from there as if it had accepted the connection itself.

use super::EventLoop;
use crate::handle::Command;
use crate::socket::SocketId;
use std::sync::atomic::Ordering::Relaxed;

impl EventLoop {
    /// Whether `id`, routed to `route`, belongs on another loop; if so it is handed there
    /// (or refused with 503 if that loop has stopped).
    pub(super) fn placed_elsewhere(&mut self, id: SocketId, placement: &crate::Placement) -> bool {
        let target = crate::loops::target(placement, self.index, self.links.len());
        if target == self.index {
            return false;
        }
        self.hand_over(id, target);
        true
    }

    pub(super) fn hand_over(&mut self, id: SocketId, target: usize) {
        let link = self.links[target].clone();
        if !link.alive() {
            log::error!("{id}: loop {target} has stopped; refusing what belongs there");
            return self.refuse(
                id,
                503,
                "the part of the server that serves this has stopped",
            );
        }
        let Some(mut conn) = self.detach(id) else {
            return;
        };
        // The other loop counts it again when it takes it.
        self.shared.stats.connections_total.fetch_sub(1, Relaxed);
        let answered = conn
            .opening
            .take()
            .and_then(|o| o.answered)
            .map(|a| a.subprotocol);
        log::trace!("{id} handed to loop {target}");
        let read = std::mem::take(&mut conn.input);
        let tls = conn.tls.take();
        self.send_to_loop(target, conn.stream, conn.peer, read, answered, tls);
    }

    /// Tell the other loops how many connections this one has (for placing new ones).
    pub(super) fn publish_load(&self) {
        self.shared.connections.store(self.conns.len(), Relaxed);
    }

    /// Give a connection to loop `target`, counted there while it is on its way.
    pub(super) fn send_to_loop(
        &mut self,
        target: usize,
        stream: mio::net::TcpStream,
        peer: Option<std::net::SocketAddr>,
        read: Vec<u8>,
        answered: Option<Option<String>>,
        tls: Option<Box<crate::tls_layer::TlsLayer>>,
    ) {
        let link = &self.links[target];
        link.shared.incoming.fetch_add(1, Relaxed);
        let handed = link.send(Command::HandOver {
            stream,
            peer,
            read,
            answered,
            tls,
        });
        if handed.is_err() {
            link.shared.incoming.fetch_sub(1, Relaxed);
            log::warn!("loop {target} did not take a connection from {peer:?}");
        }
    }
}
