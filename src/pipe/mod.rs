//! Pipe sessions: clients that connect to `/sessions/NAME` share a session, and every message
//! one member sends reaches every other member, forwarded cut-through and translated between
//! dialects.
//!
//! # How a message travels
//! The sender's decoder reports a message start, payload chunks and an end, as the bytes
//! arrive ([`Delivery::Stream`]); each chunk is written straight into every receiver's
//! outgoing queue, framed for the receiver's dialect by its own encoder: a hybi frame of known
//! length passes with that length; hixie text (length unknown until its `FF`) becomes a
//! fragmented message for hybi receivers; hybi text streams into a hixie `00 … FF` frame
//! (validated UTF-8 never contains `FF`). Nothing is held whole.
//!
//! A receiver carries one message at a time: while one sender's message is open on it,
//! messages from other senders (and the server's notices) wait in that receiver's hold queue
//! and follow in order.
//!
//! # Backpressure
//! Each receiver may have at most `buffer_per_receiver` bytes waiting (outgoing queue plus
//! hold queue, the hold queue counted by what it costs in memory, entries included) and at
//! most `max_held_messages` messages held. A sender with a receiver over either bound, or
//! any sender while the server is over its memory budget
//! ([`crate::Settings::memory_budget`]), is paused (the loop stops reading from it, so TCP
//! slows it down) until every one of its receivers is back under a quarter of both. A
//! receiver that keeps a sender paused longer than `stuck_timeout` is closed with 1008
//! ("receiver too slow"), so it cannot stall the others.
//!
//! # Size
//! A session holds nothing whole, so the server's frame and message limits, which bound
//! what whole delivery holds in memory, do not apply to it: by default a message of any
//! size passes ([`SessionOptions::max_message`]).
//!
//! # When a sender fails mid-message
//! A receiver must never take a truncated message for a whole one, and neither framing can
//! abort a message in flight. So a receiver that has already got part of a message whose
//! sender then fails (invalid UTF-8, protocol error, disconnect) is cut off: hybi receivers
//! of a fragmented message get a close frame with 1011 between two fragments (their library
//! discards the partial message); hybi receivers of a message forwarded as one frame of
//! declared length lose the TCP connection inside that frame (nothing can be put inside a
//! frame's payload; the short frame is never delivered, and the close is abnormal, 1006);
//! hixie receivers lose the TCP connection before the frame's `FF` (an unterminated hixie
//! frame is never delivered). Receivers that had not started the message just never see it.
//!
//! # Control frames
//! Pings are answered hop by hop, never forwarded. A pong (or our keepalive ping) due while
//! a frame of declared length is only partly written to that receiver goes out right after
//! the frame's last byte.

pub(crate) mod hold;
mod host;
mod mesh;

use crate::cluster::BRIDGE_HEADER;
use crate::cx::Cx;
use crate::handler::{Decision, Handler};
use crate::settings::HixieBinary;
use crate::socket::{CloseInfo, SocketId};
use base64::Engine;
use hold::HoldQueue;
pub(crate) use host::Host;
use std::collections::HashMap;
use std::time::Duration;
use ws_protocols::close;
use ws_protocols::handshake::Request;
use ws_protocols::translate::{carry, Carry};
use ws_protocols::{Dialect, MessageKind};

pub use ws_protocols::translate::BinaryToHixie;

