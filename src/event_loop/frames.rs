//! Frames in: decoding what an open connection sent and handing its events to the handler,
//! whole (assembled, or straight from the read buffer) or streamed; answering pings and
//! closes; the memory budget for unfinished messages; failing the connection on a protocol
//! error.

use super::{EventLoop, BUDGET_FREE_MESSAGE};
use crate::conn::Phase;
use crate::socket::{CloseInfo, SocketId};
use crate::Error;
use std::sync::atomic::Ordering::Relaxed;
use ws_protocols::frame::Control;
use ws_protocols::message::{Message, MessageAssembler};
use ws_protocols::{close, Decode, Event, MessageKind};

impl EventLoop {
    pub(super) fn process_frames(&mut self, id: SocketId, data: &mut [u8]) {
        let mut pos = 0;
        while let Some(conn) = self.conns.get_mut(id) {
            if conn.phase != Phase::Open || conn.close_received {
                return;
            }
            let Some(codec) = conn.codec.as_mut() else {
                return;
            };
            match codec.decoder.decode(&mut data[pos..]) {
                Err(e) => return self.protocol_error(id, Error::Protocol(e), e.close_code()),
                Ok((n, None)) => {
                    pos += n;
                    break;
                }
                Ok((n, Some(event))) => {
                    pos += n;
                    let between_messages =
                        !matches!(event, Event::MessageStart { .. } | Event::Data(_));
                    self.dispatch(id, event);
                    self.events_left = self.events_left.saturating_sub(1);
                    let left = data.len() - pos;
                    let turn_over = self.events_left == 0 && left > 0;
                    if between_messages && (turn_over || self.paused_with_more(id, left)) {
                        // Keep the rest for later: for when the handler resumes a paused
                        // sender (whose messages must stop here, not after the whole read:
                        // a flood of tiny messages would otherwise all be taken in), or for
                        // this connection's next turn once it has had its share of events
                        // (a read of tiny messages holds tens of thousands). The message
                        // being read, if any, goes on to the end of the read, as the
                        // payload of a long message did before.
                        if let Some(conn) = self.conns.get_mut(id) {
                            conn.unprocessed = data[pos..].to_vec();
                            let stats = &self.shared.stats;
                            stats.unprocessed_bytes.fetch_add(data.len() - pos, Relaxed);
                        }
                        return;
                    }
                }
            }
        }
        if let Some(conn) = self.conns.get_mut(id) {
            if conn.phase == Phase::Open {
                // At most one incomplete frame header or control frame.
                conn.input.extend_from_slice(&data[pos..]);
            }
        }
    }

    /// Whether a handler paused `id` while `left` bytes of its read are still to process.
    fn paused_with_more(&self, id: SocketId, left: usize) -> bool {
        left > 0
            && self
                .conns
                .get(id)
                .is_some_and(|c| c.paused_by_app && c.phase == Phase::Open && !c.close_received)
    }

    fn dispatch(&mut self, id: SocketId, event: Event<'_>) {
        self.touched.push(id);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let route = conn.route;
        match event {
            Event::MessageStart { .. } | Event::Data(_) | Event::MessageEnd => {
                let Some(codec) = conn.codec.as_mut() else {
                    return;
                };
                match direct_message(codec, &event) {
                    Direct::Deliver(message) => {
                        return self.call(route, |h, cx| h.on_message(cx, id, message))
                    }
                    Direct::Swallow => return,
                    Direct::Assemble => {}
                }
                let Some(mut assembler) = codec.assembler.take() else {
                    return match event {
                        Event::MessageStart { kind, len } => {
                            self.call(route, |h, cx| h.on_message_start(cx, id, kind, len))
                        }
                        Event::Data(data) => {
                            self.call(route, |h, cx| h.on_message_data(cx, id, data))
                        }
                        _ => self.call(route, |h, cx| h.on_message_end(cx, id)),
                    };
                };
                if let Event::Data(bytes) = event {
                    if let Err(e) = self.budget_allows(&assembler, bytes.len()) {
                        assembler.release();
                        self.account_message(id, &assembler);
                        if let Some(codec) = self.conns.get_mut(id).and_then(|c| c.codec.as_mut()) {
                            codec.assembler = Some(assembler);
                        }
                        self.shared.stats.refused_over_budget.fetch_add(1, Relaxed);
                        log::warn!("{id}: {e}");
                        return self.protocol_error(id, e, close::TRY_AGAIN_LATER);
                    }
                }
                match assembler.push(&event) {
                    Ok(Some(message)) => self.call(route, |h, cx| h.on_message(cx, id, message)),
                    Ok(None) => {}
                    Err(e) => self.protocol_error(id, Error::Protocol(e), e.close_code()),
                }
                if matches!(event, Event::MessageEnd) {
                    // Delivered: a buffer grown large by it is given back now, not kept.
                    assembler.release();
                }
                self.account_message(id, &assembler);
                if let Some(codec) = self.conns.get_mut(id).and_then(|c| c.codec.as_mut()) {
                    codec.assembler = Some(assembler);
                }
            }
            Event::Ping(payload) => {
                if !conn.close_sent {
                    // Unsupported only on hixie, which has no pings to answer.
                    let _ = conn.send_control(Control::Pong, payload);
                }
                self.call(route, |h, cx| h.on_ping(cx, id, payload));
            }
            Event::Pong(payload) => self.call(route, |h, cx| h.on_pong(cx, id, payload)),
            Event::Close(frame) => {
                conn.close_received = true;
                // RFC 6455 §7.1.5: the connection's close code is the first one received.
                conn.close_info = Some(CloseInfo {
                    code: frame.code_or_no_status(),
                    reason: frame.reason.to_owned(),
                    clean: true,
                });
                log::debug!(
                    "{id} peer closed: {} {:?}",
                    frame.code_or_no_status(),
                    frame.reason
                );
                conn.answer_close(frame.code, frame.body);
            }
        }
    }

