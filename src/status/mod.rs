//! What the server can say about itself: a [`Status`] snapshot taken on the loop thread, and
//! its three renderings (JSON for machines and the demo page, the Prometheus text exposition
//! format for scrapers, HTML for people).
//!
//! The loop keeps the counters that outlive connections in a [`Census`] (only the loop
//! writes them, so they are plain integers); a snapshot adds what is live now (open
//! connections, queues, the groups handlers report). Names of sessions and relay client ids
//! are private: a snapshot carries them only when asked to ([`Disclosure`]).

mod html;
mod json;
mod prometheus;

use crate::socket::SocketId;
use crate::stats::StatsSnapshot;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use ws_protocols::Dialect;

pub use html::html_escape;

/// How much a [`Status`] may reveal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// Aggregates only: counts by dialect and endpoint, bytes, histograms.
    Aggregates,
    /// Aggregates, and the one session of this name with its members (whoever knows a
    /// session's name can join it, so knowing it is what this asks).
    Session(String),
    /// Everything: every session by name with its members, every relay client by id.
    Everything,
}

/// A snapshot of the server, taken on the loop thread ([`crate::Handle::status`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Status {
    /// The server's version (the crate's).
    pub version: &'static str,
    /// Time since the server started.
    pub uptime: Duration,
    /// The server-wide counters ([`crate::Handle::stats`]).
    pub totals: StatsSnapshot,
    /// Connections still in their opening handshake.
    pub handshaking: usize,
    /// Per mounted endpoint, per dialect: connections and traffic.
    pub endpoints: Vec<EndpointStatus>,
    /// Opening handshakes refused, by the HTTP status they were answered with.
    pub refused: BTreeMap<u16, u64>,
    /// Opening handshakes that timed out.
    pub handshake_timeouts: u64,
    /// Seconds from accepting a connection to its `101`.
    pub handshake_seconds: Histogram,
    /// Sizes of the messages received (after inflating), in bytes.
    pub message_bytes: Histogram,
    /// The write queue's high- and low-water marks ([`crate::Settings::write_high_water`]).
    pub water_marks: (usize, usize),
    /// Connections on each of the server's loops ([`crate::Builder::threads`]), in order.
    pub loops: Vec<usize>,
    /// Pipe sessions: how many, and how many members they have.
    pub sessions: GroupSummary,
    /// Relay clients: registered, connected, and what waits for them.
    pub relay: RelaySummary,
    /// Sessions by name with their members; empty unless the snapshot was taken with a
    /// [`Disclosure`] that allows them.
    pub session_list: Vec<SessionStatus>,
    /// Relay clients by id; empty unless taken with [`Disclosure::Everything`].
    pub relay_list: Vec<RelayClientStatus>,
    /// The cluster this node belongs to, if any.
    pub cluster: Option<ClusterStatus>,
    /// What this snapshot was allowed to reveal.
    pub disclosure: Disclosure,
}

/// This node's view of its cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStatus {
    /// This node's name.
    pub node: String,
    /// Whether the broker answered within a node key's lifetime.
    pub healthy: bool,
    /// The nodes in the table, by name.
    pub nodes: Vec<String>,
    /// The node that serves the relay, as far as the table tells.
    pub relay_node: Option<String>,
}

/// One mounted endpoint (its path pattern, such as `/sessions/*`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStatus {
    /// The pattern the handler is mounted at.
    pub endpoint: String,
    /// One row per dialect that has been seen here.
    pub dialects: Vec<DialectStatus>,
}

/// Traffic of one dialect at one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DialectStatus {
    /// The dialect.
    pub dialect: Option<Dialect>,
    /// Connections open now.
    pub open: usize,
    /// Opening handshakes accepted since start.
    pub accepted: u64,
    /// Messages received since start.
    pub messages_in: u64,
    /// Bytes read from the sockets of this row (open and closed connections; TLS records
    /// and frame headers included).
    pub bytes_in: u64,
    /// Bytes written to them.
    pub bytes_out: u64,
}

/// A count of groups and of their members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupSummary {
    /// Groups (sessions).
    pub count: usize,
    /// Members over all of them.
    pub members: usize,
}

/// The relay's clients, without their ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelaySummary {
    /// Registered clients.
    pub clients: usize,
    /// Of them, connected now.
    pub connected: usize,
    /// Messages queued for clients that are away or slow.
    pub queued_messages: usize,
    /// Their bytes.
    pub queued_bytes: usize,
}