/// Options of a [`Sessions`] endpoint.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionOptions {
    /// Members per session; beyond it the upgrade is refused with HTTP 409. Default 16.
    pub max_members: usize,
    /// Sent to every member when the session reaches two members, and to each later
    /// joiner. Default `Some("session ready")`, the string older clients wait for.
    pub ready_notice: Option<String>,
    /// Sent to the remaining members when one leaves. Default `None`.
    pub leave_notice: Option<String>,
    /// See [`BinaryToHixie`]. Default [`BinaryToHixie::Refuse`].
    pub binary_to_hixie: BinaryToHixie,
    /// Bytes that may wait for one receiver before its senders are paused. Default 1 MiB.
    pub buffer_per_receiver: usize,
    /// How long a receiver may keep a sender paused before it is closed with 1008.
    /// Default 30 s.
    pub stuck_timeout: Duration,
    /// Messages that may be held for one receiver while it is busy with another sender's
    /// message; beyond it, as beyond `buffer_per_receiver`, their senders are paused.
    /// Default 1024.
    pub max_held_messages: usize,
    /// Largest frame and message a member may send, in bytes. Default `None`: any size,
    /// since a session forwards cut-through and holds nothing whole (the server's
    /// `max_frame` and `max_message` bound whole delivery, not sessions). Beyond it: close
    /// 1009.
    pub max_message: Option<u64>,
    /// Longest session name, in bytes; names are `[A-Za-z0-9._~-]+`. Default 64.
    pub max_name_len: usize,
    /// The cluster this node belongs to: sessions owned by other nodes are reached through
    /// bridges (`omniws --cluster`). Default `None`: every session is local.
    pub cluster: Option<std::sync::Arc<crate::cluster::ClusterView>>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            max_members: 16,
            ready_notice: Some("session ready".into()),
            leave_notice: None,
            binary_to_hixie: BinaryToHixie::Refuse,
            buffer_per_receiver: 1 << 20,
            stuck_timeout: Duration::from_secs(30),
            max_held_messages: 1024,
            max_message: None,
            max_name_len: 64,
            cluster: None,
        }
    }
}

/// What a member is to its session. Without a cluster every member is a `Client`; in a
/// cluster, links between nodes are members too ([`mesh`]).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Role {
    /// A client of this node: what it sends goes to every other client here and through its
    /// own outbound links; it gets everything.
    Client,
    /// A link from one client on another node, standing for that client here: what it sends
    /// goes to this node's clients, and it gets only what they answer it alone (a refusal
    /// notice). It counts as a member once every client here has an outbound link to its
    /// node (`counted`), so that nobody is told "session ready" before it can be heard.
    Inbound {
        node: String,
        counted: bool,
        /// The client's dialect there, as its node said (for status pages).
        dialect: Option<Dialect>,
    },
    /// A link from client `of` here to another node: it carries what `of` sends, and passes
    /// back to `of` what that node answers it alone. Nobody sees it as a member.
    Outbound { of: SocketId, node: String },
}

impl Role {
    /// Whether it is a member as the session's members see it (notices, status, the
    /// member limit).
    fn counts(&self) -> bool {
        matches!(self, Role::Client | Role::Inbound { counted: true, .. })
    }
}

/// Whether member `receiver`, in role `to`, gets what `sender`, in role `from`, sends.
fn delivers(sender: SocketId, from: &Role, receiver: SocketId, to: &Role) -> bool {
    match (from, to) {
        (Role::Client, Role::Client) => true,
        (Role::Client, Role::Outbound { of, .. }) => *of == sender,
        (Role::Inbound { .. }, Role::Client) => true,
        // What the other node answers the client alone (a refusal notice).
        (Role::Outbound { of, .. }, Role::Client) => *of == receiver,
        _ => false,
    }
}

/// One member, as sender and as receiver.
struct Member {
    session: String,
    dialect: Dialect,
    role: Role,
    /// As a sender: the receivers of the message it is sending now.
    sending_to: Vec<SocketId>,
    sending_kind: MessageKind,
    /// As a receiver: the sender whose message is open on this socket, and what it has got.
    current: Option<Current>,
    held: HoldQueue,
    /// The hold queue's cost as last told to the server's memory budget.
    held_reported: usize,
    /// As a sender: paused because a receiver is over its bound.
    paused: bool,
    /// As a receiver: keeping a sender paused since its stuck timer was set.
    stuck: bool,
}

/// What waits for one receiver, measured against the session's bounds.
struct Load {
    /// Its outgoing queue, in bytes.
    queued: usize,
    /// What its hold queue costs in memory, and how many messages it holds.
    held_cost: usize,
    held_count: usize,
    /// The server is over its memory budget.
    over_budget: bool,
    /// The sender whose message is open on the receiver.
    current: Option<SocketId>,
}

