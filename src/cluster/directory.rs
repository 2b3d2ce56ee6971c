//! The session directory: which nodes have members of a session, kept in the broker so that
//! every node with members of session NAME can find the others and link to them.
//!
//! Key `omniws:session:NAME` is a Redis set of node names. A node adds its name when it has
//! members of NAME ([`ClusterView::session_here`], which answers with the other nodes
//! listed there) and removes it when it has none any more ([`ClusterView::session_gone`]).
//!
//! The loops never wait on the broker: a request goes over a bounded channel to the broker
//! thread (broker.rs), which serves requests between its refreshes, in the order they were
//! sent, one Redis round trip each, and calls the reply there. The thread remembers which
//! sessions this node has, so that a broker that comes back empty learns them again on the
//! next connection ([`Directory::announce`]). When nobody can ask the broker (it is away,
//! the channel is full, no broker thread runs) the reply comes at once with
//! [`Peers::Unreachable`]: never later than one round trip, never never.

use super::broker::KEY_PREFIX;
use super::{ClusterView, Node};
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::Instant;

const SESSION_PREFIX: &str = "omniws:session:";
/// Requests that may wait for the broker thread. A loop sends one when a session gains its
/// first member here or loses its last, so this is thousands of sessions changing within
/// one Redis round trip; beyond it the broker is far behind, and the loop must not wait.
const MAX_PENDING: usize = 4096;

