//! A [`Status`] in the Prometheus text exposition format (version 0.0.4), for `GET /metrics`.
//!
//! Names follow Prometheus' conventions: an `omniws_` prefix, base units (seconds, bytes),
//! `_total` on counters. Labels are bounded: `endpoint` is a mount pattern, `dialect` one of
//! nine names, `status` an HTTP status; no session name or client id ever becomes a label.

use super::{Histogram, Status};
use std::fmt::Write as _;

impl Status {
    /// The snapshot as Prometheus metrics (`text/plain; version=0.0.4`). Only aggregates:
    /// whatever the snapshot's [`super::Disclosure`], no name appears.
    ///
    /// ```
    /// # fn main() -> Result<(), ws::Error> {
    /// let server = ws::Server::builder().bind("127.0.0.1:0")?;
    /// let handle = server.handle();
    /// std::thread::spawn(move || server.run());
    /// let text = handle.status(ws::Disclosure::Aggregates)?.to_prometheus();
    /// assert!(text.contains("omniws_connections_open 0\n"));
    /// # handle.shutdown()
    /// # }
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(4096);
        let t = &self.totals;
        let o = &mut out;
        family(o, "omniws_build_info", "gauge", "The server's version.");
        let _ = writeln!(o, "omniws_build_info{{version=\"{}\"}} 1", self.version);
        gauge(
            o,
            "omniws_uptime_seconds",
            "Seconds since the server started.",
            self.uptime.as_secs_f64(),
        );
        gauge(
            o,
            "omniws_connections_open",
            "Connections open now, handshaking ones included.",
            t.connections_open as f64,
        );
        gauge(
            o,
            "omniws_connections_handshaking",
            "Connections still in their opening handshake.",
            self.handshaking as f64,
        );
        counter(
            o,
            "omniws_connections_accepted_total",
            "Connections accepted or adopted.",
            t.connections_total,
        );
        if let Some(cluster) = &self.cluster {
            let nodes = cluster.nodes.len() as f64;
            gauge(
                o,
                "omniws_cluster_nodes",
                "Nodes in this node's cluster table.",
                nodes,
            );
            let healthy = f64::from(u8::from(cluster.healthy));
            gauge(
                o,
                "omniws_cluster_healthy",
                "1 while the cluster broker answers.",
                healthy,
            );
        }
        family(
            o,
            "omniws_loop_connections",
            "gauge",
            "Connections on each event loop.",
        );
        for (i, n) in self.loops.iter().enumerate() {
            let _ = writeln!(o, "omniws_loop_connections{{loop=\"{i}\"}} {n}");
        }

