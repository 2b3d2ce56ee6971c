//! Who may talk to whom: registered clients, their tokens, their channels, and the messages
//! waiting for a client that is not connected. Pure bookkeeping: no sockets, no clock.

use crate::cluster::{Change, Journal, Snapshot};
use crate::socket::SocketId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// A registered client's id and secret token, to hand to that client.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The client's id (`clientId` on the wire).
    pub id: u64,
    /// The secret: 128 bits from the OS random source, as 32 lowercase hex digits.
    pub token: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keep tokens out of logs.
        write!(f, "Credentials {{ id: {}, token: <secret> }}", self.id)
    }
}

/// What the relay's registration calls refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayError {
    /// No client has this id.
    UnknownClient(u64),
    /// A client with this id is already registered.
    ClientExists(u64),
    /// These two clients already have a channel.
    ChannelExists(u64, u64),
    /// A channel needs two different clients.
    SameClient(u64),
    /// The OS random source failed, so no token could be made.
    NoRandomness,
    /// The relay was closed.
    Closed,
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::UnknownClient(id) => write!(f, "unknown client {id}"),
            RelayError::ClientExists(id) => write!(f, "client {id} is already registered"),
            RelayError::ChannelExists(a, b) => {
                write!(f, "clients {a} and {b} already have a channel")
            }
            RelayError::SameClient(id) => write!(f, "a channel needs two clients, got {id} twice"),
            RelayError::NoRandomness => f.write_str("the OS random source failed"),
            RelayError::Closed => f.write_str("the relay is closed"),
        }
    }
}

impl std::error::Error for RelayError {}

/// Why a relay message from a client was not accepted; the text is what the client gets in
/// `{"error": ...}`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    IncorrectToken,
    NotAuthenticated,
    AlreadyAuthenticated,
    ChannelNotRegistered,
    QueueFull,
}

impl Refusal {
    pub(crate) fn text(self) -> &'static str {
        match self {
            // An unknown id gets the same answer as a wrong token: ids are not probed.
            Refusal::IncorrectToken => "incorrect token",
            Refusal::NotAuthenticated => "not authenticated",
            Refusal::AlreadyAuthenticated => "already authenticated as another client",
            // Likewise for a target that does not exist.
            Refusal::ChannelNotRegistered => "channel not registered",
            Refusal::QueueFull => "queue full: the peer is not taking messages",
        }
    }
}

/// A message waiting for its receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Queued {
    pub sender: u64,
    pub message: String,
}

struct Client {
    token: [u8; 32],
    channels: BTreeSet<u64>,
    /// The connection authenticated as this client, if any.
    conn: Option<SocketId>,
    queue: VecDeque<Queued>,
    queued_bytes: usize,
}

impl Client {
    /// A client known by `token` (its 32 hex characters; `None` for anything else), with no
    /// channels and nothing queued.
    fn new(token: &str, conn: Option<SocketId>) -> Option<Client> {
        Some(Client {
            token: token.as_bytes().try_into().ok()?,
            channels: BTreeSet::new(),
            conn,
            queue: VecDeque::new(),
            queued_bytes: 0,
        })
    }
}

/// Bounds of one client's queue.
#[derive(Copy, Clone, Debug)]
pub(crate) struct QueueLimits {
    pub messages: usize,
    pub bytes: usize,
}

/// Whether this registry is the one that serves, and where its changes go.
pub(crate) enum Role {
    /// Not in a cluster: it serves, and its state lives only here.
    Alone,
    /// In a cluster, on a node that does not hold the relay's lease (or has not loaded
    /// the relay's state yet): it serves nobody.
    Standby,
    /// In a cluster, on the lease's holder: it serves, and writes every change through.
    Holder(Journal),
}

pub(crate) struct Registry {
    clients: BTreeMap<u64, Client>,
    next_id: u64,
    authorize_all_channels: bool,
    limits: QueueLimits,
    pub closed: bool,
    pub role: Role,
}

impl Registry {
    pub(crate) fn new(authorize_all_channels: bool, limits: QueueLimits) -> Self {
        Registry {
            clients: BTreeMap::new(),
            next_id: 1,
            authorize_all_channels,
            limits,
            closed: false,
            role: Role::Alone,
        }
    }

