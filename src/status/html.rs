//! A [`Status`] as a page for people (`GET /status`): plain HTML that refreshes itself,
//! readable in any browser this server serves, old ones included (no script at all).

use super::Status;
use std::fmt::Write as _;

/// `text` with the five characters HTML gives meaning to replaced by entities.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Status {
    /// The snapshot as an HTML page that reloads itself every `refresh_seconds`.
    pub fn to_html(&self, refresh_seconds: u32) -> String {
        let t = &self.totals;
        let mut o = String::with_capacity(8192);
        let _ = write!(
            o,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"refresh\" content=\"{refresh_seconds}\">\
             <meta name=\"viewport\" content=\"width=device-width\">\
             <title>omniws status</title><style>{STYLE}</style></head><body>\
             <h1>omniws {} status</h1><p>up {}, {} connections open ({} handshaking), {} since start, \
             on {} loop(s): {:?}. \
             <a href=\"/status.json\">JSON</a> · <a href=\"/metrics\">metrics</a></p>",
            html_escape(self.version),
            uptime(self.uptime.as_secs()),
            t.connections_open,
            self.handshaking,
            t.connections_total,
            self.loops.len(),
            self.loops,
        );
        o.push_str("<h2>Connections by endpoint and dialect</h2><table id=\"endpoints\"><tr><th>endpoint</th><th>dialect</th><th>open</th><th>accepted</th><th>messages in</th><th>bytes in</th><th>bytes out</th></tr>");
        for e in &self.endpoints {
            for d in &e.dialects {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    html_escape(&e.endpoint),
                    d.dialect.map_or("unknown", |d| d.name()),
                    d.open,
                    d.accepted,
                    d.messages_in,
                    d.bytes_in,
                    d.bytes_out
                );
            }
        }
        o.push_str("</table><h2>Handshakes refused</h2><table id=\"refused\"><tr><th>answer</th><th>count</th></tr>");
        for (status, n) in &self.refused {
            let _ = write!(o, "<tr><td>{status}</td><td>{n}</td></tr>");
        }
        let _ = write!(
            o,
            "<tr><td>timed out</td><td>{}</td></tr><tr><td>evicted</td><td>{}</td></tr></table>",
            self.handshake_timeouts, t.handshakes_evicted
        );
        let _ = write!(
            o,
            "<h2>Traffic and backpressure</h2><table id=\"traffic\">\
             <tr><td>bytes in</td><td>{}</td></tr><tr><td>bytes out</td><td>{}</td></tr>\
             <tr><td>queued now</td><td>{}</td></tr><tr><td>largest queue seen</td><td>{}</td></tr>\
             <tr><td>water marks (high / low)</td><td>{} / {}</td></tr>\
             <tr><td>reads paused by backpressure</td><td>{}</td></tr>\
             <tr><td>held / memory budget</td><td>{} / {}</td></tr></table>",
            t.bytes_read,
            t.bytes_written,
            t.queued_bytes,
            t.queued_peak,
            self.water_marks.0,
            self.water_marks.1,
            t.reads_paused,
            t.held_bytes,
            t.memory_budget
        );
        let _ = write!(
            o,
            "<h2>Sessions</h2><p>{} sessions, {} members.</p>",
            self.sessions.count, self.sessions.members
        );
        if self.session_list.is_empty() && self.sessions.count > 0 {
            o.push_str("<p>Names are shown only with <code>--status-details</code> (and the admin token where one is set).</p>");
        }
        if !self.session_list.is_empty() {
            o.push_str("<table id=\"sessions\"><tr><th>session</th><th>member</th><th>dialect</th><th>bytes in</th><th>bytes out</th><th>queued</th><th>paused</th></tr>");
            for s in &self.session_list {
                for m in &s.members {
                    let _ = write!(
                        o,
                        "<tr><td>{}</td><td>{}</td><td>{}{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        html_escape(&s.name),
                        m.id,
                        m.dialect.map_or("?", |d| d.name()),
                        if m.secure { " (TLS)" } else { "" },
                        m.node.as_deref().map_or(String::new(), |n| format!(" on node {}", html_escape(n))),
                        m.bytes_in,
                        m.bytes_out,
                        m.queued,
                        if m.paused { "yes" } else { "no" }
                    );
                }
            }
            o.push_str("</table>");
        }
        let r = &self.relay;
        let _ = write!(
            o,
            "<h2>Relay</h2><p>{} clients registered, {} connected, {} messages ({} bytes) queued.</p>",
            r.clients, r.connected, r.queued_messages, r.queued_bytes
        );
        if !self.relay_list.is_empty() {
            o.push_str("<table id=\"relay\"><tr><th>client</th><th>connected</th><th>queued messages</th><th>queued bytes</th></tr>");
            for c in &self.relay_list {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    c.id,
                    if c.connection.is_some() { "yes" } else { "no" },
                    c.queued_messages,
                    c.queued_bytes
                );
            }
            o.push_str("</table>");
        }
        o.push_str("</body></html>\n");
        o
    }
}

fn uptime(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d}d {h}h {m}m")
    } else if h > 0 {
        format!("{h}h {m}m {s}s")
    } else {
        format!("{m}m {s}s")
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:1em 2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}\
td:first-child,th:first-child{text-align:left}h2{font-size:1.1em;margin-top:1.4em}";