/// The message open on a receiver.
struct Current {
    from: Option<SocketId>,
    /// Sent as one frame of declared length: until it ends, nothing (not even a close
    /// frame) can be put on the wire between its bytes.
    one_frame: bool,
    /// Turning binary into base64 text for a hixie receiver: the 0-2 bytes not yet encoded.
    base64_carry: Option<Vec<u8>>,
}

/// The `/sessions/NAME` endpoint. Mount it with [`Sessions::mount`].
///
/// ```no_run
/// let server = ws::Server::builder()
///     .mount(ws::Sessions::mount("/sessions/*", ws::SessionOptions::default()))
///     .bind("0.0.0.0:8088")?;
/// # Ok::<(), ws::Error>(())
/// ```
pub struct Sessions {
    options: SessionOptions,
    prefix: String,
    sessions: HashMap<String, Vec<SocketId>>,
    members: HashMap<SocketId, Member>,
    mesh: mesh::Mesh,
}

impl Sessions {
    /// The handler for paths `prefix` + NAME.
    pub fn new(prefix: &str, options: SessionOptions) -> Self {
        Sessions {
            options,
            prefix: prefix.trim_end_matches('*').to_owned(),
            sessions: HashMap::new(),
            members: HashMap::new(),
            mesh: mesh::Mesh::default(),
        }
    }

    /// A [`crate::Mount`] at `pattern` (which must end in `*`) with streaming delivery, as
    /// cut-through needs.
    pub fn mount(pattern: &str, options: SessionOptions) -> crate::Mount {
        let max_message = options.max_message.unwrap_or(u64::MAX);
        let prefix = pattern.to_owned();
        crate::Mount::per_loop(pattern, move || Sessions::new(&prefix, options.clone()))
            .delivery(crate::Delivery::Stream)
            .max_message(max_message)
    }

