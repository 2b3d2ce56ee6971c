//! Frames in: decoding what an open connection sent and handing its events to the handler,
//! whole (assembled, or straight from the read buffer) or streamed; the memory budget for
//! unfinished messages; failing the connection on a protocol error. Pings and closes are
//! answered by the connection's protocol life as it decodes them.

use super::{EventLoop, BUDGET_FREE_MESSAGE};
use crate::conn::Phase;
use crate::socket::{CloseInfo, SocketId};
use crate::Error;
use std::sync::atomic::Ordering::Relaxed;
use ws_protocols::compression::{Fed, Inflater};
use ws_protocols::connection::{Assembly, AssemblyError, Direct};
use ws_protocols::message::MessageAssembler;
use ws_protocols::{close, Event, ProtocolError};

/// The largest piece of inflated payload handed to a handler at once.
const INFLATE_PIECE: usize = 32 << 10;

impl EventLoop {
    pub(super) fn process_frames(&mut self, id: SocketId, data: &mut [u8]) {
        let mut pos = 0;
        while let Some(conn) = self.conns.get_mut(id) {
            if conn.phase != Phase::Open || conn.close_received() {
                return;
            }
            let tx = conn.out.vec_mut();
            let Some(codec) = conn.codec.as_mut() else {
                return;
            };
            match codec.connection.read(&mut data[pos..], tx) {
                Err(e) => return self.protocol_error(id, Error::Protocol(e), e.close_code()),
                Ok((n, None)) => {
                    pos += n;
                    break;
                }
                Ok((n, Some(event))) => {
                    pos += n;
                    let between_messages = !matches!(
                        event,
                        Event::MessageStart { .. } | Event::Data(_) | Event::Compressed { .. }
                    );
                    let inflater = codec.inflater.take();
                    match inflater {
                        None => {
                            self.dispatch(id, event);
                            self.events_left = self.events_left.saturating_sub(1);
                        }
                        Some(inflater) => {
                            if self.inflate(id, inflater, |inflater, out, deliver| {
                                inflater.route(event, out, deliver)
                            }) == Fed::Stopped
                            {
                                // The handler paused, or the turn is over, inside inflated
                                // payload: the rest waits, compressed, behind it.
                                self.keep_unprocessed(id, &data[pos..]);
                                return;
                            }
                        }
                    }
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
                        self.keep_unprocessed(id, &data[pos..]);
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

    /// Keep the undecoded rest of a read for `id`'s next turn.
    fn keep_unprocessed(&mut self, id: SocketId, rest: &[u8]) {
        if let Some(conn) = self.conns.get_mut(id) {
            if conn.phase == Phase::Open && !rest.is_empty() {
                conn.unprocessed = rest.to_vec();
                let stats = &self.shared.stats;
                stats.unprocessed_bytes.fetch_add(rest.len(), Relaxed);
            }
        }
    }

    /// Run `step` (a route or a resume) with `id`'s inflater taken out, handing the handler
    /// each event or inflated piece while the connection stays open, unpaused and within its
    /// turn's events; then put the inflater back. A failure fails the connection (and
    /// counts as stopped: nothing more of it is processed).
    fn inflate(
        &mut self,
        id: SocketId,
        mut inflater: Box<Inflater>,
        step: impl FnOnce(
            &mut Inflater,
            &mut [u8],
            &mut dyn FnMut(Event<'_>) -> bool,
        ) -> Result<Fed, ProtocolError>,
    ) -> Fed {
        let mut out = std::mem::take(&mut self.inflated);
        out.resize(INFLATE_PIECE, 0);
        let result = step(&mut inflater, &mut out, &mut |event| {
            self.dispatch(id, event);
            self.events_left = self.events_left.saturating_sub(1);
            self.events_left > 0
                && self.conns.get(id).is_some_and(|c| {
                    c.phase == Phase::Open && !c.paused_by_app && !c.close_received()
                })
        });
        self.inflated = out;
        let Some(codec) = self.conns.get_mut(id).and_then(|c| c.codec.as_mut()) else {
            return Fed::Stopped;
        };
        codec.inflater = Some(inflater);
        match result {
            Ok(fed) => fed,
            Err(e) => {
                self.protocol_error(id, Error::Protocol(e), e.close_code());
                Fed::Stopped
            }
        }
    }

    /// Go on inflating what `id` kept when its handler paused or its turn ended.
    pub(super) fn resume_inflating(&mut self, id: SocketId) {
        let Some(inflater) = self
            .conns
            .get_mut(id)
            .and_then(|c| c.codec.as_mut())
            .and_then(|c| c.inflater.take())
        else {
            return;
        };
        let fed = self.inflate(id, inflater, |inflater, out, deliver| {
            inflater.resume(out, |piece| deliver(Event::Data(piece)))
        });
        let nothing_kept = self
            .conns
            .get(id)
            .is_some_and(|c| c.unprocessed.is_empty() && c.input.is_empty());
        if fed == Fed::Done && nothing_kept {
            // The decoder may owe events that take no bytes (the end of the message whose
            // last payload this was): give it the chance a read's loop would have.
            self.process_frames(id, &mut []);
        }
    }

    /// Whether a handler paused `id` while `left` bytes of its read are still to process.
    fn paused_with_more(&self, id: SocketId, left: usize) -> bool {
        left > 0
            && self
                .conns
                .get(id)
                .is_some_and(|c| c.paused_by_app && c.phase == Phase::Open && !c.close_received())
    }

    fn dispatch(&mut self, id: SocketId, event: Event<'_>) {
        self.touched.push(id);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let route = conn.route;
        match &event {
            Event::MessageStart { .. } => conn.message_len = 0,
            Event::Data(data) => conn.message_len += data.len() as u64,
            Event::MessageEnd => {
                if let (Some(route), Some(codec)) = (route, &conn.codec) {
                    self.census
                        .message(route, codec.dialect(), conn.message_len);
                }
            }
            _ => {}
        }
        match event {
            // Inflated before it gets here (`inflate`); without an inflater, the decoder
            // never reports it.
            Event::Compressed { .. } => {}
            Event::MessageStart { .. } | Event::Data(_) | Event::MessageEnd => {
                if let Some(assembly) = conn.codec.as_mut().and_then(|c| c.assembly.as_mut()) {
                    match assembly.direct(&event) {
                        Direct::Deliver(message) => {
                            return self.call(route, |h, cx| h.on_message(cx, id, message))
                        }
                        Direct::Swallow => return,
                        Direct::Assemble => {}
                    }
                }
                let Some(mut assembly) = conn.codec.as_mut().and_then(|c| c.assembly.take()) else {
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
                let end = matches!(event, Event::MessageEnd);
                let mut refusal = None;
                let pushed = assembly.assemble(event, |assembler, more| {
                    refusal = self.budget_allows(assembler, more).err();
                    refusal.is_none()
                });
                match pushed {
                    Ok(Some(message)) => self.call(route, |h, cx| h.on_message(cx, id, message)),
                    Ok(None) => {}
                    Err(AssemblyError::Protocol(e)) => {
                        self.protocol_error(id, Error::Protocol(e), e.close_code())
                    }
                    Err(AssemblyError::Refused) => {
                        self.shared.stats.refused_over_budget.fetch_add(1, Relaxed);
                        if let Some(e) = refusal {
                            log::warn!("{id}: {e}");
                            self.protocol_error(id, e, close::TRY_AGAIN_LATER);
                        }
                    }
                }
                if end {
                    // Delivered: a buffer grown large by it is given back now, not kept.
                    assembly.release();
                }
                self.put_back(id, assembly);
            }
            Event::Ping(payload) => self.call(route, |h, cx| h.on_ping(cx, id, payload)),
            Event::Pong(payload) => self.call(route, |h, cx| h.on_pong(cx, id, payload)),
            Event::Close(frame) => {
                log::debug!(
                    "{id} peer closed: {} {:?}",
                    frame.code_or_no_status(),
                    frame.reason
                );
                conn.peer_closed(CloseInfo::received(&frame));
            }
        }
    }

    /// Return `id`'s whole-message delivery after a handler ran, and tell the memory budget
    /// what its unfinished message holds now.
    fn put_back(&mut self, id: SocketId, assembly: Assembly) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let held = assembly.held();
        if held != conn.reported_message {
            let stats = &self.shared.stats;
            crate::stats::adjust(&stats.message_bytes, conn.reported_message, held);
            stats.message_peak.fetch_max(held, Relaxed);
            conn.reported_message = held;
        }
        if let Some(codec) = conn.codec.as_mut() {
            codec.assembly = Some(assembly);
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