    /// Pass a change to the broker's copy, if this registry keeps one (`change` is made
    /// only then, so a relay alone pays nothing).
    fn record(&self, change: impl FnOnce() -> Change) {
        if let Role::Holder(journal) = &self.role {
            journal.record(change());
        }
    }

    /// Serve `snapshot` (the broker's copy, read when this node took the relay's lease)
    /// from now on, writing changes through `journal`. Connections bound to a client that
    /// is in both stay bound; a queue over this relay's bounds keeps its oldest messages.
    pub(crate) fn take_over(&mut self, snapshot: Snapshot, journal: Journal) {
        let mut old = std::mem::take(&mut self.clients);
        self.role = Role::Standby;
        for (id, token) in snapshot.clients {
            if let Some(client) = Client::new(&token, old.remove(&id).and_then(|c| c.conn)) {
                self.clients.insert(id, client);
            }
        }
        for (a, b) in snapshot.channels {
            if a != b && self.clients.contains_key(&a) && self.clients.contains_key(&b) {
                self.link(a, b);
            }
        }
        let mut dropped = 0;
        for (to, queue) in snapshot.queues {
            for (sender, message) in queue {
                if self.enqueue(to, Queued { sender, message }).is_err() {
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            log::warn!("relay: {dropped} queued message(s) from the broker over the bounds");
        }
        self.next_id = 1;
        self.role = Role::Holder(journal);
    }

    /// Pass the whole state to the broker's copy, replacing it (under the registry's lock,
    /// so every later change is applied after it).
    pub(crate) fn rewrite(&self) {
        self.record(|| {
            let mut snapshot = Snapshot::default();
            for (&id, c) in &self.clients {
                let token = String::from_utf8_lossy(&c.token).into_owned();
                snapshot.clients.push((id, token));
                for &peer in c.channels.iter().filter(|&&p| p > id) {
                    snapshot.channels.push((id, peer));
                }
                if !c.queue.is_empty() {
                    let queue = c.queue.iter().map(|q| (q.sender, q.message.clone()));
                    snapshot.queues.push((id, queue.collect()));
                }
            }
            Change::Rewrite(snapshot)
        });
    }

    /// Whether this registry serves clients (see [`Role`]).
    pub(crate) fn serves(&self) -> bool {
        !matches!(self.role, Role::Standby)
    }

    /// Register a client with the next free id and a token made from `secret`.
    pub(crate) fn register(&mut self, secret: [u8; 16]) -> Result<Credentials, RelayError> {
        while self.clients.contains_key(&self.next_id) {
            self.next_id += 1;
        }
        self.register_with_id(self.next_id, secret)
    }

    /// Register a client under an id the application chose.
    pub(crate) fn register_with_id(
        &mut self,
        id: u64,
        secret: [u8; 16],
    ) -> Result<Credentials, RelayError> {
        if self.closed {
            return Err(RelayError::Closed);
        }
        if self.clients.contains_key(&id) {
            return Err(RelayError::ClientExists(id));
        }
        let token = hex(&secret);
        let client = Client::new(&token, None).expect("16 bytes make 32 hex characters");
        self.clients.insert(id, client);
        self.record(|| Change::Client {
            id,
            token: token.clone(),
        });
        Ok(Credentials { id, token })
    }

    /// Let `a` and `b` talk.
    pub(crate) fn register_channel(&mut self, a: u64, b: u64) -> Result<(), RelayError> {
        if self.closed {
            return Err(RelayError::Closed);
        }
        if a == b {
            return Err(RelayError::SameClient(a));
        }
        for id in [a, b] {
            if !self.clients.contains_key(&id) {
                return Err(RelayError::UnknownClient(id));
            }
        }
        if self.clients[&a].channels.contains(&b) {
            return Err(RelayError::ChannelExists(a, b));
        }
        self.link(a, b);
        Ok(())
    }

    fn link(&mut self, a: u64, b: u64) {
        if let Some(c) = self.clients.get_mut(&a) {
            c.channels.insert(b);
        }
        if let Some(c) = self.clients.get_mut(&b) {
            c.channels.insert(a);
        }
        self.record(|| Change::Channel(a, b));
    }

    /// Check `token` for client `id` (in constant time) and bind `conn` to it. Returns the
    /// connection it replaces, if another one was bound.
    pub(crate) fn authenticate(
        &mut self,
        id: u64,
        token: &str,
        conn: SocketId,
    ) -> Result<Option<SocketId>, Refusal> {
        let client = self.clients.get_mut(&id).ok_or(Refusal::IncorrectToken)?;
        if !crate::secret::same_secret(token.as_bytes(), &client.token) {
            return Err(Refusal::IncorrectToken);
        }
        Ok(client.conn.replace(conn).filter(|&old| old != conn))
    }

    /// May `from` send to `to`? Opens the channel first under `authorize_all_channels`.
    pub(crate) fn check_channel(&mut self, from: u64, to: u64) -> Result<(), Refusal> {
        let known = from != to && self.clients.contains_key(&to);
        if known && self.clients[&from].channels.contains(&to) {
            return Ok(());
        }
        if known && self.authorize_all_channels {
            self.link(from, to);
            return Ok(());
        }
        Err(Refusal::ChannelNotRegistered)
    }

    /// The connection bound to client `id`.
    pub(crate) fn conn_of(&self, id: u64) -> Option<SocketId> {
        self.clients.get(&id).and_then(|c| c.conn)
    }

    /// Every client, for a status snapshot.
    pub(crate) fn report(&self, report: &mut crate::Report) {
        for (&id, c) in &self.clients {
            report.relay_client(id, c.conn, c.queue.len(), c.queued_bytes);
        }
    }

    /// Whether messages wait for `id` (new ones must then queue behind them, for order).
    pub(crate) fn has_queued(&self, id: u64) -> bool {
        self.clients.get(&id).is_some_and(|c| !c.queue.is_empty())
    }

    /// Queue a message for `to`, within the bounds.
    pub(crate) fn enqueue(&mut self, to: u64, queued: Queued) -> Result<(), Refusal> {
        let limits = self.limits;
        let client = self
            .clients
            .get_mut(&to)
            .ok_or(Refusal::ChannelNotRegistered)?;
        let size = queued.message.len();
        if client.queue.len() >= limits.messages || client.queued_bytes + size > limits.bytes {
            return Err(Refusal::QueueFull);
        }
        client.queued_bytes += size;
        if let Role::Holder(journal) = &self.role {
            journal.record(Change::Push {
                to,
                sender: queued.sender,
                message: queued.message.clone(),
            });
        }
        client.queue.push_back(queued);
        Ok(())
    }

    /// The oldest message waiting for `id`.
    pub(crate) fn front(&self, id: u64) -> Option<&Queued> {
        self.clients.get(&id).and_then(|c| c.queue.front())
    }

    /// Remove the oldest message waiting for `id` (after it was sent).
    pub(crate) fn pop(&mut self, id: u64) {
        let popped = self.clients.get_mut(&id).and_then(|c| {
            let q = c.queue.pop_front()?;
            c.queued_bytes -= q.message.len();
            Some(())
        });
        if popped.is_some() {
            self.record(|| Change::Pop(id));
        }
    }

    /// `conn` (bound to `id`) is gone.
    pub(crate) fn disconnect(&mut self, id: u64, conn: SocketId) {
        if let Some(c) = self.clients.get_mut(&id) {
            if c.conn == Some(conn) {
                c.conn = None;
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(all: bool) -> Registry {
        Registry::new(
            all,
            QueueLimits {
                messages: 2,
                bytes: 10,
            },
        )
    }

    fn conn(n: u32) -> SocketId {
        SocketId {
            index: n,
            generation: 0,
        }
    }

    #[test]
    fn ids_count_up_and_tokens_are_hex_of_the_secret() {
        let mut r = registry(false);
        let a = r.register([0xab; 16]).unwrap();
        let b = r.register([1; 16]).unwrap();
        assert_eq!((a.id, b.id), (1, 2));
        assert_eq!(a.token, "ab".repeat(16));
        assert_eq!(
            r.register_with_id(2, [0; 16]),
            Err(RelayError::ClientExists(2))
        );
        assert_eq!(r.register_with_id(3, [0; 16]).unwrap().id, 3);
        assert_eq!(r.register([0; 16]).unwrap().id, 4, "skips taken ids");
    }

    #[test]
    fn channels_need_two_known_distinct_clients_and_exist_once() {
        let mut r = registry(false);
        let a = r.register([1; 16]).unwrap().id;
        let b = r.register([2; 16]).unwrap().id;
        assert_eq!(r.register_channel(a, 9), Err(RelayError::UnknownClient(9)));
        assert_eq!(r.register_channel(a, a), Err(RelayError::SameClient(a)));
        assert_eq!(r.register_channel(a, b), Ok(()));
        assert_eq!(
            r.register_channel(b, a),
            Err(RelayError::ChannelExists(b, a))
        );
        assert_eq!(r.check_channel(a, b), Ok(()));
        assert_eq!(r.check_channel(b, a), Ok(()));
    }

    #[test]
    fn authorize_all_opens_channels_between_registered_clients_only() {
        let mut r = registry(true);
        let a = r.register([1; 16]).unwrap().id;
        let b = r.register([2; 16]).unwrap().id;
        assert_eq!(r.check_channel(a, b), Ok(()));
        assert_eq!(r.check_channel(a, 77), Err(Refusal::ChannelNotRegistered));
        assert_eq!(r.check_channel(a, a), Err(Refusal::ChannelNotRegistered));
        let mut strict = registry(false);
        let a = strict.register([1; 16]).unwrap().id;
        let b = strict.register([2; 16]).unwrap().id;
        assert_eq!(
            strict.check_channel(a, b),
            Err(Refusal::ChannelNotRegistered)
        );
    }

    #[test]
    fn authentication_checks_the_token_and_reports_a_replaced_connection() {
        let mut r = registry(false);
        let c = r.register([7; 16]).unwrap();
        let wrong = "07".repeat(15) + "08";
        assert_eq!(
            r.authenticate(c.id, &wrong, conn(1)),
            Err(Refusal::IncorrectToken)
        );
        assert_eq!(
            r.authenticate(c.id, "short", conn(1)),
            Err(Refusal::IncorrectToken)
        );
        assert_eq!(
            r.authenticate(99, &c.token, conn(1)),
            Err(Refusal::IncorrectToken)
        );
        assert_eq!(r.authenticate(c.id, &c.token, conn(1)), Ok(None));
        assert_eq!(r.authenticate(c.id, &c.token, conn(1)), Ok(None));
        assert_eq!(r.authenticate(c.id, &c.token, conn(2)), Ok(Some(conn(1))));
        r.disconnect(c.id, conn(1));
        assert_eq!(
            r.conn_of(c.id),
            Some(conn(2)),
            "a stale disconnect is ignored"
        );
        r.disconnect(c.id, conn(2));
        assert_eq!(r.conn_of(c.id), None);
    }

    #[test]
    fn queues_keep_order_and_their_bounds() {
        let mut r = registry(false);
        let a = r.register([1; 16]).unwrap().id;
        let q = |m: &str| Queued {
            sender: 5,
            message: m.into(),
        };
        assert_eq!(r.enqueue(a, q("12345678901")), Err(Refusal::QueueFull));
        assert_eq!(r.enqueue(a, q("one")), Ok(()));
        assert_eq!(r.enqueue(a, q("two")), Ok(()));
        assert_eq!(r.enqueue(a, q("3")), Err(Refusal::QueueFull), "count bound");
        assert!(r.has_queued(a));
        assert_eq!(r.front(a).unwrap().message, "one");
        r.pop(a);
        assert_eq!(r.enqueue(a, q("seven")), Ok(()));
        assert_eq!(r.enqueue(a, q("x")), Err(Refusal::QueueFull));
        assert_eq!(r.front(a).unwrap().message, "two");
        r.pop(a);
        r.pop(a);
        assert!(!r.has_queued(a));
        assert_eq!(r.enqueue(a, q("0123456789")), Ok(()), "bytes freed on pop");
    }

    #[test]
    fn a_closed_registry_registers_nothing() {
        let mut r = registry(false);
        let a = r.register([1; 16]).unwrap().id;
        let b = r.register([2; 16]).unwrap().id;
        r.closed = true;
        assert_eq!(r.register([3; 16]), Err(RelayError::Closed));
        assert_eq!(r.register_channel(a, b), Err(RelayError::Closed));
    }

    #[test]
    fn a_holder_writes_every_change_through_and_a_relay_alone_nothing() {
        let (journal, changes) = Journal::for_test();
        let mut r = registry(true);
        r.register([1; 16]).unwrap();
        r.role = Role::Holder(journal);
        let b = r.register([2; 16]).unwrap();
        let c = r.register_with_id(9, [3; 16]).unwrap();
        r.register_channel(1, b.id).unwrap();
        r.check_channel(b.id, c.id).unwrap(); // opened by authorize_all_channels
        let q = |m: &str| Queued {
            sender: 1,
            message: m.into(),
        };
        r.enqueue(b.id, q("one")).unwrap();
        assert_eq!(r.enqueue(b.id, q("far too long")), Err(Refusal::QueueFull));
        r.pop(b.id);
        r.pop(b.id); // nothing left: nothing written
        let got: Vec<Change> = changes.try_iter().collect();
        assert_eq!(
            got,
            vec![
                Change::Client {
                    id: b.id,
                    token: b.token.clone()
                },
                Change::Client {
                    id: 9,
                    token: c.token.clone()
                },
                Change::Channel(1, b.id),
                Change::Channel(b.id, 9),
                Change::Push {
                    to: b.id,
                    sender: 1,
                    message: "one".into()
                },
                Change::Pop(b.id),
            ]
        );
    }

    #[test]
    fn a_new_holder_serves_the_brokers_copy_within_its_bounds() {
        let (journal, changes) = Journal::for_test();
        let mut r = registry(false);
        r.role = Role::Standby;
        assert!(!r.serves());
        let token = "ab".repeat(16);
        r.take_over(
            Snapshot {
                clients: vec![
                    (3, token.clone()),
                    (4, "cd".repeat(16)),
                    (5, "short".into()),
                ],
                channels: vec![(3, 4), (3, 5)],
                queues: vec![(4, vec![(3, "a".into()), (3, "b".into()), (3, "c".into())])],
            },
            journal,
        );
        assert!(r.serves());
        assert_eq!(r.authenticate(3, &token, conn(1)), Ok(None));
        assert_eq!(r.check_channel(4, 3), Ok(()));
        assert_eq!(r.check_channel(3, 5), Err(Refusal::ChannelNotRegistered));
        // The count bound (2) keeps the oldest two.
        assert_eq!(r.front(4).unwrap().message, "a");
        r.pop(4);
        assert_eq!(r.front(4).unwrap().message, "b");
        r.pop(4);
        assert!(!r.has_queued(4));
        // Loading wrote nothing back; the pops after it were written.
        let got: Vec<Change> = changes.try_iter().collect();
        assert_eq!(got, vec![Change::Pop(4), Change::Pop(4)]);
        assert_eq!(r.register([0; 16]).unwrap().id, 1, "free ids are taken");
        assert_eq!(r.register([0; 16]).unwrap().id, 2);
        assert_eq!(r.register([0; 16]).unwrap().id, 5, "loaded ids are skipped");
    }

    #[test]
    fn a_rewrite_carries_the_whole_state_and_loads_back_the_same() {
        let (journal, changes) = Journal::for_test();
        let mut r = registry(false);
        r.role = Role::Holder(journal.clone());
        let a = r.register([1; 16]).unwrap();
        let b = r.register([2; 16]).unwrap();
        let c = r.register([3; 16]).unwrap();
        r.register_channel(c.id, a.id).unwrap();
        r.register_channel(a.id, b.id).unwrap();
        let q = |m: &str| Queued {
            sender: a.id,
            message: m.into(),
        };
        r.enqueue(b.id, q("x")).unwrap();
        r.enqueue(b.id, q("y")).unwrap();
        let _: Vec<Change> = changes.try_iter().collect();
        r.rewrite();
        let Ok(Change::Rewrite(snapshot)) = changes.try_recv() else {
            panic!("one rewrite")
        };
        assert_eq!(
            snapshot,
            Snapshot {
                clients: vec![(1, a.token.clone()), (2, b.token), (3, c.token)],
                channels: vec![(1, 2), (1, 3)],
                queues: vec![(2, vec![(1, "x".into()), (1, "y".into())])],
            }
        );
        let mut loaded = registry(false);
        loaded.take_over(snapshot.clone(), journal);
        let _: Vec<Change> = changes.try_iter().collect();
        loaded.rewrite();
        assert_eq!(changes.try_recv(), Ok(Change::Rewrite(snapshot)));
        // A relay alone writes nothing, not even a rewrite.
        let alone = registry(false);
        alone.rewrite();
        assert!(changes.try_recv().is_err());
    }
}