    fn name_of<'p>(&self, path: &'p str) -> Result<&'p str, &'static str> {
        let name = path.strip_prefix(self.prefix.as_str()).unwrap_or_default();
        if name.is_empty() {
            return Err("session name missing");
        }
        if name.len() > self.options.max_name_len {
            return Err("session name too long");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
        {
            return Err("session name may only hold letters, digits and . _ ~ -");
        }
        Ok(name)
    }

    /// What waits for `receiver`: its outgoing queue and its hold queue.
    fn load(&self, cx: &mut dyn Host, receiver: SocketId) -> Load {
        let queued = cx.socket(receiver).map_or(0, |s| s.buffered_amount());
        let member = self.members.get(&receiver);
        Load {
            queued,
            held_cost: member.map_or(0, |m| m.held.cost()),
            held_count: member.map_or(0, |m| m.held.count()),
            over_budget: cx.over_memory_budget(),
            current: member.and_then(|m| m.current.as_ref()).and_then(|c| c.from),
        }
    }

    /// Whether `load` is over the bounds divided by `divisor` (1: the level that pauses
    /// senders, 4: the level under which they resume) for `sender` (`None`: for anyone).
    /// The sender whose message is open on the receiver is held up only by the outgoing
    /// queue: the hold queue waits for that very message to end, so pausing its sender for
    /// it would stall both until the stuck timer cut the receiver.
    fn over(&self, load: &Load, sender: Option<SocketId>, divisor: usize) -> bool {
        let bound = self.options.buffer_per_receiver / divisor;
        if sender.is_some() && load.current == sender {
            return load.queued > bound;
        }
        load.queued + load.held_cost > bound
            || load.held_count > self.options.max_held_messages / divisor
            // Over the server's budget, nothing more is held.
            || (load.over_budget && load.held_count > 0)
    }

    /// Tell the server's memory budget what `id`'s hold queue costs now.
    fn account_held(&mut self, cx: &mut dyn Host, id: SocketId) {
        if let Some(m) = self.members.get_mut(&id) {
            let cost = m.held.cost();
            cx.held_changed(m.held_reported, cost);
            m.held_reported = cost;
        }
    }

    /// Pause `sender` if one of its receivers is over the bounds; start the stuck timer of
    /// each receiver that is.
    fn apply_backpressure(&mut self, cx: &mut dyn Host, sender: SocketId) {
        let Some(receivers) = self.members.get(&sender).map(|m| m.sending_to.clone()) else {
            return;
        };
        let mut over = Vec::new();
        for r in receivers {
            self.account_held(cx, r);
            let load = self.load(cx, r);
            if self.over(&load, Some(sender), 1) {
                over.push(r);
            }
        }
        if over.is_empty() {
            return;
        }
        if let Some(m) = self.members.get_mut(&sender) {
            if !m.paused {
                m.paused = true;
                cx.pause(sender);
            }
        }
        for r in over {
            // Resumption is checked when this receiver's queue has drained to the low mark.
            cx.notify_drain(r, self.options.buffer_per_receiver / 4);
            if let Some(m) = self.members.get_mut(&r) {
                if !m.stuck {
                    m.stuck = true;
                    cx.set_timer(r, self.options.stuck_timeout);
                }
            }
        }
    }

    /// Resume every paused sender of `session` whose receivers are all back under a quarter
    /// of the bound; clear the stuck marks of receivers that are. A receiver still holding a
    /// sender up by its outgoing queue is asked to report its drain; one holding it up by its
    /// hold queue is looked at again when the message open on it ends.
    fn relieve(&mut self, cx: &mut dyn Host, session: &str) {
        let Some(ids) = self.sessions.get(session).cloned() else {
            return;
        };
        let low = self.options.buffer_per_receiver / 4;
        let mut blocking = Vec::new();
        for &id in &ids {
            self.account_held(cx, id);
            let load = self.load(cx, id);
            if self.over(&load, None, 4) {
                blocking.push((id, load));
            }
        }
        let mut watch = Vec::new();
        for &id in &ids {
            let Some(m) = self.members.get(&id) else {
                continue;
            };
            let receivers = if m.sending_to.is_empty() {
                &ids
            } else {
                &m.sending_to
            };
            let blockers: Vec<(SocketId, bool)> = blocking
                .iter()
                .filter(|(b, load)| {
                    *b != id && receivers.contains(b) && self.over(load, Some(id), 4)
                })
                .map(|(b, load)| (*b, load.queued > low))
                .collect();
            let (stuck, paused) = (m.stuck, m.paused);
            if stuck && !blocking.iter().any(|(b, _)| *b == id) {
                cx.cancel_timer(id);
            }
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            m.stuck &= blocking.iter().any(|(b, _)| *b == id);
            if !paused {
                continue;
            }
            if blockers.is_empty() {
                m.paused = false;
                cx.resume(id);
            } else {
                watch.extend(
                    blockers
                        .iter()
                        .filter(|(_, by_queue)| *by_queue)
                        .map(|(b, _)| *b),
                );
            }
        }
        for id in watch {
            cx.notify_drain(id, low);
        }
    }

    /// Start a message from `from` on `receiver` (or hold it if the receiver is busy).
    fn start_on(
        &mut self,
        cx: &mut dyn Host,
        receiver: SocketId,
        from: Option<SocketId>,
        kind: MessageKind,
        len: Option<u64>,
    ) {
        let policy = self.options.binary_to_hixie;
        let Some(m) = self.members.get_mut(&receiver) else {
            return;
        };
        if m.current.is_some() {
            m.held.start(from, kind, len);
            return;
        }
        let base64 = carry(kind, len.is_some(), m.dialect.caps(), policy) == Carry::Base64Text;
        // Base64 text is streamed with its length unknown (hixie text needs none).
        let (kind, len) = if base64 {
            (MessageKind::Text, None)
        } else {
            (kind, len)
        };
        m.current = Some(Current {
            from,
            one_frame: len.is_some(),
            base64_carry: base64.then(Vec::new),
        });
        if let Some(socket) = cx.socket(receiver) {
            if let Err(e) = socket.begin_message(kind, len) {
                log::debug!("{receiver}: cannot start a piped message: {e}");
            }
        }
    }

    /// Write `data` of the message open on `receiver`.
    fn write_on(cx: &mut dyn Host, receiver: SocketId, current: &mut Current, data: &[u8]) {
        let Some(socket) = cx.socket(receiver) else {
            return;
        };
        let result = match current.base64_carry.as_mut() {
            None => socket.send_chunk(data),
            Some(carry) => {
                carry.extend_from_slice(data);
                let whole = carry.len() / 3 * 3;
                let encoded = base64::engine::general_purpose::STANDARD.encode(&carry[..whole]);
                carry.drain(..whole);
                socket.send_chunk(encoded.as_bytes())
            }
        };
        if let Err(e) = result {
            log::debug!("{receiver}: piped chunk refused: {e}");
        }
    }

    fn end_on(&mut self, cx: &mut dyn Host, receiver: SocketId) {
        let Some(m) = self.members.get_mut(&receiver) else {
            return;
        };
        let Some(mut current) = m.current.take() else {
            return;
        };
        if let Some(carry) = current.base64_carry.take() {
            if let Some(socket) = cx.socket(receiver) {
                let tail = base64::engine::general_purpose::STANDARD.encode(&carry);
                let _ = socket.send_chunk(tail.as_bytes());
            }
        }
        if let Some(socket) = cx.socket(receiver) {
            let _ = socket.end_message();
        }
        self.next_held(cx, receiver);
    }

    /// The receiver is free: start the oldest held message, write what it has, and go on
    /// while held messages are complete.
    fn next_held(&mut self, cx: &mut dyn Host, receiver: SocketId) {
        loop {
            let Some(m) = self.members.get_mut(&receiver) else {
                return;
            };
            if m.current.is_some() {
                return;
            }
            let Some(held) = m.held.pop() else {
                return;
            };
            self.start_on(cx, receiver, held.from, held.kind, held.len);
            let Some(m) = self.members.get_mut(&receiver) else {
                return;
            };
            if let Some(current) = m.current.as_mut() {
                if !held.bytes.is_empty() {
                    Self::write_on(cx, receiver, current, &held.bytes);
                }
            }
            if !held.ended {
                return;
            }
            self.end_on(cx, receiver);
        }
    }

    /// Send the server's own text `notice` to `receiver`, after whatever it is receiving.
    fn notice(&mut self, cx: &mut dyn Host, receiver: SocketId, notice: &str) {
        self.start_on(
            cx,
            receiver,
            None,
            MessageKind::Text,
            Some(notice.len() as u64),
        );
        let Some(m) = self.members.get_mut(&receiver) else {
            return;
        };
        match m.current.as_mut() {
            Some(current) if current.from.is_none() && m.held.is_empty() => {
                Self::write_on(cx, receiver, current, notice.as_bytes());
                self.end_on(cx, receiver);
            }
            _ => {
                m.held.append(None, notice.as_bytes());
                m.held.end(None);
            }
        }
    }

    /// `id` leaves (closed, failed, or refused): cut off receivers it left mid-message, drop
    /// what it had waiting, and tell the others.
    fn leave(&mut self, cx: &mut dyn Host, id: SocketId) {
        let Some(member) = self.members.remove(&id) else {
            return;
        };
        cx.held_changed(member.held_reported, 0);
        let session = member.session;
        for other in self.members.values_mut() {
            other.sending_to.retain(|r| *r != id);
        }
        for r in member.sending_to {
            self.abort_from(cx, r, id);
        }
        if let Some(ids) = self.sessions.get_mut(&session) {
            ids.retain(|m| *m != id);
            if ids.is_empty() {
                self.sessions.remove(&session);
            }
        }
        if member.role == Role::Client {
            self.client_left(cx, id, &session);
        }
        if !self.sessions.contains_key(&session) {
            return;
        }
        if let (Some(notice), true) = (self.options.leave_notice.clone(), member.role.counts()) {
            for other in self.clients(&session) {
                self.notice(cx, other, &notice);
            }
        }
        self.relieve(cx, &session);
    }

    /// The clients of this node in `session`.
    fn clients(&self, session: &str) -> Vec<SocketId> {
        self.with_role(session, |role| *role == Role::Client)
    }

    /// The members of `session` whose role passes `pick`.
    fn with_role(&self, session: &str, pick: impl Fn(&Role) -> bool) -> Vec<SocketId> {
        self.sessions
            .get(session)
            .into_iter()
            .flatten()
            .copied()
            .filter(|id| self.members.get(id).is_some_and(|m| pick(&m.role)))
            .collect()
    }

    /// How many members `session` has, as its members see it.
    fn population(&self, session: &str) -> usize {
        self.with_role(session, Role::counts).len()
    }

    /// `id` now counts as a member of its session: the ready notice, to every client here
    /// when the session reaches two members, and to a client that joins later.
    fn counted(&mut self, cx: &mut dyn Host, id: SocketId) {
        let (Some(ready), Some(member)) =
            (self.options.ready_notice.clone(), self.members.get(&id))
        else {
            return;
        };
        let (session, role) = (member.session.clone(), member.role.clone());
        match self.population(&session) {
            0 | 1 => {}
            2 => {
                for client in self.clients(&session) {
                    self.notice(cx, client, &ready);
                }
            }
            _ if role == Role::Client => self.notice(cx, id, &ready),
            _ => {}
        }
    }

    /// The sender `from` is gone: if its unfinished message is open on `receiver` (its start
    /// is on the wire, and no framing can abort it), cut the receiver off; if it is only
    /// held, forget it. Complete messages it sent earlier are still delivered.
    fn abort_from(&mut self, cx: &mut dyn Host, receiver: SocketId, from: SocketId) {
        let Some(m) = self.members.get_mut(&receiver) else {
            return;
        };
        m.held.forget_unfinished(from);
        if matches!(&m.current, Some(c) if c.from == Some(from)) {
            log::debug!("{receiver}: cut off: its sender {from} failed mid-message");
            self.cut(
                cx,
                receiver,
                close::INTERNAL_ERROR,
                "sender failed mid-message",
            );
        }
    }

    /// Close `id` (with `code` where its dialect has codes, by dropping TCP where it has not:
    /// a hixie frame can be neither interrupted nor completed) and take it out of its
    /// session now.
    fn cut(&mut self, cx: &mut dyn Host, id: SocketId, code: u16, reason: &str) {
        let mid_frame = self
            .members
            .get(&id)
            .and_then(|m| m.current.as_ref())
            .is_some_and(|c| c.one_frame);
        if let Some(socket) = cx.socket(id) {
            let codes = socket.dialect().is_some_and(|d| d.caps().close_codes);
            if mid_frame || !codes || socket.close(code, reason).is_err() {
                socket.destroy();
            }
        }
        self.leave(cx, id);
    }
}

