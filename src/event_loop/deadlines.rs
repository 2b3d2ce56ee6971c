//! Timers as they come due: the handshake and close deadlines, the handler's own timer, the
//! keepalive (whose decision, ping or wait or give up, the connection's protocol life makes)
//! and the idle timeout.

use super::{abnormal, EventLoop};
use crate::conn::Phase;
use crate::socket::Socket;
use crate::timers::TimerKind;
use std::time::Instant;
use ws_protocols::close;
use ws_protocols::connection::Verdict;
use ws_protocols::frame::Control;

impl EventLoop {
    pub(super) fn fire_timers(&mut self, now: Instant) {
        while let Some((at, id, kind)) = self.timers.pop_due(now) {
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            if conn.deadlines[kind as usize] != Some(at) {
                continue; // re-armed or cancelled since
            }
            conn.deadlines[kind as usize] = None;
            match kind {
                TimerKind::Handshake => {
                    log::debug!("{id} handshake timeout ({:?})", conn.peer);
                    self.census.handshake_timed_out();
                    self.remove(id, abnormal("handshake timeout"));
                }
                TimerKind::Close => self.remove(id, abnormal("close timeout")),
                TimerKind::App => {
                    let route = conn.route;
                    self.touched.push(id);
                    self.call(route, |h, cx| h.on_timer(cx, id));
                }
                TimerKind::Ping => {
                    conn.give_back_idle_memory();
                    if conn.phase != Phase::Open || conn.close_sent() {
                        continue;
                    }
                    let progress = conn.progress();
                    let Some(codec) = conn.codec.as_mut() else {
                        continue;
                    };
                    match codec.connection.keepalive.on_interval(progress) {
                        Verdict::Dead => {
                            log::debug!("{id} no answer to ping: dropping");
                            self.remove(id, abnormal("no answer to keepalive ping"));
                            continue;
                        }
                        // Our ping still waits behind data the peer is reading, slowly:
                        // alive. Wait another interval.
                        Verdict::Wait => {}
                        Verdict::SendPing => {
                            let _ = conn.send_control(Control::Ping, b"");
                            let progress = conn.progress();
                            if let Some(codec) = conn.codec.as_mut() {
                                codec.connection.keepalive.ping_sent(progress);
                            }
                            self.touched.push(id);
                        }
                    }
                    if let Some(interval) = self.settings.keepalive {
                        self.timers
                            .arm(&mut conn.deadlines, id, TimerKind::Ping, now + interval);
                    }
                }
                TimerKind::Idle => {
                    conn.give_back_idle_memory();
                    let Some(idle) = self.settings.idle_timeout else {
                        continue;
                    };
                    let due = conn.last_activity + idle;
                    if due > now {
                        self.timers
                            .arm(&mut conn.deadlines, id, TimerKind::Idle, due);
                    } else {
                        log::debug!("{id} idle for {idle:?}: closing");
                        let _ = conn.close(close::GOING_AWAY, "idle timeout");
                        conn.shutdown_after_flush |= !conn.close_sent();
                        self.touched.push(id);
                    }
                }
            }
        }
        self.service_touched();
    }
}