        family(
            o,
            "omniws_websockets_open",
            "gauge",
            "Open WebSocket connections by endpoint and dialect.",
        );
        for (endpoint, d) in self.rows() {
            let _ = writeln!(
                o,
                "omniws_websockets_open{{{}}} {}",
                labels(endpoint, d),
                d.open
            );
        }
        family(
            o,
            "omniws_handshakes_accepted_total",
            "counter",
            "Opening handshakes answered 101, by endpoint and dialect.",
        );
        for (endpoint, d) in self.rows() {
            let _ = writeln!(
                o,
                "omniws_handshakes_accepted_total{{{}}} {}",
                labels(endpoint, d),
                d.accepted
            );
        }
        family(
            o,
            "omniws_handshakes_refused_total",
            "counter",
            "Opening handshakes refused, by the HTTP status of the answer.",
        );
        for (status, n) in &self.refused {
            let _ = writeln!(
                o,
                "omniws_handshakes_refused_total{{status=\"{status}\"}} {n}"
            );
        }
        counter(
            o,
            "omniws_handshakes_timed_out_total",
            "Opening handshakes that did not finish in time.",
            self.handshake_timeouts,
        );
        counter(
            o,
            "omniws_handshakes_evicted_total",
            "Handshaking connections dropped to make room.",
            t.handshakes_evicted,
        );
        family(
            o,
            "omniws_messages_received_total",
            "counter",
            "Messages received, by endpoint and dialect.",
        );
        for (endpoint, d) in self.rows() {
            let _ = writeln!(
                o,
                "omniws_messages_received_total{{{}}} {}",
                labels(endpoint, d),
                d.messages_in
            );
        }
        family(
            o,
            "omniws_connection_received_bytes_total",
            "counter",
            "Bytes read from WebSocket connections, by endpoint and dialect.",
        );
        for (endpoint, d) in self.rows() {
            let _ = writeln!(
                o,
                "omniws_connection_received_bytes_total{{{}}} {}",
                labels(endpoint, d),
                d.bytes_in
            );
        }
        family(
            o,
            "omniws_connection_sent_bytes_total",
            "counter",
            "Bytes written to WebSocket connections, by endpoint and dialect.",
        );
        for (endpoint, d) in self.rows() {
            let _ = writeln!(
                o,
                "omniws_connection_sent_bytes_total{{{}}} {}",
                labels(endpoint, d),
                d.bytes_out
            );
        }
        counter(
            o,
            "omniws_received_bytes_total",
            "Bytes read from all sockets.",
            t.bytes_read,
        );
        counter(
            o,
            "omniws_sent_bytes_total",
            "Bytes written to all sockets.",
            t.bytes_written,
        );
        histogram(
            o,
            "omniws_handshake_duration_seconds",
            "Time from accepting a connection to its 101.",
            &self.handshake_seconds,
        );
        histogram(
            o,
            "omniws_message_size_bytes",
            "Sizes of the messages received, after inflating.",
            &self.message_bytes,
        );
        gauge(
            o,
            "omniws_write_queue_high_water_bytes",
            "A connection's queue above this pauses reading from it.",
            self.water_marks.0 as f64,
        );
        gauge(
            o,
            "omniws_write_queue_low_water_bytes",
            "Reading resumes once the queue is down to this.",
            self.water_marks.1 as f64,
        );
        gauge(
            o,
            "omniws_queued_bytes",
            "Bytes queued for sending, over all connections.",
            t.queued_bytes as f64,
        );
        gauge(
            o,
            "omniws_queued_peak_bytes",
            "The largest single queue seen since start.",
            t.queued_peak as f64,
        );
        counter(
            o,
            "omniws_backpressure_pauses_total",
            "Times reading paused because a queue passed the high-water mark.",
            t.reads_paused,
        );
        gauge(
            o,
            "omniws_held_bytes",
            "Bytes held against the memory budget.",
            t.held_bytes as f64,
        );
        gauge(
            o,
            "omniws_memory_budget_bytes",
            "The server-wide memory budget.",
            t.memory_budget as f64,
        );
        counter(
            o,
            "omniws_refused_over_budget_total",
            "Connections closed because a message would pass the memory budget.",
            t.refused_over_budget,
        );
        gauge(
            o,
            "omniws_sessions",
            "Pipe sessions with at least one member.",
            self.sessions.count as f64,
        );
        gauge(
            o,
            "omniws_session_members",
            "Members of all pipe sessions.",
            self.sessions.members as f64,
        );
        gauge(
            o,
            "omniws_relay_clients",
            "Registered relay clients.",
            self.relay.clients as f64,
        );
        gauge(
            o,
            "omniws_relay_clients_connected",
            "Relay clients connected now.",
            self.relay.connected as f64,
        );
        gauge(
            o,
            "omniws_relay_queued_messages",
            "Messages queued for relay clients.",
            self.relay.queued_messages as f64,
        );
        gauge(
            o,
            "omniws_relay_queued_bytes",
            "Bytes of the messages queued for relay clients.",
            self.relay.queued_bytes as f64,
        );
        counter(
            o,
            "omniws_accept_errors_total",
            "Failed accept calls.",
            t.accept_errors,
        );
        counter(
            o,
            "omniws_tls_reloads_total",
            "TLS certificate reloads that took effect.",
            t.tls_reloads,
        );
        counter(
            o,
            "omniws_tls_reload_failures_total",
            "TLS certificate reloads that failed.",
            t.tls_reload_failures,
        );
        out
    }

    fn rows(&self) -> impl Iterator<Item = (&str, &super::DialectStatus)> {
        self.endpoints
            .iter()
            .flat_map(|e| e.dialects.iter().map(move |d| (e.endpoint.as_str(), d)))
    }
}

fn labels(endpoint: &str, d: &super::DialectStatus) -> String {
    format!(
        "endpoint=\"{}\",dialect=\"{}\"",
        escape(endpoint),
        d.dialect.map_or("unknown", |d| d.name())
    )
}

/// A label value with `\`, `"` and newlines escaped, as the format asks.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    family(out, name, "histogram", help);
    let mut cumulative = 0;
    for (bound, n) in h.bounds.iter().zip(&h.counts) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count());
    let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", h.sum, h.count());
}