/// The session's life, driven by the [`Handler`] calls below or, in tests and fuzzing, by
/// a model of the server ([`Host`]).
impl Sessions {
    pub(crate) fn opened(&mut self, cx: &mut dyn Host, id: SocketId) {
        let Some(socket) = cx.socket(id) else { return };
        let (Some(path), Some(dialect)) = (
            socket.request().map(|r| r.path().to_owned()),
            socket.dialect(),
        ) else {
            return;
        };
        let Ok(name) = self.name_of(&path).map(str::to_owned) else {
            return;
        };
        self.join(cx, id, name, dialect);
    }

    /// What is held for `id` now: the cost of its hold queue and how many messages it holds.
    pub(crate) fn held_by(&self, id: SocketId) -> Option<(usize, usize)> {
        self.members
            .get(&id)
            .map(|m| (m.held.cost(), m.held.count()))
    }

    /// `id`, a `dialect` client, joins session `name`.
    pub(crate) fn join(&mut self, cx: &mut dyn Host, id: SocketId, name: String, dialect: Dialect) {
        self.join_as(cx, id, name, dialect, Role::Client);
    }

    /// `id` joins session `name` in `role`.
    fn join_as(
        &mut self,
        cx: &mut dyn Host,
        id: SocketId,
        name: String,
        dialect: Dialect,
        role: Role,
    ) {
        if self.options.binary_to_hixie == BinaryToHixie::LengthPrefixed {
            if let Some(socket) = cx.socket(id) {
                socket.set_hixie_binary(HixieBinary::LengthPrefixed);
            }
        }
        let seen = matches!(role, Role::Client | Role::Inbound { .. });
        if seen
            && self
                .with_role(&name, |r| !matches!(r, Role::Outbound { .. }))
                .len()
                >= self.options.max_members
        {
            // Two hixie-76 handshakes waiting for key3 can both pass on_request.
            if let Some(socket) = cx.socket(id) {
                let _ = socket.close(close::POLICY, "session full");
            }
            return;
        }
        let members = self.sessions.entry(name.clone()).or_default();
        members.push(id);
        log::debug!(
            "{id} joined session {name} as {role:?} ({} in all)",
            members.len()
        );
        let counts = role.counts();
        self.members.insert(
            id,
            Member {
                session: name,
                dialect,
                role,
                sending_to: Vec::new(),
                sending_kind: MessageKind::Text,
                current: None,
                held: HoldQueue::default(),
                held_reported: 0,
                paused: false,
                stuck: false,
            },
        );
        if counts {
            self.counted(cx, id);
        }
    }