/// Adds this node (ARGV[2]) to the session's set KEYS[1] and lists the others, each with its
/// node key's value (prefix ARGV[1]): its address, or "" when it has no key (dead, or not
/// announced yet), in one step, so that of two nodes joining at once the later sees the
/// earlier. With ARGV[3] = "1" (the broker session is settled: a node without a key is
/// dead, not merely not yet announced again) those without a key are removed too.
const JOIN_AND_LIST: &str = r"
redis.call('SADD', KEYS[1], ARGV[2])
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if name ~= ARGV[2] then
    local addr = redis.call('GET', ARGV[1] .. name)
    if not addr and ARGV[3] == '1' then
      redis.call('SREM', KEYS[1], name)
    end
    out[#out + 1] = name
    out[#out + 1] = addr or ''
  end
end
return out
";

/// What the broker says of the other nodes that have members of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Peers {
    /// The live nodes (with a node key in the broker, this node excluded) that have members.
    Nodes(Vec<Node>),
    /// The broker cannot be asked now; the string says why, for a 503 / close reason, e.g.
    /// "cluster broker unreachable: cannot tell which nodes serve session NAME".
    Unreachable(String),
}

/// Called once with the answer to [`ClusterView::session_here`].
pub(crate) type Reply = Box<dyn FnOnce(Peers) + Send>;

/// What a loop asks of the broker thread.
pub(super) enum Request {
    /// This node has members of the session: record it and reply with the other nodes.
    Here { session: String, reply: Reply },
    /// This node has no members of the session any more.
    Gone { session: String },
}

/// The loops' end of the request channel, kept in the [`ClusterView`].
#[derive(Debug)]
pub(super) struct Requests {
    sender: SyncSender<Request>,
    /// Taken by `broker::spawn` ([`Directory::new`]). While it is still here nobody serves
    /// the channel, and a request is answered at once instead of waiting
    /// forever (a view built without joining, as unit tests do).
    receiver: Mutex<Option<Receiver<Request>>>,
}

impl Default for Requests {
    fn default() -> Self {
        let (sender, receiver) = sync_channel(MAX_PENDING);
        Requests {
            sender,
            receiver: Mutex::new(Some(receiver)),
        }
    }
}

impl Requests {
    fn served(&self) -> bool {
        self.receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    fn take_receiver(&self) -> Option<Receiver<Request>> {
        self.receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

fn unreachable(session: &str) -> Peers {
    Peers::Unreachable(format!(
        "cluster broker unreachable: cannot tell which nodes serve session {session}"
    ))
}

/// Calls `reply`, which is the caller's code: a panic in it must not end the broker thread
/// (the node would drop out of the cluster), so it is caught and logged.
fn answer(reply: Reply, peers: Peers) {
    if catch_unwind(AssertUnwindSafe(|| reply(peers))).is_err() {
        log::error!("cluster: a session directory reply panicked");
    }
}

impl ClusterView {
    /// This node has members of `session`: record it in the broker and call `reply` (on the
    /// broker thread, or at once on the caller's thread when the broker cannot be asked)
    /// with the other nodes that have members. Never blocks the caller.
    pub(crate) fn session_here(&self, session: &str, reply: Reply) {
        if !self.directory.served() {
            return answer(
                reply,
                Peers::Unreachable(format!(
                    "cluster broker not joined: cannot tell which nodes serve session {session}"
                )),
            );
        }
        let request = Request::Here {
            session: session.to_owned(),
            reply,
        };
        match self.directory.sender.try_send(request) {
            Ok(()) => {}
            Err(TrySendError::Full(Request::Here { reply, .. })) => {
                log::warn!("cluster: broker thread {MAX_PENDING} requests behind; session {session} not recorded");
                answer(
                    reply,
                    Peers::Unreachable(format!(
                        "cluster broker busy: cannot tell which nodes serve session {session}"
                    )),
                );
            }
            // The broker thread ended (it never does unless it panicked).
            Err(TrySendError::Disconnected(Request::Here { reply, .. })) => {
                log::error!("cluster: broker thread gone; session {session} not recorded");
                answer(reply, unreachable(session));
            }
            Err(TrySendError::Full(Request::Gone { .. }))
            | Err(TrySendError::Disconnected(Request::Gone { .. })) => {}
        }
    }

    /// This node has no members of `session` any more.
    pub(crate) fn session_gone(&self, session: &str) {
        if !self.directory.served() {
            return;
        }
        let request = Request::Gone {
            session: session.to_owned(),
        };
        match self.directory.sender.try_send(request) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => log::warn!(
                "cluster: broker thread {MAX_PENDING} requests behind; session {session} \
                 stays listed for this node until it reconnects"
            ),
            Err(TrySendError::Disconnected(_)) => {
                log::error!("cluster: broker thread gone; session {session} stays listed")
            }
        }
    }
}

/// The broker thread's end: the requests, and the sessions this node has.
pub(super) struct Directory {
    /// `None` when another thread already serves this view's requests (the view was
    /// spawned twice): this one then only keeps its cadence.
    receiver: Option<Receiver<Request>>,
    /// Sessions this node has members of, as the loops last said.
    sessions: BTreeSet<String>,
    /// Sessions this node no longer has whose removal the broker has not confirmed: removed
    /// again on the next announce, or peers would go on linking to this node for them.
    unconfirmed_gone: BTreeSet<String>,
}

impl Directory {
    /// Takes `view`'s request channel, for the broker thread: from now on it answers every
    /// request (or, should it end, the senders see the channel closed and answer at once).
    pub(super) fn new(view: &ClusterView) -> Self {
        let receiver = view.directory.take_receiver();
        if receiver.is_none() {
            log::error!("cluster: a second broker thread for one node; it serves no sessions");
        }
        Directory {
            receiver,
            sessions: BTreeSet::new(),
            unconfirmed_gone: BTreeSet::new(),
        }
    }

    /// Adds to `pipe` (an atomic pipeline that first sets this node's key) what the broker
    /// must learn again when it may have lost it (it restarted empty, or this node's key
    /// lapsed and other nodes pruned this node's entries): every session this node has,
    /// and the removal of those it gave up unconfirmed. Call [`Directory::announced`] once
    /// the broker took it.
    pub(super) fn announce(&self, pipe: &mut redis::Pipeline, me: &str) {
        for session in &self.sessions {
            pipe.cmd("SADD")
                .arg(format!("{SESSION_PREFIX}{session}"))
                .arg(me)
                .ignore();
        }
        for session in &self.unconfirmed_gone {
            pipe.cmd("SREM")
                .arg(format!("{SESSION_PREFIX}{session}"))
                .arg(me)
                .ignore();
        }
    }

    /// The broker took what [`Directory::announce`] added.
    pub(super) fn announced(&mut self) {
        if !self.sessions.is_empty() {
            log::debug!(
                "cluster: {} session(s) listed for this node again",
                self.sessions.len()
            );
        }
        self.unconfirmed_gone.clear();
    }

    /// Serve requests until `deadline` (the next refresh), over `con`. `settled`: the
    /// session with the broker has lasted a node key's life, so a node without a key in
    /// the broker is dead, not merely not yet announced. A Redis error ends the wait (the
    /// request it hit is answered with [`Peers::Unreachable`]); the caller reconnects.
    pub(super) fn serve_until(
        &mut self,
        deadline: Instant,
        view: &ClusterView,
        con: &mut redis::Connection,
        settled: bool,
    ) -> redis::RedisResult<()> {
        while let Some(request) = self.next_before(deadline) {
            self.serve(request, view, con, settled)?;
        }
        Ok(())
    }

    /// Answer requests until `deadline` while the broker cannot be reached: every `here`
    /// at once with [`Peers::Unreachable`]; both still change what this node has, so the
    /// next connection announces it.
    pub(super) fn unreachable_until(&mut self, deadline: Instant) {
        while let Some(request) = self.next_before(deadline) {
            match request {
                Request::Here { session, reply } => {
                    self.remember(&session);
                    answer(reply, unreachable(&session));
                }
                Request::Gone { session } => self.forget(&session),
            }
        }
    }

    /// The next request sent, or `None` once `deadline` has passed.
    fn next_before(&self, deadline: Instant) -> Option<Request> {
        let wait = deadline.saturating_duration_since(Instant::now());
        let Some(receiver) = &self.receiver else {
            std::thread::sleep(wait);
            return None;
        };
        if wait.is_zero() {
            return None;
        }
        match receiver.recv_timeout(wait) {
            Ok(request) => Some(request),
            Err(RecvTimeoutError::Timeout) => None,
            // The view holds the sender and this thread holds the view: not while it runs.
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                None
            }
        }
    }

    fn remember(&mut self, session: &str) {
        self.unconfirmed_gone.remove(session);
        self.sessions.insert(session.to_owned());
    }

    fn forget(&mut self, session: &str) {
        if self.sessions.remove(session) {
            self.unconfirmed_gone.insert(session.to_owned());
        }
    }

    fn serve(
        &mut self,
        request: Request,
        view: &ClusterView,
        con: &mut redis::Connection,
        settled: bool,
    ) -> redis::RedisResult<()> {
        let me = view.options.node_name.as_str();
        match request {
            Request::Here { session, reply } => {
                self.remember(&session);
                let key = format!("{SESSION_PREFIX}{session}");
                // Liveness and addresses from the node keys as they are now, not from this
                // node's table, which may not list a node that joined in the last second:
                // two such nodes would each find the other missing, and split the session.
                let listed = redis::cmd("EVAL")
                    .arg(JOIN_AND_LIST)
                    .arg(1)
                    .arg(&key)
                    .arg(KEY_PREFIX)
                    .arg(me)
                    .arg(if settled { "1" } else { "0" })
                    .query::<Vec<String>>(con);
                let listed = match listed {
                    Ok(listed) => listed,
                    Err(e) => {
                        answer(reply, unreachable(&session));
                        return Err(e);
                    }
                };
                let mut peers = Vec::new();
                let mut dead = Vec::new();
                for pair in listed.chunks_exact(2) {
                    let (name, addr) = (&pair[0], &pair[1]);
                    if addr.is_empty() {
                        dead.push(name);
                    } else if let Ok(addr) = addr.parse() {
                        peers.push(Node {
                            name: name.clone(),
                            addr,
                        });
                    } else {
                        log::warn!("cluster: node {name} advertises {addr:?}, not an address");
                    }
                }
                answer(reply, Peers::Nodes(peers));
                if settled && !dead.is_empty() {
                    log::debug!("cluster: session {session}: dead nodes {dead:?} unlisted");
                }
                Ok(())
            }
            Request::Gone { session } => {
                self.forget(&session);
                redis::cmd("SREM")
                    .arg(format!("{SESSION_PREFIX}{session}"))
                    .arg(me)
                    .query::<()>(con)?;
                self.unconfirmed_gone.remove(&session);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{join, ClusterOptions};
    use std::net::{SocketAddr, TcpListener};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// A `redis-server` of the test's own on a loopback port, killed when dropped.
    struct Redis(Child);

    impl Redis {
        fn start(port: u16) -> Redis {
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server runs (Debian package redis-server)");
            let redis = Redis(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "redis-server did not listen");
                std::thread::sleep(Duration::from_millis(20));
            }
            redis
        }
    }

    impl Drop for Redis {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn node(name: &str, redis_port: u16) -> (Arc<ClusterView>, Node) {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let view = join(ClusterOptions {
            broker: format!("redis://127.0.0.1:{redis_port}"),
            node_name: name.into(),
            advertise: addr,
            token: None,
        })
        .unwrap();
        let node = Node {
            name: name.into(),
            addr,
        };
        (view, node)
    }

    /// Asks `view` and waits (bounded) for its reply.
    fn here(view: &ClusterView, session: &str) -> Peers {
        let (tx, rx) = mpsc::channel();
        view.session_here(
            session,
            Box::new(move |peers| {
                let _ = tx.send(peers);
            }),
        );
        rx.recv_timeout(Duration::from_secs(5))
            .expect("a reply within 5 s")
    }

    /// Asks `view` until `ok` holds of the reply, for at most `within`.
    fn await_here(
        view: &ClusterView,
        session: &str,
        within: Duration,
        ok: impl Fn(&Peers) -> bool,
    ) -> Peers {
        let deadline = Instant::now() + within;
        loop {
            let peers = here(view, session);
            if ok(&peers) {
                return peers;
            }
            assert!(
                Instant::now() < deadline,
                "still {peers:?} after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn await_table(views: &[&ClusterView], len: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !views.iter().all(|v| v.healthy() && v.nodes().len() == len) {
            assert!(Instant::now() < deadline, "tables never listed {len} nodes");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn without_a_broker_thread_the_reply_comes_at_once() {
        let view = ClusterView::new(ClusterOptions {
            broker: "redis://127.0.0.1:1".into(),
            node_name: "a".into(),
            advertise: "127.0.0.1:1".parse().unwrap(),
            token: None,
        });
        let (tx, rx) = mpsc::channel();
        view.session_here("s", Box::new(move |peers| tx.send(peers).unwrap()));
        assert!(matches!(rx.try_recv(), Ok(Peers::Unreachable(_))));
        view.session_gone("s");
    }

    #[test]
    fn nodes_find_each_other_per_session_and_again_after_the_broker_restarts() {
        let port = free_port();
        let redis = Redis::start(port);
        let (a, node_a) = node("a", port);
        let (b, _) = node("b", port);
        await_table(&[&a, &b], 2);

        assert_eq!(here(&a, "s"), Peers::Nodes(vec![]));
        assert_eq!(here(&b, "s"), Peers::Nodes(vec![node_a.clone()]));
        assert_eq!(here(&b, "other"), Peers::Nodes(vec![]));
        let node_b = Node {
            name: "b".into(),
            addr: b.options().advertise,
        };
        a.session_gone("s");
        // A serves its requests in order: once it answers this one, "s" is gone from the
        // broker (and B, in "other", is A's peer there).
        assert_eq!(here(&a, "other"), Peers::Nodes(vec![node_b.clone()]));
        assert_eq!(here(&b, "s"), Peers::Nodes(vec![]));
        assert_eq!(here(&a, "s"), Peers::Nodes(vec![node_b]));

        // A dead node's entry (no node key) is never a peer, and is unlisted once B's
        // session with the broker has settled.
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap();
        let ghost_listed = |con: &mut redis::Connection| -> bool {
            redis::cmd("SISMEMBER")
                .arg("omniws:session:s")
                .arg("ghost")
                .query(con)
                .unwrap()
        };
        redis::cmd("SADD")
            .arg("omniws:session:s")
            .arg("ghost")
            .query::<()>(&mut con)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while ghost_listed(&mut con) {
            assert_eq!(here(&b, "s"), Peers::Nodes(vec![node_a.clone()]));
            assert!(Instant::now() < deadline, "the dead node stayed listed");
            std::thread::sleep(Duration::from_millis(100));
        }

        drop(redis);
        for view in [&a, &b] {
            await_here(
                view,
                "s",
                Duration::from_secs(5),
                |p| matches!(p, Peers::Unreachable(reason) if reason.contains("session s")),
            );
        }

        // Back empty: A lists itself again when it reconnects, without being asked.
        let _redis = Redis::start(port);
        await_here(&b, "s", Duration::from_secs(15), |p| {
            *p == Peers::Nodes(vec![node_a.clone()])
        });
    }
}