    /// Whether an unfinished message may grow by `more` bytes: always up to
    /// [`BUDGET_FREE_MESSAGE`], beyond it only while the server is within its memory budget.
    fn budget_allows(&self, assembler: &MessageAssembler, more: usize) -> Result<(), Error> {
        let stats = &self.shared.stats;
        let needed = assembler.message_len() + more;
        // What the buffer will grow by: it at least doubles when it must grow.
        let growth = match assembler.held() {
            held if needed <= held => 0,
            held => needed.max(held * 2) - held,
        };
        if needed <= BUDGET_FREE_MESSAGE || !stats.over_budget(growth) {
            return Ok(());
        }
        Err(Error::MemoryBudget {
            held: stats.held_bytes(),
            budget: self.settings.memory_budget,
        })
    }

    /// Tell the memory budget what `id`'s unfinished message holds now.
    fn account_message(&mut self, id: SocketId, assembler: &MessageAssembler) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let held = assembler.held();
        let stats = &self.shared.stats;
        crate::stats::adjust(&stats.message_bytes, conn.reported_message, held);
        stats.message_peak.fetch_max(held, Relaxed);
        conn.reported_message = held;
    }

    pub(super) fn protocol_error(&mut self, id: SocketId, error: Error, code: u16) {
        let Some(conn) = self.conns.get(id) else {
            return;
        };
        log::debug!("{id} failed: {error}");
        let route = conn.route;
        self.call(route, |h, cx| h.on_error(cx, id, &error));
        if let Some(conn) = self.conns.get_mut(id) {
            conn.fail(code, &error.to_string());
        }
        self.touched.push(id);
    }
}

/// What [`direct_message`] decided for one event.
enum Direct<'a> {
    /// Hand this message to the handler; the assembler is not involved.
    Deliver(Message<'a>),
    /// The end of a message already delivered: nothing to do.
    Swallow,
    /// The assembler's way.
    Assemble,
}

/// Whole delivery without the assembler's copy: a single-frame message (length declared,
/// FIN set) whose payload comes in one `Data` event is passed on borrowed from the read
/// buffer. The assembler still sees every message start (checking the size limit), so it
/// takes over whenever the payload comes in pieces.
fn direct_message<'a>(codec: &mut crate::conn::Codec, event: &Event<'a>) -> Direct<'a> {
    let Some(assembler) = codec.assembler.as_mut() else {
        return Direct::Assemble;
    };
    match *event {
        Event::MessageStart { kind, len } => {
            codec.direct = len.map(|n| (kind, n));
            codec.skip_end = false;
            Direct::Assemble
        }
        Event::Data(bytes) => {
            let whole = match codec.direct.take() {
                Some((kind, n)) if bytes.len() as u64 == n => match kind {
                    MessageKind::Binary => Some(Message::Binary(bytes)),
                    // The decoder validated it; a complete single frame is valid UTF-8.
                    MessageKind::Text => std::str::from_utf8(bytes).ok().map(Message::Text),
                },
                _ => None,
            };
            match whole {
                Some(message) => {
                    codec.skip_end = true;
                    Direct::Deliver(message)
                }
                None => Direct::Assemble,
            }
        }
        Event::MessageEnd if codec.skip_end => {
            codec.skip_end = false;
            // Close the assembler's (empty) message so the next start finds it idle.
            let _ = assembler.push(&Event::MessageEnd);
            Direct::Swallow
        }
        _ => Direct::Assemble,
    }
}