    pub(crate) fn message_start(
        &mut self,
        cx: &mut dyn Host,
        id: SocketId,
        kind: MessageKind,
        len: Option<u64>,
    ) {
        let Some(sender) = self.members.get(&id) else {
            return;
        };
        let session = sender.session.clone();
        let others: Vec<SocketId> = self
            .sessions
            .get(&session)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&m| {
                m != id
                    && self
                        .members
                        .get(&m)
                        .is_some_and(|r| delivers(id, &sender.role, m, &r.role))
            })
            .collect();
        let policy = self.options.binary_to_hixie;
        let mut refused = 0;
        let mut receivers = Vec::with_capacity(others.len());
        for r in others {
            let Some(rm) = self.members.get(&r) else {
                continue;
            };
            if carry(kind, len.is_some(), rm.dialect.caps(), policy) == Carry::Refuse {
                refused += 1;
                continue;
            }
            receivers.push(r);
            self.start_on(cx, r, Some(id), kind, len);
        }
        if let Some(m) = self.members.get_mut(&id) {
            m.sending_to = receivers;
            m.sending_kind = kind;
        }
        if refused > 0 {
            let notice =
                format!("error: binary message not delivered to {refused} hixie member(s)");
            self.notice(cx, id, &notice);
        }
        self.apply_backpressure(cx, id);
    }

    pub(crate) fn message_data(&mut self, cx: &mut dyn Host, id: SocketId, data: &[u8]) {
        let Some(receivers) = self.members.get(&id).map(|m| m.sending_to.clone()) else {
            return;
        };
        for r in receivers {
            let Some(m) = self.members.get_mut(&r) else {
                continue;
            };
            match m.current.as_mut() {
                Some(current) if current.from == Some(id) => Self::write_on(cx, r, current, data),
                _ => {
                    m.held.append(Some(id), data);
                }
            }
        }
        self.apply_backpressure(cx, id);
    }

    pub(crate) fn message_end(&mut self, cx: &mut dyn Host, id: SocketId) {
        let Some(receivers) = self
            .members
            .get_mut(&id)
            .map(|m| std::mem::take(&mut m.sending_to))
        else {
            return;
        };
        for &r in &receivers {
            let Some(m) = self.members.get_mut(&r) else {
                continue;
            };
            match m.current.as_ref() {
                Some(current) if current.from == Some(id) => self.end_on(cx, r),
                _ => m.held.end(Some(id)),
            }
        }
        if let Some(session) = self.members.get(&id).map(|m| m.session.clone()) {
            self.relieve(cx, &session);
        }
    }

    pub(crate) fn drained(&mut self, cx: &mut dyn Host, id: SocketId) {
        if let Some(session) = self.members.get(&id).map(|m| m.session.clone()) {
            self.relieve(cx, &session);
        }
    }

    pub(crate) fn timer(&mut self, cx: &mut dyn Host, id: SocketId) {
        let stuck = self.members.get(&id).is_some_and(|m| m.stuck);
        let load = self.load(cx, id);
        if stuck && self.over(&load, None, 4) {
            log::info!(
                "{id}: receiver stuck for {:?}: closing",
                self.options.stuck_timeout
            );
            // The close frame queues behind the backlog; the close timeout drops the
            // connection if it never drains. Either way it leaves the session now.
            self.cut(cx, id, close::POLICY, "receiver too slow");
        }
    }

    pub(crate) fn closed(&mut self, cx: &mut dyn Host, id: SocketId) {
        self.leave(cx, id);
    }
}

