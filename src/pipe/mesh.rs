//! Sessions across the nodes of a cluster ([`crate::cluster`], docs/scale-out.md).
//!
//! Every node that has clients in session NAME runs the session itself, and each of its
//! clients has an outbound link (RFC 6455 with our own client, marked with
//! [`BRIDGE_HEADER`] and [`NODE_HEADER`]) to every other node that has clients in it. On
//! that node the link is an inbound member standing for the client: what it sends goes to
//! that node's clients ([`Role`]). So a message crosses one link, from its sender's node to
//! its receivers' node, and never a third node: a node that dies takes its own members and
//! the links that end there, and nothing that passes between two other nodes.
//!
//! Everything else is the one-node pipe: cut-through, translation per receiver (to the
//! link's RFC 6455 at the sender's node, from it at the receiver's), and backpressure end to
//! end (a receiver that stops reading pauses the inbound link it reads from, TCP fills the
//! outbound link at the sender's node, and that pauses the sender).
//!
//! Which nodes have clients in a session is in the broker ([`Peers`]). A client that opens
//! waits, paused, for that answer and then for its outbound links to open; a node that gets
//! an inbound link links each of its own clients back to the link's node. An inbound link
//! counts as a member only once every client here has its link back, so nobody is told
//! "session ready" before both directions are open.
//!
//! Per sender, messages arrive in order and whole. Receivers on one node see every sender's
//! messages in one order; receivers on different nodes may see two senders' messages
//! interleaved differently, since no node sees all of them first.

use super::{Role, Sessions};
use crate::cluster::{Peers, BRIDGE_HEADER};
use crate::cx::Cx;
use crate::pipe::Host;
use crate::socket::{CloseInfo, SocketId};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use ws_protocols::close;
use ws_protocols::handshake::{ClientConfig, Request};
use ws_protocols::Dialect;

/// The request header of a link: the name of the node it comes from and the address that
/// node listens on, `NAME ADDR` (the other node may not have it in its table yet; the
/// address is believed only in a cluster with a token).
pub(crate) const NODE_HEADER: &str = "X-Omniws-Node";

/// The request header of a link: the dialect of the client it stands for (for status).
pub(crate) const DIALECT_HEADER: &str = "X-Omniws-Dialect";

/// What a node sends on an inbound link once every client it has links back to the link's
/// node: the link's client may then join (and be told "session ready"), since every member
/// of that node can hear it. The first message on every link; never forwarded.
const LINK_READY: &str = "omniws: link ready";

/// How often a waiting client tries a node that refused its link but has linked here.
const MAX_LINK_TRIES: u32 = 3;

/// How long a client waits for its links before it is refused with 1013.
const LINK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// The cluster's side of one [`Sessions`] handler.
#[derive(Default)]
pub(super) struct Mesh {
    /// Clients that wait, paused, to join their session.
    waiting: HashMap<SocketId, Waiting>,
    /// Outbound links that are not open yet.
    opening: HashMap<SocketId, Opening>,
    /// Where the nodes this one has heard of listen: from the directory, and from the
    /// headers of inbound links.
    addrs: HashMap<String, SocketAddr>,
    /// The directory's answers, left by the broker thread for [`Sessions::directory_answered`].
    answers: Arc<Mutex<Vec<Answer>>>,
}

struct Waiting {
    session: String,
    dialect: Dialect,
    stage: Stage,
}

enum Stage {
    /// Waiting for the directory's answer.
    Asking,
    /// Linking to `targets`, the nodes with clients in the session; `failures` counts the
    /// links to each node that did not open (dead, or without clients any more).
    Linking {
        targets: HashSet<String>,
        failures: HashMap<String, u32>,
    },
}

struct Opening {
    client: SocketId,
    session: String,
    node: String,
    /// Open, waiting for [`LINK_READY`]: what has come of it so far.
    answer: Option<Vec<u8>>,
}

/// A piece of a message, as the handler's calls bring it.
pub(super) enum LinkPiece<'d> {
    Start,
    Data(&'d [u8]),
    End,
}

