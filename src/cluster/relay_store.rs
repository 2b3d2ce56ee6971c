//! The relay's state in the broker, so that it outlives the node holding the relay's lease
//! (docs/scale-out.md, "Failures of the relay").
//!
//! While a node holds the lease, its relay writes every change through: a registration,
//! a channel, a message queued for a client connected nowhere, and the removal of a queued
//! message once sent. The changes go, in order, over a bounded channel to a writer thread of
//! their own ([`Journal`]), which applies each batch to Redis in one `MULTI`/`EXEC`; the
//! loop never waits on the broker. A node that takes the lease reads it all back on its
//! broker thread ([`load`]) and hands it to its relay before the relay serves anyone.
//!
//! Keys: `omniws:relay:clients` (hash: id → token), `omniws:relay:channels` (set of `A:B`,
//! A < B), `omniws:relay:queue:ID` (list of `SENDER:MESSAGE`, oldest first). A queue in
//! Redis mirrors the in-memory one, so it has the same bounds (messages and bytes).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, Weak};
use std::time::Duration;

const CLIENTS: &str = "omniws:relay:clients";
const CHANNELS: &str = "omniws:relay:channels";
const QUEUE_PREFIX: &str = "omniws:relay:queue:";
/// Changes that may wait for the writer; beyond them a change is dropped (and logged): the
/// broker is far behind, and the loop must not wait for it.
pub(crate) const MAX_PENDING: usize = 65_536;
/// Changes applied in one transaction at most.
const MAX_BATCH: usize = 1024;
/// Queues read in one round trip when loading.
const LOAD_BATCH: usize = 512;
/// How long the writer waits for the broker before it tries again.
const TIMEOUT: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One change of the relay's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// A client was registered with this token.
    Client { id: u64, token: String },
    /// A channel between two clients was opened.
    Channel(u64, u64),
    /// A message for `to` was queued.
    Push {
        to: u64,
        sender: u64,
        message: String,
    },
    /// The oldest message queued for this client was sent.
    Pop(u64),
    /// The whole state, replacing what the broker holds (after the broker came back: it
    /// may have come back empty).
    Rewrite(Snapshot),
}

/// The relay's state as the broker holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub clients: Vec<(u64, String)>,
    pub channels: Vec<(u64, u64)>,
    /// Each client's queue, oldest first: (sender, message).
    pub queues: Vec<(u64, Vec<(u64, String)>)>,
}

/// What the broker thread tells the relay of this node.
pub(crate) trait RelayHolder: Send + Sync {
    /// This node took the lease: serve `snapshot` from now on, writing changes through.
    fn take_over(&self, snapshot: Snapshot, journal: Journal);
    /// This node no longer holds the lease: stop serving and writing.
    fn give_up(&self);
    /// This node holds the lease and has reached the broker again: write the whole state
    /// through, as the broker may have lost it.
    fn rewrite(&self);
}

/// The sending end of the write-through: cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub(crate) struct Journal {
    sender: SyncSender<Change>,
}

/// Changes dropped because the writer was [`MAX_PENDING`] behind.
static DROPPED: AtomicU64 = AtomicU64::new(0);

impl Journal {
    /// Pass `change` to the writer. Dropped, with a warning, when the writer is far
    /// behind or gone.
    pub(crate) fn record(&self, change: Change) {
        match self.sender.try_send(change) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let n = DROPPED.fetch_add(1, Ordering::Relaxed);
                if n.is_power_of_two() || n == 0 {
                    log::warn!(
                        "relay write-through: {} change(s) waiting for the broker, {} dropped",
                        MAX_PENDING,
                        n + 1
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                log::warn!("relay write-through: the writer thread is gone");
            }
        }
    }

    /// A journal whose changes land in `receiver` (for tests).
    #[cfg(test)]
    pub(crate) fn for_test() -> (Journal, Receiver<Change>) {
        let (sender, receiver) = mpsc::sync_channel(MAX_PENDING);
        (Journal { sender }, receiver)
    }
}

