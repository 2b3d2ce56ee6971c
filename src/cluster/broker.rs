//! The thread that talks to the broker: every [`REFRESH`] it renews this node's key and
//! reads the node table, and between refreshes it serves the session directory's requests
//! as they come (directory.rs). It is the only code that waits on the network for the
//! cluster; the loops only read the table it leaves and send it requests. When the broker
//! goes away the table goes stale (the loops then refuse joins that need it), the thread
//! answers directory requests at once with "unreachable", and reconnects with backoff.

use super::directory::Directory;
use super::{ClusterView, Node, NODE_TTL, REFRESH};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) const KEY_PREFIX: &str = "omniws:node:";
/// Which node holds the relay: a lease its holder renews as it renews its node key.
const RELAY_LEASE: &str = "omniws:relay:node";
/// Longest wait between attempts to reach a broker that is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Start the broker thread for `view`. It runs for the life of the process.
pub(crate) fn spawn(view: Arc<ClusterView>) -> std::io::Result<()> {
    // Taken here, not on the thread: a request sent as soon as `join` returns is then
    // served, not answered "not joined" because the thread had not started yet.
    let directory = Directory::new(&view);
    std::thread::Builder::new()
        .name("omniws-cluster".into())
        .spawn(move || run(&view, directory))
        .map(|_| ())
}

fn run(view: &ClusterView, mut directory: Directory) {
    let mut backoff = REFRESH;
    let mut was_up = true;
    // Whether this node's relay has loaded the relay's state and serves it: kept across
    // broker outages (the holder goes on serving while the broker is away).
    let mut holding = false;
    loop {
        match session(view, &mut holding, &mut directory) {
            Ok(never) => match never {},
            Err(e) => {
                if was_up {
                    log::warn!(
                        "cluster broker {} unreachable ({e}); serving local sessions only, \
                         refusing joins that need other nodes",
                        view.options.broker
                    );
                }
                was_up = false;
                directory.unreachable_until(Instant::now() + backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        // A session that got as far as a refresh resets the backoff (`session` logs that).
        if view.healthy() {
            backoff = REFRESH;
            was_up = true;
        }
    }
}

/// Connect, then refresh until something fails, serving directory requests in between.
fn session(
    view: &ClusterView,
    holding: &mut bool,
    directory: &mut Directory,
) -> redis::RedisResult<std::convert::Infallible> {
    let client = redis::Client::open(view.options.broker.as_str())?;
    let mut con = client.get_connection_with_timeout(REFRESH)?;
    con.set_read_timeout(Some(REFRESH))?;
    con.set_write_timeout(Some(REFRESH))?;
    let key = format!("{KEY_PREFIX}{}", view.options.node_name);
    let mut announced = false;
    let started = Instant::now();
    // When this node's key was last sent; `None` on a new connection.
    let mut key_sent: Option<Instant> = None;
    loop {
        // A new connection may reach a broker that restarted empty, and a key sent a node
        // key's life ago may have expired, letting other nodes unlist this node's sessions
        // as a dead node's: then the key goes with every session this node has, in one
        // transaction, before anything else.
        let lapsed = key_sent.is_none_or(|sent| sent.elapsed() >= NODE_TTL);
        key_sent = Some(Instant::now());
        let mut set_key = redis::pipe();
        set_key
            .cmd("SET")
            .arg(&key)
            .arg(view.options.advertise.to_string())
            .arg("PX")
            .arg(NODE_TTL.as_millis() as u64)
            .ignore();
        if lapsed {
            set_key.atomic();
            directory.announce(&mut set_key, &view.options.node_name);
        }
        set_key.query::<()>(&mut con)?;
        if lapsed {
            directory.announced();
        }
        let nodes = read_table(&mut con)?;
        // Once this session has lasted a node key's life, every live node has announced
        // itself in it (after a broker restart, too).
        let settled = started.elapsed() >= NODE_TTL;
        let relay = relay_lease(view, &mut con, &nodes, settled)?;
        // Taken: load the relay's state before the table says so (the relay refuses with
        // 503 "relay loading" until then). Lost: stop serving it.
        // Reached again (the broker may have restarted empty): write it all through.
        let mine = relay.as_deref() == Some(view.options.node_name.as_str());
        if mine && *holding && !announced {
            view.relay_rewrite();
        } else if mine && !*holding {
            *holding = view.relay_taken(&mut con)?;
        } else if !mine && *holding {
            log::warn!("cluster: this node no longer holds the relay");
            view.relay_lost();
            *holding = false;
        }
        if !announced {
            log::info!(
                "cluster: node {} at {} joined through {} ({} node(s))",
                view.options.node_name,
                view.options.advertise,
                view.options.broker,
                nodes.len()
            );
            announced = true;
        }
        let before = view.nodes();
        if names(&before) != names(&nodes) {
            log::info!("cluster: nodes now {:?}", names(&nodes));
        }
        if relay.is_some() && relay != view.relay_holder() {
            log::info!(
                "cluster: the relay is on node {}",
                relay.as_deref().unwrap_or("?")
            );
        }
        view.update_with_relay(nodes, relay);
        directory.serve_until(Instant::now() + REFRESH, view, &mut con, settled)?;
    }
}

/// Renew the relay's lease if this node holds it. Take it if nobody does and either this
/// node held it last (a broker that restarted has forgotten the lease: its holder, and its
/// registrations, keep it) or this node is the relay key's rendezvous owner in a settled
/// table (so nodes agree on who tries, and `NX` settles a race between tables that differ
/// for a moment). Unsettled, a table may lack the holder only because it has not yet
/// announced itself to a restarted broker: taking the lease then would move the relay, and
/// strand everything registered with it. The holder, after that.
fn relay_lease(
    view: &ClusterView,
    con: &mut redis::Connection,
    nodes: &[Node],
    settled: bool,
) -> redis::RedisResult<Option<String>> {
    let me = view.options.node_name.as_str();
    let ttl = NODE_TTL.as_millis() as u64;
    let holder: Option<String> = redis::cmd("GET").arg(RELAY_LEASE).query(con)?;
    let held_last = view.relay_holder().as_deref() == Some(me);
    let rendezvous_owner =
        || super::rendezvous(nodes, super::RELAY_KEY).is_some_and(|n| n.name == me);
    match holder.as_deref() {
        Some(h) if h == me => {
            redis::cmd("SET")
                .arg(RELAY_LEASE)
                .arg(me)
                .arg("PX")
                .arg(ttl)
                .query::<()>(con)?;
            Ok(holder)
        }
        Some(_) => Ok(holder),
        None if held_last || (settled && rendezvous_owner()) => {
            let _: Option<String> = redis::cmd("SET")
                .arg(RELAY_LEASE)
                .arg(me)
                .arg("PX")
                .arg(ttl)
                .arg("NX")
                .query(con)?;
            redis::cmd("GET").arg(RELAY_LEASE).query(con)
        }
        None => Ok(None),
    }
}

fn names(nodes: &[Node]) -> Vec<&str> {
    nodes.iter().map(|n| n.name.as_str()).collect()
}

/// Every node key and its address, sorted by name.
fn read_table(con: &mut redis::Connection) -> redis::RedisResult<Vec<Node>> {
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{KEY_PREFIX}*"))
            .arg("COUNT")
            .arg(1000)
            .query(con)?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let addrs: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(con)?;
    let mut nodes: Vec<Node> = keys
        .iter()
        .zip(addrs)
        .filter_map(|(key, addr)| {
            let name = key.strip_prefix(KEY_PREFIX)?.to_owned();
            let addr = addr?.parse().ok()?;
            Some(Node { name, addr })
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(nodes)
}
