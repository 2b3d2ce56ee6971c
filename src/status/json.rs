//! A [`Status`] as JSON (`GET /status.json`, and what the demo page reads).

use super::{Disclosure, Histogram, MemberStatus, Status};
use serde_json::{json, Map, Value};

impl Status {
    /// The snapshot as a JSON document. Names (sessions, relay client ids) appear only as
    /// far as the snapshot's [`Disclosure`] allows.
    ///
    /// ```
    /// # fn main() -> Result<(), ws::Error> {
    /// let server = ws::Server::builder().bind("127.0.0.1:0")?;
    /// let handle = server.handle();
    /// std::thread::spawn(move || server.run());
    /// let status = handle.status(ws::Disclosure::Aggregates)?;
    /// let json: serde_json::Value = serde_json::from_str(&status.to_json()).unwrap();
    /// assert_eq!(json["connections"]["open"], 0);
    /// # handle.shutdown()
    /// # }
    /// ```
    pub fn to_json(&self) -> String {
        let t = &self.totals;
        let endpoints: Vec<Value> = self
            .endpoints
            .iter()
            .map(|e| {
                let mut dialects = Map::new();
                for d in &e.dialects {
                    let name = d.dialect.map_or("unknown", |d| d.name());
                    dialects.insert(
                        name.to_owned(),
                        json!({
                            "open": d.open,
                            "accepted": d.accepted,
                            "messages_in": d.messages_in,
                            "bytes_in": d.bytes_in,
                            "bytes_out": d.bytes_out,
                        }),
                    );
                }
                json!({ "endpoint": e.endpoint, "dialects": dialects })
            })
            .collect();
        let refused: Map<String, Value> = self
            .refused
            .iter()
            .map(|(status, n)| (status.to_string(), json!(n)))
            .collect();
        let sessions: Vec<Value> = self
            .session_list
            .iter()
            .map(|s| json!({ "name": s.name, "members": s.members.iter().map(member).collect::<Vec<_>>() }))
            .collect();
        let relay: Vec<Value> = self
            .relay_list
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "connected": c.connection.is_some(),
                    "queued_messages": c.queued_messages,
                    "queued_bytes": c.queued_bytes,
                })
            })
            .collect();
        let mut doc = json!({
            "version": self.version,
            "uptime_seconds": self.uptime.as_secs_f64(),
            "loops": self.loops,
            "connections": {
                "open": t.connections_open,
                "handshaking": self.handshaking,
                "total": t.connections_total,
            },
            "endpoints": endpoints,
            "handshakes": {
                "refused": refused,
                "refused_total": t.handshakes_rejected,
                "timed_out": self.handshake_timeouts,
                "evicted": t.handshakes_evicted,
                "seconds": histogram(&self.handshake_seconds),
            },
            "messages": { "bytes": histogram(&self.message_bytes) },
            "bytes": { "in": t.bytes_read, "out": t.bytes_written },
            "backpressure": {
                "high_water": self.water_marks.0,
                "low_water": self.water_marks.1,
                "reads_paused": t.reads_paused,
                "queued_bytes": t.queued_bytes,
                "queued_peak": t.queued_peak,
            },
            "memory": {
                "held_bytes": t.held_bytes,
                "budget": t.memory_budget,
                "refused_over_budget": t.refused_over_budget,
            },
            "sessions": { "count": self.sessions.count, "members": self.sessions.members },
            "relay": {
                "clients": self.relay.clients,
                "connected": self.relay.connected,
                "queued_messages": self.relay.queued_messages,
                "queued_bytes": self.relay.queued_bytes,
            },
            "tls": { "reloads": t.tls_reloads, "reload_failures": t.tls_reload_failures },
            "disclosure": match self.disclosure {
                Disclosure::Aggregates => "aggregates",
                Disclosure::Session(_) => "session",
                Disclosure::Everything => "everything",
            },
        });
        if let Some(cluster) = &self.cluster {
            doc["cluster"] = json!({
                "node": cluster.node,
                "healthy": cluster.healthy,
                "nodes": cluster.nodes,
                "relay_node": cluster.relay_node,
            });
        }
        if self.disclosure != Disclosure::Aggregates {
            doc["sessions"]["list"] = Value::Array(sessions);
        }
        if self.disclosure == Disclosure::Everything {
            doc["relay"]["list"] = Value::Array(relay);
        }
        doc.to_string()
    }
}

fn member(m: &MemberStatus) -> Value {
    json!({
        "id": m.id.to_string(),
        "loop": m.loop_index,
        "dialect": m.dialect.map(|d| d.name()),
        "secure": m.secure,
        "bytes_in": m.bytes_in,
        "bytes_out": m.bytes_out,
        "queued": m.queued,
        "paused": m.paused,
        "node": m.node,
    })
}

fn histogram(h: &Histogram) -> Value {
    let buckets: Vec<Value> = h
        .bounds
        .iter()
        .map(|b| json!(b))
        .chain([json!("+Inf")])
        .zip(&h.counts)
        .map(|(le, n)| json!({ "le": le, "count": n }))
        .collect();
    json!({ "count": h.count(), "sum": h.sum, "buckets": buckets })
}