/// Start the writer thread for the broker at `url`.
pub(crate) fn writer(url: String) -> std::io::Result<Journal> {
    let (sender, receiver) = mpsc::sync_channel(MAX_PENDING);
    std::thread::Builder::new()
        .name("omniws-relay-store".into())
        .spawn(move || write_all(&url, &receiver))?;
    Ok(Journal { sender })
}

/// Apply every change, in order, retrying a batch until the broker takes it. A batch whose
/// answer was lost (the connection dropped after `EXEC`) is applied again: a message
/// queued twice, or one removal too many (docs/scale-out.md counts it among the losses).
fn write_all(url: &str, receiver: &Receiver<Change>) {
    let mut con: Option<redis::Connection> = None;
    let mut batch: Vec<Change> = Vec::new();
    let mut backoff = Duration::from_millis(100);
    loop {
        if batch.is_empty() {
            match receiver.recv() {
                Ok(change) => batch.push(change),
                Err(_) => return, // the relay is gone
            }
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(change) => batch.push(change),
                    Err(_) => break,
                }
            }
        }
        let result = match con.as_mut() {
            Some(c) => apply(c, &batch),
            None => connect(url).and_then(|mut c| {
                let r = apply(&mut c, &batch);
                con = Some(c);
                r
            }),
        };
        match result {
            Ok(()) => {
                batch.clear();
                backoff = Duration::from_millis(100);
            }
            Err(e) => {
                log::warn!(
                    "relay write-through: {} change(s) not yet in the broker ({e}); retrying",
                    batch.len()
                );
                con = None;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn connect(url: &str) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(url)?;
    let con = client.get_connection_with_timeout(TIMEOUT)?;
    con.set_read_timeout(Some(TIMEOUT))?;
    con.set_write_timeout(Some(TIMEOUT))?;
    Ok(con)
}

fn queue_key(id: u64) -> String {
    format!("{QUEUE_PREFIX}{id}")
}

fn apply(con: &mut redis::Connection, batch: &[Change]) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    for change in batch {
        match change {
            Change::Client { id, token } => {
                pipe.cmd("HSET").arg(CLIENTS).arg(*id).arg(token).ignore();
            }
            Change::Channel(a, b) => {
                let (a, b) = ((*a).min(*b), (*a).max(*b));
                pipe.cmd("SADD")
                    .arg(CHANNELS)
                    .arg(format!("{a}:{b}"))
                    .ignore();
            }
            Change::Push {
                to,
                sender,
                message,
            } => {
                pipe.cmd("RPUSH")
                    .arg(queue_key(*to))
                    .arg(format!("{sender}:{message}"))
                    .ignore();
            }
            Change::Pop(id) => {
                pipe.cmd("LPOP").arg(queue_key(*id)).ignore();
            }
            Change::Rewrite(snapshot) => rewrite(&mut pipe, snapshot),
        }
    }
    pipe.query::<()>(con)
}

/// Replace the broker's copy with `snapshot`. Clients are never removed, so the queues to
/// clear are those of the snapshot's clients.
fn rewrite(pipe: &mut redis::Pipeline, snapshot: &Snapshot) {
    pipe.cmd("DEL").arg(CLIENTS).arg(CHANNELS).ignore();
    for (id, token) in &snapshot.clients {
        pipe.cmd("DEL").arg(queue_key(*id)).ignore();
        pipe.cmd("HSET").arg(CLIENTS).arg(*id).arg(token).ignore();
    }
    for &(a, b) in &snapshot.channels {
        let (a, b) = (a.min(b), a.max(b));
        pipe.cmd("SADD")
            .arg(CHANNELS)
            .arg(format!("{a}:{b}"))
            .ignore();
    }
    for (to, queue) in &snapshot.queues {
        for (sender, message) in queue {
            pipe.cmd("RPUSH")
                .arg(queue_key(*to))
                .arg(format!("{sender}:{message}"))
                .ignore();
        }
    }
}