struct Answer {
    client: SocketId,
    session: String,
    peers: Peers,
}

/// The node an inbound link comes from, by its [`NODE_HEADER`].
fn node_of(request: &Request) -> Option<(String, SocketAddr)> {
    let (name, addr) = request.header(NODE_HEADER)?.trim().split_once(' ')?;
    Some((name.to_owned(), addr.trim().parse().ok()?))
}

impl Sessions {
    /// Why a request for session `name` is refused in a cluster, if it is.
    pub(super) fn cluster_refusal(&self, request: &Request, name: &str) -> Option<(u16, String)> {
        let cluster = self.options.cluster.as_ref()?;
        if let Some(presented) = request.header(BRIDGE_HEADER) {
            if !cluster.admits_bridge(presented) {
                return Some((403, "bridge without the cluster's token".into()));
            }
            if node_of(request).is_none() {
                return Some((400, format!("link without a valid {NODE_HEADER} header")));
            }
            return None;
        }
        // Clients here already know the nodes they link to; a new session needs the broker.
        if !cluster.healthy() && self.clients(name).is_empty() {
            return Some((
                503,
                format!("cluster broker unreachable: cannot tell which nodes serve session {name}"),
            ));
        }
        None
    }

    /// A connection opened on a clustered endpoint: an outbound link, an inbound link or a
    /// client, each taken in hand here. Whether it was one of them.
    pub(super) fn cluster_opened(&mut self, cx: &mut Cx<'_>, id: SocketId) -> bool {
        if let Some(opening) = self.mesh.opening.get_mut(&id) {
            // Joined once the other node says every client there links back.
            opening.answer = Some(Vec::new());
            return true;
        }
        let Some(socket) = cx.socket(id) else {
            return true;
        };
        let (Some(request), Some(dialect)) = (socket.request(), socket.dialect()) else {
            return false;
        };
        let from = request
            .header(BRIDGE_HEADER)
            .is_some()
            .then(|| node_of(request));
        let remote_dialect = request.header(DIALECT_HEADER).and_then(Dialect::from_name);
        let Ok(session) = self.name_of(request.path()).map(str::to_owned) else {
            return false;
        };
        match from {
            Some(Some(node)) => self.inbound_opened(cx, id, session, node, remote_dialect),
            Some(None) => {} // refused by `on_request`
            None => self.client_opened(cx, id, session, dialect),
        }
        true
    }