impl Handler for Sessions {
    /// A session's members meet on the loop that owns its name.
    fn placement(&self, request: &Request) -> crate::Placement {
        match self.name_of(request.path()) {
            Ok(name) => crate::Placement::Keyed(name.to_owned()),
            // Refused by `on_request` wherever it is.
            Err(_) => crate::Placement::Anywhere,
        }
    }

    fn report(&self, report: &mut crate::Report) {
        if let Some(cluster) = &self.options.cluster {
            report.cluster(cluster);
        }
        // Links stand for members of other nodes (inbound, once counted) or are unseen.
        for name in self.sessions.keys() {
            let members = self.with_role(name, Role::counts);
            for id in &members {
                if let Some(Role::Inbound { node, dialect, .. }) =
                    self.members.get(id).map(|m| &m.role)
                {
                    report.remote_member(*id, node, *dialect);
                }
            }
            report.session(name, &members);
        }
    }

    fn on_request(&mut self, request: &Request, suggested: Option<&str>) -> Decision {
        let name = match self.name_of(request.path()) {
            Ok(name) => name,
            Err(why) => return Decision::reject(400, why),
        };
        if let Some((status, why)) = self.cluster_refusal(request, name) {
            return Decision::reject(status, why);
        }
        let members = self.population(name);
        // A link from another node is refused after its handshake instead, with a close
        // that its node passes on to the client that wanted to join (`mesh`).
        let link = self.options.cluster.is_some() && request.header(BRIDGE_HEADER).is_some();
        if members >= self.options.max_members && !link {
            return Decision::reject(409, format!("session {name} is full ({members} members)"));
        }
        Decision::Accept {
            subprotocol: suggested.map(str::to_owned),
        }
    }