/// Read the relay's state from the broker (on the broker thread, when this node takes the
/// lease). Entries that do not parse are skipped with a warning.
pub(crate) fn load(con: &mut redis::Connection) -> redis::RedisResult<Snapshot> {
    let clients: Vec<(String, String)> = redis::cmd("HGETALL").arg(CLIENTS).query(con)?;
    let mut snapshot = Snapshot::default();
    for (id, token) in clients {
        match id.parse::<u64>() {
            Ok(id) if token.len() == 32 => snapshot.clients.push((id, token)),
            _ => log::warn!("relay store: skipping malformed client {id:?}"),
        }
    }
    snapshot.clients.sort();
    let channels: Vec<String> = redis::cmd("SMEMBERS").arg(CHANNELS).query(con)?;
    for channel in channels {
        let pair = channel
            .split_once(':')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
        match pair {
            Some(pair) => snapshot.channels.push(pair),
            None => log::warn!("relay store: skipping malformed channel {channel:?}"),
        }
    }
    snapshot.channels.sort();
    // The queues, [`LOAD_BATCH`] clients per round trip: the broker thread must get back to
    // renewing this node's key well within its life.
    for clients in snapshot.clients.chunks(LOAD_BATCH) {
        let mut pipe = redis::pipe();
        for &(id, _) in clients {
            pipe.cmd("LRANGE").arg(queue_key(id)).arg(0).arg(-1);
        }
        let queues: Vec<Vec<String>> = pipe.query(con)?;
        for (&(id, _), entries) in clients.iter().zip(queues) {
            let queue: Vec<(u64, String)> = entries
                .into_iter()
                .filter_map(|entry| {
                    let (sender, message) = entry.split_once(':')?;
                    Some((sender.parse().ok()?, message.to_owned()))
                })
                .collect();
            if !queue.is_empty() {
                snapshot.queues.push((id, queue));
            }
        }
    }
    Ok(snapshot)
}

/// The relay a [`super::ClusterView`] tells about the lease, and the write-through that
/// relay uses while it holds it (started at the first takeover).
#[derive(Default)]
pub(crate) struct Holder {
    relay: Mutex<Option<Weak<dyn RelayHolder>>>,
    journal: Mutex<Option<Journal>>,
}

impl std::fmt::Debug for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Holder")
    }
}

impl super::ClusterView {
    /// The relay of this node: it serves only after [`RelayHolder::take_over`].
    pub(crate) fn set_relay_holder(&self, relay: Weak<dyn RelayHolder>) {
        *self.relay.relay.lock().unwrap_or_else(|p| p.into_inner()) = Some(relay);
    }

    fn relay_holder_hook(&self) -> Option<std::sync::Arc<dyn RelayHolder>> {
        let relay = self.relay.relay.lock().unwrap_or_else(|p| p.into_inner());
        relay.as_ref().and_then(Weak::upgrade)
    }

    /// This node has just taken the relay's lease (on the broker thread): load the relay's
    /// state from the broker and hand it to this node's relay. False when there is no relay
    /// on this node yet (the next refresh tries again).
    pub(crate) fn relay_taken(&self, con: &mut redis::Connection) -> redis::RedisResult<bool> {
        let Some(relay) = self.relay_holder_hook() else {
            return Ok(false);
        };
        let snapshot = load(con)?;
        let journal = {
            let mut journal = self.relay.journal.lock().unwrap_or_else(|p| p.into_inner());
            match journal.as_ref() {
                Some(j) => j.clone(),
                None => {
                    let j = writer(self.options.broker.clone())?;
                    *journal = Some(j.clone());
                    j
                }
            }
        };
        log::info!(
            "cluster: relay loaded from the broker ({} client(s), {} channel(s), {} message(s) queued)",
            snapshot.clients.len(),
            snapshot.channels.len(),
            snapshot.queues.iter().map(|(_, q)| q.len()).sum::<usize>()
        );
        relay.take_over(snapshot, journal);
        Ok(true)
    }

    /// This node holds the relay's lease and has reached the broker again.
    pub(crate) fn relay_rewrite(&self) {
        if let Some(relay) = self.relay_holder_hook() {
            relay.rewrite();
        }
    }

    /// This node no longer holds the relay's lease.
    pub(crate) fn relay_lost(&self) {
        if let Some(relay) = self.relay_holder_hook() {
            relay.give_up();
        }
    }
}