    /// A client opened: it waits, paused, for the directory's answer.
    fn client_opened(&mut self, cx: &mut Cx<'_>, id: SocketId, session: String, dialect: Dialect) {
        let Some(cluster) = self.options.cluster.clone() else {
            return;
        };
        cx.pause(id);
        cx.set_timer(id, LINK_PATIENCE);
        self.mesh.waiting.insert(
            id,
            Waiting {
                session: session.clone(),
                dialect,
                stage: Stage::Asking,
            },
        );
        let (answers, waker, name) = (Arc::clone(&self.mesh.answers), cx.waker(), session.clone());
        cluster.session_here(
            &session,
            Box::new(move |peers| {
                answers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Answer {
                        client: id,
                        session: name,
                        peers,
                    });
                // Fails only when the server has stopped.
                let _ = waker.wake();
            }),
        );
    }

    /// The directory answered: each waiting client links to the nodes it named.
    pub(super) fn directory_answered(&mut self, cx: &mut Cx<'_>) {
        let answers =
            std::mem::take(&mut *self.mesh.answers.lock().unwrap_or_else(|p| p.into_inner()));
        for Answer {
            client,
            session,
            peers,
        } in answers
        {
            match self.mesh.waiting.get(&client) {
                Some(w) if w.session == session && matches!(w.stage, Stage::Asking) => {}
                _ => continue, // gone meanwhile
            }
            let mut targets: HashSet<String> = HashSet::new();
            match peers {
                Peers::Nodes(nodes) => {
                    for node in nodes {
                        targets.insert(node.name.clone());
                        self.mesh.addrs.insert(node.name, node.addr);
                    }
                }
                Peers::Unreachable(why) if self.clients(&session).is_empty() => {
                    log::info!("{client}: refused: {why}");
                    self.mesh.waiting.remove(&client);
                    if let Some(socket) = cx.socket(client) {
                        let _ = socket.close(close::TRY_AGAIN_LATER, &why);
                    }
                    self.session_unused(cx, &session);
                    continue;
                }
                // The clients here link to every node they need: so will this one.
                Peers::Unreachable(why) => {
                    log::info!("{client}: joins {session} with the nodes linked already ({why})")
                }
            }
            if let Some(w) = self.mesh.waiting.get_mut(&client) {
                w.stage = Stage::Linking {
                    targets,
                    failures: HashMap::new(),
                };
            }
            self.advance(cx, client);
        }
    }

    /// The nodes that `session`'s inbound links come from.
    fn inbound_nodes(&self, session: &str) -> HashSet<String> {
        self.sessions
            .get(session)
            .into_iter()
            .flatten()
            .filter_map(|id| match &self.members.get(id)?.role {
                Role::Inbound { node, .. } => Some(node.clone()),
                _ => None,
            })
            .collect()
    }

    /// The outbound links of `client`, open (members of `session`).
    fn outbound_of(&self, client: SocketId, session: &str) -> Vec<SocketId> {
        self.with_role(
            session,
            |r| matches!(r, Role::Outbound { of, .. } if *of == client),
        )
    }

    /// The nodes `client` has an open link to.
    fn open_links_of(&self, client: SocketId, session: &str) -> HashSet<String> {
        self.outbound_of(client, session)
            .iter()
            .filter_map(|id| match &self.members.get(id)?.role {
                Role::Outbound { node, .. } => Some(node.clone()),
                _ => None,
            })
            .collect()
    }

    /// The nodes `client` has a link to, open or opening.
    fn links_of(&self, client: SocketId, session: &str) -> HashSet<String> {
        let mut nodes = self.open_links_of(client, session);
        nodes.extend(
            self.mesh
                .opening
                .values()
                .filter(|o| o.client == client)
                .map(|o| o.node.clone()),
        );
        nodes
    }

    /// The clients waiting to join `session`.
    fn waiting_in(&self, session: &str) -> Vec<SocketId> {
        self.mesh
            .waiting
            .iter()
            .filter(|(_, w)| w.session == session)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Whether `id` is a client of this node in a session.
    fn is_client(&self, id: SocketId) -> bool {
        self.members
            .get(&id)
            .is_some_and(|m| m.role == Role::Client)
    }

    /// Take a waiting client a step on: link it to every node with clients in its session
    /// (the directory's, and any that linked here since), and once no link is still
    /// opening, let it join.
    fn advance(&mut self, cx: &mut Cx<'_>, client: SocketId) {
        let Some(Waiting {
            session,
            stage: Stage::Linking { targets, failures },
            ..
        }) = self.mesh.waiting.get(&client)
        else {
            return;
        };
        let session = session.clone();
        let have = self.links_of(client, &session);
        let inbound = self.inbound_nodes(&session);
        // A node that refused a link has no clients; unless it has linked here since (a
        // client there joined meanwhile), when it is tried again, a few times.
        let given_up = |node: &String| {
            let tries = if inbound.contains(node) {
                MAX_LINK_TRIES
            } else {
                1
            };
            failures.get(node).is_some_and(|&f| f >= tries)
        };
        let mut wanted: Vec<String> = targets
            .iter()
            .chain(&inbound)
            .filter(|n| !have.contains(*n) && !given_up(n))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        wanted.sort();
        for node in wanted {
            if !self.dial(cx, client, &session, &node) {
                if let Some(Stage::Linking { failures, .. }) =
                    self.mesh.waiting.get_mut(&client).map(|w| &mut w.stage)
                {
                    failures.insert(node, MAX_LINK_TRIES);
                }
            }
        }
        if self.mesh.opening.values().any(|o| o.client == client) {
            return;
        }
        let Some(waiting) = self.mesh.waiting.remove(&client) else {
            return;
        };
        cx.cancel_timer(client);
        self.join(cx, client, session.clone(), waiting.dialect);
        cx.resume(client);
        self.count_inbound(cx, &session);
    }

    /// Open a link from `client` to `node` for `session`. Whether it is on its way.
    fn dial(&mut self, cx: &mut Cx<'_>, client: SocketId, session: &str, node: &str) -> bool {
        let Some(cluster) = self.options.cluster.clone() else {
            return false;
        };
        let addr = match self.mesh.addrs.get(node) {
            Some(addr) => *addr,
            None => match cluster.nodes().into_iter().find(|n| n.name == node) {
                Some(n) => n.addr,
                None => return false,
            },
        };
        let me = cluster.options();
        let from = format!("{} {}", me.node_name, me.advertise);
        let dialect = self
            .mesh
            .waiting
            .get(&client)
            .map(|w| w.dialect)
            .or_else(|| self.members.get(&client).map(|m| m.dialect))
            .map_or("", Dialect::name);
        let headers = [
            (BRIDGE_HEADER, cluster.bridge_credential()),
            (NODE_HEADER, from.as_str()),
            (DIALECT_HEADER, dialect),
        ];
        let (host, path) = (addr.to_string(), format!("{}{session}", self.prefix));
        let config = ClientConfig {
            extra_headers: &headers,
            ..ClientConfig::new(Dialect::Rfc6455, &host, &path)
        };
        match cx.connect(addr, &config) {
            Ok(link) => {
                log::debug!("{client}: linking to node {node} ({addr}) as {link} for {session}");
                self.mesh.opening.insert(
                    link,
                    Opening {
                        client,
                        session: session.to_owned(),
                        node: node.to_owned(),
                        answer: None,
                    },
                );
                true
            }
            Err(e) => {
                log::warn!("{client}: no link to node {node} ({addr}) for {session}: {e}");
                false
            }
        }
    }

    /// A message on a link that is open but not yet joined: the other node's
    /// [`LINK_READY`], in pieces. Whether `id` was such a link.
    pub(super) fn link_answer(
        &mut self,
        cx: &mut Cx<'_>,
        id: SocketId,
        piece: LinkPiece<'_>,
    ) -> bool {
        let Some(answer) = self
            .mesh
            .opening
            .get_mut(&id)
            .and_then(|o| o.answer.as_mut())
        else {
            return false;
        };
        match piece {
            LinkPiece::Start => answer.clear(),
            LinkPiece::Data(data) if answer.len() + data.len() <= LINK_READY.len() => {
                answer.extend_from_slice(data)
            }
            LinkPiece::Data(_) => {
                if let Some(socket) = cx.socket(id) {
                    let _ = socket.close(close::PROTOCOL_ERROR, "expected the link-ready answer");
                }
            }
            LinkPiece::End if answer.as_slice() == LINK_READY.as_bytes() => {
                if let Some(opening) = self.mesh.opening.remove(&id) {
                    self.outbound_ready(cx, id, opening);
                }
            }
            LinkPiece::End => {
                if let Some(socket) = cx.socket(id) {
                    let _ = socket.close(close::PROTOCOL_ERROR, "expected the link-ready answer");
                }
            }
        }
        true
    }

    /// A waiting client's timer: its links took too long. Whether `id` was waiting.
    pub(super) fn link_patience(&mut self, cx: &mut Cx<'_>, id: SocketId) -> bool {
        let Some(waiting) = self.mesh.waiting.get(&id) else {
            return false;
        };
        log::warn!(
            "{id}: the nodes of session {} did not answer its links in time",
            waiting.session
        );
        let why = "the session's other nodes did not answer";
        self.refuse_waiting(cx, id, close::TRY_AGAIN_LATER, why);
        true
    }

    /// Close waiting client `id` with `code` and `why`, and its links with it.
    fn refuse_waiting(&mut self, cx: &mut Cx<'_>, id: SocketId, code: u16, why: &str) {
        if let Some(socket) = cx.socket(id) {
            let _ = socket.close(code, why);
        }
        self.drop_waiting(cx, id);
    }

    /// Waiting client `id` will not join: its links go, open or opening, and the session's
    /// too if nobody else here is in it.
    fn drop_waiting(&mut self, cx: &mut Cx<'_>, id: SocketId) {
        let Some(waiting) = self.mesh.waiting.remove(&id) else {
            return;
        };
        cx.cancel_timer(id);
        let opening: Vec<SocketId> = self
            .mesh
            .opening
            .iter()
            .filter(|(_, o)| o.client == id)
            .map(|(link, _)| *link)
            .collect();
        for link in opening {
            self.mesh.opening.remove(&link);
            if let Some(socket) = cx.socket(link) {
                let _ = socket.close(close::GOING_AWAY, "member left");
            }
        }
        // Its open links (members already) go as a leaving client's do.
        self.client_left(cx, id, &waiting.session);
    }

    /// An outbound link's node answered: it joins its client's session, unseen.
    fn outbound_ready(&mut self, cx: &mut Cx<'_>, link: SocketId, opening: Opening) {
        let Opening {
            client,
            session,
            node,
            ..
        } = opening;
        let waiting = self
            .mesh
            .waiting
            .get(&client)
            .is_some_and(|w| w.session == session);
        let member = self.is_client(client)
            && self
                .members
                .get(&client)
                .is_some_and(|m| m.session == session);
        if !waiting && !member {
            if let Some(socket) = cx.socket(link) {
                let _ = socket.close(close::NORMAL, "member left");
            }
            return;
        }
        self.join_as(
            cx,
            link,
            session.clone(),
            Dialect::Rfc6455,
            Role::Outbound { of: client, node },
        );
        if waiting {
            self.advance(cx, client);
        } else {
            self.count_inbound(cx, &session);
        }
    }

    /// An inbound link opened: it joins, and every client here links back to its node.
    fn inbound_opened(
        &mut self,
        cx: &mut Cx<'_>,
        id: SocketId,
        session: String,
        (node, addr): (String, SocketAddr),
        dialect: Option<Dialect>,
    ) {
        // A link's word for its node's address is taken only from a cluster with a token
        // (the link proved it belongs): without one anybody may claim to be a link, and
        // would have this node connect wherever it said. Others are found in the table.
        if self
            .options
            .cluster
            .as_ref()
            .is_some_and(|c| c.options().token.is_some())
        {
            self.mesh.addrs.insert(node.clone(), addr);
        }
        let waiting = self.waiting_in(&session);
        if self.clients(&session).is_empty() && waiting.is_empty() {
            // The directory was a moment behind: the other node learns it from the close.
            if let Some(socket) = cx.socket(id) {
                let _ = socket.close(close::NORMAL, "no members of this session here");
            }
            return;
        }
        log::debug!("{id}: a member on node {node} joins {session}");
        self.join_as(
            cx,
            id,
            session.clone(),
            Dialect::Rfc6455,
            Role::Inbound {
                node: node.clone(),
                counted: false,
                dialect,
            },
        );
        for client in self.clients(&session) {
            if !self.links_of(client, &session).contains(&node)
                && !self.dial(cx, client, &session, &node)
            {
                self.unlink_node(cx, &session, &node);
                return;
            }
        }
        for client in waiting {
            self.advance(cx, client);
        }
        self.count_inbound(cx, &session);
    }

    /// Count every inbound link of `session` whose node every client here now links to.
    fn count_inbound(&mut self, cx: &mut dyn Host, session: &str) {
        let clients = self.clients(session);
        let uncounted = self.with_role(session, |r| {
            matches!(r, Role::Inbound { counted: false, .. })
        });
        for id in uncounted {
            let Some(Role::Inbound { node, .. }) = self.members.get(&id).map(|m| &m.role) else {
                continue;
            };
            if !clients
                .iter()
                .all(|&c| self.open_links_of(c, session).contains(node))
            {
                continue;
            }
            if let Some(Role::Inbound { counted, .. }) =
                self.members.get_mut(&id).map(|m| &mut m.role)
            {
                *counted = true;
            }
            self.notice(cx, id, LINK_READY);
            self.counted(cx, id);
        }
    }

    /// No client here can link to `node` for `session`: its links here go too, so that
    /// both sides see the same members (neither hears the other).
    fn unlink_node(&mut self, cx: &mut dyn Host, session: &str, node: &str) {
        log::warn!("session {session}: no link back to node {node}: closing its links here");
        let links = self.with_role(session, |r| {
            matches!(r, Role::Inbound { node: n, .. } | Role::Outbound { node: n, .. } if n == node)
        });
        for link in links {
            if let Some(socket) = cx.socket(link) {
                let _ = socket.close(close::GOING_AWAY, "no link back to this node");
            }
        }
    }

    /// A client left its session: its outbound links go, and the session's links too once
    /// no client here is in it.
    pub(super) fn client_left(&mut self, cx: &mut dyn Host, client: SocketId, session: &str) {
        if self.options.cluster.is_none() {
            return;
        }
        for link in self.outbound_of(client, session) {
            if let Some(socket) = cx.socket(link) {
                let _ = socket.close(close::NORMAL, "member left");
            }
        }
        self.session_unused(cx, session);
    }

    /// If no client here is in `session`, or waits to be: close its links, and tell the
    /// directory.
    fn session_unused(&mut self, cx: &mut dyn Host, session: &str) {
        let Some(cluster) = self.options.cluster.clone() else {
            return;
        };
        if !self.clients(session).is_empty() || !self.waiting_in(session).is_empty() {
            return;
        }
        for link in self.with_role(session, |r| *r != Role::Client) {
            if let Some(socket) = cx.socket(link) {
                let _ = socket.close(close::NORMAL, "no members of this session here");
            }
        }
        cluster.session_gone(session);
    }

    /// A connection closed that the cluster's side knows: a link that never opened, a
    /// client that never joined, or an outbound link whose client is still here. Whether it
    /// was one of them.
    pub(super) fn cluster_closed(
        &mut self,
        cx: &mut Cx<'_>,
        id: SocketId,
        info: &CloseInfo,
    ) -> bool {
        if let Some(Opening {
            client,
            session,
            node,
            ..
        }) = self.mesh.opening.remove(&id)
        {
            log::debug!("{client}: the link to node {node} for {session} did not open");
            if info.code == close::POLICY && self.mesh.waiting.contains_key(&client) {
                // The session is full there, so it is full: the client hears it as it
                // would on that node.
                log::info!("{client}: refused by node {node}: {}", info.reason);
                self.refuse_waiting(cx, client, close::POLICY, &info.reason);
                return true;
            }
            if let Some(Stage::Linking { failures, .. }) =
                self.mesh.waiting.get_mut(&client).map(|w| &mut w.stage)
            {
                *failures.entry(node).or_default() += 1;
                self.advance(cx, client);
            } else if self.is_client(client) {
                self.unlink_node(cx, &session, &node);
            }
            return true;
        }
        if self.mesh.waiting.contains_key(&id) {
            self.drop_waiting(cx, id);
            return true;
        }
        let Some((Role::Outbound { of, node }, session)) = self
            .members
            .get(&id)
            .map(|m| (m.role.clone(), m.session.clone()))
        else {
            return false;
        };
        self.closed(cx, id);
        // Its client can no longer be heard there (the node died, has no clients left, or
        // its side was too slow): that node's members here go too, so that both sides see
        // the same members. Linking again at once would race the same close; a client
        // that joins there later links here, and this client links back then.
        if self.is_client(of) {
            self.unlink_node(cx, &session, &node);
        }
        true
    }
}