/// One pipe session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStatus {
    /// The session's name (the path after `/sessions/`).
    pub name: String,
    /// Its members, in the order they joined.
    pub members: Vec<MemberStatus>,
}

/// One connection, as a member of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberStatus {
    /// The connection.
    pub id: SocketId,
    /// The loop that serves it (0 unless the server runs several).
    pub loop_index: usize,
    /// Its dialect (known once it is open).
    pub dialect: Option<Dialect>,
    /// Whether it came over TLS.
    pub secure: bool,
    /// Bytes read from it.
    pub bytes_in: u64,
    /// Bytes written to it.
    pub bytes_out: u64,
    /// Bytes waiting to be written to it.
    pub queued: usize,
    /// Whether reading from it is paused (by its handler, or because its own queue passed
    /// the high-water mark).
    pub paused: bool,
    /// For a member on another node of a cluster: that node. The connection is then the
    /// link from that node that stands for the member here, and `dialect` is the member's
    /// own, as its node said.
    pub node: Option<String>,
}

/// One relay client.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayClientStatus {
    /// Its id.
    pub id: u64,
    /// Its connection, if connected.
    pub connection: Option<SocketId>,
    /// Messages waiting for it.
    pub queued_messages: usize,
    /// Their bytes.
    pub queued_bytes: usize,
}

/// Counts of observations in buckets (cumulative when rendered for Prometheus).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Upper bounds of the buckets; one more bucket above the last takes the rest.
    pub bounds: &'static [f64],
    /// Observations per bucket (not cumulative), `bounds.len() + 1` of them.
    pub counts: Vec<u64>,
    /// The sum of all observations.
    pub sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn add(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.sum += other.sum;
    }

    fn observe(&mut self, value: f64) {
        let bucket = self.bounds.partition_point(|&bound| bound < value);
        self.counts[bucket] += 1;
        self.sum += value;
    }
}

impl Status {
    /// The snapshots of two loops of one server as one: counts add up, lists join. The
    /// server-wide counters and the relay (one registry for all loops) are the same in both.
    pub(crate) fn merge(mut self, other: Status) -> Status {
        self.uptime = self.uptime.max(other.uptime);
        self.handshaking += other.handshaking;
        for (i, n) in other.loops.into_iter().enumerate() {
            if i < self.loops.len() {
                self.loops[i] += n;
            } else {
                self.loops.push(n);
            }
        }
        for (mine, theirs) in self.endpoints.iter_mut().zip(other.endpoints) {
            for row in theirs.dialects {
                match mine.dialects.iter_mut().find(|r| r.dialect == row.dialect) {
                    Some(r) => {
                        r.open += row.open;
                        r.accepted += row.accepted;
                        r.messages_in += row.messages_in;
                        r.bytes_in += row.bytes_in;
                        r.bytes_out += row.bytes_out;
                    }
                    None => mine.dialects.push(row),
                }
            }
            mine.dialects.sort_by_key(|r| r.dialect.map(dialect_index));
        }
        for (status, n) in other.refused {
            *self.refused.entry(status).or_default() += n;
        }
        self.handshake_timeouts += other.handshake_timeouts;
        self.handshake_seconds.add(&other.handshake_seconds);
        self.message_bytes.add(&other.message_bytes);
        self.sessions.count += other.sessions.count;
        self.sessions.members += other.sessions.members;
        self.session_list.extend(other.session_list);
        self.cluster = self.cluster.or(other.cluster);
        if self.relay.clients == 0 {
            self.relay = other.relay;
            self.relay_list = other.relay_list;
        }
        self
    }
}