    fn on_open(&mut self, cx: &mut Cx<'_>, id: SocketId) {
        if self.options.cluster.is_some() && self.cluster_opened(cx, id) {
            return;
        }
        self.opened(cx, id);
    }

    fn on_message_start(
        &mut self,
        cx: &mut Cx<'_>,
        id: SocketId,
        kind: MessageKind,
        len: Option<u64>,
    ) {
        if self.link_answer(cx, id, mesh::LinkPiece::Start) {
            return;
        }
        self.message_start(cx, id, kind, len);
    }

    fn on_message_data(&mut self, cx: &mut Cx<'_>, id: SocketId, data: &[u8]) {
        if self.link_answer(cx, id, mesh::LinkPiece::Data(data)) {
            return;
        }
        self.message_data(cx, id, data);
    }

    fn on_message_end(&mut self, cx: &mut Cx<'_>, id: SocketId) {
        if self.link_answer(cx, id, mesh::LinkPiece::End) {
            return;
        }
        self.message_end(cx, id);
    }

    fn on_drain(&mut self, cx: &mut Cx<'_>, id: SocketId) {
        self.drained(cx, id);
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, id: SocketId) {
        if self.link_patience(cx, id) {
            return;
        }
        self.timer(cx, id);
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, id: SocketId, close: &CloseInfo) {
        if self.cluster_closed(cx, id, close) {
            return;
        }
        self.closed(cx, id);
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        self.directory_answered(cx);
    }
}