/// Handshake durations, seconds.
const HANDSHAKE_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Message sizes, bytes: powers of four from 16 B to 64 MiB.
const MESSAGE_BOUNDS: &[f64] = &[
    16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// What a handler tells a [`Status`] about the groups of connections it keeps
/// ([`crate::Handler::report`]).
#[derive(Default)]
pub struct Report {
    pub(crate) sessions: Vec<(String, Vec<SocketId>)>,
    /// Members that stand for clients of other nodes: the node, and the client's dialect.
    pub(crate) remote: HashMap<SocketId, (String, Option<Dialect>)>,
    pub(crate) relay_clients: Vec<RelayClientStatus>,
    pub(crate) cluster: Option<ClusterStatus>,
}

impl Report {
    /// A group of connections under a name (a pipe session).
    pub fn session(&mut self, name: &str, members: &[SocketId]) {
        self.sessions.push((name.to_owned(), members.to_vec()));
    }

    /// Member `id` of a session stands for a client of `node` speaking `dialect`.
    pub(crate) fn remote_member(&mut self, id: SocketId, node: &str, dialect: Option<Dialect>) {
        self.remote.insert(id, (node.to_owned(), dialect));
    }

    /// The cluster the handler's node belongs to.
    pub fn cluster(&mut self, view: &crate::cluster::ClusterView) {
        self.cluster = Some(ClusterStatus {
            node: view.options().node_name.clone(),
            healthy: view.healthy(),
            nodes: view.nodes().into_iter().map(|n| n.name).collect(),
            relay_node: view.relay_node(),
        });
    }

    /// A relay client, with its connection if connected and what waits for it.
    pub fn relay_client(
        &mut self,
        id: u64,
        connection: Option<SocketId>,
        queued_messages: usize,
        queued_bytes: usize,
    ) {
        self.relay_clients.push(RelayClientStatus {
            id,
            connection,
            queued_messages,
            queued_bytes,
        });
    }
}

/// The loop's own counters, which outlive connections.
pub(crate) struct Census {
    started: Instant,
    /// Per route, per dialect (`Dialect::ALL` order).
    rows: Vec<[DialectStatus; DIALECTS]>,
    refused: BTreeMap<u16, u64>,
    handshake_timeouts: u64,
    handshake_seconds: Histogram,
    /// Message sizes by bucket index (see [`size_bucket`]): kept apart from a
    /// [`Histogram`] so the per-message cost is an index and an add.
    message_counts: [u64; MESSAGE_BOUNDS.len() + 1],
    message_sum: u64,
}

const DIALECTS: usize = Dialect::ALL.len();

/// The position of `dialect` in `Dialect::ALL`.
fn dialect_index(dialect: Dialect) -> usize {
    Dialect::ALL.iter().position(|&d| d == dialect).unwrap_or(0)
}

/// The bucket of a message of `size` bytes among `MESSAGE_BOUNDS` (powers of four from
/// 2^4), computed from the bit length instead of searched.
fn size_bucket(size: u64) -> usize {
    let bits = 64 - size.saturating_sub(1).leading_zeros() as usize; // ceil(log2(size))
    bits.saturating_sub(4).div_ceil(2).min(MESSAGE_BOUNDS.len())
}

impl Census {
    pub(crate) fn new(routes: usize) -> Self {
        Census {
            started: Instant::now(),
            rows: (0..routes)
                .map(|_| std::array::from_fn(|i| row(Dialect::ALL[i])))
                .collect(),
            refused: BTreeMap::new(),
            handshake_timeouts: 0,
            handshake_seconds: Histogram::new(HANDSHAKE_BOUNDS),
            message_counts: [0; MESSAGE_BOUNDS.len() + 1],
            message_sum: 0,
        }
    }

    fn row(&mut self, route: usize, dialect: Dialect) -> Option<&mut DialectStatus> {
        self.rows
            .get_mut(route)
            .map(|r| &mut r[dialect_index(dialect)])
    }

    /// A connection at `route` opened in `dialect`, `took` after it was accepted.
    pub(crate) fn opened(&mut self, route: usize, dialect: Dialect, took: Duration) {
        if let Some(row) = self.row(route, dialect) {
            row.accepted += 1;
        }
        self.handshake_seconds.observe(took.as_secs_f64());
    }

    pub(crate) fn refused(&mut self, status: u16) {
        *self.refused.entry(status).or_default() += 1;
    }

    pub(crate) fn handshake_timed_out(&mut self) {
        self.handshake_timeouts += 1;
    }

    /// A whole message of `size` bytes arrived.
    pub(crate) fn message(&mut self, route: usize, dialect: Dialect, size: u64) {
        if let Some(row) = self.row(route, dialect) {
            row.messages_in += 1;
        }
        self.message_counts[size_bucket(size)] += 1;
        self.message_sum += size;
    }

    /// A connection closed: its bytes join its row's totals.
    pub(crate) fn closed(&mut self, route: usize, dialect: Dialect, bytes_in: u64, bytes_out: u64) {
        if let Some(row) = self.row(route, dialect) {
            row.bytes_in += bytes_in;
            row.bytes_out += bytes_out;
        }
    }
}

fn row(dialect: Dialect) -> DialectStatus {
    DialectStatus {
        dialect: Some(dialect),
        ..DialectStatus::default()
    }
}

/// What the loop knows of one live connection, for a snapshot.
pub(crate) struct Live {
    pub route: Option<usize>,
    pub member: MemberStatus,
}

/// Put a snapshot together: the census, the live connections, the handlers' reports.
#[allow(clippy::too_many_arguments)]
pub(crate) fn snapshot(
    census: &Census,
    loop_index: usize,
    totals: StatsSnapshot,
    endpoints: &[String],
    water_marks: (usize, usize),
    live: &[Live],
    report: Report,
    disclosure: Disclosure,
) -> Status {
    let mut rows = census.rows.clone();
    let mut handshaking = 0;
    let mut members = BTreeMap::new();
    for conn in live {
        match (conn.route, conn.member.dialect) {
            (Some(route), Some(dialect)) if route < rows.len() => {
                let row = &mut rows[route][dialect_index(dialect)];
                row.open += 1;
                row.bytes_in += conn.member.bytes_in;
                row.bytes_out += conn.member.bytes_out;
            }
            (_, None) => handshaking += 1,
            _ => {}
        }
        if disclosure != Disclosure::Aggregates {
            members.insert(conn.member.id, &conn.member);
        }
    }
    let endpoints = endpoints
        .iter()
        .zip(rows)
        .map(|(endpoint, rows)| EndpointStatus {
            endpoint: endpoint.clone(),
            dialects: rows
                .into_iter()
                .filter(|r| r.accepted > 0 || r.open > 0)
                .collect(),
        })
        .collect();
    let sessions = GroupSummary {
        count: report.sessions.len(),
        members: report.sessions.iter().map(|(_, m)| m.len()).sum(),
    };
    let relay = RelaySummary {
        clients: report.relay_clients.len(),
        connected: report
            .relay_clients
            .iter()
            .filter(|c| c.connection.is_some())
            .count(),
        queued_messages: report.relay_clients.iter().map(|c| c.queued_messages).sum(),
        queued_bytes: report.relay_clients.iter().map(|c| c.queued_bytes).sum(),
    };
    let session_list = report
        .sessions
        .into_iter()
        .filter(|(name, _)| match &disclosure {
            Disclosure::Aggregates => false,
            Disclosure::Session(wanted) => name == wanted,
            Disclosure::Everything => true,
        })
        .map(|(name, ids)| SessionStatus {
            name,
            members: ids
                .iter()
                .filter_map(|id| {
                    let mut member = (*members.get(id)?).clone();
                    if let Some((node, dialect)) = report.remote.get(id) {
                        member.node = Some(node.clone());
                        member.dialect = dialect.or(member.dialect);
                    }
                    Some(member)
                })
                .collect(),
        })
        .collect();
    let cluster = report.cluster;
    let relay_list = match disclosure {
        Disclosure::Everything => report.relay_clients,
        _ => Vec::new(),
    };
    let mut message_bytes = Histogram::new(MESSAGE_BOUNDS);
    message_bytes.counts = census.message_counts.to_vec();
    message_bytes.sum = census.message_sum as f64;
    Status {
        version: env!("CARGO_PKG_VERSION"),
        uptime: census.started.elapsed(),
        totals,
        handshaking,
        endpoints,
        refused: census.refused.clone(),
        handshake_timeouts: census.handshake_timeouts,
        handshake_seconds: census.handshake_seconds.clone(),
        message_bytes,
        water_marks,
        loops: {
            let mut loops = vec![0; loop_index + 1];
            loops[loop_index] = live.len();
            loops
        },
        sessions,
        relay,
        session_list,
        relay_list,
        cluster,
        disclosure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_sizes_land_in_the_bucket_a_search_would_find() {
        for size in (0..70_000u64).chain([1 << 20, (1 << 20) + 1, 64 << 20, (64 << 20) + 1]) {
            let searched = MESSAGE_BOUNDS.partition_point(|&b| b < size as f64);
            assert_eq!(size_bucket(size), searched, "size {size}");
        }
    }

    #[test]
    fn a_histogram_puts_a_bound_in_its_own_bucket() {
        let mut h = Histogram::new(HANDSHAKE_BOUNDS);
        h.observe(0.0005);
        h.observe(0.0006);
        h.observe(100.0);
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[1], 1);
        assert_eq!(h.counts[HANDSHAKE_BOUNDS.len()], 1);
        assert_eq!(h.count(), 3);
    }

    #[test]
    fn dialect_rows_follow_dialect_all() {
        for (i, d) in Dialect::ALL.into_iter().enumerate() {
            assert_eq!(dialect_index(d), i);
        }
    }
}
